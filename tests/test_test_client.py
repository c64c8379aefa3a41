from __future__ import annotations

from typing import Any

import pytest

from panther.app import API
from panther.events import Event
from panther.request import Request
from panther.response import Cookie, HTMLResponse, PlainTextResponse, Response
from panther.test import APIClient, ResponseHeaders, WebsocketClient
from panther.websocket import GenericWebsocket
from tests._core_helpers import make_app


@pytest.fixture(autouse=True)
def _clean_events():
    Event.clear()
    yield
    Event.clear()


class ScopeRecorder:
    """A raw ASGI app that records what the client sent and answers with a fixed response."""

    def __init__(self, headers: list[tuple[bytes, bytes]] | None = None, body: bytes = b'{}') -> None:
        self.scopes: list[dict[str, Any]] = []
        self.messages: list[dict[str, Any]] = []
        self.headers = headers if headers is not None else [(b'content-type', b'application/json')]
        self.body = body

    async def __call__(self, scope, receive, send) -> None:
        self.scopes.append(scope)
        if scope['type'] != 'http':
            return
        while True:
            message = await receive()
            self.messages.append(message)
            if not message.get('more_body'):
                break
        await send({'type': 'http.response.start', 'status': 200, 'headers': self.headers})
        await send({'type': 'http.response.body', 'body': self.body, 'more_body': False})


# APIClient: what it sends


async def test_http_scope() -> None:
    app = ScopeRecorder()
    await APIClient(app).get('items/1', headers={'X-Custom': 5}, query_params={'a': 'x y', 'tag': ['1', '2']})
    scope = app.scopes[0]
    assert scope['type'] == 'http'
    assert scope['method'] == 'GET'
    assert scope['path'] == '/items/1'
    assert scope['raw_path'] == b'/items/1'
    assert scope['query_string'] == b'a=x+y&tag=1&tag=2'
    assert scope['client'] == ('127.0.0.1', 8585)
    assert (b'x-custom', b'5') in scope['headers']  # names are lower-case, as ASGI requires
    assert app.messages == [{'type': 'http.request', 'body': b'', 'more_body': False}]


@pytest.mark.parametrize('method', ['get', 'head', 'options', 'delete'])
async def test_bodyless_methods_send_an_empty_body(method: str) -> None:
    app = ScopeRecorder()
    await getattr(APIClient(app), method)('/x')
    assert app.scopes[0]['method'] == method.upper()
    assert app.messages[0]['body'] == b''
    assert not any(name == b'content-type' for name, _ in app.scopes[0]['headers'])


@pytest.mark.parametrize('method', ['post', 'put', 'patch'])
async def test_body_methods_send_json_with_content_type_and_length(method: str) -> None:
    app = ScopeRecorder()
    await getattr(APIClient(app), method)('/x', payload={'a': 1})
    assert app.scopes[0]['method'] == method.upper()
    assert app.messages[0]['body'] == b'{"a":1}'
    assert app.scopes[0]['headers'] == [(b'content-type', b'application/json'), (b'content-length', b'7')]


async def test_user_headers_override_the_content_type() -> None:
    app = ScopeRecorder()
    await APIClient(app).post('/x', payload=b'raw', headers={'Content-Type': 'text/plain'})
    assert app.scopes[0]['headers'] == [(b'content-type', b'text/plain'), (b'content-length', b'3')]


async def test_form_payload_is_url_encoded() -> None:
    app = ScopeRecorder()
    await APIClient(app).post(
        '/x', payload={'a': 'b c', 'd': ['1', '2']}, content_type='application/x-www-form-urlencoded'
    )
    assert app.messages[0]['body'] == b'a=b+c&d=1&d=2'


async def test_inline_query_is_kept_and_merged() -> None:
    app = ScopeRecorder()
    await APIClient(app).get('/x?a=1', query_params={'b': '2'})
    assert app.scopes[0]['path'] == '/x'
    assert app.scopes[0]['query_string'] == b'a=1&b=2'


async def test_body_chunks_are_sent_as_separate_messages() -> None:
    app = ScopeRecorder()
    await APIClient(app).request('PUT', '/x', body_chunks=[b'a', b'b', b'c'])
    assert app.messages == [
        {'type': 'http.request', 'body': b'a', 'more_body': True},
        {'type': 'http.request', 'body': b'b', 'more_body': True},
        {'type': 'http.request', 'body': b'c', 'more_body': False},
    ]


