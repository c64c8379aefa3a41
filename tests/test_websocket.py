from __future__ import annotations

import logging
from typing import Any, ClassVar

import pytest

from panther import status
from panther._internal.websocket_flow import remote_store
from panther.app import API
from panther.base_websocket import WebsocketConnections
from panther.configs import config
from panther.exceptions import APIError, AuthenticationAPIError, AuthorizationAPIError
from panther.middlewares import WebsocketMiddleware
from panther.test import APIClient, WebsocketClient
from panther.websocket import (
    GenericWebsocket,
    Websocket,
    close_websocket_connection,
    send_message_to_websocket,
)
from tests._core_helpers import make_app

ACCEPT = {'type': 'websocket.accept', 'subprotocol': None, 'headers': []}


def close(code: int = 1000, reason: str = '') -> dict[str, Any]:
    return {'type': 'websocket.close', 'code': code, 'reason': reason}


def refused(ws: Any) -> tuple[int, Any]:
    """Status and JSON body of a handshake refused with an HTTP answer; the socket was never accepted."""
    assert not ws.accepted
    assert ws.response is not None, ws.messages
    assert ws.messages[0]['type'] == 'websocket.http.response.start'
    assert all(message['type'] != 'websocket.accept' for message in ws.messages)
    assert ws.response.headers['content-type'] == 'application/json'
    return ws.response.status_code, ws.response.data


class Echo(GenericWebsocket):
    async def connect(self):
        await self.accept()

    async def receive(self, data):
        if data == 'close':
            await self.close(code=status.WS_1013_TRY_AGAIN_LATER, reason='Come Back Later')
        elif data == 'id':
            await self.send(self.connection_id)
        elif data == 'kinds':
            for value in ({'detail': 'ok'}, 12, (1, 'a'), None, b'\x00\x01', 'text'):
                await self.send(value)
            await self.send()
        else:
            await self.send(data)


class Typed(GenericWebsocket):
    async def connect(self, room: str, number: int, flag: bool):
        await self.accept()
        await self.send({'room': room, 'number': number, 'flag': flag, 'query': self.query_params,
                         'header': self.headers['x-token'], 'path': self.path})  # fmt: skip


class AcceptAndClose(GenericWebsocket):
    async def connect(self):
        await self.accept()
        await self.close()


class CloseWithCode(GenericWebsocket):
    async def connect(self):
        await self.close(code=status.WS_1013_TRY_AGAIN_LATER, reason='Come Back Later')


class NeverAccepts(GenericWebsocket):
    async def connect(self):
        self.connection_id  # noqa: B018 - logs an error before accept


class AcceptWithExtras(GenericWebsocket):
    async def connect(self):
        await self.accept(subprotocol='chat', headers={'X-Server': 'panther'})
        await self.close()


class CrashesOnReceive(GenericWebsocket):
    async def connect(self):
        await self.accept()

    async def receive(self, data):
        raise APIError(detail='not here', status_code=400)


async def raises_forbidden(connection: Websocket):
    raise AuthorizationAPIError(detail='banned')


class Forbidden(GenericWebsocket):
    permissions = [raises_forbidden]

    async def connect(self):
        await self.accept()


class BrokenMiddleware(WebsocketMiddleware):
    async def __call__(self, connection):
        raise RuntimeError('middleware broke')


class Crashes(GenericWebsocket):
    async def connect(self):
        await self.accept()
        raise RuntimeError('connect blew up')


async def user_from_query(connection: Websocket):
    token = connection.query_params.get('token')
    if token == 'bad':
        raise AuthenticationAPIError('bad token')
    return {'name': token} if token else None


async def needs_user(connection: Websocket):
    return connection.user is not None


async def returns_none(connection: Websocket):
    return None


class Authenticated(GenericWebsocket):
    auth = user_from_query
    permissions = needs_user

    async def connect(self):
        await self.accept()
        await self.send({'user': self.user})


async def only_bob(connection: Websocket):
    return connection.user is not None and connection.user['name'] == 'bob'


class BobOnly(GenericWebsocket):
    auth = user_from_query
    permissions = [only_bob]

    async def connect(self):
        await self.accept()


class NonePermission(GenericWebsocket):
    permissions = [returns_none]

    async def connect(self):
        await self.accept()


