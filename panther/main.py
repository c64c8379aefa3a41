"""The ASGI application."""

from __future__ import annotations

import logging
import sys
import traceback
from pathlib import Path
from typing import Any

from panther._internal import state
from panther._internal.errors import error_to_response
from panther._internal.types import Receive, Scope, Send
from panther.configs import config
from panther.exceptions import NotFoundAPIError, PantherError, UpgradeRequiredError
from panther.request import DEFAULT_MAX_BODY_SIZE, ClientDisconnected, Request
from panther.response import Response
from panther.routings import get_router

__all__ = ['Panther']

logger = logging.getLogger('panther')

_NO_BODY_METHODS = frozenset({'GET', 'HEAD', 'OPTIONS'})


class Panther:
    """`Panther(__name__, configs=__name__, urls={...})` — the ASGI application.

    The constructor loads the configuration; on a configuration error it logs one ERROR and exits with
    status 1.
    """

    def __init__(self, name: str, configs: str | None = None, urls: dict[str, Any] | None = None) -> None:
        from panther.logging import configure_logging

        configure_logging()
        self._started = False
        self._version = -1
        self._max_body_size = DEFAULT_MAX_BODY_SIZE
        self._middlewares: list[Any] = []
        config.BASE_DIR = Path(name).resolve().parent
        try:
            from panther._internal import config_loader

            config_loader.load(configs=configs, urls=urls)
        except PantherError as exc:
            logger.error(exc.args[0] if exc.args else str(exc))
            sys.exit(1)
        except Exception:
            logger.error(traceback.format_exc())
            sys.exit(1)
        self._refresh()

    def _refresh(self) -> None:
        """Pick up configuration that the hot path reads (re-run only when such keys change)."""
        self._max_body_size = config.MAX_BODY_SIZE or DEFAULT_MAX_BODY_SIZE
        self._middlewares = list(config.HTTP_MIDDLEWARES)
        self._version = state.config_version

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope_type = scope['type']
        if scope_type == 'http':
            await self.handle_http(scope, receive, send)
        elif scope_type == 'websocket':
            from panther._internal.websocket_flow import handle_websocket

            await handle_websocket(scope, receive, send)
        elif scope_type == 'lifespan':
            await self.handle_lifespan(receive, send)

    # HTTP

    async def handle_http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._version != state.config_version:
            self._refresh()
        request = Request(scope, receive, send)
        request.max_body_size = self._max_body_size
        try:
            if self._middlewares:
                response = await self._run_middlewares(request)
            else:
                response = await self.dispatch(request=request)
        except ClientDisconnected:
            return
        except Exception as exc:
            response = error_to_response(exc)
        if response is None:
            logger.error('You forgot to return `response` on the `Middlewares.__call__()`')
            response = Response(data={'detail': 'Internal Server Error'}, status_code=500)
        await self._send(response, scope, send, receive)

    async def _run_middlewares(self, request: Request) -> Response:
        if request.method not in _NO_BODY_METHODS:
            # Middlewares may read `request.data`, so the (size-limited) body is read before them.
            try:
                await request.read_body()
            except ClientDisconnected:
                raise
            except Exception as exc:
                return error_to_response(exc)
        handler: Any = self.dispatch
        for middleware in self._middlewares:
            handler = middleware(dispatch=handler)
        return await handler(request=request)

    async def dispatch(self, request: Request) -> Response:
        """Route the request and run its endpoint; errors become responses here, inside the middlewares."""
        try:
            endpoint, found_path = get_router().match(request.path)
            if endpoint is None:
                raise NotFoundAPIError
            compiled = endpoint.__panther_endpoint__
            if '<' in found_path:
                request.collect_path_variables(found_path)
            else:
                request.path_variables = {}
            if compiled.kind == 'websocket':
                raise UpgradeRequiredError
            return await compiled.handler()(request)
        except ClientDisconnected:
            raise
        except Exception as exc:
            return error_to_response(exc)

    @staticmethod
    async def _send(response: Response, scope: Scope, send: Send, receive: Receive) -> None:
        head = scope['method'] == 'HEAD'
        try:
            await response.send(send, receive, head=head)
        except Exception as exc:
            if getattr(response, '_started', False):
                logger.error(f'Error while streaming the response: {exc}', exc_info=exc)
                return
            fallback = error_to_response(exc)
            await fallback.send(send, receive, head=head)

    # Lifespan

    async def handle_lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message['type'] == 'lifespan.startup':
                try:
                    await self.startup()
                except Exception as exc:
                    logger.error(f'Start-up failed: {exc}')
                    await send({'type': 'lifespan.startup.failed', 'message': str(exc)})
                    return
                await send({'type': 'lifespan.startup.complete'})
            elif message['type'] == 'lifespan.shutdown':
                try:
                    await self.shutdown()
                except Exception as exc:
                    logger.error(f'Shutdown failed: {exc}')
                    await send({'type': 'lifespan.shutdown.failed', 'message': str(exc)})
                    return
                await send({'type': 'lifespan.shutdown.complete'})
                return

    async def startup(self) -> None:
        """Run start-up hooks once; raises when any of them failed (each failure is logged)."""
        if self._started:
            return
        self._started = True
        from panther.events import Event

        failures = await Event.run_startups()
        from panther._internal.websocket_flow import start_listener

        await start_listener()
        if failures:
            raise PantherError('; '.join(failures))

    async def shutdown(self) -> None:
        if not self._started:
            return
        self._started = False
        from panther._internal.websocket_flow import stop_listener
        from panther.events import Event

        await stop_listener()
        await Event.arun_shutdowns()
        database = config.DATABASE
        close = getattr(database, 'close', None)
        if close is not None:
            result = close()
            if hasattr(result, '__await__'):
                await result
        try:
            from panther.db.connections.redis import close_redis
        except ImportError:
            return
        await close_redis()
