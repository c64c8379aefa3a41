"""The WebSocket connection flow: middlewares, routing, authentication, permissions, `connect`, receive loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, cast

from panther import status
from panther._internal import state
from panther._internal.pipeline import MiddlewareChain
from panther._internal.types import Receive, Scope, Send
from panther._internal.ws_groups import groups, presence_ttl, run_heartbeat
from panther._internal.ws_throttling import MessageLimiter, check_connection_rate
from panther.base_websocket import PubSub, Websocket, WebsocketConnections
from panther.configs import config
from panther.exceptions import BaseError, PantherError
from panther.routings import get_router

logger = logging.getLogger('panther')

DEFAULT_MAX_MESSAGE_SIZE = 1024 * 1024


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
    chain = _middleware_chain()
    # Without WebSocket middlewares there is no connection object for them to see: the endpoint's socket is the
    # only one built.
    connection = Websocket(scope, receive, send) if chain is not None else None
    try:
        if chain is None:
            await _serve(scope, receive, send, None)
        else:
            await chain(connection)
    except Exception as exc:
        logger.error(f'WebSocket error: {exc}', exc_info=exc)
        await _safe_close(connection or Websocket(scope, receive, send), status.WS_1011_INTERNAL_ERROR)


_chain: dict[str, Any] = {'version': -1, 'chain': None}


def _middleware_chain() -> MiddlewareChain | None:
    """`WS_MIDDLEWARES` around the dispatcher, built once per configuration (see `pipeline.MiddlewareChain`);
    None when there are none."""
    if _chain['version'] != state.config_version:
        middlewares = list(config.WS_MIDDLEWARES)  # innermost first
        _chain['chain'] = (
            MiddlewareChain(
                middlewares, _dispatch, lambda cls, nxt: cls(dispatch=nxt), catch=False, keyword='connection'
            )
            if middlewares
            else None
        )
        _chain['version'] = state.config_version
    chain: MiddlewareChain | None = _chain['chain']
    return chain


async def _safe_close(connection: Websocket, code: int, reason: str = '') -> None:
    with contextlib.suppress(Exception):
        if connection.state == 'Connected':
            await connection.refuse(
                status.HTTP_500_INTERNAL_SERVER_ERROR, 'Internal Server Error', code=code, reason=reason
            )
        else:
            await connection.close(code=code, reason=reason)


async def _dispatch(connection: Websocket) -> Websocket:
    """The innermost layer of the WebSocket middlewares."""
    return await _serve(connection.scope, connection.asgi_receive, connection.asgi_send, connection)


async def _serve(scope: Scope, receive: Receive, send: Send, connection: Websocket | None) -> Websocket:
    """Route, admit and run one connection. `connection` is the object the WebSocket middlewares saw (if any)."""
    endpoint, variables = get_router().resolve(scope['path'])
    if endpoint is None:
        connection = connection or Websocket(scope, receive, send)
        await connection.refuse(status.HTTP_404_NOT_FOUND, 'Not Found', code=status.WS_1000_NORMAL_CLOSURE)
        return connection
    compiled = getattr(endpoint, '__panther_endpoint__', None)
    if compiled is None or compiled.kind != 'websocket':
        name = getattr(endpoint, '__name__', type(endpoint).__name__)
        logger.warning(f'{name}() class is not a subclass of `GenericWebsocket`.')
        connection = connection or Websocket(scope, receive, send)
        await connection.refuse(status.HTTP_404_NOT_FOUND, 'Not Found', code=status.WS_1000_NORMAL_CLOSURE, reason='')
        return connection

    socket = compiled.cls(scope, receive, send)
    if connection is not None:
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
        if connection is not None:
            connection.state = socket.state
        return cast('Websocket', socket)

    accepted = False
    try:
        await socket.connect(**kwargs)
        if socket.state == 'Accepted':
            accepted = True
            await _receive_loop(socket, compiled)
        elif socket.state == 'Connected':
            await socket.close(code=status.WS_1000_NORMAL_CLOSURE)
        accepted = accepted or (socket.close_code is not None and socket.state == 'Closed')
    except Exception as exc:
        accepted = accepted or socket.state in ('Accepted', 'Closed')
        logger.error(f'WebSocket error in {type(socket).__name__}: {exc}', exc_info=exc)
        await _safe_close(socket, status.WS_1011_INTERNAL_ERROR)
    finally:
        WebsocketConnections.local().unregister(socket)
    if socket._connection_id in groups.by_connection:
        # Before `disconnect()`: the hook sees the groups without this connection.
        try:
            await groups.leave_all(socket._connection_id)
        except Exception as exc:
            logger.error(f'WebSocket error while leaving groups: {exc}', exc_info=exc)
    if accepted:
        try:
            await socket.disconnect(socket.close_code or status.WS_1000_NORMAL_CLOSURE)
        except Exception as exc:
            logger.error(f'WebSocket error in {type(socket).__name__}.disconnect(): {exc}', exc_info=exc)
    return cast('Websocket', socket)


async def _prepare(socket: Any, compiled: Any) -> dict[str, Any]:
    # The same authentication and permission step as HTTP endpoints (`pipeline.Admission`).
    admission = compiled.admission()
    if admission:  # an endpoint without authentication or permissions skips the step's coroutine
        try:
            await admission(socket)
        except BaseError as exc:
            raise _Rejected.from_error(exc) from None
    connect_throttle = compiled.cls.connect_throttling
    if connect_throttle is not None:
        retry_after = await check_connection_rate(socket, connect_throttle)
        if retry_after is not None:
            rejected = _Rejected(status.HTTP_429_TOO_MANY_REQUESTS, 'Too Many Request', status.WS_1013_TRY_AGAIN_LATER)
            rejected.headers = {'Retry-After': str(retry_after)}
            raise rejected
    try:
        return cast('dict[str, Any]', compiled.plan.build(socket))
    except BaseError as exc:
        raise _Rejected.from_error(exc) from None


def max_message_size() -> int:
    """`WS_MAX_MESSAGE_SIZE` in bytes (default 1 MiB); a larger client message closes the socket with 1009."""
    # Read from the instance dict: an unset custom key would go through `Config.__getattr__` on every connection.
    value = config.__dict__.get('WS_MAX_MESSAGE_SIZE')
    if value is None:
        return DEFAULT_MAX_MESSAGE_SIZE
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise PantherError(f"Invalid 'WS_MAX_MESSAGE_SIZE': expected a positive number of bytes, got {value!r}")
    return value


def _too_big(data: str | bytes, limit: int) -> bool:
    size = len(data)
    if isinstance(data, str) and limit // 4 < size <= limit:
        # A character takes 1 to 4 bytes in UTF-8: only encode when the length alone cannot decide.
        size = len(data.encode())
    return size > limit


async def _receive_loop(socket: Any, compiled: Any) -> None:
    limit = max_message_size()
    # Below this length no message can be over the limit (a character is at most 4 bytes in UTF-8).
    surely_small = limit // 4
    throttle = compiled.cls.throttling
    limiter = MessageLimiter(socket, throttle) if throttle is not None else None
    receive = socket.receive
    asgi_receive = socket.asgi_receive
    while True:
        message = await asgi_receive()
        kind = message['type']
        if kind == 'websocket.receive':
            data = message.get('text')
            if data is None:
                data = message.get('bytes') or b''
            if len(data) > surely_small and _too_big(data, limit):
                await socket.close(code=status.WS_1009_MESSAGE_TOO_BIG, reason=f'Messages are at most {limit} bytes')
                return
            if limiter is not None:
                retry_after = await limiter.retry_after()
                if retry_after is not None:
                    if limiter.first_refusal(retry_after):
                        await socket.throttled(retry_after)
                    if socket.state != 'Accepted':
                        return
                    continue
            await receive(data)
        elif kind == 'websocket.disconnect':
            socket.state = 'Closed'
            socket.close_code = message.get('code', status.WS_1000_NORMAL_CLOSURE)
            return
        if socket.state != 'Accepted':
            return


# Cross-process delivery

_listener: dict[str, Any] = {'task': None, 'heartbeat': None}
# How long start-up waits for the subscription before serving anyway (delivery starts once it is up).
SUBSCRIBE_TIMEOUT = 5.0
RECONNECT_DELAYS = (0.1, 0.25, 0.5, 1.0, 2.0)


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


async def dispatch_published(message: dict[str, Any]) -> None:
    """Act on one message of the WebSocket channel in this process."""
    if await groups.handle(message):
        return
    await WebsocketConnections.local().deliver(message)


async def _subscribe_and_deliver(store: Any, subscribed: asyncio.Event) -> None:
    async def on_subscribed() -> None:
        subscribed.set()
        logger.debug('WebSocket channel subscribed')
        # Memberships written while Redis was away (or before a restart of Redis) are restored now.
        await groups.heartbeat()

    messages = store.subscribe(PubSub.channel, ready=on_subscribed)
    try:
        async for raw in messages:
            try:
                await dispatch_published(PubSub.decode(raw))
            except Exception as exc:
                logger.error(f'WebSocket delivery failed: {exc}')
    finally:
        with contextlib.suppress(Exception):
            await messages.aclose()


async def _listen(store: Any, subscribed: asyncio.Event) -> None:
    """Stay subscribed: after a lost connection to Redis, subscribe again (with a growing pause)."""
    failures = 0
    while True:
        subscribed.clear()
        try:
            await _subscribe_and_deliver(store, subscribed)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if subscribed.is_set():
                failures = 0
            if failures == 0:
                logger.warning(f'WebSocket delivery across workers paused, Redis is unreachable: {exc}')
            delay = RECONNECT_DELAYS[min(failures, len(RECONNECT_DELAYS) - 1)]
            failures += 1
            await asyncio.sleep(delay)


async def start_listener() -> None:
    if not config.HAS_WS or _listener['task'] is not None:
        return
    max_message_size()  # a bad setting fails the start-up, not the first message
    presence_ttl()
    store = remote_store()
    if store is None or not hasattr(store, 'client'):
        return
    subscribed = asyncio.Event()
    _listener['task'] = asyncio.create_task(_listen(store, subscribed))
    _listener['heartbeat'] = asyncio.create_task(run_heartbeat())
    # Serve only once this worker hears what the others publish (or after the timeout, logged).
    try:
        await asyncio.wait_for(subscribed.wait(), timeout=SUBSCRIBE_TIMEOUT)
    except asyncio.TimeoutError:
        logger.warning('WebSocket channel not subscribed yet; delivery from other workers starts once it is')


async def stop_listener() -> None:
    for name in ('task', 'heartbeat'):
        task = _listener[name]
        _listener[name] = None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