class DefaultAuth(GenericWebsocket):
    async def connect(self):
        await self.accept()
        await self.send({'user': self.user})


class Tagging(WebsocketMiddleware):
    async def __call__(self, connection):
        connection.tag = 'from-middleware'
        return await self.dispatch(connection=connection)


class ReadsTag(GenericWebsocket):
    async def connect(self):
        await self.accept()
        await self.send({'tag': getattr(self, 'tag', None)})


@API()
async def http_only():
    return {'http': True}


URLS = {
    'echo': Echo,
    'typed/<room>/<number>/<flag>': Typed,
    'accept-close': AcceptAndClose,
    'close-code': CloseWithCode,
    'never': NeverAccepts,
    'extras': AcceptWithExtras,
    'crash': Crashes,
    'crash-receive': CrashesOnReceive,
    'forbidden': Forbidden,
    'auth': Authenticated,
    'bob-only': BobOnly,
    'none-permission': NonePermission,
    'default-auth': DefaultAuth,
    'tag': ReadsTag,
    'http': http_only,
}


@pytest.fixture
def app():
    return make_app(URLS)


@pytest.fixture
def client(app) -> WebsocketClient:
    return WebsocketClient(app)


# Connection flow and messages (SPEC §21)


async def test_accept_send_receive_and_disconnect(client: WebsocketClient) -> None:
    async with client.session('/echo') as ws:
        assert ws.accepted
        await ws.send_text('hello')
        assert await ws.receive() == {'type': 'websocket.send', 'text': 'hello'}
        await ws.send_bytes(b'\x01')
        assert await ws.receive() == {'type': 'websocket.send', 'bytes': b'\x01'}
        await ws.send_json({'a': 1})
        assert await ws.receive_json() == {'a': 1}
    assert ws.messages[0] == ACCEPT


async def test_send_data_kinds(client: WebsocketClient) -> None:
    async with client.session('/echo') as ws:
        await ws.send_text('kinds')
        received = [await ws.receive() for _ in range(7)]
    assert received == [
        {'type': 'websocket.send', 'text': '{"detail":"ok"}'},
        {'type': 'websocket.send', 'text': '12'},
        {'type': 'websocket.send', 'text': '[1,"a"]'},
        {'type': 'websocket.send', 'text': 'null'},
        {'type': 'websocket.send', 'bytes': b'\x00\x01'},
        {'type': 'websocket.send', 'text': 'text'},
        {'type': 'websocket.send', 'text': 'null'},
    ]


async def test_server_close_with_code_and_reason(client: WebsocketClient) -> None:
    async with client.session('/echo') as ws:
        await ws.send_text('close')
        assert await ws.receive() == close(status.WS_1013_TRY_AGAIN_LATER, 'Come Back Later')
    assert ws.close_code == 1013
    assert ws.close_reason == 'Come Back Later'


async def test_accept_then_close_in_connect(client: WebsocketClient) -> None:
    async with client.session('/accept-close') as ws:
        pass
    assert ws.messages == [ACCEPT, close()]


async def test_close_without_accept_refuses_the_handshake(client: WebsocketClient) -> None:
    async with client.session('/close-code') as ws:
        assert refused(ws) == (403, {'detail': 'Come Back Later'})


async def test_close_without_accept_on_a_server_without_denial_responses(app) -> None:
    async with WebsocketClient(app, denial_response=False).session('/close-code') as ws:
        assert not ws.accepted
    assert ws.messages == [close(1013, 'Come Back Later')]


