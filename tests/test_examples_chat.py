"""The chat example (examples/chat), driven end to end through `APIClient` and `WebsocketClient`.

Every test builds the app from scratch: the settings module is re-imported with a fresh environment (a database
file in the test's temporary directory, no Redis unless the test asks for it) and `main.py` is re-imported after
`Event.clear()`.
"""

from __future__ import annotations

import contextlib
import importlib
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from examples.chat.app import rooms
from examples.chat.app.models import Message, User
from examples.chat.app.serializers import MAX_MESSAGE_LENGTH
from examples.chat.app.websockets import CONNECT_THROTTLE, MESSAGE_THROTTLE
from panther.configs import config
from panther.db.connections import MongoDBConnection, PantherDBConnection, redis
from panther.events import Event
from panther.test import APIClient, WebsocketClient
from panther.test import WebsocketSession as Session
from tests._core_helpers import check_unique_sign_up

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIGS = 'examples.chat.core.configs'
MAIN = 'examples.chat.main'
SETTINGS_VARIABLES = (
    'SECRET_KEY',
    'CHAT_DB_PATH',
    'CHAT_HISTORY_SIZE',
    'REDIS_HOST',
    'REDIS_PORT',
    'MONGODB_URL',
    'TRUSTED_PROXIES',
)
PASSWORD = 'correct horse battery'
FORMAT_HINT = 'Send a JSON object such as {"text": "hello"}'


def fresh_module(name: str) -> ModuleType:
    """Import `name`, or re-execute it when it was imported before (settings read the environment on import)."""
    module = sys.modules.get(name)
    return importlib.reload(module) if module is not None else importlib.import_module(name)


@pytest.fixture
def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in SETTINGS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv('CHAT_DB_PATH', str(tmp_path / 'chat.pdb'))
    return monkeypatch


def build_app() -> Any:
    Event.clear()
    fresh_module(CONFIGS)
    return fresh_module(MAIN).app


@contextlib.asynccontextmanager
async def serve(app: Any) -> AsyncIterator[APIClient]:
    database = config.DATABASE
    try:
        async with APIClient(app) as api:  # runs the start-up and shutdown hooks
            yield api
    finally:
        await database.close()
        Event.clear()


@pytest.fixture
async def client(environment: pytest.MonkeyPatch) -> AsyncIterator[APIClient]:
    async with serve(build_app()) as api:
        yield api


@dataclass
class Account:
    user: User
    token: str


async def account(username: str) -> Account:
    """A user with an access token, made directly: scrypt costs ~0.5 s, so only the login test pays for it."""
    user = await User.insert_one(username=username)
    return Account(user, (await user.login())['access_token'])


def room_session(api: APIClient, room: str, token: str | None) -> Any:
    query = {'authorization': token} if token is not None else None
    return WebsocketClient(api.app).session(f'/ws/rooms/{room}/', query_params=query)


async def joined(ws: Session, history: int = 0) -> dict[str, Any]:
    """Read what a client gets when it joins: the history, then its own join announcement (returned)."""
    assert ws.accepted, (ws.close_code, ws.close_reason)
    first = await ws.receive_json()
    assert first['type'] == 'history'
    assert len(first['messages']) == history
    announcement = await ws.receive_json()
    assert announcement['type'] == 'join'
    return announcement


async def received(ws: Session) -> list[dict[str, Any]]:
    """Everything that arrives until a short quiet period."""
    messages = []
    while True:
        try:
            messages.append(await ws.receive_json(timeout=0.2))
        except TimeoutError:
            return messages


async def nothing_arrives(ws: Session) -> None:
    with pytest.raises(TimeoutError):
        await ws.receive_json(timeout=0.2)


# --- HTTP: accounts and the page -------------------------------------------------------------------------------------


