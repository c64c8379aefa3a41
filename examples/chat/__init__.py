"""A chat with rooms over WebSockets: JWT sign-up/login, join/leave announcements, history, a browser client."""
