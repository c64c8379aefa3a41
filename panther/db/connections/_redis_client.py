"""`RedisConnection`: the `redis.asyncio.Redis` client behind `panther.db.connections.redis`.

Kept apart so that `panther.db.connections` imports without the optional `redis` package.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.connection import parse_url
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

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
        return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]

    def create_connection_for_websocket(self) -> Redis:
        """A dedicated client (database 0) for long-lived pub/sub subscriptions."""
        return Redis(**(self._connection_kwargs | {'db': 0, 'socket_timeout': None}))
