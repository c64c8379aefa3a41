"""The compiled route matcher: one dict lookup for static routes, a backtracking tree for variables.

Each route has one canonical spelling, `/segment/segment/` (the trailing slash is optional, as in Panther
5.x). Other spellings of the same route — empty segments (`///auth/login/`, `/auth//login/`) and dot segments
(`/./auth/login/`, `/auth/../auth/login/`) — match nothing (404), so nothing keyed by route (throttle
buckets, cache entries) can be split by spelling a path differently. Percent-escapes are decoded by the
ASGI server before routing (`scope['path']`), so `/auth/%6Cogin/` is `/auth/login/`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class _Node:
    __slots__ = ('endpoint', 'literals', 'variables')

    def __init__(self, endpoint: Any = None) -> None:
        self.endpoint = endpoint
        self.literals: dict[str, _Node] = {}
        self.variables: list[tuple[str, str, _Node]] = []


def is_non_canonical(path: str) -> bool:
    """Whether `path` has an empty (`//`) or a dot (`.`, `..`) segment; such spellings never match a route."""
    if '//' in path:
        return True
    if '/.' in path or path.startswith('.'):
        return any(segment in ('.', '..') for segment in path.split('/'))
    return False


def _is_endpoint(value: Any) -> bool:
    return value is not None and not isinstance(value, dict)


# A reserved path (`{}` in the routing dict) answers 404 and must not fall through to a variable sibling.
RESERVED: Any = object()


class Router:
    """Matches request paths against a finalized routing tree (`config.URLS`).

    `wrap(endpoint, pattern)` turns each endpoint into the value the router returns (the app stores compiled
    handlers); `pattern` is the route it is mounted at, e.g. `'notes/<note_id>'` (`''` for the root).
    """

    def __init__(self, tree: dict[str, Any], wrap: Callable[[Any, str], Any] | None = None) -> None:
        self._wrap = wrap or (lambda endpoint, pattern: endpoint)
        self.root = self._build(tree, [])
        self.static: dict[str, tuple[Any, str]] = {}
        self.raw_static: dict[str, Any] = {}
        self._collect_static(self.root, [])
        # `literal/<variable>` is the most common dynamic shape (`/items/42`). For two-segment paths the
        # literal-first search result is fully determined by the first segment, so it is precomputed.
        self.pairs: dict[str, tuple[Any, str]] = {}
        for literal, child in self.root.literals.items():
            for _, name, grandchild in child.variables:
                if grandchild.endpoint is not None and grandchild.endpoint is not RESERVED:
                    self.pairs[literal] = (grandchild.endpoint, name)
                    break

    def _build(self, tree: dict[str, Any], parts: list[str]) -> _Node:
        node = _Node()
        for key, value in tree.items():
            if key == '':
                if _is_endpoint(value):
                    node.endpoint = self._wrap(value, '/'.join(parts))
                continue
            if value == {}:
                child = _Node(RESERVED)
            elif isinstance(value, dict):
                child = self._build(value, [*parts, key])
            else:
                child = _Node(self._wrap(value, '/'.join([*parts, key])))
            if key.startswith('<'):
                node.variables.append((key, key.strip('<> '), child))
            else:
                node.literals[key] = child
        return node

    def _collect_static(self, node: _Node, parts: list[str]) -> None:
        if node.endpoint is not None:
            path = '/'.join(parts)
            self.static[path] = (node.endpoint, path)
            # Also keyed by the usual raw spellings so most requests skip `strip()`.
            self.raw_static[f'/{path}'] = node.endpoint
            if path:
                self.raw_static[f'/{path}/'] = node.endpoint
        for key, child in node.literals.items():
            self._collect_static(child, [*parts, key])

    def resolve(self, path: str) -> tuple[Any, dict[str, str] | None]:
        """`(value, path_variables)`; value is None when nothing matches.

        Literal segments are tried before variables. The first candidate path is walked without recursion;
        only when it dead-ends does the backtracking search run.
        """
        endpoint = self.raw_static.get(path)
        if endpoint is not None:
            return (None if endpoint is RESERVED else endpoint), None
        return self.resolve_dynamic(path)

    def resolve_dynamic(self, path: str) -> tuple[Any, dict[str, str] | None]:
        """`resolve()` for a path already known not to be a static route in its raw spelling."""
        if ('//' in path or '/.' in path) and is_non_canonical(path):
            return None, None
        raw_parts = path.split('/')
        if len(raw_parts) == 3 and not raw_parts[0] and raw_parts[2]:
            # `/literal/value`: static routes already missed above, so the precomputed pair decides.
            pair = self.pairs.get(raw_parts[1])
            if pair is not None:
                return pair[0], {pair[1]: raw_parts[2]}
        path = path.strip('/')
        hit = self.static.get(path)
        if hit is not None:
            return (None if hit[0] is RESERVED else hit[0]), None
        if not path:
            return None, None
        parts = path.split('/')
        if len(parts) == 2 and parts[1]:
            pair = self.pairs.get(parts[0])
            if pair is not None:
                return pair[0], {pair[1]: parts[1]}
        node = self.root
        variables: dict[str, str] = {}
        for part in parts:
            child = node.literals.get(part)
            if child is None:
                if not node.variables or not part:
                    break
                _, name, child = node.variables[0]
                variables[name] = part
            node = child
        else:
            if node.endpoint is not None:
                return (None if node.endpoint is RESERVED else node.endpoint), variables
        value, found_variables, _ = self.match_with_variables(parts)
        return (None if value is RESERVED else value), found_variables

    def match_with_variables(self, parts: list[str]) -> tuple[Any, dict[str, str] | None, str]:
        found: list[str] = []
        variables: dict[str, str] = {}
        value = self._search(self.root, parts, 0, found, variables)
        if value is None:
            return None, None, ''
        return value, variables, '/'.join(found)

    def match(self, path: str) -> tuple[Any, str]:
        """`(value, found_path)` where found_path names the route's segments (`'user/<id>'`)."""
        if is_non_canonical(path):
            return None, ''
        path = path.strip('/')
        hit = self.static.get(path)
        if hit is not None:
            return hit if hit[0] is not RESERVED else (None, '')
        if not path:
            return None, ''
        value, _, found_path = self.match_with_variables(path.split('/'))
        return (value, found_path) if value is not RESERVED else (None, '')

    def _search(self, node: _Node, parts: list[str], index: int, found: list[str], variables: dict[str, str]) -> Any:
        if index == len(parts):
            return node.endpoint
        part = parts[index]
        child = node.literals.get(part)
        if child is not None:
            found.append(part)
            result = self._search(child, parts, index + 1, found, variables)
            if result is not None:
                return result
            found.pop()
        if part:
            for key, name, child in node.variables:
                found.append(key)
                variables[name] = part
                result = self._search(child, parts, index + 1, found, variables)
                if result is not None:
                    return result
                del variables[name]
                found.pop()
        return None
