"""The Store: every behaviour is checked on the memory backend and on Redis."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from panther._internal import store as store_module
from panther._internal.store import (
    MemoryStore,
    RedisStore,
    Store,
    StoreFullError,
    StoreUnavailableError,
    get_store,
)
from panther.configs import config
from panther.db.connections.redis import RedisConnection, close_redis, load_redis, redis
from panther.exceptions import PantherError
from panther.request import Request


@pytest.fixture(params=['memory', pytest.param('redis', marks=pytest.mark.redis)])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    if request.param == 'memory':
        yield MemoryStore(max_entries=1_000)
        return
    host, port = request.getfixturevalue('redis_address')
    load_redis({'host': host, 'port': port})
    try:
        yield get_store()
    finally:
        await close_redis()


@pytest.fixture
def key() -> str:
    # Tests may share one Redis with other test runs: never touch someone else's keys.
    return f'test:{uuid.uuid4().hex}'


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


async def test_set_get_delete(store: Store, key: str) -> None:
    assert await store.get(key) is None
    assert await store.exists(key) is False
    await store.set(key, b'value')
    assert await store.get(key) == b'value'
    assert await store.exists(key) is True
    await store.set(key, b'other')
    assert await store.get(key) == b'other'
    await store.delete(key)
    assert await store.get(key) is None
    await store.delete(key)  # deleting a missing key is fine


async def test_binary_values_round_trip(store: Store, key: str) -> None:
    value = bytes(range(256)) + b'\n\x00'
    await store.set(key, value)
    assert await store.get(key) == value


async def _remaining_ms(store: Store, key: str) -> int:
    """The lifetime Redis has for `key`, in milliseconds."""
    assert isinstance(store, RedisStore)
    return int(await store.client.pttl(key))


async def test_ttl_expires(store: Store, key: str, clock: Any) -> None:
    await store.set(key, b'v', ttl=0.2)
    assert await store.get(key) == b'v'
    if isinstance(store, RedisStore):
        # Redis expires the key itself, on its own clock: what the Store controls is the lifetime it asks for.
        assert 0 < await _remaining_ms(store, key) <= 200
        return
    clock.advance(0.3)
    assert await store.get(key) is None
    assert await store.exists(key) is False


async def test_incr_counts_and_expires(store: Store, key: str, clock: Any) -> None:
    assert [await store.incr(key, ttl=0.3) for _ in range(3)] == [1, 2, 3]
    assert await store.get(key) == b'3'
    if isinstance(store, RedisStore):
        assert 0 < await _remaining_ms(store, key) <= 300
        return
    clock.advance(0.4)
    assert await store.incr(key, ttl=0.3) == 1


async def test_incr_keeps_the_first_expiry(store: Store, key: str, clock: Any) -> None:
    # A fixed window: later increments must not push the expiry further out.
    await store.incr(key, ttl=0.4)
    if isinstance(store, RedisStore):
        assert await store.incr(key, ttl=1000) == 2
        assert 0 < await _remaining_ms(store, key) <= 400  # still the first window's lifetime
        return
    clock.advance(0.25)
    assert await store.incr(key, ttl=0.4) == 2
    clock.advance(0.25)
    assert await store.incr(key, ttl=0.4) == 1


async def test_concurrent_incr_is_atomic(store: Store, key: str) -> None:
    results = await asyncio.gather(*(store.incr(key, ttl=5) for _ in range(50)))
    assert sorted(results) == list(range(1, 51))


async def test_publish_subscribe(store: Store, key: str) -> None:
    subscribed = asyncio.Event()
    messages = store.subscribe(key, ready=subscribed.set)
    received: list[bytes] = []

    async def read() -> None:
        async for message in messages:
            received.append(message)
            if len(received) == 3:
                return

    reader = asyncio.create_task(read())
    await asyncio.wait_for(subscribed.wait(), timeout=5)
    for number in range(3):
        await store.publish(key, f'message {number}'.encode())
    await asyncio.wait_for(reader, timeout=2)
    await messages.aclose()  # type: ignore[attr-defined]
    assert received == [b'message 0', b'message 1', b'message 2']


async def test_publish_without_subscribers(store: Store, key: str) -> None:
    await store.publish(key, b'nobody listens')


async def test_unsubscribed_iterator_gets_nothing_more(store: Store, key: str) -> None:
    ready = [asyncio.Event(), asyncio.Event()]
    first = store.subscribe(key, ready=ready[0].set)
    second = store.subscribe(key, ready=ready[1].set)
    first_task = asyncio.create_task(anext(first))  # type: ignore[arg-type]
    second_task = asyncio.create_task(anext(second))  # type: ignore[arg-type]
    await asyncio.wait_for(asyncio.gather(*(event.wait() for event in ready)), timeout=5)
    await store.publish(key, b'one')
    assert await asyncio.wait_for(first_task, 2) == b'one'
    assert await asyncio.wait_for(second_task, 2) == b'one'
    await first.aclose()  # type: ignore[attr-defined]
    await store.publish(key, b'two')
    assert await asyncio.wait_for(anext(second), 2) == b'two'  # type: ignore[arg-type]
    await second.aclose()  # type: ignore[attr-defined]


# --- memory backend only -------------------------------------------------------------------------------------


async def test_memory_store_is_bounded_and_evicts_least_recently_used() -> None:
    store = MemoryStore(max_entries=3)
    for name in 'abc':
        await store.set(name, name.encode())
    assert await store.get('a') == b'a'  # `a` is now the most recently used
    await store.set('d', b'd')
    assert len(store) == 3
    assert await store.get('b') is None
    assert {await store.get(name) for name in 'acd'} == {b'a', b'c', b'd'}


async def test_memory_store_drops_expired_entries_before_live_ones(clock: Any) -> None:
    store = MemoryStore(max_entries=3)
    await store.set('live-1', b'1')
    await store.set('short', b's', ttl=0.05)
    await store.set('live-2', b'2')
    clock.advance(0.1)
    await store.set('new', b'n')
    assert await store.get('live-1') == b'1'
    assert await store.get('live-2') == b'2'
    assert await store.get('new') == b'n'
    assert len(store) == 3


async def test_memory_store_expiry_heap_stays_bounded() -> None:
    store = MemoryStore(max_entries=10)
    for round_number in range(500):
        await store.set(f'k{round_number % 5}', b'v', ttl=60)
    assert len(store._expiries) <= 2 * 10 + 64


async def test_memory_store_limit_follows_config() -> None:
    store = MemoryStore()
    config.STORE_MAX_ENTRIES = 2
    for name in 'abc':
        await store.set(name, b'x')
    assert len(store) == 2
    config.STORE_MAX_ENTRIES = None
    assert store.max_entries == store_module.DEFAULT_MAX_ENTRIES


async def test_memory_store_junk_never_evicts_security_state() -> None:
    # The reproduction: 10,000 keys of capacity, revocation markers and a throttle counter written first, then
    # 10,500 junk writes. The old LRU dropped the oldest keys, and logged-out tokens worked again.
    store = MemoryStore(max_entries=10_000)
    await store.incr('panther:revoked:logged-out', ttl=600)
    await store.incr('panther:revoked:spent-refresh', ttl=600)
    await store.set('marker', b'1', ttl=600, protected=True)
    for _ in range(4):
        await store.incr('panther:throttle:60:1:ip:10.0.0.1:auth/login', ttl=60)
    for number in range(10_500):
        await store.set(f'panther:cache:junk-{number}', b'x' * 10, ttl=600)
    assert len(store) == 10_000
    assert await store.exists('panther:revoked:logged-out')
    assert await store.exists('panther:revoked:spent-refresh')
    assert await store.get('marker') == b'1'
    assert await store.incr('panther:throttle:60:1:ip:10.0.0.1:auth/login', ttl=60) == 5
    # The oldest junk made room for the newest.
    assert await store.get('panther:cache:junk-0') is None
    assert await store.get('panther:cache:junk-10499') == b'x' * 10


async def test_memory_store_full_of_security_state_refuses_instead_of_forgetting(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = MemoryStore(max_entries=100)
    for number in range(100):
        await store.incr(f'counter-{number}', ttl=600)
    with caplog.at_level(logging.ERROR, logger='panther'), pytest.raises(StoreFullError) as raised:
        await store.incr('one-more', ttl=600)
    assert raised.value.status_code == 503
    assert raised.value.detail == 'The server is at capacity; try again later'
    assert 'STORE_MAX_ENTRIES=100' in caplog.text
    with pytest.raises(StoreFullError):
        await store.set('protected-one-more', b'1', protected=True)
    # Cache entries are not stored rather than pushing state out; existing counters still count.
    await store.set('cached', b'x', ttl=600)
    assert await store.get('cached') is None
    assert await store.incr('counter-0', ttl=600) == 2
    assert all([await store.exists(f'counter-{number}') for number in range(100)])
    # One log line per interval, whatever the number of refusals.
    assert len(caplog.records) == 1


async def test_memory_store_expired_security_state_makes_room() -> None:
    store = MemoryStore(max_entries=2)
    await store.incr('short', ttl=0)  # expires at once: no waiting needed
    await store.incr('long', ttl=600)
    assert await store.incr('new', ttl=600) == 1
    assert await store.exists('long') and not await store.exists('short')


async def test_memory_store_evictable_value_becomes_security_state_once_counted() -> None:
    store = MemoryStore(max_entries=2)
    await store.set('counter', b'1')
    assert await store.incr('counter', ttl=600) == 2
    await store.set('a', b'a')
    await store.set('b', b'b')
    assert await store.get('counter') == b'2'


def test_memory_store_rejects_a_zero_limit() -> None:
    with pytest.raises(ValueError, match='at least 1'):
        MemoryStore(max_entries=0)


@settings(max_examples=60, deadline=None)
@given(
    operations=st.lists(
        st.tuples(
            st.sampled_from(['set', 'incr', 'delete', 'get']),
            st.integers(min_value=0, max_value=30),
            st.sampled_from([None, 0.001, 60.0]),
        ),
        max_size=200,
    )
)
def test_memory_store_never_grows_past_its_limit(operations: list[tuple[str, int, float | None]]) -> None:
    store = MemoryStore(max_entries=8)

    async def run() -> None:
        for operation, number, ttl in operations:
            key = f'k{number}'
            if operation == 'set':
                await store.set(key, b'v', ttl=ttl)
            elif operation == 'incr':
                try:
                    await store.incr(f'counter{number}', ttl=ttl or 1.0)
                except StoreFullError:
                    # Only when the store holds nothing but security state.
                    assert not store._data
                    assert len(store._kept) == 8
            elif operation == 'delete':
                await store.delete(key)
            else:
                await store.get(key)
            assert len(store) <= 8
            assert len(store._expiries) <= 2 * 8 + 64

    asyncio.run(run())


async def test_memory_subscriber_that_stops_reading_does_not_grow(caplog: pytest.LogCaptureFixture) -> None:
    store = MemoryStore()
    messages = store.subscribe('slow')
    waiting = asyncio.create_task(anext(messages))  # type: ignore[arg-type]
    await asyncio.sleep(0)
    for number in range(store_module.SUBSCRIBER_QUEUE_SIZE + 5):
        await store.publish('slow', str(number).encode())
    assert await waiting == b'0'
    assert 'a message was dropped' in caplog.text
    await messages.aclose()  # type: ignore[attr-defined]
    assert store._subscribers == {}


def test_get_store_is_memory_without_redis() -> None:
    assert not redis.is_connected
    assert isinstance(get_store(), MemoryStore)
    assert get_store() is get_store()


async def test_reset_memory_store() -> None:
    await get_store().set('reset-me', b'1')
    store_module.reset_memory_store()
    assert await get_store().get('reset-me') is None


# --- the Redis connection -------------------------------------------------------------------------------------


def test_redis_proxy_before_configuration() -> None:
    assert redis.is_connected is False
    with pytest.raises(ValueError, match='`REDIS` is not found in `configs`'):
        redis.get('x')
    with pytest.raises(AttributeError):
        redis.not_a_redis_method  # noqa: B018


async def test_close_redis_without_connection_is_a_no_op() -> None:
    await close_redis()
    assert redis.is_connected is False


def test_load_redis_unreachable_raises_panther_error_quickly() -> None:
    port = free_port()
    started = time.perf_counter()
    with pytest.raises(PantherError, match=f'Redis is not reachable at 127.0.0.1:{port}'):
        load_redis({'host': '127.0.0.1', 'port': port})
    assert time.perf_counter() - started < 3.5
    assert redis.is_connected is False
    assert isinstance(get_store(), MemoryStore)


def test_load_redis_bad_class_path() -> None:
    with pytest.raises(PantherError, match=r'can not import `no\.such\.Class`'):
        load_redis({'class': 'no.such.Class'})


@pytest.mark.redis
async def test_load_redis_connects_the_proxy_and_the_store(redis_address: tuple[str, int], key: str) -> None:
    host, port = redis_address
    load_redis({'class': 'panther.db.connections.RedisConnection', 'host': host, 'port': port, 'db': 0})
    try:
        assert redis.is_connected is True
        assert isinstance(get_store(), RedisStore)
        await redis.set(key, 'through the proxy', ex=10)
        assert await get_store().get(key) == b'through the proxy'
        websocket_client = redis.create_connection_for_websocket()
        assert await websocket_client.ping() is True
        await websocket_client.aclose()
    finally:
        await redis.delete(key)
        await close_redis()
    assert redis.is_connected is False
    assert isinstance(get_store(), MemoryStore)


@pytest.mark.redis
async def test_load_redis_accepts_a_url(redis_address: tuple[str, int], key: str) -> None:
    host, port = redis_address
    load_redis({'url': f'redis://{host}:{port}/0'})
    try:
        await get_store().set(key, b'1', ttl=5)
        assert await redis.get(key) == b'1'
    finally:
        await close_redis()


@pytest.mark.redis
async def test_load_redis_ignores_websocket_db_with_a_warning(
    redis_address: tuple[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    host, port = redis_address
    load_redis({'host': host, 'port': port, 'websocket_db': 2})
    await close_redis()
    assert '`REDIS.websocket_db` is not supported' in caplog.text


@pytest.mark.redis
async def test_redis_outage_mid_test_fails_fast_then_recovers(
    redis_address: tuple[str, int], key: str, clock: Any
) -> None:
    host, port = redis_address
    load_redis({'host': host, 'port': port})
    try:
        store = get_store()
        assert isinstance(store, RedisStore)
        store.cooldown = 0.3
        await store.set(key, b'before', ttl=10)

        # The server "goes away": the pool now dials a closed port.
        pool = redis.connection_pool
        pool.connection_kwargs['port'] = free_port()
        await pool.disconnect()
        pool.reset()  # existing connection objects remember the old port
        started = time.perf_counter()
        with pytest.raises(StoreUnavailableError):
            await store.get(key)
        # Within the cool-down the store does not even try the network.
        with pytest.raises(StoreUnavailableError, match='recent connection failure'):
            await store.incr(key, ttl=1)
        assert time.perf_counter() - started < 2

        pool.connection_kwargs['port'] = port
        pool.reset()
        clock.advance(0.35)  # the cool-down is over
        assert await store.get(key) == b'before'
        await store.delete(key)
    finally:
        await close_redis()


@contextlib.asynccontextmanager
async def silent_server() -> AsyncIterator[int]:
    """A server that accepts connections and then stays silent (a hung Redis or a black-holed network); its port."""
    connections: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)

    server = await asyncio.start_server(silent, '127.0.0.1', 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in connections:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_redis_that_never_answers_times_out() -> None:
    async with silent_server() as port:
        client = RedisConnection(host='127.0.0.1', port=port, socket_timeout=0.2)
        client.is_connected = True
        store = RedisStore(client)
        try:
            started = time.perf_counter()
            with pytest.raises(StoreUnavailableError):
                await store.get('anything')
            assert time.perf_counter() - started < 2
        finally:
            await client.aclose()


# --- the documented fallback, through the whole app ------------------------------------------------------------


class OutageUser:
    id = '1'
    username = 'ali'

    @classmethod
    async def find_one(cls, id: str) -> OutageUser | None:
        return cls() if id == '1' else None


@pytest.mark.redis
async def test_redis_outage_through_the_app(redis_address: tuple[str, int], caplog: pytest.LogCaptureFixture) -> None:
    from datetime import timedelta

    from panther import Panther
    from panther.app import API
    from panther.authentications import JWTAuthentication
    from panther.caching import clear_near_cache
    from panther.configs import JWTConfig
    from panther.test import APIClient
    from panther.throttling import Throttle

    route = uuid.uuid4().hex

    @API(throttling=Throttle(rate=100, duration=timedelta(minutes=1)), cache=timedelta(seconds=30))
    async def public() -> dict[str, str]:
        return {'public': 'yes'}

    @API(auth=JWTAuthentication)
    async def private(request: Request) -> dict[str, str]:
        return {'user': request.user.username}

    host, port = redis_address
    urls = {f'public{route}': public, f'private{route}': private}
    app = Panther(__name__, configs=__name__, urls=urls)
    load_redis({'host': host, 'port': port})
    config.USER_MODEL = OutageUser
    config.JWT_CONFIG = JWTConfig(key='k' * 48)
    token = JWTAuthentication.encode_jwt('1')
    client = APIClient(app=app)
    try:
        assert (await client.get(f'/public{route}')).headers['RateLimit-Remaining'] == '99'
        headers = {'Authorization': f'Bearer {token}'}
        assert (await client.get(f'/private{route}', headers=headers)).data == {'user': 'ali'}

        pool = redis.connection_pool
        pool.connection_kwargs['port'] = free_port()
        await pool.disconnect()
        pool.reset()
        get_store().close_wire()  # type: ignore[attr-defined]  # the lean connection goes down with the server too
        caplog.clear()
        started = time.perf_counter()
        with caplog.at_level(logging.ERROR):
            # Throttling and caching fail open: the endpoint answers, without rate-limit headers.
            response = await client.get(f'/public{route}')
            assert (response.status_code, response.data) == (200, {'public': 'yes'})
            assert 'RateLimit-Remaining' not in response.headers
            # Revocation cannot be checked: fail closed with 503, never accept a possibly revoked token.
            response = await client.get(f'/private{route}', headers=headers)
            assert (response.status_code, response.data) == (
                503,
                {'detail': 'Authentication is temporarily unavailable'},
            )
        assert time.perf_counter() - started < 3
        messages = [record.getMessage() for record in caplog.records if record.levelno == logging.ERROR]
        assert messages[0].startswith('Throttling is not enforced for this request: Redis is unavailable')
        # The cached answer is still served from this process's copy of the Redis entry (no round trip).
        assert messages[1].startswith('JWTAuthentication Error: "Token revocation store is unavailable:')
        assert len(messages) == 2

        # Without that copy the cache fails open too: the handler answers and nothing is cached.
        clear_near_cache()
        caplog.clear()
        with caplog.at_level(logging.ERROR):
            response = await client.get(f'/public{route}')
            assert (response.status_code, response.data) == (200, {'public': 'yes'})
        messages = [record.getMessage() for record in caplog.records if record.levelno == logging.ERROR]
        assert messages[0].startswith('Throttling is not enforced for this request:')
        assert messages[1].startswith('Response cache is not used for this request:')
        assert messages[2].startswith('Response was not cached:')
        assert len(messages) == 3
    finally:
        await close_redis()


# --- the lean Redis connection of the Store ------------------------------------------------------------------------


async def test_incr_unless_exists_counts_only_without_the_guard(store: Store, key: str) -> None:
    assert await store.incr_unless_exists(f'{key}:count', 60, f'{key}:guard') == 1
    assert await store.incr_unless_exists(f'{key}:count', 60, f'{key}:guard') == 2
    await store.set(f'{key}:guard', b'1', ttl=60, protected=True)
    assert await store.incr_unless_exists(f'{key}:count', 60, f'{key}:guard') is None
    assert await store.get(f'{key}:count') == b'2'  # a refused request is not counted
    await store.delete(f'{key}:count')
    await store.delete(f'{key}:guard')


@pytest.mark.parametrize(
    ('data', 'expected'),
    [
        (b':42\r\n', 42),
        (b'$5\r\nhello\r\n', b'hello'),
        (b'$-1\r\n', None),
        (b'+OK\r\n', b'OK'),
        (b'*3\r\n:1\r\n$1\r\nx\r\n*-1\r\n', [1, b'x', None]),
        (b'$0\r\n\r\n', b''),
    ],
)
def test_wire_parser_in_every_split(data: bytes, expected: object) -> None:
    # Replies arrive in arbitrary pieces: every split point must give the same value, once.
    from panther._internal.redis_wire import RedisWire

    async def run() -> None:
        for split in range(1, len(data) + 1):
            wire = RedisWire(timeout=None)
            future = wire.loop.create_future()
            wire.waiting.append((future, 0.0))
            wire.data_received(data[:split])
            if split < len(data):
                assert not future.done()
                wire.data_received(data[split:])
            assert future.result() == expected
            assert wire.reader.gets() is False  # nothing left over

    asyncio.run(run())


def test_wire_error_reply_fails_only_its_command() -> None:
    from panther._internal.redis_wire import RedisWire, ReplyError

    async def run() -> None:
        wire = RedisWire(timeout=None)
        first, second = wire.loop.create_future(), wire.loop.create_future()
        wire.waiting.extend([(first, 0.0), (second, 0.0)])
        wire.data_received(b'-NOSCRIPT No matching script\r\n:7\r\n')
        with pytest.raises(ReplyError, match='NOSCRIPT'):
            first.result()
        assert second.result() == 7

    asyncio.run(run())


@pytest.mark.redis
async def test_concurrent_requests_share_the_lean_connection(redis_address: tuple[str, int], key: str) -> None:
    host, port = redis_address
    load_redis({'host': host, 'port': port})
    try:
        store = get_store()
        assert isinstance(store, RedisStore) and store.use_wire
        values = await asyncio.gather(*(store.incr(key, ttl=60) for _ in range(200)))
        assert sorted(values) == list(range(1, 201))
        assert store._wire is not None
        assert await store.exists(key)
        await store.delete(key)
    finally:
        await close_redis()


@pytest.mark.redis
async def test_lean_connection_reloads_a_flushed_script(redis_address: tuple[str, int], key: str) -> None:
    host, port = redis_address
    load_redis({'host': host, 'port': port})
    try:
        store = get_store()
        assert await store.incr(key, ttl=60) == 1
        await redis.execute_command('SCRIPT', 'FLUSH')  # an operator (or a restart) empties the script cache
        assert await store.incr(key, ttl=60) == 2
        assert await store.incr_unless_exists(key, 60, f'{key}:guard') == 3
        await store.delete(key)
    finally:
        await close_redis()


async def test_lean_connection_to_a_silent_server_times_out() -> None:
    async with silent_server() as port:
        client = RedisConnection(host='127.0.0.1', port=port, socket_timeout=0.2)
        store = RedisStore(client)
        try:
            assert store.use_wire
            started = time.perf_counter()
            with pytest.raises(StoreUnavailableError, match=r'did not answer within 0\.2 seconds'):
                await store.incr_unless_exists('counter', 60, 'guard')
            assert time.perf_counter() - started < 2
        finally:
            await store.close()


def test_tls_connections_stay_on_redis_py() -> None:
    client = RedisConnection(host='127.0.0.1', port=6380, ssl=True)
    assert RedisStore(client).use_wire is False
