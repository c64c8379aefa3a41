"""Cross-site request forgery protection for the cookie-authenticated API."""

from urllib.parse import urlsplit

from panther.exceptions import AuthorizationAPIError
from panther.middlewares import HTTPMiddleware
from panther.request import Request
from panther.response import Response

SAFE_METHODS = frozenset({'GET', 'HEAD', 'OPTIONS'})


class SameOriginWritesMiddleware(HTTPMiddleware):
    """Refuse writes (POST, PUT, PATCH, DELETE) that a browser sends on behalf of another site.

    The cookies are `SameSite=Lax`, so browsers already leave them off cross-site POSTs; this is the second lock
    (older browsers, sites on a sibling subdomain). Browsers send `Origin` with every cross-origin write, so a write
    whose `Origin` names another host than the one it was sent to is refused with 403. Clients that are not
    browsers (curl, scripts) send no `Origin` and are not affected.
    """

    async def __call__(self, request: Request) -> Response:
        if request.method not in SAFE_METHODS:
            origin = request.headers.get('origin')
            if origin is not None and urlsplit(origin).netloc != request.headers.get('host'):
                raise AuthorizationAPIError(detail='Cross-site requests are not allowed')
        return await self.dispatch(request=request)
