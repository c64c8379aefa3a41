"""Rate limits of WebSocket endpoints: `throttling` (client messages) and `connect_throttling` (new connections)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, ClassVar

import pytest

from panther import status
from panther.exceptions import PantherError
from panther.test import WebsocketClient
from panther.throttling import Throttle
from panther.websocket import GenericWebsocket, Websocket
from tests._core_helpers import make_app


async def user_from_query(connection: Websocket) -> Any:
    name = connection.query_params.get('user')
    return type('User', (), {'id': name})() if name else None


class Stored(GenericWebsocket):
    """Every message it handles is "stored" (kept in `handled`) and echoed."""

    auth = user_from_query
    handled: ClassVar[list[str]] = []

    async def connect(self) -> None:
        await self.accept()

    async def receive(self, data: str | bytes) -> None:
        Stored.handled.append(str(data))
        await self.send(data)


def limited(rate: int, **attributes: Any) -> type[GenericWebsocket]:
    namespace = {'throttling': Throttle(rate=rate, duration=timedelta(minutes=1)), **attributes}
    return type('Limited', (Stored,), namespace)


def sent_texts(messages: list[dict[str, Any]]) -> list[str]:
    return [message['text'] for message in messages if message['type'] == 'websocket.send']


async def test_a_burst_is_cut_to_the_limit() -> None:
    Stored.handled.clear()
    app = make_app({'chat/': limited(10)})
    async with WebsocketClient(app).session('/chat/') as ws:
        for number in range(200):
            await ws.send_text(f'm{number}')
    # The session ended after the app had read all 200: exactly the first 10 were handled, the client was told once.
    assert Stored.handled == [f'm{number}' for number in range(10)]
    texts = sent_texts(ws.messages)
    assert texts[:10] == Stored.handled
    assert len(texts) == 11
    assert texts[10].startswith('{"detail":"Too Many Messages","retry_after":')


async def test_a_user_shares_the_limit_across_connections_anonymous_connections_do_not() -> None:
    Stored.handled.clear()
    app = make_app({'chat/': limited(3)})
    client = WebsocketClient(app)
    async with client.session('/chat/', query_params={'user': 'ann'}) as first:
        async with client.session('/chat/', query_params={'user': 'ann'}) as second:
            for ws in (first, second, first, second):
                await ws.send_text('x')
    assert len(Stored.handled) == 3
    Stored.handled.clear()
    async with client.session('/chat/') as first, client.session('/chat/') as second:
        for ws in (first, second) * 3:
            await ws.send_text('y')
    assert len(Stored.handled) == 6


async def test_the_next_window_allows_messages_again(clock: Any) -> None:
    Stored.handled.clear()
    app = make_app({'chat/': limited(2)})
    async with WebsocketClient(app).session('/chat/') as ws:
        for text in ('a', 'b', 'c'):
            await ws.send_text(text)
        assert [await ws.receive_text() for _ in range(3)][:2] == ['a', 'b']
        clock.advance(60)
        await ws.send_text('d')
        assert await ws.receive_text() == 'd'
    assert Stored.handled == ['a', 'b', 'd']


class ClosesWhenThrottled(GenericWebsocket):
    async def connect(self) -> None:
        await self.accept()

    async def receive(self, data: str | bytes) -> None:
        await self.send(data)

    async def throttled(self, retry_after: int) -> None:
        await self.close(code=status.WS_1008_POLICY_VIOLATION, reason='Slow down')


async def test_throttled_can_close_the_connection() -> None:
    endpoint = type('Strict', (ClosesWhenThrottled,), {'throttling': Throttle(rate=1, duration=timedelta(minutes=1))})
    async with WebsocketClient(make_app({'strict/': endpoint})).session('/strict/') as ws:
        await ws.send_text('one')
        await ws.send_text('two')
        assert await ws.receive_text() == 'one'
        assert await ws.receive() == {'type': 'websocket.close', 'code': 1008, 'reason': 'Slow down'}


async def test_new_connections_are_rate_limited_per_client_across_paths() -> None:
    class Room(GenericWebsocket):
        auth = user_from_query
        connect_throttling = Throttle(rate=3, duration=timedelta(minutes=1))

        async def connect(self, room: str) -> None:
            await self.accept()

    client = WebsocketClient(make_app({'rooms/<room>/': Room}))
    for room in ('a', 'b', 'c'):
        async with client.session(f'/rooms/{room}/') as ws:
            assert ws.accepted
    # Another room does not start a new count: the limit is per endpoint and client, not per path.
    async with client.session('/rooms/d/') as ws:
        assert not ws.accepted
        assert ws.response is not None
        assert (ws.response.status_code, ws.response.data) == (429, {'detail': 'Too Many Request'})
        assert 1 <= int(ws.response.headers['Retry-After']) <= 60
    async with WebsocketClient(make_app({'rooms/<room>/': Room}), denial_response=False).session('/rooms/e/') as ws:
        assert ws.messages == [{'type': 'websocket.close', 'code': 1013, 'reason': 'Too Many Request'}]
    # A signed-in user has a bucket of its own.
    async with client.session('/rooms/a/', query_params={'user': 'ann'}) as ws:
        assert ws.accepted


async def test_limits_hold_on_each_store(backend: str) -> None:
    Stored.handled.clear()
    app = make_app({'chat/': limited(5)})
    # A user id of its own per run: the Redis server is shared with earlier runs.
    user = f'{backend}-{id(app)}'
    async with WebsocketClient(app).session('/chat/', query_params={'user': user}) as ws:
        for number in range(50):
            await ws.send_text(str(number))
    assert Stored.handled == [str(number) for number in range(5)]


def test_throttle_attributes_must_be_throttles() -> None:
    expected = '`Bad.throttling` should be a `panther.throttling.Throttle` or None'
    with pytest.raises(PantherError, match=re.escape(expected)):
        type('Bad', (GenericWebsocket,), {'throttling': 5})
    with pytest.raises(PantherError, match=re.escape('`Worse.connect_throttling` should be')):
        type('Worse', (GenericWebsocket,), {'connect_throttling': timedelta(seconds=1)})
