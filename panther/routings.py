"""Nested-dict routing: flattening, the routing tree and endpoint lookup."""

from __future__ import annotations

import contextlib
import re
import types
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import Any

from panther._internal import state
from panther._internal.routing import Router
from panther.configs import config
from panther.exceptions import PantherError

__all__ = ['ENDPOINT_NOT_FOUND', 'check_urls_path_variables', 'finalize_urls', 'find_endpoint', 'flatten_urls']

ENDPOINT_NOT_FOUND: tuple[None, str] = (None, '')

# Letters (any script), digits, `_`, `-`, `.`, `~`, `/` and `<variable>` markers.
_VALID_PATH = re.compile(r'^[\w<>/.~-]+$')


def flatten_urls(urls: Mapping[str, Any]) -> dict[str, Any]:
    """`{'user/': {'<id>/': f}}` → `{'user/<id>/': f}`; `{}` values are kept as reserved paths."""
    result: dict[str, Any] = {}
    _flatten(urls, '', result)
    return result


def _flatten(urls: Mapping[str, Any], prefix: str, result: dict[str, Any]) -> None:
    for key, value in urls.items():
        path = f'{prefix}{key}'
        if path and not path.endswith('/'):
            path = f'{path}/'
        if isinstance(value, dict) and value:
            _flatten(value, path, result)
            continue
        if value is ...:
            raise PantherError(f"URL Can't Point To Ellipsis. ('{path}' -> ...)")
        if value is None:
            raise PantherError(f"URL Can't Point To None. ('{path}' -> None)")
        if isinstance(value, types.ModuleType):
            raise PantherError(f"URL Can't Point To Module. --> '{path}'")
        if path and not _VALID_PATH.match(path):
            raise PantherError(f"URL Is Not Valid. --> '{path}'")
        result[path] = value


def finalize_urls(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Turn flat routes into the nested tree keyed by single segments (`''` holds a node's own endpoint)."""
    tree: dict[str, Any] = {}
    for path, endpoint in flat.items():
        parts = [part for part in path.split('/') if part]
        if not parts:
            if not isinstance(endpoint, dict):
                tree[''] = endpoint
            continue
        node = tree
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                child = node[part] = {'': child}
            node = child
        last = parts[-1]
        existing = node.get(last)
        if isinstance(endpoint, dict):
            # A reservation (`{}`) never replaces a real endpoint or sub-tree.
            if existing is None:
                node[last] = {}
        elif isinstance(existing, dict) and existing:
            existing[''] = endpoint
        else:
            node[last] = endpoint
    check_urls_path_variables(tree)
    return tree


def check_urls_path_variables(tree: Mapping[str, Any], path: str = '') -> None:
    """Two `<variables>` at one level pointing to endpoints (or to sub-trees) would shadow each other."""
    to_dict = [key for key, value in tree.items() if key.startswith('<') and isinstance(value, dict)]
    to_endpoint = [key for key, value in tree.items() if key.startswith('<') and not isinstance(value, dict)]
    if len(to_dict) > 1:
        listing = ''.join(f'\n\t- {path}/{key}' for key in to_dict)
        raise PantherError(f"URLs can't have same-level path variables that point to a dict: {listing}")
    if len(to_endpoint) > 1:
        listing = ''.join(f'\n\t- {path}/{key}' for key in to_endpoint)
        raise PantherError(f"URLs can't have same-level path variables that point to an endpoint: {listing}")
    for key, value in tree.items():
        if isinstance(value, dict) and key:
            check_urls_path_variables(value, f'{path}/{key}')


_router_cache: dict[str, Any] = {'urls': None, 'version': -1, 'router': None}

# The routing table of the app serving the current connection, when it is not `config.URLS` (another `Panther()`
# in the same process loaded its own table after this app's).
_serving_urls: ContextVar[dict[str, Any] | None] = ContextVar('panther_serving_urls', default=None)


@contextlib.contextmanager
def serving_routes(urls: dict[str, Any]) -> Iterator[None]:
    """Make `get_router()` / `find_endpoint()` use `urls` inside this block (and the tasks it starts)."""
    token = _serving_urls.set(urls)
    try:
        yield
    finally:
        _serving_urls.reset(token)


def get_router() -> Router:
    """The router for the current routing table, rebuilt only when routing configuration changes."""
    urls = _serving_urls.get()
    if urls is None:
        urls = config.URLS
    cache = _router_cache
    if cache['urls'] is not urls or cache['version'] != state.config_version:
        cache['router'] = Router(urls)
        cache['urls'] = urls
        cache['version'] = state.config_version
    router: Router = cache['router']
    return router


def find_endpoint(path: str) -> tuple[Any, str]:
    """Resolve a request path to `(endpoint, found_path)`, or `ENDPOINT_NOT_FOUND`."""
    return get_router().match(path.split('?', 1)[0])
