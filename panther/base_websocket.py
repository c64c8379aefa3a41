"""The WebSocket connection object and the per-process registry of open connections."""

from __future__ import annotations

import base64
import logging
from typing import TYPE_CHECKING, Any, cast

import orjson

from panther import status
from panther._internal.ids import new_ulid
from panther.base_request import BaseRequest

if TYPE_CHECKING:
    from panther._internal.types import Receive, Scope, Send

__all__ = ['PubSub', 'Websocket', 'WebsocketConnections']

logger = logging.getLogger('panther')

CHANNEL = 'websocket_connections'
# The ASGI "WebSocket Denial Response" extension: the app may answer the handshake with an HTTP response.
DENIAL_EXTENSION = 'websocket.http.response'
NOT_ACCEPTED = 'The server did not accept the connection'


class Websocket(BaseRequest):
    """One WebSocket connection. `state` goes `Connected` → `Accepted` → `Closed` (or `Rejected`)."""

    __slots__ = ('_connection_id', 'close_code', 'close_reason', 'state')

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        super().__init__(scope, receive, send)
        self.state = 'Connected'
        self._connection_id: str | None = None
        self.close_code: int | None = None
        self.close_reason: str = ''

    @property
    def connection_id(self) -> str | None:
        if self._connection_id is None:
            logger.error('You should first `self.accept()` the connection then use the `self.connection_id`')
        return self._connection_id

    @property
    def is_connected(self) -> bool:
        return self.state == 'Accepted'

    @property
    def is_rejected(self) -> bool:
        return self.state == 'Rejected'

    async def accept(self, subprotocol: str | None = None, headers: dict[str, str] | None = None) -> None:
        # ASGI wants headers as a list of byte pairs.
        raw_headers = [(k.encode('latin-1'), str(v).encode('latin-1')) for k, v in headers.items()] if headers else []
        await self.asgi_send({'type': 'websocket.accept', 'subprotocol': subprotocol, 'headers': raw_headers})
        self.state = 'Accepted'
        self._connection_id = new_ulid()
        WebsocketConnections.local().register(self)
        logger.debug('Accepting WS connection %s', self._connection_id)

    async def send(self, data: Any = None) -> None:
        # Straight to the server (not through send_text/send_bytes): one coroutine less per message.
        if isinstance(data, str):
            await self.asgi_send({'type': 'websocket.send', 'text': data})
        elif isinstance(data, bytes):
            await self.asgi_send({'type': 'websocket.send', 'bytes': data})
        else:
            from panther.response import render_json

            await self.asgi_send({'type': 'websocket.send', 'text': render_json(data).decode()})

    async def send_text(self, text: str) -> None:
        await self.asgi_send({'type': 'websocket.send', 'text': text})

    async def send_bytes(self, data: bytes) -> None:
        await self.asgi_send({'type': 'websocket.send', 'bytes': data})

    async def close(self, code: int = status.WS_1000_NORMAL_CLOSURE, reason: str = '') -> None:
        """Close an open connection; before `accept()` this refuses the handshake (see `refuse()`)."""
        if self.state in ('Closed', 'Rejected'):
            return
        if self.state != 'Accepted':
            await self.refuse(status.HTTP_403_FORBIDDEN, reason or NOT_ACCEPTED, code=code, reason=reason)
            return
        await self.asgi_send({'type': 'websocket.close', 'code': code, 'reason': reason})
        self.close_code, self.close_reason = code, reason
        self.state = 'Closed'
        WebsocketConnections.local().unregister(self)

    @property
    def offers_denial_response(self) -> bool:
        """Whether the server lets the app answer the handshake with an HTTP response."""
        extensions = self.scope.get('extensions') or {}
        return DENIAL_EXTENSION in extensions

    async def refuse(
        self,
        status_code: int,
        detail: Any,
        *,
        code: int = status.WS_1008_POLICY_VIOLATION,
        reason: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Refuse the handshake, so the client never sees an open socket.

        When the server offers the denial-response extension the client gets an HTTP `status_code` answer with
        the JSON body `{"detail": detail}`; otherwise the socket is closed before it was accepted (servers
        answer that with a bare HTTP 403) with `code` and `reason` (default: `detail`).
        """
        if self.state != 'Connected':
            return
        reason = str(detail) if reason is None else reason
        self.state = 'Rejected'
        self.close_code, self.close_reason = code, reason
        if not self.offers_denial_response:
            await self.asgi_send({'type': 'websocket.close', 'code': code, 'reason': reason})
            return
        body = orjson.dumps({'detail': detail})
        raw_headers = [(b'content-type', b'application/json'), (b'content-length', str(len(body)).encode())]
        raw_headers += [(k.lower().encode('latin-1'), str(v).encode('latin-1')) for k, v in (headers or {}).items()]
        await self.asgi_send({'type': 'websocket.http.response.start', 'status': status_code, 'headers': raw_headers})
        await self.asgi_send({'type': 'websocket.http.response.body', 'body': body, 'more_body': False})


class WebsocketConnections:
    """Open connections of this process, by connection id."""

    _instance: WebsocketConnections | None = None

    def __init__(self) -> None:
        self.connections: dict[str, Websocket] = {}

    @classmethod
    def local(cls) -> WebsocketConnections:
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    def __new__(cls) -> WebsocketConnections:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
            cls._instance.connections = {}
        return cls._instance

    def register(self, connection: Websocket) -> None:
        if connection._connection_id:
            self.connections[connection._connection_id] = connection

    def unregister(self, connection: Websocket) -> None:
        if connection._connection_id:
            self.connections.pop(connection._connection_id, None)

    async def deliver(self, message: dict[str, Any]) -> bool:
        """Perform a published action if its connection lives in this process. Returns whether it did."""
        connection = self.connections.get(message.get('connection_id', ''))
        if connection is None:
            return False
        action = message.get('action')
        if action == 'send':
            logger.debug(f'Sending WS Message to {connection._connection_id}')
            encoded = message.get('b64')
            await connection.send(base64.b64decode(encoded) if encoded is not None else message.get('data'))
        elif action == 'close':
            data = message.get('data') or {}
            await connection.close(code=data.get('code', status.WS_1000_NORMAL_CLOSURE), reason=data.get('reason', ''))
        else:
            logger.error(f'Unknown Message Action: {action}')
        return True


class PubSub:
    """Cross-process delivery of WebSocket actions over the Store's publish/subscribe (Redis when configured)."""

    channel = CHANNEL

    @staticmethod
    def encode(message: dict[str, Any]) -> bytes:
        return orjson.dumps(message)

    @staticmethod
    def decode(raw: bytes | str) -> dict[str, Any]:
        return cast('dict[str, Any]', orjson.loads(raw))
