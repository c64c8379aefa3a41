"""The live note feed: `/ws/notes/?authorization=<access token>` receives every note its user creates.

Connections are remembered per user in this process. `send_message_to_websocket()` delivers to a connection
id wherever it lives (any worker when Redis is configured), but the user → connection table below is per
process, so the feed sees only notes created through the same process: serve it with one worker, or keep the
table in a shared store.
"""

from typing import Any

from panther.base_websocket import WebsocketConnections
from panther.permissions import IsAuthenticated
from panther.websocket import GenericWebsocket, send_message_to_websocket

# user id -> ids of that user's open feed connections
_subscribers: dict[str, set[str]] = {}


def _open_connections(user_id: str) -> set[str]:
    """The user's connection ids that are still open; closed ones are forgotten on the way."""
    known = _subscribers.get(user_id, set())
    alive = {connection_id for connection_id in known if connection_id in WebsocketConnections.local().connections}
    if alive:
        _subscribers[user_id] = alive
    else:
        _subscribers.pop(user_id, None)
    return alive


async def notify_user(user_id: str, message: dict[str, Any]) -> int:
    """Send `message` to every open feed connection of `user_id`; returns how many there were."""
    connections = _open_connections(user_id)
    for connection_id in connections:
        await send_message_to_websocket(connection_id, message)
    return len(connections)


class NoteFeedWebsocket(GenericWebsocket):
    # WS_AUTHENTICATION (QueryParamJWTAuthentication) reads the token from `?authorization=`; a connection
    # without a user is closed with code 1008 before `connect()` runs.
    permissions = [IsAuthenticated]

    async def connect(self) -> None:
        await self.accept()
        user_id = str(self.user.id)
        _open_connections(user_id)
        _subscribers.setdefault(user_id, set()).add(self.connection_id)
        await self.send({'type': 'connected', 'username': self.user.username})

    async def receive(self, data: str | bytes) -> None:
        # The feed only pushes; a `ping` gets a `pong` so clients can check the connection.
        if data == 'ping':
            await self.send('pong')
