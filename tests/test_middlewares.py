from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

import pytest

from panther import status
from panther.app import API
from panther.configs import config
from panther.exceptions import AuthenticationAPIError
from panther.middlewares import (
    CORSMiddleware,
    HTTPMiddleware,
    MonitoringMiddleware,
    WebsocketMiddleware,
    WebsocketMonitoringMiddleware,
)
from panther.request import Request
from panther.response import Response
from panther.test import APIClient, WebsocketClient
from panther.websocket import GenericWebsocket
from tests._core_helpers import make_app

DEFAULT_METHODS = 'GET, POST, PUT, PATCH, DELETE, OPTIONS'


@API()
async def trace(request: Request):
    request.trace.append('endpoint')
    return {'trace': request.trace, 'marker': getattr(request, 'marker', None)}


@API()
async def plain():
    return {'ok': True}


@API()
async def boom():
    raise RuntimeError('unexpected')


@API()
async def varies():
    return Response(data={}, headers={'Vary': 'Accept-Encoding'})


@API(methods=['POST'])
async def post_only():
    return None


class Tracing(HTTPMiddleware):
    async def __call__(self, request: Request):
        if not hasattr(request, 'trace'):
            request.trace = []
        request.trace.append(f'{type(self).__name__}:in')
        response = await self.dispatch(request=request)
        request.trace.append(f'{type(self).__name__}:out')
        if isinstance(response.data, dict) and 'trace' in response.data:
            response.data = {**response.data, 'trace': list(request.trace)}
        return response


class A(Tracing):
    pass


class B(Tracing):
    pass


class Marker(HTTPMiddleware):
    async def __call__(self, request: Request):
        request.marker = 'set-by-middleware'
        response = await self.dispatch(request=request)
        response.headers['X-Marker'] = 'after'
        return response


class ShortCircuit(HTTPMiddleware):
    async def __call__(self, request: Request):
        if request.headers['x-block']:
            return Response(data={'blocked': True}, status_code=status.HTTP_403_FORBIDDEN)
        return await self.dispatch(request=request)


class Counting(HTTPMiddleware):
    instances: list[int] = []

    def __init__(self, dispatch) -> None:
        super().__init__(dispatch=dispatch)
        Counting.instances.append(id(self))


class RaisesAuth(HTTPMiddleware):
    async def __call__(self, request: Request):
        raise AuthenticationAPIError


# Base classes (SPEC §20.1)


async def test_default_http_middleware_passes_through() -> None:
    seen: list[Request] = []

    async def dispatch(request):
        seen.append(request)
        return Response(data='done')

    middleware = HTTPMiddleware(dispatch=dispatch)
    assert middleware.dispatch is dispatch
    request = object()
    response = await middleware(request)
    assert response.data == 'done'
    assert seen == [request]


async def test_default_websocket_middleware_passes_through() -> None:
    async def dispatch(connection):
        return ('handled', connection)

    middleware = WebsocketMiddleware(dispatch)
    assert await middleware('conn') == ('handled', 'conn')


# Global middlewares (SPEC §20.2, §20.3)


async def test_global_ordering_and_post_processing() -> None:
    client = APIClient(make_app({'trace': trace}, MIDDLEWARES=[A, B]))
    res = await client.get('/trace')
    assert res.data['trace'] == ['A:in', 'B:in', 'endpoint', 'B:out', 'A:out']


async def test_same_middleware_twice() -> None:
    client = APIClient(make_app({'trace': trace}, MIDDLEWARES=[A, A]))
    assert (await client.get('/trace')).data['trace'] == ['A:in', 'A:in', 'endpoint', 'A:out', 'A:out']


async def test_middleware_can_change_request_and_response() -> None:
    client = APIClient(make_app({'trace': trace}, MIDDLEWARES=[A, Marker]))
    res = await client.get('/trace')
    assert res.data['marker'] == 'set-by-middleware'
    assert res.headers['X-Marker'] == 'after'


async def test_short_circuit_skips_routing_and_endpoint() -> None:
    client = APIClient(make_app({'trace': trace}, MIDDLEWARES=[ShortCircuit]))
    res = await client.get('/does-not-exist', headers={'X-Block': '1'})
    assert (res.status_code, res.data) == (403, {'blocked': True})
    assert (await client.get('/does-not-exist')).status_code == 404


