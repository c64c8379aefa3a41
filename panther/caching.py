"""Response caching for GET endpoints declared with `cache=timedelta(...)`.

Entries live in the Store with the cache duration as their TTL (memory: per process and bounded; Redis:
shared by all workers). The key is per user (or client IP for anonymous requests) + `Host` + matched route and
path variables + query string + the request headers the response names in `Vary`: everything a response may
depend on, so a request with a forged `Host` (or another `Accept-Language`) never fills the entry others read.
Every cached 200 response carries an `ETag`; a request whose `If-None-Match` matches gets `304 Not
Modified` without a body.

If the Store is unreachable a read is a miss and a write is skipped, each with one ERROR log: caching
fails open, the endpoint still answers.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

import orjson

from panther import status
from panther._internal import clock
from panther._internal.store import MemoryStore, Store, StoreUnavailableError, get_store
from panther.configs import config
from panther.response import Response, StreamingResponse
from panther.throttling import client_ip, route_of

if TYPE_CHECKING:
    from panther._internal.types import Receive, Send
    from panther.request import Request

__all__ = [
    'CachedHit',
    'CachedResponse',
    'NotModifiedResponse',
    'api_cache_key',
    'get_response_from_cache',
    'set_response_in_cache',
]

logger = logging.getLogger('panther')

KEY_PREFIX = 'panther:cache:'


@dataclass(slots=True)
class CachedResponse:
    data: bytes
    headers: dict[str, Any]
    status_code: int
    etag: str | None = None
    # Encoded ASGI header list (with Content-Length), built on the first hit and reused by later ones.
    encoded_headers: list[tuple[bytes, bytes]] | None = field(default=None, compare=False, repr=False)

    def dumps(self) -> bytes:
        # A small JSON head line, then the body bytes untouched (bodies need not be UTF-8).
        head = orjson.dumps({'s': self.status_code, 'h': self.headers, 'e': self.etag})
        return head + b'\n' + self.data

    @classmethod
    def loads(cls, raw: bytes) -> CachedResponse:
        head, _, body = raw.partition(b'\n')
        meta = orjson.loads(head)
        return cls(data=body, headers=meta['h'], status_code=meta['s'], etag=meta['e'])

    def encode_headers(self) -> list[tuple[bytes, bytes]]:
        encoded = self.encoded_headers
        if encoded is None:
            encoded = [(b'Content-Length', str(len(self.data)).encode())]
            encoded += [
                (name.encode('latin-1'), str(value).encode('latin-1'))
                for name, value in self.headers.items()
                if name.lower() != 'content-length'
            ]
            self.encoded_headers = encoded
        return encoded


class CachedHit(Response):
    """A response replayed from the cache; its header list is encoded once per entry, not per request."""

    # Class-level defaults for what `Response.__init__` would set to None: this is the hit path.
    _headers: dict[str, Any] | None = None
    pagination = None
    cookies = None

    def __init__(self, cached: CachedResponse) -> None:
        self.data = cached.data
        self.status_code = cached.status_code
        self.cached = cached

    @property
    def headers(self) -> dict[str, Any]:
        # Reading (or changing, e.g. rate-limit headers) the headers gives this response its own copy.
        if self._headers is None:
            self._headers = dict(self.cached.headers)
        return self._headers

    @headers.setter
    def headers(self, value: dict[str, Any]) -> None:
        self._headers = value

    def ready_messages(self) -> tuple[int, list[tuple[bytes, bytes]], bytes] | None:
        if self._headers is not None or self.cookies is not None:
            return None
        return self.status_code, self.cached.encode_headers(), self.data

    async def send(self, send: Send, receive: Receive, *, head: bool = False) -> None:
        if self._headers is not None or self.cookies is not None:
            await super().send(send, receive, head=head)
            return
        await send({'type': 'http.response.start', 'status': self.status_code, 'headers': self.cached.encode_headers()})
        await send({'type': 'http.response.body', 'body': b'' if head else self.data, 'more_body': False})


class NotModifiedResponse(Response):
    """304 without a body (responses without a body send no `Content-Length`)."""

    def __init__(self, headers: dict[str, Any] | None = None) -> None:
        super().__init__(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)


# Request headers that responses of a route named in `Vary`, learned when a response is stored. A process that
# has not seen such a response yet looks up a key without them: a miss, never another variant's entry, because
# entries are only ever stored under keys that include every header their response varies on.
_VARY_BY_ROUTE: dict[str, tuple[bytes, ...]] = {}
_VARY_ROUTES_LIMIT = 4096


def _learn_vary(route: str, vary: str) -> bool:
    """Remember the headers of a response's `Vary`; False for `Vary: *` (depends on anything: not cacheable)."""
    names = {name.strip().lower() for name in vary.split(',') if name.strip()}
    if '*' in names:
        return False
    known = _VARY_BY_ROUTE.get(route, ())
    merged = tuple(sorted(set(known) | {name.encode('latin-1') for name in names}))
    if merged != known:
        if len(_VARY_BY_ROUTE) >= _VARY_ROUTES_LIMIT and route not in _VARY_BY_ROUTE:
            return False
        _VARY_BY_ROUTE[route] = merged
    return True


