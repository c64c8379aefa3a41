"""WebSocket groups and presence: named sets of connections that can be sent to and listed from anywhere.

Each process keeps the memberships of *its own* connections (`Groups.local`). With Redis configured they are
also written to Redis, so every worker can list and reach every member:

* `panther:ws:group:<name>` — a sorted set `connection id → expiry` (milliseconds, Redis clock), and
  `panther:ws:group-info:<name>` — a hash `connection id → JSON info` given at join time.
* Every worker re-writes the entries of its connections every `WS_PRESENCE_TTL / 3` seconds (the heartbeat).
  Entries of a worker that died without cleaning up (SIGKILL, power loss) are not refreshed and stop being
  listed or counted `WS_PRESENCE_TTL` seconds after its last heartbeat at the latest.
* Sending to a group publishes one message on the WebSocket channel; every worker delivers it to its own
  members, rendered once.

Without Redis everything stays in the process. While Redis is unreachable, joins and leaves are kept locally
and written again by the next heartbeat after Redis is back; a message sent to a group meanwhile reaches only
the members in the sending process, and messages published by other workers while this worker's subscription
was down are lost (Redis publish/subscribe keeps nothing for absent subscribers).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import re
import weakref
from collections.abc import Iterable, Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import orjson

from panther._internal.store import StoreUnavailableError, _outage_errors
from panther.base_websocket import CHANNEL, WebsocketConnections
from panther.configs import config
from panther.exceptions import PantherError

if TYPE_CHECKING:
    from panther._internal.store import RedisStore

__all__ = [
    'DEFAULT_PRESENCE_TTL',
    'Groups',
    'groups',
    'presence_ttl',
    'render_frame',
    'validate_group',
]

logger = logging.getLogger('panther')

DEFAULT_PRESENCE_TTL = 30.0
GROUP_NAME = re.compile(r'[A-Za-z0-9_.:@-]{1,128}')
GROUP_NAME_RULE = '1-128 characters: letters, digits and "_", "-", ".", ":", "@"'
MEMBERS_KEY = 'panther:ws:group:'
INFO_KEY = 'panther:ws:group-info:'
# Members per script call when a heartbeat re-writes a large group (keeps each Redis call short).
HEARTBEAT_BATCH = 500

# Milliseconds on the Redis clock: every worker and host compares expiries against the same clock.
_NOW = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
"""

# KEYS: members, info. ARGV: ttl (ms), then connection id / info pairs.
_JOIN = (
    _NOW
    + """
local ttl = tonumber(ARGV[1])
for i = 2, #ARGV, 2 do
    redis.call('ZADD', KEYS[1], now + ttl, ARGV[i])
    redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
end
redis.call('PEXPIRE', KEYS[1], ttl * 2)
redis.call('PEXPIRE', KEYS[2], ttl * 2)
return 1
"""
)

# KEYS: members, info. ARGV: connection ids.
_LEAVE = """
for i = 1, #ARGV do
    redis.call('ZREM', KEYS[1], ARGV[i])
    redis.call('HDEL', KEYS[2], ARGV[i])
end
return 1
"""

# KEYS: members, info. Drops expired entries, returns [id, info, id, info, ...] of the live ones.
_MEMBERS = (
    _NOW
    + """
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
for i = 1, #expired do
    redis.call('HDEL', KEYS[2], expired[i])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
local result = {}
for i = 1, #members do
    result[#result + 1] = members[i]
    result[#result + 1] = redis.call('HGET', KEYS[2], members[i]) or ''
end
return result
"""
)

# KEYS: members. ARGV: channel, message. Publishes only when someone is there; returns the live member count.
_SEND = (
    _NOW
    + """
local count = redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
if count > 0 then
    redis.call('PUBLISH', ARGV[1], ARGV[2])
end
return count
"""
)

_SOURCES = {'join': _JOIN, 'leave': _LEAVE, 'members': _MEMBERS, 'send': _SEND}
_scripts: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()
# At most this many group calls wait on Redis at once: a thousand sockets joining together must queue here,
# not take every connection of the shared pool (redis-py refuses with "Too many connections").
CONCURRENT_CALLS = 16
_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()


def _gate() -> asyncio.Semaphore:
    # One per event loop: a semaphore belongs to the loop it first waited on.
    loop = asyncio.get_running_loop()
    gate = _gates.get(loop)
    if gate is None:
        gate = _gates[loop] = asyncio.Semaphore(CONCURRENT_CALLS)
    return gate


