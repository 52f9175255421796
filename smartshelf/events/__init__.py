"""Event records, their schema version and JSON codec."""