async def test_middlewares_are_instantiated_per_request() -> None:
    Counting.instances.clear()
    client = APIClient(make_app({'plain': plain}, MIDDLEWARES=[Counting]))
    for _ in range(3):
        assert (await client.get('/plain')).status_code == 200
    assert len(Counting.instances) == 3


@pytest.mark.parametrize(('path', 'code'), [('/missing', 404), ('/boom', 500), ('/post', 405)])
async def test_error_responses_pass_through_middlewares(path: str, code: int) -> None:
    client = APIClient(make_app({'boom': boom, 'post': post_only}, MIDDLEWARES=[Marker]))
    res = await client.get(path)
    assert res.status_code == code
    assert res.headers['X-Marker'] == 'after'


async def test_error_raised_by_an_inner_middleware_still_gets_cors_headers() -> None:
    client = APIClient(make_app({'plain': plain}, MIDDLEWARES=[CORSMiddleware, RaisesAuth]))
    res = await client.get('/plain', headers={'Origin': 'https://site.example'})
    assert res.status_code == 401
    assert res.headers.get('Access-Control-Allow-Origin') == '*'


async def test_error_raised_by_a_middleware_becomes_a_response() -> None:
    client = APIClient(make_app({'plain': plain}, MIDDLEWARES=[RaisesAuth]))
    res = await client.get('/plain')
    assert (res.status_code, res.data) == (401, {'detail': 'Authentication Error'})


# CORS (SPEC §20.4 with DESIGN §1 rules)


class PassingOuter(HTTPMiddleware):
    """Outside `CORSMiddleware`, it makes CORS run as a middleware layer instead of in the app's entry."""


CORS_PLACES = {'entry': [CORSMiddleware], 'layer': [PassingOuter, CORSMiddleware]}


@pytest.fixture(params=sorted(CORS_PLACES))
def cors_client(request: pytest.FixtureRequest) -> Callable[..., APIClient]:
    """Every CORS test runs twice: CORS outermost (applied by the entry) and CORS inside another middleware."""

    def build(**settings: Any) -> APIClient:
        urls = {'plain': plain, 'boom': boom, 'varies': varies, 'post': post_only}
        return APIClient(make_app(urls, MIDDLEWARES=CORS_PLACES[request.param], **settings))

    return build


@pytest.mark.parametrize('place', sorted(CORS_PLACES))
async def test_cors_outermost_is_applied_by_the_entry(place: str) -> None:
    app = make_app({'plain': plain}, MIDDLEWARES=CORS_PLACES[place])
    assert (await APIClient(app).get('/plain')).status_code == 200
    if place == 'entry':
        assert app.cors is not None and app.chain is None
    else:
        assert app.cors is None and app.chain is not None


async def test_cors_headers_without_an_origin(cors_client: Callable[..., APIClient]) -> None:
    # 5.x sent the CORS headers whether or not the request had an Origin; so do we.
    res = await cors_client().get('/plain')
    assert res.headers['Access-Control-Allow-Origin'] == '*'
    assert res.headers['Access-Control-Max-Age'] == '600'
    res = await cors_client(ALLOW_ORIGINS=['https://a.example']).get('/plain')
    assert 'Access-Control-Allow-Origin' not in res.headers
    assert res.headers['Vary'] == 'Origin'


