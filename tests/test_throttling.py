"""Throttling: floor-aligned windows, RateLimit headers, client keys behind proxies, both Store backends."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from pydantic import BaseModel

from panther import Panther, throttling
from panther._internal.clock import ManualClock
from panther._internal.near_state import lease_size
from panther._internal.store import RedisStore, set_redis_store
from panther.app import API
from panther.configs import config
from panther.db.connections.redis import RedisConnection
from panther.exceptions import AuthenticationAPIError, NotFoundAPIError, PantherError, ThrottlingAPIError
from panther.request import Request
from panther.test import APIClient
from panther.throttling import Throttle, client_ip, default_identifier

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def clock() -> Iterator[ManualClock]:
    # Windows are floor-aligned: a fixed start makes the window boundaries of each test known.
    manual = ManualClock(1_000_000.0)
    manual.install()
    yield manual
    ManualClock.uninstall()


def make_request(
    path: str = '/',
    client: tuple[str, int] | None = ('10.0.0.1', 5000),
    headers: list[tuple[str, str]] | None = None,
    user: Any = None,
) -> Request:
    async def receive() -> dict[str, Any]:
        return {'type': 'http.request', 'body': b''}

    async def send(message: dict[str, Any]) -> None:
        return None

    scope = {
        'type': 'http',
        'method': 'GET',
        'path': path,
        'headers': [(k.lower().encode(), v.encode()) for k, v in headers or []],
        'client': client,
    }
    request = Request(scope, receive, send)
    request.user = user
    return request


def unique_path() -> str:
    # Redis outlives a test run: a fresh path keeps counters of earlier runs out of the way.
    return f'/{uuid.uuid4().hex}'


class U:
    def __init__(self, id: Any) -> None:
        self.id = id


# --- validation and keys ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ('rate', 'duration', 'message'),
    [
        (0, timedelta(seconds=1), 'rate'),
        (1.5, timedelta(seconds=1), 'rate'),
        (3, timedelta(0), 'duration'),
        (3, 10, 'duration'),
    ],
)
def test_throttle_validates_its_arguments(rate: Any, duration: Any, message: str) -> None:
    with pytest.raises(PantherError, match=message):
        Throttle(rate=rate, duration=duration)


def test_throttles_compare_by_identity() -> None:
    first, second = Throttle(3, timedelta(seconds=1)), Throttle(3, timedelta(seconds=1))
    assert first != second
    assert first == first


def test_windows_are_floor_aligned(clock: ManualClock) -> None:
    throttle = Throttle(rate=3, duration=timedelta(seconds=10))
    clock.now = 1_000_009.9
    # The route of an unrouted `/` is ''.
    assert throttle.build_cache_key(make_request()) == 'panther:throttle:10:100000:ip:10.0.0.1:'
    clock.now = 1_000_010.0
    assert throttle.build_cache_key(make_request()).startswith('panther:throttle:10:100001:')
    assert throttle.time_window.timestamp() == 1_000_010


def test_default_identifier_prefers_the_user() -> None:
    assert default_identifier(make_request(user=U(7))) == 'user:7'
    assert default_identifier(make_request(user=U(None))) == 'ip:10.0.0.1'
    assert default_identifier(make_request()) == 'ip:10.0.0.1'
    assert default_identifier(make_request(client=None)) == 'ip:unknown'


# --- client address behind proxies -------------------------------------------------------------------------------


def forwarded(peer: str, *values: str) -> Request:
    return make_request(client=(peer, 1234), headers=[('X-Forwarded-For', value) for value in values])


def test_forwarded_for_is_ignored_without_trusted_proxies() -> None:
    assert client_ip(forwarded('10.0.0.1', '1.2.3.4')) == '10.0.0.1'


def test_forwarded_for_is_ignored_from_an_untrusted_peer() -> None:
    config.TRUSTED_PROXIES = ['10.0.0.0/8']
    assert client_ip(forwarded('192.168.1.1', '1.2.3.4')) == '192.168.1.1'


def test_forwarded_for_from_a_trusted_proxy() -> None:
    config.TRUSTED_PROXIES = ['10.0.0.1']
    assert client_ip(forwarded('10.0.0.1', '1.2.3.4')) == '1.2.3.4'
    assert client_ip(forwarded('10.0.0.1')) == '10.0.0.1'


def test_spoofed_entries_left_of_the_real_client_are_ignored() -> None:
    config.TRUSTED_PROXIES = ['10.0.0.0/8', '172.16.0.5']
    # The client wrote `6.6.6.6` itself; proxy 172.16.0.5 appended the real client, then 10.1.1.1 appended it.
    request = forwarded('10.0.0.2', '6.6.6.6, 1.2.3.4', '172.16.0.5')
    assert client_ip(request) == '1.2.3.4'


def test_all_hops_trusted_gives_the_leftmost() -> None:
    config.TRUSTED_PROXIES = '10.0.0.0/8'
    assert client_ip(forwarded('10.0.0.2', '10.0.0.3, 10.0.0.4')) == '10.0.0.3'


def test_ipv6_proxies() -> None:
    config.TRUSTED_PROXIES = ['::1', 'fd00::/8']
    assert client_ip(forwarded('::1', '2001:db8::1, fd00::2')) == '2001:db8::1'


def test_invalid_trusted_proxy_setting() -> None:
    config.TRUSTED_PROXIES = ['not-an-ip']
    with pytest.raises(PantherError, match="Invalid 'TRUSTED_PROXIES'"):
        client_ip(forwarded('10.0.0.1', '1.2.3.4'))


# --- counting (memory and Redis) ---------------------------------------------------------------------------------


async def test_limit_headers_and_429(backend: str, clock: ManualClock) -> None:
    throttle = Throttle(rate=3, duration=timedelta(seconds=10))
    clock.now = 1_000_002.5
    path = unique_path()
    remaining = []
    for _ in range(3):
        headers = await throttle.check_and_increment(make_request(path))
        assert headers is not None
        assert headers['RateLimit-Limit'] == '3'
        assert headers['RateLimit-Reset'] == '8'
        remaining.append(headers['RateLimit-Remaining'])
    assert remaining == ['2', '1', '0']

    for _ in range(2):
        with pytest.raises(ThrottlingAPIError) as info:
            await throttle.check_and_increment(make_request(path))
        assert info.value.status_code == 429
        assert info.value.detail == 'Too Many Request'
        assert info.value.headers == {
            'RateLimit-Limit': '3',
            'RateLimit-Remaining': '0',
            'RateLimit-Reset': '8',
            'Retry-After': '8',
            'X-RateLimit-Reset': '1000010',
        }

    clock.now = 1_000_010.0  # the next window
    headers = await throttle.check_and_increment(make_request(path))
    assert headers is not None
    assert headers['RateLimit-Remaining'] == '2'
    assert headers['RateLimit-Reset'] == '10'


async def test_buckets_are_per_client_and_path(backend: str) -> None:
    throttle = Throttle(rate=1, duration=timedelta(minutes=1))
    path, other_path = unique_path(), unique_path()
    await throttle.check_and_increment(make_request(path))
    with pytest.raises(ThrottlingAPIError):
        await throttle.check_and_increment(make_request(path))
    assert await throttle.check_and_increment(make_request(other_path))
    assert await throttle.check_and_increment(make_request(path, client=('10.0.0.2', 1)))
    assert await throttle.check_and_increment(make_request(path, user=U(uuid.uuid4().hex)))


async def test_key_function_replaces_the_bucket(backend: str) -> None:
    bucket = uuid.uuid4().hex
    throttle = Throttle(rate=2, duration=timedelta(minutes=1), key=lambda request: bucket)
    await throttle.check_and_increment(make_request('/a'))
    await throttle.check_and_increment(make_request('/b', client=('10.9.9.9', 1)))
    with pytest.raises(ThrottlingAPIError):
        await throttle.check_and_increment(make_request('/c'))


async def test_request_count_helpers(backend: str) -> None:
    throttle = Throttle(rate=5, duration=timedelta(minutes=1))
    request = make_request(unique_path())
    assert await throttle.get_request_count(request) == 0
    assert await throttle.increment_request_count(request) == 1
    await throttle.check_and_increment(request)
    assert await throttle.get_request_count(request) == 2


async def test_store_outage_fails_open(caplog: pytest.LogCaptureFixture) -> None:
    client = RedisConnection(host='127.0.0.1', port=9, socket_connect_timeout=0.5)
    client.is_connected = True
    set_redis_store(RedisStore(client))
    throttle = Throttle(rate=1, duration=timedelta(minutes=1))
    try:
        started = time.perf_counter()
        with caplog.at_level(logging.ERROR):
            for _ in range(3):
                assert await throttle.check_and_increment(make_request()) is None
        assert time.perf_counter() - started < 2
    finally:
        set_redis_store(None)
        await client.aclose()
    assert len(caplog.records) == 3
    assert all(message.startswith('Throttling is not enforced for this request:') for message in caplog.messages)


# --- through the app -------------------------------------------------------------------------------------------


@API(throttling=Throttle(rate=3, duration=timedelta(seconds=10)))
async def limited() -> dict[str, bool]:
    return {'ok': True}


@API()
async def globally_limited() -> dict[str, bool]:
    return {'ok': True}


@API(throttling=Throttle(rate=5, duration=timedelta(seconds=10)))
async def own_limit() -> dict[str, bool]:
    return {'ok': True}


@API(throttling=Throttle(rate=1, duration=timedelta(seconds=10)), cache=timedelta(seconds=30))
async def cached_and_limited() -> dict[str, bool]:
    return {'ok': True}


class SharedBucket(Throttle):
    """One bucket per client for every endpoint that uses this throttle."""

    def build_cache_key(self, request: Any) -> str:
        return f'shared:{request.client.ip}'


SHARED = SharedBucket(rate=1, duration=timedelta(seconds=10))


@API(throttling=SHARED)
async def shared_one() -> dict[str, bool]:
    return {'ok': True}


@API(throttling=SHARED)
async def shared_two() -> dict[str, bool]:
    return {'ok': True}


class Item(BaseModel):
    name: str


@API(methods=['POST'], input_model=Item, throttling=Throttle(rate=5, duration=timedelta(seconds=10)))
async def limited_create(request: Any) -> Any:
    raise NotFoundAPIError


THROTTLING = Throttle(rate=2, duration=timedelta(seconds=10))
URLS = {
    'limited': limited,
    'global': globally_limited,
    'own': own_limit,
    'cached': cached_and_limited,
    'shared-one': shared_one,
    'shared-two': shared_two,
    'limited-create': limited_create,
}


@pytest.fixture
def client() -> APIClient:
    return APIClient(app=Panther(__name__, configs=__name__, urls=URLS))


async def test_app_per_endpoint_throttle(client: APIClient, backend: str, clock: ManualClock) -> None:
    clock.now = 1_000_000.0 + (uuid.uuid4().int % 10_000) * 10  # a window no earlier run has used
    statuses = []
    for _ in range(5):
        response = await client.get('/limited')
        statuses.append(response.status_code)
    assert statuses == [200, 200, 200, 429, 429]
    assert response.data == {'detail': 'Too Many Request'}
    assert response.headers['Content-Length'] == '29'
    assert response.headers['Retry-After'] == '10'
    assert response.headers['RateLimit-Remaining'] == '0'

    clock.now += 10
    ok = await client.get('/limited')
    assert ok.status_code == 200
    assert ok.headers['RateLimit-Limit'] == '3'
    assert ok.headers['RateLimit-Remaining'] == '2'
    assert ok.headers['RateLimit-Reset'] == '10'


async def test_app_global_throttle_and_override(client: APIClient, clock: ManualClock) -> None:
    assert [(await client.get('/global')).status_code for _ in range(3)] == [200, 200, 429]
    assert [(await client.get('/own')).status_code for _ in range(6)] == [200] * 5 + [429]


async def test_app_overridden_build_cache_key_decides_the_bucket(client: APIClient, clock: ManualClock) -> None:
    assert (await client.get('/shared-one')).status_code == 200
    assert (await client.get('/shared-two')).status_code == 429


async def test_app_error_answers_carry_rate_limit_headers(client: APIClient, clock: ManualClock) -> None:
    invalid = await client.post('/limited-create', payload={})
    assert invalid.status_code == 400
    assert invalid.headers['RateLimit-Remaining'] == '4'
    missing = await client.post('/limited-create', payload={'name': 'x'})
    assert missing.status_code == 404
    assert missing.headers['RateLimit-Remaining'] == '3'


async def test_app_cache_hit_still_counts_and_carries_headers(client: APIClient, clock: ManualClock) -> None:
    first = await client.get('/cached')
    assert first.headers['RateLimit-Remaining'] == '0'
    assert (await client.get('/cached')).status_code == 429


# --- the bucket is the matched route, never the raw path ---------------------------------------------------------

login_guesses: list[str] = []


@API(methods=['POST'], throttling=Throttle(rate=5, duration=timedelta(minutes=1)))
async def spelled_login(request: Request) -> Any:
    login_guesses.append(request.path)
    raise AuthenticationAPIError('Invalid username or password')


def spellings() -> list[str]:
    """40 spellings of `/auth/login/`: repeated and dot segments, a missing trailing slash, percent-escapes."""
    found: list[str] = []
    for lead in ('/', '//', '///', '////'):
        for middle in ('/', '//', '/./'):
            for tail in ('', '/', '//'):
                found.append(f'{lead}auth{middle}login{tail}')
    found += ['/auth/%6Cogin/', '/%61uth/login/', '/auth%2Flogin/', '/auth/login%2F']
    return found


async def call_like_a_server(app: Panther, raw_path: str, address: str) -> int:
    """POST through the app the way uvicorn does: `path` is the percent-decoded `raw_path`."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {'type': 'http.request', 'body': b'{}', 'more_body': False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        'type': 'http',
        'method': 'POST',
        'path': unquote(raw_path),
        'raw_path': raw_path.encode(),
        'query_string': b'',
        'headers': [(b'content-type', b'application/json'), (b'content-length', b'2')],
        'client': (address, 40000),
        'server': ('127.0.0.1', 8000),
    }
    await app(scope, receive, send)
    return sent[0]['status']


