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


# A parameter named `request` with one of these annotations receives the request too.
_UNTYPED = (inspect.Parameter.empty, Any, object, 'Any', 'typing.Any', 'object')

_BUILTIN_NAMES = {'int': int, 'float': float, 'bool': bool, 'str': str, 'UUID': UUID, 'Decimal': Decimal}


def _resolve(annotation: Any, func: Callable[..., Any]) -> Any:
    """Resolve one string annotation (PEP 563) as far as the function's module allows."""
    if not isinstance(annotation, str):
        return annotation
    try:
        return eval(annotation, getattr(func, '__globals__', {}), dict(_BUILTIN_NAMES))
    except Exception:
        return annotation


def _is_request_type(annotation: Any) -> bool:
    if isinstance(annotation, str):
        # Imported under TYPE_CHECKING or inside a function: recognise the framework's own names.
        return annotation.rsplit('.', 1)[-1] in ('Request', 'BaseRequest', 'Websocket', 'GenericWebsocket')
    return inspect.isclass(annotation) and issubclass(annotation, BaseRequest)


class InjectionPlan:
    """How to call one handler. `skip_first` drops `self` for class handlers."""

    __slots__ = ('accepts_kwargs', 'build', 'converters', 'params', 'request_params', 'simple', 'single_positional')

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
            annotation = _unwrap_optional(_resolve(hints.get(param.name, param.annotation), func))
            if _is_request_type(annotation) or (param.name == 'request' and annotation in _UNTYPED):
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
        # `async def get_item(item_id: int)`: the one path variable can be passed positionally.
        self.single_positional: tuple[str, Any, Any] | None = None
        if len(params) == 1 and not request_params and not accepts_kwargs and parameters:
            first = parameters[0]
            if first.name in params and first.kind in (first.POSITIONAL_ONLY, first.POSITIONAL_OR_KEYWORD):
                convert, annotation = converters.get(first.name, (None, None))
                self.single_positional = (first.name, convert, annotation)
        self.build = self._specialise()

    def _specialise(self) -> Callable[[BaseRequest], dict[str, Any]]:
        """A builder for this handler's shape: the common shapes avoid the general loop."""
        request_names = self.request_params
        if self.simple:
            if not request_names:
                return lambda request: {}
            if len(request_names) == 1:
                only = request_names[0]
                return lambda request: {only: request}
        if not self.accepts_kwargs and len(self.params) == 1 and len(request_names) <= 1:
            (name,) = self.params
            request_name = request_names[0] if request_names else None
            converter = self.converters.get(name)

            if request_name is None and converter is not None:
                convert, annotation = converter

                def one_converted_variable(request: BaseRequest) -> dict[str, Any]:
                    variables = request.path_variables
                    raw = variables.get(name) if variables else None
                    if raw is None:
                        return {}
                    try:
                        return {name: convert(raw)}
                    except (ValueError, TypeError):
                        raise InvalidPathVariableAPIError(value=raw, variable_type=annotation) from None

                return one_converted_variable

            def one_variable(request: BaseRequest) -> dict[str, Any]:
                kwargs: dict[str, Any] = {request_name: request} if request_name is not None else {}
                variables = request.path_variables
                if variables:
                    raw = variables.get(name)
                    if raw is not None:
                        if converter is None:
                            kwargs[name] = raw
                        else:
                            try:
                                kwargs[name] = converter[0](raw)
                            except (ValueError, TypeError):
                                raise InvalidPathVariableAPIError(value=raw, variable_type=converter[1]) from None
                return kwargs

            return one_variable
        return self._build_general

    def _build_general(self, request: BaseRequest) -> dict[str, Any]:
        kwargs: dict[str, Any] = dict.fromkeys(self.request_params, request)
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
