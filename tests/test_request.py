from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest
from pydantic import BaseModel

from panther.app import API
from panther.base_request import Address, BaseRequest, Headers
from panther.exceptions import APIError, BadRequestAPIError, PayloadTooLargeAPIError, UnprocessableEntityError
from panther.request import Request
from panther.test import APIClient
from tests._core_helpers import RawCall, make_app


def scope(**overrides: Any) -> dict[str, Any]:
    base = {
        'type': 'http',
        'method': 'POST',
        'path': '/items/5/',
        'query_string': b'',
        'headers': [],
        'client': ('10.0.0.1', 4321),
        'server': ('127.0.0.1', 8000),
        'http_version': '1.1',
        'scheme': 'https',
    }
    base.update(overrides)
    return base


def receiver(*chunks: bytes):
    messages = [{'type': 'http.request', 'body': c, 'more_body': i < len(chunks) - 1} for i, c in enumerate(chunks)]
    calls = []

    async def receive() -> dict:
        calls.append(1)
        return messages.pop(0) if messages else {'type': 'http.disconnect'}

    receive.calls = calls  # type: ignore[attr-defined]
    return receive


async def no_send(message: dict) -> None:
    raise AssertionError('nothing should be sent')


def make_request(body: bytes = b'', content_type: str | None = None, **overrides: Any) -> Request:
    headers = list(overrides.pop('headers', []))
    if content_type is not None:
        headers.append((b'content-type', content_type.encode()))
    return Request(scope(headers=headers, **overrides), receiver(body), no_send)


# Headers (SPEC §6.2)


RAW_HEADERS = [
    (b'Content-Type', b'application/json'),
    (b'User-Agent', b'tests/1.0'),
    (b'authorization', b'Bearer abc'),
    (b'X-Repeated', b'first'),
    (b'X-Repeated', b'second'),
]


def test_headers_pythonic_attribute_access() -> None:
    headers = Headers(RAW_HEADERS)
    assert headers.content_type == 'application/json'
    assert headers.user_agent == 'tests/1.0'
    assert headers.authorization == 'Bearer abc'
    assert headers.missing_header is None


def test_headers_item_access_raw_then_pythonic() -> None:
    headers = Headers(RAW_HEADERS)
    assert headers['Content-Type'] == 'application/json'
    assert headers['content-type'] == 'application/json'
    assert headers['Authorization'] == 'Bearer abc'
    assert headers['authorization'] == 'Bearer abc'
    assert headers['nope'] is None


def test_headers_contains() -> None:
    headers = Headers(RAW_HEADERS)
    assert 'Content-Type' in headers
    assert 'content_type' in headers
    assert 'CONTENT-TYPE' in headers
    assert 'Cookie' not in headers
    assert 5 not in headers


def test_repeated_header_keeps_last_value_and_getlist_keeps_all() -> None:
    headers = Headers(RAW_HEADERS)
    assert headers['X-Repeated'] == 'second'
    assert headers.getlist('x-repeated') == ['first', 'second']


def test_headers_str_repr_and_dict() -> None:
    headers = Headers([(b'Host', b'example.com'), (b'Accept', b'*/*')])
    assert str(headers) == 'Headers(Host=example.com, Accept=*/*)'
    assert repr(headers) == 'Headers(Host=example.com, Accept=*/*)'
    assert headers.__dict__ == {'Host': 'example.com', 'Accept': '*/*'}


def test_non_utf8_header_value_is_a_bad_request() -> None:
    with pytest.raises(BadRequestAPIError) as info:
        Headers([(b'X-Name', b'caf\xe9')])
    assert info.value.detail == 'Header `X-Name` is not valid UTF-8'


def test_utf8_header_value_is_decoded() -> None:
    assert Headers([(b'X-Name', 'café'.encode())])['X-Name'] == 'café'


@pytest.mark.parametrize(
    ('cookie', 'expected'),
    [
        ('a=1; b=2', {'a': '1', 'b': '2'}),
        (' token = abc ;theme=dark', {'token': 'abc', 'theme': 'dark'}),
        ('k=v=w', {'k': 'v=w'}),
        ('quoted="hello world"', {'quoted': 'hello world'}),
        ('', {}),
    ],
)
def test_get_cookies(cookie: str, expected: dict) -> None:
    assert Headers([(b'Cookie', cookie.encode())]).get_cookies() == expected