async def test_path_spellings_share_one_bucket(backend: str, clock: ManualClock) -> None:
    # The reproduction: 40 spellings x 5 guesses from one address gave 200 answers and no 429.
    clock.now = 1_000_000.0 + (uuid.uuid4().int % 10_000) * 60  # a window no earlier run has used
    app = Panther(__name__, configs=__name__, urls={'auth': {'login': spelled_login}})
    login_guesses.clear()
    address = f'10.{uuid.uuid4().int % 250}.0.1'
    assert len(spellings()) == 40
    statuses: dict[int, int] = {}
    for _ in range(5):
        for spelling in spellings():
            status_code = await call_like_a_server(app, spelling, address)
            statuses[status_code] = statuses.get(status_code, 0) + 1
    assert len(login_guesses) == 5
    # `/auth/login` with or without the trailing slash (also percent-encoded) is the route; the rest is 404.
    assert statuses == {401: 5, 429: 5 * 6 - 5, 404: 5 * 34}


async def test_a_throttled_request_is_keyed_by_its_route_pattern(backend: str, clock: ManualClock) -> None:
    clock.now = 1_000_000.0 + (uuid.uuid4().int % 10_000) * 60
    throttle = Throttle(rate=1, duration=timedelta(minutes=1))
    route = f'items/{uuid.uuid4().hex}/<item_id>'
    first, second = make_request('/items/1/'), make_request('/items/2')
    first.route = second.route = route
    assert await throttle.check_and_increment(first)
    with pytest.raises(ThrottlingAPIError):
        await throttle.check_and_increment(second)
    assert throttle.build_cache_key(first).endswith(f':ip:10.0.0.1:{route}')


