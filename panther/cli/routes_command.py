"""`panther routes <app file | module:app>`: every route of an app with what its endpoint declares."""

from __future__ import annotations

import dataclasses
import inspect
from datetime import timedelta
from typing import Any

from rich.table import Table
from rich.text import Text

from panther.cli._app import import_app_target
from panther.cli._output import cli_error, stdout_console

__all__ = ['Route', 'collect_routes', 'routes']

# The order methods are listed in, whatever order an endpoint declared them.
_METHOD_ORDER = ('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS')
_NONE = '-'


@dataclasses.dataclass(frozen=True)
class Route:
    path: str
    methods: str
    endpoint: str
    auth: str
    permissions: str
    throttle: str
    cache: str


def _name(value: Any) -> str:
    if value is None:
        return _NONE
    target = value if inspect.isclass(value) or inspect.isfunction(value) else type(value)
    return getattr(target, '__qualname__', None) or repr(value)


def _duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (('d', 86400), ('h', 3600), ('min', 60)):
        if seconds >= size and seconds % size == 0:
            return f'{seconds // size} {unit}'
    return f'{value.total_seconds():g} s'


def _throttle(value: Any) -> str:
    if value is None:
        return _NONE
    rate, duration = getattr(value, 'rate', None), getattr(value, 'duration', None)
    if isinstance(rate, int) and isinstance(duration, timedelta):
        return f'{rate} per {_duration(duration)}'
    return _name(value)


def _default(value: Any) -> str:
    # Settings-wide values apply to every endpoint that sets none of its own.
    return f'{_name(value)} (default)'


def _describe(path: str, value: Any) -> Route | None:
    from panther.configs import config

    endpoint = getattr(value, '__panther_endpoint__', None)
    if endpoint is None:
        return None
    options = endpoint.options
    websocket = getattr(endpoint, 'kind', None) == 'websocket'
    if websocket:
        methods = 'WS'
        default_auth = config.WS_AUTHENTICATION
        # Websockets limit new connections (`connect_throttling`), not requests.
        throttle = _throttle(getattr(value, 'connect_throttling', None))
    else:
        declared = endpoint.methods
        methods = ', '.join(method for method in _METHOD_ORDER if method in declared)
        default_auth = config.AUTHENTICATION
        if options.throttling is not None:
            throttle = _throttle(options.throttling)
        elif config.THROTTLING is not None:
            throttle = f'{_throttle(config.THROTTLING)} (default)'
        else:
            throttle = _NONE
    if options.auth is not None:
        auth = _name(options.auth)
    elif default_auth is not None:
        auth = _default(default_auth)
    else:
        auth = _NONE
    permissions = ', '.join(_name(permission) for permission in options.permissions or ()) or _NONE
    cache = _NONE if websocket or options.cache is None else _duration(options.cache)
    return Route(
        path=f'/{path}',
        methods=methods,
        endpoint=f'{value.__module__}.{value.__qualname__}',
        auth=auth,
        permissions=permissions,
        throttle=throttle,
        cache=cache,
    )


def collect_routes() -> list[Route]:
    """The routes of the loaded app (`config.FLAT_URLS`), in routing-table order."""
    from panther.configs import config

    found = (_describe(path, value) for path, value in config.FLAT_URLS.items())
    return [route for route in found if route is not None]


def routes(args: list[str]) -> int:
    if not args:
        cli_error('The "routes" command needs the app, e.g. "panther routes main.py" or "panther routes main:app".')
    if len(args) > 1:
        cli_error('Too Many Arguments.')
    import_app_target(args[0], 'routes')
    found = collect_routes()
    console = stdout_console()
    if not found:
        console.print(Text('The app has no routes (is `URLs` set in its configs?).'))
        return 0
    table = Table('Path', 'Methods', 'Endpoint', 'Auth', 'Permissions', 'Throttle', 'Cache', title='Routes')
    for route in found:
        # Text cells: paths like /<id>/ and names like [x] must not be read as rich markup.
        table.add_row(*(Text(cell) for cell in dataclasses.astuple(route)))
    console.print(table)
    if any(route.methods == 'WS' for route in found):
        console.print(Text('WS: a websocket route.'))
    return 0
