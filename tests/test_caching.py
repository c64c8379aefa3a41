"""Response caching: keys, round trips, ETag / 304, what is not cached, both Store backends, outages."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from panther import Panther
from panther._internal.store import RedisStore, get_store, set_redis_store
from panther.app import API
from panther.caching import CachedResponse, api_cache_key, get_response_from_cache, set_response_in_cache
from panther.db.connections.redis import RedisConnection, close_redis, load_redis
from panther.request import Request
from panther.response import Cookie, HTMLResponse, Response, StreamingResponse
from panther.test import APIClient


class U:
    def __init__(self, id: Any) -> None:
        self.id = id


def make_request(
    path: str = '/items', query: bytes = b'', headers: dict[str, str] | None = None, user: Any = None
) -> Request:
    async def receive() -> dict[str, Any]:
        return {'type': 'http.request', 'body': b''}

    async def send(message: dict[str, Any]) -> None:
        return None

    scope = {
        'type': 'http',
        'method': 'GET',
        'path': path,
        'query_string': query,
        'headers': [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        'client': ('10.0.0.1', 5000),
    }
    request = Request(scope, receive, send)
    request.user = user
    return request


def unique_path() -> str:
    return f'/{uuid.uuid4().hex}'


DURATION = timedelta(seconds=30)
ROOT = Path(__file__).resolve().parent.parent


def test_cache_key_parts() -> None:
    anonymous = api_cache_key(make_request('/a', b'x=1'))
    assert anonymous.startswith('panther:cache:ip:10.0.0.1:a:')
    assert anonymous != api_cache_key(make_request('/a', b'x=2'))
    assert api_cache_key(make_request('/a')) == 'panther:cache:ip:10.0.0.1:a::'
    assert api_cache_key(make_request('/a', user=U(5))).startswith('panther:cache:user:5:a:')
    assert api_cache_key(make_request('/a', b'x=1'), DURATION) == anonymous


def test_cached_response_round_trip_keeps_binary_bodies() -> None:
    cached = CachedResponse(data=b'\x00\n\xffbody', headers={'Content-Type': 'x/y'}, status_code=201, etag='"e"')
    assert CachedResponse.loads(cached.dumps()) == cached


async def test_miss_then_hit(backend: str) -> None:
    request = make_request(unique_path(), b'page=2')
    assert await get_response_from_cache(request=request, duration=DURATION) is None
    response = Response(data={'items': [1, 2]}, headers={'X-Custom': 'yes'})
    await set_response_in_cache(request=request, response=response, duration=DURATION)
    etag = response.headers['ETag']
    assert etag.startswith('"') and etag.endswith('"')

    hit = await get_response_from_cache(request=request, duration=DURATION)
    assert hit is not None
    assert hit.status_code == 200
    assert hit.body == b'{"items":[1,2]}'
    assert hit.headers == {'Content-Type': 'application/json', 'X-Custom': 'yes', 'ETag': etag}


async def test_entries_are_per_user_and_query(backend: str) -> None:
    path = unique_path()
    await set_response_in_cache(request=make_request(path, user=U(1)), response=Response('one'), duration=DURATION)
    assert await get_response_from_cache(request=make_request(path, user=U(2))) is None
    assert await get_response_from_cache(request=make_request(path, b'q=1', user=U(1))) is None
    hit = await get_response_from_cache(request=make_request(path, user=U(1)))
    assert hit is not None
    assert hit.body == b'"one"'


async def test_entries_expire(backend: str, clock: Any) -> None:
    request = make_request(unique_path())
    duration = timedelta(milliseconds=200)
    await set_response_in_cache(request=request, response=Response('x'), duration=duration)
    assert await get_response_from_cache(request=request) is not None
    if backend == 'redis':
        # Redis expires the entry on its own clock: the cache asks for the response's duration.
        _, remaining = await get_store().get_with_ttl(api_cache_key(request, duration))
        assert remaining is not None and 0 < remaining <= 0.2
        return
    clock.advance(0.3)
    assert await get_response_from_cache(request=request) is None


@pytest.mark.parametrize(
    ('if_none_match', 'matches'),
    [
        ('{etag}', True),
        ('W/{etag}', True),
        ('"other", {etag}', True),
        ('*', True),
        ('"other"', False),
    ],
)
async def test_if_none_match(backend: str, if_none_match: str, matches: bool) -> None:
    path = unique_path()
    response = Response(data={'a': 1})
    await set_response_in_cache(request=make_request(path), response=response, duration=DURATION)
    etag = response.headers['ETag']
    conditional = make_request(path, headers={'If-None-Match': if_none_match.format(etag=etag)})
    hit = await get_response_from_cache(request=conditional)
    assert hit is not None
    if matches:
        assert hit.status_code == 304
        assert hit.body == b''
        assert hit.headers == {'ETag': etag}
        assert hit.bytes_headers == [(b'ETag', etag.encode())]
    else:
        assert hit.status_code == 200
        assert hit.body == b'{"a":1}'


async def test_html_keeps_its_content_type(backend: str) -> None:
    request = make_request(unique_path())
    await set_response_in_cache(request=request, response=HTMLResponse('<b>hi</b>'), duration=DURATION)
    hit = await get_response_from_cache(request=request)
    assert hit is not None
    assert hit.headers['Content-Type'] == 'text/html; charset=utf-8'
    assert hit.body == b'<b>hi</b>'


async def test_redirects_are_cached_without_an_etag(backend: str) -> None:
    request = make_request(unique_path())
    response = Response(status_code=301, headers={'Location': '/new'})
    await set_response_in_cache(request=request, response=response, duration=DURATION)
    assert 'ETag' not in response.headers
    hit = await get_response_from_cache(request=request)
    assert hit is not None
    assert (hit.status_code, hit.headers['Location']) == (301, '/new')


async def stream() -> AsyncIterator[str]:
    yield 'chunk'


@pytest.mark.parametrize(
    'response',
    [
        StreamingResponse(stream()),
        Response('private', set_cookies=Cookie('session', 'abc')),
        Response({'detail': 'nope'}, status_code=404),
        Response({'detail': 'boom'}, status_code=500),
    ],
    ids=['streaming', 'sets-cookies', 'client-error', 'server-error'],
)
async def test_not_cached(response: Response) -> None:
    request = make_request(unique_path())
    await set_response_in_cache(request=request, response=response, duration=DURATION)
    assert await get_response_from_cache(request=request) is None
    assert 'ETag' not in response.headers
    if isinstance(response, StreamingResponse):
        await response.data.aclose()


async def test_store_outage_fails_open(caplog: pytest.LogCaptureFixture) -> None:
    client = RedisConnection(host='127.0.0.1', port=9, socket_connect_timeout=0.5)
    client.is_connected = True
    set_redis_store(RedisStore(client))
    request = make_request()
    try:
        started = time.perf_counter()
        with caplog.at_level(logging.ERROR):
            assert await get_response_from_cache(request=request, duration=DURATION) is None
            await set_response_in_cache(request=request, response=Response('x'), duration=DURATION)
        assert time.perf_counter() - started < 2
    finally:
        set_redis_store(None)
        await client.aclose()
    assert len(caplog.records) == 2
    assert caplog.messages[0].startswith('Response cache is not used for this request:')
    assert caplog.messages[1].startswith('Response was not cached:')


# --- through the app -------------------------------------------------------------------------------------------

calls: list[str] = []


async def header_user(request: Request) -> U | None:
    name = request.headers.get('x-user')
    return U(name) if name else None


@API(cache=timedelta(seconds=30), auth=header_user)
async def items(request: Request) -> dict[str, Any]:
    calls.append(request.path)
    return {'call': len(calls), 'query': request.query_params}


@API(cache=timedelta(seconds=30))
async def page() -> HTMLResponse:
    calls.append('page')
    return HTMLResponse('<h1>cached</h1>')


@API(methods=['GET', 'POST'], cache=timedelta(seconds=30))
async def mixed(request: Request) -> dict[str, int]:
    calls.append(request.method)
    return {'call': len(calls)}


@API(cache=timedelta(seconds=30))
async def absolute_link(request: Request) -> dict[str, str]:
    calls.append('absolute')
    return {'self': f'http://{request.headers.get("host")}/absolute'}


@API(cache=timedelta(seconds=30))
async def greeting(request: Request) -> Response:
    calls.append('greeting')
    language = request.headers.get('accept-language') or 'en'
    return Response(data={'hello': {'fr': 'bonjour'}.get(language, 'hello')}, headers={'Vary': 'Accept-Language'})


@API(cache=timedelta(seconds=30))
async def anything_goes() -> Response:
    calls.append('anything')
    return Response(data={'call': len(calls)}, headers={'Vary': '*'})


URLS = {
    'items': items,
    'page': page,
    'mixed': mixed,
    'absolute': absolute_link,
    'greeting': greeting,
    'anything': anything_goes,
}


@pytest.fixture
def client() -> APIClient:
    calls.clear()
    return APIClient(app=Panther(__name__, configs=__name__, urls=URLS))


async def test_app_second_get_is_served_from_cache(client: APIClient) -> None:
    first = await client.get('/items', query_params={'a': '1'})
    second = await client.get('/items', query_params={'a': '1'})
    assert first.data == second.data == {'call': 1, 'query': {'a': '1'}}
    assert calls == ['/items']
    assert second.headers['ETag'] == first.headers['ETag']
    other_query = await client.get('/items', query_params={'a': '2'})
    assert other_query.data['call'] == 2


@pytest.mark.parametrize(('path', 'headers'), [('/page', {}), ('/greeting', {'Accept-Language': 'fr'})])
async def test_app_hits_replayed_by_the_entry_equal_the_pipelines(
    client: APIClient, monkeypatch: pytest.MonkeyPatch, path: str, headers: dict[str, str]
) -> None:
    """A memory-held hit of a cache-only endpoint is replayed by the app's entry (`ready_hit`); the pipeline's
    answer for the same entry is the same, byte for byte."""
    from panther._internal import pipeline

    general = pipeline.memory_hit
    general_calls: list[str] = []

    def counting(request: Request, duration: Any = None) -> Any:
        general_calls.append(request.path)
        return general(request, duration)

    monkeypatch.setattr(pipeline, 'memory_hit', counting)
    await client.get(path, headers=headers)  # the miss: stored
    general_calls.clear()
    replayed = await client.get(path, headers=headers)
    assert general_calls == []  # answered before any request object was built
    monkeypatch.setattr(pipeline, 'ready_hit', lambda *args: None)
    through_pipeline = await client.get(path, headers=headers)
    assert general_calls == [path]
    assert len(calls) == 1
    assert replayed.status_code == through_pipeline.status_code == 200
    assert replayed.headers == through_pipeline.headers
    assert replayed.raw_body == through_pipeline.raw_body


async def test_app_hits_behind_trusted_proxies_take_the_general_path(
    client: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from panther._internal import pipeline
    from panther.caching import ready_hit
    from panther.configs import config

    scopes: list[dict[str, Any]] = []

    def recording(scope: dict[str, Any], route: str, variables: Any) -> Any:
        scopes.append(scope)
        return ready_hit(scope, route, variables)

    monkeypatch.setattr(pipeline, 'ready_hit', recording)
    await client.get('/page')
    assert (await client.get('/page')).status_code == 200
    scope = scopes[-1]
    assert ready_hit(scope, 'page', None) is not None
    monkeypatch.setattr(config, 'TRUSTED_PROXIES', ['127.0.0.1'], raising=False)
    assert ready_hit(scope, 'page', None) is None  # the client address needs the proxy rules
    monkeypatch.setattr(config, 'TRUSTED_PROXIES', None, raising=False)
    conditional = {**scope, 'headers': [*scope['headers'], (b'if-none-match', b'"x"')]}
    assert ready_hit(conditional, 'page', None) is None  # a conditional request: the pipeline answers 304 or 200
    monkeypatch.setattr(config, 'TRUSTED_PROXIES', ['127.0.0.1'], raising=False)
    monkeypatch.setattr(pipeline, 'ready_hit', ready_hit)
    response = await client.get('/page', headers={'X-Forwarded-For': '203.0.113.9'})
    assert response.status_code == 200
    assert calls == ['page', 'page']  # another client address: another entry


async def test_app_conditional_get_gets_304(client: APIClient) -> None:
    first = await client.get('/items')
    response = await client.get('/items', headers={'If-None-Match': first.headers['ETag']})
    assert response.status_code == 304
    assert response.data in (b'', None, '')
    assert response.headers['ETag'] == first.headers['ETag']
    assert 'Content-Type' not in response.headers


async def test_app_users_do_not_share_entries(client: APIClient) -> None:
    ali = await client.get('/items', headers={'X-User': 'ali'})
    sara = await client.get('/items', headers={'X-User': 'sara'})
    assert (ali.data['call'], sara.data['call']) == (1, 2)
    assert (await client.get('/items', headers={'X-User': 'ali'})).data['call'] == 1


async def test_app_a_forged_host_never_fills_the_entry_others_read(client: APIClient, backend: str) -> None:
    # Host-header cache poisoning: one client (all readers behind one proxy address) asks with a forged Host.
    unique = uuid.uuid4().hex  # Redis outlives a run: hosts no earlier run has used
    forged = await client.get('/absolute', headers={'Host': f'evil-{unique}.example'})
    assert forged.data == {'self': f'http://evil-{unique}.example/absolute'}
    honest = await client.get('/absolute', headers={'Host': f'site-{unique}.example'})
    assert honest.data == {'self': f'http://site-{unique}.example/absolute'}
    # Host names are case-insensitive: one entry per host, whatever its spelling.
    again = await client.get('/absolute', headers={'Host': f'SITE-{unique}.example'})
    assert again.data == honest.data
    assert calls == ['absolute', 'absolute']


async def test_app_entries_vary_on_the_headers_the_response_names(client: APIClient, backend: str) -> None:
    unique = uuid.uuid4().hex
    headers = {'Host': f'{unique}.example'}
    english = await client.get('/greeting', headers={**headers, 'Accept-Language': 'en'})
    french = await client.get('/greeting', headers={**headers, 'Accept-Language': 'fr'})
    assert (english.data, french.data) == ({'hello': 'hello'}, {'hello': 'bonjour'})
    assert (await client.get('/greeting', headers={**headers, 'Accept-Language': 'fr'})).data == {'hello': 'bonjour'}
    assert (await client.get('/greeting', headers={**headers, 'Accept-Language': 'en'})).data == {'hello': 'hello'}
    assert calls == ['greeting', 'greeting']


async def test_app_vary_star_is_not_cached(client: APIClient) -> None:
    assert (await client.get('/anything')).data == {'call': 1}
    assert (await client.get('/anything')).data == {'call': 2}


def test_cache_key_ends_with_the_host() -> None:
    plain = api_cache_key(make_request('/a', headers={'Host': 'example.com:8000'}))
    assert plain == 'panther:cache:ip:10.0.0.1:a::example.com:8000'
    assert api_cache_key(make_request('/a', headers={'Host': 'EXAMPLE.com:8000'})) == plain
    assert api_cache_key(make_request('/a', headers={'Host': 'other.example'})) != plain


async def test_app_html_content_type_survives(client: APIClient) -> None:
    await client.get('/page')
    hit = await client.get('/page')
    assert hit.headers['Content-Type'] == 'text/html; charset=utf-8'
    assert calls == ['page']


async def test_app_only_get_is_cached(client: APIClient) -> None:
    await client.post('/mixed')
    await client.post('/mixed')
    await client.get('/mixed')
    await client.get('/mixed')
    assert calls == ['POST', 'POST', 'GET']


@pytest.mark.redis
async def test_app_redis_entries_are_reused_in_process_until_they_expire(redis_address: tuple[str, int]) -> None:
    from panther.caching import _near_cache, clear_near_cache
    from panther.db.connections import redis

    host, port = redis_address
    load_redis({'host': host, 'port': port})
    try:
        calls.clear()
        client = APIClient(app=Panther(__name__, configs=__name__, urls=URLS))
        query = {'near': uuid.uuid4().hex}
        assert (await client.get('/items', query_params=query)).data['call'] == 1
        assert len(_near_cache) == 1
        # Gone from Redis, still valid here (it cannot change before it expires): no round trip needed.
        await redis.flushdb()
        assert (await client.get('/items', query_params=query)).data['call'] == 1
        # Another worker's entry: read once from Redis, with the lifetime it has left there.
        clear_near_cache()
        assert (await client.get('/items', query_params=query)).data['call'] == 2
        clear_near_cache()
        assert (await client.get('/items', query_params=query)).data['call'] == 2
        ((expires_at, _),) = _near_cache.values()
        assert 0 < expires_at - time.monotonic() <= 30
    finally:
        await close_redis()


# --- a real server -----------------------------------------------------------------------------------------------

SERVER_APP = """
from datetime import timedelta

