"""Argument injection: which handler parameters get the request and which get converted path variables.

Built once per handler; per request only a dict is filled.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID

from panther.base_request import BaseRequest
from panther.exceptions import InvalidPathVariableAPIError


def _to_bool(value: str) -> bool:
    lowered = value.lower()
    if lowered in ('true', '1'):
        return True
    if lowered in ('false', '0'):
        return False
    raise ValueError(value)


def _to_decimal(value: str) -> Decimal:
    try:
        return Decimal(value)
    except InvalidOperation:
        raise ValueError(value) from None


_CONVERTERS: dict[Any, Callable[[str], Any]] = {
    int: int,
    float: float,
    bool: _to_bool,
    UUID: UUID,
    Decimal: _to_decimal,
}


def _unwrap_optional(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin is typing.Union or (hasattr(types, 'UnionType') and origin is types.UnionType):
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(members) == 1:
            return members[0]
    return annotation


def _is_request_type(annotation: Any) -> bool:
    return inspect.isclass(annotation) and issubclass(annotation, BaseRequest)


class InjectionPlan:
    """How to call one handler. `skip_first` drops `self` for class handlers."""

    __slots__ = ('accepts_kwargs', 'converters', 'params', 'request_params', 'simple')

    def __init__(self, func: Callable[..., Any], *, skip_first: bool = False) -> None:
        try:
            hints = typing.get_type_hints(func)
        except Exception:
            hints = getattr(func, '__annotations__', {})
        parameters = list(inspect.signature(func).parameters.values())
        if skip_first and parameters:
            parameters = parameters[1:]
        request_params: list[str] = []
        converters: dict[str, tuple[Callable[[str], Any], type]] = {}
        params: set[str] = set()
        accepts_kwargs = False
        for param in parameters:
            if param.kind is param.VAR_KEYWORD:
                accepts_kwargs = True
                continue
            if param.kind is param.VAR_POSITIONAL:
                continue
            annotation = _unwrap_optional(hints.get(param.name, param.annotation))
            if _is_request_type(annotation) or (param.name == 'request' and annotation is inspect.Parameter.empty):
                request_params.append(param.name)
                continue
            params.add(param.name)
            converter = _CONVERTERS.get(annotation)
            if converter is not None:
                converters[param.name] = (converter, annotation)
        self.request_params = tuple(request_params)
        self.converters = converters
        self.params = frozenset(params)
        self.accepts_kwargs = accepts_kwargs
        # The common cases (no path variables accepted, no conversions) skip the per-variable loop.
        self.simple = not params and not accepts_kwargs

    def build(self, request: BaseRequest) -> dict[str, Any]:
        kwargs: dict[str, Any] = {name: request for name in self.request_params}
        path_variables = request.path_variables
        if self.simple or not path_variables:
            return kwargs
        for name, raw in path_variables.items():
            if name in self.params:
                converter = self.converters.get(name)
                if converter is None:
                    kwargs[name] = raw
                else:
                    func, annotation = converter
                    try:
                        kwargs[name] = func(raw)
                    except (ValueError, TypeError):
                        raise InvalidPathVariableAPIError(value=raw, variable_type=annotation) from None
            elif self.accepts_kwargs:
                kwargs[name] = raw
        return kwargs
