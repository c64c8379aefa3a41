"""CORS, configured with `ALLOW_ORIGINS`, `ALLOW_METHODS`, `ALLOW_HEADERS`, `ALLOW_CREDENTIALS`,
`EXPOSE_HEADERS` and `CORS_MAX_AGE`.

The settings are read once, when the app builds its middleware chain; the chain is rebuilt whenever one of them
changes, so a changed setting still applies to the next request. The answer for each allowed origin is computed
then too (`CORSPolicy`): per request, CORS costs a look at the `Origin` header and one dict lookup.

When `CORSMiddleware` is the outermost middleware, the app's entry applies its policy itself (no middleware layer,
no `Response` object for plain data); anywhere else in the chain, or subclassed, it runs as a middleware layer.
Both give the same answers.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from panther.configs import config
from panther.middlewares.base import HTTPMiddleware
from panther.request import Request
from panther.response import Response

__all__ = ['CORSMiddleware', 'CORSPolicy']

logger = logging.getLogger('panther')

DEFAULT_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']

_WILDCARD_CREDENTIALS = 'CORS: `ALLOW_CREDENTIALS` is ignored for the wildcard origin; list origins explicitly'


class CORSPolicy:
    """The CORS headers of every answer, computed once per configuration.

    A wildcard origin is never combined with credentials: with `ALLOW_CREDENTIALS = True` only the origins
    listed explicitly get `Access-Control-Allow-Credentials`, and a wildcard is answered without it.
    Origins that are not allowed get no `Access-Control-Allow-Origin` header at all.
    """

    __slots__ = ('_answers', '_encoded', 'credentials', 'echo_requested_headers', 'origins', 'vary')

    def __init__(
        self,
        *,
        origins: list[str],
        methods: list[str],
        allow_headers: list[str],
        credentials: bool,
        expose_headers: list[str],
        max_age: int,
    ) -> None:
        self.origins = origins
        self.credentials = credentials
        # The answer depends on the request's Origin unless every origin gets '*': caches must then key on it.
        self.vary = origins != ['*']
        # `ALLOW_HEADERS = ['*']` with credentials: browsers do not accept the wildcard then, so the headers the
        # preflight asks for are echoed (the only per-request part of the answer).
        self.echo_requested_headers = '*' in allow_headers and credentials
        fixed = {
            'Access-Control-Allow-Headers': ', '.join(allow_headers),
            'Access-Control-Allow-Methods': ', '.join(methods),
            'Access-Control-Max-Age': str(max_age),
        }
        if expose_headers:
            fixed['Access-Control-Expose-Headers'] = ', '.join(expose_headers)
        # One answer per allowed origin, one for the wildcard and one for origins that are not allowed (key None).
        self._answers: dict[str | None, dict[str, str]] = {None: {}}
        for allowed in [*(o for o in origins if o != '*'), *(['*'] if '*' in origins else [])]:
            answer = {'Access-Control-Allow-Origin': allowed, **fixed}
            if credentials and allowed != '*':
                answer['Access-Control-Allow-Credentials'] = 'true'
            self._answers[allowed] = answer
        if credentials and '*' in origins:
            logger.warning(_WILDCARD_CREDENTIALS)
        # The same answers as header pairs, for responses sent with default headers (no `Vary` to merge).
        self._encoded = {key: self._pairs(answer) for key, answer in self._answers.items()}

    @classmethod
    def from_config(cls) -> CORSPolicy:
        return cls(
            origins=list(config.ALLOW_ORIGINS or ['*']),
            methods=list(config.ALLOW_METHODS or DEFAULT_METHODS),
            allow_headers=list(config.ALLOW_HEADERS or ['*']),
            credentials=bool(config.ALLOW_CREDENTIALS),
            expose_headers=list(config.EXPOSE_HEADERS or []),
            max_age=config.CORS_MAX_AGE or 600,
        )

    def _lookup(self, scope: Any) -> tuple[str | None, dict[str, str] | None]:
        """The key of this request's answer; and the answer itself when it echoes the request's
        `Access-Control-Request-Headers` (the one answer not computed in advance), else None."""
        origin, requested = _cors_request_headers(scope)
        if origin is not None and origin in self._answers and origin != '*':
            key: str | None = origin
        else:
            key = '*' if '*' in self._answers else None
        if requested is not None and self.echo_requested_headers and self._answers[key]:
            return key, {**self._answers[key], 'Access-Control-Allow-Headers': requested}
        return key, None

    def headers_for(self, scope: Any) -> dict[str, str]:
        """The CORS headers (without `Vary`) that answer this request."""
        key, echoed = self._lookup(scope)
        return echoed if echoed is not None else self._answers[key]

    def header_pairs(self, scope: Any) -> list[tuple[bytes, bytes]]:
        """The same headers, `Vary` included, encoded: for a response whose own headers are the defaults."""
        key, echoed = self._lookup(scope)
        return self._pairs(echoed) if echoed is not None else self._encoded[key]

    def _pairs(self, answer: dict[str, str]) -> list[tuple[bytes, bytes]]:
        vary = [(b'Vary', b'Origin')] if self.vary else []
        return vary + [(name.encode('latin-1'), value.encode('latin-1')) for name, value in answer.items()]

    def apply(self, scope: Any, response: Response) -> None:
        """Add the CORS headers to `response`, merging `Vary`."""
        headers = response.headers
        if self.vary:
            vary = headers.get('Vary')
            headers['Vary'] = f'{vary}, Origin' if vary and 'Origin' not in vary else (vary or 'Origin')
        headers.update(self.headers_for(scope))


class CORSMiddleware(HTTPMiddleware):
    """Adds CORS headers to every response (errors included) and answers preflight `OPTIONS` requests with 204
    (inner middlewares and routing do not run for them). See `CORSPolicy` for the rules."""

    def __init__(self, dispatch: Callable[..., Awaitable[Response]]) -> None:
        super().__init__(dispatch=dispatch)
        self.policy = CORSPolicy.from_config()

    async def __call__(self, request: Request) -> Response:
        if request.method == 'OPTIONS':
            response = Response(status_code=204)
        else:
            response = await self.dispatch(request=request)
        self.add_headers(request, response)
        return response

    def add_headers(self, request: Request, response: Response) -> None:
        self.policy.apply(request.scope, response)


def _cors_request_headers(scope: Any) -> tuple[str | None, str | None]:
    """`Origin` and `Access-Control-Request-Headers`, read from the raw ASGI headers (no `Headers` object built)."""
    origin = requested = None
    for name, value in scope.get('headers') or ():
        # ASGI servers send lower-case names; other spellings are compared only when the length matches.
        if len(name) == 6:
            if name == b'origin' or name.lower() == b'origin':
                origin = value.decode('latin-1')
        elif len(name) == 30 and name.lower() == b'access-control-request-headers':
            requested = value.decode('latin-1')
    return origin, requested
