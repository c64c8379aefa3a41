"""JWT authentication: token reading, every rejection reason, login / refresh / logout and revocation."""

from __future__ import annotations

import asyncio
import hmac
import logging
import socket
import sys
import time
import types
import uuid
from datetime import timedelta
from typing import Any, ClassVar

import jwt
import pytest

from panther import Panther, authentications, status
from panther._internal.store import RedisStore, reset_memory_store, set_redis_store
from panther.app import API
from panther.authentications import (
    BaseAuthentication,
    CookieJWTAuthentication,
    JWTAuthentication,
    QueryParamJWTAuthentication,
    RefreshCookieJWTAuthentication,
    RefreshJWTAuthentication,
)
from panther.configs import JWTConfig, config
from panther.db.connections.redis import RedisConnection
from panther.exceptions import APIError, AuthenticationAPIError, PantherError
from panther.permissions import IsAuthenticated
from panther.request import Request
from panther.response import Response
from panther.test import APIClient, WebsocketClient
from panther.throttling import Throttle
from panther.websocket import GenericWebsocket
from tests._core_helpers import RoundTrips, refusal_reason

KEY = 'a-test-signing-key-that-is-long-enough-for-hs256'


class User:
    """Stand-in for a user model: `find_one(id=...)` plus the token helpers `BaseUser` has."""

    users: ClassVar[dict[str, User]] = {}

    def __init__(self, id: str, username: str, password: str) -> None:
        self.id = id
        self.username = username
        self.password = password

    @classmethod
    async def find_one(cls, id: Any = None, username: str | None = None) -> User | None:
        if username is not None:
            return next((user for user in cls.users.values() if user.username == username), None)
        return cls.users.get(id)

    async def check_password(self, password: str) -> bool:
        return hmac.compare_digest(self.password.encode(), password.encode())

    async def login(self) -> dict[str, str]:
        return await config.AUTHENTICATION.login(user=self)

    async def refresh_tokens(self) -> dict[str, str]:
        return await config.AUTHENTICATION.refresh(user=self)

    async def logout(self) -> None:
        return await config.AUTHENTICATION.logout(user=self)


@pytest.fixture(autouse=True)
def users() -> None:
    User.users = {'1': User('1', 'ali', 'secret'), '2': User('2', 'sara', 'hunter2')}
    config.USER_MODEL = User
    config.AUTHENTICATION = JWTAuthentication
    config.JWT_CONFIG = JWTConfig(key=KEY, life_time=60, refresh_life_time=120)


def make_request(
    headers: dict[str, str] | None = None, query: bytes = b'', method: str = 'GET', path: str = '/'
) -> Request:
    scope = {
        'type': 'http',
        'method': method,
        'path': path,
        'query_string': query,
        'headers': [(k.lower().encode('latin-1'), v.encode('utf-8')) for k, v in (headers or {}).items()],
        'client': ('10.0.0.1', 5000),
    }

    async def receive() -> dict[str, Any]:
        return {'type': 'http.request', 'body': b'', 'more_body': False}

    async def send(message: dict[str, Any]) -> None:
        return None

    return Request(scope, receive, send)


def bearer(token: str) -> Request:
    return make_request({'Authorization': f'Bearer {token}'})


def sign(payload: dict[str, Any], key: str = KEY, algorithm: str = 'HS256') -> str:
    return jwt.encode(payload, key, algorithm=algorithm)


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    return {'token_type': 'access', 'user_id': '1', 'iat': now, 'exp': now + 60} | overrides


def without(name: str) -> dict[str, Any]:
    payload = claims()
    del payload[name]
    return payload


async def rejected(auth: BaseAuthentication, request: Request, caplog: pytest.LogCaptureFixture) -> str:
    """Run `auth`, expect a 401, check the single ERROR record and return the detail."""
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger='panther'), pytest.raises(AuthenticationAPIError) as info:
        await auth(request)
    assert info.value.status_code == status.HTTP_401_UNAUTHORIZED
    errors = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert len(errors) == 1
    assert errors[0].getMessage() == f'{type(auth).__name__} Error: "{info.value.reason}"'
    assert info.value.detail == 'Authentication Error'
    return str(info.value.reason)


# --- reading the token -----------------------------------------------------------------------------------------


