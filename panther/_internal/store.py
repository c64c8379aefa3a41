"""One small async key/value Store behind caching, throttling, token revocation and websocket pub/sub.

Two backends:

* `MemoryStore` — per process, bounded by `max_entries` (config `STORE_MAX_ENTRIES`). Expired entries go
  first, then the least recently used *evictable* entries (cached responses). Security state — counters
  (throttle windows, token revocations) and values stored with `protected=True` — is never dropped to make
  room: when it alone fills the store, new security state is refused with `StoreFullError` (503), because
  forgetting a revocation would let a logged-out token work again.
* `RedisStore` — `redis.asyncio` on one connection pool, shared by every worker that points at the
  same Redis; counters are atomic (one Lua round trip for increment + expiry).

`get_store()` returns the `RedisStore` while Redis is connected, else the process-wide `MemoryStore`.

A backend that cannot be reached raises `StoreUnavailableError`; each caller decides its fallback
(see docs/auth.md): revocation checks fail closed, throttling and caching fail open.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import heapq
import logging
import math
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast

from panther import status
from panther._internal import clock
from panther._internal.near_state import AbsentKeys, Leases, lease_size
from panther._internal.redis_wire import RedisWire, ReplyError, pack, wire_settings
from panther.exceptions import APIError

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = [
    'DEFAULT_MAX_ENTRIES',
    'MemoryStore',
    'RedisStore',
    'Store',
    'StoreFullError',
    'StoreUnavailableError',
    'get_store',
    'reset_memory_store',
    'set_redis_store',
]

logger = logging.getLogger('panther')

# Called once a subscription is in place (see `Store.subscribe`).
Ready = Callable[[], 'Awaitable[None] | None']


async def _call_ready(ready: Ready | None) -> None:
    if ready is not None:
        result = ready()
        if result is not None:
            await result


DEFAULT_MAX_ENTRIES = 10_000
# A subscriber that stops reading must not make the process grow without limit.
SUBSCRIBER_QUEUE_SIZE = 1_000


class StoreUnavailableError(Exception):
    """The backend could not be reached (connection refused, timeout, ...)."""


class StoreFullError(APIError):
    """The memory store is full of security state it must not forget: the request is refused (503).

    Not a `StoreUnavailableError`: callers that fail open on an outage (throttling) must fail closed here.
    """

    detail = 'The server is at capacity; try again later'
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE


class Store(ABC):
    """Async key/value storage with expiry. Keys are `str`, values `bytes`."""

    @abstractmethod
    async def get(self, key: str) -> bytes | None:
        """The value, or `None` if the key is missing or expired."""

    @abstractmethod
    async def set(self, key: str, value: bytes, ttl: float | None = None, *, protected: bool = False) -> None:
        """Store `value`; with `ttl` (seconds, > 0) it expires after that long.

        `protected=True` marks security state: a bounded backend never evicts it to make room (it refuses new
        protected entries with `StoreFullError` instead); other values may be evicted before they expire.
        """

    @abstractmethod
    async def incr(self, key: str, ttl: float) -> int:
        """Atomically add 1 and return the new value; a key created by this call expires after `ttl` seconds.

        Counters are security state (throttle windows, revocations): never evicted, see `set(protected=True)`.
        """

    @abstractmethod
    async def delete(self, key: str) -> None:
        """Remove the key (no error if it is missing)."""

    @abstractmethod
    async def exists(self, key: str) -> bool:
        """Whether the key is present and not expired."""

    @abstractmethod
    async def publish(self, channel: str, message: bytes) -> None:
        """Deliver `message` to every current subscriber of `channel`."""

    @abstractmethod
    def subscribe(self, channel: str, ready: Ready | None = None) -> AsyncIterator[bytes]:
        """Messages published on `channel` from now on; close the iterator (`aclose()`) to unsubscribe.

        `ready` (a function, or a coroutine function that is awaited) is called when the iterator is first awaited,
        once the subscription is in place (on Redis: confirmed by the server): nothing published after it runs is
        missed.
        """

    async def get_with_ttl(self, key: str) -> tuple[bytes | None, float | None]:
        """The value and its remaining lifetime in seconds (None: no expiry or unknown)."""
        return await self.get(key), None

    async def incr_unless_exists(self, key: str, ttl: float, guard: str) -> int | None:
        """`incr(key, ttl)`, unless `guard` exists: then `None` and nothing is counted.

        A throttled request with a token counts itself and checks the token's revocation marker in one step (one
        round trip on Redis).
        """
        if await self.exists(guard):
            return None
        return await self.incr(key, ttl)

    async def count_request(self, key: str, ttl: float, limit: int, guard: str | None = None) -> int | None:
        """Count one request on the counter `key` (a throttle window of `limit` requests; created with `ttl`) and
        return its count — above `limit` when the window is full. With `guard` (a token's revocation marker):
        `None`, and nothing counted, when the guard exists.

        The Redis Store may answer from counts it took in advance (`near_state.Leases`).
        """
        if guard is None:
            return await self.incr(key, ttl)
        return await self.incr_unless_exists(key, ttl, guard)

    async def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing
        """Release connections; the default has nothing to release."""


class MemoryStore(Store):
    """Per-process store with a bound on the number of keys.

    Two tables: `_data` holds evictable values (least recently used first), `_kept` holds security state
    (counters and `protected=True` values), which only expiry or `delete()` removes. Together they hold at most
    `max_entries` keys.

    Expiry uses a monotonic clock (`panther._internal.clock`) so clock changes do not resurrect or kill entries.
    A heap of `(expires_at, key)` finds expired entries without scanning; stale heap items (the key was
    rewritten or deleted) are skipped when popped, and the heap is rebuilt if they pile up.
    """

    # One ERROR per this many seconds while the store refuses security state: an attack must not flood the log.
    FULL_LOG_INTERVAL = 10.0

    def __init__(self, max_entries: int | None = None) -> None:
        if max_entries is not None and max_entries < 1:
            raise ValueError('`max_entries` must be at least 1')
        self._fixed_max = max_entries
        self._data: OrderedDict[str, tuple[Any, float | None]] = OrderedDict()
        self._kept: dict[str, tuple[Any, float | None]] = {}
        self._expiries: list[tuple[float, str]] = []
        self._subscribers: dict[str, set[_MemorySubscription]] = {}
        self._full_logged_at = -math.inf

    @property
    def max_entries(self) -> int:
        if self._fixed_max is not None:
            return self._fixed_max
        # Imported here: the store sits below `configs` in the layering and is used before it is loaded.
        from panther.configs import config

        return int(config.STORE_MAX_ENTRIES or DEFAULT_MAX_ENTRIES)

    def __len__(self) -> int:
        return len(self._data) + len(self._kept)

    def clear(self) -> None:
        self._data.clear()
        self._kept.clear()
        self._expiries.clear()

    def _lookup(self, key: str) -> tuple[Any, float | None] | None:
        table: dict[str, tuple[Any, float | None]] = self._data
        entry = table.get(key)
        if entry is None:
            table = self._kept
            entry = table.get(key)
            if entry is None:
                return None
        expires_at = entry[1]
        if expires_at is not None and expires_at <= clock.monotonic():
            del table[key]
            return None
        if table is self._data:
            self._data.move_to_end(key)
        return entry

    def _write(self, key: str, value: Any, expires_at: float | None, *, protected: bool) -> None:
        if protected:
            if key not in self._kept:
                self._data.pop(key, None)
                self._make_room(protected=True)
            self._kept[key] = (value, expires_at)
        else:
            if key in self._kept:
                # A value stored as security state stays security state.
                self._kept[key] = (value, expires_at)
            else:
                if key not in self._data and not self._make_room(protected=False):
                    return
                self._data[key] = (value, expires_at)
                self._data.move_to_end(key)
        if expires_at is not None:
            heapq.heappush(self._expiries, (expires_at, key))
            if len(self._expiries) > 2 * self.max_entries + 64:
                self._rebuild_expiries()

    def _make_room(self, *, protected: bool) -> bool:
        """Free one slot; False (or `StoreFullError` for security state) when only security state is left."""
        limit = self.max_entries
        if len(self._data) + len(self._kept) < limit:
            return True
        self._drop_expired()
        while len(self._data) + len(self._kept) >= limit:
            if not self._data:
                if protected:
                    self._refuse()
                # A response that cannot be cached is only slower; it must not push security state out.
                return False
            self._data.popitem(last=False)
        return True

    def _refuse(self) -> None:
        now = clock.monotonic()
        if now - self._full_logged_at >= self.FULL_LOG_INTERVAL:
            self._full_logged_at = now
            logger.error(
                f'The memory store holds {len(self._kept)} entries of security state (throttle counters, revoked '
                f'tokens) and is full (STORE_MAX_ENTRIES={self.max_entries}): requests that need new state are '
                f'refused with 503. Raise STORE_MAX_ENTRIES or configure REDIS.'
            )
        raise StoreFullError

    def _drop_expired(self) -> None:
        now = clock.monotonic()
        heap = self._expiries
        while heap and heap[0][0] <= now:
            expires_at, key = heapq.heappop(heap)
            for table in (self._data, self._kept):
                entry = table.get(key)
                if entry is not None and entry[1] == expires_at:
                    del table[key]

    def _rebuild_expiries(self) -> None:
        self._expiries = [
            (entry[1], key)
            for table in (self._data, self._kept)
            for key, entry in table.items()
            if entry[1] is not None
        ]
        heapq.heapify(self._expiries)

    def get_nowait(self, key: str) -> Any:
        """The stored object itself (no copy, no await); for callers that keep decoded values here."""
        entry = self._data.get(key)
        if entry is None:
            entry = self._lookup(key) if self._kept else None
            return None if entry is None else entry[0]
        if entry[1] is not None and entry[1] <= clock.monotonic():
            del self._data[key]
            return None
        self._data.move_to_end(key)
        return entry[0]

    async def get(self, key: str) -> bytes | None:
        entry = self._lookup(key)
        if entry is None:
            return None
        value = entry[0]
        # Counters are kept as `int` for speed; read back like Redis returns them.
        return str(value).encode() if isinstance(value, int) else value

    async def set(self, key: str, value: bytes, ttl: float | None = None, *, protected: bool = False) -> None:
        self._write(key, value, None if ttl is None else clock.monotonic() + ttl, protected=protected)

    async def incr(self, key: str, ttl: float) -> int:
        # No await between read and write: atomic within the event loop.
        entry = self._lookup(key)
        if entry is None:
            self._write(key, 1, clock.monotonic() + ttl, protected=True)
            return 1
        value = int(entry[0]) + 1
        # Same key and expiry: no new heap item; a value first stored as evictable becomes security state.
        self._data.pop(key, None)
        self._kept[key] = (value, entry[1])
        return value

    async def delete(self, key: str) -> None:
        self._data.pop(key, None)
        self._kept.pop(key, None)

    async def exists(self, key: str) -> bool:
        return self._lookup(key) is not None

    async def publish(self, channel: str, message: bytes) -> None:
        for subscription in tuple(self._subscribers.get(channel, ())):
            subscription.deliver(message)

    def subscribe(self, channel: str, ready: Ready | None = None) -> AsyncIterator[bytes]:
        subscription = _MemorySubscription(self, channel)
        self._subscribers.setdefault(channel, set()).add(subscription)
        return subscription.iterate(ready)

    def _unsubscribe(self, subscription: _MemorySubscription) -> None:
        subscribers = self._subscribers.get(subscription.channel)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del self._subscribers[subscription.channel]


class _MemorySubscription:
    def __init__(self, store: MemoryStore, channel: str) -> None:
        self.store = store
        self.channel = channel
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=SUBSCRIBER_QUEUE_SIZE)
        self.loop: asyncio.AbstractEventLoop | None = None

    def deliver(self, message: bytes) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if self.loop is not None and running is not self.loop:
            self.loop.call_soon_threadsafe(self._put, message)
        else:
            self._put(message)

    def _put(self, message: bytes) -> None:
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            logger.error(f'Subscriber of `{self.channel}` is not reading; a message was dropped.')

    async def iterate(self, ready: Ready | None) -> AsyncIterator[bytes]:
        self.loop = asyncio.get_running_loop()
        try:
            await _call_ready(ready)
            while True:
                yield await self.queue.get()
        finally:
            self.store._unsubscribe(self)


# GET and PTTL in one round trip.
_GET_WITH_TTL_SCRIPT = """
return {redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1])}
"""

# INCR and the first expiry in one atomic step; PTTL == -1 also repairs a counter that lost its expiry.
_INCR_SCRIPT = """
local value = redis.call('INCR', KEYS[1])
if value == 1 or redis.call('PTTL', KEYS[1]) == -1 then
    redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return value
