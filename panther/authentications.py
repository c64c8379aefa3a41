"""Authentication classes.

An authenticator takes the request (or websocket connection) and returns the user, or `None` for an
anonymous request, or raises `AuthenticationAPIError` (401).

JWTs are signed and checked with PyJWT. Every token carries `token_type` (`access` or `refresh`),
integer `iat`/`exp`, `user_id` and `sid` (a session id shared by the access/refresh pair that `login()`
issued together). Revoking a session — `logout()` or the rotation done by `refresh()` — makes both tokens
of the pair unusable; revocation lives in the Store, so it works in memory without Redis and across
workers with Redis.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import re
import secrets
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import jwt

from panther import status
from panther._internal import clock
from panther._internal.store import StoreUnavailableError, get_store
from panther.configs import JWTConfig, config
from panther.exceptions import APIError, AuthenticationAPIError, PantherError

if TYPE_CHECKING:
    from panther.base_request import BaseRequest

__all__ = [
    'BaseAuthentication',
    'CookieJWTAuthentication',
    'JWTAuthentication',
    'QueryParamJWTAuthentication',
    'RefreshCookieJWTAuthentication',
    'RefreshJWTAuthentication',
]

logger = logging.getLogger('panther')

REVOKED_PREFIX = 'panther:revoked:'
# How many verified tokens `decode_jwt` remembers (0 turns the memory off).
VERIFIED_TOKENS_CACHE_SIZE = 1024
_verified_tokens: OrderedDict[tuple[str, str, str], dict[str, Any]] = OrderedDict()
UNAVAILABLE_DETAIL = 'Authentication is temporarily unavailable'
# Longest `user_id` / `sid` claim accepted (ULIDs are 26 characters, ObjectIds 24, UUIDs 36).
MAX_ID_LENGTH = 64
_OBJECT_ID = re.compile(r'[0-9a-fA-F]{24}')


class BaseAuthentication(ABC):
    """Base for authentication classes; the framework creates one instance per request."""

    @abstractmethod
    async def __call__(self, request: BaseRequest) -> Any:
        """Return the user, `None` for anonymous, or raise `self.exception(...)`."""

    @classmethod
    def exception(cls, message: str | Exception) -> AuthenticationAPIError:
        """Log ERROR `<ClassName> Error: "<message>"` and return the 401 error to raise.

        The body stays `{"detail": "Authentication Error"}` (nothing for an attacker to learn from it); the reason
        goes to the log and to the RFC 6750 `WWW-Authenticate` header, where a legitimate client can tell an
        expired token from a revoked one.
        """
        logger.error(f'{cls.__name__} Error: "{message}"')
        scheme = getattr(cls, 'keyword', None) or 'Bearer'
        challenge = f'{scheme} error="invalid_token", error_description="{_quotable(str(message))}"'
        error = AuthenticationAPIError(headers={'WWW-Authenticate': challenge})
        error.reason = str(message)
        return error


def _quotable(text: str) -> str:
    # RFC 6750 allows only printable ASCII without `"` and `\` in `error_description`.
    return ''.join(char if ' ' <= char <= '~' and char not in '"\\' else "'" if char == '"' else '?' for char in text)


def _is_model(model: Any) -> bool:
    from panther.db.models import Model

    return isinstance(model, type) and issubclass(model, Model)


class PendingRevocation(NamedTuple):
    """A token's revocation check left for the throttle step of the same request (`request.pending_revocation`)."""

    key: str
    authentication: type[JWTAuthentication]


async def settle_revocation(request: Any) -> None:
    """Run the revocation check a throttle step did not take over; 401 if the token was revoked.

    Endpoint pipelines call this after throttling (and before answering an admission error), so a revoked
    token is never let through and always answered as revoked.
    """
    pending = request.pending_revocation
    if pending is None:
        return
    request.pending_revocation = None
    try:
        revoked = await get_store().exists(pending.key)
    except StoreUnavailableError as exc:
        raise pending.authentication.revocation_unavailable(exc) from None
    if revoked:
        raise pending.authentication.exception('Token has been revoked')


