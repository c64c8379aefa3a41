"""Settings and the root routing table of the chat."""
