"""The notes app: users, notes, their endpoints and the live note feed."""
