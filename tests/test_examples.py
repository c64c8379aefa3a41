"""The example apps, driven end to end through the in-process clients (and once through a real server).

Every test gets the canonical app built from scratch: its settings module is re-imported with a fresh
environment (a database file in the test's temporary directory, no MongoDB, no Redis) and `main.py` is
re-imported after `Event.clear()`, so the start-up hooks are registered exactly once and nothing leaks from one
test (or from another test module) into the next.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import importlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from examples.canonical.app.models import Note, User
from panther.configs import config
from panther.db.connections import MongoDBConnection, PantherDBConnection
from panther.events import Event
from panther.test import APIClient, WebsocketClient
from tests._core_helpers import check_unique_sign_up, refusal_reason

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIGS = 'examples.canonical.core.configs'
MAIN = 'examples.canonical.main'
# Variables read by examples/canonical/core/configs.py.
SETTINGS_VARIABLES = (
    'PANTHER_DB_PATH',
    'MONGODB_URL',
    'REDIS_HOST',
    'REDIS_PORT',
    'SECRET_KEY',
    'CORS_ORIGINS',
    'TRUSTED_PROXIES',
)
PASSWORD = 'correct horse battery'


def fresh_module(name: str) -> ModuleType:
    """Import `name`, or re-execute it when it was imported before (it reads the environment at import time)."""
    module = sys.modules.get(name)
    return importlib.reload(module) if module is not None else importlib.import_module(name)


@pytest.fixture
def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """A development environment: nothing set except a per-test database file."""
    for name in SETTINGS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv('PANTHER_DB_PATH', str(tmp_path / 'notes.pdb'))
    return monkeypatch


@pytest.fixture
def clean_events() -> Iterator[None]:
    Event.clear()
    yield
    Event.clear()


def build_app() -> Any:
    """The canonical app for the current environment variables."""
    fresh_module(CONFIGS)
    return fresh_module(MAIN).app


@pytest.fixture
async def client(environment: pytest.MonkeyPatch, clean_events: None) -> AsyncIterator[APIClient]:
    async with APIClient(build_app()) as api:  # runs the start-up and shutdown hooks
        yield api


@dataclass
class Account:
    user: User
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {'Authorization': f'Bearer {self.access_token}'}


async def account(username: str) -> Account:
    """A user with tokens, made directly: scrypt costs ~0.5 s, so only the sign-up/login tests pay for it."""
    user = await User.insert_one(username=username)
    tokens = await user.login()
    return Account(user, tokens['access_token'], tokens['refresh_token'])


async def create_note(api: APIClient, owner: Account, **fields: Any) -> dict[str, Any]:
    response = await api.post('/notes/', payload={'title': 'A note', **fields}, headers=owner.headers)
    assert response.status_code == 201, response.data
    return response.data


# --- service -----------------------------------------------------------------------------------------------------


async def test_health_is_ok_after_the_start_up_hook_ran(client: APIClient) -> None:
    response = await client.get('/health/')
    assert response.status_code == 200
    assert response.data['status'] == 'ok'
    assert response.data['database'] == 'ok'
    assert response.data['started_at'] is not None  # set by the @Event.startup hook in main.py


async def test_health_without_redis_says_so(client: APIClient) -> None:
    response = await client.get('/health/')
    assert response.status_code == 200
    assert response.data['redis'] == 'not configured'


class _RedisRelay:
    """A TCP relay in front of the test Redis that can be cut, as when the Redis server goes away.

    It runs its own event loop in a thread: the app pings Redis synchronously while it is being configured.
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=10)

    def start(self) -> int:
        self.thread.start()
        self.server = self._run(asyncio.start_server(self._relay, '127.0.0.1', 0))
        return self.server.sockets[0].getsockname()[1]

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        self.writers += [writer, upstream_writer]

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while chunk := await source.read(65536):
                    sink.write(chunk)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))

    async def _cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()

    def cut(self) -> None:
        self._run(self._cut())

    def stop(self) -> None:
        self.cut()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


async def test_health_checks_redis(
    environment: pytest.MonkeyPatch, clean_events: None, redis_address: tuple[str, int]
) -> None:
    relay = _RedisRelay(redis_address)
    environment.setenv('REDIS_HOST', '127.0.0.1')
    environment.setenv('REDIS_PORT', str(relay.start()))
    try:
        async with APIClient(build_app()) as api:
            response = await api.get('/health/')
            assert response.status_code == 200
            assert (response.data['status'], response.data['database'], response.data['redis']) == ('ok', 'ok', 'ok')
            relay.cut()
            response = await api.get('/health/')
            assert response.status_code == 503
            assert response.data == {'status': 'unavailable', 'database': 'ok', 'redis': 'unavailable'}
    finally:
        relay.stop()


