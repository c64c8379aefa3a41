"""Rate limits of WebSocket endpoints: client messages (`throttling`) and new connections (`connect_throttling`).

Both count fixed windows in the Store (Redis when configured, so the limits hold across workers), like HTTP
throttling. Buckets:

* messages — per user when the connection is authenticated (all of a user's connections to the endpoint share
  it), else per connection;
* connections — per user, else per client address (`TRUSTED_PROXIES` honoured), for the endpoint class, not
  the path: `/ws/rooms/a/` and `/ws/rooms/b/` count together.

An unreachable Store lets traffic through (one ERROR per outage), as HTTP throttling does.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from panther._internal import clock
from panther._internal.store import StoreUnavailableError, get_store
from panther.exceptions import PantherError
from panther.throttling import Throttle, default_identifier

__all__ = ['MessageLimiter', 'check_connection_rate', 'validate_throttle']

logger = logging.getLogger('panther')

MESSAGES_PREFIX = 'panther:ws-throttle:messages:'
CONNECTIONS_PREFIX = 'panther:ws-throttle:connections:'
_outage = {'logged': False}


def validate_throttle(owner: str, name: str, value: Any) -> None:
    if value is not None and not isinstance(value, Throttle):
        raise PantherError(f'`{owner}.{name}` should be a `panther.throttling.Throttle` or None, got {value!r}')


async def _count(throttle: Throttle, prefix: str, bucket: str) -> tuple[int, int] | None:
    """Count one event; returns (count in this window, seconds until it ends), None when the Store is down."""
    seconds = throttle.duration.total_seconds()
    now = clock.wall()
    window = int(now // seconds)
    window_end = (window + 1) * seconds
    key = f'{prefix}{seconds:g}:{window}:{bucket}'
    try:
        count = await get_store().incr(key, ttl=window_end - now + 1)
    except StoreUnavailableError as exc:
        if not _outage['logged']:
            _outage['logged'] = True
            logger.error(f'WebSocket throttling is not enforced while the Store is unreachable: {exc}')
        return None
    _outage['logged'] = False
    return count, max(1, math.ceil(window_end - now))


def _user_bucket(socket: Any) -> str | None:
    user = socket.user
    user_id = getattr(user, 'id', None) if user is not None else None
    return None if user_id is None else f'user:{user_id}'


class MessageLimiter:
    """One connection's view of its endpoint's message throttle."""

    def __init__(self, socket: Any, throttle: Throttle) -> None:
        self.throttle = throttle
        key: Any = throttle.key  # a `Throttle` turns a key name into its function
        if key is not None:
            bucket = key(socket)
        else:
            bucket = _user_bucket(socket) or f'connection:{socket._connection_id}'
        self.bucket = f'{type(socket).__qualname__}:{bucket}'
        self._notified_until = 0.0

    async def retry_after(self) -> int | None:
        """Count a message: None if it may be handled, else the seconds until the window ends."""
        counted = await _count(self.throttle, MESSAGES_PREFIX, self.bucket)
        if counted is None or counted[0] <= self.throttle.rate:
            return None
        return counted[1]

    def first_refusal(self, retry_after: int) -> bool:
        """Whether this is the first refused message of the window (the client is told once, not per message)."""
        now = clock.monotonic()
        if now < self._notified_until:
            return False
        self._notified_until = now + retry_after
        return True


async def check_connection_rate(socket: Any, throttle: Throttle) -> int | None:
    """Count a new connection: None if it may proceed, else the seconds until the window ends."""
    key: Any = throttle.key
    bucket = key(socket) if key is not None else default_identifier(socket)
    counted = await _count(throttle, CONNECTIONS_PREFIX, f'{type(socket).__qualname__}:{bucket}')
    if counted is None or counted[0] <= throttle.rate:
        return None
    return counted[1]
