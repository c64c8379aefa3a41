"""Server-sent events: `ServerSentEvent` framing, `EventSourceResponse` keep-alive and disconnect handling,
`request.last_event_id`; end to end through a real uvicorn with httpx streaming."""

from __future__ import annotations

import asyncio
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from panther import Panther
from panther.app import API
from panther.request import Request
from panther.response import EventSourceResponse, ServerSentEvent
from panther.test import APIClient
from tests._uvicorn import uvicorn_servers


def parse_events(lines: list[str]) -> list[dict[str, Any]]:
    """A small SSE parser following the HTML spec: comments kept apart, fields collected per blank line."""
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    for line in lines:
        if line == '':
            if current:
                events.append(current)
            current = {}
            continue
        if line.startswith(':'):
            current.setdefault('comments', []).append(line[1:].removeprefix(' '))
            continue
        field, _, value = line.partition(':')
        value = value.removeprefix(' ')
        if field == 'data':
            current['data'] = f'{current["data"]}\n{value}' if 'data' in current else value
        else:
            current[field] = value
    return events


# Framing


@pytest.mark.parametrize(
    ('event', 'frame'),
    [
        (ServerSentEvent(data='hello'), b'data: hello\n\n'),
        (ServerSentEvent(data='a\nb\r\nc\rd'), b'data: a\ndata: b\ndata: c\ndata: d\n\n'),
        (ServerSentEvent(data='ends with a break\n'), b'data: ends with a break\ndata:\n\n'),
        (ServerSentEvent(data={'n': 1}), b'data: {"n":1}\n\n'),
        (ServerSentEvent(data=b'raw'), b'data: raw\n\n'),
        (
            ServerSentEvent(data='x', event='update', id=7, retry=2500),
            b'id: 7\nevent: update\nretry: 2500\ndata: x\n\n',
        ),
        (ServerSentEvent(id='only-an-id'), b'id: only-an-id\n\n'),
        (ServerSentEvent(comment='two\nlines'), b': two\n: lines\n\n'),
        (ServerSentEvent(id=''), b'id: \n\n'),  # an empty id resets the client's last event id
    ],
)
def test_event_frames(event: ServerSentEvent, frame: bytes) -> None:
    assert event.encode() == frame
    assert EventSourceResponse._encode(event) == frame


def test_frames_parse_back_to_the_event() -> None:
    frame = ServerSentEvent(data='first\nsecond', event='note', id='n-1', retry=10).encode().decode()
    assert parse_events(frame.split('\n')) == [{'id': 'n-1', 'event': 'note', 'retry': '10', 'data': 'first\nsecond'}]


@pytest.mark.parametrize(
    ('fields', 'error', 'message'),
    [
        ({'event': 'a\nb'}, ValueError, '`event` must not contain line breaks'),
        ({'event': 'a\rdata: injected'}, ValueError, '`event` must not contain line breaks'),
        ({'id': '1\n2'}, ValueError, '`id` must not contain line breaks or NUL'),
        ({'id': 'a\0b'}, ValueError, '`id` must not contain line breaks or NUL'),
        ({'id': 1.5}, TypeError, '`id` should be a str or int, not `float`'),
        ({'id': True}, TypeError, '`id` should be a str or int, not `bool`'),
        ({'retry': -1}, ValueError, '`retry` should be a non-negative int'),
        ({'retry': '100'}, ValueError, '`retry` should be a non-negative int'),
        ({'retry': True}, ValueError, '`retry` should be a non-negative int'),
    ],
)
def test_fields_that_would_break_the_stream_are_refused(fields: dict[str, Any], error: type, message: str) -> None:
    with pytest.raises(error, match=message.replace('(', r'\(')):
        ServerSentEvent(data='x', **fields)


@pytest.mark.parametrize('interval', [0, -1])
def test_ping_interval_must_be_positive(interval: float) -> None:
    with pytest.raises(ValueError, match='`ping_interval` should be a positive number of seconds or None'):
        EventSourceResponse(iter([]), ping_interval=interval)


# In process (APIClient)


async def test_a_bad_event_ends_the_stream_with_one_error_log(caplog: pytest.LogCaptureFixture) -> None:
    async def events():
        yield ServerSentEvent(data='fine', id=1)
        yield ServerSentEvent(data='x', event='bad\nevent')

    @API()
    async def stream() -> EventSourceResponse:
        return EventSourceResponse(events())

    app = Panther(__name__, configs=__name__, urls={'stream/': stream})
    async with APIClient(app) as client:
        response = await client.get('/stream/')
    assert response.status_code == 200
    assert response.raw_body == b'id: 1\ndata: fine\n\n'  # type: ignore[attr-defined]
    errors = [r.getMessage() for r in caplog.records if r.name == 'panther' and r.levelname == 'ERROR']
    assert errors == ['Error while streaming the response: Server-sent event `event` must not contain line breaks']


async def test_last_event_id_header(caplog: pytest.LogCaptureFixture) -> None:
    @API()
    async def where(request: Request) -> dict[str, Any]:
        return {'last': request.last_event_id}

    app = Panther(__name__, configs=__name__, urls={'where/': where})
    async with APIClient(app) as client:
        assert (await client.get('/where/')).data == {'last': None}
        assert (await client.get('/where/', headers={'Last-Event-ID': 'n-41'})).data == {'last': 'n-41'}
        # Sent as latin-1 bytes 0xff 0xfe: not UTF-8.
        bad = await client.get('/where/', headers={'Last-Event-ID': '\xff\xfe'})
    assert bad.status_code == 400
    assert bad.data == {'detail': 'Last-Event-ID header is not valid UTF-8'}


