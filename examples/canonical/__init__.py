"""The canonical Panther example: a small notes service."""
