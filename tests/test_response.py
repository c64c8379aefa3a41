from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from pydantic import BaseModel, Field

from panther.app import API
from panther.response import (
    Cookie,
    EventSourceResponse,
    FileResponse,
    HTMLResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from panther.test import APIClient
from tests._core_helpers import RawCall, make_app


class Sink:
    """ASGI send/receive pair for calling `response.send()` directly."""

    def __init__(self, disconnect_after: int | None = None) -> None:
        self.messages: list[dict[str, Any]] = []
        self.disconnect_after = disconnect_after
        self._disconnect = asyncio.Event()

    async def send(self, message: dict[str, Any]) -> None:
        self.messages.append(message)
        if self.disconnect_after is not None and len(self.body_messages) >= self.disconnect_after:
            self._disconnect.set()

    async def receive(self) -> dict[str, Any]:
        if self.disconnect_after is None:
            await asyncio.Event().wait()  # never disconnects
        await self._disconnect.wait()
        return {'type': 'http.disconnect'}

    @property
    def start(self) -> dict[str, Any]:
        assert self.messages[0]['type'] == 'http.response.start'
        return self.messages[0]

    @property
    def body_messages(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if m['type'] == 'http.response.body']


# Response (SPEC §7.1, §7.3)


def test_response_defaults() -> None:
    response = Response()
    assert Response.content_type == 'application/json'
    assert (response.data, response.status_code, response.pagination, response.cookies) == (None, 200, None, None)
    assert response.headers == {'Content-Type': 'application/json'}
    assert response.body == b''
    assert response.bytes_headers == [(b'Content-Length', b'0'), (b'Content-Type', b'application/json')]


def test_user_headers_merge_and_override() -> None:
    response = Response(data={'detail': 'ok'}, headers={'X-A': 'b', 'Content-Type': 'application/problem+json'})
    assert response.headers == {'Content-Type': 'application/problem+json', 'X-A': 'b'}
    assert response.bytes_headers == [
        (b'Content-Length', b'15'),
        (b'Content-Type', b'application/problem+json'),
        (b'X-A', b'b'),
    ]


def test_header_values_are_stringified_and_middlewares_can_mutate() -> None:
    response = Response(data=[1], headers={'X-Count': 3})
    response.headers['X-Later'] = 'yes'
    assert response.bytes_headers == [
        (b'Content-Length', b'3'),
        (b'Content-Type', b'application/json'),
        (b'X-Count', b'3'),
        (b'X-Later', b'yes'),
    ]


def test_explicit_content_length_is_not_duplicated() -> None:
    response = Response(data=b'abc', headers={'Content-Length': '3'})
    assert [name for name, _ in response.bytes_headers] == [b'Content-Type', b'Content-Length']


@pytest.mark.parametrize(
    ('data', 'body'),
    [
        ({'detail': 'ok'}, b'{"detail":"ok"}'),
        ('Hello', b'"Hello"'),
        ((1, 2, 3, 4), b'[1,2,3,4]'),
        (b'\x01\x02', b'\x01\x02'),
        (None, b''),
        (0, b'0'),
        (False, b'false'),
        ({1: 'int key'}, b'{"1":"int key"}'),
    ],
)
def test_body_serialisation(data: Any, body: bytes) -> None:
    assert Response(data=data).body == body


def test_detail_body_is_15_bytes() -> None:
    assert len(Response(data={'detail': 'ok'}).body) == 15


def test_pydantic_models_nested_and_in_declaration_order() -> None:
    class Inner(BaseModel):
        b: int
        a: int

    class Outer(BaseModel):
        z: str
        inner: Inner
        items: list[Inner]

    data = {'outer': Outer(z='z', inner=Inner(b=2, a=1), items=[Inner(b=4, a=3)])}
    assert Response(data=data).body == b'{"outer":{"z":"z","inner":{"b":2,"a":1},"items":[{"b":4,"a":3}]}}'


def test_unserialisable_data_raises_type_error() -> None:
    with pytest.raises(TypeError):
        Response(data={'x': object()}).body  # noqa: B018


@pytest.mark.parametrize(
    ('data', 'text'),
    [
        ({'a': 1}, "Response(status_code=200, data={'a': 1})"),
        ('x' * 30, f'Response(status_code=200, data={"x" * 30})'),
        ('y' * 31, f'Response(status_code=200, data={"y" * 27}...)'),
    ],
)
def test_str_and_repr(data: Any, text: str) -> None:
    response = Response(data=data)
    assert str(response) == text
    assert repr(response) == text


async def test_send_emits_start_and_one_body() -> None:
    sink = Sink()
    await Response(data={'a': 1}, status_code=201, headers={'X': 'y'}).send(sink.send, sink.receive)
    assert sink.messages == [
        {
            'type': 'http.response.start',
            'status': 201,
            'headers': [(b'Content-Length', b'7'), (b'Content-Type', b'application/json'), (b'X', b'y')],
        },
        {'type': 'http.response.body', 'body': b'{"a":1}', 'more_body': False},
    ]


async def test_prepare_materialises_async_cursors() -> None:
    class FakeCursor:
        cls = object

        async def to_list(self):
            return [{'id': 1}]

    response = Response(data=FakeCursor())
    await response.prepare()
    assert response.data == [{'id': 1}]


# Cookies (SPEC §7.2)


def test_default_cookie_string() -> None:
    response = Response(set_cookies=Cookie(key='custom_key', value='custom_value'))
    assert response.cookies == [(b'Set-Cookie', b'custom_key=custom_value; Path=/; SameSite=lax')]


def test_cookie_with_every_option() -> None:
    cookie = Cookie(
        key='custom_key',
        value='custom_value',
        domain='example.com',
        max_age=100,
        secure=True,
        httponly=True,
        samesite='strict',
        path='/here/',
    )
    assert Response(set_cookies=[cookie]).cookies == [
        (
            b'Set-Cookie',
            b'custom_key=custom_value; Domain=example.com; HttpOnly; Max-Age=100; Path=/here/; SameSite=strict; Secure',
        )
    ]


def test_cookie_max_age_zero_deletes() -> None:
    assert Cookie(key='k', value='', max_age=0).to_header() == (b'Set-Cookie', b'k=""; Max-Age=0; Path=/; SameSite=lax')


def test_several_cookies_are_several_headers_after_the_others() -> None:
    response = Response(data=None, set_cookies=[Cookie('a', '1'), Cookie('b', '2', httponly=True)])
    assert response.bytes_headers == [
        (b'Content-Length', b'0'),
        (b'Content-Type', b'application/json'),
        (b'Set-Cookie', b'a=1; Path=/; SameSite=lax'),
        (b'Set-Cookie', b'b=2; HttpOnly; Path=/; SameSite=lax'),
    ]


# HTML, plain text, redirect (SPEC §7.4, §7.8)


def test_html_and_plain_text() -> None:
    html = HTMLResponse(data='<b>hé</b>')
    assert html.headers == {'Content-Type': 'text/html; charset=utf-8'}
    assert html.body == '<b>hé</b>'.encode()
    plain = PlainTextResponse(data='hello')
    assert plain.headers == {'Content-Type': 'text/plain; charset=utf-8'}
    assert plain.body == b'hello'
    assert PlainTextResponse(data=b'raw').body == b'raw'
    assert PlainTextResponse().body == b''


def test_redirect_response() -> None:
    response = RedirectResponse('/target/')
    assert (response.status_code, response.data, response.body) == (307, None, b'')
    assert response.headers == {'Content-Type': 'application/json', 'Location': '/target/'}


def test_redirect_with_status_headers_and_cookies() -> None:
    response = RedirectResponse('/login', headers={'X-A': '1'}, status_code=302, set_cookies=Cookie('s', ''))
    assert response.status_code == 302
    assert response.headers == {'Content-Type': 'application/json', 'X-A': '1', 'Location': '/login'}
    assert response.cookies == [(b'Set-Cookie', b's=""; Path=/; SameSite=lax')]


# Streaming (SPEC §7.5, DESIGN §1: str chunks as text)


def sync_chunks():
    yield b'bytes'
    yield 'text é'
    yield None
    yield 0
    yield {'a': [1, 2]}


async def async_chunks():
    for chunk in sync_chunks():
        await asyncio.sleep(0)
        yield chunk


EXPECTED_CHUNKS = [b'bytes', 'text é'.encode(), b'', b'0', b'{"a":[1,2]}']


@pytest.mark.parametrize('factory', [sync_chunks, async_chunks])
async def test_streaming_messages(factory) -> None:
    sink = Sink()
    await StreamingResponse(data=factory(), headers={'X-S': '1'}).send(sink.send, sink.receive)
    assert sink.start == {
        'type': 'http.response.start',
        'status': 200,
        'headers': [(b'Content-Type', b'application/octet-stream'), (b'X-S', b'1')],
    }
    body = sink.body_messages
    assert [m['body'] for m in body[:-1]] == EXPECTED_CHUNKS
    assert all(m['more_body'] is True for m in body[:-1])
    assert body[-1] == {'type': 'http.response.body', 'body': b'', 'more_body': False}


async def test_sync_generator_is_advanced_off_the_event_loop() -> None:
    seen: list[bool] = []

    def chunks():
        for _ in range(2):
            try:
                asyncio.get_running_loop()
                seen.append(True)
            except RuntimeError:
                seen.append(False)
            yield b'x'

    sink = Sink()
    await StreamingResponse(data=chunks()).send(sink.send, sink.receive)
    assert seen == [False, False]


async def test_streaming_cookies_are_sent() -> None:
    sink = Sink()

    async def one():
        yield b'1'

    await StreamingResponse(data=one(), set_cookies=Cookie('a', 'b')).send(sink.send, sink.receive)
    assert sink.start['headers'][-1] == (b'Set-Cookie', b'a=b; Path=/; SameSite=lax')


async def test_disconnect_stops_streaming_and_closes_the_generator() -> None:
    produced: list[int] = []
    closed: list[bool] = []

    async def endless():
        try:
            i = 0
            while True:
                produced.append(i)
                yield f'{i},'
                i += 1
                await asyncio.sleep(0.001)
        finally:
            closed.append(True)

    sink = Sink(disconnect_after=2)
    await asyncio.wait_for(StreamingResponse(data=endless()).send(sink.send, sink.receive), timeout=5)
    body = sink.body_messages
    assert 2 <= len(body) < 6
    assert all(m['more_body'] is True for m in body)  # no final message after a disconnect
    assert closed == [True]


async def test_disconnect_stops_a_sync_generator() -> None:
    closed: list[bool] = []

    def endless():
        try:
            while True:
                yield b'.'
        finally:
            closed.append(True)

    sink = Sink(disconnect_after=3)
    await asyncio.wait_for(StreamingResponse(data=endless()).send(sink.send, sink.receive), timeout=5)
    assert all(m['more_body'] for m in sink.body_messages)
    assert closed == [True]


async def test_streaming_non_generator_raises_type_error_before_sending() -> None:
    sink = Sink()
    with pytest.raises(TypeError):
        await StreamingResponse(data=[1, 2]).send(sink.send, sink.receive)
    assert sink.messages == []


# Server-sent events


@pytest.mark.parametrize(
    ('chunk', 'frame'),
    [
        ('hello', b'data: hello\n\n'),
        ('a\nb', b'data: a\ndata: b\n\n'),
        ({'n': 1}, b'data: {"n":1}\n\n'),
        (('update', 'x'), b'event: update\ndata: x\n\n'),
        (b'raw', b'data: raw\n\n'),
    ],
)
def test_event_source_framing(chunk: Any, frame: bytes) -> None:
    assert EventSourceResponse._encode(chunk) == frame


async def test_event_source_response() -> None:
    async def events():
        yield 'first'
        yield ('tick', {'n': 2})

    sink = Sink()
    await EventSourceResponse(data=events()).send(sink.send, sink.receive)
    assert sink.start['headers'] == [
        (b'Content-Type', b'text/event-stream'),
        (b'Cache-Control', b'no-cache'),
        (b'X-Accel-Buffering', b'no'),
    ]
    assert [m['body'] for m in sink.body_messages] == [b'data: first\n\n', b'event: tick\ndata: {"n":2}\n\n', b'']


# Through the application


def _sse_gen():
    for i in range(3):
        yield f'data: {i}\n\n'


@API()
async def stream():
    return StreamingResponse(data=_sse_gen())


@API()
async def broken_stream():
    return StreamingResponse(data=[1, 2, 3])


@API()
async def failing_mid_stream():
    async def chunks():
        yield b'one'
        raise RuntimeError('stream broke')

    return StreamingResponse(data=chunks())


@API()
async def html():
    return HTMLResponse('<h1>Hi</h1>', set_cookies=Cookie('seen', '1'))


@API()
async def redirect():
    return RedirectResponse('/elsewhere', status_code=308)


@pytest.fixture
def app():
    urls = {
        'stream': stream,
        'broken': broken_stream,
        'mid': failing_mid_stream,
        'html': html,
        'redirect': redirect,
    }
    return make_app(urls)


async def test_str_chunks_are_sent_as_text_through_the_app(app) -> None:
    call = await RawCall()(app, 'GET', '/stream')
    assert call.status == 200
    assert call.body == b'data: 0\n\ndata: 1\n\ndata: 2\n\n'
    assert [m['body'] for m in call.sent[1:]] == [b'data: 0\n\n', b'data: 1\n\n', b'data: 2\n\n', b'']


async def test_head_on_a_stream_sends_headers_only(app) -> None:
    call = await RawCall()(app, 'HEAD', '/stream')
    assert call.sent[1:] == [{'type': 'http.response.body', 'body': b'', 'more_body': False}]


async def test_non_generator_stream_is_500(app, caplog: pytest.LogCaptureFixture) -> None:
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        res = await APIClient(app).get('/broken')
    assert (res.status_code, res.data) == (500, {'detail': 'Internal Server Error'})
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 1


async def test_error_mid_stream_is_logged_and_the_stream_is_not_finished(app, caplog) -> None:
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        call = await RawCall()(app, 'GET', '/mid')
    assert call.status == 200
    assert call.sent[1:] == [{'type': 'http.response.body', 'body': b'one', 'more_body': True}]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert 'stream broke' in errors[0].getMessage()


async def test_html_with_cookie_through_the_app(app) -> None:
    res = await APIClient(app).get('/html')
    assert res.status_code == 200
    assert res.data == '<h1>Hi</h1>'
    assert res.headers == {
        'Content-Length': '11',
        'Content-Type': 'text/html; charset=utf-8',
        'Set-Cookie': 'seen=1; Path=/; SameSite=lax',
    }
    assert res.cookies == [(b'Set-Cookie', b'seen=1; Path=/; SameSite=lax')]


async def test_redirect_through_the_app(app) -> None:
    res = await APIClient(app).get('/redirect')
    assert res.status_code == 308
    assert res.headers == {'Content-Length': '0', 'Content-Type': 'application/json', 'Location': '/elsewhere'}


# serialize_output (SPEC §7.9)


class Out(BaseModel):
    id: str = Field(alias='_id')
    name: str


class Source(BaseModel):
    _ignored: int = 0
    name: str
    secret: str = 's'


async def test_serialize_output_dict_and_alias() -> None:
    response = Response(data={'_id': '1', 'name': 'foo', 'password': 'p'})
    assert await response.serialize_output(Out) == {'id': '1', 'name': 'foo'}
    assert response.data == {'id': '1', 'name': 'foo'}


async def test_serialize_output_list_tuple_and_models() -> None:
    class NameOnly(BaseModel):
        name: str

    response = Response(data=[{'name': 'a', 'x': 1}, Source(name='b')])
    assert await response.serialize_output(NameOnly) == [{'name': 'a'}, {'name': 'b'}]
    response = Response(data=({'name': 'c'},))
    assert await response.serialize_output(NameOnly) == [{'name': 'c'}]
    response = Response(data=Source(name='d'))
    assert await response.serialize_output(NameOnly) == {'name': 'd'}


async def test_serialize_output_to_response_receives_the_original_instance() -> None:
    original = {'name': 'x', 'extra': 1}
    seen: list[Any] = []

    class Hooked(BaseModel):
        name: str

        async def to_response(self, instance, data):
            seen.append(instance)
            return {'wrapped': data}

    response = Response(data=original)
    assert await response.serialize_output(Hooked) == {'wrapped': {'name': 'x'}}
    assert seen[0] is original


@pytest.mark.parametrize('data', ['text', 5, [1, 2], [{'name': 'a'}, 'b']])
async def test_serialize_output_type_mismatch(data: Any) -> None:
    class NameOnly(BaseModel):
        name: str

    with pytest.raises(TypeError) as info:
        await Response(data=data).serialize_output(NameOnly)
    assert str(info.value) == (
        'Type of Response data is not match with `output_model`.\n*hint: You may want to remove `output_model`'
    )


# FileResponse: ranges past the end of a small file


TEN_BYTES = b'0123456789'


@pytest.fixture
def ten_byte_file_client(tmp_path) -> APIClient:
    (tmp_path / 'ten.bin').write_bytes(TEN_BYTES)
    (tmp_path / 'empty.bin').write_bytes(b'')

    @API()
    async def serve(name: str):
        return FileResponse(name, base_dir=tmp_path)

    return APIClient(make_app({'files/<name>': serve}))


@pytest.mark.parametrize('method', ['get', 'head'])
@pytest.mark.parametrize('header', ['bytes=100-200', 'bytes=10-10', 'bytes=10-', 'bytes=10-5'])
async def test_range_past_the_end_is_416_never_a_negative_length(
    ten_byte_file_client: APIClient, method: str, header: str
) -> None:
    res = await getattr(ten_byte_file_client, method)('/files/ten.bin', headers={'Range': header})
    assert res.status_code == 416
    assert res.headers['Content-Range'] == 'bytes */10'
    assert res.headers.get('Content-Length', '0') == '0'
    assert res.raw_body == b''


async def test_any_range_on_an_empty_file_is_416(ten_byte_file_client: APIClient) -> None:
    res = await ten_byte_file_client.get('/files/empty.bin', headers={'Range': 'bytes=0-0'})
    assert res.status_code == 416
    assert res.headers['Content-Range'] == 'bytes */0'


async def test_every_small_range_answers_a_consistent_length(ten_byte_file_client: APIClient) -> None:
    for start in range(15):
        for end in range(15):
            res = await ten_byte_file_client.get('/files/ten.bin', headers={'Range': f'bytes={start}-{end}'})
            length = int(res.headers.get('Content-Length', '0'))
            assert length == len(res.raw_body) >= 0, (start, end)
            if start < 10 and end >= start:
                assert res.status_code == 206, (start, end)
                assert res.raw_body == TEN_BYTES[start : end + 1]
                assert res.headers['Content-Range'] == f'bytes {start}-{min(end, 9)}/10'
            else:
                assert res.status_code == 416, (start, end)


def test_the_table_of_encoded_header_pairs_stays_bounded() -> None:
    from panther import response as response_module

    for number in range(3 * response_module._ENCODED_HEADERS_MAX):
        headers = Response(data=None, headers={'ETag': f'"{number}"'}).bytes_headers
        assert (b'ETag', f'"{number}"'.encode()) in headers
        assert len(response_module._ENCODED_HEADERS) <= response_module._ENCODED_HEADERS_MAX