def test_no_cookie_header() -> None:
    assert Headers([]).get_cookies() == {}


# BaseRequest attributes (SPEC §6.1)


def test_scope_attributes() -> None:
    request = make_request()
    assert request.path == '/items/5/'
    assert request.method == 'POST'
    assert request.http_version == '1.1'
    assert request.scheme == 'https'
    assert str(request.client) == '10.0.0.1:4321'
    assert request.client.__dict__ == {'ip': '10.0.0.1', 'port': 4321}
    assert str(request.server) == '127.0.0.1:8000'
    assert request.user is None
    assert request.path_variables is None
    assert request.validated_data is None
    assert request.scope['type'] == 'http'


def test_address() -> None:
    address = Address('1.2.3.4', 80)
    assert str(address) == '1.2.3.4:80'
    assert address.__dict__ == {'ip': '1.2.3.4', 'port': 80}


def test_request_accepts_new_attributes_and_has_no_middlewares_attribute() -> None:
    request = make_request()
    request.custom = 'value'
    assert request.custom == 'value'
    assert not hasattr(request, 'middlewares')
    assert isinstance(request, BaseRequest)


def test_collect_path_variables() -> None:
    request = make_request(path='/user/7/profile/x/')
    request.collect_path_variables('user/<user_id>/profile/< id >')
    assert request.path_variables == {'user_id': '7', 'id': 'x'}


@pytest.mark.parametrize(
    ('query', 'params'),
    [
        (b'a=1&b=2', {'a': '1', 'b': '2'}),
        (b'a=1&a=2&a=3', {'a': '3'}),
        (b'a=&b=2', {'b': '2'}),
        (b'q=hello+world&x=%2Fpath%3F', {'q': 'hello world', 'x': '/path?'}),
        (b'name=caf%C3%A9', {'name': 'café'}),
        (b'', {}),
    ],
)
def test_query_params(query: bytes, params: dict) -> None:
    assert make_request(query_string=query).query_params == params


def test_get_query_list_keeps_every_value_in_order() -> None:
    request = make_request(query_string=b'tag=a&x=1&tag=b&tag=c')
    assert request.get_query_list('tag') == ['a', 'b', 'c']
    assert request.get_query_list('x') == ['1']
    assert request.get_query_list('missing') == []


@pytest.mark.parametrize('query', [b'a=%ff', b'\xff', b'a=\xc3'])
def test_non_utf8_query_string_is_a_bad_request(query: bytes) -> None:
    with pytest.raises(BadRequestAPIError) as info:
        make_request(query_string=query).query_params  # noqa: B018
    assert info.value.detail == 'Query string is not valid UTF-8'


def test_cookies_property() -> None:
    assert make_request(headers=[(b'cookie', b'a=1; b=2')]).cookies == {'a': '1', 'b': '2'}


# Body reading and parsing (SPEC §6.3, §6.4, DESIGN §1)


async def test_read_body_concatenates_chunks_once() -> None:
    receive = receiver(b'{"a":', b' 1', b'}')
    request = Request(scope(), receive, no_send)
    assert await request.read_body() == b'{"a": 1}'
    assert await request.read_body() == b'{"a": 1}'
    assert len(receive.calls) == 3
    assert request.body == b'{"a": 1}'
    assert request.data == {'a': 1}


async def test_read_body_refuses_declared_oversize_without_receiving() -> None:
    receive = receiver(b'x' * 100)
    request = Request(scope(headers=[(b'content-length', b'100')]), receive, no_send)
    request.max_body_size = 10
    with pytest.raises(PayloadTooLargeAPIError) as info:
        await request.read_body()
    assert info.value.status_code == 413
    assert receive.calls == []


async def test_read_body_stops_at_the_chunk_crossing_the_limit() -> None:
    receive = receiver(b'12345', b'67890', b'abcde', b'fghij')
    request = Request(scope(), receive, no_send)
    request.max_body_size = 12
    with pytest.raises(PayloadTooLargeAPIError):
        await request.read_body()
    assert len(receive.calls) == 3