async def test_no_header_is_anonymous(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        assert await JWTAuthentication()(make_request()) is None
    assert caplog.records == []


@pytest.mark.parametrize(
    ('header', 'detail'),
    [
        ('Bearer', 'Authorization header must contain 2 parts'),
        ('Bearer a b', 'Authorization header must contain 2 parts'),
        ('Token abc.def.ghi', 'Authorization keyword is not valid'),
        ('Bearer سلام', "'latin-1' codec can't encode characters in position 0-3: ordinal not in range(256)"),
        ('Bearer abc', 'Token is malformed'),
        ('Bearer a.b.c', 'Token is malformed'),
    ],
)
async def test_bad_authorization_header(header: str, detail: str, caplog: pytest.LogCaptureFixture) -> None:
    request = make_request({'Authorization': header})
    assert await rejected(JWTAuthentication(), request, caplog) == detail


async def test_keyword_is_case_insensitive() -> None:
    token = JWTAuthentication.encode_jwt('1')
    user = await JWTAuthentication()(make_request({'Authorization': f'bearer {token}'}))
    assert user is User.users['1']


async def test_valid_token_returns_the_user() -> None:
    token = JWTAuthentication.encode_jwt('1')
    user = await JWTAuthentication()(bearer(token))
    assert user is User.users['1']
    assert user._auth_token == token


# --- every rejection reason ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ('token', 'detail'),
    [
        (sign(claims(exp=int(time.time()) - 10)), 'Token has expired'),
        (sign(claims(), key='another-key-that-is-also-long-enough-for-hs256'), 'Token signature is invalid'),
        (sign(without('exp')), 'Token is missing the `exp` claim'),
        (sign(without('iat')), 'Token is missing the `iat` claim'),
        (sign(claims(), algorithm='HS384', key=KEY * 2), 'Token algorithm is not allowed'),
        (jwt.encode(claims(), None, algorithm='none'), 'Token algorithm is not allowed'),
        (sign(claims(token_type='refresh')), 'Invalid token type; expected `access` token.'),
        (
            sign(without('token_type')),
            'Invalid token type; expected `access` token.',
        ),
        (sign(without('user_id')), 'Payload does not have `user_id`'),
        (sign(claims(user_id='404')), 'User not found'),
        (sign(claims(iat='yesterday')), 'Token is invalid: Issued At claim (iat) must be an integer.'),
    ],
    ids=[
        'expired',
        'bad-signature',
        'no-exp',
        'no-iat',
        'other-algorithm',
        'alg-none',
        'refresh-as-access',
        'no-token-type',
        'no-user-id',
        'unknown-user',
        'bad-iat',
    ],
)
async def test_rejected_tokens(token: str, detail: str, caplog: pytest.LogCaptureFixture) -> None:
    assert await rejected(JWTAuthentication(), bearer(token), caplog) == detail


async def test_exception_logs_and_returns_a_401(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger='panther'):
        error = CookieJWTAuthentication.exception('Custom reason')
    assert isinstance(error, AuthenticationAPIError)
    assert (error.detail, error.reason) == ('Authentication Error', 'Custom reason')
    assert error.headers == {'WWW-Authenticate': 'Bearer error="invalid_token", error_description="Custom reason"'}
    assert caplog.messages == ['CookieJWTAuthentication Error: "Custom reason"']


async def test_missing_jwt_config_uses_secret_key_or_fails() -> None:
    config.JWT_CONFIG = None
    config.SECRET_KEY = None
    with pytest.raises(PantherError, match=r'`JWTConfig\.key` or `SECRET_KEY` is required'):
        JWTAuthentication.encode_jwt('1')
    config.SECRET_KEY = KEY
    token = JWTAuthentication.encode_jwt('1')
    assert jwt.decode(token, KEY, algorithms=['HS256'])['user_id'] == '1'


async def test_model_attribute_overrides_user_model() -> None:
    class Admin:
        @classmethod
        async def find_one(cls, id: Any = None) -> str:
            return f'admin {id}'

    class AdminAuthentication(JWTAuthentication):
        model = Admin

    with pytest.raises(AttributeError):
        # The result is not a model instance (a str cannot take `_auth_token`): proves `Admin` was asked.
        await AdminAuthentication()(bearer(JWTAuthentication.encode_jwt('7')))


async def test_remembered_token_still_expires(caplog: pytest.LogCaptureFixture, clock: Any) -> None:
    token = sign(claims(exp=int(clock.time()) + 60))
    assert await JWTAuthentication()(bearer(token)) is User.users['1']  # verified and remembered
    clock.advance(59)
    assert await JWTAuthentication()(bearer(token)) is User.users['1']
    clock.advance(2)
    assert await rejected(JWTAuthentication(), bearer(token), caplog) == 'Token has expired'


async def test_tokens_expire_after_their_life_time(caplog: pytest.LogCaptureFixture, clock: Any) -> None:
    config.JWT_CONFIG = JWTConfig(key=KEY, life_time=timedelta(minutes=15))
    token = JWTAuthentication.encode_jwt('1')
    clock.advance(15 * 60 - 1)
    assert await JWTAuthentication()(bearer(token)) is User.users['1']
    clock.advance(2)
    assert await rejected(JWTAuthentication(), bearer(token), caplog) == 'Token has expired'


