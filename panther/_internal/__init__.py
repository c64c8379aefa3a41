"""Private implementation modules. Nothing here is public API; import from the public modules instead."""
