"""`BaseUser` passwords: both 5.x call styles of `check_password`, and password changes ending old sessions."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from panther import Panther
from panther.app import API
from panther.authentications import JWTAuthentication
from panther.configs import config
from panther.db.connections import load_database
from panther.db.models import BaseUser
from panther.exceptions import AuthenticationAPIError
from panther.request import Request
from panther.test import APIClient

SECRET_KEY = 'k' * 48
AUTHENTICATION = 'panther.authentications.JWTAuthentication'


class Member(BaseUser):
    pass


USER_MODEL = Member


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[None]:
    load_database({'engine': {'class': 'panther.db.connections.PantherDBConnection', 'path': tmp_path / 'db.sqlite3'}})
    yield
    await config.DATABASE.close()


def _hash(password: str) -> str:
    from panther.db.models import _password_digest

    salt = bytes(range(16))
    return salt.hex() + _password_digest(password, salt)


# scrypt takes about half a second: the stored hash is computed once for the whole module.
RIGHT_HASH = _hash('right horse')


@pytest.fixture
async def member(database: None) -> Member:
    return await Member.insert_one(username='ali', password=RIGHT_HASH)


def check_plainly(user: Member, password: Any) -> Any:
    # The 5.x call style: no `await`.
    return user.check_password(password)


async def test_both_call_styles_give_the_right_answer(member: Member) -> None:
    awaited = [await member.check_password(password) for password in ('right horse', 'wrong horse', '')]
    plain = [check_plainly(member, password) for password in ('right horse', 'wrong horse', '')]
    assert awaited == plain == [True, False, False]
    assert all(type(result) is bool for result in awaited + plain)


async def test_plain_call_from_a_thread_returns_a_bool(member: Member) -> None:
    assert await asyncio.to_thread(check_plainly, member, 'wrong horse') is False


async def test_user_without_a_password_matches_nothing(database: None) -> None:
    user = await Member.insert_one(username='nopass')
    assert user.password == ''
    assert await user.check_password('') is False
    assert await user.check_password('anything') is False
    assert check_plainly(user, '') is False
    assert check_plainly(user, 'anything') is False


async def test_acheck_password_works_where_the_call_is_not_awaited_directly(member: Member) -> None:
    results = await asyncio.gather(member.acheck_password('right horse'), member.acheck_password('nope'))
    assert results == [True, False]


async def test_non_string_passwords_never_match(member: Member) -> None:
    assert check_plainly(member, None) is False
    assert await member.check_password(b'right horse') is False  # type: ignore[arg-type]


async def test_plain_call_on_the_event_loop_warns_once(database: None, caplog: pytest.LogCaptureFixture) -> None:
    from panther.db import models

    user = await Member.insert_one(username='nopass')
    models._warned_sync_check = False
    with caplog.at_level(logging.WARNING, logger='panther'):
        check_plainly(user, 'x')
        check_plainly(user, 'y')
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert 'without `await`' in warnings[0]


# A login endpoint written the Panther 5.x way: `check_password` called without `await`.
@API(methods=['POST'])
async def legacy_login(request: Request) -> Any:
    user = await Member.find_one(username=request.data.get('username'))
    if user is None or not user.check_password(request.data.get('password')):
        raise AuthenticationAPIError
    return await user.login()


@API()
async def me(request: Request) -> Any:
    return {'username': request.user.username}


URLS = {'login': legacy_login, 'me': me}


@pytest.fixture
def client(member: Member) -> APIClient:
    return APIClient(app=Panther(__name__, configs=__name__, urls=URLS))


async def test_legacy_login_endpoint_refuses_a_wrong_password(client: APIClient) -> None:
    wrong = await client.post('/login', payload={'username': 'ali', 'password': 'wrong horse'})
    assert (wrong.status_code, wrong.data) == (401, {'detail': 'Authentication Error'})
    right = await client.post('/login', payload={'username': 'ali', 'password': 'right horse'})
    assert right.status_code == 200
    assert set(right.data) == {'access_token', 'refresh_token'}


async def test_a_password_change_ends_the_sessions_issued_before_it(client: APIClient, member: Member) -> None:
    old = await member.login()
    old_headers = {'Authorization': f'Bearer {old["access_token"]}'}
    assert (await client.get('/me', headers=old_headers)).status_code == 200

    await member.set_password('new horse')

    response = await client.get('/me', headers=old_headers)
    assert (response.status_code, response.data) == (401, {'detail': 'Authentication Error'})
    assert 'issued before the password changed' in response.headers['WWW-Authenticate']

    stored = await Member.find_one(id=member.id)
    new = await stored.login()
    response = await client.get('/me', headers={'Authorization': f'Bearer {new["access_token"]}'})
    assert (response.status_code, response.data) == (200, {'username': 'ali'})


async def test_a_refresh_token_issued_before_a_password_change_is_refused(member: Member) -> None:
    from panther.authentications import RefreshJWTAuthentication

    config.AUTHENTICATION, config.USER_MODEL, config.SECRET_KEY = JWTAuthentication, Member, SECRET_KEY
    tokens = await member.login()
    await member.set_password('new horse')
    with pytest.raises(AuthenticationAPIError) as refused:
        await RefreshJWTAuthentication().authenticate_token(tokens['refresh_token'])
    assert refused.value.reason == 'Token was issued before the password changed'