async def test_body_exactly_at_the_limit_is_accepted() -> None:
    request = Request(scope(headers=[(b'content-length', b'10')]), receiver(b'12345', b'67890'), no_send)
    request.max_body_size = 10
    assert await request.read_body() == b'1234567890'


@pytest.mark.parametrize(
    ('content_type', 'body', 'data'),
    [
        (None, b'{"a": 1}', {'a': 1}),
        ('application/json', b'[1, 2]', [1, 2]),
        ('application/json; charset=utf-8', '{"name": "café"}'.encode(), {'name': 'café'}),
        ('Application/JSON;charset=UTF-8', b'{"a": true}', {'a': True}),
        ('application/json', b'', {}),
        ('application/json', b'null', None),
        ('application/x-www-form-urlencoded', b'a=1&b=two+words&a=3', {'a': '3', 'b': 'two words'}),
    ],
)
async def test_body_parsing(content_type: str | None, body: bytes, data: Any) -> None:
    request = make_request(body, content_type)
    await request.read_body()
    assert request.data == data


@pytest.mark.parametrize('body', [b'{"a": ', b'{a: 1}', b'\xff\xfe', b'[1, 2'])
async def test_malformed_json_is_a_bad_request(body: bytes) -> None:
    request = make_request(body, 'application/json')
    await request.read_body()
    with pytest.raises(BadRequestAPIError) as info:
        request.data  # noqa: B018
    assert info.value.detail.startswith('Invalid JSON body')


async def test_non_utf8_form_body_is_a_bad_request() -> None:
    request = make_request(b'a=%ff\xff', 'application/x-www-form-urlencoded')
    await request.read_body()
    with pytest.raises(BadRequestAPIError):
        request.data  # noqa: B018


@pytest.mark.parametrize('content_type', ['text/plain', 'multipart/form-data', 'application/xml'])
async def test_unsupported_content_type_gives_raw_bytes_and_a_warning(
    content_type: str, caplog: pytest.LogCaptureFixture
) -> None:
    request = make_request(b'raw text', content_type)
    await request.read_body()
    with caplog.at_level(logging.WARNING):
        assert request.data == b'raw text'
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        f"'{content_type}' Content-Type is not supported"
    ]


BOUNDARY = 'PantherBoundary7MA4YWxkTrZu0gW'


def multipart_body() -> bytes:
    return (
        f'--{BOUNDARY}\r\n'
        'Content-Disposition: form-data; name="title"\r\n'
        '\r\n'
        'My Document\r\n'
        f'--{BOUNDARY}\r\n'
        'Content-Disposition: form-data; name="upload"; filename="../../notes.txt"\r\n'
        'Content-Type: text/plain\r\n'
        '\r\n'
        'line one\r\nline two\r\n'
        f'--{BOUNDARY}--\r\n'
    ).encode()


async def test_multipart_with_a_file_part() -> None:
    request = make_request(multipart_body(), f'multipart/form-data; boundary={BOUNDARY}')
    await request.read_body()
    data = request.data
    assert set(data) == {'title', 'upload'}
    assert data['title'] == 'My Document'
    upload = data['upload']
    assert upload.file == b'line one\r\nline two'
    assert upload.content_type == 'text/plain'
    assert '/' not in upload.file_name
    assert upload.file_name.endswith('notes.txt')


# validate_data (SPEC §6.5)


class Inner(BaseModel):
    x: int


class Order(BaseModel):
    name: str
    inner: Inner
    items: list[int] = []


async def test_validate_data_success() -> None:
    request = make_request(b'{"name": "n", "inner": {"x": "3"}, "items": [1]}', 'application/json')
    await request.read_body()
    result = request.validate_data(Order)
    assert result == Order(name='n', inner=Inner(x=3), items=[1])
    assert request.validated_data is result


