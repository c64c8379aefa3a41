"""Rate limiting with fixed windows on the Store.

Windows are floor-aligned on the Unix clock (`[k * duration, (k + 1) * duration)`), so every worker and
every host agrees on when a window starts. Counters are atomic Store increments: with Redis the limit
holds across worker processes. Each response carries `RateLimit-Limit`, `RateLimit-Remaining` and
`RateLimit-Reset` (seconds until the window ends); a 429 adds `Retry-After`.

If the Store is unreachable the request is let through (fail open) and one ERROR is logged: an outage
of Redis should not take the whole API down with it.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from panther._internal import clock
from panther._internal.store import StoreUnavailableError, get_store
from panther.configs import config
from panther.exceptions import PantherError, ThrottlingAPIError

if TYPE_CHECKING:
    from panther.base_request import BaseRequest

__all__ = ['Throttle', 'client_ip', 'client_ip_key', 'default_identifier', 'route_of', 'user_key']

logger = logging.getLogger('panther')

KEY_PREFIX = 'panther:throttle:'

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_parsed_proxies: dict[tuple[str, ...], tuple[_Network, ...]] = {}


def _trusted_networks() -> tuple[_Network, ...]:
    # `config.TRUSTED_PROXIES` would go through `Config.__getattr__` (an AttributeError each time) when unset.
    proxies = config.__dict__.get('TRUSTED_PROXIES')
    if not proxies:
        return ()
    if isinstance(proxies, str):
        proxies = [proxies]
    cache_key = tuple(str(proxy) for proxy in proxies)
    networks = _parsed_proxies.get(cache_key)
    if networks is None:
        try:
            networks = tuple(ipaddress.ip_network(proxy, strict=False) for proxy in cache_key)
        except ValueError as exc:
            raise PantherError(f"Invalid 'TRUSTED_PROXIES': {exc}") from exc
        if len(_parsed_proxies) > 16:
            _parsed_proxies.clear()
        _parsed_proxies[cache_key] = networks
    return networks


@functools.lru_cache(maxsize=4096)
def _is_trusted(address: str, networks: tuple[_Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_ip(request: BaseRequest) -> str:
    """The client's address; `X-Forwarded-For` is believed only when the direct peer is in `TRUSTED_PROXIES`.

    The forwarded chain is read right to left (each proxy appends the address it saw) and the first
    address that is not a trusted proxy is the client. Anything a client writes into the header before
    the first trusted hop is therefore ignored.
    """
    client = request.scope.get('client')
    if not client:
        return 'unknown'
    peer = client[0]
    networks = _trusted_networks()
    if not networks or not _is_trusted(peer, networks):
        return cast('str', peer)
    values = request.headers.getlist('X-Forwarded-For')
    hops = [hop.strip() for value in values for hop in value.split(',') if hop.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, networks):
            return hop
    return hops[0] if hops else peer


def route_of(request: BaseRequest) -> str:
    """The matched route pattern (`'notes/<note_id>'`); for a request that was not routed, its path without
    empty or dot segments, so spellings of one path still share a bucket."""
    route = request.route
    if route is not None:
        return route
    segments: list[str] = []
    for segment in request.path.split('/'):
        if segment == '..':
            if segments:
                segments.pop()
        elif segment not in ('', '.'):
            segments.append(segment)
    return '/'.join(segments)


def client_ip_key(request: BaseRequest) -> str:
    """Bucket by client address and route, whatever token the request carries.

    For endpoints that authenticate someone (login, refresh, sign-up): with the default key, each account an
    attacker holds would open its own bucket for guessing another user's password.
    """
    return f'ip:{client_ip(request)}:{route_of(request)}'


def user_key(request: BaseRequest) -> str:
    """The default bucket: the user (authenticated requests) or the client address, and the route."""
    return f'{default_identifier(request)}:{route_of(request)}'


# Names accepted for `Throttle(key=...)`.
KEYS: dict[str, Callable[[Any], str]] = {'ip': client_ip_key, 'user': user_key}


def default_identifier(request: BaseRequest) -> str:
    """`user:<id>` for an authenticated request, else `ip:<client address>`."""
    user = request.user
    if user is not None:
        user_id = getattr(user, 'id', None)
        if user_id is not None:
            return f'user:{user_id}'
    return f'ip:{client_ip(request)}'


@dataclass(eq=False)
class Throttle:
    """At most `rate` requests per `duration` window for each client (per route, unless `key` says otherwise).

    `key(request) -> str` replaces the default bucket `<user id or client IP>:<route>` (`user_key`), where the
    route is the matched pattern (`'notes/<note_id>'`), never the raw path. `key='ip'` (`client_ip_key`) buckets
    by client address whatever token is sent — use it on login, refresh and sign-up; `key=default_identifier`
    limits a client across all routes together.
    """

    rate: int
    duration: timedelta
    key: Callable[[Any], str] | str | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        if isinstance(self.key, str):
            if self.key not in KEYS:
                raise PantherError(f'`Throttle.key` should be a function or one of {sorted(KEYS)}, not {self.key!r}.')
            self.key = KEYS[self.key]
        if not isinstance(self.rate, int) or self.rate < 1:
            raise PantherError('`Throttle.rate` should be a positive integer.')
        if not isinstance(self.duration, timedelta) or self.duration <= timedelta(0):
            raise PantherError('`Throttle.duration` should be a positive `datetime.timedelta`.')
        self._seconds = self.duration.total_seconds()

    @property
    def time_window(self) -> datetime:
        """Start of the current window (naive local time)."""
        return datetime.fromtimestamp(self._window(clock.wall()) * self._seconds)

    def _window(self, now: float) -> int:
        return int(now // self._seconds)

    def build_cache_key(self, request: BaseRequest) -> str:
        return self._cache_key(request, self._window(clock.wall()))

    def _cache_key(self, request: BaseRequest, window: int) -> str:
        key = self.key
        bucket = key(request) if key is not None else f'{default_identifier(request)}:{route_of(request)}'  # type: ignore[operator]
        return f'{KEY_PREFIX}{self._seconds:g}:{window}:{bucket}'

    async def get_request_count(self, request: BaseRequest) -> int:
        value = await get_store().get(self.build_cache_key(request))
        return int(value) if value else 0

    async def increment_request_count(self, request: BaseRequest) -> int:
        now = clock.wall()
        window = self._window(now)
        return await get_store().incr(self._cache_key(request, window), ttl=(window + 1) * self._seconds - now + 1)

    async def check_and_increment(self, request: BaseRequest) -> dict[str, str] | None:
        """Count this request; raise `ThrottlingAPIError` (429) past the limit, else return the RateLimit headers.

        Returns `None` (no headers, request allowed) when the Store is unreachable.
        """
        seconds = self._seconds
        now = clock.wall()
        window = self._window(now)
        window_end = (window + 1) * seconds
        if type(self).build_cache_key is not Throttle.build_cache_key:
            # A subclass that overrides `build_cache_key` decides the bucket.
            key = self.build_cache_key(request)
        else:
            key = self._cache_key(request, window)
        pending = request.pending_revocation
        try:
            # The key lives one second past its window so a slightly slow clock on another worker still counts.
            guard = None
            if pending is not None:
                # The request's token is checked for revocation in the same Store step (see authentications).
                request.pending_revocation = None
                guard = pending.key
            counted = await get_store().count_request(key, window_end - now + 1, self.rate, guard)
            if counted is None:
                assert pending is not None  # only a guard makes the count None
                raise pending.authentication.exception('Token has been revoked')
            count = counted
        except StoreUnavailableError as exc:
            if pending is not None:
                # Revocation fails closed even where throttling would fail open.
                raise pending.authentication.revocation_unavailable(exc) from None
            logger.error(f'Throttling is not enforced for this request: {exc}')
            return None
        reset = str(max(1, math.ceil(window_end - now)))
        remaining = self.rate - count
        headers = {
            'RateLimit-Limit': str(self.rate),
            'RateLimit-Remaining': str(remaining if remaining > 0 else 0),
            'RateLimit-Reset': reset,
        }
        if remaining < 0:
            headers['Retry-After'] = reset
            # Kept for clients written against Panther 5.x: the reset moment as a Unix timestamp.
            headers['X-RateLimit-Reset'] = str(math.ceil(window_end))
            raise ThrottlingAPIError(headers=headers)
        return headers