def _unavailable(cls: type, exc: Exception) -> APIError:
    # Fail closed: without the revocation store we cannot tell a logged-out token from a valid one.
    logger.error(f'{cls.__name__} Error: "Token revocation store is unavailable: {exc}"')
    return APIError(detail=UNAVAILABLE_DETAIL, status_code=status.HTTP_503_SERVICE_UNAVAILABLE)


def _time_checks() -> dict[str, Any]:
    """PyJWT's options: it reads the real clock, so under another clock (`panther._internal.clock` in tests) the
    leeway moves its expiry check to that clock (its check of `iat` cannot follow and is left out)."""
    if clock.wall is time.time:
        return {'options': {'require': ['exp', 'iat']}}
    return {'options': {'require': ['exp', 'iat'], 'verify_iat': False}, 'leeway': time.time() - clock.wall()}


class JWTAuthentication(BaseAuthentication):
    """`Authorization: Bearer <access token>`."""

    model: ClassVar[Any] = None
    keyword: ClassVar[str] = 'Bearer'
    algorithm: ClassVar[str] = 'HS256'
    HTTP_HEADER_ENCODING: ClassVar[str] = 'iso-8859-1'
    # The one token type this class accepts; a refresh token is never an access token.
    token_type: ClassVar[str] = 'access'

    async def __call__(self, request: BaseRequest) -> Any:
        token = self.get_token_from_request(request)
        if token is None:
            return None
        if request.defer_revocation_check and self._can_defer_revocation():
            return await self._authenticate_deferring_revocation(token, request)
        return await self.authenticate_token(token)

    def _can_defer_revocation(self) -> bool:
        # Only the built-in checks can be deferred: a subclass that changes how tokens are checked or revoked,
        # or one that turns a bad token into an anonymous request, checks at once.
        cls = type(self)
        return (
            cls.authenticate_token is JWTAuthentication.authenticate_token
            and cls.is_token_revoked.__func__ is JWTAuthentication.is_token_revoked.__func__  # type: ignore[attr-defined]
            and not getattr(self, 'invalid_token_is_anonymous', False)
        )

    async def _authenticate_deferring_revocation(self, token: str, request: BaseRequest) -> Any:
        """`authenticate_token()` whose revocation check the request's throttle step runs (same round trip)."""
        payload = self._checked_payload(token)
        user = await self.get_user(payload)
        user._auth_token = token
        request.pending_revocation = PendingRevocation(self.revocation_key(token, payload), type(self))
        return user

    # --- reading the token -------------------------------------------------------------------------------

    def get_authorization_header(self, request: BaseRequest) -> list[str] | None:
        scope = getattr(request, 'scope', None)
        if scope is None:
            header = request.headers.authorization
        else:
            # Straight from the ASGI list: parsing every header into `Headers` costs more than the lookup.
            raw = None
            for name, value in scope.get('headers') or ():
                if name.lower() == b'authorization':
                    raw = value
            if raw is None:
                return None
            try:
                header = raw.decode('utf-8')
            except UnicodeDecodeError:
                raise self.exception('Authorization header is not valid UTF-8') from None
        if header is None:
            return None
        return header.split()

    def get_token(self, auth_header: list[str]) -> str:
        if len(auth_header) != 2:
            raise self.exception('Authorization header must contain 2 parts')
        keyword, token = auth_header
        try:
            token.encode(self.HTTP_HEADER_ENCODING)
        except UnicodeEncodeError as exc:
            raise self.exception(exc) from None
        if keyword.lower() != self.keyword.lower():
            raise self.exception('Authorization keyword is not valid')
        return token

    def get_token_from_request(self, request: BaseRequest) -> str | None:
        auth_header = self.get_authorization_header(request)
        if auth_header is None:
            return None
        return self.get_token(auth_header)

    # --- checking it ---------------------------------------------------------------------------------------

    def _checked_payload(self, token: str) -> dict[str, Any]:
        payload = self.decode_jwt(token)
        if payload.get('token_type') != self.token_type:
            raise self.exception(f'Invalid token type; expected `{self.token_type}` token.')
        session_id = payload.get('sid')
        if session_id is not None and not (isinstance(session_id, str) and 0 < len(session_id) <= MAX_ID_LENGTH):
            raise self.exception('Token `sid` is not valid')
        return payload

    async def authenticate_token(self, token: str) -> Any:
        payload = self._checked_payload(token)
        try:
            revoked = await self.is_token_revoked(token, payload)
        except StoreUnavailableError as exc:
            raise _unavailable(type(self), exc) from None
        if revoked:
            raise self.exception('Token has been revoked')
        user = await self.get_user(payload)
        user._auth_token = token
        return user

    @classmethod
    def revocation_unavailable(cls, exc: Exception) -> APIError:
        """The 503 to raise when the revocation store cannot be reached (fail closed)."""
        return _unavailable(cls, exc)

    @classmethod
    def jwt_config(cls) -> JWTConfig:
        jwt_config = config.JWT_CONFIG
        if jwt_config is None:
            if not config.SECRET_KEY:
                raise PantherError("Invalid 'JWTConfig': `JWTConfig.key` or `SECRET_KEY` is required.")
            jwt_config = JWTConfig(key=config.SECRET_KEY)
        return jwt_config

    @classmethod
    def decode_jwt(cls, token: str) -> dict[str, Any]:
        """Verify signature, algorithm and expiry; return the claims or raise a 401 naming the problem.

        A client sends the same access token with many requests, so tokens that verified are remembered
        (bounded LRU, keyed by token, key and algorithm). A remembered token is still rejected once its
        `exp` has passed; revocation is checked on every request regardless.
        """
        jwt_config = cls.jwt_config()
        cache_key = (token, jwt_config.key, jwt_config.algorithm)
        payload = _verified_tokens.get(cache_key)
        if payload is not None:
            if payload['exp'] > clock.wall():
                _verified_tokens.move_to_end(cache_key)
                return dict(payload)
            del _verified_tokens[cache_key]
        try:
            payload = jwt.decode(token, key=jwt_config.key, algorithms=[jwt_config.algorithm], **_time_checks())
        except jwt.ExpiredSignatureError:
            message = 'Token has expired'
        except jwt.InvalidSignatureError:
            message = 'Token signature is invalid'
        except jwt.MissingRequiredClaimError as exc:
            message = f'Token is missing the `{exc.claim}` claim'
        except jwt.InvalidAlgorithmError:
            message = 'Token algorithm is not allowed'
        except jwt.DecodeError:
            message = 'Token is malformed'
        except jwt.InvalidTokenError as exc:
            message = f'Token is invalid: {exc}'
        else:
            if VERIFIED_TOKENS_CACHE_SIZE and isinstance(payload.get('exp'), (int, float)):
                _verified_tokens[cache_key] = dict(payload)
                while len(_verified_tokens) > VERIFIED_TOKENS_CACHE_SIZE:
                    _verified_tokens.popitem(last=False)
            return payload
        raise cls.exception(message)

    @classmethod
    async def get_user(cls, payload: dict[str, Any]) -> Any:
        model: Any = cls.model or config.USER_MODEL
        if model is None:
            raise PantherError('`USER_MODEL` is not configured')
        user = await model.find_one(id=cls.user_id_claim(payload, model))
        if user is None:
            raise cls.exception('User not found')
        fingerprint = payload.get('pwd')
        if fingerprint is not None and fingerprint != (cls._password_claim(user) or {}).get('pwd'):
            # Issued before the last `set_password()`: a password change ends the sessions it had.
            raise cls.exception('Token was issued before the password changed')
        return user

    @classmethod
    def user_id_claim(cls, payload: dict[str, Any], model: Any = None) -> str | int:
        """The `user_id` claim, checked before it reaches a query; a 401 unless it is a plain id.

        A signed token is not a trusted value: whoever holds the key (or a bug that signs user input) could put
        `{"$ne": null}` there, which a query would read as an operator and log in as the first user. Only a
        string of at most `MAX_ID_LENGTH` printable characters or a 64-bit integer passes, and under an engine
        with ObjectId ids (MongoDB) only a valid ObjectId string.
        """
        user_id = payload.get('user_id')
        if user_id is None:
            raise cls.exception('Payload does not have `user_id`')
        if isinstance(user_id, bool) or not isinstance(user_id, (str, int)):
            raise cls.exception('Token `user_id` is not a valid id')
        if isinstance(user_id, int):
            if not -(2**63) <= user_id < 2**63:
                raise cls.exception('Token `user_id` is not a valid id')
            return user_id
        if not 0 < len(user_id) <= MAX_ID_LENGTH or not user_id.isprintable():
            raise cls.exception('Token `user_id` is not a valid id')
        engine = config.QUERY_ENGINE
        if getattr(engine, 'object_ids', False) and _is_model(model) and not _OBJECT_ID.fullmatch(user_id):
            raise cls.exception('Token `user_id` is not a valid id')
        return user_id

    # --- issuing tokens ------------------------------------------------------------------------------------

    @classmethod
    def encode_jwt(
        cls,
        user_id: Any,
        token_type: str = 'access',
        session_id: str | None = None,
        extra_claims: dict[str, Any] | None = None,
    ) -> str:
        jwt_config = cls.jwt_config()
        life_time = jwt_config.life_time if token_type == 'access' else jwt_config.refresh_life_time
        issued_at = int(clock.wall())
        if not isinstance(user_id, (str, int)):
            user_id = str(user_id)
        payload: dict[str, Any] = {
            'token_type': token_type,
            'user_id': user_id,
            'iat': issued_at,
            'exp': issued_at + math.ceil(life_time),  # type: ignore[arg-type]
        }
        if session_id is not None:
            payload['sid'] = session_id
        if extra_claims:
            payload.update(extra_claims)
        return jwt.encode(payload, key=jwt_config.key, algorithm=jwt_config.algorithm)

    @classmethod
    async def login(cls, user: Any) -> dict[str, str]:
        """A new access/refresh pair for `user` (one new session)."""
        session_id = secrets.token_urlsafe(16)
        claims = cls._password_claim(user)
        return {
            'access_token': cls.encode_jwt(user.id, 'access', session_id, claims),
            'refresh_token': cls.encode_jwt(user.id, 'refresh', session_id, claims),
        }

    @classmethod
    def password_fingerprint(cls, password_hash: str) -> str:
        """A short keyed digest of the stored password hash: it changes with every `set_password()`.

        Keyed with the signing key so the (readable) token payload tells nothing about the hash.
        """
        key = cls.jwt_config().key.encode()
        return hmac.new(key, password_hash.encode(), hashlib.sha256).hexdigest()[:16]

    @classmethod
    def _password_claim(cls, user: Any) -> dict[str, str] | None:
        password_hash = getattr(user, 'password', None)
        if not isinstance(password_hash, str) or not password_hash:
            return None
        return {'pwd': cls.password_fingerprint(password_hash)}

    @classmethod
    async def logout(cls, user: Any) -> None:
        """Revoke the session of the token `user` was authenticated with (both tokens of the pair)."""
        token = getattr(user, '_auth_token', None)
        if not token:
            raise cls.exception('User is not authenticated with a token')
        payload = cls.decode_jwt(token)
        try:
            await cls.revoke_token_in_cache(token, cls._session_end(payload), payload)
        except StoreUnavailableError as exc:
            raise _unavailable(cls, exc) from None

    @classmethod
    async def refresh(cls, user: Any) -> dict[str, str]:
        """Spend a refresh token once: revoke its session and return a new pair.

        The refresh token is `user._auth_refresh_token` (cookie flow) or the token the request was
        authenticated with (`RefreshJWTAuthentication`). A second use of the same refresh token is
        rejected, also when two requests race, because revocation is an atomic increment.
        """
        token = getattr(user, '_auth_refresh_token', None) or getattr(user, '_auth_token', None)
        if not token:
            raise cls.exception('Refresh token is missing')
        payload = cls.decode_jwt(token)
        if payload.get('token_type') != 'refresh':
            raise cls.exception('Invalid token type; expected `refresh` token.')
        if str(payload.get('user_id')) != str(getattr(user, 'id', None)):
            raise cls.exception('Refresh token does not belong to this user')
        try:
            first_use = await cls.revoke_token_in_cache(token, cls._session_end(payload), payload)
        except StoreUnavailableError as exc:
            raise _unavailable(cls, exc) from None
        if not first_use:
            raise cls.exception('Token has been revoked')
        return await cls.login(user)

    # --- revocation ----------------------------------------------------------------------------------------

    @staticmethod
    def revocation_key(token: str, payload: dict[str, Any] | None = None) -> str:
        if payload is None:
            payload = jwt.decode(token, options={'verify_signature': False})
        session_id = payload.get('sid')
        if session_id:
            return f'{REVOKED_PREFIX}{session_id}'
        # Tokens issued without a session (custom `encode_jwt` calls) are revoked one by one.
        return f'{REVOKED_PREFIX}{hashlib.sha256(token.encode()).hexdigest()}'

    @classmethod
    def _session_end(cls, payload: dict[str, Any]) -> float:
        # The refresh token of the pair outlives the access token; revoke until the later of the two.
        refresh_life_time = cls.jwt_config().refresh_life_time or 0
        if isinstance(refresh_life_time, timedelta):
            refresh_life_time = refresh_life_time.total_seconds()
        return max(float(payload.get('exp', 0)), float(payload.get('iat', 0)) + float(refresh_life_time))

    @classmethod
    async def revoke_token_in_cache(cls, token: str, exp: float, payload: dict[str, Any] | None = None) -> bool:
        """Revoke `token` (its whole session) until `exp`; True if this call was the first to revoke it.

        Raises `StoreUnavailableError` when the Store cannot be reached.
        """
        ttl = exp - clock.wall()
        if ttl <= 0:
            return True
        return await get_store().incr(cls.revocation_key(token, payload), ttl=ttl + 1) == 1

    @classmethod
    async def is_token_revoked(cls, token: str, payload: dict[str, Any] | None = None) -> bool:
        """Raises `StoreUnavailableError` when the Store cannot be reached."""
        return await get_store().exists(cls.revocation_key(token, payload))


