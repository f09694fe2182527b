"""Config: msgspec schema, loading with line-aware errors, comment-keeping writes."""