async def test_cors_header_names_in_other_spellings_are_read(cors_client: Callable[..., APIClient]) -> None:
    client = cors_client(ALLOW_ORIGINS=['https://a.example'])
    scope_headers = [(b'Origin', b'https://a.example')]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {'type': 'http.request', 'body': b'', 'more_body': False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {'type': 'http', 'method': 'GET', 'path': '/plain', 'headers': scope_headers, 'query_string': b'',
             'client': ('127.0.0.1', 1), 'server': ('testserver', 80), 'scheme': 'http', 'root_path': ''}  # fmt: skip
    await client.app(scope, receive, send)
    assert (b'Access-Control-Allow-Origin', b'https://a.example') in sent[0]['headers']


async def test_cors_defaults(cors_client: Callable[..., APIClient]) -> None:
    res = await cors_client().get('/plain', headers={'Origin': 'https://any.example'})
    assert res.status_code == 200
    assert res.headers == {
        'Content-Length': '11',
        'Content-Type': 'application/json',
        'Access-Control-Allow-Origin': '*',
        'Access-Control-Allow-Methods': DEFAULT_METHODS,
        'Access-Control-Allow-Headers': '*',
        'Access-Control-Max-Age': '600',
    }


async def test_cors_preflight_is_answered_without_routing(cors_client: Callable[..., APIClient]) -> None:
    client = cors_client()
    res = await client.options('/not-routed', headers={'Origin': 'https://any.example'})
    assert res.status_code == 204
    assert res.raw_body == b''
    assert res.headers['Access-Control-Allow-Origin'] == '*'
    assert res.headers['Access-Control-Allow-Methods'] == DEFAULT_METHODS


async def test_cors_listed_origin_is_echoed_with_vary(cors_client: Callable[..., APIClient]) -> None:
    client = cors_client(ALLOW_ORIGINS=['https://a.example', 'https://b.example'])
    res = await client.get('/plain', headers={'Origin': 'https://b.example'})
    assert res.headers['Access-Control-Allow-Origin'] == 'https://b.example'
    assert res.headers['Vary'] == 'Origin'


async def test_cors_disallowed_origin_gets_no_allow_headers(cors_client: Callable[..., APIClient]) -> None:
    client = cors_client(ALLOW_ORIGINS=['https://a.example'], ALLOW_CREDENTIALS=True)
    res = await client.get('/plain', headers={'Origin': 'https://evil.example'})
    assert res.status_code == 200
    assert res.headers == {'Content-Length': '11', 'Content-Type': 'application/json', 'Vary': 'Origin'}


async def test_cors_credentials_with_an_explicit_origin(cors_client: Callable[..., APIClient]) -> None:
    client = cors_client(
        ALLOW_ORIGINS=['https://a.example'],
        ALLOW_CREDENTIALS=True,
        ALLOW_METHODS=['GET', 'POST'],
        ALLOW_HEADERS=['Authorization', 'Content-Type'],
        EXPOSE_HEADERS=['X-Total', 'X-Page'],
        CORS_MAX_AGE=60,
    )
    res = await client.get('/plain', headers={'Origin': 'https://a.example'})
    assert res.headers == {
        'Content-Length': '11',
        'Content-Type': 'application/json',
        'Vary': 'Origin',
        'Access-Control-Allow-Origin': 'https://a.example',
        'Access-Control-Allow-Methods': 'GET, POST',
        'Access-Control-Allow-Headers': 'Authorization, Content-Type',
        'Access-Control-Max-Age': '60',
        'Access-Control-Allow-Credentials': 'true',
        'Access-Control-Expose-Headers': 'X-Total, X-Page',
    }


async def test_cors_never_combines_wildcard_with_credentials(
    caplog: pytest.LogCaptureFixture, cors_client: Callable[..., APIClient]
) -> None:
    client = cors_client(ALLOW_CREDENTIALS=True)
    with caplog.at_level(logging.WARNING):
        for _ in range(2):
            res = await client.get('/plain', headers={'Origin': 'https://any.example'})
            assert res.headers['Access-Control-Allow-Origin'] == '*'
            assert 'Access-Control-Allow-Credentials' not in res.headers
    # Said once, when the configuration is read, not on every request.
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        'CORS: `ALLOW_CREDENTIALS` is ignored for the wildcard origin; list origins explicitly'
    ]


async def test_cors_wildcard_headers_with_credentials_echo_the_requested_headers(
    cors_client: Callable[..., APIClient],
) -> None:
    client = cors_client(ALLOW_ORIGINS=['https://a.example'], ALLOW_CREDENTIALS=True)
    res = await client.options(
        '/plain', headers={'Origin': 'https://a.example', 'Access-Control-Request-Headers': 'X-Custom, Authorization'}
    )
    assert res.status_code == 204
    assert res.headers['Access-Control-Allow-Headers'] == 'X-Custom, Authorization'
    assert res.headers['Access-Control-Allow-Credentials'] == 'true'