async def test_validate_data_error_shape() -> None:
    request = make_request(b'{"inner": {"x": "a"}, "items": [1, "b", 3]}', 'application/json')
    await request.read_body()
    with pytest.raises(APIError) as info:
        request.validate_data(Order)
    assert info.value.status_code == 400
    assert info.value.detail == {
        'name': 'Field required',
        'inner.x': 'Input should be a valid integer, unable to parse string as an integer',
        'items.1': 'Input should be a valid integer, unable to parse string as an integer',
    }
    assert request.validated_data is None


async def test_validate_data_bytes_is_422(caplog: pytest.LogCaptureFixture) -> None:
    request = make_request(b'x', 'text/plain')
    await request.read_body()
    with caplog.at_level(logging.ERROR), pytest.raises(UnprocessableEntityError) as info:
        request.validate_data(Order)
    assert (info.value.status_code, info.value.detail) == (422, 'Content-Type is not valid')


async def test_validate_data_null_is_400() -> None:
    request = make_request(b'null', 'application/json')
    await request.read_body()
    with pytest.raises(BadRequestAPIError) as info:
        request.validate_data(Order)
    assert info.value.detail == 'Request body is required'


@pytest.mark.parametrize('body', [b'[1, 2]', b'"text"', b'3'])
async def test_validate_data_non_object_is_400(body: bytes) -> None:
    request = make_request(body, 'application/json')
    await request.read_body()
    with pytest.raises(BadRequestAPIError):
        request.validate_data(Order)


# Through the application


@API()
async def echo(request: Request):
    return {
        'method': request.method,
        'data': request.data if not isinstance(request.data, bytes) else request.data.decode(),
        'query': request.query_params,
        'tags': request.get_query_list('tag'),
        'cookies': request.cookies,
        'agent': request.headers.user_agent,
        'client': str(request.client),
    }


@API(input_model=Order)
async def create(request: Request):
    return request.validated_data


@API()
async def upload(request: Request):
    file = request.data['upload']
    return {'title': request.data['title'], 'size': len(file.file), 'type': file.content_type}


@pytest.fixture
def app():
    return make_app({'echo': echo, 'create': create, 'upload': upload}, MAX_BODY_SIZE=64)


async def test_full_request_through_the_app(app) -> None:
    res = await APIClient(app).post(
        '/echo',
        payload={'a': [1, 2]},
        headers={'User-Agent': 'pytest', 'Cookie': 'session=s1; theme=dark'},
        query_params={'tag': ['x', 'y'], 'q': 'a b&c'},
    )
    assert res.status_code == 200
    assert res.data == {
        'method': 'POST',
        'data': {'a': [1, 2]},
        'query': {'tag': 'y', 'q': 'a b&c'},
        'tags': ['x', 'y'],
        'cookies': {'session': 's1', 'theme': 'dark'},
        'agent': 'pytest',
        'client': '127.0.0.1:8585',
    }


async def test_json_with_charset_through_the_app(app) -> None:
    res = await APIClient(app).post(
        '/create', payload={'name': 'n', 'inner': {'x': 1}}, content_type='application/json; charset=utf-8'
    )
    assert (res.status_code, res.data) == (200, {'name': 'n', 'inner': {'x': 1}, 'items': []})


async def test_form_body_through_the_app(app) -> None:
    res = await APIClient(app).post('/echo', payload={'a': 'b c'}, content_type='application/x-www-form-urlencoded')
    assert res.data['data'] == {'a': 'b c'}


async def test_multipart_through_the_app() -> None:
    app = make_app({'upload': upload})
    res = await APIClient(app).post(
        '/upload', payload=multipart_body(), content_type=f'multipart/form-data; boundary={BOUNDARY}'
    )
    assert (res.status_code, res.data) == (200, {'title': 'My Document', 'size': 18, 'type': 'text/plain'})


async def test_malformed_json_through_the_app_is_400(app) -> None:
    res = await APIClient(app).post('/echo', payload=b'{"broken"')
    assert res.status_code == 400
    assert res.data['detail'].startswith('Invalid JSON body')


async def test_json_array_to_an_input_model_is_400(app) -> None:
    res = await APIClient(app).post('/create', payload=[{'name': 'n', 'inner': {'x': 1}}])
    assert res.status_code == 400
    assert list(res.data) == ['detail']