def validate_group(group: Any) -> str:
    if not isinstance(group, str) or not GROUP_NAME.fullmatch(group):
        raise ValueError(f'Invalid WebSocket group name {group!r}: use {GROUP_NAME_RULE}.')
    return group


def presence_ttl() -> float:
    """`WS_PRESENCE_TTL` in seconds (a number or a `timedelta`; default 30)."""
    value = config.__dict__.get('WS_PRESENCE_TTL')
    if value is None:
        return DEFAULT_PRESENCE_TTL
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
        raise PantherError(f"Invalid 'WS_PRESENCE_TTL': expected a positive number of seconds, got {value!r}")
    return float(seconds)


def render_frame(data: Any) -> dict[str, Any]:
    """The ASGI send message for `data`, as `Websocket.send()` would build it (rendered once for a group)."""
    if isinstance(data, bytes):
        return {'type': 'websocket.send', 'bytes': data}
    if isinstance(data, str):
        return {'type': 'websocket.send', 'text': data}
    from panther.response import render_json

    return {'type': 'websocket.send', 'text': render_json(data).decode()}


def _wire_frame(frame: dict[str, Any]) -> dict[str, Any]:
    # Bytes cannot travel in JSON.
    if 'bytes' in frame:
        return {'b64': base64.b64encode(frame['bytes']).decode()}
    return {'text': frame['text']}


def _frame_from_wire(message: dict[str, Any]) -> dict[str, Any]:
    if 'b64' in message:
        return {'type': 'websocket.send', 'bytes': base64.b64decode(message['b64'])}
    return {'type': 'websocket.send', 'text': message.get('text', '')}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def redis_store() -> RedisStore | None:
    """The Redis-backed Store while Redis is connected."""
    from panther._internal.store import RedisStore, get_store

    store = get_store()
    return store if isinstance(store, RedisStore) else None


async def _run(store: RedisStore, name: str, keys: list[str], args: list[Any]) -> Any:
    scripts = _scripts.get(store)
    if scripts is None:
        scripts = {key: store.client.register_script(source) for key, source in _SOURCES.items()}
        _scripts[store] = scripts
    async with _gate():
        store._check()
        try:
            return await scripts[name](keys=keys, args=args)
        except _outage_errors() as exc:
            raise store._failed(exc) from exc


def _keys(group: str) -> list[str]:
    return [MEMBERS_KEY + group, INFO_KEY + group]