async def test_cookies_argument_and_cookie_jar() -> None:
    app = ScopeRecorder(headers=[(b'content-type', b'application/json'), (b'set-cookie', b'sid=abc; Path=/')])
    client = APIClient(app)
    first = await client.get('/login', cookies={'theme': 'dark'})
    assert (b'cookie', b'theme=dark') in app.scopes[0]['headers']
    assert first.cookies == [(b'set-cookie', b'sid=abc; Path=/')]
    assert client.cookies == {'sid': 'abc'}
    await client.get('/next')
    assert (b'cookie', b'sid=abc') in app.scopes[1]['headers']


async def test_app_that_sends_nothing() -> None:
    async def silent(scope, receive, send):
        return None

    with pytest.raises(RuntimeError, match='The application sent no response'):
        await APIClient(silent).get('/')


# APIClient: what it returns


@pytest.mark.parametrize(
    ('content_type', 'body', 'cls', 'data'),
    [
        (b'application/json', b'{"a":[1]}', Response, {'a': [1]}),
        (b'application/json', b'', Response, None),
        (b'text/html; charset=utf-8', b'<p>h\xc3\xa9</p>', HTMLResponse, '<p>hé</p>'),
        (b'text/plain; charset=utf-8', b'plain', PlainTextResponse, 'plain'),
        (b'application/octet-stream', b'stream', PlainTextResponse, 'stream'),
        (b'image/png', b'\x89PNG', Response, b'\x89PNG'),
    ],
)
async def test_response_kind_by_content_type(content_type: bytes, body: bytes, cls: type, data: Any) -> None:
    app = ScopeRecorder(headers=[(b'Content-Type', content_type), (b'X-Extra', b'1')], body=body)
    res = await APIClient(app).get('/')
    assert type(res) is cls
    assert res.data == data
    assert res.status_code == 200
    assert res.headers == {'Content-Type': content_type.decode(), 'X-Extra': '1'}
    assert res.raw_body == body


@API()
async def raw_bytes():
    return b'\x00not json'


async def test_non_json_body_labelled_json_is_returned_raw() -> None:
    res = await APIClient(make_app({'raw': raw_bytes})).get('/raw')
    assert res.status_code == 200
    assert res.raw_body == b'\x00not json'


# APIClient: lifespan


@API()
async def hello(request: Request):
    return {'hello': True}


@API()
async def sets_cookie():
    return Response(data=None, set_cookies=Cookie('sid', 'xyz'))


async def test_async_with_runs_startup_and_shutdown() -> None:
    calls: list[str] = []

    @Event.startup
    async def opening():
        calls.append('startup')

    @Event.shutdown
    def closing():
        calls.append('shutdown')

    app = make_app({'hello': hello})
    async with APIClient(app) as client:
        assert calls == ['startup']
        assert (await client.get('/hello')).data == {'hello': True}
        assert (await client.get('/hello')).status_code == 200
        assert calls == ['startup']
    assert calls == ['startup', 'shutdown']


async def test_failing_startup_raises_on_enter() -> None:
    @Event.startup
    def broken():
        raise ValueError('nope')

    with pytest.raises(RuntimeError, match=r'Application start-up failed: .*broken\(\) startup event got error: nope'):
        async with APIClient(make_app({})):
            pass


async def test_without_async_with_startup_runs_once_before_the_first_request() -> None:
    calls: list[str] = []

    @Event.startup
    def opening():
        calls.append('startup')

    @Event.shutdown
    def closing():
        calls.append('shutdown')

    client = APIClient(make_app({'hello': hello}))
    assert calls == []
    await client.get('/hello')
    await client.post('/hello')
    assert calls == ['startup']
    await client.close()
    assert calls == ['startup', 'shutdown']


async def test_cookie_jar_with_a_panther_app() -> None:
    client = APIClient(make_app({'cookie': sets_cookie}))
    res = await client.get('/cookie')
    assert res.headers['Set-Cookie'] == 'sid=xyz; Path=/; SameSite=lax'
    assert client.cookies == {'sid': 'xyz'}


# WebsocketClient


class Greeter(GenericWebsocket):
    async def connect(self, name: str):
        await self.accept()
        await self.send(f'hello {name}')
        await self.close()


class Silent(GenericWebsocket):
    async def connect(self):
        await self.accept()


async def test_websocket_scope() -> None:
    app = ScopeRecorder()
    client = WebsocketClient(app)
    scope = client._scope('chat', {'X-A': 'b'}, {'q': '1 2'}, ['v1'])
    assert scope == {
        'type': 'websocket',
        'asgi': {'version': '3.0', 'spec_version': '2.3'},
        'http_version': '1.1',
        'scheme': 'ws',
        'server': ('127.0.0.1', 8000),
        'client': ('127.0.0.1', 55330),
        'path': '/chat',
        'raw_path': b'/chat',
        'query_string': b'q=1+2',
        'headers': [(b'x-a', b'b')],
        'subprotocols': ['v1'],
        'state': {},
        # Like uvicorn, the client lets the app refuse a handshake with an HTTP answer.
        'extensions': {'websocket.http.response': {}},
    }
    assert WebsocketClient(app, denial_response=False)._scope('chat', None, None)['extensions'] == {}