async def test_validation_errors_through_the_app(app) -> None:
    res = await APIClient(app).post('/create', payload={'inner': {}})
    assert res.status_code == 400
    assert res.data == {'name': 'Field required', 'inner.x': 'Field required'}


async def test_text_body_to_an_input_model_is_422(app) -> None:
    res = await APIClient(app).post('/create', payload=b'name=n', content_type='text/plain')
    assert (res.status_code, res.data) == (422, {'detail': 'Content-Type is not valid'})


def counting(app):
    calls: list[dict] = []

    async def wrapped(scope, receive, send):
        async def counted_receive():
            message = await receive()
            calls.append(message)
            return message

        await app(scope, counted_receive, send)

    wrapped.calls = calls  # type: ignore[attr-defined]
    return wrapped


async def test_oversized_chunked_body_is_413_without_reading_it_all(app) -> None:
    wrapped = counting(app)
    chunks = [b'{"name": "' + b'x' * 20, b'y' * 30, b'z' * 30, b'w' * 30, b'"}']
    res = await APIClient(wrapped).request('POST', '/echo', body_chunks=chunks)
    assert res.status_code == 413
    assert res.data == {'detail': 'Request body is larger than 64 bytes'}
    assert len(wrapped.calls) == 3
    assert all(m['more_body'] for m in wrapped.calls)


async def test_oversized_declared_body_is_413_without_any_read(app) -> None:
    wrapped = counting(app)
    res = await APIClient(wrapped).post('/echo', payload={'data': 'x' * 100})
    assert res.status_code == 413
    assert wrapped.calls == []


async def test_body_under_the_limit_in_chunks_is_accepted(app) -> None:
    res = await APIClient(app).request('POST', '/echo', body_chunks=[b'{"a"', b': 1}'])
    assert (res.status_code, res.data['data']) == (200, {'a': 1})


@pytest.mark.parametrize('query', [b'a=%ff', b'\xff'])
async def test_non_utf8_query_through_the_app_is_400(app, query: bytes) -> None:
    call = await RawCall()(app, 'GET', '/echo', query_string=query)
    assert call.status == 400
    assert call.body == b'{"detail":"Query string is not valid UTF-8"}'


@pytest.mark.parametrize(
    ('name', 'value'), [(b'user-agent', b'caf\xe9'), (b'cookie', b'session=\xff'), (b'x-any', b'\xc3\x28')]
)
async def test_non_utf8_header_through_the_app_is_400(app, name: bytes, value: bytes) -> None:
    call = await RawCall()(app, 'GET', '/echo', headers=[(name, value)])
    assert call.status == 400
    assert call.body == b'{"detail":"Header `' + name + b'` is not valid UTF-8"}'


async def test_non_utf8_header_on_a_body_request_is_400(app) -> None:
    call = await RawCall([b'{}'])(app, 'POST', '/create', headers=[(b'content-type', b'application/json\xff')])
    assert call.status == 400


# Multipart is parsed while the body arrives; large file parts are spooled to disk.


@API(methods=['POST'])
async def spool_probe(request: Request) -> dict[str, Any]:
    document = request.data['document']
    return {
        'title': request.data['title'],
        'size': document.size,
        'in_memory': document.file is not None,
        'head': document.read(6).decode(),
        'body_kept': len(request.body),
    }


def _multipart_chunks(content: bytes, chunk_size: int) -> tuple[list[bytes], str]:
    boundary = 'spool-boundary'
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\nreport\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="document"; filename="big.bin"\r\n'
            'Content-Type: application/octet-stream\r\n\r\n'
        ).encode()
        + content
        + f'\r\n--{boundary}--\r\n'.encode()
    )
    return [body[i : i + chunk_size] for i in range(0, len(body), chunk_size)], boundary


@pytest.mark.parametrize(('size', 'spooled'), [(1000, False), (3 * 1024 * 1024, True)])
async def test_multipart_is_streamed_and_large_files_spooled(size: int, spooled: bool) -> None:
    content = b'HEADER' + b'z' * size
    chunks, boundary = _multipart_chunks(content, 64 * 1024)
    client = APIClient(make_app({'probe': spool_probe}, MAX_BODY_SIZE=16 * 1024 * 1024))
    res = await client.request(
        'POST',
        '/probe',
        body_chunks=chunks,
        headers={'content-type': f'multipart/form-data; boundary={boundary}'},
    )
    assert res.status_code == 200
    assert res.data['title'] == 'report'
    assert res.data['size'] == len(content)
    assert res.data['head'] == 'HEADER'
    assert res.data['in_memory'] is not spooled
    # The raw body is only kept while it is small.
    assert (res.data['body_kept'] == 0) is spooled