async def test_remembered_token_does_not_survive_a_key_change(caplog: pytest.LogCaptureFixture) -> None:
    token = JWTAuthentication.encode_jwt('1')
    assert await JWTAuthentication()(bearer(token)) is User.users['1']
    config.JWT_CONFIG = JWTConfig(key='a-brand-new-signing-key-that-is-long-enough-too', life_time=60)
    assert await rejected(JWTAuthentication(), bearer(token), caplog) == 'Token signature is invalid'


async def test_verified_token_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(authentications, 'VERIFIED_TOKENS_CACHE_SIZE', 3)
    for user_id in range(10):
        JWTAuthentication.decode_jwt(sign(claims(user_id=str(user_id))))
    assert len(authentications._verified_tokens) <= 3


async def test_remembered_payload_is_a_copy() -> None:
    token = JWTAuthentication.encode_jwt('1')
    JWTAuthentication.decode_jwt(token)['user_id'] = 'changed'
    assert JWTAuthentication.decode_jwt(token)['user_id'] == '1'


async def test_authorization_header_that_is_not_utf8(caplog: pytest.LogCaptureFixture) -> None:
    request = make_request()
    request.scope['headers'] = [(b'authorization', b'Bearer \xff\xfe')]
    assert await rejected(JWTAuthentication(), request, caplog) == 'Authorization header is not valid UTF-8'


# --- issuing tokens --------------------------------------------------------------------------------------------


async def test_encode_jwt_uses_integer_times_and_token_types() -> None:
    before = int(time.time())
    access = jwt.decode(JWTAuthentication.encode_jwt('1'), KEY, algorithms=['HS256'])
    refresh = jwt.decode(JWTAuthentication.encode_jwt('1', 'refresh'), KEY, algorithms=['HS256'])
    assert access['token_type'] == 'access'
    assert refresh['token_type'] == 'refresh'
    for payload in (access, refresh):
        assert isinstance(payload['iat'], int)
        assert isinstance(payload['exp'], int)
        assert payload['iat'] >= before
    assert access['exp'] - access['iat'] == 60
    assert refresh['exp'] - refresh['iat'] == 120


async def test_login_issues_one_session_pair() -> None:
    tokens = await User.users['1'].login()
    assert set(tokens) == {'access_token', 'refresh_token'}
    access = jwt.decode(tokens['access_token'], KEY, algorithms=['HS256'])
    refresh = jwt.decode(tokens['refresh_token'], KEY, algorithms=['HS256'])
    assert access['sid'] == refresh['sid']
    assert (access['token_type'], refresh['token_type']) == ('access', 'refresh')
    other = await User.users['1'].login()
    assert jwt.decode(other['access_token'], KEY, algorithms=['HS256'])['sid'] != access['sid']


async def test_non_string_ids_are_encoded_as_text() -> None:
    class ObjectId:
        def __str__(self) -> str:
            return '65f0c0ffee'

    payload = jwt.decode(JWTAuthentication.encode_jwt(ObjectId()), KEY, algorithms=['HS256'])
    assert payload['user_id'] == '65f0c0ffee'


# --- logout, refresh and revocation (memory and Redis) -----------------------------------------------------------


async def test_logout_revokes_both_tokens_of_the_session(backend: str, caplog: pytest.LogCaptureFixture) -> None:
    tokens = await User.users['1'].login()
    user = await JWTAuthentication()(bearer(tokens['access_token']))
    await user.logout()
    assert await rejected(JWTAuthentication(), bearer(tokens['access_token']), caplog) == 'Token has been revoked'
    detail = await rejected(RefreshJWTAuthentication(), bearer(tokens['refresh_token']), caplog)
    assert detail == 'Token has been revoked'
    # Other sessions of the same user are untouched.
    other = await User.users['1'].login()
    assert await JWTAuthentication()(bearer(other['access_token'])) is User.users['1']


async def test_refresh_rotates_the_pair(backend: str, caplog: pytest.LogCaptureFixture) -> None:
    tokens = await User.users['1'].login()
    user = await RefreshJWTAuthentication()(bearer(tokens['refresh_token']))
    new_tokens = await user.refresh_tokens()
    assert new_tokens['access_token'] != tokens['access_token']
    assert await JWTAuthentication()(bearer(new_tokens['access_token'])) is User.users['1']
    # The spent session is gone: its refresh token cannot be used again, its access token neither.
    detail = await rejected(RefreshJWTAuthentication(), bearer(tokens['refresh_token']), caplog)
    assert detail == 'Token has been revoked'
    assert await rejected(JWTAuthentication(), bearer(tokens['access_token']), caplog) == 'Token has been revoked'