async def test_never_accepted_is_closed(client: WebsocketClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        async with client.session('/never') as ws:
            assert refused(ws) == (403, {'detail': 'The server did not accept the connection'})
        async with WebsocketClient(client.app, denial_response=False).session('/never') as ws:
            pass
    assert ws.messages == [close()]
    assert 'You should first `self.accept()` the connection then use the `self.connection_id`' in [
        r.getMessage() for r in caplog.records if r.levelno == logging.ERROR
    ]


async def test_accept_with_subprotocol_and_headers(client: WebsocketClient) -> None:
    async with client.session('/extras') as ws:
        pass
    assert ws.messages[0] == {
        'type': 'websocket.accept',
        'subprotocol': 'chat',
        'headers': [(b'X-Server', b'panther')],
    }


async def test_path_variables_are_converted(client: WebsocketClient) -> None:
    async with client.session('/typed/lobby/7/true', headers={'X-Token': 't'}, query_params={'q': 'x'}) as ws:
        assert await ws.receive_json() == {
            'room': 'lobby',
            'number': 7,
            'flag': True,
            'query': {'q': 'x'},
            'header': 't',
            'path': '/typed/lobby/7/true',
        }


@pytest.mark.parametrize(
    ('path', 'reason'),
    [('/typed/lobby/seven/true', 'Path variable `seven` is not `int`'),
     ('/typed/lobby/7/maybe', 'Path variable `maybe` is not `bool`')],
)  # fmt: skip
async def test_bad_path_variable_is_refused_in_the_handshake(client: WebsocketClient, path: str, reason: str) -> None:
    async with client.session(path) as ws:
        assert refused(ws) == (400, {'detail': reason})
    # A server without denial responses: closed before accepting, with the policy code and the reason.
    async with WebsocketClient(client.app, denial_response=False).session(path) as ws:
        assert not ws.accepted
    assert ws.messages == [close(status.WS_1008_POLICY_VIOLATION, reason)]
    assert (ws.close_code, ws.close_reason) == (status.WS_1008_POLICY_VIOLATION, reason)


async def test_unexpected_error_is_logged_and_closed_with_1011(client, caplog: pytest.LogCaptureFixture) -> None:
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        async with client.session('/crash') as ws:
            pass
    assert ws.messages == [ACCEPT, close(status.WS_1011_INTERNAL_ERROR)]
    records = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(records) == 1
    assert records[0].exc_info is not None
    assert 'connect blew up' in records[0].getMessage()


async def test_error_in_receive_is_logged_and_closed_with_1011(client, caplog: pytest.LogCaptureFixture) -> None:
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        async with client.session('/crash-receive') as ws:
            await ws.send_text('anything')
            assert await ws.receive() == close(status.WS_1011_INTERNAL_ERROR)
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 1


async def test_error_in_a_websocket_middleware_closes_with_1011(caplog: pytest.LogCaptureFixture) -> None:
    app = make_app({'echo': Echo}, WS_MIDDLEWARES=[BrokenMiddleware])
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        async with WebsocketClient(app).session('/echo') as ws:
            assert refused(ws) == (500, {'detail': 'Internal Server Error'})
        async with WebsocketClient(app, denial_response=False).session('/echo') as ws:
            assert not ws.accepted
    assert ws.messages == [close(status.WS_1011_INTERNAL_ERROR)]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2
    assert all('middleware broke' in error.getMessage() for error in errors)


# Authentication and permissions: refused in the handshake (401/403), or closed with 1008 before accepting


async def test_permission_raising_an_api_error_rejects_with_its_detail(client: WebsocketClient) -> None:
    async with client.session('/forbidden') as ws:
        assert refused(ws) == (403, {'detail': 'banned'})
    async with WebsocketClient(client.app, denial_response=False).session('/forbidden') as ws:
        assert not ws.accepted
    assert ws.messages == [close(status.WS_1008_POLICY_VIOLATION, 'banned')]
    assert (ws.close_code, ws.close_reason) == (status.WS_1008_POLICY_VIOLATION, 'banned')


async def test_authenticated_user(client: WebsocketClient) -> None:
    async with client.session('/auth', query_params={'token': 'alice'}) as ws:
        assert await ws.receive_json() == {'user': {'name': 'alice'}}


async def test_authentication_error_rejects(client: WebsocketClient) -> None:
    async with client.session('/auth', query_params={'token': 'bad'}) as ws:
        assert refused(ws) == (401, {'detail': 'bad token'})
    async with WebsocketClient(client.app, denial_response=False).session('/auth', query_params={'token': 'bad'}) as ws:
        assert not ws.accepted
    assert ws.messages == [close(status.WS_1008_POLICY_VIOLATION, 'bad token')]


async def test_permission_refusing_an_anonymous_handshake_asks_for_credentials(client: WebsocketClient) -> None:
    for path in ('/auth', '/bob-only'):
        async with client.session(path) as ws:
            assert refused(ws) == (401, {'detail': 'Authentication Error'})
            assert ws.response.headers['www-authenticate'] == 'Bearer'
    async with WebsocketClient(client.app, denial_response=False).session('/auth') as ws:
        assert not ws.accepted
    assert ws.messages == [close(status.WS_1008_POLICY_VIOLATION, 'Authentication Error')]


async def test_permission_denied_rejects(client: WebsocketClient) -> None:
    async with client.session('/bob-only', query_params={'token': 'alice'}) as ws:
        assert refused(ws) == (403, {'detail': 'Permission Denied'})
    async with WebsocketClient(client.app, denial_response=False).session(
        '/bob-only', query_params={'token': 'alice'}
    ) as ws:
        assert not ws.accepted
    assert ws.messages == [close(status.WS_1008_POLICY_VIOLATION, 'Permission Denied')]
    assert (ws.close_code, ws.close_reason) == (status.WS_1008_POLICY_VIOLATION, 'Permission Denied')
    async with client.session('/bob-only', query_params={'token': 'bob'}) as ws:
        assert ws.accepted


async def test_permission_returning_none_rejects(client: WebsocketClient) -> None:
    async with client.session('/none-permission') as ws:
        assert refused(ws) == (403, {'detail': 'Permission Denied'})


async def test_ws_authentication_config_is_the_default() -> None:
    app = make_app({'ws': DefaultAuth}, WS_AUTHENTICATION='tests.test_websocket.user_from_query')
    async with WebsocketClient(app).session('/ws', query_params={'token': 'bob'}) as ws:
        assert await ws.receive_json() == {'user': {'name': 'bob'}}


async def test_websocket_middleware_attributes_reach_the_endpoint() -> None:
    app = make_app({'tag': ReadsTag}, WS_MIDDLEWARES=[Tagging])
    async with WebsocketClient(app).session('/tag') as ws:
        assert await ws.receive_json() == {'tag': 'from-middleware'}


# Routing between HTTP and WebSocket (SPEC §4.8)


async def test_http_route_over_websocket_warns_and_closes(client, caplog: pytest.LogCaptureFixture) -> None:
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        async with client.session('/http') as ws:
            assert refused(ws) == (404, {'detail': 'Not Found'})
        async with WebsocketClient(client.app, denial_response=False).session('/http') as ws:
            assert not ws.accepted
    assert ws.messages == [close()]
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        'http_only() class is not a subclass of `GenericWebsocket`.'
    ] * 2


