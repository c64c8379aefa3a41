"""WebSocket endpoints."""

from __future__ import annotations

import inspect
from typing import Any

from panther import status
from panther._internal.endpoint import EndpointOptions
from panther._internal.injection import InjectionPlan
from panther.base_websocket import PubSub, Websocket, WebsocketConnections
from panther.configs import config

__all__ = ['GenericWebsocket', 'Websocket', 'close_websocket_connection', 'send_message_to_websocket']


class WebsocketEndpoint:
    kind = 'websocket'
    methods: frozenset[str] = frozenset()

    def __init__(self, cls: type[GenericWebsocket], options: EndpointOptions) -> None:
        self.cls = cls
        self.options = options
        self.plan = InjectionPlan(cls.connect, skip_first=True)


class GenericWebsocket(Websocket):
    """Subclass and override `connect()` (call `await self.accept()`) and `receive(data)`."""

    auth: Any = None
    permissions: Any = None

    __panther_endpoint__: WebsocketEndpoint

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.permissions is not None and not isinstance(cls.permissions, (list, tuple)):
            cls.permissions = [cls.permissions]
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


async def send_message_to_websocket(connection_id: str, data: Any) -> None:
    """Send `data` to a connection, whichever worker process holds it."""
    await _publish({'connection_id': connection_id, 'action': 'send', 'data': data})


async def close_websocket_connection(
    connection_id: str, code: int = status.WS_1000_NORMAL_CLOSURE, reason: str = ''
) -> None:
    await _publish({'connection_id': connection_id, 'action': 'close', 'data': {'code': code, 'reason': reason}})


async def _publish(message: dict[str, Any]) -> None:
    from panther._internal.websocket_flow import remote_store

    store = remote_store()
    if store is not None:
        result = store.publish(PubSub.channel, PubSub.encode(message))
        if inspect.isawaitable(result):
            await result
        return
    await WebsocketConnections.local().deliver(message)