def _header_values(scope: Any, names: tuple[bytes, ...]) -> list[bytes]:
    values = [b''] * len(names)
    for name, value in scope.get('headers') or ():
        if name in names:
            index = names.index(name)
            values[index] = value if not values[index] else values[index] + b', ' + value
    return values


def api_cache_key(request: Request, duration: timedelta | None = None) -> str:
    """`panther:cache:<user id or client IP>:<route>[=<path variables>]:<sha256 of query and varied headers>:<host>`.

    The host is last: nothing after it, so a `:` in it cannot pass for another part of the key.
    `duration` is accepted for compatibility; expiry is the Store's TTL, not part of the key.
    """
    scope = request.scope
    user = request.user
    user_id = getattr(user, 'id', None) if user is not None else None
    if user_id is not None:
        client = f'user:{user_id}'
    else:
        client = _plain_client(scope) or f'ip:{client_ip(request)}'
    # The matched route and its variables, not the raw path: `/stats` and `/stats/` are one entry.
    route = request.route
    if route is None:
        route = route_of(request)
    return _cache_key(scope, client, route, request.path_variables)


def _plain_client(scope: Any) -> str | None:
    """The client part of an anonymous request's key, from the scope alone: None when the proxy settings (or a
    missing client address) need the general helper."""
    if config.__dict__.get('TRUSTED_PROXIES') or not scope.get('client'):
        return None
    return f'ip:{scope["client"][0]}'


def _cache_key(scope: Any, client: str, route: str, variables: dict[str, str] | None) -> str:
    query = scope.get('query_string')
    host = b''
    vary = _VARY_BY_ROUTE.get(route) if _VARY_BY_ROUTE else None
    if vary:
        # The values are hashed with the query: each part is length-prefixed, so no two requests collide.
        parts = [query or b'', *_header_values(scope, vary)]
        query = b''.join(b'%d:%s' % (len(part), part) for part in parts)
    for name, value in scope.get('headers') or ():
        if name == b'host':
            host = value
            break
    query_hash = hashlib.sha256(query).hexdigest() if query else ''
    if variables:
        route = f'{route}={"/".join(variables.values())}'
    # Lower-cased: host names are case-insensitive.
    return f'{KEY_PREFIX}{client}:{route}:{query_hash}:{host.lower().decode("latin-1")}'


def ready_hit(
    scope: Any, route: str, variables: dict[str, str] | None
) -> tuple[int, list[tuple[bytes, bytes]], bytes] | None:
    """`(status, headers, body)` of an anonymous GET's cache entry held in this process's memory, found from the
    ASGI scope alone (no request object): the hit path of endpoints that only cache. None sends the request the
    general way: not in memory, a conditional request, or a client address that needs the proxy rules."""
    client = _plain_client(scope)
    if client is None:
        return None
    cached = _in_memory(_cache_key(scope, client, route, variables))
    if cached is None or cached is REMOTE:
        return None
    if cached.etag is not None and _header(scope, b'if-none-match') is not None:
        return None
    return cached.status_code, cached.encode_headers(), cached.data


def _etag_matches(if_none_match: str, etag: str) -> bool:
    if if_none_match.strip() == '*':
        return True
    # Weak comparison (RFC 9110 §13.1.2): `W/"x"` matches `"x"`.
    opaque = etag.removeprefix('W/')
    return any(candidate.strip().removeprefix('W/') == opaque for candidate in if_none_match.split(','))


def _if_none_match(request: Request) -> str | None:
    return _header(request.scope, b'if-none-match')


def _header(scope: Any, wanted: bytes) -> str | None:
    # Read from the raw ASGI list: building the parsed `Headers` costs more than the whole cache hit.
    # ASGI header names are lower-case (servers and the test clients guarantee it).
    found = None
    for name, value in scope.get('headers') or ():
        if name == wanted:
            found = value if found is None else found + b', ' + value
    return None if found is None else found.decode('latin-1')


# Entries read from a shared store (Redis) are kept here too, until the moment they expire there. A cached
# response never changes while it lives, so the copy is as good as the original and saves a round trip.
NEAR_CACHE_SIZE = 1024
_near_cache: OrderedDict[str, tuple[float, CachedResponse]] = OrderedDict()