async def test_unknown_websocket_route_is_closed(client: WebsocketClient) -> None:
    async with client.session('/missing') as ws:
        assert refused(ws) == (404, {'detail': 'Not Found'})
    async with WebsocketClient(client.app, denial_response=False).session('/missing') as ws:
        assert not ws.accepted
    assert ws.messages == [close(1000, 'Not Found')]


async def test_websocket_route_over_http_is_426(app) -> None:
    res = await APIClient(app).get('/echo')
    assert res.status_code == 426
    assert res.data == {'detail': 'This service requires use of the WebSocket protocol.'}


# Connection registry and delivery from anywhere (SPEC §21.3, §21.4)


def test_defining_a_websocket_sets_has_ws() -> None:
    assert config.HAS_WS is False

    class Defined(GenericWebsocket):
        pass

    assert config.HAS_WS is True


def test_app_with_websocket_routes_creates_the_registry() -> None:
    make_app({'echo': Echo})
    assert config.HAS_WS is True
    assert isinstance(config.WEBSOCKET_CONNECTIONS, WebsocketConnections)


async def test_connection_id_registry_and_state(client: WebsocketClient) -> None:
    registry = WebsocketConnections.local()
    async with client.session('/echo') as ws:
        await ws.send_text('id')
        connection_id = await ws.receive_text()
        assert len(connection_id) == 26
        connection = registry.connections[connection_id]
        assert connection.state == 'Accepted'
        assert connection.is_connected
    assert connection_id not in registry.connections
    assert connection.state == 'Closed'
    assert not connection.is_connected