async def test_refresh_token_can_be_spent_only_once_even_concurrently(backend: str) -> None:
    tokens = await User.users['1'].login()
    first = await RefreshJWTAuthentication()(bearer(tokens['refresh_token']))
    second = await RefreshJWTAuthentication()(bearer(tokens['refresh_token']))
    results = await asyncio.gather(
        JWTAuthentication.refresh(first), JWTAuthentication.refresh(second), return_exceptions=True
    )
    assert sum(isinstance(result, dict) for result in results) == 1
    failure = next(result for result in results if isinstance(result, Exception))
    assert isinstance(failure, AuthenticationAPIError)
    assert failure.reason == 'Token has been revoked'


async def test_refresh_with_an_access_token_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    tokens = await User.users['1'].login()
    user = await JWTAuthentication()(bearer(tokens['access_token']))
    with caplog.at_level(logging.ERROR), pytest.raises(AuthenticationAPIError) as info:
        await user.refresh_tokens()
    assert info.value.reason == 'Invalid token type; expected `refresh` token.'
    assert caplog.messages == ['JWTAuthentication Error: "Invalid token type; expected `refresh` token."']


async def test_refresh_token_of_another_user_is_refused() -> None:
    tokens = await User.users['2'].login()
    user = User.users['1']
    user._auth_refresh_token = tokens['refresh_token']  # type: ignore[attr-defined]
    with pytest.raises(AuthenticationAPIError) as info:
        await JWTAuthentication.refresh(user)
    assert info.value.reason == 'Refresh token does not belong to this user'


async def test_refresh_and_logout_need_a_token() -> None:
    with pytest.raises(AuthenticationAPIError) as info:
        await JWTAuthentication.refresh(User('9', 'x', 'y'))
    assert info.value.reason == 'Refresh token is missing'
    with pytest.raises(AuthenticationAPIError) as info:
        await JWTAuthentication.logout(User('9', 'x', 'y'))
    assert info.value.reason == 'User is not authenticated with a token'


async def test_tokens_without_session_are_revoked_one_by_one(backend: str, caplog: pytest.LogCaptureFixture) -> None:
    first, second = JWTAuthentication.encode_jwt('1'), sign(claims(iat=int(time.time()) - 1))
    assert not await JWTAuthentication.is_token_revoked(first)
    assert await JWTAuthentication.revoke_token_in_cache(first, exp=time.time() + 60) is True
    assert await JWTAuthentication.revoke_token_in_cache(first, exp=time.time() + 60) is False
    assert await JWTAuthentication.is_token_revoked(first)
    assert not await JWTAuthentication.is_token_revoked(second)
    assert await rejected(JWTAuthentication(), bearer(first), caplog) == 'Token has been revoked'


async def test_revocation_outlives_the_access_token_until_the_refresh_token_expires() -> None:
    payload = {'iat': 1000, 'exp': 1060}
    assert JWTAuthentication._session_end(payload) == 1000 + 120


@pytest.mark.parametrize('operation', ['authenticate', 'logout', 'refresh'])
async def test_store_outage_fails_closed_with_503(operation: str, caplog: pytest.LogCaptureFixture) -> None:
    tokens = await User.users['1'].login()
    token = tokens['refresh_token'] if operation == 'refresh' else tokens['access_token']
    user = User.users['1']
    user._auth_token = token  # type: ignore[attr-defined]
    # Redis "connected" on a port where nothing listens.
    client = RedisConnection(host='127.0.0.1', port=9, socket_connect_timeout=0.5)
    client.is_connected = True
    set_redis_store(RedisStore(client))
    try:
        started = time.perf_counter()
        with caplog.at_level(logging.ERROR), pytest.raises(APIError) as info:
            if operation == 'authenticate':
                await JWTAuthentication()(bearer(token))
            elif operation == 'logout':
                await JWTAuthentication.logout(user)
            else:
                await JWTAuthentication.refresh(user)
        assert time.perf_counter() - started < 2
    finally:
        set_redis_store(None)
        await client.aclose()
    assert info.value.status_code == status.HTTP_503_SERVICE_UNAVAILABLE
    assert info.value.detail == 'Authentication is temporarily unavailable'
    assert len(caplog.records) == 1
    assert caplog.messages[0].startswith('JWTAuthentication Error: "Token revocation store is unavailable:')


# --- query parameter and cookie variants -------------------------------------------------------------------------


async def test_query_param_authentication() -> None:
    token = JWTAuthentication.encode_jwt('2')
    auth = QueryParamJWTAuthentication()
    assert await auth(make_request(query=f'authorization={token}'.encode())) is User.users['2']
    assert await auth(make_request()) is None
    # The header is not where this class looks.
    assert await auth(bearer(token)) is None


async def test_query_param_bad_token(caplog: pytest.LogCaptureFixture) -> None:
    request = make_request(query=b'authorization=nope')
    assert await rejected(QueryParamJWTAuthentication(), request, caplog) == 'Token is malformed'


