"""The ASGI application."""

from __future__ import annotations

import logging
import sys
import traceback
import weakref
from pathlib import Path
from typing import Any

from panther._internal import state
from panther._internal.endpoint import DirectCall, finish_result
from panther._internal.errors import catch_errors, error_to_response
from panther._internal.routing import Router
from panther._internal.types import Receive, Scope, Send
from panther.caching import REMOTE, memory_hit
from panther.configs import config
from panther.exceptions import InvalidPathVariableAPIError, NotFoundAPIError, PantherError, UpgradeRequiredError
from panther.request import DEFAULT_MAX_BODY_SIZE, ClientDisconnected, Request
from panther.response import PLAIN_TYPES, Response, render_json
from panther.routings import serving_routes

__all__ = ['Panther']

logger = logging.getLogger('panther')

_NO_BODY_METHODS = frozenset({'GET', 'HEAD', 'OPTIONS'})
_JSON_CONTENT_TYPE = (b'Content-Type', b'application/json')


def _json_messages(status: int, data: Any, *, head: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """The two ASGI messages of a JSON response with default headers."""
    body = b'' if data is None else (data if type(data) is bytes else render_json(data))
    return (
        {
            'type': 'http.response.start',
            'status': status,
            'headers': [(b'Content-Length', str(len(body)).encode()), _JSON_CONTENT_TYPE],
        },
        {'type': 'http.response.body', 'body': b'' if head else body, 'more_body': False},
    )


# Apps built in this process. `config` is process-wide, so a second `Panther()` replaces the routing table there;
# each app remembers the table it loaded and keeps serving it while `config` holds another app's table.
_apps: weakref.WeakSet[Panther] = weakref.WeakSet()


def _loaded_by_another_app(app: Panther) -> bool:
    """Whether `config.URLS` is the table another app loaded (not one set by hand or by `config.refresh()`)."""
    urls = config.URLS
    return urls is not app._urls and any(other._urls is urls for other in _apps)


class _HooksFailed(PantherError):
    """Start-up hooks failed (each one already logged its error)."""


class _Route:
    """A routed endpoint with its compiled handler (None for WebSocket endpoints)."""

    __slots__ = ('cache_duration', 'direct', 'endpoint', 'handler', 'pattern')

    def __init__(self, endpoint: Any, pattern: str = '') -> None:
        self.endpoint = endpoint
        self.pattern = pattern
        compiled = getattr(endpoint, '__panther_endpoint__', None)
        self.handler = compiled.handler() if compiled is not None and compiled.kind != 'websocket' else None
        self.direct: DirectCall | None = getattr(self.handler, 'direct', None)
        self.cache_duration: Any = getattr(self.handler, 'cache_duration', None)


_RESERVED_ROUTE = _Route(None)


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
        self._router: Router | None = None
        self._static: dict[str, _Route] = {}
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
        self._urls: dict[str, Any] = config.URLS
        _apps.add(self)
        self._refresh()

    def _refresh(self) -> None:
        """Pick up configuration that the hot path reads (re-run only when such keys change)."""
        if _loaded_by_another_app(self):
            # Keep serving this app's routes and middlewares; only mark the configuration as seen.
            self._version = state.config_version
            return
        self._max_body_size = config.MAX_BODY_SIZE or DEFAULT_MAX_BODY_SIZE
        self._middlewares = list(config.HTTP_MIDDLEWARES)
        self._router = Router(config.URLS, wrap=_Route)
        # Reserved paths stay in the table (their "route" has no handler, so they go to `dispatch` and 404):
        # otherwise the dynamic lookup below could match them against a variable sibling.
        self._static = {
            path: route if isinstance(route, _Route) else _RESERVED_ROUTE
            for path, route in self._router.raw_static.items()
        }
        self._version = state.config_version

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope['type'] == 'http':
            # The HTTP path is written out here (not delegated) because it runs for every request.
            if self._version != state.config_version:
                self._refresh()
            request = Request(scope, receive, send)
            if self._max_body_size != DEFAULT_MAX_BODY_SIZE:
                request.max_body_size = self._max_body_size
            try:
                if self._middlewares:
                    response = await self._run_middlewares(request)
                else:
                    # Static routes are one dict lookup; anything else goes through the router.
                    route = self._static.get(scope['path'])
                    if route is None:
                        route, variables = self._router.resolve_dynamic(scope['path'])  # type: ignore[union-attr]
                    else:
                        variables = None
                    if route is None or route.handler is None:
                        response = await self.dispatch(request=request)
                    else:
                        request.path_variables = variables or {}
                        request.route = route.pattern
                        direct = route.direct
                        try:
                            if direct is not None and scope['method'] in direct.methods:
                                # Simplest endpoints (see DirectCall): the handler is called right here.
                                if direct.name is None:
                                    result = await direct.func()
                                else:
                                    raw = variables.get(direct.name) if variables else None
                                    if raw is None:
                                        result = await direct.func()
                                    elif direct.convert is None:
                                        result = await direct.func(raw)
                                    else:
                                        try:
                                            value = direct.convert(raw)
                                        except (ValueError, TypeError):
                                            raise InvalidPathVariableAPIError(raw, direct.annotation) from None
                                        result = await direct.func(value)
                                if type(result) in PLAIN_TYPES:
                                    # Plain data: rendered and sent without building a Response object.
                                    start, body = _json_messages(200, result, head=scope['method'] == 'HEAD')
                                    await send(start)
                                    await send(body)
                                    return
                                response = await finish_result(result)
                            elif route.cache_duration is not None and scope['method'] == 'GET':
                                # Cache-only endpoints: an in-memory hit is answered without the pipeline.
                                hit = memory_hit(request, route.cache_duration)
                                if hit is None or hit is REMOTE:
                                    response = await route.handler(request)
                                else:
                                    response = hit
                            else:
                                response = await route.handler(request)
                        except ClientDisconnected:
                            raise
                        except Exception as exc:
                            response = error_to_response(exc)
            except ClientDisconnected:
                return
            except Exception as exc:
                response = error_to_response(exc)
            if response is None:
                logger.error('You forgot to return `response` on the `Middlewares.__call__()`')
                response = Response(data={'detail': 'Internal Server Error'}, status_code=500)
            head = scope['method'] == 'HEAD'
            try:
                if (
                    type(response) is Response
                    and response._headers is None
                    and response.status_code < 300
                    and response.cookies is None
                    and response.status_code != 204
                ):
                    # Plain JSON response with default headers: sent here to skip a coroutine per request.
                    start, body = _json_messages(response.status_code, response.data, head=head)
                    await send(start)
                    await send(body)
                elif response.wants_scope:
                    await response.send(send, receive, head=head, scope=scope)  # type: ignore[call-arg]
                elif (ready := response.ready_messages()) is not None:
                    # Responses whose messages are already encoded (e.g. cache hits) skip their `send()`.
                    await send({'type': 'http.response.start', 'status': ready[0], 'headers': ready[1]})
                    await send({'type': 'http.response.body', 'body': b'' if head else ready[2], 'more_body': False})
                else:
                    await response.send(send, receive, head=head)
            except Exception as exc:
                await self._send_failed(response, exc, send, receive, head)
        elif scope['type'] == 'websocket':
            from panther._internal.websocket_flow import handle_websocket

            if _loaded_by_another_app(self):
                with serving_routes(self._urls):
                    await handle_websocket(scope, receive, send)
                return
            await handle_websocket(scope, receive, send)
        elif scope['type'] == 'lifespan':
            await self.handle_lifespan(receive, send)

    async def _run_middlewares(self, request: Request) -> Response:
        route, _ = self._router.resolve(request.scope['path'])  # type: ignore[union-attr]
        if route is not None and request.method not in _NO_BODY_METHODS:
            # Middlewares may read `request.data`, so the (size-limited) body is read before them.
            # Unknown paths skip this: their 404 never waits for a body.
            try:
                await request.read_body()
            except ClientDisconnected:
                raise
            except Exception as exc:
                return error_to_response(exc)
        handler: Any = self.dispatch
        for middleware in self._middlewares:
            handler = catch_errors(middleware(dispatch=handler))
        return await handler(request=request)

    async def dispatch(self, request: Request) -> Response:
        """Route the request and run its endpoint; errors become responses here, inside the middlewares."""
        try:
            route, variables = self._router.resolve(request.scope['path'])  # type: ignore[union-attr]
            if route is None:
                raise NotFoundAPIError
            request.path_variables = variables or {}
            request.route = route.pattern
            if route.handler is None:
                raise UpgradeRequiredError
            return await route.handler(request)
        except ClientDisconnected:
            raise
        except Exception as exc:
            return error_to_response(exc)

    @staticmethod
    async def _send_failed(response: Response, exc: Exception, send: Send, receive: Receive, head: bool) -> None:
        """Sending failed (e.g. data that cannot be serialised): answer 500 unless the response already started."""
        if getattr(response, '_started', False):
            logger.error(f'Error while streaming the response: {exc}', exc_info=exc)
            return
        await error_to_response(exc).send(send, receive, head=head)

    # Lifespan

    async def handle_lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message['type'] == 'lifespan.startup':
                try:
                    await self.startup()
                except Exception as exc:
                    if not isinstance(exc, _HooksFailed):
                        # Failing hooks were each logged already; anything else is logged here, once.
                        logger.error(f'Start-up failed: {exc}', exc_info=exc)
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
        from panther._internal.workers import warn_if_workers_share_no_store
        from panther.events import Event

        warn_if_workers_share_no_store()
        failures = await Event.run_startups()
        from panther._internal.websocket_flow import start_listener

        await start_listener()
        if failures:
            raise _HooksFailed('; '.join(failures))
        if config.BACKGROUND_TASKS:
            from panther.background_tasks import _background_tasks

            _background_tasks.start()

    async def shutdown(self) -> None:
        if not self._started:
            return
        self._started = False
        from panther._internal.websocket_flow import stop_listener
        from panther.events import Event

        await stop_listener()
        from panther.background_tasks import _background_tasks

        # Before the shutdown hooks and connection closing: no run may start on a closing database or Redis.
        await _background_tasks.stop()
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