async def test_start_up_and_shutdown_hooks_log(
    environment: pytest.MonkeyPatch, clean_events: None, caplog: pytest.LogCaptureFixture
) -> None:
    app = build_app()
    with caplog.at_level('INFO', logger='panther'):
        async with APIClient(app) as api:
            assert (await api.get('/health/')).status_code == 200
    messages = [record.getMessage() for record in caplog.records]
    assert messages.index('Notes service started') < messages.index('Notes service stopped')


async def test_unknown_path_and_wrong_method(client: APIClient) -> None:
    assert (await client.get('/nothing-here/')).status_code == 404
    response = await client.delete('/health/')
    assert response.status_code == 405
    assert response.headers['Allow'] == 'GET, HEAD, OPTIONS'


# --- sign-up, login, refresh, logout --------------------------------------------------------------------------------


async def test_sign_up(client: APIClient) -> None:
    response = await client.post('/auth/signup/', payload={'username': 'Alice', 'password': PASSWORD})
    assert response.status_code == 201
    assert set(response.data) == {'id', 'username', 'date_created', 'last_login'}  # never the password hash
    assert response.data['username'] == 'alice'
    user = await User.find_one_or_raise(id=response.data['id'])
    assert user.password and PASSWORD not in user.password
    assert await user.check_password(PASSWORD)

    # Usernames are case-insensitive: `ALICE` is taken too.
    response = await client.post('/auth/signup/', payload={'username': 'ALICE', 'password': PASSWORD})
    assert response.status_code == 400
    assert response.data == {'username': 'This username is taken.'}
    assert await User.count() == 1


