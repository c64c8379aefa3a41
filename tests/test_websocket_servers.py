"""WebSockets served by real uvicorn processes: handshake refusals as HTTP answers, delivery across workers."""

from __future__ import annotations

import pytest

REJECTING_APP = """
from panther import Panther
from panther.exceptions import AuthenticationAPIError
from panther.middlewares import WebsocketMiddleware
from panther.websocket import GenericWebsocket


class LikeAServerWithoutDenialResponses(WebsocketMiddleware):
    async def __call__(self, connection):
        if connection.query_params.get('plain'):
            connection.scope['extensions'] = {}
        return await self.dispatch(connection=connection)


WS_MIDDLEWARES = [LikeAServerWithoutDenialResponses]


async def deny(connection):
    return False


async def bad_token(connection):
    raise AuthenticationAPIError('Token is malformed')


class Guarded(GenericWebsocket):
    permissions = [deny]

    async def connect(self):
        await self.accept()


class Authenticated(GenericWebsocket):
    auth = bad_token

    async def connect(self):
        await self.accept()


class Refuses(GenericWebsocket):
    async def connect(self):
        await self.close(code=4003, reason='Room is full')


class Open(GenericWebsocket):
    async def connect(self):
        await self.accept()
        await self.send('welcome')

    async def receive(self, data):
        await self.send(data)


WS_MAX_MESSAGE_SIZE = 16

app = Panther(
    __name__,
    configs=__name__,
    urls={'guarded/': Guarded, 'authenticated/': Authenticated, 'refuses/': Refuses, 'open/': Open},
)
"""


@pytest.mark.slow
def test_refusals_and_size_limit_through_uvicorn(tmp_path) -> None:
    import json

    from websockets.exceptions import ConnectionClosed, InvalidStatus
    from websockets.sync.client import connect

    from tests._uvicorn import uvicorn_servers

    (tmp_path / 'ws_app.py').write_text(REJECTING_APP)
    with uvicorn_servers(tmp_path, 'ws_app') as [(_, port)]:
        for path, expected_status, detail in [
            ('/guarded/', 403, 'Permission Denied'),
            ('/authenticated/', 401, 'Token is malformed'),
            ('/refuses/', 403, 'Room is full'),
            ('/missing/', 404, 'Not Found'),
        ]:
            # The client never gets an open socket (a browser's `onopen` does not fire): the handshake fails.
            with pytest.raises(InvalidStatus) as refused_handshake:
                connect(f'ws://127.0.0.1:{port}{path}', open_timeout=5)
            response = refused_handshake.value.response
            assert response.status_code == expected_status, path
            assert response.headers['Content-Type'] == 'application/json'
            assert json.loads(response.body) == {'detail': detail}
            # Without the extension the socket is closed before it was accepted: uvicorn answers a bare 403.
            with pytest.raises(InvalidStatus) as refused_handshake:
                connect(f'ws://127.0.0.1:{port}{path}?plain=1', open_timeout=5)
            assert refused_handshake.value.response.status_code == 403, path
            assert b'detail' not in refused_handshake.value.response.body
        with connect(f'ws://127.0.0.1:{port}/open/', open_timeout=5) as ws:
            assert ws.recv(timeout=5) == 'welcome'
            ws.send('x' * 16)
            assert ws.recv(timeout=5) == 'x' * 16
            # Over WS_MAX_MESSAGE_SIZE: the server closes with 1009 (message too big).
            ws.send('x' * 17)
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=5)
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1009, 'Messages are at most 16 bytes')


CROSS_WORKER_APP = """
import os

from panther import Panther
from panther.app import API
from panther.websocket import GenericWebsocket, send_message_to_websocket

REDIS = {'host': '127.0.0.1', 'port': int(os.environ['REDIS_PORT'])}


class Inbox(GenericWebsocket):
    async def connect(self):
        await self.accept()
        await self.send({'connection_id': self.connection_id, 'worker': os.getpid()})


@API(methods=['POST'])
async def deliver(request):
    await send_message_to_websocket(request.data['connection_id'], {'text': request.data['text'], 'from': os.getpid()})
    return {'worker': os.getpid()}


app = Panther(__name__, configs=__name__, urls={'inbox/': Inbox, 'deliver/': deliver})
"""


@pytest.mark.slow
@pytest.mark.redis
def test_message_sent_on_one_worker_reaches_a_socket_on_another(tmp_path, redis_address) -> None:
    import json
    import os
    import socket
    import subprocess
    import sys
    import time

    import httpx
    from websockets.sync.client import connect

    (tmp_path / 'cross_app.py').write_text(CROSS_WORKER_APP)
    env = {**os.environ, 'PYTHONPATH': str(tmp_path), 'REDIS_PORT': str(redis_address[1])}
    servers, ports = [], []
    try:
        for _ in range(2):
            with socket.socket() as probe:
                probe.bind(('127.0.0.1', 0))
                ports.append(probe.getsockname()[1])
            servers.append(
                subprocess.Popen(
                    [sys.executable, '-m', 'uvicorn', 'cross_app:app', '--host', '127.0.0.1', '--port', str(ports[-1])],
                    cwd=tmp_path,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        for port in ports:
            deadline = time.time() + 20
            while True:
                try:
                    socket.create_connection(('127.0.0.1', port), timeout=0.2).close()
                    break
                except OSError:
                    assert time.time() < deadline, 'worker did not start'
                    time.sleep(0.1)
        with connect(f'ws://127.0.0.1:{ports[1]}/inbox/', open_timeout=5) as ws:
            hello = json.loads(ws.recv(timeout=5))
            # Worker A (the other process) publishes; worker B's listener delivers to its socket.
            answer = httpx.post(
                f'http://127.0.0.1:{ports[0]}/deliver/',
                json={'connection_id': hello['connection_id'], 'text': 'hi from A'},
                timeout=5,
            ).json()
            assert answer['worker'] != hello['worker']
            message = json.loads(ws.recv(timeout=5))
        assert message == {'text': 'hi from A', 'from': answer['worker']}
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=10)