def test_unrouted_request_key_ignores_empty_and_dot_segments() -> None:
    throttle = Throttle(rate=1, duration=timedelta(minutes=1))
    keys = {throttle.build_cache_key(make_request(path)) for path in ('/a/b/', '//a//b', '/./a/b/.', '/a/../a/b')}
    assert len(keys) == 1


# --- login, refresh and sign-up: keyed by the client address -----------------------------------------------------


class TokenPerUser:
    """`Authorization: Bearer user-<n>` authenticates user n: an attacker holding many accounts."""

    async def __call__(self, request: Request) -> Any:
        header = request.headers.authorization
        return U(header.removeprefix('Bearer user-')) if header else None


@API(methods=['POST'], auth=TokenPerUser, throttling=Throttle(rate=5, duration=timedelta(minutes=1), key='ip'))
async def ip_keyed_login(request: Request) -> Any:
    raise AuthenticationAPIError('Invalid username or password')


@API(
    methods=['POST'],
    auth=TokenPerUser,
    throttling=Throttle(rate=5, duration=timedelta(minutes=1), key=throttling.client_ip_key),
)
async def ip_keyed_sign_up(request: Request) -> Any:
    return {'ok': True}


@API(methods=['POST'], auth=TokenPerUser, throttling=Throttle(rate=5, duration=timedelta(minutes=1)))
async def user_keyed_login(request: Request) -> Any:
    raise AuthenticationAPIError('Invalid username or password')


