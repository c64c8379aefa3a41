"""Who is in which room, and delivering a message to everyone in a room.

Membership is a mapping `connection id → username` per room:

* **with Redis** (`REDIS` configured) it is a Redis hash per room (`chat:room:<name>`), written through the
  `panther.db.connections.redis` client. Every worker process reads and writes the same hashes, and
  `send_message_to_websocket()` publishes each delivery over Redis to whichever worker holds the connection, so
  people connected to different workers (or hosts) chat in the same room.
* **without Redis** it is a dictionary in this process, and delivery only reaches connections of this process:
  run a single worker (`panther run` without `--workers`).

A connection is removed from its room when it closes (`ChatRoomWebsocket.disconnect`). A worker that is killed
(not stopped) cannot do that: its connections stay listed in Redis until the room is empty, or until nothing
happened in it for `IDLE_ROOM_TTL` (each join refreshes the hash's expiry).
"""

import logging
from typing import Any

from panther.db.connections import redis
from panther.websocket import send_message_to_websocket

logger = logging.getLogger('panther')

IDLE_ROOM_TTL = 24 * 60 * 60  # seconds

# room -> {connection id: username}, used without Redis.
_local_rooms: dict[str, dict[str, str]] = {}


def _key(room: str) -> str:
    return f'chat:room:{room}'


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def shared() -> bool:
    """Whether membership lives in Redis (shared by every worker) rather than in this process."""
    return bool(redis.is_connected)


async def join(room: str, connection_id: str, username: str) -> None:
    if shared():
        await redis.hset(_key(room), connection_id, username)
        await redis.expire(_key(room), IDLE_ROOM_TTL)
    else:
        _local_rooms.setdefault(room, {})[connection_id] = username


async def leave(room: str, connection_id: str) -> None:
    if shared():
        await redis.hdel(_key(room), connection_id)
    else:
        members = _local_rooms.get(room, {})
        members.pop(connection_id, None)
        if not members:
            _local_rooms.pop(room, None)


async def members(room: str) -> dict[str, str]:
    """`{connection id: username}` of everyone in the room."""
    if shared():
        stored = await redis.hgetall(_key(room))
        return {_text(connection_id): _text(username) for connection_id, username in stored.items()}
    return dict(_local_rooms.get(room, {}))


def usernames(room_members: dict[str, str]) -> list[str]:
    """Who is in the room, each name once (one person may have several tabs open)."""
    return sorted(set(room_members.values()))


async def broadcast(room: str, data: dict[str, Any], room_members: dict[str, str] | None = None) -> int:
    """Send `data` to every connection in the room; returns to how many connections it was sent."""
    if room_members is None:
        room_members = await members(room)
    for connection_id in room_members:
        try:
            await send_message_to_websocket(connection_id, data)
        except Exception as exc:
            # One connection that went away in the meantime must not keep the message from the others.
            logger.warning(f'Chat message to {connection_id} in room {room!r} was not delivered: {exc}')
    return len(room_members)


def forget_local_rooms() -> None:
    """Start-up: a new process has no connections yet, so it has no local members either."""
    _local_rooms.clear()
