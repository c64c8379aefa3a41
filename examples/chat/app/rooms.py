"""Rooms are WebSocket groups: who is in which room, and delivering a message to everyone in a room.

Room `general` is the group `room:general` of `panther.websocket`; each member joins with `{"user": <username>}`
as its presence info. Panther keeps the groups:

* **with Redis** (`REDIS` configured) in Redis, shared by every worker process (and host): a message sent to a
  room reaches its members whichever worker they are connected to, and the member list shows all of them.
  A worker that is killed (not stopped) cannot remove its connections; they stop being listed after
  `WS_PRESENCE_TTL` seconds (30 by default).
* **without Redis** in this process: run a single worker (`panther run` without `--workers`).

A connection leaves its room by itself when it closes.
"""

from typing import Any

from panther.db.connections import redis
from panther.websocket import group_members, send_to_group


def group(room: str) -> str:
    return f'room:{room}'


def shared() -> bool:
    """Whether rooms live in Redis (shared by every worker) rather than in this process."""
    return bool(redis.is_connected)


async def members(room: str) -> dict[str, str]:
    """`{connection id: username}` of everyone in the room."""
    listed = await group_members(group(room))
    return {connection_id: (info or {}).get('user', '') for connection_id, info in listed.items()}


def usernames(room_members: dict[str, str]) -> list[str]:
    """Who is in the room, each name once (one person may have several tabs open)."""
    return sorted(set(room_members.values()))


async def broadcast(room: str, data: dict[str, Any]) -> int:
    """Send `data` to every connection in the room; returns to how many connections it was sent."""
    return await send_to_group(group(room), data)
