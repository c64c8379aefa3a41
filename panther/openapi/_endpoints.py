"""The one place the OpenAPI generator reads endpoint declarations from (`__panther_endpoint__`).

Everything else in `panther.openapi` works on the plain descriptions built here, so a change in how endpoints
store their options only needs a change in this module.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

HTTP_METHODS = ('POST', 'GET', 'PUT', 'PATCH', 'DELETE')


@dataclass(frozen=True)
class OperationInfo:
    """One HTTP method of an endpoint: the handler that answers it and what it declares."""

    method: str
    handler: Callable[..., Any]
    input_model: Any
    # Path variable name → the type it is converted to (`int`, `UUID`, …); unconverted variables are absent.
    path_types: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EndpointInfo:
    name: str
    kind: str  # 'function', 'class' or 'websocket'
    target: Any
    doc: str | None
    output_model: Any
    output_schema: Any
    auth: Any
    permissions: tuple[Any, ...]
    throttling: Any
    cache: Any
    middlewares: tuple[Any, ...]
    operations: tuple[OperationInfo, ...]


def _path_types(plan: Any) -> dict[str, Any]:
    converters = getattr(plan, 'converters', None) or {}
    return {name: annotation for name, (_, annotation) in converters.items()}


def describe_endpoint(value: Any) -> EndpointInfo | None:
    """What a routed value declares, or None when it is not a Panther endpoint (a reserved path, …)."""
    if not (inspect.isfunction(value) or inspect.isclass(value)):
        return None
    endpoint = getattr(value, '__panther_endpoint__', None)
    if endpoint is None:
        return None
    options = endpoint.options
    kind = getattr(endpoint, 'kind', 'function')
    operations: list[OperationInfo] = []
    if kind == 'function':
        doc = inspect.getdoc(endpoint.func)
        for method in HTTP_METHODS:
            if method in endpoint.methods:
                operations.append(OperationInfo(method, endpoint.func, options.input_model, _path_types(endpoint.plan)))
    elif kind == 'class':
        doc = inspect.getdoc(endpoint.cls) if endpoint.cls.__doc__ else None
        for method in HTTP_METHODS:
            if method in endpoint.methods:
                method_options = endpoint._options_for(method)
                handler = getattr(endpoint.cls, method.lower())
                path_types = _path_types(endpoint.plans[method])
                operations.append(OperationInfo(method, handler, method_options.input_model, path_types))
    else:
        doc = inspect.getdoc(endpoint.cls) if endpoint.cls.__doc__ else None
        operations.append(OperationInfo('GET', endpoint.cls.connect, None, _path_types(endpoint.plan)))
    return EndpointInfo(
        name=value.__name__,
        kind=kind,
        target=value,
        doc=doc,
        output_model=getattr(options, 'output_model', None),
        output_schema=getattr(options, 'output_schema', None),
        auth=options.auth,
        permissions=tuple(options.permissions or ()),
        throttling=getattr(options, 'throttling', None),
        cache=getattr(options, 'cache', None),
        middlewares=tuple(getattr(options, 'middlewares', None) or ()),
        operations=tuple(operations),
    )