def _remember(key: str, cached: CachedResponse, ttl: float | None) -> None:
    if ttl is None or ttl <= 0 or NEAR_CACHE_SIZE <= 0:
        return
    _near_cache[key] = (clock.monotonic() + ttl, cached)
    _near_cache.move_to_end(key)
    while len(_near_cache) > NEAR_CACHE_SIZE:
        _near_cache.popitem(last=False)


def _near(key: str) -> CachedResponse | None:
    entry = _near_cache.get(key)
    if entry is None:
        return None
    if entry[0] <= clock.monotonic():
        del _near_cache[key]
        return None
    return entry[1]


def clear_near_cache() -> None:
    _near_cache.clear()
    _VARY_BY_ROUTE.clear()


async def _remote_lookup(store: Store, key: str) -> CachedResponse | None:
    raw, ttl = await store.get_with_ttl(key)
    if raw is None:
        return None
    cached = CachedResponse.loads(raw)
    _remember(key, cached, ttl)
    return cached


# `memory_hit()` answers this when the entry must be read from a shared store (an `await`).
REMOTE: Any = object()


def _as_response(cached: CachedResponse | None, request: Request) -> Response | None:
    if cached is None:
        return None
    if cached.etag is not None:
        if_none_match = _if_none_match(request)
        if if_none_match and _etag_matches(if_none_match, cached.etag):
            response = NotModifiedResponse(headers={'ETag': cached.etag})
            del response.headers['Content-Type']
            return response
    return CachedHit(cached)


def _in_memory(key: str) -> CachedResponse | None:
    """The entry held in process memory (the memory store, or this process's copy of a Redis entry); `REMOTE`
    when only the shared store can tell."""
    store = get_store()
    if type(store) is MemoryStore:
        raw = store.get_nowait(key)
        if raw is None:
            return None
        return raw if type(raw) is CachedResponse else CachedResponse.loads(raw)
    near = _near(key)
    return near if near is not None else cast('CachedResponse', REMOTE)


def memory_hit(request: Request, duration: timedelta | None = None) -> Response | None:
    """The cached response when it is in process memory (the memory store, or this process's copy of a Redis
    entry), found without awaiting anything; `REMOTE` when a shared store must be asked."""
    cached = _in_memory(api_cache_key(request, duration))
    if cached is None or cached is REMOTE:
        return cast('Response | None', cached)
    if cached.etag is None or not _if_none_match(request):
        return CachedHit(cached)
    return _as_response(cached, request)


async def get_response_from_cache(*, request: Request, duration: timedelta | None = None) -> Response | None:
    """The cached response (or a 304 for a matching `If-None-Match`), or `None` on a miss."""
    hit = memory_hit(request, duration)
    if hit is not REMOTE:
        return hit
    try:
        cached = await _remote_lookup(get_store(), api_cache_key(request, duration))
    except StoreUnavailableError as exc:
        logger.error(f'Response cache is not used for this request: {exc}')
        return None
    return _as_response(cached, request)


async def set_response_in_cache(*, request: Request, response: Response, duration: timedelta) -> None:
    """Store `response` for `duration`; adds an `ETag` header to a 200 response.

    Not cached: streaming responses (no body to keep), responses that set cookies (they belong to one
    exchange), and errors (4xx/5xx).
    """
    if isinstance(response, StreamingResponse) or response.cookies or response.status_code >= 400:
        return
    ttl = duration.total_seconds()
    if ttl <= 0:
        return
    vary = response.headers.get('Vary') or response.headers.get('vary')
    if vary and not _learn_vary(request.route if request.route is not None else route_of(request), vary):
        return
    body = response.body
    etag = None
    if response.status_code == status.HTTP_200_OK:
        etag = response.headers.get('ETag')
        if etag is None:
            etag = f'"{hashlib.blake2b(body, digest_size=16).hexdigest()}"'
            response.headers['ETag'] = etag
    cached = CachedResponse(data=body, headers=dict(response.headers), status_code=response.status_code, etag=etag)
    store = get_store()
    # In process memory there is nothing to serialise for: keep the (never mutated) object and save a
    # decode on every hit. Other stores get bytes.
    value: Any = cached if isinstance(store, MemoryStore) else cached.dumps()
    key = api_cache_key(request, duration)
    try:
        await store.set(key, value, ttl=ttl)
    except StoreUnavailableError as exc:
        logger.error(f'Response was not cached: {exc}')
        return
    if not isinstance(store, MemoryStore):
        _remember(key, cached, ttl)
