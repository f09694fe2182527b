"""Provider types and upstream clients."""