from panther import Panther
from panther.app import API


@API(cache=timedelta(seconds=30))
async def hello():
    return {'hello': 'world'}


app = Panther(__name__, configs=__name__, urls={'': hello})
"""


@pytest.mark.slow
@pytest.mark.parametrize('http', ['httptools', 'h11'])
def test_304_over_uvicorn_keeps_the_connection_usable(tmp_path: Path, http: str) -> None:
    (tmp_path / 'cache_app.py').write_text(SERVER_APP)
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    env = os.environ | {'PYTHONPATH': f'{ROOT}{os.pathsep}{os.environ.get("PYTHONPATH", "")}'}
    command = [sys.executable, '-m', 'uvicorn', 'cache_app:app', '--port', str(port), '--http', http]
    command += ['--log-level', 'warning', '--app-dir', str(tmp_path)]
    server = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            assert server.poll() is None, 'uvicorn exited during start-up'
            try:
                with socket.create_connection(('127.0.0.1', port), 0.2):
                    break
            except OSError:
                assert time.monotonic() < deadline, 'uvicorn did not start within 20 s'
                time.sleep(0.1)
        url = f'http://127.0.0.1:{port}/'
        with httpx.Client(timeout=5) as http_client:  # one keep-alive connection for every request
            etag = http_client.get(url).headers['etag']
            not_modified = http_client.get(url, headers={'If-None-Match': etag})
            assert (not_modified.status_code, not_modified.content) == (304, b'')
            assert 'content-length' not in not_modified.headers
            assert http_client.get(url).json() == {'hello': 'world'}
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=5)
