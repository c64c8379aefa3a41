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
from typing import TYPE_CHECKING, Any, cast

from panther._internal.store import RedisStore, set_redis_store
from panther.exceptions import PantherError

if TYPE_CHECKING:
    from panther.db.connections._redis_client import RedisConnection

__all__ = ['RedisConnection', 'close_redis', 'load_redis', 'redis']

logger = logging.getLogger('panther')

DEFAULT_CLASS = 'panther.db.connections.RedisConnection'
NOT_CONFIGURED = '`REDIS` is not found in `configs`'


def _client_module() -> Any:
    """The module that needs the optional `redis` package, imported on first use."""
    try:
        return importlib.import_module('panther.db.connections._redis_client')
    except ImportError as exc:
        raise PantherError(f'{exc} -> Hint: `pip install redis`') from exc


def __getattr__(name: str) -> Any:
    if name == 'RedisConnection':
        return _client_module().RedisConnection
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


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
            try:
                known = hasattr(_client_module().RedisConnection, name)
            except PantherError:
                known = True
            if known:
                return _not_configured
            raise AttributeError(name)
        return getattr(connection, name)

    def __repr__(self) -> str:
        return f'<redis proxy connected={self.is_connected}>'


redis: Any = _RedisProxy()


def _import_class(dotted: str) -> type:
    module_name, _, attribute = dotted.rpartition('.')
    try:
        return cast('type', getattr(importlib.import_module(module_name), attribute))
    except (ImportError, AttributeError, ValueError) as exc:
        raise PantherError(f"Invalid 'REDIS': can not import `{dotted}` ({exc})") from exc


def load_redis(redis_config: dict[str, Any]) -> None:
    """Connect the process-wide Redis from the `REDIS` config block; raises `PantherError` if unreachable."""
    global _connection
    options = dict(redis_config)
    class_ref = options.pop('class', None) or DEFAULT_CLASS
    client = _client_module()
    from redis.exceptions import RedisError

    if class_ref in (DEFAULT_CLASS, 'panther.db.connections.redis.RedisConnection'):
        connection_class: type = client.RedisConnection
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


def _detach() -> RedisConnection | None:
    """Stop using the process-wide connection (the Store falls back to memory); returns it for closing."""
    global _connection
    connection = _connection
    if connection is None:
        return None
    _connection = None
    set_redis_store(None)
    connection.is_connected = False
    return connection


async def close_redis() -> None:
    """Disconnect (shutdown); does nothing when Redis was never connected."""
    connection = _detach()
    if connection is not None:
        await _close(connection)


_closing: set[asyncio.Task[None]] = set()


def detach_redis() -> None:
    """`close_redis()` for synchronous code (`config.refresh()`): the connection is forgotten at once and closed
    by a task when an event loop is running (without one, its sockets belong to a loop that is not running)."""
    connection = _detach()
    if connection is None:
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    task = loop.create_task(_close(connection))
    # The loop keeps only weak references to tasks.
    _closing.add(task)
    task.add_done_callback(_closing.discard)


async def _close(connection: RedisConnection) -> None:
    from redis.exceptions import RedisError

    try:
        await connection.aclose()
    except (RedisError, OSError, RuntimeError) as exc:
        # The pool may hold connections of a loop that is already gone; nothing left to release then.
        logger.warning(f'Redis connection did not close cleanly: {exc}')
