"""WebSocket groups and presence (panther.websocket: join_group, leave_group, send_to_group, group_members)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import uuid
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import pytest

from panther import status
from panther.app import API
from panther.base_websocket import CHANNEL
from panther.db.connections import redis
from panther.request import Request
from panther.test import APIClient, WebsocketClient
from panther.websocket import GenericWebsocket, group_members, join_group, leave_group, send_to_group
from tests._core_helpers import make_app


class Member(GenericWebsocket):
    """Joins the group of its path with its name as info; a text `leave` leaves, anything else is echoed."""

    left: ClassVar[list[dict[str, Any]]] = []

    async def connect(self, group: str) -> None:
        await self.accept()
        await self.join(group, info={'name': self.query_params.get('name')})
        await self.send({'id': self.connection_id, 'groups': sorted(self.joined_groups())})

    async def receive(self, data: str | bytes) -> None:
        if data == 'leave':
            await self.leave(self.path_variables['group'])
            await self.send({'groups': sorted(self.joined_groups())})
        else:
            await self.send(data)

    async def disconnect(self, code: int) -> None:
        # Runs after the automatic leave: the others are still listed, this connection is not.
        Member.left.append(await group_members(self.path_variables['group']))


class JoinsBeforeAccept(GenericWebsocket):
    async def connect(self) -> None:
        await self.join('lobby')


@API(methods=['POST'])
async def announce(request: Request, group: str) -> dict[str, Any]:
    return {'sent': await send_to_group(group, request.data)}


@API(methods=['GET'])
async def members(group: str) -> dict[str, Any]:
    return await group_members(group)


URLS = {
    'ws/<group>/': Member,
    'early/': JoinsBeforeAccept,
    'announce/<group>/': announce,
    'members/<group>/': members,
}


@contextlib.asynccontextmanager
async def member(app: Any, group: str, name: str) -> AsyncIterator[tuple[Any, str]]:
    async with WebsocketClient(app).session(f'/ws/{group}/', query_params={'name': name}) as ws:
        hello = await ws.receive_json()
        assert hello['groups'] == [group]
        yield ws, hello['id']


async def test_send_to_a_group_reaches_every_member_once() -> None:
    app = make_app(URLS)
    async with member(app, 'room', 'ann') as (ann, ann_id), member(app, 'room', 'bob') as (bob, bob_id):
        async with member(app, 'other', 'cat') as (cat, _):
            assert await send_to_group('room', {'text': 'hi'}) == 2
            assert await ann.receive_json() == {'text': 'hi'}
            assert await bob.receive_json() == {'text': 'hi'}
            assert await send_to_group('room', b'\x00\x01') == 2
            assert await ann.receive_bytes() == b'\x00\x01'
            assert await bob.receive_bytes() == b'\x00\x01'
            with pytest.raises(TimeoutError):
                await cat.receive(timeout=0.1)
            assert await group_members('room') == {ann_id: {'name': 'ann'}, bob_id: {'name': 'bob'}}


async def test_endpoints_send_to_and_list_groups() -> None:
    app = make_app(URLS)
    client = APIClient(app)
    async with member(app, 'room', 'ann') as (ann, ann_id):
        response = await client.post('/announce/room/', payload={'from': 'http'})
        assert response.data == {'sent': 1}
        assert await ann.receive_json() == {'from': 'http'}
        assert (await client.get('/members/room/')).data == {ann_id: {'name': 'ann'}}


async def test_leave_and_disconnect_remove_the_member() -> None:
    Member.left.clear()
    app = make_app(URLS)
    async with member(app, 'room', 'ann') as (ann, ann_id):
        async with member(app, 'room', 'bob') as (bob, _):
            await bob.send_text('leave')
            assert await bob.receive_json() == {'groups': []}
            assert await group_members('room') == {ann_id: {'name': 'ann'}}
            assert await send_to_group('room', 'only ann') == 1
            assert await ann.receive_text() == 'only ann'
            with pytest.raises(TimeoutError):
                await bob.receive(timeout=0.1)
        # Bob left before he disconnected; Ann is removed by her disconnect.
        assert Member.left == [{ann_id: {'name': 'ann'}}]
    assert Member.left[-1] == {}
    assert await group_members('room') == {}
    assert await send_to_group('room', 'nobody') == 0


async def test_join_and_leave_by_connection_id_from_outside() -> None:
    app = make_app(URLS)
    async with member(app, 'room', 'ann') as (ann, ann_id):
        await join_group(ann_id, 'news', info='reader')
        assert await group_members('news') == {ann_id: 'reader'}
        assert await send_to_group('news', 'extra') == 1
        assert await ann.receive_text() == 'extra'
        await leave_group(ann_id, 'news')
        await leave_group(ann_id, 'news')  # not a member any more: nothing happens
        assert await group_members('news') == {}
    # An id that is not connected (here: never was) joins nothing.
    await join_group('01JUNKNOWNCONNECTION000000', 'news')
    assert await group_members('news') == {}


async def test_a_background_task_sends_to_a_group() -> None:
    from panther.background_tasks import BackgroundTask

    app = make_app(URLS, BACKGROUND_TASKS=True)
    sent = asyncio.Event()
    counts: list[int] = []

    async def reminder() -> None:
        counts.append(await send_to_group('room', {'reminder': 'stand-up'}))
        sent.set()

    async with APIClient(app), member(app, 'room', 'ann') as (ann, _):  # the lifespan starts the scheduler
        BackgroundTask(reminder).submit()
        await asyncio.wait_for(sent.wait(), timeout=10)
        assert counts == [1]
        assert await ann.receive_json() == {'reminder': 'stand-up'}


async def test_empty_and_unknown_groups_are_no_ops() -> None:
    assert await send_to_group('nobody-here', {'x': 1}) == 0
    assert await group_members('nobody-here') == {}
    await leave_group('01JUNKNOWNCONNECTION000000', 'nobody-here')


@pytest.mark.parametrize('name', ['', 'has space', 'x' * 129, 'ümlaut', 'a/b', '*', None, 12, b'bytes'])
async def test_invalid_group_names_raise_value_error(name: Any) -> None:
    message = r'Invalid WebSocket group name .*: use 1-128 characters: letters, digits and "_", "-", ".", ":", "@"'
    for call in (
        send_to_group(name, 'x'),
        group_members(name),
        join_group('01JUNKNOWNCONNECTION000000', name),
        leave_group('01JUNKNOWNCONNECTION000000', name),
    ):
        with pytest.raises(ValueError, match=message):
            await call


async def test_a_long_valid_name_and_info_that_is_not_json() -> None:
    app = make_app(URLS)
    name = 'team:' + 'x' * 123
    async with member(app, name, 'ann') as (_, ann_id):
        assert list(await group_members(name)) == [ann_id]
        with pytest.raises(TypeError):
            await join_group(ann_id, 'news', info=object())
        assert await group_members('news') == {}


async def test_joining_before_accept_is_an_error(caplog: pytest.LogCaptureFixture) -> None:
    app = make_app(URLS)
    with caplog.at_level(logging.ERROR):
        async with WebsocketClient(app).session('/early/') as ws:
            assert ws.response is not None and ws.response.status_code == 500
    assert any('Call `self.accept()` before joining or leaving groups' in r.getMessage() for r in caplog.records)


# --- message size limit --------------------------------------------------------------------------------------------


class Echo(GenericWebsocket):
    async def connect(self) -> None:
        await self.accept()

    async def receive(self, data: str | bytes) -> None:
        await self.send(data)


async def test_oversized_messages_close_with_1009() -> None:
    app = make_app({'echo/': Echo}, WS_MAX_MESSAGE_SIZE=8)
    async with WebsocketClient(app).session('/echo/') as ws:
        await ws.send_text('12345678')
        assert await ws.receive_text() == '12345678'
        await ws.send_bytes(b'\x00' * 8)
        assert await ws.receive_bytes() == b'\x00' * 8
        await ws.send_text('ééééé')  # 5 characters, 10 bytes in UTF-8
        assert await ws.receive() == {
            'type': 'websocket.close',
            'code': status.WS_1009_MESSAGE_TOO_BIG,
            'reason': 'Messages are at most 8 bytes',
        }
    async with WebsocketClient(app).session('/echo/') as ws:
        await ws.send_bytes(b'\x00' * 9)
        assert (await ws.receive())['code'] == status.WS_1009_MESSAGE_TOO_BIG


async def test_default_message_limit_is_one_mebibyte() -> None:
    app = make_app({'echo/': Echo})
    async with WebsocketClient(app).session('/echo/') as ws:
        await ws.send_bytes(b'a' * 1024 * 1024)
        assert len(await ws.receive_bytes()) == 1024 * 1024
        await ws.send_text('a' * (1024 * 1024 + 1))
        assert (await ws.receive())['code'] == status.WS_1009_MESSAGE_TOO_BIG


@pytest.mark.parametrize(
    ('setting', 'value'),
    [('WS_MAX_MESSAGE_SIZE', 0), ('WS_MAX_MESSAGE_SIZE', '1mb'), ('WS_PRESENCE_TTL', -1), ('WS_PRESENCE_TTL', 'x')],
)
async def test_bad_limits_fail_the_start_up(setting: str, value: Any) -> None:
    app = make_app({'echo/': Echo}, **{setting: value})
    with pytest.raises(RuntimeError, match=f"Invalid '{setting}'"):
        async with APIClient(app):
            pass


# --- with Redis ------------------------------------------------------------------------------------------------------


def unique_group() -> str:
    # The Redis server is shared with earlier runs: never reuse a group name.
    return f'test-{uuid.uuid4().hex[:16]}'


@pytest.mark.redis
async def test_groups_through_redis(redis_address: tuple[str, int]) -> None:
    host, port = redis_address
    app = make_app(URLS, REDIS={'host': host, 'port': port}, WS_PRESENCE_TTL=5)
    group = unique_group()
    async with APIClient(app):  # the lifespan subscribes to the channel before it completes
        async with member(app, group, 'ann') as (ann, ann_id), member(app, group, 'bob') as (bob, bob_id):
            assert await group_members(group) == {ann_id: {'name': 'ann'}, bob_id: {'name': 'bob'}}
            # Presence lives in Redis with the Redis clock's expiry: `WS_PRESENCE_TTL` from now.
            scores = dict(await redis.zrange(f'panther:ws:group:{group}', 0, -1, withscores=True))
            assert {key.decode() for key in scores} == {ann_id, bob_id}
            assert 0 < await redis.pttl(f'panther:ws:group:{group}') <= 10_000
            assert await send_to_group(group, {'via': 'redis'}) == 2
            assert await ann.receive_json() == {'via': 'redis'}
            assert await bob.receive_json() == {'via': 'redis'}
            await bob.send_text('leave')
            assert await bob.receive_json() == {'groups': []}
            assert list(await group_members(group)) == [ann_id]
        assert await group_members(group) == {}
        assert await redis.zcard(f'panther:ws:group:{group}') == 0


@pytest.mark.redis
async def test_a_crowd_joining_at_once_does_not_exhaust_the_redis_pool(
    redis_address: tuple[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    host, port = redis_address
    app = make_app(URLS, REDIS={'host': host, 'port': port})
    group = unique_group()
    crowd = 250  # more than the 100 connections of redis-py's default pool
    client = WebsocketClient(app)
    with caplog.at_level(logging.WARNING):
        async with APIClient(app), contextlib.AsyncExitStack() as stack:
            sessions = await asyncio.gather(
                *(stack.enter_async_context(client.session(f'/ws/{group}/')) for _ in range(crowd))
            )
            assert all(session.accepted for session in sessions)
            for session in sessions:
                await session.receive_json()  # joined
            assert len(await group_members(group)) == crowd
            assert await redis.zcard(f'panther:ws:group:{group}') == crowd
            assert await send_to_group(group, 'all of you') == crowd
            for session in sessions:
                assert await session.receive_text() == 'all of you'
    assert not [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]


@pytest.mark.redis
async def test_entries_of_a_dead_worker_expire(redis_address: tuple[str, int]) -> None:
    host, port = redis_address
    app = make_app(URLS, REDIS={'host': host, 'port': port}, WS_PRESENCE_TTL=5)
    group = unique_group()
    async with APIClient(app), member(app, group, 'ann') as (ann, ann_id):
        # A member written by a worker that died: its expiry (Redis clock, ms) is already in the past.
        await redis.zadd(f'panther:ws:group:{group}', {'01JGHOSTOFADEADWORKER00000': 1})
        await redis.hset(f'panther:ws:group-info:{group}', '01JGHOSTOFADEADWORKER00000', b'"ghost"')
        assert await group_members(group) == {ann_id: {'name': 'ann'}}
        assert await send_to_group(group, 'x') == 1  # the ghost is not counted
        assert await ann.receive_text() == 'x'
        # Listing removed the ghost from Redis too.
        assert await redis.hget(f'panther:ws:group-info:{group}', '01JGHOSTOFADEADWORKER00000') is None


@pytest.mark.redis
async def test_joining_a_connection_of_another_worker_goes_through_the_channel(redis_address: tuple[str, int]) -> None:
    host, port = redis_address
    app = make_app(URLS, REDIS={'host': host, 'port': port})
    group = unique_group()
    async with APIClient(app), member(app, group, 'ann') as (ann, ann_id):
        news = unique_group()
        # What another worker publishes when one of its endpoints joins this worker's connection.
        from panther._internal.ws_groups import groups

        assert await groups.handle({'connection_id': ann_id, 'action': 'join', 'data': {'group': news}}) is True
        assert await group_members(news) == {ann_id: None}
        assert await send_to_group(news, 'news') == 1
        assert await ann.receive_text() == 'news'
        await groups.handle({'connection_id': ann_id, 'action': 'leave', 'data': {'group': news}})
        assert await group_members(news) == {}


# --- Redis going away and coming back ---------------------------------------------------------------------------------


class RedisProxy:
    """A TCP relay (in threads) in front of the real Redis that can drop every connection and refuse new ones.

    Threads, not the test's event loop: connecting to Redis starts with a blocking PING.
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self.listener: socket.socket | None = None
        self.sockets: set[socket.socket] = set()
        self.lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(('127.0.0.1', self.port))
        listener.listen()
        self.port = listener.getsockname()[1]
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        with self.lock:
            doomed = [self.listener, *self.sockets] if self.listener else list(self.sockets)
            self.listener = None
            self.sockets.clear()
        for sock in doomed:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.sockets.update({client, upstream})
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_RDWR)


