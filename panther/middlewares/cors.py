"""CORS, configured with `ALLOW_ORIGINS`, `ALLOW_METHODS`, `ALLOW_HEADERS`, `ALLOW_CREDENTIALS`,
`EXPOSE_HEADERS` and `CORS_MAX_AGE` (read at request time)."""

from __future__ import annotations

import logging

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

    async def __call__(self, request: Request) -> Response:
        if request.method == 'OPTIONS':
            response = Response(status_code=204)
        else:
            response = await self.dispatch(request=request)
        self.add_headers(request, response)
        return response

    @staticmethod
    def add_headers(request: Request, response: Response) -> None:
        origins = config.ALLOW_ORIGINS or ['*']
        credentials = bool(config.ALLOW_CREDENTIALS)
        origin = request.headers.origin
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
        headers['Access-Control-Allow-Methods'] = ', '.join(config.ALLOW_METHODS or DEFAULT_METHODS)
        allow_headers = config.ALLOW_HEADERS or ['*']
        requested = request.headers['Access-Control-Request-Headers']
        if '*' in allow_headers and credentials and requested:
            headers['Access-Control-Allow-Headers'] = requested
        else:
            headers['Access-Control-Allow-Headers'] = ', '.join(allow_headers)
        headers['Access-Control-Max-Age'] = str(config.CORS_MAX_AGE or 600)
        if credentials:
            if allow_origin == '*':
                logger.warning('CORS: `ALLOW_CREDENTIALS` is ignored for the wildcard origin; list origins explicitly')
            else:
                headers['Access-Control-Allow-Credentials'] = 'true'
        if config.EXPOSE_HEADERS:
            headers['Access-Control-Expose-Headers'] = ', '.join(config.EXPOSE_HEADERS)
