"""One module per upstream dialect: request, response and stream translation."""
