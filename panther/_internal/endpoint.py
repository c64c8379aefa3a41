"""The frozen endpoint description shared by `@API`, `GenericAPI` and `GenericWebsocket`.

Options are validated when the decorator runs / the class is created. The request path compiled from a
description lives in `panther._internal.pipeline`; `CompiledEndpoint` keeps the compiled result and recompiles
it only when a configuration key it depends on changes.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from panther._internal import state
from panther.exceptions import PantherError

if TYPE_CHECKING:
    from panther._internal.pipeline import Handler

logger = logging.getLogger('panther')

ALL_METHODS = ('GET', 'POST', 'PUT', 'PATCH', 'DELETE')
# What `@API(methods=[...])` may list (HEAD and OPTIONS are answered by the framework unless listed).
ALLOWED_METHODS = (*ALL_METHODS, 'HEAD', 'OPTIONS')


def _fail(message: str) -> PantherError:
    logger.error(message)
    return PantherError(message)


def _validate_callable(value: Any, kind: str, *, require_async: bool = True) -> None:
    """Check an auth/permission value: a function taking `request`, or a class with `__call__(self, request)`."""
    func: Any
    if inspect.isclass(value):
        call = value.__dict__.get('__call__') or getattr(value, '__call__', None)  # noqa: B004
        if not inspect.isfunction(call):
            raise _fail(f'{value.__name__} must implement __call__() method.')
        name, func, arity, label = value.__name__, call, 2, '(self, request)'
        qualified = f'{name}.__call__()'
    elif inspect.isfunction(value) or inspect.ismethod(value):
        # Bound methods hide `self` from their signature, so both take exactly `request`.
        func, arity, label = value, 1, '(request)'
        qualified = f'{value.__name__}()'
    elif callable(value) and inspect.isfunction(getattr(type(value), '__call__', None)):  # noqa: B004
        # An instance whose class defines __call__: used as is.
        func, arity, label = type(value).__call__, 2, '(self, request)'
        qualified = f'{type(value).__name__}.__call__()'
        name = type(value).__name__
    else:
        raise _fail(
            f'`{type(value).__name__}` is not valid for {kind}, it should be a callable, '
            f'a Class with __call__ method or a single function.'
        )
    params = [
        p for p in inspect.signature(func).parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if len(params) != arity:
        raise _fail(f'{qualified} requires {arity} positional argument(s) {label}.')
    if require_async and not inspect.iscoroutinefunction(func):
        raise _fail(f'{qualified} should be `async`')


@dataclass(frozen=True)
class EndpointOptions:
    methods: frozenset[str] | None
    input_model: Any
    output_model: Any
    output_schema: Any
    auth: Any
    permissions: tuple[Any, ...] | None
    throttling: Any
    cache: timedelta | None
    middlewares: tuple[Any, ...] | None

    @classmethod
    def build(
        cls,
        *,
        methods: Any = None,
        input_model: Any = None,
        output_model: Any = None,
        output_schema: Any = None,
        auth: Any = None,
        permissions: Any = None,
        throttling: Any = None,
        cache: Any = None,
        middlewares: Any = None,
        extra: dict[str, Any] | None = None,
    ) -> EndpointOptions:
        if auth is not None:
            _validate_callable(auth, 'authentication')
        if permissions is not None:
            if not isinstance(permissions, (list, tuple)):
                permissions = [permissions]
            for permission in permissions:
                # Sync permissions are allowed: they are cheap checks and run inline.
                _validate_callable(permission, 'permission', require_async=False)
        extra = dict(extra or {})
        if extra.pop('cache_exp_time', None):
            raise _fail(
                'The `cache_exp_time` argument has been removed in Panther v5 and is no longer available.'
                '\nYou may want to use `cache` instead.'
            )
        if cache and not isinstance(cache, timedelta):
            raise _fail(
                'The `cache` argument has been changed in Panther v5, '
                'it should be an instance of `datetime.timedelta()`.'
            )
        if extra:
            raise _fail(f'Unknown kwargs: {extra.keys()}')
        if middlewares is not None:
            from panther.middlewares.base import HTTPMiddleware

            for middleware in middlewares:
                if not (inspect.isclass(middleware) and issubclass(middleware, HTTPMiddleware)):
                    raise _fail(f'Invalid middleware {middleware!r}: it should be a sub class of `HTTPMiddleware`')
        return cls(
            methods=_checked_methods(methods) if methods is not None else None,
            input_model=input_model,
            output_model=output_model,
            output_schema=output_schema,
            auth=auth,
            permissions=tuple(permissions) if permissions is not None else None,
            throttling=throttling,
            cache=cache or None,
            middlewares=tuple(middlewares) if middlewares is not None else None,
        )


def _checked_methods(methods: Any) -> frozenset[str]:
    """Upper-cased method names; a name outside `ALLOWED_METHODS` is refused at declaration, not left to 405."""
    if isinstance(methods, (str, bytes)) or not isinstance(methods, (list, tuple, set, frozenset)):
        raise _fail(f'`methods` should be a list of HTTP method names, not {methods!r}.')
    checked: set[str] = set()
    for method in methods:
        name = method.upper() if isinstance(method, str) else method
        if name not in ALLOWED_METHODS:
            raise _fail(f'`{method}` is not a valid HTTP method in `methods`; use {", ".join(ALLOWED_METHODS)}.')
        checked.add(name)
    return frozenset(checked)


class CompiledEndpoint:
    """Per-endpoint cache of the compiled pipeline; recompiled when the app's configuration changes."""

    __slots__ = ('_handler', '_version', 'build')

    def __init__(self, build: Callable[[], Handler]) -> None:
        self.build = build
        self._handler: Handler | None = None
        self._version = -1

    def handler(self) -> Handler:
        if self._version != state.config_version or self._handler is None:
            self._handler = self.build()
            self._version = state.config_version
        return self._handler