async def test_multipart_over_the_limit_is_refused_while_streaming() -> None:
    chunks, boundary = _multipart_chunks(b'y' * 200_000, 16 * 1024)
    call = RawCall(chunks)
    headers = [(b'content-type', f'multipart/form-data; boundary={boundary}'.encode())]
    await call(make_app({'probe': spool_probe}, MAX_BODY_SIZE=100_000), 'POST', '/probe', headers=headers)
    assert call.status == 413
    assert call.receive_calls < len(chunks)


# Form limits: many tiny parts or fields are refused early, and parsing never holds up other requests


@API()
async def ping() -> dict:
    return {'pong': True}


@API()
async def form_fields(request: Request) -> dict:
    return {'fields': len(request.data)}


@API()
async def form_data(request: Request) -> dict:
    return request.data


def tiny_parts(count: int, boundary: str = BOUNDARY, line_break: str = '\r\n', padding: int = 0) -> bytes:
    value = 'v' * (1 + padding)
    part = (
        f'--{boundary}{line_break}Content-Disposition: form-data; name="f%d"{line_break}{line_break}{value}{line_break}'
    )
    return ''.join(part % i for i in range(count)).encode() + f'--{boundary}--{line_break}'.encode()


async def max_latency_while(attack: Any, client: APIClient) -> tuple[Any, float]:
    """Run `attack` while another client keeps calling `/ping`: the longest time one ping (including its wait
    for the event loop) took, in seconds."""
    done = asyncio.Event()
    slowest = 0.0

    async def other_client() -> None:
        nonlocal slowest
        previous = time.perf_counter()
        while not done.is_set():
            assert (await client.get('/ping')).status_code == 200
            # An in-process request may finish without suspending: yield, so the attack runs in between.
            await asyncio.sleep(0)
            now = time.perf_counter()
            slowest = max(slowest, now - previous)
            previous = now

    pinger = asyncio.create_task(other_client())
    await asyncio.sleep(0)  # the other client is waiting for its turn before the attack starts
    try:
        result = await attack
    finally:
        done.set()
        await pinger
    return result, slowest


async def test_100k_tiny_parts_are_refused_quickly_without_stalling_others() -> None:
    # The reported attack: 100k parts in 9.9 MiB, sent before any authentication.
    body = tiny_parts(100_000, boundary='b', padding=46)
    assert 9.8 * 1024 * 1024 < len(body) < 10 * 1024 * 1024
    client = APIClient(make_app({'form': form_fields, 'ping': ping}))
    attack = client.post('/form', payload=body, content_type='multipart/form-data; boundary=b')
    res, slowest = await max_latency_while(attack, client)
    assert res.status_code == 413
    assert res.data == {'detail': 'Too many parts in the multipart form: at most 1000 (MAX_FORM_PARTS)'}
    assert slowest < 0.25


async def test_a_large_form_within_the_limits_is_parsed_in_slices() -> None:
    # With the limit raised, 20k parts are accepted, but the parser never holds the event loop for long.
    client = APIClient(make_app({'form': form_fields, 'ping': ping}, MAX_FORM_PARTS=50_000, MAX_FORM_FIELDS=50_000))
    body = tiny_parts(20_000)
    attack = client.post('/form', payload=body, content_type=f'multipart/form-data; boundary={BOUNDARY}')
    res, slowest = await max_latency_while(attack, client)
    assert (res.status_code, res.data) == (200, {'fields': 20_000})
    assert slowest < 0.15


