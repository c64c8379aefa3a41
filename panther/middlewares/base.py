"""Middleware base classes. A middleware wraps the next handler (`dispatch`) and must return its result."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from panther.request import Request
    from panther.response import Response
    from panther.websocket import GenericWebsocket

__all__ = ['HTTPMiddleware', 'WebsocketMiddleware']


class HTTPMiddleware:
    """Override `__call__`; call `await self.dispatch(request=request)` to continue, then return the response."""

    def __init__(self, dispatch: Callable[..., Awaitable[Response]]) -> None:
        self.dispatch = dispatch

    async def __call__(self, request: Request) -> Response:
        return await self.dispatch(request=request)


class WebsocketMiddleware:
    """Override `__call__`; call `await self.dispatch(connection=connection)` and return the connection."""

    def __init__(self, dispatch: Callable[..., Awaitable[Any]]) -> None:
        self.dispatch = dispatch

    async def __call__(self, connection: GenericWebsocket) -> GenericWebsocket:
        connection = await self.dispatch(connection=connection)
        return connection
