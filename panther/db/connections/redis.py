"""The process-wide Redis connection (`REDIS` config block).

`redis` is a proxy that always forwards to the connection configured by `load_redis()`, so
`from panther.db.connections import redis` at import time keeps working after start-up connects it.
Until then `redis.is_connected` is `False` and every command raises
`` ValueError('`REDIS` is not found in `configs`') ``.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import threading
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.connection import parse_url
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from panther._internal.store import RedisStore, set_redis_store
from panther.exceptions import PantherError

__all__ = ['RedisConnection', 'close_redis', 'load_redis', 'redis']

logger = logging.getLogger('panther')

DEFAULT_CLASS = 'panther.db.connections.RedisConnection'
NOT_CONFIGURED = '`REDIS` is not found in `configs`'
STARTUP_PING_TIMEOUT = 3.0

# A request must never wait long on a dead Redis: short socket timeouts and one quick retry (a pooled
# connection closed by the server is the common, harmless failure) instead of redis-py's ten
# retries with growing back-off. Users can override each of these in `REDIS`.
_REQUEST_DEFAULTS: dict[str, Any] = {
    'socket_timeout': 2.0,
    'socket_connect_timeout': 2.0,
}


class RedisConnection(Redis):
    """`redis.asyncio.Redis` that refuses commands until configured and pings once at start-up."""

    def __init__(self, init: bool = False, **kwargs: Any) -> None:
        url = kwargs.pop('url', None)
        if url:
            kwargs = parse_url(url) | kwargs
        for key, value in _REQUEST_DEFAULTS.items():
            kwargs.setdefault(key, value)
        if 'retry' not in kwargs:
            kwargs['retry'] = Retry(NoBackoff(), 1)
        self._connection_kwargs = dict(kwargs)
        super().__init__(**kwargs)
        self.is_connected = False
        if init:
            self.ping_synchronously()
            self.is_connected = True

    def ping_synchronously(self, timeout: float = STARTUP_PING_TIMEOUT) -> None:
        """PING from a short-lived client on its own loop and thread; raises if the server is unreachable.

        Start-up may run inside an event loop (tests, `panther run --reload`) or outside one, so the ping
        cannot borrow the caller's loop; a separate client also keeps this loop's pool untouched.
        """
        kwargs = self._connection_kwargs | {
            'socket_timeout': timeout,
            'socket_connect_timeout': timeout,
            'retry': Retry(NoBackoff(), 0),
        }
        outcome: list[BaseException] = []

        async def ping() -> None:
            client = Redis(**kwargs)
            try:
                await client.ping()
            finally:
                await client.aclose()

        def run() -> None:
            try:
                asyncio.run(ping())
            except BaseException as exc:
                outcome.append(exc)

        thread = threading.Thread(target=run, name='panther-redis-ping', daemon=True)
        thread.start()
        thread.join(timeout * 2 + 1)
        if thread.is_alive():
            raise TimeoutError(f'no answer within {timeout} seconds')
        if outcome:
            raise outcome[0]

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        if not self.is_connected:
            raise ValueError(NOT_CONFIGURED)
        return await super().execute_command(*args, **options)

    def create_connection_for_websocket(self) -> Redis:
        """A dedicated client (database 0) for long-lived pub/sub subscriptions."""
        return Redis(**(self._connection_kwargs | {'db': 0, 'socket_timeout': None}))


_connection: RedisConnection | None = None


def _not_configured(*args: Any, **kwargs: Any) -> Any:
    raise ValueError(NOT_CONFIGURED)


class _RedisProxy:
    """Forwards every attribute to the configured connection."""

    __slots__ = ()

    @property
    def is_connected(self) -> bool:
        return _connection is not None and _connection.is_connected

    def __getattr__(self, name: str) -> Any:
        connection = _connection
        if connection is None:
            if hasattr(RedisConnection, name):
                return _not_configured
            raise AttributeError(name)
        return getattr(connection, name)

    def __repr__(self) -> str:
        return f'<redis proxy connected={self.is_connected}>'


redis: Any = _RedisProxy()


def _import_class(dotted: str) -> type:
    module_name, _, attribute = dotted.rpartition('.')
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError, ValueError) as exc:
        raise PantherError(f"Invalid 'REDIS': can not import `{dotted}` ({exc})") from exc


def load_redis(redis_config: dict[str, Any]) -> None:
    """Connect the process-wide Redis from the `REDIS` config block; raises `PantherError` if unreachable."""
    global _connection
    options = dict(redis_config)
    class_ref = options.pop('class', None) or DEFAULT_CLASS
    if class_ref in (DEFAULT_CLASS, 'panther.db.connections.redis.RedisConnection'):
        connection_class: type = RedisConnection
    elif isinstance(class_ref, str):
        connection_class = _import_class(class_ref)
    else:
        connection_class = class_ref
    if options.pop('websocket_db', None) is not None:
        logger.warning('`REDIS.websocket_db` is not supported; websocket pub/sub uses database 0.')

    try:
        connection = connection_class(init=True, **options)
    except (RedisError, OSError) as exc:
        address = options.get('url') or f'{options.get("host", "localhost")}:{options.get("port", 6379)}'
        reason = str(exc).rstrip('.')
        raise PantherError(
            f'Redis is not reachable at {address}: {reason}. Start the server or fix `REDIS` in your configs.'
        ) from exc
    _connection = connection
    set_redis_store(RedisStore(connection))


async def close_redis() -> None:
    """Disconnect (shutdown); does nothing when Redis was never connected."""
    global _connection
    connection = _connection
    if connection is None:
        return
    _connection = None
    set_redis_store(None)
    connection.is_connected = False
    try:
        await connection.aclose()
    except (RedisError, OSError, RuntimeError) as exc:
        # The pool may hold connections of a loop that is already gone; nothing left to release then.
        logger.warning(f'Redis connection did not close cleanly: {exc}')
