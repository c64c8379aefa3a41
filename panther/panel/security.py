"""Who may enter the panel (the staff hook), CSRF tokens and the headers of every panel page."""

from __future__ import annotations

import hashlib
import hmac
import inspect
import secrets
from typing import Any

import jwt

from panther.configs import config
from panther.exceptions import APIError

__all__ = ['CSRF_COOKIE', 'CSRF_FIELD', 'CSRF_HEADER', 'SECURITY_HEADERS', 'check_csrf', 'csrf_token', 'is_staff']

CSRF_COOKIE = 'panel_csrf'
CSRF_FIELD = 'csrf_token'
CSRF_HEADER = 'x-csrf-token'
UNSAFE_METHODS = frozenset({'POST', 'PUT', 'PATCH', 'DELETE'})

SECURITY_HEADERS = {
    'X-Frame-Options': 'DENY',
    'Content-Security-Policy': (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'same-origin',
    'Cache-Control': 'no-store',
}


async def is_staff(user: Any) -> bool:
    """Whether `user` may use the panel: `config.ADMIN_PERMISSION(user)` when set (a callable or its dotted path,
    sync or async), else the user's boolean `is_admin` attribute."""
    if user is None:
        return False
    hook = config.ADMIN_PERMISSION
    if hook is not None:
        if isinstance(hook, str):
            from panther._internal.imports import import_class

            hook = import_class(hook)
        granted = hook(user)
        if inspect.isawaitable(granted):
            granted = await granted
        return bool(granted)
    return getattr(user, 'is_admin', False) is True


def _signing_key() -> bytes:
    from panther.authentications import JWTAuthentication

    return JWTAuthentication.jwt_config().key.encode()


def session_id(request: Any) -> str:
    """The `sid` of the session cookie (unverified: authentication checks the token itself), `''` without one."""
    token = request.cookies.get('access_token')
    if not token:
        return ''
    try:
        claims = jwt.decode(token, options={'verify_signature': False})
    except jwt.InvalidTokenError:
        return ''
    sid = claims.get('sid')
    return sid if isinstance(sid, str) else ''


def csrf_nonce(request: Any) -> str:
    """The browser's CSRF nonce (the `panel_csrf` cookie); a new one is made, and set by the page, if missing."""
    nonce: str | None = request.__dict__.get('panel_csrf_nonce')
    if nonce is None:
        nonce = str(request.cookies.get(CSRF_COOKIE) or '')
        if len(nonce) < 16:
            nonce = secrets.token_urlsafe(24)
            request.__dict__['panel_new_csrf_nonce'] = nonce
        request.__dict__['panel_csrf_nonce'] = nonce
    return nonce


def csrf_token(request: Any, sid: str | None = None) -> str:
    """The token forms carry: an HMAC of the nonce cookie and the session id, so a token taken from another
    browser or another session (or a cookie planted by a sibling site without its token) is worthless."""
    nonce = csrf_nonce(request)
    session = session_id(request) if sid is None else sid
    return hmac.new(_signing_key(), f'{nonce}|{session}'.encode(), hashlib.sha256).hexdigest()


def check_csrf(request: Any) -> None:
    """Refuse (403) a state-changing request without the right token in the `csrf_token` field or the
    `X-CSRF-Token` header."""
    if request.method not in UNSAFE_METHODS:
        return
    nonce = request.cookies.get(CSRF_COOKIE)
    submitted = request.headers.get(CSRF_HEADER)
    data = request.data
    if not submitted and isinstance(data, dict):
        value = data.get(CSRF_FIELD)
        submitted = value if isinstance(value, str) else None
    if not nonce or not submitted:
        raise APIError(detail='The form is missing its CSRF token: reload the page and try again.', status_code=403)
    if not hmac.compare_digest(csrf_token(request), submitted):
        raise APIError(detail='The CSRF token is not valid: reload the page and try again.', status_code=403)
