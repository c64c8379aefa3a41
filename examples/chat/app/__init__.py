"""The chat app: users, stored messages, room membership, the room WebSocket and the page that uses it."""