"""


# A throttle counter that takes up to ARGV[3] counts at once (a lease, see `near_state`), never more than the
# limit ARGV[2] leaves; a full window takes one count (the refused request). {last count, counts taken}, or -1
# when the guard KEYS[2] (a revocation marker) exists: a token's revocation check and its request's count in one
# atomic round trip.
_LEASE_SCRIPT = """
if #KEYS > 1 and redis.call('EXISTS', KEYS[2]) == 1 then
    return -1
end
local limit = tonumber(ARGV[2])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local take = 1
if current < limit then
    take = math.min(tonumber(ARGV[3]), limit - current)
end
local last = redis.call('INCRBY', KEYS[1], take)
if last == take or redis.call('PTTL', KEYS[1]) == -1 then
    redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return {last, take}
"""

# `_INCR_SCRIPT` for a revocation marker: the write is announced on ARGV[2] in the same atomic step, so every
# process forgets that it saw the marker absent (`near_state.AbsentKeys`).
_INCR_ANNOUNCED_SCRIPT = """
local value = redis.call('INCR', KEYS[1])
if value == 1 or redis.call('PTTL', KEYS[1]) == -1 then
    redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
redis.call('PUBLISH', ARGV[2], KEYS[1])
return value
"""

# Revocation markers (`panther.authentications.REVOKED_PREFIX`): keys whose absence each process remembers,
# and the channel on which every write of one is announced.
TRACKED_PREFIX = 'panther:revoked:'
WRITES_CHANNEL = 'panther:store:written'

_INCR_SHA = hashlib.sha1(_INCR_SCRIPT.encode()).hexdigest()
_LEASE_SHA = hashlib.sha1(_LEASE_SCRIPT.encode()).hexdigest()
_INCR_ANNOUNCED_SHA = hashlib.sha1(_INCR_ANNOUNCED_SCRIPT.encode()).hexdigest()


def _evalsha(sha: str, key: str, milliseconds: int) -> bytes:
    """`EVALSHA sha 1 key milliseconds`, encoded in one step (this runs on every counted request)."""
    key_bytes = key.encode()
    ms = b'%d' % milliseconds
    head = b'*5\r\n$7\r\nEVALSHA\r\n$40\r\n%s\r\n$1\r\n1\r\n' % sha.encode()
    return head + b'$%d\r\n%s\r\n$%d\r\n%s\r\n' % (len(key_bytes), key_bytes, len(ms), ms)


def _outage_errors() -> tuple[type[BaseException], ...]:
    """Errors that mean "Redis cannot be reached"; a command error (wrong type, ...) is a bug, not an outage."""
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    return (RedisConnectionError, RedisTimeoutError, OSError, asyncio.TimeoutError, TimeoutError)


def _wire_settings(client: Redis) -> dict[str, Any] | None:
    pool = client.connection_pool
    return wire_settings(pool.connection_class, pool.connection_kwargs)


class RedisStore(Store):
    """Store on a `redis.asyncio.Redis` client (its connection pool is shared by all calls).

    After a connection failure the store refuses calls for `cooldown` seconds instead of waiting on
    the network again, so an outage costs each request microseconds, not a socket timeout.
    """

    def __init__(self, client: Redis, cooldown: float = 2.0) -> None:
        self.client = client
        self.cooldown = cooldown
        self._down_until = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._incr_script = client.register_script(_INCR_SCRIPT)
        # The per-request commands (counters, revocation checks) go over one lean connection (`redis_wire`)
        # when the client's connections are plain TCP or Unix sockets; everything else uses redis-py.
        self._wire: RedisWire | None = None
        self._wire_lock: asyncio.Lock | None = None
        self.use_wire = _wire_settings(client) is not None
        self._get_with_ttl_script = client.register_script(_GET_WITH_TTL_SCRIPT)
        self._lease_script = client.register_script(_LEASE_SCRIPT)
        self._incr_announced_script = client.register_script(_INCR_ANNOUNCED_SCRIPT)
        # What this process keeps so most requests need no round trip (see `near_state`).
        self.absent = AbsentKeys()
        self.leases = Leases()
        self._follower: asyncio.Task[None] | None = None
        self._follow_again_at = 0.0

    def _check(self) -> None:
        if self._down_until and clock.monotonic() < self._down_until:
            raise StoreUnavailableError('Redis is unavailable (recent connection failure)')
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # Pooled connections belong to the loop that opened them; a new loop (tests, run_coroutine)
            # must not reuse them.
            if self._loop is not None:
                self.client.connection_pool.reset()  # type: ignore[no-untyped-call]
            self._loop = loop
            self._wire = None
            self._wire_lock = None
            self._forget_near_state()

    def _failed(self, exc: BaseException) -> StoreUnavailableError:
        self._down_until = clock.monotonic() + self.cooldown
        # Announcements may be lost too: nothing is answered from memory until the subscription is confirmed again.
        self._forget_near_state()
        return StoreUnavailableError(f'Redis is unavailable: {exc}')

    async def _run(self, command: str, *args: Any) -> Any:
        self._check()
        try:
            return await self.client.execute_command(command, *args)  # type: ignore[no-untyped-call]
        except _outage_errors() as exc:
            raise self._failed(exc) from exc

    async def get(self, key: str) -> bytes | None:
        value = await self._run('GET', key)
        if isinstance(value, str):
            return value.encode()
        return cast('bytes | None', value)

    async def set(self, key: str, value: bytes, ttl: float | None = None, *, protected: bool = False) -> None:
        # Redis evicts nothing unless its own `maxmemory-policy` says so (see docs/security.md).
        if ttl is None:
            await self._run('SET', key, value)
        else:
            await self._run('SET', key, value, 'PX', max(1, int(ttl * 1000)))
        if key.startswith(TRACKED_PREFIX):
            self.absent.invalidate(key)
            await self._run('PUBLISH', WRITES_CHANNEL, key)

    # --- what this process keeps: absent revocation markers, held throttle counts --------------------------------

    def _follow_writes(self) -> None:
        """Listen for announced writes (once per event loop): until that subscription is confirmed, no absent
        marker is remembered."""
        if self._follower is not None or clock.monotonic() < self._follow_again_at:
            return
        self._follower = asyncio.get_running_loop().create_task(self._follow(), name='panther-store-writes')

    async def _follow(self) -> None:
        me = asyncio.current_task()
        absent = self.absent

        def confirmed() -> None:
            if self._follower is not me:
                # Replaced or cancelled while subscribing (redis-py can swallow a cancellation while it connects).
                raise asyncio.CancelledError
            absent.set_live(True)

        try:
            # A subscription that broke and was renewed may have missed announcements: start again from nothing.
            async for key in self._listen(WRITES_CHANNEL, confirmed, resubscribed=confirmed):
                if self._follower is not me:
                    return
                absent.invalidate(key.decode('utf-8', 'replace'))
        except StoreUnavailableError as exc:
            logger.debug(f'Store writes are not followed: {exc}')
        except Exception as exc:
            logger.warning(f'Store writes are not followed: {exc!r}')
        finally:
            # A follower that was replaced (see `_forget_near_state`) leaves the state to its successor.
            if self._follower is me:
                absent.set_live(False)
                self._follower = None
                # After a failure the next attempt waits a moment; requests meanwhile ask Redis every time.
                self._follow_again_at = clock.monotonic() + 1.0

    def _forget_near_state(self) -> None:
        follower = self._follower
        self._follower = None
        self._follow_again_at = 0.0
        if follower is not None and not follower.done():
            try:
                current = asyncio.current_task()
            except RuntimeError:  # no running event loop
                current = None
            if follower is not current:
                with contextlib.suppress(RuntimeError):  # its event loop may be closed already
                    follower.cancel()
        self.absent.set_live(False)
        self.leases.clear()

    async def _script_call(self, script: str, sha: str, registered: Any, keys: list[str], args: list[Any]) -> Any:
        if self.use_wire:
            return await self._wire_script(script, pack('EVALSHA', sha, len(keys), *keys, *args))
        return await registered(keys=keys, args=args)

    async def count_request(self, key: str, ttl: float, limit: int, guard: str | None = None) -> int | None:
        self._check()
        absent = self.absent
        if guard is not None:
            self._follow_writes()
            if absent.known_absent(guard):
                guard = None
        if guard is not None and key in self.leases:
            # A count is held, but this session was not seen yet: ask first, so a revoked token is not counted.
            if await self.exists(guard):
                return None
            guard = None
        held = self.leases.take(key)
        if held is not None:
            return held
        generation = absent.generation
        taken = await self._take(key, ttl, [] if guard is None else [guard], limit=limit, take=lease_size(limit))
        if taken is None:
            return None
        if guard is not None:
            absent.remember(guard, generation)
        first, last = taken
        if last > first:
            self.leases.hold(key, first + 1, last, ttl)
        return first

    async def _take(self, key: str, ttl: float, guard: list[str], *, limit: int, take: int) -> tuple[int, int] | None:
        """Up to `take` counts of `key` (one when the window is full): `(first, last)`, or None when the guard
        exists (nothing counted). One round trip."""
        milliseconds = max(1, int(ttl * 1000))
        try:
            reply = await self._script_call(
                _LEASE_SCRIPT, _LEASE_SHA, self._lease_script, [key, *guard], [milliseconds, limit, take]
            )
        except _outage_errors() as exc:
            raise self._failed(exc) from exc
        if reply == -1:
            return None
        last, taken = int(reply[0]), int(reply[1])
        return last - taken + 1, last

    async def _open_wire(self) -> RedisWire:
        if self._wire_lock is None:
            self._wire_lock = asyncio.Lock()
        async with self._wire_lock:
            wire = self._wire
            if wire is not None and wire.usable:
                return wire
            settings = _wire_settings(self.client)
            if settings is None:
                raise ConnectionError('The Redis connection settings need redis-py')
            wire = await RedisWire.open(settings)
            self._wire = wire
            return wire

    async def _wire_script(self, script: str, packed: bytes) -> Any:
        """A packed EVALSHA over the lean connection (the script is loaded first if the server does not know it)."""
        wire = self._wire
        if wire is None or not wire.usable:
            wire = await self._open_wire()
        try:
            return await wire.send_nowait(packed)
        except ReplyError as exc:
            if not str(exc).startswith('NOSCRIPT'):
                raise
        await wire.call('SCRIPT', 'LOAD', script)
        return await wire.send_nowait(packed)

    async def _wire_exists(self, key: str) -> bool:
        wire = self._wire
        if wire is None or not wire.usable:
            wire = await self._open_wire()
        return bool(await wire.send_nowait(pack('EXISTS', key)))

    async def incr(self, key: str, ttl: float) -> int:
        self._check()
        milliseconds = max(1, int(ttl * 1000))
        if key.startswith(TRACKED_PREFIX):
            try:
                value = await self._script_call(
                    _INCR_ANNOUNCED_SCRIPT,
                    _INCR_ANNOUNCED_SHA,
                    self._incr_announced_script,
                    [key],
                    [milliseconds, WRITES_CHANNEL],
                )
            except _outage_errors() as exc:
                raise self._failed(exc) from exc
            # This process forgets at once; the others when the announcement reaches them.
            self.absent.invalidate(key)
            return int(value)
        try:
            if self.use_wire:
                return int(await self._wire_script(_INCR_SCRIPT, _evalsha(_INCR_SHA, key, milliseconds)))
            return int(await self._incr_script(keys=[key], args=[milliseconds]))
        except _outage_errors() as exc:
            raise self._failed(exc) from exc

    async def incr_unless_exists(self, key: str, ttl: float, guard: str) -> int | None:
        self._check()
        taken = await self._take(key, ttl, [guard], limit=1, take=1)
        return None if taken is None else taken[0]

    async def get_with_ttl(self, key: str) -> tuple[bytes | None, float | None]:
        self._check()
        try:
            reply = await self._get_with_ttl_script(keys=[key])
        except _outage_errors() as exc:
            raise self._failed(exc) from exc
        value = reply[0] if reply else None
        pttl = reply[1] if len(reply) > 1 else None
        if isinstance(value, str):
            value = value.encode()
        return value or None, (pttl / 1000 if isinstance(pttl, int) and pttl > 0 else None)

    async def delete(self, key: str) -> None:
        await self._run('DEL', key)

    async def exists(self, key: str) -> bool:
        tracked = key.startswith(TRACKED_PREFIX)
        absent = self.absent
        if tracked:
            self._check()
            self._follow_writes()
            if absent.known_absent(key):
                return False
        generation = absent.generation
        if not self.use_wire:
            found = bool(await self._run('EXISTS', key))
        else:
            self._check()
            try:
                found = await self._wire_exists(key)
            except _outage_errors() as exc:
                raise self._failed(exc) from exc
        if tracked and not found:
            absent.remember(key, generation)
        return found

    async def publish(self, channel: str, message: bytes) -> None:
        await self._run('PUBLISH', channel, message)

    def subscribe(self, channel: str, ready: Ready | None = None) -> AsyncIterator[bytes]:
        return self._listen(channel, ready)

    async def _listen(
        self, channel: str, ready: Ready | None, resubscribed: Callable[[], None] | None = None
    ) -> AsyncIterator[bytes]:
        """The messages of `channel`. redis-py reconnects a broken subscription by itself; `resubscribed` is told
        when that happened (messages published meanwhile were missed)."""
        outage = _outage_errors()
        self._check()
        pubsub = self.client.pubsub()
        try:
            try:
                await pubsub.subscribe(channel)
                # The server's confirmation: from here on, nothing published on the channel is missed.
                while (confirmation := await pubsub.get_message(timeout=None)) is None or confirmation.get(
                    'type'
                ) != 'subscribe':
                    continue
            except outage as exc:
                raise self._failed(exc) from exc
            await _call_ready(ready)
            while True:
                try:
                    # A pub/sub connection is idle most of the time: wait without the socket timeout.
                    message = await pubsub.get_message(timeout=None)
                except outage as exc:
                    raise self._failed(exc) from exc
                if message is None:
                    continue
                if message.get('type') != 'message':
                    if message.get('type') == 'subscribe' and resubscribed is not None:
                        resubscribed()
                    continue
                data = message['data']
                yield data.encode() if isinstance(data, str) else data
        finally:
            await pubsub.aclose()

    def close_wire(self) -> None:
        """Close the lean connection (a new one is opened on the next command) and forget the near state."""
        self._forget_near_state()
        wire = self._wire
        self._wire = None
        if wire is not None:
            try:
                wire.close()
            except RuntimeError:
                wire.transport = None  # its event loop is closed, and the socket with it

    async def close(self) -> None:
        self.close_wire()
        await self.client.aclose()


_memory_store: MemoryStore | None = None
_redis_store: RedisStore | None = None


def get_store() -> Store:
    """The Redis store while Redis is connected, else the process-wide memory store."""
    if _redis_store is not None:
        return _redis_store
    global _memory_store
    if _memory_store is None:
        _memory_store = MemoryStore()
    return _memory_store


def set_redis_store(store: RedisStore | None) -> None:
    """Called by `panther.db.connections.redis` when Redis is connected (a store) or closed (`None`)."""
    global _redis_store
    previous = _redis_store
    _redis_store = store
    if previous is not None and previous is not store:
        previous.close_wire()


def reset_memory_store() -> None:
    """Forget everything the process-wide memory store holds (tests, app reloads)."""
    if _memory_store is not None:
        _memory_store.clear()