async def test_send_message_and_close_from_outside(client: WebsocketClient) -> None:
    async with client.session('/echo') as ws:
        await ws.send_text('id')
        connection_id = await ws.receive_text()
        await send_message_to_websocket(connection_id, {'pushed': True})
        assert await ws.receive_json() == {'pushed': True}
        await send_message_to_websocket(connection_id, 'plain text')
        assert await ws.receive_text() == 'plain text'
        await close_websocket_connection(connection_id, code=status.WS_1001_GOING_AWAY, reason='bye')
        assert await ws.receive() == close(status.WS_1001_GOING_AWAY, 'bye')
    assert connection_id not in WebsocketConnections.local().connections


async def test_delivery_to_an_unknown_connection_does_nothing() -> None:
    assert await WebsocketConnections.local().deliver({'connection_id': 'nope', 'action': 'send', 'data': 1}) is False
    await send_message_to_websocket('nope', 'x')  # no error


async def test_unknown_action_is_logged(client: WebsocketClient, caplog: pytest.LogCaptureFixture) -> None:
    async with client.session('/echo') as ws:
        await ws.send_text('id')
        connection_id = await ws.receive_text()
        with caplog.at_level(logging.DEBUG):
            delivered = await WebsocketConnections.local().deliver(
                {'connection_id': connection_id, 'action': 'dance', 'data': None}
            )
    assert delivered is True
    assert 'Unknown Message Action: dance' in [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]


async def test_connection_object_before_accept() -> None:
    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {'type': 'websocket.disconnect'}

    scope = {'type': 'websocket', 'path': '/x', 'headers': [], 'query_string': b'', 'client': ('1.1.1.1', 1)}
    connection = Websocket(scope, receive, send)
    assert connection.state == 'Connected'
    assert not connection.is_connected
    await connection.close()
    assert connection.state == 'Rejected'
    assert connection.is_rejected
    await connection.close()  # a second close sends nothing
    assert sent == [close()]


@pytest.mark.redis
async def test_send_message_through_redis_pub_sub(redis_address) -> None:
    host, port = redis_address
    app = make_app({'echo': Echo}, REDIS={'host': host, 'port': port})
    async with APIClient(app), WebsocketClient(app).session('/echo') as ws:
        # The lifespan started the pub/sub listener; delivery now goes through Redis.
        assert remote_store() is not None
        await ws.send_text('id')
        connection_id = await ws.receive_text()
        received = None
        for _ in range(20):  # the subscription may need a moment to be established
            await send_message_to_websocket(connection_id, {'via': 'redis'})
            try:
                received = await ws.receive_json(timeout=0.25)
                break
            except TimeoutError:
                continue
        assert received == {'via': 'redis'}


@pytest.mark.redis
async def test_bytes_sent_through_redis_arrive_as_a_binary_frame(redis_address) -> None:
    host, port = redis_address
    app = make_app({'echo': Echo}, REDIS={'host': host, 'port': port})
    async with APIClient(app), WebsocketClient(app).session('/echo') as ws:  # start-up waits for the subscription
        await ws.send_text('id')
        connection_id = await ws.receive_text()
        await send_message_to_websocket(connection_id, b'\x00\xffbinary')
        assert await ws.receive() == {'type': 'websocket.send', 'bytes': b'\x00\xffbinary'}
        await send_message_to_websocket(connection_id, 'text stays text')
        assert await ws.receive() == {'type': 'websocket.send', 'text': 'text stays text'}


class Tracked(GenericWebsocket):
    ended: ClassVar[list[int]] = []

    async def connect(self, mode: str):
        if mode == 'refuse':
            await self.close(code=4003, reason='nope')
            return
        await self.accept()

    async def receive(self, data):
        await self.close(code=4000, reason='bye')

    async def disconnect(self, code: int) -> None:
        Tracked.ended.append(code)


async def test_disconnect_hook_runs_once_after_accepted_connections() -> None:
    Tracked.ended.clear()
    client = WebsocketClient(make_app({'tracked/<mode>': Tracked}))
    async with client.session('/tracked/open') as ws:
        assert ws.accepted
    async with client.session('/tracked/open') as ws:
        await ws.send_text('close please')
        assert (await ws.receive())['code'] == 4000
    async with client.session('/tracked/refuse') as ws:
        assert not ws.accepted
    # Client disconnect (1000), server close (4000); a never-accepted connection does not call the hook.
    assert Tracked.ended == [1000, 4000]