async def test_cors_vary_is_merged(cors_client: Callable[..., APIClient]) -> None:
    res = await cors_client(ALLOW_ORIGINS=['https://a.example']).get('/varies', headers={'Origin': 'https://a.example'})
    assert res.headers['Vary'] == 'Accept-Encoding, Origin'


@pytest.mark.parametrize(('path', 'method', 'code'), [('/missing', 'GET', 404), ('/boom', 'GET', 500),
                                                      ('/post', 'PUT', 405)])  # fmt: skip
async def test_cors_headers_survive_errors(
    path: str, method: str, code: int, cors_client: Callable[..., APIClient]
) -> None:
    res = await cors_client().request(method, path, headers={'Origin': 'https://any.example'})
    assert res.status_code == code
    assert res.headers['Access-Control-Allow-Origin'] == '*'


async def test_cors_config_is_read_at_request_time(cors_client: Callable[..., APIClient]) -> None:
    client = cors_client()
    config.ALLOW_ORIGINS = ['https://late.example']
    res = await client.get('/plain', headers={'Origin': 'https://late.example'})
    assert res.headers['Access-Control-Allow-Origin'] == 'https://late.example'


# Monitoring (SPEC §20.5)


MONITOR_LINE = re.compile(r'^(GET|POST) \| (/\S*) \| 127\.0\.0\.1:8585 \| (\d+(?:\.\d+)?(?:e-?\d+)?) \| (\d{3})$')


async def test_monitoring_logs_one_line_per_request(caplog: pytest.LogCaptureFixture) -> None:
    client = APIClient(make_app({'plain': plain, 'boom': boom}, MIDDLEWARES=[MonitoringMiddleware]))
    assert config.MONITORING is True
    caplog.clear()
    with caplog.at_level(logging.INFO, logger='monitoring'):
        await client.get('/plain')
        await client.get('/missing')
        await client.post('/boom')
    lines = [r.getMessage() for r in caplog.records if r.name == 'monitoring']
    assert len(lines) == 3
    parsed = [MONITOR_LINE.match(line) for line in lines]
    assert all(parsed), lines
    assert [(m[1], m[2], m[4]) for m in parsed] == [('GET', '/plain', '200'), ('GET', '/missing', '404'),
                                                    ('POST', '/boom', '500')]  # fmt: skip
    assert all(float(m[3]) >= 0 for m in parsed)
    assert all(r.levelno == logging.INFO for r in caplog.records if r.name == 'monitoring')


class EchoSocket(GenericWebsocket):
    async def connect(self):
        await self.accept()

    async def receive(self, data):
        await self.send(data)


async def deny(connection):
    return False


class DeniedSocket(GenericWebsocket):
    permissions = [deny]

    async def connect(self):
        await self.accept()


async def test_websocket_monitoring_logs_connect_and_end(caplog: pytest.LogCaptureFixture) -> None:
    app = make_app({'ws': EchoSocket, 'denied': DeniedSocket}, WS_MIDDLEWARES=[WebsocketMonitoringMiddleware])
    assert config.MONITORING is True
    caplog.clear()
    with caplog.at_level(logging.INFO, logger='monitoring'):
        async with WebsocketClient(app).session('/ws') as ws:
            await ws.send_text('ping')
            assert await ws.receive_text() == 'ping'
        async with WebsocketClient(app).session('/denied') as ws:
            assert ws.response is not None and ws.response.status_code == status.HTTP_403_FORBIDDEN
    lines = [r.getMessage() for r in caplog.records if r.name == 'monitoring']
    assert len(lines) == 4
    assert lines[0] == 'WS | /ws | 127.0.0.1:55330 | - | Connected'
    assert re.fullmatch(r'WS \| /ws \| 127\.0\.0\.1:55330 \| [\d.e-]+ \| Closed', lines[1])
    assert lines[2] == 'WS | /denied | 127.0.0.1:55330 | - | Connected'
    assert re.fullmatch(r'WS \| /denied \| 127\.0\.0\.1:55330 \| [\d.e-]+ \| Rejected', lines[3])
