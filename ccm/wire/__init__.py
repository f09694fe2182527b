"""msgspec Structs and helpers for the wire formats ccm speaks."""
