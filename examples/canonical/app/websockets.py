"""The live note feed: `/ws/notes/?authorization=<access token>` receives every note its user creates.

Connections are remembered per user in this process. `send_message_to_websocket()` delivers to a connection
id wherever it lives (any worker when Redis is configured), but the user → connection table below is per
process, so the feed sees only notes created through the same process: serve it with one worker, or keep the
table in a shared store.
"""

from typing import Any

from panther.permissions import IsAuthenticated
from panther.websocket import GenericWebsocket, send_message_to_websocket

# user id -> ids of that user's open feed connections
_subscribers: dict[str, set[str]] = {}


async def notify_user(user_id: str, message: dict[str, Any]) -> int:
    """Send `message` to every open feed connection of `user_id`; returns how many there were."""
    connections = set(_subscribers.get(user_id, ()))
    for connection_id in connections:
        await send_message_to_websocket(connection_id, message)
    return len(connections)


class NoteFeedWebsocket(GenericWebsocket):
    # WS_AUTHENTICATION (QueryParamJWTAuthentication) reads the token from `?authorization=`; a connection
    # without a user is refused in the handshake (HTTP 403, or 401 for a bad token) before `connect()` runs.
    permissions = [IsAuthenticated]

    async def connect(self) -> None:
        await self.accept()
        _subscribers.setdefault(str(self.user.id), set()).add(self.connection_id)
        await self.send({'type': 'connected', 'username': self.user.username})

    async def receive(self, data: str | bytes) -> None:
        # The feed only pushes; a `ping` gets a `pong` so clients can check the connection.
        if data == 'ping':
            await self.send('pong')

    async def disconnect(self, code: int) -> None:
        user_id = str(self.user.id)
        remaining = _subscribers.get(user_id, set()) - {self.connection_id}
        if remaining:
            _subscribers[user_id] = remaining
        else:
            _subscribers.pop(user_id, None)