async def test_sign_up_login_and_refresh_give_tokens_for_the_socket(client: APIClient) -> None:
    response = await client.post('/api/signup/', payload={'username': 'Alice', 'password': PASSWORD})
    assert response.status_code == 201
    assert set(response.data) == {'id', 'username', 'date_created'}  # never the password hash
    assert response.data['username'] == 'alice'
    response = await client.post('/api/signup/', payload={'username': 'alice', 'password': PASSWORD})
    assert response.status_code == 400
    assert response.data == {'username': 'This username is taken.'}
    response = await client.post('/api/signup/', payload={'username': 'x', 'password': 'short'})
    assert response.status_code == 400
    assert set(response.data) == {'username', 'password'}

    response = await client.post('/api/login/', payload={'username': 'alice', 'password': 'wrong password'})
    assert response.status_code == 401
    assert response.data == {'detail': 'Invalid username or password'}
    response = await client.post('/api/login/', payload={'username': 'ALICE', 'password': PASSWORD})
    assert response.status_code == 200
    assert set(response.data) == {'access_token', 'refresh_token'}

    response = await client.post('/api/refresh/', headers={'Authorization': f'Bearer {response.data["refresh_token"]}'})
    assert response.status_code == 200
    tokens = response.data
    assert (await client.post('/api/refresh/')).status_code == 401

    async with room_session(client, 'general', tokens['access_token']) as ws:
        assert (await joined(ws))['user'] == 'alice'