class Refusing(GenericWebsocket):
    async def connect(self):
        await self.close(code=4003, reason='full')


def test_sync_connect_shows_a_refused_handshake() -> None:
    app = make_app({'refusing': Refusing})
    body = b'{"detail":"full"}'
    assert WebsocketClient(app).connect('refusing') == [
        {
            'type': 'websocket.http.response.start',
            'status': 403,
            'headers': [(b'content-type', b'application/json'), (b'content-length', str(len(body)).encode())],
        },
        {'type': 'websocket.http.response.body', 'body': body, 'more_body': False},
    ]
    assert WebsocketClient(app, denial_response=False).connect('refusing') == [
        {'type': 'websocket.close', 'code': 4003, 'reason': 'full'}
    ]


async def test_session_exposes_the_refusal_response() -> None:
    async with WebsocketClient(make_app({'refusing': Refusing})).session('refusing') as ws:
        assert not ws.accepted
        assert ws.response is not None
        assert (ws.response.status_code, ws.response.data) == (403, {'detail': 'full'})
        assert ws.response.headers['Content-Length'] == '17'
        assert (ws.close_code, ws.close_reason) == (None, '')


def test_sync_connect_returns_every_message() -> None:
    client = WebsocketClient(make_app({'greet/<name>': Greeter}))
    messages = client.connect('greet/ann')
    assert messages == [
        {'type': 'websocket.accept', 'subprotocol': None, 'headers': []},
        {'type': 'websocket.send', 'text': 'hello ann'},
        {'type': 'websocket.close', 'code': 1000, 'reason': ''},
    ]
    assert len(client.connect('greet/bo')) == 6  # messages accumulate on the client


async def test_aconnect() -> None:
    messages = await WebsocketClient(make_app({'greet/<name>': Greeter})).aconnect('/greet/cy')
    assert [m['type'] for m in messages] == ['websocket.accept', 'websocket.send', 'websocket.close']


async def test_receive_timeout_when_the_app_sends_nothing() -> None:
    async with WebsocketClient(make_app({'silent': Silent})).session('/silent') as ws:
        assert ws.accepted
        with pytest.raises(TimeoutError):
            await ws.receive(timeout=0.05)


async def test_receive_text_on_a_close_raises() -> None:
    async with WebsocketClient(make_app({'greet/<name>': Greeter})).session('/greet/x') as ws:
        assert await ws.receive_text() == 'hello x'
        with pytest.raises(RuntimeError, match='Expected a message'):
            await ws.receive_text()
    assert ws.close_code == 1000


async def test_session_surfaces_app_crashes() -> None:
    async def crashing(scope, receive, send):
        await receive()
        raise ValueError('app crashed')

    with pytest.raises(ValueError, match='app crashed'):
        async with WebsocketClient(crashing).session('/x'):
            pass


@API(methods=['POST'])
async def upload(request):
    document = request.data['document']
    return {'name': request.data['name'], 'file_name': document.file_name, 'content': document.file.decode()}


async def test_multipart_upload_with_files() -> None:
    client = APIClient(make_app({'upload': upload}))
    res = await client.post(
        '/upload', payload={'name': 'report'}, files={'document': ('../../etc/passwd', b'hello', 'text/plain')}
    )
    assert res.status_code == 200
    # The client-supplied name is reduced to a plain file name.
    assert res.data == {'name': 'report', 'file_name': 'passwd', 'content': 'hello'}


@API()
async def set_and_clear(request: Request) -> Response:
    if request.query_params.get('clear'):
        return Response(set_cookies=[Cookie(key='session', value='', max_age=0)])
    return Response(data=request.cookies, set_cookies=[Cookie(key='session', value='abc')])


async def test_client_forgets_cookies_the_server_deletes() -> None:
    client = APIClient(make_app({'cookies': set_and_clear}))
    await client.get('/cookies')
    assert (await client.get('/cookies')).data == {'session': 'abc'}
    await client.get('/cookies', query_params={'clear': 1})
    assert client.cookies == {}


# What the endpoint sees and what the test reads back


@API()
async def echo_headers(request: Request):
    return dict(request.headers.items())