async def test_cookie_authentication_keeps_the_refresh_cookie(backend: str) -> None:
    tokens = await User.users['1'].login()
    cookie = f'access_token={tokens["access_token"]}; refresh_token={tokens["refresh_token"]}'
    user = await CookieJWTAuthentication()(make_request({'Cookie': cookie}))
    assert user is User.users['1']
    assert user._auth_refresh_token == tokens['refresh_token']
    new_tokens = await JWTAuthentication.refresh(user)
    assert await CookieJWTAuthentication()(make_request({'Cookie': f'access_token={new_tokens["access_token"]}'}))


async def test_cookie_authentication_ignores_the_header() -> None:
    token = JWTAuthentication.encode_jwt('1')
    assert await CookieJWTAuthentication()(bearer(token)) is None


async def test_refresh_cookie_authentication(caplog: pytest.LogCaptureFixture) -> None:
    tokens = await User.users['1'].login()
    auth = RefreshCookieJWTAuthentication()
    user = await auth(make_request({'Cookie': f'refresh_token={tokens["refresh_token"]}'}))
    assert user is User.users['1']
    assert await JWTAuthentication.refresh(user)
    access_cookie = make_request({'Cookie': f'refresh_token={tokens["access_token"]}'})
    assert await rejected(auth, access_cookie, caplog) == 'Invalid token type; expected `refresh` token.'


# --- through the whole app ---------------------------------------------------------------------------------------

SECRET_KEY = KEY
AUTHENTICATION = 'panther.authentications.JWTAuthentication'
USER_MODEL = 'tests.test_authentications.User'
JWT_CONFIG = {'life_time': 60, 'refresh_life_time': 120}


@API(methods=['POST'])
async def login_api(request: Request) -> Response:
    data = request.data
    user = await User.find_one(username=data.get('username'))
    # One answer for "no such user" and "wrong password": the response must not reveal which it was.
    if user is None or not await user.check_password(str(data.get('password'))):
        raise AuthenticationAPIError('Invalid username or password')
    return Response(data=await user.login())


@API(permissions=[IsAuthenticated])
async def me_api(request: Request) -> dict[str, str]:
    return {'username': request.user.username}


@API(methods=['POST'], permissions=[IsAuthenticated])
async def logout_api(request: Request) -> None:
    await request.user.logout()


@API(methods=['POST'], auth=RefreshJWTAuthentication)
async def refresh_api(request: Request) -> dict[str, str]:
    return await request.user.refresh_tokens()


class ProfileSocket(GenericWebsocket):
    auth = QueryParamJWTAuthentication

    async def connect(self, **kwargs: Any) -> None:
        await self.accept()
        await self.send(f'hello {self.user.username}')
        await self.close()


URLS = {'login': login_api, 'me': me_api, 'logout': logout_api, 'refresh': refresh_api, 'ws': ProfileSocket}


@pytest.fixture
def client() -> APIClient:
    return APIClient(app=Panther(__name__, configs=__name__, urls=URLS))


async def test_app_login_me_refresh_logout(client: APIClient, backend: str) -> None:
    assert config.JWT_CONFIG == JWTConfig(key=KEY, life_time=60, refresh_life_time=120)
    response = await client.post('/login', payload={'username': 'ali', 'password': 'secret'})
    assert response.status_code == 200
    tokens = response.data

    response = await client.get('/me', headers={'Authorization': f'Bearer {tokens["access_token"]}'})
    assert (response.status_code, response.data) == (200, {'username': 'ali'})

    response = await client.get('/me', headers={'Authorization': f'Bearer {tokens["refresh_token"]}'})
    assert refusal_reason(response) == 'Invalid token type; expected `access` token.'

    response = await client.post('/refresh', headers={'Authorization': f'Bearer {tokens["refresh_token"]}'})
    assert response.status_code == 200
    new_tokens = response.data
    response = await client.post('/refresh', headers={'Authorization': f'Bearer {tokens["refresh_token"]}'})
    assert refusal_reason(response) == 'Token has been revoked'

    headers = {'Authorization': f'Bearer {new_tokens["access_token"]}'}
    assert (await client.post('/logout', headers=headers)).status_code == 200
    response = await client.get('/me', headers=headers)
    assert refusal_reason(response) == 'Token has been revoked'


@API(methods=['GET'], cache=timedelta(minutes=5))
async def junk_cached_api(request: Request) -> dict[str, str]:
    return {'query': str(request.query_params)}


@API(methods=['POST'], throttling=Throttle(rate=5, duration=timedelta(minutes=1)))
async def junk_sign_up_api(request: Request) -> Response:
    return Response(data={'detail': 'invalid sign-up'}, status_code=status.HTTP_400_BAD_REQUEST)


