"""The compiled route matcher: one dict lookup for static routes, a backtracking tree for variables."""

from __future__ import annotations

from typing import Any


class _Node:
    __slots__ = ('endpoint', 'literals', 'variables')

    def __init__(self, endpoint: Any = None) -> None:
        self.endpoint = endpoint
        self.literals: dict[str, _Node] = {}
        self.variables: list[tuple[str, _Node]] = []


def _is_endpoint(value: Any) -> bool:
    return value is not None and not isinstance(value, dict)


def _build(tree: dict[str, Any]) -> _Node:
    node = _Node()
    for key, value in tree.items():
        if key == '':
            if _is_endpoint(value):
                node.endpoint = value
            continue
        child = _build(value) if isinstance(value, dict) else _Node(value)
        if key.startswith('<'):
            node.variables.append((key, child))
        else:
            node.literals[key] = child
    return node


class Router:
    """Matches request paths against a finalized routing tree (`config.URLS`)."""

    def __init__(self, tree: dict[str, Any]) -> None:
        self.root = _build(tree)
        self.static: dict[str, tuple[Any, str]] = {}
        self._collect_static(self.root, [])

    def _collect_static(self, node: _Node, parts: list[str]) -> None:
        if node.endpoint is not None:
            path = '/'.join(parts)
            self.static[path] = (node.endpoint, path)
        for key, child in node.literals.items():
            self._collect_static(child, [*parts, key])

    def match(self, path: str) -> tuple[Any, str]:
        """Return `(endpoint, found_path)` or `(None, '')`. Literal segments are tried before variables."""
        path = path.strip('/')
        hit = self.static.get(path)
        if hit is not None:
            return hit
        if not path:
            return None, ''
        parts = path.split('/')
        found: list[str] = []
        endpoint = self._search(self.root, parts, 0, found)
        if endpoint is None:
            return None, ''
        return endpoint, '/'.join(found)

    def _search(self, node: _Node, parts: list[str], index: int, found: list[str]) -> Any:
        if index == len(parts):
            return node.endpoint
        part = parts[index]
        child = node.literals.get(part)
        if child is not None:
            found.append(part)
            result = self._search(child, parts, index + 1, found)
            if result is not None:
                return result
            found.pop()
        if part:
            for key, child in node.variables:
                found.append(key)
                result = self._search(child, parts, index + 1, found)
                if result is not None:
                    return result
                found.pop()
        return None
