"""Authentication for the HTML pages and the feed."""

from typing import Any

from panther.authentications import CookieJWTAuthentication
from panther.base_request import BaseRequest
from panther.exceptions import AuthenticationAPIError


class OptionalCookieJWTAuthentication(CookieJWTAuthentication):
    """`CookieJWTAuthentication` that treats a bad cookie as no cookie.

    The JSON API answers an expired or revoked token with 401 so that clients know to refresh. A page opened in a
    browser should still show up, as it does to any visitor; the author sees their drafts again after logging in.
    """

    async def __call__(self, request: BaseRequest) -> Any:
        try:
            return await super().__call__(request)
        except AuthenticationAPIError:
            return None
