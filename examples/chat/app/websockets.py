"""The room WebSocket: `/ws/rooms/<room>/?authorization=<access token>`.

Protocol (JSON text frames):

* client → server: `{"text": "hello"}` — at most `MAX_MESSAGE_LENGTH` characters after trimming.
* server → client:
  - `{"type": "history", "room": ..., "messages": [<message>, ...]}` — once, right after joining, oldest first;
  - `{"type": "join", "user": ..., "members": [...]}` / `{"type": "leave", "user": ..., "members": [...]}` — to
    everyone in the room (the joining client gets its own `join` too);
  - `{"type": "message", "id": ..., "user": ..., "text": ..., "sent_at": ...}` — to everyone, the sender included;
  - `{"type": "error", "detail": ...}` — to the sender only, for a message that was refused. The connection
    stays open: bad input never closes it.

Limits: `MESSAGE_THROTTLE` messages per user (over it messages are dropped, the sender gets one `error` per
window), `CONNECT_THROTTLE` new connections per user (over it the handshake is refused with HTTP 429).
"""

import re
from datetime import timedelta
from typing import Any

from pydantic import ValidationError

from examples.chat.app import rooms
from examples.chat.app.models import Message
from examples.chat.app.serializers import MAX_MESSAGE_LENGTH, ChatMessageIn
from panther import status
from panther.configs import config
from panther.permissions import IsAuthenticated
from panther.throttling import Throttle
from panther.websocket import GenericWebsocket

ROOM_NAME = re.compile(r'^[a-z0-9][a-z0-9_-]{0,31}$')
# Longer frames are refused before they are parsed (a 500-character text is at most ~3 000 characters of JSON).
MAX_FRAME_LENGTH = 8 * 1024
FORMAT_HINT = 'Send a JSON object such as {"text": "hello"}'
# Enough for people typing; a script that floods the room is cut off (every frame counts, valid or not).
MESSAGE_THROTTLE = Throttle(rate=20, duration=timedelta(seconds=10))
# Joining a room is a connection: reconnect loops and room hopping are limited too.
CONNECT_THROTTLE = Throttle(rate=20, duration=timedelta(minutes=1))


class InvalidMessage(Exception):
    def __init__(self, detail: str | dict[str, str]) -> None:
        super().__init__(detail)
        self.detail = detail


def parse_message(data: str | bytes) -> ChatMessageIn:
    """The client's frame as a validated message; `InvalidMessage` says what was wrong with it."""
    if isinstance(data, bytes):
        raise InvalidMessage(f'Binary frames are not supported. {FORMAT_HINT}')
    if len(data) > MAX_FRAME_LENGTH:
        raise InvalidMessage(f'Messages are at most {MAX_MESSAGE_LENGTH} characters long.')
    try:
        return ChatMessageIn.model_validate_json(data)
    except ValidationError as error:
        problems = error.errors(include_url=False)
        if any(not problem['loc'] for problem in problems):  # not JSON, or JSON that is not an object
            raise InvalidMessage(FORMAT_HINT) from None
        # The same shape as Panther's HTTP validation errors: {"field": "message"}.
        raise InvalidMessage({'.'.join(map(str, problem['loc'])): problem['msg'] for problem in problems}) from None


def message_event(message: Message) -> dict[str, Any]:
    return {
        'type': 'message',
        'id': str(message.id),
        'user': message.author.username,
        'text': message.text,
        'sent_at': message.sent_at,
    }


async def recent_messages(room: str, limit: int) -> list[dict[str, Any]]:
    """The last `limit` messages of the room, oldest first."""
    newest_first = await Message.find(room=room).sort('sent_at', -1).limit(limit).to_list()
    return [message_event(message) for message in reversed(newest_first)]


class ChatRoomWebsocket(GenericWebsocket):
    # WS_AUTHENTICATION (QueryParamJWTAuthentication) reads `?authorization=<access token>`; a connection without
    # a valid token is refused in the handshake (HTTP 401/403 with a JSON `detail`) before `connect()` runs.
    permissions = [IsAuthenticated]
    throttling = MESSAGE_THROTTLE
    connect_throttling = CONNECT_THROTTLE

    # Set once the connection has joined its room; `disconnect()` only announces connections that did.
    room: str | None = None

    async def connect(self, room: str) -> None:
        if not ROOM_NAME.match(room):
            # Closing before `accept()` refuses the handshake: HTTP 403 with this text as the `detail`.
            reason = 'Room names are 1-32 lowercase letters, digits, "-" and "_"'
            await self.close(code=status.WS_1008_POLICY_VIOLATION, reason=reason)
            return
        await self.accept()
        # History first, then membership: the history is the first thing the client gets.
        await self.send({'type': 'history', 'room': room, 'messages': await recent_messages(room, config.HISTORY_SIZE)})
        await self.join(rooms.group(room), info={'user': self.user.username})
        self.room = room
        members = await rooms.members(room)
        await rooms.broadcast(room, {'type': 'join', 'user': self.user.username, 'members': rooms.usernames(members)})

    async def receive(self, data: str | bytes) -> None:
        if self.room is None:
            return
        try:
            incoming = parse_message(data)
        except InvalidMessage as invalid:
            await self.send({'type': 'error', 'detail': invalid.detail})
            return
        message = await Message.insert_one(room=self.room, author=self.user, text=incoming.text)
        await rooms.broadcast(self.room, message_event(message))

    async def throttled(self, retry_after: int) -> None:
        # The first dropped message of the window; the connection stays open.
        detail = f'Too many messages: wait {retry_after} seconds. Messages sent meanwhile are dropped.'
        await self.send({'type': 'error', 'detail': detail})

    async def disconnect(self, code: int) -> None:
        # Called once the connection has ended, whoever closed it; it has already left its room's group.
        if self.room is None:
            return
        members = await rooms.members(self.room)
        await rooms.broadcast(
            self.room, {'type': 'leave', 'user': self.user.username, 'members': rooms.usernames(members)}
        )