class RefreshJWTAuthentication(JWTAuthentication):
    """`Authorization: Bearer <refresh token>`, for the endpoint that calls `user.refresh_tokens()`."""

    token_type = 'refresh'


class QueryParamJWTAuthentication(JWTAuthentication):
    """The raw access token in the `authorization` query parameter (useful for websockets)."""

    def get_token_from_request(self, request: BaseRequest) -> str | None:
        return request.query_params.get('authorization') or None


class CookieJWTAuthentication(JWTAuthentication):
    """The raw access token in the `access_token` cookie; a `refresh_token` cookie is kept for `refresh()`.

    Browsers send cookies on every request, so an expired or revoked cookie would make every endpoint answer
    401, log-in included. Set `invalid_token_is_anonymous = True` (in a subclass) to treat such requests as
    anonymous instead; permissions such as `IsAuthenticated` then decide.
    """

    cookie_name: ClassVar[str] = 'access_token'
    invalid_token_is_anonymous: ClassVar[bool] = False

    def get_token_from_request(self, request: BaseRequest) -> str | None:
        return request.cookies.get(self.cookie_name) or None

    async def __call__(self, request: BaseRequest) -> Any:
        try:
            user = await super().__call__(request)
        except AuthenticationAPIError:
            if self.invalid_token_is_anonymous:
                return None
            raise
        if user is not None:
            refresh_token = request.cookies.get('refresh_token')
            if refresh_token:
                user._auth_refresh_token = refresh_token
        return user


class RefreshCookieJWTAuthentication(CookieJWTAuthentication):
    """The refresh token in the `refresh_token` cookie, for the endpoint that refreshes the pair."""

    token_type = 'refresh'
    cookie_name = 'refresh_token'