async def eventually(condition: Any, timeout: float = 10) -> Any:
    """Poll an async condition until it returns something truthy, with a deadline."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await condition()
        if result:
            return result
        assert asyncio.get_running_loop().time() < deadline, 'condition not met before the deadline'
        await asyncio.sleep(0.05)


@pytest.mark.redis
async def test_redis_going_away_and_coming_back(
    redis_address: tuple[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    from redis.asyncio import Redis

    proxy = RedisProxy(redis_address)
    proxy.start()
    direct = Redis(host=redis_address[0], port=redis_address[1])
    app = make_app(URLS, REDIS={'host': '127.0.0.1', 'port': proxy.port}, WS_PRESENCE_TTL=3)
    group = unique_group()
    try:
        async with APIClient(app), member(app, group, 'ann') as (ann, ann_id):
            assert await send_to_group(group, 'before') == 1
            assert await ann.receive_text() == 'before'

            proxy.cut()
            with caplog.at_level(logging.WARNING):
                # No crash: the sending process still reaches its own members, presence falls back to it.
                assert await send_to_group(group, 'during') == 1
                assert await ann.receive_text() == 'during'
                assert await group_members(group) == {ann_id: {'name': 'ann'}}
                await ann.send_text('still open')
                assert await ann.receive_text() == 'still open'
            assert any('Redis' in record.getMessage() for record in caplog.records)
            # Meanwhile the presence entry expired in Redis, as a dead worker's would.
            await direct.delete(f'panther:ws:group:{group}', f'panther:ws:group-info:{group}')

            proxy.start()  # Redis is back (same address)

            async def delivered_from_another_worker() -> bool:
                # What another worker's `send_to_group` publishes; received once this worker has subscribed again.
                message = b'{"group":"%s","action":"group_send","text":"after"}' % group.encode()
                if not await direct.publish(CHANNEL, message):
                    return False
                return await ann.receive_text(timeout=0.5) == 'after'

            await eventually(delivered_from_another_worker)

            async def listed_again() -> bool:
                return await direct.zscore(f'panther:ws:group:{group}', ann_id) is not None

            await eventually(listed_again)  # the membership was written again after the reconnect
            assert await eventually(lambda: send_to_group(group, 'again')) == 1
            assert await ann.receive_text() == 'again'
    finally:
        await direct.delete(f'panther:ws:group:{group}', f'panther:ws:group-info:{group}')
        await direct.aclose()
        proxy.cut()


# --- two real uvicorn workers sharing Redis -------------------------------------------------------------------------

TWO_WORKER_APP = """
import os