async def test_login_limit_is_not_multiplied_by_the_attackers_tokens(backend: str, clock: ManualClock) -> None:
    # The reproduction: with the default key, N accounts gave N x 5 guesses a minute against any victim.
    clock.now = 1_000_000.0 + (uuid.uuid4().int % 10_000) * 60
    urls = {'login': ip_keyed_login, 'signup': ip_keyed_sign_up, 'user-login': user_keyed_login}
    client = APIClient(app=Panther(__name__, configs=__name__, urls=urls))
    for path in ('/login', '/signup'):
        statuses = [
            (await client.post(path, headers={'Authorization': f'Bearer user-{number}'})).status_code
            for number in range(10)
        ]
        assert statuses.count(429) == 5, path
        anonymous = await client.post(path)
        assert anonymous.status_code == 429
    # The default key is the user: the same ten tokens get ten buckets (what the login endpoints must not use).
    statuses = [
        (await client.post('/user-login', headers={'Authorization': f'Bearer user-{number}'})).status_code
        for number in range(10)
    ]
    assert 429 not in statuses


def test_client_ip_key_ignores_the_user_and_uses_the_route() -> None:
    request = make_request('/auth//login', user=U(7))
    request.route = 'auth/login'
    assert throttling.client_ip_key(request) == 'ip:10.0.0.1:auth/login'
    assert throttling.user_key(request) == 'user:7:auth/login'


