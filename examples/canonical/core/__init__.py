"""Project-wide settings and the root routing table."""
