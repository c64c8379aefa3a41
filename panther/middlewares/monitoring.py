"""Request monitoring: one INFO line per request / connection on the `monitoring` logger."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from panther.middlewares.base import HTTPMiddleware, WebsocketMiddleware

if TYPE_CHECKING:
    from panther.request import Request
    from panther.response import Response
    from panther.websocket import GenericWebsocket

__all__ = ['MonitoringMiddleware', 'WebsocketMonitoringMiddleware']

logger = logging.getLogger('monitoring')


class MonitoringMiddleware(HTTPMiddleware):
    """Logs `<METHOD> | <path> | <ip:port> | <seconds> | <status>` for every request, errors included."""

    async def __call__(self, request: Request) -> Response:
        start = time.perf_counter()
        response = await self.dispatch(request=request)
        elapsed = time.perf_counter() - start
        logger.info(f'{request.method} | {request.path} | {request.client} | {elapsed} | {response.status_code}')
        return response


class WebsocketMonitoringMiddleware(WebsocketMiddleware):
    """Logs `WS | <path> | <ip:port> | - | <state>` on connect and the duration when the connection ends."""

    ConnectedConnectionTime = ' - '

    async def __call__(self, connection: GenericWebsocket) -> GenericWebsocket:
        start = time.perf_counter()
        logger.info(f'WS | {connection.path} | {connection.client} |{self.ConnectedConnectionTime}| {connection.state}')
        connection = await self.dispatch(connection=connection)
        elapsed = time.perf_counter() - start
        logger.info(f'WS | {connection.path} | {connection.client} | {elapsed} | {connection.state}')
        return connection