async def test_a_large_urlencoded_form_is_decoded_off_the_event_loop() -> None:
    # One field of 3 MiB of percent escapes takes about a second to decode in one call.
    client = APIClient(make_app({'form': form_fields, 'ping': ping}))
    attack = client.post('/form', payload=b'a=' + b'%41' * 1_000_000, content_type='application/x-www-form-urlencoded')
    res, slowest = await max_latency_while(attack, client)
    assert (res.status_code, res.data) == (200, {'fields': 1})
    assert slowest < 0.25


def _spellings(count: int) -> list[tuple[str, dict[str, Any]]]:
    """The same too-large form, spelled in every way a client can send it."""
    crlf = tiny_parts(count)
    return [
        ('multipart', {'payload': crlf, 'content_type': f'multipart/form-data; boundary={BOUNDARY}'}),
        ('mixed case', {'payload': crlf, 'content_type': f'Multipart/Form-Data; BOUNDARY="{BOUNDARY}"'}),
        (
            'bare LF',
            {
                # Bare LF bodies are re-parsed whole only while they are small (≤ 1 MiB): 10k parts fit.
                'payload': tiny_parts(count // 2, line_break='\n'),
                'content_type': f'multipart/form-data; boundary={BOUNDARY}',
            },
        ),
        (
            'chunked',
            {
                'body_chunks': [crlf[i : i + 4096] for i in range(0, len(crlf), 4096)],
                'headers': {'content-type': f'multipart/form-data; boundary={BOUNDARY}'},
            },
        ),
        (
            'urlencoded',
            {
                'payload': '&'.join(f'f{i}=v' for i in range(count)).encode(),
                'content_type': 'application/x-www-form-urlencoded',
            },
        ),
        (
            'urlencoded, mixed case',
            {
                'payload': '&'.join(f'f{i}=v' for i in range(count)).encode(),
                'content_type': 'Application/X-WWW-Form-URLencoded; charset=UTF-8',
            },
        ),
        (
            'urlencoded, chunked',
            {
                'body_chunks': [b'&'.join(b'f%d=v' % i for i in range(count))],
                'headers': {'content-type': 'application/x-www-form-urlencoded'},
            },
        ),
    ]


@pytest.mark.parametrize(('spelling', 'request_kwargs'), _spellings(20_000), ids=[s for s, _ in _spellings(1)])
async def test_form_limits_hold_however_the_request_is_spelled(spelling: str, request_kwargs: dict[str, Any]) -> None:
    client = APIClient(make_app({'form': form_fields}))
    res = await client.request('POST', '/form', **request_kwargs)
    assert res.status_code == 413, spelling
    assert 'at most 1000' in res.data['detail']


@pytest.mark.parametrize('urlencoded', [False, True])
async def test_max_form_fields_is_configurable(urlencoded: bool) -> None:
    client = APIClient(make_app({'form': form_fields}, MAX_FORM_FIELDS=3))
    for count, status in ((3, 200), (4, 413)):
        if urlencoded:
            payload = '&'.join(f'f{i}=v' for i in range(count)).encode()
            content_type = 'application/x-www-form-urlencoded'
        else:
            payload, content_type = tiny_parts(count), f'multipart/form-data; boundary={BOUNDARY}'
        res = await client.post('/form', payload=payload, content_type=content_type)
        assert res.status_code == status
    assert res.data == {'detail': 'Too many fields in the form: at most 3 (MAX_FORM_FIELDS)'}


async def test_file_parts_count_as_parts_not_as_fields() -> None:
    client = APIClient(make_app({'form': form_fields}, MAX_FORM_FIELDS=1, MAX_FORM_PARTS=3))
    files = {f'file{i}': (f'{i}.txt', b'x', 'text/plain') for i in range(3)}
    assert (await client.post('/form', files=files)).data == {'fields': 3}
    files['file3'] = ('3.txt', b'x', 'text/plain')
    res = await client.post('/form', files=files)
    assert (res.status_code, res.data) == (
        413,
        {'detail': 'Too many parts in the multipart form: at most 3 (MAX_FORM_PARTS)'},
    )


async def test_a_boundary_longer_than_256_characters_is_a_bad_request() -> None:
    boundary = 'b' * 300
    client = APIClient(make_app({'form': form_fields}))
    res = await client.post(
        '/form', payload=tiny_parts(1, boundary), content_type=f'multipart/form-data; boundary={boundary}'
    )
    assert res.status_code == 400
    assert res.data == {'detail': 'Invalid multipart boundary: Boundary length 300 exceeds maximum of 256'}


# Structured-syntax JSON types and blank form fields


class Problem(BaseModel):
    title: str
    status: int


@API(methods=['POST'])
async def echo_data(request: Request) -> dict:
    return {'data': request.data}


@API(methods=['POST'], input_model=Problem)
async def problem_report(request: Request) -> dict:
    return request.validated_data.model_dump()


@pytest.mark.parametrize(
    'content_type',
    ['application/problem+json', 'application/problem+json; charset=utf-8', 'Application/Problem+JSON'],
)
async def test_problem_json_body_is_parsed_as_json(content_type: str) -> None:
    client = APIClient(make_app({'echo': echo_data, 'problem': problem_report}))
    body = b'{"title": "Out of stock", "status": 409}'
    res = await client.post('/echo', payload=body, content_type=content_type)
    assert (res.status_code, res.data) == (200, {'data': {'title': 'Out of stock', 'status': 409}})
    res = await client.post('/problem', payload=body, content_type=content_type)
    assert (res.status_code, res.data) == (200, {'title': 'Out of stock', 'status': 409})


async def test_malformed_problem_json_is_400() -> None:
    client = APIClient(make_app({'echo': echo_data, 'problem': problem_report}))
    for path in ('/echo', '/problem'):
        res = await client.post(path, payload=b'{"title": ', content_type='application/problem+json')
        assert res.status_code == 400
        assert res.data['detail'].startswith('Invalid JSON body: ')


@pytest.mark.parametrize('padding', [0, 70_000], ids=['small body', 'body parsed off the loop'])
async def test_blank_urlencoded_fields_are_kept(padding: int) -> None:
    body = b'a=&b=1&c=' + (b'&pad=' + b'x' * padding if padding else b'')
    res = await APIClient(make_app({'echo': echo_data})).post(
        '/echo', payload=body, content_type='application/x-www-form-urlencoded'
    )
    assert res.status_code == 200
    assert {key: res.data['data'][key] for key in ('a', 'b', 'c')} == {'a': '', 'b': '1', 'c': ''}


async def test_blank_multipart_fields_are_kept() -> None:
    res = await APIClient(make_app({'echo': echo_data})).post(
        '/echo', payload={'a': '', 'b': '1'}, files={'f': ('f.txt', b'', 'text/plain')}
    )
    assert res.status_code == 200
    data = res.data['data']
    assert (data['a'], data['b']) == ('', '1')
    assert 'f' in data


@pytest.mark.parametrize('padding', [0, 100_000], ids=['inline', 'in slices'])
async def test_large_urlencoded_forms_decode_like_small_ones(padding: int) -> None:
    client = APIClient(make_app({'form': form_data}))
    escapes = '%41' * padding
    body = f'a=%C3%A9+x&b=1&&c&d=&e%20f=%41{escapes}&b=2&pad={"z" * padding}'.encode()
    res = await client.post('/form', payload=body, content_type='application/x-www-form-urlencoded')
    assert res.data == {'a': 'é x', 'b': '2', 'c': '', 'd': '', 'e f': 'A' * (padding + 1), 'pad': 'z' * padding}
    res = await client.post('/form', payload=body + b'&x=%FF', content_type='application/x-www-form-urlencoded')
    assert (res.status_code, res.data) == (400, {'detail': 'Form body is not valid UTF-8'})


async def test_a_refused_body_is_refused_again_on_the_next_read() -> None:
    sent = [{'type': 'http.request', 'body': b'x' * 20, 'more_body': False}]

    async def receive() -> dict[str, Any]:
        return sent.pop(0)

    async def send(message: dict[str, Any]) -> None:
        return None

    scope = {'type': 'http', 'method': 'POST', 'path': '/', 'headers': [], 'query_string': b''}
    request = Request(scope, receive, send)
    request.max_body_size = 10
    for _ in range(2):
        with pytest.raises(PayloadTooLargeAPIError, match='larger than 10 bytes'):
            await request.read_body()
    assert request.body == b''
