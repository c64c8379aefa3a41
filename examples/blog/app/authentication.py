"""Authentication for the HTML pages, the feed, log-in and sign-up."""

from panther.authentications import CookieJWTAuthentication


class OptionalCookieJWTAuthentication(CookieJWTAuthentication):
    """`CookieJWTAuthentication` that treats a bad cookie as no cookie.

    The JSON API answers an expired or revoked token with 401 so that clients know to refresh. A page opened in a
    browser should still show up, as it does to any visitor; the author sees their drafts again after logging in.
    """

    invalid_token_is_anonymous = True