async def test_ping_only_while_idle_and_disconnect_cancels_a_waiting_generator() -> None:
    sent: list[bytes] = []
    disconnect = asyncio.Event()
    pinged = asyncio.Event()
    closed = asyncio.Event()

    async def events():
        try:
            yield ServerSentEvent(data='hello', id=1)
            await asyncio.Event().wait()  # nothing more to say: only pings from now on
        finally:
            closed.set()

    async def send(message: dict[str, Any]) -> None:
        if message['type'] == 'http.response.body':
            sent.append(message['body'])
            if message['body'] == b': ping\n\n':
                pinged.set()

    async def receive() -> dict[str, Any]:
        await disconnect.wait()
        return {'type': 'http.disconnect'}

    response = EventSourceResponse(events(), ping_interval=0.05)
    streaming = asyncio.create_task(response.send(send, receive))
    await asyncio.wait_for(pinged.wait(), 5)
    disconnect.set()
    await asyncio.wait_for(streaming, 5)
    assert closed.is_set()
    assert sent[0] == b'id: 1\ndata: hello\n\n'
    assert set(sent[1:]) == {b': ping\n\n'}
    assert all(body for body in sent)  # no final empty message after a disconnect


async def test_disconnect_while_a_sync_generator_blocks_returns_at_once() -> None:
    release = threading.Event()
    first_sent = asyncio.Event()
    disconnect = asyncio.Event()
    sent: list[bytes] = []

    def events():
        yield 'first'
        release.wait(10)  # blocks its worker thread, not the event loop
        yield 'never sent'

    async def send(message: dict[str, Any]) -> None:
        if message['type'] == 'http.response.body':
            sent.append(message['body'])
            first_sent.set()

    async def receive() -> dict[str, Any]:
        await disconnect.wait()
        return {'type': 'http.disconnect'}

    streaming = asyncio.create_task(EventSourceResponse(events(), ping_interval=None).send(send, receive))
    await asyncio.wait_for(first_sent.wait(), 5)
    disconnect.set()
    await asyncio.wait_for(streaming, 5)  # does not wait for the blocked thread
    release.set()
    assert sent == [b'data: first\n\n']


# Through a real uvicorn

SSE_APP = """
    import asyncio
    import os

    from panther import Panther
    from panther.app import API
    from panther.request import Request
    from panther.response import EventSourceResponse, ServerSentEvent

    closed = asyncio.Event()


    async def numbered(after: int):
        for number in range(after + 1, after + 4):
            yield ServerSentEvent(data=f'note {number}\\nsecond line', event='note', id=number, retry=1500)


    async def idle():
        try:
            yield ServerSentEvent(data='hello', id='h')
            await asyncio.Event().wait()
        finally:
            closed.set()


    @API()
    async def notes(request: Request):
        after = int(request.last_event_id or 0)
        return EventSourceResponse(numbered(after))


    @API()
    async def quiet():
        closed.clear()
        return EventSourceResponse(idle(), ping_interval=0.2)


    @API()
    async def was_closed():
        try:
            await asyncio.wait_for(closed.wait(), 5)
        except asyncio.TimeoutError:
            return {'closed': False}
        return {'closed': True}


    app = Panther(__name__, configs=__name__, urls={'notes/': notes, 'quiet/': quiet, 'closed/': was_closed})
"""


@pytest.fixture(scope='module')
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    directory: Path = tmp_path_factory.mktemp('sse')
    (directory / 'sse_app.py').write_text(textwrap.dedent(SSE_APP))
    with uvicorn_servers(directory, 'sse_app') as servers:
        yield f'http://127.0.0.1:{servers[0][1]}'


def _stream_lines(url: str, headers: dict[str, str] | None = None) -> tuple[httpx.Response, list[str]]:
    with httpx.stream('GET', url, headers=headers, timeout=5) as response:
        return response, list(response.iter_lines())


def test_frames_through_uvicorn_and_resume_from_last_event_id(server: str) -> None:
    response, lines = _stream_lines(f'{server}/notes/')
    assert response.status_code == 200
    assert response.headers['content-type'] == 'text/event-stream'
    assert response.headers['cache-control'] == 'no-cache'
    assert 'content-length' not in response.headers
    events = parse_events(lines)
    assert events == [
        {'id': str(n), 'event': 'note', 'retry': '1500', 'data': f'note {n}\nsecond line'} for n in (1, 2, 3)
    ]
    # What a browser's EventSource does after the stream breaks: reconnect with the last id it saw.
    _, resumed = _stream_lines(f'{server}/notes/', headers={'Last-Event-ID': events[-1]['id']})
    assert [event['id'] for event in parse_events(resumed)] == ['4', '5', '6']


def test_keep_alive_comments_and_disconnect_stops_the_generator(server: str) -> None:
    with httpx.Client(timeout=5) as client:
        with client.stream('GET', f'{server}/quiet/') as response:
            lines = response.iter_lines()
            assert next(lines) == 'id: h'
            assert next(lines) == 'data: hello'
            assert next(lines) == ''
            assert next(lines) == ': ping'  # sent by the server while the generator waits
            assert next(lines) == ''
        # Leaving the block closes the connection: the server sees the disconnect and cancels the generator.
        assert client.get(f'{server}/closed/').json() == {'closed': True}
