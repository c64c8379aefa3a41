"""CORS, configured with `ALLOW_ORIGINS`, `ALLOW_METHODS`, `ALLOW_HEADERS`, `ALLOW_CREDENTIALS`,
`EXPOSE_HEADERS` and `CORS_MAX_AGE`.

The settings are read once, when the app builds its middleware chain; the chain is rebuilt whenever one of them
changes, so a changed setting still applies to the next request.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from panther.configs import config
from panther.middlewares.base import HTTPMiddleware
from panther.request import Request
from panther.response import Response

__all__ = ['CORSMiddleware']

logger = logging.getLogger('panther')

DEFAULT_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']


class CORSMiddleware(HTTPMiddleware):
    """Adds CORS headers to every response (errors included) and answers preflight `OPTIONS` requests.

    A wildcard origin is never combined with credentials: with `ALLOW_CREDENTIALS = True` only the origins
    listed explicitly get `Access-Control-Allow-Credentials`, and a wildcard is answered without it.
    Origins that are not allowed get no `Access-Control-Allow-Origin` header at all.
    """

    def __init__(self, dispatch: Callable[..., Awaitable[Response]]) -> None:
        super().__init__(dispatch=dispatch)
        self.origins: list[str] = list(config.ALLOW_ORIGINS or ['*'])
        self.credentials = bool(config.ALLOW_CREDENTIALS)
        self.allow_headers: list[str] = list(config.ALLOW_HEADERS or ['*'])
        # Headers that do not depend on the request, joined once.
        self.fixed_headers: dict[str, str] = {
            'Access-Control-Allow-Methods': ', '.join(config.ALLOW_METHODS or DEFAULT_METHODS),
            'Access-Control-Max-Age': str(config.CORS_MAX_AGE or 600),
        }
        if config.EXPOSE_HEADERS:
            self.fixed_headers['Access-Control-Expose-Headers'] = ', '.join(config.EXPOSE_HEADERS)
        self.joined_allow_headers = ', '.join(self.allow_headers)

    async def __call__(self, request: Request) -> Response:
        if request.method == 'OPTIONS':
            response = Response(status_code=204)
        else:
            response = await self.dispatch(request=request)
        self.add_headers(request, response)
        return response

    def add_headers(self, request: Request, response: Response) -> None:
        origins = self.origins
        origin, requested = _cors_request_headers(request)
        headers = response.headers

        allow_origin: str | None = None
        if origin and origin in origins:
            allow_origin = origin
        elif '*' in origins:
            allow_origin = '*'
        if origins != ['*']:
            # The answer depends on the request's Origin: caches must key on it.
            vary = headers.get('Vary')
            headers['Vary'] = f'{vary}, Origin' if vary and 'Origin' not in vary else (vary or 'Origin')
        if allow_origin is None:
            return

        headers['Access-Control-Allow-Origin'] = allow_origin
        if '*' in self.allow_headers and self.credentials and requested:
            headers['Access-Control-Allow-Headers'] = requested
        else:
            headers['Access-Control-Allow-Headers'] = self.joined_allow_headers
        headers.update(self.fixed_headers)
        if self.credentials:
            if allow_origin == '*':
                logger.warning('CORS: `ALLOW_CREDENTIALS` is ignored for the wildcard origin; list origins explicitly')
            else:
                headers['Access-Control-Allow-Credentials'] = 'true'


def _cors_request_headers(request: Request) -> tuple[str | None, str | None]:
    """`Origin` and `Access-Control-Request-Headers`, read from the raw ASGI headers (no `Headers` object built)."""
    origin = requested = None
    for name, value in request.scope.get('headers') or ():
        lowered = name.lower()
        if lowered == b'origin':
            origin = value.decode('latin-1')
        elif lowered == b'access-control-request-headers':
            requested = value.decode('latin-1')
    return origin, requested
