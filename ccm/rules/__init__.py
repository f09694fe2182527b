"""The rule language: parse, check, compile, explain."""
