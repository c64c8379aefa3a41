"""Process-wide state outside `config`, put back to a clean start by `config.refresh()`.

Everything a process accumulates while apps run is listed here in one place: open connections, the Store
(cache entries, throttle counters, revoked tokens), verified-token memory, start-up/shutdown hooks, open
WebSockets with their groups and the channel listener, compiled-router caches. Only modules that are already
imported are touched (`sys.modules`), so refreshing never imports the framework and layering stays one-way.
"""

from __future__ import annotations

import contextlib
import sys
from types import ModuleType
from typing import Any


def _loaded(name: str) -> ModuleType | None:
    return sys.modules.get(name)


def release_connections(database: Any) -> None:
    """Close the database and Redis connections (before `config` forgets the database)."""
    if (connections := _loaded('panther.db.connections.database')) is not None:
        connections.release_database(database)
    if (redis := _loaded('panther.db.connections.redis')) is not None:
        redis.detach_redis()


def reset_state() -> None:
    """Forget what the process accumulated (after `config` has its defaults back)."""
    if (store := _loaded('panther._internal.store')) is not None:
        store.reset_memory_store()
    if (caching := _loaded('panther.caching')) is not None:
        caching.clear_near_cache()
    if (authentications := _loaded('panther.authentications')) is not None:
        authentications._verified_tokens.clear()
    if (throttling := _loaded('panther.throttling')) is not None:
        throttling._parsed_proxies.clear()
        throttling._is_trusted.cache_clear()
    if (events := _loaded('panther.events')) is not None:
        events.Event.clear()
    if (base_websocket := _loaded('panther.base_websocket')) is not None:
        base_websocket.WebsocketConnections.local().connections.clear()
    if (ws_groups := _loaded('panther._internal.ws_groups')) is not None:
        ws_groups.groups.local.clear()
        ws_groups.groups.by_connection.clear()
    if (websocket_flow := _loaded('panther._internal.websocket_flow')) is not None:
        _cancel_tasks(websocket_flow._listener)
    if (routings := _loaded('panther.routings')) is not None:
        routings._router_cache.update(urls=None, version=-1, router=None)


def _cancel_tasks(tasks: dict[str, Any]) -> None:
    """Cancel and forget the background tasks kept in `tasks` (the WebSocket channel listener and its heartbeat)."""
    for name, task in list(tasks.items()):
        tasks[name] = None
        if task is not None:
            # A task of a loop that is already closed cannot be cancelled (and no longer runs).
            with contextlib.suppress(RuntimeError):
                task.cancel()