async def test_app_junk_requests_never_undo_a_logout(caplog: pytest.LogCaptureFixture) -> None:
    # The reproduction at a tenth of the scale: a store of 1,000 keys (the default is 10,000) and 1,050 junk
    # requests (10,500 before). Logged-out and spent tokens must stay refused; once the security state alone fills
    # the store, new state is refused with 503 instead of forgetting old state.
    reset_memory_store()
    app = Panther(__name__, configs=__name__, urls={**URLS, 'junk': junk_cached_api, 'signup': junk_sign_up_api})
    config.STORE_MAX_ENTRIES = 1_000
    config.TRUSTED_PROXIES = ['127.0.0.1']
    client = APIClient(app=app)
    first = (await client.post('/login', payload={'username': 'ali', 'password': 'secret'})).data
    second = (await client.post('/refresh', headers={'Authorization': f'Bearer {first["refresh_token"]}'})).data
    assert (await client.post('/logout', headers={'Authorization': f'Bearer {second["access_token"]}'})).status_code

    for number in range(525):
        assert (await client.get('/junk', query_params={'n': number})).status_code == 200
    statuses: dict[int, int] = {}
    with caplog.at_level(logging.ERROR, logger='panther'):
        for number in range(525):
            address = f'10.0.{number // 250}.{number % 250}'
            response = await client.post('/signup', headers={'X-Forwarded-For': address})
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
    # 2 revocation markers + 525 throttle counters fit: every junk sign-up was answered, the cache made room.
    assert statuses == {400: 525}
    for number in range(525, 1_050):
        address = f'10.1.{number // 250}.{number % 250}'
        response = await client.post('/signup', headers={'X-Forwarded-For': address})
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
    assert statuses == {400: 998, 503: 52}
    assert 'STORE_MAX_ENTRIES=1000' in caplog.text

    for token in (first['access_token'], second['access_token']):
        response = await client.get('/me', headers={'Authorization': f'Bearer {token}'})
        assert refusal_reason(response) == 'Token has been revoked'
    for token in (first['refresh_token'], second['refresh_token']):
        response = await client.post('/refresh', headers={'Authorization': f'Bearer {token}'})
        assert refusal_reason(response) == 'Token has been revoked'


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return int(probe.getsockname()[1])


@API(
    auth=JWTAuthentication,
    permissions=[IsAuthenticated],
    throttling=Throttle(rate=3, duration=timedelta(minutes=1)),
)
async def throttled_me_api(request: Request) -> dict[str, str]:
    return {'username': request.user.username}


@API(
    auth=JWTAuthentication,
    permissions=[IsAuthenticated],
    throttling=Throttle(rate=100, duration=timedelta(minutes=1)),
    cache=timedelta(minutes=1),
)
async def throttled_cached_api(request: Request) -> dict[str, str]:
    return {'username': request.user.username}


async def deny_everyone(request: Request) -> bool:
    return False


@API(auth=JWTAuthentication, permissions=[deny_everyone], throttling=Throttle(rate=100, duration=timedelta(minutes=1)))
async def forbidden_api(request: Request) -> dict[str, str]:
    return {}