@pytest.mark.parametrize('method', ['get', 'head', 'delete', 'options'])
async def test_bodyless_request_carries_exactly_the_headers_sent(method: str) -> None:
    app = make_app({'echo': echo_headers})
    res = await getattr(APIClient(app), method)('/echo', headers={'X-Trace': 'abc', 'Accept': 'text/plain'})
    if method in ('get', 'delete'):  # HEAD has no body; OPTIONS is answered by the framework
        assert res.data == {'x-trace': 'abc', 'accept': 'text/plain'}
    recorder = ScopeRecorder()
    await getattr(APIClient(recorder), method)('/echo', headers={'X-Trace': 'abc'})
    # No content-length / content-type without a body, as a real HTTP client.
    assert recorder.scopes[0]['headers'] == [(b'x-trace', b'abc')]


async def test_post_without_payload_sends_a_zero_length_like_a_real_client() -> None:
    recorder = ScopeRecorder()
    await APIClient(recorder).request('POST', '/x', headers={'X-A': '1'})
    assert recorder.scopes[0]['headers'] == [
        (b'content-type', b'application/json'),
        (b'x-a', b'1'),
        (b'content-length', b'0'),
    ]


async def test_endpoint_sees_the_body_headers_of_a_post() -> None:
    res = await APIClient(make_app({'echo': echo_headers})).post('/echo', payload={'a': 1}, headers={'X-A': '1'})
    assert res.data == {'content-type': 'application/json', 'x-a': '1', 'content-length': '7'}


async def test_websocket_endpoint_sees_exactly_the_headers_sent() -> None:
    seen: list[dict[str, str]] = []

    class HeaderEcho(GenericWebsocket):
        async def connect(self):
            seen.append(dict(self.headers.items()))
            await self.accept()

    async with WebsocketClient(make_app({'ws': HeaderEcho})).session('/ws', headers={'X-Trace': 'abc'}) as ws:
        assert ws.accepted
    assert seen == [{'x-trace': 'abc'}]


async def test_response_headers_ignore_the_case_of_names() -> None:
    app = ScopeRecorder(headers=[(b'Content-Type', b'application/json'), (b'X-Request-Id', b'7')])
    res = await APIClient(app).get('/')
    assert res.headers['Content-Type'] == res.headers['content-type'] == res.headers['CONTENT-TYPE']
    assert 'x-request-id' in res.headers and 'X-Request-Id' in res.headers
    assert 'x-missing' not in res.headers
    assert res.headers.get('x-request-id') == '7'
    assert res.headers.get('x-missing', 'default') == 'default'
    with pytest.raises(KeyError):
        res.headers['x-missing']
    # Names keep the case the app sent; equality with a dict ignores case, values must still match.
    assert list(res.headers) == ['Content-Type', 'X-Request-Id']
    assert res.headers == {'Content-Type': 'application/json', 'X-Request-Id': '7'}
    assert res.headers == {'content-type': 'application/json', 'x-request-id': '7'}
    assert res.headers != {'content-type': 'application/json', 'x-request-id': '8'}
    assert res.headers != {'content-type': 'application/json'}
    assert res.headers != [('content-type', 'application/json')]


async def test_response_headers_repeated_name_keeps_the_last_value() -> None:
    app = ScopeRecorder(headers=[(b'content-type', b'application/json'), (b'X-A', b'1'), (b'x-a', b'2')])
    res = await APIClient(app).get('/')
    assert res.headers == {'content-type': 'application/json', 'x-a': '2'}
    assert len(res.headers) == 2


def test_response_headers_mutation_ignores_case() -> None:
    headers = ResponseHeaders([('Content-Type', 'text/plain')])
    headers['content-type'] = 'application/json'
    assert dict(headers) == {'content-type': 'application/json'}
    headers.update({'X-A': '1'})
    headers.setdefault('x-a', '2')
    assert headers['X-A'] == '1'
    assert headers.pop('X-a') == '1'
    del headers['CONTENT-TYPE']
    assert headers == {} and 'content-type' not in headers


def test_response_headers_copies_keep_ignoring_case() -> None:
    import copy
    import pickle

    headers = ResponseHeaders([('Content-Type', 'application/json'), ('X-A', '1')])
    for duplicate in (headers.copy(), copy.copy(headers), copy.deepcopy(headers), pickle.loads(pickle.dumps(headers))):
        assert type(duplicate) is ResponseHeaders
        assert duplicate['content-type'] == 'application/json' and duplicate == headers
    duplicate['x-a'] = '2'
    assert headers['X-A'] == '1'


async def test_refused_websocket_response_headers_ignore_case() -> None:
    class NeverAccepts(GenericWebsocket):
        async def connect(self) -> None:
            return None

    async with WebsocketClient(make_app({'ws': NeverAccepts})).session('/ws') as ws:
        assert not ws.accepted
    assert ws.response is not None and ws.response.status_code == 403
    assert ws.response.headers['Content-Type'] == ws.response.headers['content-type'] == 'application/json'
    assert 'Content-Length' in ws.response.headers