async def test_sign_up_names_are_unique_even_when_the_early_check_misses(
    client: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    await check_unique_sign_up(client, monkeypatch, User, '/api/signup/', PASSWORD)


async def test_the_page_and_its_script(client: APIClient) -> None:
    page = await client.get('/')
    assert page.status_code == 200
    assert page.headers['Content-Type'].startswith('text/html')
    assert "default-src 'self'" in page.headers['Content-Security-Policy']
    assert '<script src="/static/chat.js" defer></script>' in page.data
    assert f'data-max-length="{MAX_MESSAGE_LENGTH}"' in page.data
    assert '<script>' not in page.data  # nothing inline: the policy would block it
    # An empty icon the policy allows: the browser asks for no /favicon.ico, which would answer 404.
    assert '<link rel="icon" href="data:,">' in page.data
    assert "img-src 'self' data:" in page.headers['Content-Security-Policy']

    script = await client.get('/static/chat.js')
    assert script.status_code == 200
    assert script.headers['Content-Type'].startswith('text/javascript')
    assert script.headers['X-Content-Type-Options'] == 'nosniff'
    assert 'textContent' in script.data
    assert 'innerHTML' not in script.data


# --- the room WebSocket ----------------------------------------------------------------------------------------------


async def test_two_members_of_a_room_see_each_other(client: APIClient) -> None:
    alice, bob = await account('alice'), await account('bob')

    async with room_session(client, 'general', alice.token) as alice_ws:
        assert await joined(alice_ws) == {'type': 'join', 'user': 'alice', 'members': ['alice']}

        async with room_session(client, 'general', bob.token) as bob_ws:
            assert await joined(bob_ws) == {'type': 'join', 'user': 'bob', 'members': ['alice', 'bob']}
            assert await alice_ws.receive_json() == {'type': 'join', 'user': 'bob', 'members': ['alice', 'bob']}

            await alice_ws.send_json({'text': '  Hi Bob!  '})
            for ws in (alice_ws, bob_ws):  # the sender gets its own message too
                message = await ws.receive_json()
                assert message['type'] == 'message'
                assert (message['user'], message['text']) == ('alice', 'Hi Bob!')
                assert set(message) == {'type', 'id', 'user', 'text', 'sent_at'}

            await bob_ws.send_text('{"text": "<b>Hello</b> Alice"}')
            for ws in (alice_ws, bob_ws):
                message = await ws.receive_json()
                assert (message['user'], message['text']) == ('bob', '<b>Hello</b> Alice')

        # Bob's connection is closed: Alice hears that he left.
        assert await alice_ws.receive_json() == {'type': 'leave', 'user': 'bob', 'members': ['alice']}

    stored = await (await Message.find(room='general')).sort('sent_at', 1).to_list()
    assert [(message.author.username, message.text) for message in stored] == [
        ('alice', 'Hi Bob!'),
        ('bob', '<b>Hello</b> Alice'),
    ]
    assert await rooms.members('general') == {}


async def test_rooms_are_separate(client: APIClient) -> None:
    alice, bob = await account('alice'), await account('bob')
    async with (
        room_session(client, 'general', alice.token) as general,
        room_session(client, 'random', bob.token) as other,
    ):
        await joined(general)
        assert (await joined(other))['members'] == ['bob']  # Alice is in another room
        await general.send_json({'text': 'only for general'})
        assert (await general.receive_json())['text'] == 'only for general'
        await nothing_arrives(other)
    assert await Message.count(room='random') == 0


async def test_history_is_sent_on_join(environment: pytest.MonkeyPatch) -> None:
    environment.setenv('CHAT_HISTORY_SIZE', '3')
    async with serve(build_app()) as api:
        alice, bob = await account('alice'), await account('bob')
        async with room_session(api, 'general', alice.token) as ws:
            await joined(ws)
            for number in range(1, 6):
                await ws.send_json({'text': f'message {number}'})
                assert (await ws.receive_json())['text'] == f'message {number}'
        async with room_session(api, 'other', alice.token) as ws:
            await joined(ws)
            await ws.send_json({'text': 'elsewhere'})
            await ws.receive_json()

        async with room_session(api, 'general', bob.token) as ws:
            history = await ws.receive_json()
            # The last CHAT_HISTORY_SIZE messages of this room only, oldest first.
            assert history['type'] == 'history'
            assert history['room'] == 'general'
            assert [(item['user'], item['text']) for item in history['messages']] == [
                ('alice', 'message 3'),
                ('alice', 'message 4'),
                ('alice', 'message 5'),
            ]
            assert (await ws.receive_json())['type'] == 'join'


async def test_bad_messages_get_an_error_and_the_connection_stays_open(client: APIClient) -> None:
    alice, bob = await account('alice'), await account('bob')
    async with room_session(client, 'general', alice.token) as ws, room_session(client, 'general', bob.token) as bob_ws:
        await joined(ws)
        await ws.receive_json()  # Bob's join
        await joined(bob_ws)

        async def error_for(frame: str | bytes) -> Any:
            if isinstance(frame, bytes):
                await ws.send_bytes(frame)
            else:
                await ws.send_text(frame)
            reply = await ws.receive_json()
            assert reply['type'] == 'error', reply
            return reply['detail']

        assert await error_for('hello') == FORMAT_HINT  # not JSON
        assert await error_for('{"text": ') == FORMAT_HINT  # broken JSON
        assert await error_for('["a list"]') == FORMAT_HINT
        assert await error_for('"just a string"') == FORMAT_HINT
        assert await error_for('null') == FORMAT_HINT
        assert await error_for('{}') == {'text': 'Field required'}
        assert await error_for('{"txt": "typo"}') == {'text': 'Field required', 'txt': 'Extra inputs are not permitted'}
        assert await error_for('{"text": 42}') == {'text': 'Input should be a valid string'}
        assert await error_for('{"text": "   "}') == {'text': 'String should have at least 1 character'}
        overlong = 'x' * (MAX_MESSAGE_LENGTH + 1)
        assert await error_for(f'{{"text": "{overlong}"}}') == {
            'text': f'String should have at most {MAX_MESSAGE_LENGTH} characters'
        }
        assert await error_for('{"text": "' + 'x' * 100_000 + '"}') == (
            f'Messages are at most {MAX_MESSAGE_LENGTH} characters long.'
        )
        assert (await error_for(b'\x00\x01')).startswith('Binary frames are not supported.')
        assert await error_for('{"text": "hi", "room": "admin"}') == {'room': 'Extra inputs are not permitted'}

        # None of that reached Bob or the database, and the connection still works.
        await nothing_arrives(bob_ws)
        assert await Message.count() == 0
        exactly_long_enough = 'y' * MAX_MESSAGE_LENGTH
        await ws.send_json({'text': exactly_long_enough})
        assert (await ws.receive_json())['text'] == exactly_long_enough
        assert (await bob_ws.receive_json())['text'] == exactly_long_enough
        assert await Message.count() == 1


async def test_connections_without_a_valid_token_or_room_are_refused(client: APIClient) -> None:
    alice = await account('alice')
    refresh_token = (await alice.user.login())['refresh_token']
    # Refused in the handshake: never accepted, an HTTP status and a JSON `detail` (the same answer as over HTTP).
    async with room_session(client, 'general', None) as ws:
        assert not ws.accepted
        assert (ws.response.status_code, ws.response.data) == (401, {'detail': 'Authentication Error'})
    for token in ('not-a-jwt', refresh_token):
        async with room_session(client, 'general', token) as ws:
            assert not ws.accepted
            assert ws.response.status_code == 401
            assert set(ws.response.data) == {'detail'}

    for room in ('General', 'a' * 33, '-dash', 'sp%20ace'):
        async with room_session(client, room, alice.token) as ws:
            assert not ws.accepted
            assert ws.response.status_code == 403
            assert ws.response.data == {'detail': 'Room names are 1-32 lowercase letters, digits, "-" and "_"'}
    assert await rooms.members('general') == {}


async def test_membership_is_kept_in_this_process_without_redis(client: APIClient) -> None:
    alice = await account('alice')
    assert not rooms.shared()
    async with (
        room_session(client, 'general', alice.token) as first,
        room_session(client, 'general', alice.token) as second,
    ):
        await joined(first)
        await first.receive_json()  # the second tab's join
        assert (await joined(second))['members'] == ['alice']  # one person with two tabs is listed once
        assert list((await rooms.members('general')).values()) == ['alice', 'alice']
    assert await rooms.members('general') == {}


@pytest.mark.redis
async def test_membership_and_delivery_go_through_redis(
    environment: pytest.MonkeyPatch, redis_address: tuple[str, int]
) -> None:
    host, port = redis_address
    environment.setenv('REDIS_HOST', host)
    environment.setenv('REDIS_PORT', str(port))
    room = f'test-{uuid.uuid4().hex[:12]}'  # earlier runs may have left keys behind in the shared server
    async with serve(build_app()) as api:
        assert rooms.shared()
        alice, bob = await account('alice'), await account('bob')
        async with room_session(api, room, alice.token) as alice_ws:
            await joined(alice_ws)
            async with room_session(api, room, bob.token) as bob_ws:
                await joined(bob_ws)
                assert (await alice_ws.receive_json())['user'] == 'bob'
                # The room is the group `room:<room>`; presence lives in Redis, where every worker sees it.
                assert await redis.zcard(f'panther:ws:group:room:{room}') == 2
                assert sorted((await rooms.members(room)).values()) == ['alice', 'bob']

                # Delivered through Redis publish/subscribe, as it would be to another worker.
                await bob_ws.send_json({'text': 'via redis'})
                assert (await alice_ws.receive_json())['text'] == 'via redis'
                assert (await bob_ws.receive_json())['text'] == 'via redis'
            assert await alice_ws.receive_json() == {'type': 'leave', 'user': 'bob', 'members': ['alice']}
        assert await rooms.members(room) == {}
        assert await redis.zcard(f'panther:ws:group:room:{room}') == 0


# --- abuse: floods and reconnect loops -------------------------------------------------------------------------------


async def test_a_message_flood_is_cut_to_the_limit(client: APIClient) -> None:
    alice, bob = await account('alice'), await account('bob')
    limit = MESSAGE_THROTTLE.rate
    async with room_session(client, 'general', bob.token) as bob_ws:
        await joined(bob_ws)
        async with room_session(client, 'general', alice.token) as alice_ws:
            await joined(alice_ws)
            await bob_ws.receive_json()  # Alice's join
            for number in range(200):
                await alice_ws.send_json({'text': f'spam {number}'})
            for number in range(limit):
                assert (await alice_ws.receive_json())['text'] == f'spam {number}'
            error = await alice_ws.receive_json()
            assert error['type'] == 'error'
            assert error['detail'].startswith('Too many messages: wait ')
        # Alice's session ended after the app had read all 200 frames.
        texts = [message['text'] for message in await received(bob_ws) if message['type'] == 'message']
        assert texts == [f'spam {number}' for number in range(limit)]
    assert await Message.count() == limit


async def test_reconnect_loops_are_refused_with_429(client: APIClient) -> None:
    alice = await account('alice')
    for number in range(CONNECT_THROTTLE.rate):
        async with room_session(client, f'room-{number}', alice.token) as ws:
            assert ws.accepted
    async with room_session(client, 'general', alice.token) as ws:
        assert not ws.accepted
        assert (ws.response.status_code, ws.response.data) == (429, {'detail': 'Too Many Request'})
        assert 'Retry-After' in ws.response.headers
    assert await rooms.members('general') == {}


# --- settings --------------------------------------------------------------------------------------------------------


async def test_the_app_uses_the_configured_database(client: APIClient, tmp_path: Path) -> None:
    assert isinstance(config.DATABASE, PantherDBConnection)
    assert config.DATABASE.path == tmp_path / 'chat.pdb'
    assert config.USER_MODEL is User
    assert config.HISTORY_SIZE == 50
    await account('alice')
    assert (tmp_path / 'chat.pdb').exists()


async def test_mongodb_url_moves_users_and_history_to_mongodb(
    environment: pytest.MonkeyPatch, mongodb_address: tuple[str, int], tmp_path: Path
) -> None:
    host, port = mongodb_address
    environment.setenv('MONGODB_URL', f'mongodb://{host}:{port}/chat_{uuid.uuid4().hex[:12]}')
    environment.setenv('TRUSTED_PROXIES', '172.16.0.0/12, 127.0.0.1')
    async with serve(build_app()) as api:
        assert isinstance(config.DATABASE, MongoDBConnection)
        assert config.TRUSTED_PROXIES == ['172.16.0.0/12', '127.0.0.1']
        alice, bob = await account('alice'), await account('bob')
        async with room_session(api, 'general', alice.token) as ws:
            await joined(ws)
            await ws.send_json({'text': 'stored in MongoDB'})
            assert (await ws.receive_json())['text'] == 'stored in MongoDB'
        async with room_session(api, 'general', bob.token) as ws:
            history = await ws.receive_json()
            assert [(item['user'], item['text']) for item in history['messages']] == [('alice', 'stored in MongoDB')]
        await config.DATABASE.session.client.drop_database(config.DATABASE.session.name)
    assert not (tmp_path / 'chat.pdb').exists()  # the embedded database was never opened


def test_default_settings(environment: pytest.MonkeyPatch) -> None:
    environment.delenv('CHAT_DB_PATH')
    configs = fresh_module(CONFIGS)
    assert configs.DATABASE['engine']['path'] == REPO_ROOT / 'examples' / 'chat' / 'chat.pdb'
    assert configs.REDIS is None
    assert configs.WS_AUTHENTICATION == 'panther.authentications.QueryParamJWTAuthentication'
    assert len(configs.SECRET_KEY.encode()) >= 32


def test_the_database_is_not_committed() -> None:
    paths = ['examples/chat/chat.pdb', 'examples/chat/chat.pdb-wal', 'examples/chat/chat.pdb-shm']
    result = subprocess.run(
        ['git', 'check-ignore', *paths], cwd=REPO_ROOT, capture_output=True, text=True, check=False, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == paths
