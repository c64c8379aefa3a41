"""`AdminCookieJWTAuthentication`: the panel's session (the `access_token` cookie), staff members only."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from panther.authentications import CookieJWTAuthentication
from panther.exceptions import AuthenticationAPIError, RedirectAPIError
from panther.panel.security import is_staff

__all__ = ['AdminCookieJWTAuthentication', 'login_url', 'panel_root']


def panel_root(request: Any) -> str:
    """The path the panel is mounted at (`/admin/`), set on the request by the panel's page middleware."""
    return request.__dict__.get('panel_root') or '/admin/'


def login_url(request: Any, *, denied: bool = False) -> str:
    target = request.path if request.method == 'GET' else panel_root(request)
    url = f'{panel_root(request)}login/?redirect_to={quote(target, safe="/")}'
    return f'{url}&denied=1' if denied else url


class AdminCookieJWTAuthentication(CookieJWTAuthentication):
    """The access token of the `access_token` cookie; a missing, forged, expired or revoked token, and a user the
    app does not mark as staff (see `panther.panel.security.is_staff`), are sent to the login page (302)."""

    def _can_defer_revocation(self) -> bool:
        # The revocation check stays here, where a revoked session becomes a redirect to the login page.
        return False

    async def __call__(self, request: Any) -> Any:
        try:
            user = await super().__call__(request)
        except AuthenticationAPIError:
            raise RedirectAPIError(url=login_url(request)) from None
        if user is None:
            raise RedirectAPIError(url=login_url(request))
        if not await is_staff(user):
            raise RedirectAPIError(url=login_url(request, denied=True))
        return user