async def test_authenticated_throttled_request_is_one_redis_round_trip(
    redis_address: tuple[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    from panther.db.connections.redis import close_redis, load_redis

    urls = {**URLS, 'throttled': throttled_me_api, 'cached': throttled_cached_api, 'forbidden': forbidden_api}
    app = Panther(__name__, configs=__name__, urls=urls)
    host, port = redis_address
    load_redis({'host': host, 'port': port})
    trips = RoundTrips(monkeypatch)
    try:
        client = APIClient(app=app)
        user = User(f'u-{uuid.uuid4().hex}', 'round', 'trip')  # Redis outlives a run: a user no run has used
        User.users[user.id] = user
        tokens = await user.login()
        bearer = {'Authorization': f'Bearer {tokens["access_token"]}'}
        await client.get('/throttled', headers=bearer)  # first use: connection set-up, scripts loaded
        await client.get('/cached', headers=bearer)

        # JWT auth (revocation checked) + throttle counter: one round trip.
        response, count = await trips.during(client.get('/throttled', headers=bearer))
        assert (response.status_code, count) == (200, 1)
        # A cache hit (the entry this process read or wrote is reused) adds nothing to it.
        response, count = await trips.during(client.get('/cached', headers=bearer))
        assert (response.status_code, response.data, count) == (200, {'username': 'round'}, 1)
        # Past the limit (3): still one round trip, and a 429.
        await client.get('/throttled', headers=bearer)
        response, count = await trips.during(client.get('/throttled', headers=bearer))
        assert (response.status_code, count) == (429, 1)

        # A revoked token is refused as revoked, in the same single round trip, and is not counted.
        assert (await client.post('/logout', headers=bearer)).status_code == 200
        response, count = await trips.during(client.get('/cached', headers=bearer))
        assert (refusal_reason(response), count) == ('Token has been revoked', 1)
        # Refused by a permission: the revocation is still checked first (a revoked token is a 401, not a 403).
        response = await client.get('/forbidden', headers=bearer)
        assert refusal_reason(response) == 'Token has been revoked'
        fresh = {'Authorization': f'Bearer {(await user.login())["access_token"]}'}
        response, count = await trips.during(client.get('/forbidden', headers=fresh))
        assert (response.status_code, count) == (403, 1)

        # Redis goes away: the throttle would fail open, but the revocation check it carries fails closed.
        from panther._internal.store import get_store
        from panther.db.connections.redis import redis

        redis.connection_pool.connection_kwargs['port'] = free_port()
        get_store().close_wire()  # type: ignore[attr-defined]
        response = await client.get('/throttled', headers=fresh)
        assert (response.status_code, response.data) == (503, {'detail': 'Authentication is temporarily unavailable'})
    finally:
        await close_redis()


async def test_deferred_revocation_check_on_the_memory_store(client: APIClient) -> None:
    hourly = Throttle(rate=9, duration=timedelta(hours=1))

    @API(auth=JWTAuthentication, permissions=[IsAuthenticated], throttling=hourly)
    async def guarded(request: Request) -> dict[str, str]:
        return {'username': request.user.username}

    app = Panther(__name__, configs=__name__, urls={**URLS, 'guarded': guarded, 'forbidden': forbidden_api})
    client = APIClient(app=app)
    tokens = await User.users['1'].login()
    bearer = {'Authorization': f'Bearer {tokens["access_token"]}'}
    assert (await client.get('/guarded', headers=bearer)).headers['RateLimit-Remaining'] == '8'
    assert (await client.post('/logout', headers=bearer)).status_code == 200
    assert refusal_reason(await client.get('/guarded', headers=bearer)) == 'Token has been revoked'
    assert refusal_reason(await client.get('/forbidden', headers=bearer)) == 'Token has been revoked'
    # The refused request was not counted.
    fresh = {'Authorization': f'Bearer {(await User.users["1"].login())["access_token"]}'}
    assert (await client.get('/guarded', headers=fresh)).headers['RateLimit-Remaining'] == '7'


HOSTILE_USER_IDS = [{'$ne': None}, {'$gt': ''}, ['1'], 10**30, -(10**30), True, 1.5, '', 'x' * 65, 'a\x00b', {}]


@pytest.mark.parametrize('user_id', HOSTILE_USER_IDS, ids=repr)
async def test_hostile_user_id_claims_never_reach_a_query(
    user_id: Any, client: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The reproduction (with the signing key): `{"$ne": null}` logged in as the first user, a list answered 500
    # `DatabaseError` and 10**30 a 500 `OverflowError`. Now: a 401 before any query.
    queries: list[Any] = []
    original = User.find_one

    async def counting_find_one(id: Any = None, username: str | None = None) -> User | None:
        queries.append(id)
        return await original(id=id, username=username)

    monkeypatch.setattr(User, 'find_one', counting_find_one)
    response = await client.get('/me', headers={'Authorization': f'Bearer {sign(claims(user_id=user_id))}'})
    assert refusal_reason(response) == 'Token `user_id` is not a valid id'
    assert queries == []


@pytest.mark.parametrize('session_id', [{'$ne': None}, ['a'], 7, '', 'x' * 65])
async def test_hostile_session_id_claims_are_refused(session_id: Any, client: APIClient) -> None:
    response = await client.get('/me', headers={'Authorization': f'Bearer {sign(claims(sid=session_id))}'})
    assert refusal_reason(response) == 'Token `sid` is not valid'


async def test_plain_ids_of_every_engine_still_authenticate(client: APIClient) -> None:
    ulid = '01J0000000000000000000000Z'
    User.users |= {ulid: User(ulid, 'ulid', 'x'), 7: User(7, 'int', 'x')}
    for user_id, name in ((ulid, 'ulid'), (7, 'int'), ('1', 'ali')):
        response = await client.get('/me', headers={'Authorization': f'Bearer {sign(claims(user_id=user_id))}'})
        assert (response.status_code, response.data) == (200, {'username': name})


@pytest.mark.parametrize('engine', ['sqlite', pytest.param('mongodb', marks=pytest.mark.mongodb)])
async def test_operator_in_user_id_does_not_log_in_as_the_first_user(engine: str, tmp_path: Any, request: Any) -> None:
    from panther.db.connections import load_database
    from panther.db.models import BaseUser

    class Member(BaseUser):
        pass

    if engine == 'sqlite':
        load_database({'engine': {'class': 'panther.db.connections.PantherDBConnection', 'path': tmp_path / 'a.db'}})
    else:
        host, port = request.getfixturevalue('mongodb_address')
        database = f'panther_claims_{uuid.uuid4().hex[:12]}'
        url = f'mongodb://{host}:{port}/{database}'
        load_database({'engine': {'class': 'panther.db.connections.MongoDBConnection', 'host': url}})
    try:
        first = await Member.insert_one(username='first')
        app = Panther(__name__, configs=__name__, urls=URLS)
        config.USER_MODEL = Member  # after the app read this module's settings
        client = APIClient(app=app)
        not_an_object_id = 'not-an-object-id-but-24c'  # 24 characters, but not hex: MongoDB ids are ObjectIds
        for user_id in ({'$ne': None}, [str(first.id)], 10**30, not_an_object_id if engine == 'mongodb' else {}):
            response = await client.get('/me', headers={'Authorization': f'Bearer {sign(claims(user_id=user_id))}'})
            assert refusal_reason(response) == 'Token `user_id` is not a valid id', user_id
        response = await client.get('/me', headers={'Authorization': f'Bearer {sign(claims(user_id=str(first.id)))}'})
        assert (response.status_code, response.data) == (200, {'username': 'first'})
    finally:
        await config.DATABASE.close()


async def test_app_anonymous_request_is_unauthorised_with_a_challenge(client: APIClient) -> None:
    response = await client.get('/me')
    assert (response.status_code, response.data) == (401, {'detail': 'Authentication Error'})
    assert response.headers['WWW-Authenticate'] == 'Bearer'


@pytest.mark.parametrize(
    ('header', 'detail'),
    [
        ('Bearer', 'Authorization header must contain 2 parts'),
        ('Bearer not-a-jwt', 'Token is malformed'),
        (f'Bearer {sign(claims(exp=1, iat=0))}', 'Token has expired'),
        (f'Bearer {sign(claims(), key="x" * 48)}', 'Token signature is invalid'),
    ],
)
async def test_app_bad_tokens_are_401(client: APIClient, header: str, detail: str) -> None:
    response = await client.get('/me', headers={'Authorization': header})
    assert refusal_reason(response) == detail


async def test_app_wrong_password_and_unknown_user_look_the_same(client: APIClient) -> None:
    wrong_password = await client.post('/login', payload={'username': 'ali', 'password': 'nope'})
    unknown_user = await client.post('/login', payload={'username': 'nobody', 'password': 'nope'})
    assert wrong_password.status_code == unknown_user.status_code == 401
    assert wrong_password.data == unknown_user.data == {'detail': 'Invalid username or password'}


async def test_app_websocket_query_param_authentication(client: APIClient) -> None:
    app = client.app
    token = JWTAuthentication.encode_jwt('2')
    messages = await WebsocketClient(app).aconnect('/ws', query_params={'authorization': token})
    assert messages[0]['type'] == 'websocket.accept'
    assert messages[1] == {'type': 'websocket.send', 'text': 'hello sara'}

    rejected_messages = await WebsocketClient(app).aconnect('/ws', query_params={'authorization': 'bad'})
    # Refused in the handshake: an HTTP 401 answer, never an accepted socket.
    assert [m['type'] for m in rejected_messages] == ['websocket.http.response.start', 'websocket.http.response.body']
    assert rejected_messages[0]['status'] == 401


async def test_jwt_config_is_loaded_when_only_endpoints_use_jwt() -> None:
    # No global AUTHENTICATION: the JWT_CONFIG block still applies to `auth=JWTAuthentication` endpoints.
    module = types.ModuleType('jwt_only_endpoints')
    module.SECRET_KEY = KEY
    module.JWT_CONFIG = {'life_time': timedelta(minutes=5)}
    sys.modules[module.__name__] = module
    try:
        Panther(module.__name__, configs=module.__name__, urls={'me': me_api})
    finally:
        del sys.modules[module.__name__]
    assert config.JWT_CONFIG == JWTConfig(key=KEY, life_time=300, refresh_life_time=600)
    token = JWTAuthentication.encode_jwt('1')
    claims = jwt.decode(token, KEY, algorithms=['HS256'])
    assert claims['exp'] - claims['iat'] == 300


async def test_cookie_authentication_can_treat_bad_cookies_as_anonymous() -> None:
    class BrowserCookies(CookieJWTAuthentication):
        invalid_token_is_anonymous = True

    expired = jwt.encode({'token_type': 'access', 'user_id': '1', 'iat': 1, 'exp': 2}, KEY, algorithm='HS256')
    for cookie in (f'access_token={expired}', 'access_token=garbage'):
        assert await BrowserCookies()(make_request({'Cookie': cookie})) is None
        with pytest.raises(AuthenticationAPIError):
            await CookieJWTAuthentication()(make_request({'Cookie': cookie}))
    valid = JWTAuthentication.encode_jwt('1')
    assert (await BrowserCookies()(make_request({'Cookie': f'access_token={valid}'}))).id == '1'