async def test_sign_up_names_are_unique_even_when_the_early_check_misses(
    client: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    await check_unique_sign_up(client, monkeypatch, User, '/auth/signup/', PASSWORD)


async def test_sign_up_validation(client: APIClient) -> None:
    response = await client.post('/auth/signup/', payload={'username': 'a b', 'password': 'short'})
    assert response.status_code == 400
    assert set(response.data) == {'username', 'password'}
    response = await client.post('/auth/signup/', payload=['not', 'an', 'object'])
    assert response.status_code == 400
    response = await client.post('/auth/signup/', payload=b'{"username": ', content_type='application/json')
    assert response.status_code == 400
    assert await User.count() == 0


async def test_login(client: APIClient) -> None:
    await client.post('/auth/signup/', payload={'username': 'alice', 'password': PASSWORD})

    response = await client.post('/auth/login/', payload={'username': 'alice', 'password': PASSWORD})
    assert response.status_code == 200
    assert set(response.data) == {'access_token', 'refresh_token'}
    assert response.headers['RateLimit-Limit'] == '5'
    me = await client.get('/auth/me/', headers={'Authorization': f'Bearer {response.data["access_token"]}'})
    assert me.status_code == 200
    assert me.data['username'] == 'alice'
    assert me.data['last_login'] is not None

    # A wrong password and an unknown username get the very same answer: no user enumeration.
    wrong_password = await client.post('/auth/login/', payload={'username': 'alice', 'password': 'nope-nope'})
    unknown_user = await client.post('/auth/login/', payload={'username': 'mallory', 'password': PASSWORD})
    assert wrong_password.status_code == unknown_user.status_code == 401
    assert wrong_password.data == unknown_user.data == {'detail': 'Invalid username or password'}


async def test_login_is_throttled(client: APIClient) -> None:
    # Throttling runs before the body is validated, so every attempt counts, even malformed ones.
    for _ in range(5):
        assert (await client.post('/auth/login/', payload={})).status_code == 400
    response = await client.post('/auth/login/', payload={'username': 'alice', 'password': PASSWORD})
    assert response.status_code == 429
    assert response.data == {'detail': 'Too Many Request'}
    assert int(response.headers['Retry-After']) > 0
    assert response.headers['RateLimit-Remaining'] == '0'
    # Other endpoints are not affected.
    assert (await client.get('/health/')).status_code == 200


async def test_login_limit_is_per_address_whatever_tokens_are_sent(client: APIClient) -> None:
    # An attacker with many accounts of their own must not get 5 guesses a minute per account.
    tokens = [(await account(f'attacker{number}')).headers for number in range(6)]
    statuses = [(await client.post('/auth/login/', payload={}, headers=headers)).status_code for headers in tokens]
    assert statuses == [400] * 5 + [429]
    # Sign-up is keyed the same way: a token changes nothing about the bucket.
    await client.post('/auth/signup/', payload={})
    response = await client.post('/auth/signup/', payload={}, headers=tokens[0])
    assert (response.headers['RateLimit-Limit'], response.headers['RateLimit-Remaining']) == ('20', '18')


async def test_login_is_also_limited_per_target_account(client: APIClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from examples.canonical.app import apis

    # Guesses at one account from many addresses (behind a trusted proxy here). The real limit is 10 a minute;
    # 1 keeps the test to one password check (~1 s of scrypt).
    monkeypatch.setattr(apis.LOGIN_PER_USERNAME, 'rate', 1)
    monkeypatch.setattr(config, 'TRUSTED_PROXIES', ['127.0.0.1'], raising=False)
    guess = {'username': 'Victim', 'password': 'wrong-password'}
    first = await client.post('/auth/login/', payload=guess, headers={'X-Forwarded-For': '10.0.0.1'})
    assert first.status_code == 401
    second = await client.post('/auth/login/', payload=guess, headers={'X-Forwarded-For': '10.0.0.2'})
    assert (second.status_code, second.data) == (429, {'detail': 'Too Many Request'})
    assert second.headers['RateLimit-Limit'] == '1'


async def test_me_needs_a_valid_access_token(client: APIClient) -> None:
    alice = await account('alice')
    assert (await client.get('/auth/me/')).status_code == 401  # anonymous: IsAuthenticated asks for credentials
    response = await client.get('/auth/me/', headers={'Authorization': 'Bearer not-a-jwt'})
    assert refusal_reason(response) == 'Token is malformed'
    response = await client.get('/auth/me/', headers={'Authorization': f'Bearer {alice.refresh_token}'})
    assert response.status_code == 401  # a refresh token is never an access token
    response = await client.get('/auth/me/', headers=alice.headers)
    assert response.status_code == 200
    assert response.data['id'] == alice.user.id
    assert 'password' not in response.data


async def test_refresh_rotates_the_pair(client: APIClient) -> None:
    alice = await account('alice')
    bearer = {'Authorization': f'Bearer {alice.refresh_token}'}

    # The access token cannot refresh.
    response = await client.post('/auth/refresh/', headers=alice.headers)
    assert refusal_reason(response) == 'Invalid token type; expected `refresh` token.'
    assert (await client.post('/auth/refresh/')).status_code == 401

    response = await client.post('/auth/refresh/', headers=bearer)
    assert response.status_code == 200
    new = response.data
    assert set(new) == {'access_token', 'refresh_token'}

    # The old session is gone: its refresh token is spent and its access token revoked.
    response = await client.post('/auth/refresh/', headers=bearer)
    assert refusal_reason(response) == 'Token has been revoked'
    assert (await client.get('/auth/me/', headers=alice.headers)).status_code == 401
    response = await client.get('/auth/me/', headers={'Authorization': f'Bearer {new["access_token"]}'})
    assert response.status_code == 200


async def test_logout_revokes_the_session(client: APIClient) -> None:
    alice = await account('alice')
    other_session = await alice.user.login()
    assert (await client.post('/auth/logout/')).status_code == 401

    response = await client.post('/auth/logout/', headers=alice.headers)
    assert response.status_code == 204
    assert response.data is None

    response = await client.get('/notes/', headers=alice.headers)
    assert refusal_reason(response) == 'Token has been revoked'
    response = await client.post('/auth/refresh/', headers={'Authorization': f'Bearer {alice.refresh_token}'})
    assert response.status_code == 401
    # Only that session: a login elsewhere keeps working.
    response = await client.get('/auth/me/', headers={'Authorization': f'Bearer {other_session["access_token"]}'})
    assert response.status_code == 200


# --- notes ---------------------------------------------------------------------------------------------------------


async def test_note_crud(client: APIClient) -> None:
    alice = await account('alice')

    response = await client.post(
        '/notes/', payload={'title': '  Groceries ', 'body': 'milk', 'tags': ['home']}, headers=alice.headers
    )
    assert response.status_code == 201
    note = response.data
    assert note['title'] == 'Groceries'  # str_strip_whitespace in the serializer's Config
    assert note['pinned'] is False
    assert note['owner'] == {'id': alice.user.id, 'username': 'alice'}
    assert set(note) == {'id', 'title', 'body', 'tags', 'pinned', 'created_at', 'owner'}
    url = f'/notes/{note["id"]}/'

    response = await client.get(url, headers=alice.headers)
    assert response.status_code == 200
    assert response.data == note

    # PATCH writes only what was sent.
    response = await client.patch(url, payload={'pinned': True}, headers=alice.headers)
    assert response.status_code == 200
    assert response.data == {**note, 'pinned': True}

    # PUT replaces every field: what is not sent goes back to its default.
    response = await client.put(url, payload={'title': 'Shopping'}, headers=alice.headers)
    assert response.status_code == 200
    assert response.data == {**note, 'title': 'Shopping', 'body': '', 'tags': []}
    stored = await Note.find_one_or_raise(id=note['id'])
    assert (stored.title, stored.body, stored.tags, stored.pinned) == ('Shopping', '', [], False)

    response = await client.delete(url, headers=alice.headers)
    assert response.status_code == 204
    assert (await client.get(url, headers=alice.headers)).status_code == 404
    assert await Note.count() == 0


async def test_note_validation_errors(client: APIClient) -> None:
    alice = await account('alice')
    response = await client.post('/notes/', payload={'body': 'no title', 'tags': 'x'}, headers=alice.headers)
    assert response.status_code == 400
    assert response.data == {'title': 'Field required', 'tags': 'Input should be a valid list'}
    response = await client.post('/notes/', payload={'title': 'x' * 201}, headers=alice.headers)
    assert response.status_code == 400
    assert set(response.data) == {'title'}
    response = await client.post('/notes/', payload={'title': '   '}, headers=alice.headers)
    assert response.status_code == 400  # stripped to '' and then too short
    response = await client.post(
        '/notes/', payload={'title': 'ok', 'tags': [str(i) for i in range(11)]}, headers=alice.headers
    )
    assert response.status_code == 400
    assert await Note.count() == 0

    note = await create_note(client, alice)
    url = f'/notes/{note["id"]}/'
    response = await client.patch(url, payload={'title': ''}, headers=alice.headers)
    assert response.status_code == 400
    assert response.data == {'title': 'String should have at least 1 character'}
    response = await client.put(url, payload={'body': 'a PUT without a title'}, headers=alice.headers)
    assert response.status_code == 400
    assert (await Note.find_one_or_raise(id=note['id'])).title == 'A note'

    # Sending an owner does not change the owner: it is not an input field.
    bob = await account('bob')
    response = await client.post('/notes/', payload={'title': 'mine', 'owner': bob.user.id}, headers=alice.headers)
    assert response.status_code == 201
    assert response.data['owner']['id'] == alice.user.id


async def test_notes_need_authentication(client: APIClient) -> None:
    alice = await account('alice')
    note = await create_note(client, alice)
    assert (await client.get('/notes/')).status_code == 401
    assert (await client.post('/notes/', payload={'title': 'x'})).status_code == 401
    assert (await client.get(f'/notes/{note["id"]}/')).status_code == 401
    assert (await client.delete(f'/notes/{note["id"]}/')).status_code == 401
    assert await Note.count() == 1


async def test_other_users_cannot_read_change_or_delete_my_notes(client: APIClient) -> None:
    alice, bob = await account('alice'), await account('bob')
    note = await create_note(client, alice, body='secret')
    url = f'/notes/{note["id"]}/'

    assert (await client.get(url, headers=bob.headers)).status_code == 403
    assert (await client.put(url, payload={'title': 'mine now'}, headers=bob.headers)).status_code == 403
    assert (await client.patch(url, payload={'body': 'gone'}, headers=bob.headers)).status_code == 403
    assert (await client.delete(url, headers=bob.headers)).status_code == 403
    # Permissions run before the body is validated: an invalid body from a stranger is still a 403.
    assert (await client.patch(url, payload={'title': ''}, headers=bob.headers)).status_code == 403

    listing = await client.get('/notes/', headers=bob.headers)
    assert listing.data == {'count': 0, 'next': None, 'previous': None, 'results': []}
    assert (await client.get(url, headers=alice.headers)).data == note

    # A note that does not exist is a 404 for everyone, whatever the id looks like.
    for missing in ('01ARZ3NDEKTSV4RRFFQ69G5FAV', 'not-an-id'):
        response = await client.get(f'/notes/{missing}/', headers=bob.headers)
        assert response.status_code == 404
        assert response.data == {'detail': 'Note Does Not Exist'}


async def test_list_pagination_search_filter_and_sort(client: APIClient) -> None:
    alice, bob = await account('alice'), await account('bob')
    for title, body, pinned in [
        ('Banana bread', 'flour, bananas', False),
        ('apple pie', 'apples', True),
        ('Cherry jam', 'sugar and cherries', False),
        ('Date shake', 'dates, milk', True),
        ('Eggplant', 'grill it', False),
    ]:
        await create_note(client, alice, title=title, body=body, pinned=pinned)
    await create_note(client, bob, title='Banana split')

    async def titles(**query: Any) -> list[str]:
        response = await client.get('/notes/', headers=alice.headers, query_params=query)
        assert response.status_code == 200, response.data
        return [item['title'] for item in response.data['results']]

    # Newest first by default; only the caller's notes.
    page = await client.get('/notes/', headers=alice.headers, query_params={'limit': 2})
    assert page.data['count'] == 5
    assert page.data['next'] == '?limit=2&skip=2'
    assert page.data['previous'] is None
    assert [item['title'] for item in page.data['results']] == ['Eggplant', 'Date shake']
    page = await client.get('/notes/', headers=alice.headers, query_params={'limit': 2, 'skip': 4})
    assert page.data['next'] is None
    assert page.data['previous'] == '?limit=2&skip=2'
    assert [item['title'] for item in page.data['results']] == ['Banana bread']

    # ?search= is case-insensitive "contains" over title and body; the text is not a pattern.
    assert sorted(await titles(search='BANANA')) == ['Banana bread']
    assert sorted(await titles(search='milk')) == ['Date shake']
    assert await titles(search='.*') == []
    # ?pinned= is converted to a bool; ?sort= takes the sort fields, `-` for descending.
    assert sorted(await titles(pinned='true')) == ['Date shake', 'apple pie']
    assert await titles(sort='title') == ['Banana bread', 'Cherry jam', 'Date shake', 'Eggplant', 'apple pie']
    assert await titles(sort='-pinned,title', limit=3) == ['Date shake', 'apple pie', 'Banana bread']
    assert await titles(search='e', pinned='false', sort='-title') == ['Eggplant', 'Cherry jam', 'Banana bread']
    # Unknown sort fields are ignored.
    assert len(await titles(sort='owner')) == 5

    response = await client.get('/notes/', headers=alice.headers, query_params={'limit': 'ten'})
    assert response.status_code == 400
    response = await client.get('/notes/', headers=alice.headers, query_params={'pinned': 'maybe'})
    assert response.status_code == 400


# --- public endpoints ----------------------------------------------------------------------------------------------


async def test_stats_are_cached(client: APIClient) -> None:
    alice = await account('alice')
    first = await client.get('/stats/')
    assert first.status_code == 200
    assert (first.data['users'], first.data['notes']) == (1, 0)

    await create_note(client, alice)
    second = await client.get('/stats/')
    assert second.data == first.data  # replayed from the cache, the handler did not run
    assert second.headers['ETag'] == first.headers['ETag']
    not_modified = await client.get('/stats/', headers={'If-None-Match': first.headers['ETag']})
    assert not_modified.status_code == 304
    # Another query string is another cache entry.
    fresh = await client.get('/stats/', query_params={'v': '2'})
    assert fresh.data['notes'] == 1


async def test_cors(client: APIClient) -> None:
    preflight = await client.options(
        '/notes/',
        headers={
            'Origin': 'http://localhost:3000',
            'Access-Control-Request-Method': 'POST',
            'Access-Control-Request-Headers': 'Authorization, Content-Type',
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers['Access-Control-Allow-Origin'] == 'http://localhost:3000'
    assert 'POST' in preflight.headers['Access-Control-Allow-Methods']
    assert preflight.headers['Access-Control-Allow-Headers'] == 'Authorization, Content-Type'

    response = await client.get('/health/', headers={'Origin': 'http://localhost:3000'})
    assert response.headers['Access-Control-Allow-Origin'] == 'http://localhost:3000'
    assert 'Origin' in response.headers['Vary']
    # Errors get CORS headers too, so browsers can read them.
    response = await client.get('/auth/me/', headers={'Origin': 'http://localhost:3000'})
    assert response.status_code == 401
    assert response.headers['Access-Control-Allow-Origin'] == 'http://localhost:3000'
    # Origins that are not listed get no allow header at all.
    response = await client.get('/health/', headers={'Origin': 'https://evil.example'})
    assert 'Access-Control-Allow-Origin' not in response.headers


# --- websocket -----------------------------------------------------------------------------------------------------


async def test_websocket_feed_delivers_my_new_notes(client: APIClient) -> None:
    alice, bob = await account('alice'), await account('bob')
    feed = WebsocketClient(client.app)
    async with feed.session('/ws/notes/', query_params={'authorization': alice.access_token}) as ws:
        assert ws.accepted
        assert await ws.receive_json() == {'type': 'connected', 'username': 'alice'}

        note = await create_note(client, alice, title='Live')
        assert await ws.receive_json() == {'type': 'note.created', 'note': note}

        # Someone else's note is not sent to alice.
        await create_note(client, bob, title='Not for alice')
        await ws.send_text('ping')
        assert await ws.receive_text() == 'pong'

    # After the connection closed, creating notes still works (nobody is listening).
    await create_note(client, alice, title='Later')


async def test_websocket_feed_to_several_connections(client: APIClient) -> None:
    alice = await account('alice')
    feed = WebsocketClient(client.app)
    query = {'authorization': alice.access_token}
    async with (
        feed.session('/ws/notes/', query_params=query) as phone,
        feed.session('/ws/notes/', query_params=query) as laptop,
    ):
        await phone.receive_json()
        await laptop.receive_json()
        note = await create_note(client, alice)
        assert (await phone.receive_json())['note'] == note
        assert (await laptop.receive_json())['note'] == note


async def test_websocket_feed_rejects_anonymous_and_bad_tokens(client: APIClient) -> None:
    alice = await account('alice')
    feed = WebsocketClient(client.app)
    # Refused in the handshake: the client never sees an open socket, and gets the HTTP status and the reason.
    async with feed.session('/ws/notes/') as ws:
        assert not ws.accepted
        assert (ws.response.status_code, ws.response.data) == (401, {'detail': 'Authentication Error'})
    # A bad token gets the 401 answer an HTTP request with that token gets.
    for token in ('garbage', alice.refresh_token):
        async with feed.session('/ws/notes/', query_params={'authorization': token}) as ws:
            assert not ws.accepted
            http = await client.get('/auth/me/', headers={'Authorization': f'Bearer {token}'})
            assert (ws.response.status_code, ws.response.data) == (401, http.data)
    await client.post('/auth/logout/', headers=alice.headers)
    async with feed.session('/ws/notes/', query_params={'authorization': alice.access_token}) as ws:
        http = await client.get('/auth/me/', headers=alice.headers)
        assert (ws.response.status_code, ws.response.data) == (401, http.data)


# --- settings ------------------------------------------------------------------------------------------------------


def test_settings_defaults(environment: pytest.MonkeyPatch) -> None:
    environment.delenv('PANTHER_DB_PATH')
    configs = fresh_module(CONFIGS)
    assert configs.DATABASE == {
        'engine': {
            'class': 'panther.db.connections.PantherDBConnection',
            'path': REPO_ROOT / 'examples' / 'canonical' / 'database.pdb',
        }
    }
    assert configs.REDIS is None
    assert len(configs.SECRET_KEY.encode()) >= 32  # HS256 keys shorter than 32 bytes make PyJWT warn
    assert configs.ALLOW_ORIGINS == ['http://localhost:3000', 'http://127.0.0.1:3000']


def test_settings_from_the_environment(environment: pytest.MonkeyPatch) -> None:
    environment.setenv('MONGODB_URL', 'mongodb://mongo:27017/panther')
    environment.setenv('REDIS_HOST', 'redis')
    environment.setenv('REDIS_PORT', '6380')
    environment.setenv('SECRET_KEY', 'k' * 40)
    environment.setenv('CORS_ORIGINS', 'https://notes.example, https://admin.example')
    configs = fresh_module(CONFIGS)
    assert configs.DATABASE == {
        'engine': {
            'class': 'panther.db.connections.MongoDBConnection',
            'host': 'mongodb://mongo:27017/panther',
            'tz_aware': True,
        }
    }
    assert configs.REDIS == {'host': 'redis', 'port': 6380}
    assert configs.SECRET_KEY == 'k' * 40
    assert configs.ALLOW_ORIGINS == ['https://notes.example', 'https://admin.example']


async def test_the_app_uses_the_configured_database_file(client: APIClient, tmp_path: Path) -> None:
    assert isinstance(config.DATABASE, PantherDBConnection)
    assert config.DATABASE.path == tmp_path / 'notes.pdb'
    assert config.USER_MODEL is User
    await account('alice')
    assert (tmp_path / 'notes.pdb').exists()


def test_the_default_database_file_is_not_committed() -> None:
    paths = [
        'examples/canonical/database.pdb',
        'examples/canonical/database.pdb-wal',
        'examples/canonical/database.pdb-shm',
    ]
    result = subprocess.run(
        ['git', 'check-ignore', *paths], cwd=REPO_ROOT, capture_output=True, text=True, check=False, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == paths


# --- the same app on MongoDB and with Redis --------------------------------------------------------------------------


@pytest.mark.mongodb
async def test_canonical_app_on_mongodb(
    environment: pytest.MonkeyPatch, clean_events: None, mongodb_address: tuple[str, int]
) -> None:
    host, port = mongodb_address
    environment.setenv('MONGODB_URL', f'mongodb://{host}:{port}/canonical_{uuid.uuid4().hex[:12]}')
    app = build_app()
    assert isinstance(config.DATABASE, MongoDBConnection)
    database = config.DATABASE
    async with APIClient(app) as api:
        try:
            response = await api.post('/auth/signup/', payload={'username': 'alice', 'password': PASSWORD})
            assert response.status_code == 201
            assert len(response.data['id']) == 24  # an ObjectId
            response = await api.post('/auth/login/', payload={'username': 'alice', 'password': PASSWORD})
            alice = {'Authorization': f'Bearer {response.data["access_token"]}'}
            bob = await account('bob')

            note = (await api.post('/notes/', payload={'title': 'Mongo', 'tags': ['db']}, headers=alice)).data
            await api.post('/notes/', payload={'title': 'Pinned', 'pinned': True}, headers=alice)
            url = f'/notes/{note["id"]}/'
            # MongoDB keeps datetimes to the millisecond: compare everything but `created_at`.
            stored = (await api.get(url, headers=alice)).data
            assert {**stored, 'created_at': None} == {**note, 'created_at': None}
            assert (await api.get(url, headers=bob.headers)).status_code == 403
            assert (await api.get('/notes/not-an-object-id/', headers=alice)).status_code == 404
            assert (await api.patch(url, payload={'body': 'documents'}, headers=alice)).data['body'] == 'documents'

            listing = (await api.get('/notes/', headers=alice, query_params={'search': 'DOCUMENT'})).data
            assert [item['title'] for item in listing['results']] == ['Mongo']
            listing = (await api.get('/notes/', headers=alice, query_params={'pinned': 'true'})).data
            assert [item['title'] for item in listing['results']] == ['Pinned']
            assert (await api.get('/notes/', headers=bob.headers)).data['count'] == 0

            assert (await api.delete(url, headers=alice)).status_code == 204
            assert (await api.get(url, headers=alice)).status_code == 404
        finally:
            # Before the client exits: the shutdown hook closes the connection.
            await database.client.drop_database(database.session.name)


@pytest.mark.redis
async def test_canonical_app_with_redis(
    environment: pytest.MonkeyPatch, clean_events: None, redis_address: tuple[str, int]
) -> None:
    host, port = redis_address
    environment.setenv('REDIS_HOST', host)
    environment.setenv('REDIS_PORT', str(port))
    app = build_app()
    async with APIClient(app) as api:
        alice = await account('alice')
        # Revocation lives in Redis: shared by every worker.
        assert (await api.post('/auth/logout/', headers=alice.headers)).status_code == 204
        assert (await api.get('/auth/me/', headers=alice.headers)).status_code == 401

        # The cache lives in Redis; a unique query string keeps earlier runs' entries out of the way.
        query = {'run': uuid.uuid4().hex}
        first = await api.get('/stats/', query_params=query)
        await account('bob')
        assert (await api.get('/stats/', query_params=query)).data == first.data


# --- running it for real ------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
def test_panther_run_serves_the_canonical_app_from_the_repository_root(tmp_path: Path) -> None:
    """What ./scripts/run does: `panther run examples.canonical.main:app` in the repository root."""
    port = _free_port()
    env = {key: value for key, value in os.environ.items() if key not in SETTINGS_VARIABLES}
    env['PANTHER_DB_PATH'] = str(tmp_path / 'served.pdb')
    panther = Path(sys.executable).with_name('panther')
    server = subprocess.Popen(
        [str(panther), 'run', 'examples.canonical.main:app', '--host', '127.0.0.1', '--port', str(port)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        health = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and server.poll() is None:
            try:
                health = httpx.get(f'http://127.0.0.1:{port}/health/', timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert health is not None, 'the server did not answer'
        assert health.status_code == 200
        assert health.json()['started_at'] is not None
        signed_up = httpx.post(
            f'http://127.0.0.1:{port}/auth/signup/', json={'username': 'served', 'password': PASSWORD}, timeout=10
        )
        assert signed_up.status_code == 201
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    # uvicorn shuts down gracefully, then re-raises the signal it stopped for.
    assert server.returncode in (0, -signal.SIGTERM), output
    assert 'Notes service started' in output
    assert 'Notes service stopped' in output
    assert (tmp_path / 'served.pdb').exists()


def test_scripts_run_serves_the_canonical_app() -> None:
    script = (REPO_ROOT / 'scripts' / 'run').read_text(encoding='utf-8')
    assert "app='examples.canonical.main:app'" in script
    assert 'examples.hello' not in script
    assert '--host 127.0.0.1 --port 8000' in script


def _run_script_with_a_stub_panther(tmp_path: Path, *arguments: str) -> tuple[str, str]:
    """scripts/run in a copy of the repository layout whose `.venv/bin/panther` only records its arguments."""
    (tmp_path / 'scripts').mkdir()
    (tmp_path / 'scripts' / 'run').write_bytes((REPO_ROOT / 'scripts' / 'run').read_bytes())
    (tmp_path / 'pyproject.toml').write_text('[project]\nname = "stub"\n')
    bin_dir = tmp_path / '.venv' / 'bin'
    bin_dir.mkdir(parents=True)
    for name, body in (('python', 'exit 0'), ('panther', 'echo "$@" > "$(dirname "$0")/arguments"')):
        (bin_dir / name).write_text(f'#!/usr/bin/env bash\n{body}\n')
        (bin_dir / name).chmod(0o755)
    stamp = subprocess.run(['sha256sum', 'pyproject.toml'], cwd=tmp_path, capture_output=True, text=True, check=True)
    (tmp_path / '.venv' / '.panther-install-stamp').write_text(stamp.stdout.split()[0] + '\n')
    result = subprocess.run(
        ['bash', 'scripts/run', *arguments], cwd=tmp_path, capture_output=True, text=True, timeout=30, check=True
    )
    return result.stdout, (bin_dir / 'arguments').read_text()


@pytest.mark.parametrize(
    ('arguments', 'url'),
    [
        ((), 'http://127.0.0.1:8000'),
        (('--port', '18300'), 'http://127.0.0.1:18300'),
        (('--reload', '--port=18301', '--host', '0.0.0.0'), 'http://0.0.0.0:18301'),
        (('--port', '1', '--port', '18302'), 'http://127.0.0.1:18302'),
    ],
)
def test_scripts_run_prints_the_address_it_serves_on(tmp_path: Path, arguments: tuple[str, ...], url: str) -> None:
    output, passed = _run_script_with_a_stub_panther(tmp_path, *arguments)
    assert f'on {url}\n' in output
    assert 'http://127.0.0.1:8000' not in output or url == 'http://127.0.0.1:8000'
    assert passed.split() == ['run', 'examples.canonical.main:app', '--host', '127.0.0.1', '--port', '8000', *arguments]


# --- examples/hello --------------------------------------------------------------------------------------------------


async def test_hello_example(clean_events: None) -> None:
    app = fresh_module('examples.hello.main').app
    async with APIClient(app) as api:
        response = await api.get('/')
        assert response.status_code == 200
        assert response.data == {'message': 'Hello from Panther'}
        assert (await api.get('/missing/')).status_code == 404


def test_readme_lists_every_example() -> None:
    readme = (REPO_ROOT / 'README.md').read_text(encoding='utf-8')
    examples = [path.name for path in (REPO_ROOT / 'examples').iterdir() if (path / 'main.py').is_file()]
    assert 'hello' in examples
    for name in examples:
        assert f'](examples/{name}/' in readme, name


# --- AGENTS.md -------------------------------------------------------------------------------------------------------

AGENTS_MD = REPO_ROOT / 'AGENTS.md'


def _resolve(dotted: str) -> object:
    """Import the longest module prefix of `dotted`, then follow the remaining attributes."""
    parts = dotted.split('.')
    for split in range(len(parts), 0, -1):
        try:
            target: object = importlib.import_module('.'.join(parts[:split]))
        except ModuleNotFoundError:
            continue
        for name in parts[split:]:
            target = getattr(target, name)
        return target
    raise ModuleNotFoundError(dotted)


def test_agents_md_code_is_valid_python() -> None:
    blocks = re.findall(r'```python\n(.*?)```', AGENTS_MD.read_text(encoding='utf-8'), re.DOTALL)
    assert len(blocks) >= 8
    for block in blocks:
        compile(block, 'AGENTS.md', 'exec', flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


def test_agents_md_names_exist() -> None:
    text = AGENTS_MD.read_text(encoding='utf-8')
    imports = re.findall(r'^from (panther[\w.]*) import (.+)$', text, re.MULTILINE)
    assert len(imports) >= 20
    for module, names in imports:
        for name in names.split(','):
            assert hasattr(importlib.import_module(module), name.strip()), f'{module}.{name.strip()}'
    # Dotted paths in settings ('panther.authentications.JWTAuthentication') and in the prose (`panther.x.y`).
    dotted = set(re.findall(r"'(panther\.[\w.]+)'", text)) | set(re.findall(r'`(panther\.[\w.]+)', text))
    assert len(dotted) >= 8
    for path in dotted:
        _resolve(path.rstrip('.'))


def _recipe_blocks() -> list[str]:
    text = AGENTS_MD.read_text(encoding='utf-8')
    section = text[text.index('## Recipes') :]
    section = section[: section.index('\n## ', 1)]
    return re.findall(r'```python\n(.*?)```', section, re.DOTALL)


async def test_agents_md_recipes_run_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_events: None
) -> None:
    blocks = _recipe_blocks()
    assert len(blocks) == 2
    monkeypatch.chdir(tmp_path)
    module = ModuleType('agents_md_recipes')
    sys.modules[module.__name__] = module
    try:
        for block in blocks:
            exec(compile(block, 'AGENTS.md', 'exec'), module.__dict__)
        tests = [value for name, value in vars(module).items() if name.startswith('test_') and callable(value)]
        assert len(tests) == 1
        await tests[0]()
    finally:
        del sys.modules[module.__name__]
        if config.DATABASE is not None:
            await config.DATABASE.close()
    assert (tmp_path / 'library.pdb').exists()


@pytest.mark.parametrize(
    ('owner', 'names'),
    [
        (
            'panther.db.Model',
            'insert_one insert_many find find_one find_one_or_raise find_one_or_insert first last count exists '
            'update_one update_many delete_one delete_many update save reload delete',
        ),
        ('panther.db.models.BaseUser', 'set_password check_password login refresh_tokens logout'),
        ('panther.db.cursor.BaseCursor', 'sort skip limit to_list'),
        ('panther.test.APIClient', 'get post put patch delete head options request'),
        (
            'panther.test.WebsocketClient',
            'session connect',
        ),
        ('panther.request.Request', 'get_query_list validate_data read_body'),
        ('panther.websocket.GenericWebsocket', 'accept send send_text send_bytes close connect receive'),
        ('panther.events.Event', 'startup shutdown clear'),
        ('panther.configs.config', 'refresh'),
        ('panther.generics.DeleteAPI', 'get_instance pre_delete post_delete'),
        ('panther.generics.ListAPI', 'get_query sort_fields search_fields filter_fields pagination'),
    ],
)
def test_agents_md_methods_exist(owner: str, names: str) -> None:
    target = _resolve(owner)
    for name in names.split():
        assert hasattr(target, name), f'{owner}.{name}'