class Groups:
    """Group memberships of this process's connections, mirrored to Redis when it is configured."""

    def __init__(self) -> None:
        # group → {connection id: encoded info}, for connections of this process only.
        self.local: dict[str, dict[str, bytes]] = {}
        # connection id → its groups.
        self.by_connection: dict[str, set[str]] = {}
        self._outage_logged = False

    # --- membership -------------------------------------------------------------------------------------------

    async def join(self, connection_id: str, group: str, info: Any = None) -> None:
        validate_group(group)
        encoded = orjson.dumps(info)
        if connection_id in WebsocketConnections.local().connections:
            self.local.setdefault(group, {})[connection_id] = encoded
            self.by_connection.setdefault(connection_id, set()).add(group)
            store = redis_store()
            if store is not None:
                await self._write(store, group, [(connection_id, encoded)])
            return
        # Another worker holds the connection: it joins there (and keeps the entry alive by its heartbeat).
        await self._forward(connection_id, 'join', {'group': group, 'info': info})

    async def leave(self, connection_id: str, group: str) -> None:
        validate_group(group)
        self._forget(connection_id, group)
        store = redis_store()
        if store is None:
            return
        with self._tolerating_outage('leave'):
            await _run(store, 'leave', _keys(group), [connection_id])
        if connection_id not in WebsocketConnections.local().connections:
            await self._forward(connection_id, 'leave', {'group': group})

    async def leave_all(self, connection_id: str) -> None:
        """Called when a connection of this process ends."""
        joined = self.by_connection.pop(connection_id, None)
        if not joined:
            return
        for group in joined:
            self._forget(connection_id, group)
        store = redis_store()
        if store is None:
            return
        with self._tolerating_outage('leave'):
            for group in joined:
                await _run(store, 'leave', _keys(group), [connection_id])

    def groups_of(self, connection_id: str) -> frozenset[str]:
        return frozenset(self.by_connection.get(connection_id, ()))

    def _forget(self, connection_id: str, group: str) -> None:
        members = self.local.get(group)
        if members is not None:
            members.pop(connection_id, None)
            if not members:
                del self.local[group]
        joined = self.by_connection.get(connection_id)
        if joined is not None:
            joined.discard(group)
            if not joined:
                del self.by_connection[connection_id]

    # --- presence ---------------------------------------------------------------------------------------------

    async def members(self, group: str) -> dict[str, Any]:
        """`{connection id: info}` of every live member, in every worker (this process only without Redis)."""
        validate_group(group)
        store = redis_store()
        if store is not None:
            try:
                flat = await _run(store, 'members', _keys(group), [])
            except StoreUnavailableError as exc:
                self._log_outage(f'group members of {group!r} listed from this process only: {exc}')
            else:
                self._outage_logged = False
                return {_text(flat[i]): orjson.loads(flat[i + 1] or b'null') for i in range(0, len(flat), 2)}
        return {connection_id: orjson.loads(info) for connection_id, info in self.local.get(group, {}).items()}

    # --- delivery ---------------------------------------------------------------------------------------------

    async def send(self, group: str, data: Any) -> int:
        """Send `data` to every member; returns the number of members it was sent to (0: nobody is there)."""
        validate_group(group)
        frame = render_frame(data)
        store = redis_store()
        if store is not None:
            message = orjson.dumps({'group': group, 'action': 'group_send', **_wire_frame(frame)})
            try:
                count = await _run(store, 'send', [MEMBERS_KEY + group], [CHANNEL, message])
            except StoreUnavailableError as exc:
                self._log_outage(f'message to group {group!r} delivered in this process only: {exc}')
            else:
                return int(count)
        return await self.deliver_local(group, frame)

    async def deliver_local(self, group: str, frame: dict[str, Any]) -> int:
        members = self.local.get(group)
        if not members:
            return 0
        connections = WebsocketConnections.local().connections
        sent = 0
        for connection_id in tuple(members):
            connection = connections.get(connection_id)
            if connection is None or connection.state != 'Accepted':
                continue
            try:
                await connection.asgi_send(frame)
            except Exception as exc:
                # One connection that went away must not keep the message from the others.
                logger.warning(f'WebSocket group {group!r}: sending to {connection_id} failed: {exc}')
                continue
            sent += 1
        return sent

    async def handle(self, message: dict[str, Any]) -> bool:
        """Apply a group message received from the channel; False if it is not one."""
        action = message.get('action')
        if action == 'group_send':
            await self.deliver_local(str(message.get('group', '')), _frame_from_wire(message))
            return True
        connection_id = message.get('connection_id')
        if action not in ('join', 'leave') or connection_id not in WebsocketConnections.local().connections:
            return action in ('join', 'leave')
        data = message.get('data') or {}
        if action == 'join':
            await self.join(connection_id, data['group'], data.get('info'))
        else:
            await self.leave(connection_id, data['group'])
        return True

    # --- Redis ------------------------------------------------------------------------------------------------

    async def heartbeat(self) -> None:
        """Re-write every local membership with a fresh expiry (also restores them after a Redis outage)."""
        store = redis_store()
        if store is None:
            return
        for group, members in tuple(self.local.items()):
            entries = list(members.items())
            for start in range(0, len(entries), HEARTBEAT_BATCH):
                await self._write(store, group, entries[start : start + HEARTBEAT_BATCH])

    async def _write(self, store: RedisStore, group: str, entries: Iterable[tuple[str, bytes]]) -> None:
        args: list[Any] = [int(presence_ttl() * 1000)]
        for connection_id, info in entries:
            args += [connection_id, info]
        with self._tolerating_outage('join'):
            await _run(store, 'join', _keys(group), args)
            self._outage_logged = False

    async def _forward(self, connection_id: str, action: str, data: dict[str, Any]) -> None:
        store = redis_store()
        if store is None:
            return  # without Redis every connection is local: an unknown id is already gone
        message = orjson.dumps({'connection_id': connection_id, 'action': action, 'data': data})
        with self._tolerating_outage(action):
            await store.publish(CHANNEL, message)

    @contextlib.contextmanager
    def _tolerating_outage(self, what: str) -> Iterator[None]:
        try:
            yield
        except StoreUnavailableError as exc:
            self._log_outage(f'group {what} kept in this process until Redis is back: {exc}')

    def _log_outage(self, text: str) -> None:
        # One WARNING per outage, not one per message.
        if not self._outage_logged:
            self._outage_logged = True
            logger.warning(f'WebSocket groups: {text}')


groups = Groups()


async def run_heartbeat() -> None:
    """Refresh this worker's memberships until cancelled."""
    while True:
        await asyncio.sleep(presence_ttl() / 3)
        try:
            await groups.heartbeat()
        except Exception as exc:
            logger.error(f'WebSocket presence heartbeat failed: {exc}')
