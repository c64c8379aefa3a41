"""WebSocket endpoints."""

from __future__ import annotations

import base64
import inspect
from typing import Any

from panther import status
from panther._internal import state
from panther._internal.endpoint import EndpointOptions
from panther._internal.injection import InjectionPlan
from panther._internal.pipeline import Admission
from panther._internal.ws_groups import groups
from panther._internal.ws_throttling import validate_throttle
from panther.base_websocket import PubSub, Websocket, WebsocketConnections
from panther.configs import config
from panther.throttling import Throttle

__all__ = [
    'GenericWebsocket',
    'Websocket',
    'close_websocket_connection',
    'group_members',
    'join_group',
    'leave_group',
    'send_message_to_websocket',
    'send_to_group',
]


class WebsocketEndpoint:
    kind = 'websocket'
    methods: frozenset[str] = frozenset()

    def __init__(self, cls: type[GenericWebsocket], options: EndpointOptions) -> None:
        self.cls = cls
        self.options = options
        self.plan = InjectionPlan(cls.connect, skip_first=True)
        self._admission: Admission | None = None
        self._version = -1

    def admission(self) -> Admission:
        """Authentication (`auth` or `WS_AUTHENTICATION`) and permissions, the step HTTP endpoints use too."""
        if self._admission is None or self._version != state.config_version:
            auth = self.options.auth if self.options.auth is not None else config.WS_AUTHENTICATION
            self._admission = Admission(auth, self.options.permissions)
            self._version = state.config_version
        return self._admission


class GenericWebsocket(Websocket):
    """Subclass and override `connect()` (call `await self.accept()`) and `receive(data)`."""

    auth: Any = None
    permissions: Any = None
    # `Throttle(rate, duration)` of client messages per user (authenticated) or per connection; messages over the
    # limit are dropped and `throttled()` is called once per window.
    throttling: Throttle | None = None
    # `Throttle` of new connections per user or client address; over the limit the handshake is refused with 429.
    connect_throttling: Throttle | None = None

    __panther_endpoint__: WebsocketEndpoint

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.permissions is not None and not isinstance(cls.permissions, (list, tuple)):
            cls.permissions = [cls.permissions]
        validate_throttle(cls.__name__, 'throttling', cls.throttling)
        validate_throttle(cls.__name__, 'connect_throttling', cls.connect_throttling)
        options = EndpointOptions.build(auth=cls.auth, permissions=cls.permissions)
        cls.__panther_endpoint__ = WebsocketEndpoint(cls, options)
        if not cls.__module__.startswith('panther.'):
            config.HAS_WS = True

    async def connect(self, **kwargs: Any) -> None:
        """Called once per connection with the path variables; accept or close here."""

    async def receive(self, data: str | bytes) -> None:
        """Called for every message from the client."""

    async def disconnect(self, code: int) -> None:
        """Called once after an accepted connection ended (client went away or the server closed it)."""

    async def throttled(self, retry_after: int) -> None:
        """Called for the first message over `throttling` in a window; that message and the rest are dropped.

        Override to answer in your own protocol, or to close the connection (e.g. `await self.close(1008)`).
        """
        await self.send({'detail': 'Too Many Messages', 'retry_after': retry_after})

    # Groups: shortcuts for the module functions below, for this connection.

    async def join(self, group: str, info: Any = None) -> None:
        """Join `group` (left automatically when the connection ends); `info` is listed by `group_members()`."""
        await join_group(self._require_id(), group, info)

    async def leave(self, group: str) -> None:
        await leave_group(self._require_id(), group)

    def joined_groups(self) -> frozenset[str]:
        return groups.groups_of(self._connection_id or '')

    def _require_id(self) -> str:
        if self._connection_id is None:
            raise RuntimeError('Call `self.accept()` before joining or leaving groups')
        return self._connection_id


async def send_message_to_websocket(connection_id: str, data: Any) -> None:
    """Send `data` to a connection, whichever worker process holds it."""
    if isinstance(data, bytes) and _remote_store() is not None:
        # JSON has no bytes: they travel base64-encoded and are sent as a binary frame.
        await _publish({'connection_id': connection_id, 'action': 'send', 'b64': base64.b64encode(data).decode()})
        return
    await _publish({'connection_id': connection_id, 'action': 'send', 'data': data})


async def close_websocket_connection(
    connection_id: str, code: int = status.WS_1000_NORMAL_CLOSURE, reason: str = ''
) -> None:
    await _publish({'connection_id': connection_id, 'action': 'close', 'data': {'code': code, 'reason': reason}})


async def join_group(connection_id: str, group: str, info: Any = None) -> None:
    """Add a connection (of any worker) to `group`; `info` (JSON-serialisable) is what presence lists for it.

    Invalid group names raise `ValueError`. A connection of another worker joins when that worker receives
    the request (through Redis); an unknown or closed connection joins nothing.
    """
    await groups.join(connection_id, group, info)


async def leave_group(connection_id: str, group: str) -> None:
    """Remove a connection from `group` (nothing happens if it is not a member)."""
    await groups.leave(connection_id, group)


async def send_to_group(group: str, data: Any) -> int:
    """Send `data` to every member of `group` in every worker; returns how many members it was sent to.

    An empty or unknown group is not an error: nothing is sent and the result is 0.
    """
    return await groups.send(group, data)


async def group_members(group: str) -> dict[str, Any]:
    """`{connection id: info}` of the members of `group` across workers (this process only without Redis)."""
    return await groups.members(group)


def _remote_store() -> Any:
    from panther._internal.websocket_flow import remote_store

    return remote_store()


async def _publish(message: dict[str, Any]) -> None:
    store = _remote_store()
    if store is not None:
        result = store.publish(PubSub.channel, PubSub.encode(message))
        if inspect.isawaitable(result):
            await result
        return
    await WebsocketConnections.local().deliver(message)
