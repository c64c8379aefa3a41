"""The WebSocket connection flow: middlewares, routing, authentication, permissions, `connect`, receive loop."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from typing import Any

from panther import status
from panther._internal.types import Receive, Scope, Send
from panther.base_websocket import PubSub, Websocket, WebsocketConnections
from panther.configs import config
from panther.exceptions import BaseError
from panther.routings import get_router

logger = logging.getLogger('panther')


class _Rejected(Exception):
    """A refusal decided before `connect()`: answered in the handshake (`http_status`) or by a close (`code`)."""

    def __init__(self, http_status: int, detail: Any, code: int = status.WS_1008_POLICY_VIOLATION) -> None:
        super().__init__(detail)
        self.http_status, self.detail, self.code = http_status, detail, code
        self.headers: dict[str, str] | None = None

    @classmethod
    def from_error(cls, exc: BaseError) -> _Rejected:
        # Only client-error statuses make sense for a refused handshake.
        http_status = exc.status_code if 400 <= exc.status_code < 500 else status.HTTP_403_FORBIDDEN
        rejected = cls(http_status, exc.detail)
        rejected.headers = exc.headers
        return rejected


async def handle_websocket(scope: Scope, receive: Receive, send: Send) -> None:
    connection = Websocket(scope, receive, send)
    handler: Any = _dispatch
    for middleware in config.WS_MIDDLEWARES:
        handler = middleware(dispatch=handler)
    try:
        await handler(connection=connection)
    except Exception as exc:
        logger.error(f'WebSocket error: {exc}', exc_info=exc)
        await _safe_close(connection, status.WS_1011_INTERNAL_ERROR)


async def _safe_close(connection: Websocket, code: int, reason: str = '') -> None:
    with contextlib.suppress(Exception):
        if connection.state == 'Connected':
            await connection.refuse(
                status.HTTP_500_INTERNAL_SERVER_ERROR, 'Internal Server Error', code=code, reason=reason
            )
        else:
            await connection.close(code=code, reason=reason)


async def _dispatch(connection: Websocket) -> Websocket:
    endpoint, variables = get_router().resolve(connection.path)
    if endpoint is None:
        await connection.refuse(status.HTTP_404_NOT_FOUND, 'Not Found', code=status.WS_1000_NORMAL_CLOSURE)
        return connection
    compiled = getattr(endpoint, '__panther_endpoint__', None)
    if compiled is None or compiled.kind != 'websocket':
        name = getattr(endpoint, '__name__', type(endpoint).__name__)
        logger.warning(f'{name}() class is not a subclass of `GenericWebsocket`.')
        await connection.refuse(status.HTTP_404_NOT_FOUND, 'Not Found', code=status.WS_1000_NORMAL_CLOSURE, reason='')
        return connection

    socket = compiled.cls(connection.scope, connection.asgi_receive, connection.asgi_send)
    # Attributes that WebSocket middlewares set on the temporary connection stay visible to the endpoint.
    for key, value in connection.__dict__.items():
        setattr(socket, key, value)
    socket.path_variables = variables or {}
    try:
        kwargs = await _prepare(socket, compiled)
    except _Rejected as rejected:
        await socket.refuse(
            rejected.http_status,
            rejected.detail,
            code=rejected.code,
            reason=str(rejected.detail),
            headers=rejected.headers,
        )
        connection.state = socket.state
        return socket

    accepted = False
    try:
        await socket.connect(**kwargs)
        if socket.state == 'Accepted':
            accepted = True
            await _receive_loop(socket)
        elif socket.state == 'Connected':
            await socket.close(code=status.WS_1000_NORMAL_CLOSURE)
        accepted = accepted or (socket.close_code is not None and socket.state == 'Closed')
    except Exception as exc:
        accepted = accepted or socket.state in ('Accepted', 'Closed')
        logger.error(f'WebSocket error in {type(socket).__name__}: {exc}', exc_info=exc)
        await _safe_close(socket, status.WS_1011_INTERNAL_ERROR)
    finally:
        WebsocketConnections.local().unregister(socket)
    if accepted:
        try:
            await socket.disconnect(socket.close_code or status.WS_1000_NORMAL_CLOSURE)
        except Exception as exc:
            logger.error(f'WebSocket error in {type(socket).__name__}.disconnect(): {exc}', exc_info=exc)
    return socket


async def _prepare(socket: Any, compiled: Any) -> dict[str, Any]:
    options = compiled.options
    auth = options.auth if options.auth is not None else config.WS_AUTHENTICATION
    if auth is not None:
        call: Any = auth() if inspect.isclass(auth) else auth
        try:
            socket.user = await call(socket)
        except BaseError as exc:
            raise _Rejected.from_error(exc) from None
    for permission in options.permissions or ():
        check: Any = permission() if inspect.isclass(permission) else permission
        try:
            granted = check(socket)
            if inspect.isawaitable(granted):
                granted = await granted
        except BaseError as exc:
            raise _Rejected.from_error(exc) from None
        if not granted:
            raise _Rejected(status.HTTP_403_FORBIDDEN, 'Permission Denied')
    try:
        return compiled.plan.build(socket)
    except BaseError as exc:
        raise _Rejected.from_error(exc) from None


async def _receive_loop(socket: Any) -> None:
    while True:
        message = await socket.asgi_receive()
        kind = message['type']
        if kind == 'websocket.receive':
            data = message.get('text')
            await socket.receive(data if data is not None else message.get('bytes', b''))
        elif kind == 'websocket.disconnect':
            socket.state = 'Closed'
            socket.close_code = message.get('code', status.WS_1000_NORMAL_CLOSURE)
            return
        if socket.state != 'Accepted':
            return


# Cross-process delivery


_listener: dict[str, Any] = {'task': None}


def remote_store() -> Any:
    """The Store used for cross-worker WebSocket delivery, or None when only this process is reachable."""
    try:
        from panther.db.connections.redis import redis
    except ImportError:
        return None
    if not getattr(redis, 'is_connected', False):
        return None
    from panther._internal.store import get_store

    return get_store()


async def start_listener() -> None:
    if not config.HAS_WS or _listener['task'] is not None:
        return
    store = remote_store()
    if store is None:
        return

    async def listen() -> None:
        async for raw in store.subscribe(PubSub.channel):
            try:
                await WebsocketConnections.local().deliver(PubSub.decode(raw))
            except Exception as exc:
                logger.error(f'WebSocket delivery failed: {exc}')

    _listener['task'] = asyncio.create_task(listen())


async def stop_listener() -> None:
    task = _listener['task']
    _listener['task'] = None
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
