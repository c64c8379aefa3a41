"""A lean Redis connection for the Store's per-request commands (throttle counters, revocation checks).

redis-py's asyncio client costs ~150 µs of CPU per command here (a pool checkout and a timeout task per send and
per read), several times the whole rest of an authenticated request. This connection is one asyncio `Protocol`:
a command is encoded, queued, and its reply resolves a future when it arrives. Commands from concurrent
requests are pipelined on the one connection (Redis answers in order): those queued during one turn of the
event loop leave in a single write, and their replies usually arrive in a single read. There is no pool and no
per-command task; a single timer watches the oldest unanswered command instead of one timeout per command.

Commands are packed and replies parsed by hiredis (RESP2: what the Store's commands return). Anything unusual
about the connection (TLS, a custom connection class, RESP3) keeps the Store on redis-py.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Mapping
from typing import Any, cast

try:
    import hiredis

    HAS_HIREDIS = True
except ImportError:  # pragma: no cover - the `redis` extra installs it; without it the Store stays on redis-py
    HAS_HIREDIS = False

__all__ = ['RedisWire', 'ReplyError', 'WireTimeoutError', 'pack', 'wire_settings']


class ReplyError(Exception):
    """Redis answered a command with an error (`-ERR ...`)."""


class WireTimeoutError(TimeoutError):
    """No reply within the socket timeout: the connection is closed and every waiting command fails."""


def pack(*args: bytes | str | int) -> bytes:
    """A command in the RESP wire format."""
    return cast(bytes, hiredis.pack_command(cast(Any, args)))


def wire_settings(connection_class: type, kwargs: Mapping[str, Any]) -> dict[str, Any] | None:
    """How to open a wire like the pool's connections, or None when only redis-py can (TLS, custom classes)."""
    from redis.asyncio.connection import Connection, UnixDomainSocketConnection

    if not HAS_HIREDIS or connection_class not in (Connection, UnixDomainSocketConnection):
        return None
    if kwargs.get('ssl') or kwargs.get('credential_provider') is not None or kwargs.get('protocol') in (3, '3'):
        return None
    return {
        'host': kwargs.get('host', 'localhost'),
        'port': int(kwargs.get('port', 6379)),
        'path': kwargs.get('path') if connection_class is UnixDomainSocketConnection else None,
        'db': int(kwargs.get('db') or 0),
        'username': kwargs.get('username'),
        'password': kwargs.get('password'),
        'timeout': kwargs.get('socket_timeout'),
        'connect_timeout': kwargs.get('socket_connect_timeout') or kwargs.get('socket_timeout'),
    }


class RedisWire(asyncio.Protocol):
    """One connection; `send_nowait(packed)` returns a future of the reply (an exception for an error reply)."""

    def __init__(self, timeout: float | None) -> None:
        self.timeout = timeout
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.reader = hiredis.Reader(replyError=ReplyError)
        self.waiting: deque[tuple[asyncio.Future[Any], float]] = deque()
        self.broken: BaseException | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        # Commands sent during one turn of the event loop go out in one write (one system call for all of them).
        self._outgoing: list[bytes] = []

    @classmethod
    async def open(cls, settings: Mapping[str, Any]) -> RedisWire:
        loop = asyncio.get_running_loop()
        wire = cls(settings['timeout'])
        if settings['path']:
            connecting = loop.create_unix_connection(lambda: wire, settings['path'])
        else:
            connecting = loop.create_connection(lambda: wire, settings['host'], settings['port'])
        await asyncio.wait_for(connecting, settings['connect_timeout'])
        try:
            if settings['password']:
                credentials = [settings['username'], settings['password']] if settings['username'] else []
                await wire.call('AUTH', *(credentials or [settings['password']]))
            if settings['db']:
                await wire.call('SELECT', settings['db'])
        except BaseException:
            wire.close()
            raise
        return wire

    # --- asyncio.Protocol ----------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        reader = self.reader
        try:
            reader.feed(data)
            waiting = self.waiting
            while waiting:
                reply = reader.gets()
                if reply is False:  # the rest of the reply has not arrived yet (RESP2 has no booleans)
                    break
                future = waiting.popleft()[0]
                if not future.done():
                    if isinstance(reply, ReplyError):
                        future.set_exception(reply)
                    else:
                        future.set_result(reply)
        except hiredis.ProtocolError as exc:
            self._fail(ConnectionResetError(f'Unexpected reply from Redis: {exc}'))

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exc or ConnectionResetError('Connection closed by the Redis server'))

    # --- commands --------------------------------------------------------------------------------------------

    def send_nowait(self, packed: bytes) -> asyncio.Future[Any]:
        if self.broken is not None or self.transport is None:
            raise ConnectionResetError(f'The Redis connection is closed: {self.broken}')
        future = self.loop.create_future()
        waiting = self.waiting
        outgoing = self._outgoing
        if not waiting and not outgoing:
            # Nothing in flight: no other command to share a write with, so no reason to wait for one.
            self.transport.write(packed)
        else:
            outgoing.append(packed)
            if len(outgoing) == 1:
                self.loop.call_soon(self._flush)
        waiting.append((future, time.monotonic()))
        if self.timeout and self._watchdog is None:
            self._watchdog = self.loop.call_later(self.timeout, self._watch)
        return future

    def _flush(self) -> None:
        outgoing = self._outgoing
        if not outgoing:
            return
        data = outgoing[0] if len(outgoing) == 1 else b''.join(outgoing)
        outgoing.clear()
        if self.transport is not None and self.broken is None:
            self.transport.write(data)

    async def call(self, *args: bytes | str | int) -> Any:
        return await self.send_nowait(pack(*args))

    @property
    def usable(self) -> bool:
        return self.broken is None and self.transport is not None and not self.transport.is_closing()

    def close(self) -> None:
        self._fail(ConnectionResetError('The Redis connection was closed'))

    # --- failure ---------------------------------------------------------------------------------------------

    def _watch(self) -> None:
        self._watchdog = None
        if not self.waiting or self.timeout is None:
            return
        overdue = self.waiting[0][1] + self.timeout - time.monotonic()
        if overdue <= 0:
            self._fail(WireTimeoutError(f'Redis did not answer within {self.timeout} seconds'))
        else:
            self._watchdog = self.loop.call_later(overdue, self._watch)

    def _fail(self, exc: BaseException) -> None:
        if self.broken is None:
            self.broken = exc
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self.transport is not None and not self.transport.is_closing():
            self.transport.abort()
        while self.waiting:
            future = self.waiting.popleft()[0]
            if not future.done():
                future.set_exception(exc)
