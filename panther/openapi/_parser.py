"""`EndpointParser`: what an endpoint's source code returns, for endpoints that declare nothing about it.

Only a fallback: the document is built from declared types first. The parser never raises on code it does
not understand; it keeps its defaults (status 200, `{}`).
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from typing import Any

from panther import status

_MISSING = object()


class EndpointParser:
    """Reads the top-level `return` statements of a function endpoint, or of the `http_method` method of a class
    endpoint; the last one it understands wins."""

    def __init__(self, endpoint: Any, http_method: str = 'get') -> None:
        self.endpoint = endpoint
        self.http_method = http_method.lower()
        self.endpoint_name: str = getattr(endpoint, '__name__', type(endpoint).__name__)
        self.status_code: int = status.HTTP_200_OK
        self.response_data: Any = {}
        # Name of the `Response` class the winning `return` builds (`'HTMLResponse'`, …), if it builds one.
        self.response_class: str | None = None
        # A literal `headers={'Content-Type': ...}` of that `Response`, which overrides its class's media type.
        self.content_type: str | None = None
        # Every status code the function can answer with: `Response(..., status_code=...)` in any `return` and
        # the status of any `panther.exceptions` error it raises, nested statements included.
        self.status_codes: set[int] = set()
        self._names: dict[str, ast.expr] = {}
        function = self._function()
        if function is not None:
            self._read(function)
            self._collect_status_codes(function)

    def _function(self) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
        try:
            source = textwrap.dedent(inspect.getsource(self.endpoint))
            tree = ast.parse(source)
        except (OSError, TypeError, SyntaxError, IndentationError):
            return None
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.endpoint_name = node.name
                return node
            if isinstance(node, ast.ClassDef):
                self.endpoint_name = node.name
                for item in node.body:
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name == self.http_method:
                        return item
                return None
        return None

    def _read(self, function: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for statement in function.body:
            if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
                target = statement.targets[0]
                if isinstance(target, ast.Name):
                    self._names[target.id] = statement.value
            elif isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name) and statement.value:
                self._names[statement.target.id] = statement.value
            elif isinstance(statement, ast.Return) and statement.value is not None:
                self._read_return(statement.value)

    def _collect_status_codes(self, function: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        from panther import exceptions

        for node in ast.walk(function):
            if isinstance(node, ast.Return) and node.value is not None:
                value = self._lookup(node.value)
                if isinstance(value, ast.Call) and _call_name(value).endswith('Response'):
                    keywords = {keyword.arg: keyword.value for keyword in value.keywords if keyword.arg}
                    code_node = keywords.get('status_code', value.args[1] if len(value.args) > 1 else None)
                    self.status_codes.add(self._status(code_node) if code_node is not None else status.HTTP_200_OK)
                else:
                    self.status_codes.add(status.HTTP_200_OK)
            elif isinstance(node, ast.Raise) and node.exc is not None:
                raised = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                name = raised.id if isinstance(raised, ast.Name) else getattr(raised, 'attr', '')
                error = getattr(exceptions, name, None)
                code = getattr(error, 'status_code', None)
                if isinstance(error, type) and issubclass(error, exceptions.APIError) and isinstance(code, int):
                    self.status_codes.add(code)

    def _lookup(self, node: ast.expr) -> ast.expr:
        seen = 0
        while isinstance(node, ast.Name) and node.id in self._names and seen < 10:
            node = self._names[node.id]
            seen += 1
        return node

    def _read_return(self, node: ast.expr) -> None:
        node = self._lookup(node)
        if isinstance(node, ast.Call):
            name = _call_name(node)
            if name.endswith('Response'):
                self.response_class = name
                self._read_response(node)
            else:
                self.response_class = None
                self.status_code = status.HTTP_200_OK
                self.response_data = {
                    keyword.arg: _literal(keyword.value) for keyword in node.keywords if keyword.arg is not None
                }
            return
        value = self._value(node)
        if value is not _MISSING:
            self.response_class = None
            self.status_code = status.HTTP_200_OK
            self.response_data = value

    def _read_response(self, call: ast.Call) -> None:
        keywords = {keyword.arg: keyword.value for keyword in call.keywords if keyword.arg is not None}
        self.content_type = None
        headers = self._lookup(keywords['headers']) if 'headers' in keywords else None
        if isinstance(headers, ast.Dict):
            for key, value in zip(headers.keys, headers.values, strict=False):
                if isinstance(key, ast.Constant) and str(key.value).lower() == 'content-type':
                    if isinstance(value, ast.Constant) and isinstance(value.value, str):
                        self.content_type = value.value
        data_node = keywords.get('data', call.args[0] if call.args else None)
        status_node = keywords.get('status_code', call.args[1] if len(call.args) > 1 else None)
        data = self._value(self._lookup(data_node)) if data_node is not None else {}
        self.response_data = {} if data is _MISSING or data is None else data
        code = self._status(status_node) if status_node is not None else status.HTTP_200_OK
        self.status_code = code

    def _status(self, node: ast.expr) -> int:
        node = self._lookup(node)
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.Attribute):
            value = getattr(status, node.attr, None)
            if isinstance(value, int):
                return value
        return status.HTTP_200_OK

    def _value(self, node: ast.expr) -> Any:
        if isinstance(node, ast.Dict):
            return {
                _literal(key): _literal(self._lookup(value))
                for key, value in zip(node.keys, node.values, strict=False)
                if key is not None
            }
        if isinstance(node, (ast.List, ast.Tuple)):
            return [_literal(item) for item in node.elts]
        if isinstance(node, ast.Constant):
            return node.value
        return _MISSING


def _call_name(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ''


def _literal(node: ast.expr) -> Any:
    """Constants, and lists / dicts of them; anything computed at run time is None."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_literal(item) for item in node.elts]
    if isinstance(node, ast.Dict):
        return {_literal(k): _literal(v) for k, v in zip(node.keys, node.values, strict=False) if k is not None}
    return None
