"""Endpoint middlewares of the panel's views."""

from __future__ import annotations

import functools
import html
import logging
from typing import Any, ClassVar

from panther.configs import config
from panther.exceptions import APIError, PantherError, RedirectAPIError
from panther.middlewares import HTTPMiddleware
from panther.panel.authentications import AdminCookieJWTAuthentication
from panther.panel.pages import finish_page
from panther.panel.security import UNSAFE_METHODS, check_csrf
from panther.request import ClientDisconnected, Request
from panther.response import HTMLResponse, RedirectResponse, Response

__all__ = ['PanelPageMiddleware', 'RedirectToSlashMiddleware', 'page_middleware']

logger = logging.getLogger('panther')


class RedirectToSlashMiddleware(HTTPMiddleware):
    """A path without its trailing slash is redirected (307, the query string kept)."""

    async def __call__(self, request: Request) -> Response:
        path = request.path
        if not path.endswith('/'):
            query = request.scope.get('query_string', b'').decode('latin-1')
            return RedirectResponse(f'{path}/?{query}' if query else f'{path}/')
        return await self.dispatch(request=request)


def _root(path: str, depth: int) -> str:
    segments = [segment for segment in path.split('/') if segment]
    kept = segments[: len(segments) - depth] if depth else segments
    return '/' + ''.join(f'{segment}/' for segment in kept)


class PanelPageMiddleware(HTTPMiddleware):
    """Finds the panel's mount point, refuses state-changing requests without their CSRF token and makes every
    answer a panel page (`finish_page`). `depth` is how many path segments the view's route adds to the mount."""

    depth: ClassVar[int] = 0

    async def __call__(self, request: Request) -> Response:
        request.__dict__['panel_root'] = _root(request.path, self.depth)
        try:
            AdminCookieJWTAuthentication.jwt_config()
            if config.USER_MODEL is None:
                raise PantherError('the admin panel needs `USER_MODEL` (a `BaseUser` subclass) in the configuration')
        except PantherError as exc:
            # Sessions and CSRF tokens are signed with the JWT key: without one no page can be served.
            logger.error(f'Admin panel: {exc}')
            return HTMLResponse(data=f'<h1>Admin panel: {html.escape(str(exc))}</h1>', status_code=500)
        try:
            if request.method in UNSAFE_METHODS:
                await request.read_body()
                check_csrf(request)
            response = await self.dispatch(request=request)
        except ClientDisconnected:
            raise
        except RedirectAPIError as exc:
            response = RedirectResponse((exc.headers or {})['Location'], status_code=exc.status_code)
        except APIError as exc:
            response = Response(
                data=exc.detail if isinstance(exc.detail, dict) else {'detail': exc.detail},
                status_code=exc.status_code,
                headers=exc.headers,
            )
        if response.status_code == 401:
            from panther.panel.authentications import login_url

            response = RedirectResponse(login_url(request), status_code=302)
        return finish_page(request, response)


@functools.cache
def page_middleware(depth: int) -> Any:
    """The page middleware of views whose route is `depth` segments below the mount point."""
    return type(f'PanelPageMiddleware{depth}', (PanelPageMiddleware,), {'depth': depth, '__module__': __name__})