from panther import Panther
from panther.app import API
from panther.websocket import GenericWebsocket, group_members, join_group, send_to_group

REDIS = {'host': '127.0.0.1', 'port': int(os.environ['REDIS_PORT'])}
WS_PRESENCE_TTL = float(os.environ['WS_PRESENCE_TTL'])


class Member(GenericWebsocket):
    async def connect(self, group):
        await self.accept()
        await self.join(group, info={'worker': os.getpid()})
        await self.send({'connection_id': self.connection_id, 'worker': os.getpid()})


@API(methods=['POST'])
async def send(request, group):
    return {'sent': await send_to_group(group, request.data), 'worker': os.getpid()}


@API(methods=['GET'])
async def members(group):
    return await group_members(group)


@API(methods=['POST'])
async def join(request, group):
    await join_group(request.data['connection_id'], group, info='added')
    return {'worker': os.getpid()}


urls = {'ws/<group>/': Member, 'send/<group>/': send, 'members/<group>/': members, 'join/<group>/': join}
app = Panther(__name__, configs=__name__, urls=urls)
"""

PRESENCE_TTL = 2.0


@pytest.mark.slow
@pytest.mark.redis
def test_groups_and_presence_across_two_uvicorn_workers(tmp_path: Any, redis_address: tuple[str, int]) -> None:
    import json
    import signal
    import time

    import httpx
    from websockets.sync.client import connect

    from tests._uvicorn import uvicorn_servers

    (tmp_path / 'groups_app.py').write_text(TWO_WORKER_APP)
    env = {'REDIS_PORT': str(redis_address[1]), 'WS_PRESENCE_TTL': str(PRESENCE_TTL)}
    group = unique_group()
    with (
        uvicorn_servers(tmp_path, 'groups_app', count=2, env=env) as [(worker_a, port_a), (_, port_b)],
        contextlib.ExitStack() as sockets,
    ):
        on_a = [sockets.enter_context(connect(f'ws://127.0.0.1:{port_a}/ws/{group}/', open_timeout=5)) for _ in '12']
        on_b = sockets.enter_context(connect(f'ws://127.0.0.1:{port_b}/ws/{group}/', open_timeout=5))
        hellos = [json.loads(ws.recv(timeout=5)) for ws in (*on_a, on_b)]
        pid_a, pid_b = hellos[0]['worker'], hellos[2]['worker']
        assert pid_a != pid_b

        # Worker B sends; the members on worker A get it through Redis.
        answer = httpx.post(f'http://127.0.0.1:{port_b}/send/{group}/', json={'text': 'from B'}, timeout=5).json()
        assert answer == {'sent': 3, 'worker': pid_b}
        for ws in (*on_a, on_b):
            assert json.loads(ws.recv(timeout=5)) == {'text': 'from B'}

        # Presence, asked on either worker, lists the members of both.
        expected = {hello['connection_id']: {'worker': hello['worker']} for hello in hellos}
        for port in (port_a, port_b):
            assert httpx.get(f'http://127.0.0.1:{port}/members/{group}/', timeout=5).json() == expected

        # An endpoint on worker B adds a connection of worker A to another group (A applies it).
        extra = unique_group()
        httpx.post(f'http://127.0.0.1:{port_b}/join/{extra}/', json={'connection_id': hellos[0]['connection_id']})
        deadline = time.monotonic() + 5
        while httpx.get(f'http://127.0.0.1:{port_b}/members/{extra}/', timeout=5).json() != {
            hellos[0]['connection_id']: 'added'
        }:
            assert time.monotonic() < deadline, 'the join did not reach worker A'
            time.sleep(0.02)
        answer = httpx.post(f'http://127.0.0.1:{port_b}/send/{extra}/', json={'text': 'extra'}, timeout=5).json()
        assert answer['sent'] == 1
        assert json.loads(on_a[0].recv(timeout=5)) == {'text': 'extra'}

        # Worker A dies without cleaning up; its members stop being listed within WS_PRESENCE_TTL.
        worker_a.send_signal(signal.SIGKILL)
        worker_a.wait(timeout=10)
        killed_at = time.monotonic()
        while True:
            listed = httpx.get(f'http://127.0.0.1:{port_b}/members/{group}/', timeout=5).json()
            if listed == {hellos[2]['connection_id']: {'worker': pid_b}}:
                break
            assert set(listed) <= set(expected), listed  # nobody else appears meanwhile
            assert time.monotonic() - killed_at < PRESENCE_TTL + 1, 'members of the killed worker still listed'
            time.sleep(0.05)
        answer = httpx.post(f'http://127.0.0.1:{port_b}/send/{group}/', json={'text': 'still here'}, timeout=5)
        assert answer.json()['sent'] == 1
        assert json.loads(on_b.recv(timeout=5)) == {'text': 'still here'}
