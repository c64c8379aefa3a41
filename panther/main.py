"""The ASGI application."""

from __future__ import annotations

import logging
import sys
import traceback
import weakref
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from panther._internal import state
from panther._internal.pipeline import HTTPEntry
from panther._internal.types import Receive, Scope, Send
from panther.configs import config
from panther.exceptions import PantherError
from panther.routings import serving_routes

__all__ = ['Panther']

logger = logging.getLogger('panther')


# Apps built in this process. `config` is process-wide, so a second `Panther()` replaces the routing table there;
# each app remembers the table it loaded and keeps serving it while `config` holds another app's table.
_apps: weakref.WeakSet[Panther] = weakref.WeakSet()


def _loaded_by_another_app(app: Panther) -> bool:
    """Whether `config.URLS` is the table another app loaded (not one set by hand or by `config.refresh()`)."""
    urls = config.URLS
    return urls is not app._urls and any(other._urls is urls for other in _apps)


# The WebSocket machinery is imported on the first connection (HTTP-only apps never load it), then kept here: an
# import statement costs about a microsecond per connection even when the module is loaded.
_websocket_handler: Callable[[Scope, Receive, Send], Awaitable[None]] | None = None


def _load_websocket_handler() -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    global _websocket_handler
    from panther._internal.websocket_flow import handle_websocket

    _websocket_handler = handle_websocket
    return handle_websocket


class _HooksFailed(PantherError):
    """Start-up hooks failed (each one already logged its error)."""


class Panther(HTTPEntry):
    """`Panther(__name__, configs=__name__, urls={...})` — the ASGI application.

    The constructor loads the configuration; on a configuration error it logs one ERROR and exits with
    status 1. The request path (`__call__`: route lookup, middlewares, endpoint pipelines) is inherited from
    `panther._internal.pipeline.HTTPEntry`.
    """

    def __init__(self, name: str, configs: str | None = None, urls: dict[str, Any] | None = None) -> None:
        from panther.logging import configure_logging

        configure_logging()
        self._started = False
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
        self.rebuild()

    def rebuild(self) -> None:
        if _loaded_by_another_app(self):
            # Keep serving this app's routes and middlewares; only mark the configuration as seen.
            self.version = state.config_version
            return
        super().rebuild()

    async def handle_websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        handle_websocket = _websocket_handler or _load_websocket_handler()
        if _loaded_by_another_app(self):
            with serving_routes(self._urls):
                await handle_websocket(scope, receive, send)
            return
        await handle_websocket(scope, receive, send)

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
        from panther._internal.services import log_services
        from panther._internal.workers import warn_if_workers_share_no_store
        from panther.events import Event

        log_services()
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