def test_unknown_key_name_is_refused() -> None:
    with pytest.raises(PantherError, match="one of \\['ip', 'user'\\]"):
        Throttle(rate=1, duration=timedelta(minutes=1), key='address')


# --- two worker processes share one Redis ------------------------------------------------------------------------

WORKER_APP = """
import os
from datetime import timedelta

from panther import Panther
from panther.app import API
from panther.throttling import Throttle

REDIS = {{'host': '{host}', 'port': {port}}}


def burst_key(request):
    # One bucket per burst of the test (a burst that met a window boundary is sent again with a new key).
    return request.headers['x-burst']


@API(throttling=Throttle(rate={rate}, duration=timedelta(seconds={window}), key=burst_key))
async def hello():
    return {{'pid': os.getpid()}}


app = Panther(__name__, configs=__name__, urls={{'{route}': hello}})
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.fixture(params=[7, 256], ids=['counted-exactly', 'counted-in-leases'])
def two_workers(
    tmp_path: Path, redis_address: tuple[str, int], request: pytest.FixtureRequest
) -> Iterator[tuple[list[str], str, int]]:
    host, port = redis_address
    rate, route = request.param, f'hello{uuid.uuid4().hex[:12]}'
    source = WORKER_APP.format(host=host, port=port, rate=rate, window=30, route=route)
    (tmp_path / 'worker_app.py').write_text(textwrap.dedent(source))
    env = os.environ | {'PYTHONPATH': f'{ROOT}{os.pathsep}{os.environ.get("PYTHONPATH", "")}'}
    processes: list[subprocess.Popen[bytes]] = []
    urls, ports = [], []
    try:
        for _ in range(2):
            worker_port = free_port()
            command = [sys.executable, '-m', 'uvicorn', 'worker_app:app', '--host', '127.0.0.1']
            command += ['--port', str(worker_port), '--log-level', 'warning', '--app-dir', str(tmp_path)]
            processes.append(subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL))
            urls.append(f'http://127.0.0.1:{worker_port}/{route}')
            ports.append(worker_port)
        deadline = time.monotonic() + 20
        for process, worker_port in zip(processes, ports, strict=True):
            while True:
                assert process.poll() is None, 'a worker exited during start-up'
                try:
                    with socket.create_connection(('127.0.0.1', worker_port), 0.2):
                        break
                except OSError:
                    assert time.monotonic() < deadline, 'a worker did not start within 20 s'
                    time.sleep(0.1)
        yield urls, route, rate
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


@pytest.mark.slow
@pytest.mark.redis
def test_limit_holds_across_two_worker_processes(two_workers: tuple[list[str], str, int]) -> None:
    urls, route, rate = two_workers
    window = 30

    def burst(name: str) -> tuple[list[int], set[int], bool]:
        """Send twice the limit; also tell whether a window boundary fell inside the burst."""
        started = int(time.time() // window)
        statuses: list[int] = []
        pids: set[int] = set()
        with httpx.Client(timeout=5, headers={'x-burst': name}) as http:
            for number in range(2 * rate):
                response = http.get(urls[number % 2])
                statuses.append(response.status_code)
                if response.status_code == 200:
                    pids.add(response.json()['pid'])
                else:
                    assert response.headers['Retry-After']
        return statuses, pids, int(time.time() // window) != started

    # Bucket names of this test's own: Redis outlives a test, and the parametrized runs share a window.
    statuses, pids, crossed = burst(f'{route}-first')
    if crossed:
        # The counters restarted mid-burst: a second burst (its own bucket) lasts far less than a window.
        statuses, pids, crossed = burst(f'{route}-second')
        assert not crossed
    admitted = statuses.count(200)
    # Never more than the limit across both processes. A limit of 128 or more is counted in leases (see
    # panther/_internal/near_state.py): each process may end the burst holding a few unused counts.
    unused = 2 * (lease_size(rate) - 1)
    assert rate - unused <= admitted <= rate
    assert statuses.count(429) == 2 * rate - admitted
    assert statuses[: rate - unused] == [200] * (rate - unused)  # nobody refused while the window had room
    assert len(pids) == 2  # both processes served part of the limit
