"""`@API` for function endpoints and `GenericAPI` for class endpoints: two front doors, one pipeline.

Public as `panther.app`; defined here so `panther.generics` can build on `GenericAPI` while `panther.app` also
offers the generic views (loaded on first use) without an import cycle.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, create_model

from panther._internal.endpoint import ALL_METHODS, CompiledEndpoint, EndpointOptions
from panther._internal.injection import InjectionPlan
from panther._internal.pipeline import Handler, compile_endpoint
from panther.exceptions import MethodNotAllowedAPIError
from panther.request import Request
from panther.response import Response

__all__ = ['API', 'GenericAPI', 'partial_model']


class FunctionEndpoint:
    kind = 'function'

    def __init__(self, func: Callable[..., Any], options: EndpointOptions) -> None:
        self.func = func
        self.options = options
        self.methods = options.methods if options.methods is not None else frozenset(ALL_METHODS)
        self.plan = InjectionPlan(func)
        self.compiled = CompiledEndpoint(self._build)

    def _build(self) -> Handler:
        return compile_endpoint(self.options, self.func, self.plan, methods=self.methods)

    def handler(self) -> Handler:
        return self.compiled.handler()


class API:
    """Decorate a function to make it an endpoint.

    Every request gets its own local state, so one decorated function is safe under concurrent requests.
    """

    __module__ = 'panther.app'  # the public home of this class

    def __init__(
        self,
        *,
        methods: list[str] | None = None,
        input_model: Any = None,
        output_model: Any = None,
        output_schema: Any = None,
        auth: Any = None,
        permissions: Any = None,
        throttling: Any = None,
        cache: Any = None,
        middlewares: list[Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self.options = EndpointOptions.build(
            methods=methods,
            input_model=input_model,
            output_model=output_model,
            output_schema=output_schema,
            auth=auth,
            permissions=permissions,
            throttling=throttling,
            cache=cache,
            middlewares=middlewares,
            extra=kwargs,
        )

    def __call__(self, func: Callable[..., Any]) -> Callable[[Request], Any]:
        endpoint = FunctionEndpoint(func, self.options)
        options = self.options

        @functools.wraps(func)
        async def wrapper(request: Request) -> Response:
            return await endpoint.handler()(request)

        wrapper.__panther_endpoint__ = endpoint  # type: ignore[attr-defined]
        wrapper.methods = set(endpoint.methods)  # type: ignore[attr-defined]
        wrapper.input_model = options.input_model  # type: ignore[attr-defined]
        wrapper.output_model = options.output_model  # type: ignore[attr-defined]
        wrapper.output_schema = options.output_schema  # type: ignore[attr-defined]
        wrapper.auth = options.auth  # type: ignore[attr-defined]
        wrapper.permissions = list(options.permissions) if options.permissions is not None else None  # type: ignore[attr-defined]
        wrapper.throttling = options.throttling  # type: ignore[attr-defined]
        wrapper.cache = options.cache  # type: ignore[attr-defined]
        wrapper.middlewares = list(options.middlewares) if options.middlewares is not None else None  # type: ignore[attr-defined]
        wrapper._endpoint_kind = 'function'  # type: ignore[attr-defined]
        return wrapper


class ClassEndpoint:
    kind = 'class'

    def __init__(self, cls: type[GenericAPI], options: EndpointOptions) -> None:
        self.cls = cls
        self.options = options
        self.methods = frozenset(
            m for m in ALL_METHODS if getattr(cls, m.lower()) is not getattr(GenericAPI, m.lower())
        )
        self.plans = {m: InjectionPlan(getattr(cls, m.lower()), skip_first=True) for m in self.methods}
        self.compiled = CompiledEndpoint(self._build)

    def _options_for(self, method: str) -> EndpointOptions:
        if method == 'PATCH' and self.options.input_model is not None and getattr(self.cls, 'partial_patch', False):
            return dataclasses.replace(self.options, input_model=partial_model(self.options.input_model))
        return self.options

    def _build(self) -> Handler:
        handlers = {
            m: compile_endpoint(
                self._options_for(m),
                getattr(self.cls, m.lower()),
                self.plans[m],
                methods=self.methods,
                instance_factory=self.cls,
            )
            for m in self.methods
        }
        if 'GET' in handlers:
            handlers['HEAD'] = handlers['GET']
        # Any compiled pipeline answers OPTIONS and 405 for methods the class does not implement.
        fallback = next(iter(handlers.values()), None) or compile_endpoint(
            self.options, _no_method, InjectionPlan(_no_method), methods=frozenset()
        )

        async def dispatch(request: Request) -> Response:
            return await handlers.get(request.method, fallback)(request)

        return dispatch

    def handler(self) -> Handler:
        return self.compiled.handler()


@functools.lru_cache(maxsize=256)
def partial_model(model: type[BaseModel]) -> type[BaseModel]:
    """`model` with every field optional (default None), constraints and validators kept; for partial updates.

    Only the fields a client sent are in `model_fields_set`, so `model_dump(exclude_unset=True)` is the update.
    """
    fields: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        optional = copy.copy(info)
        optional.default = None
        optional.default_factory = None
        fields[name] = (info.annotation | None, optional)  # type: ignore[operator]
    return create_model(f'Partial{model.__name__}', __base__=model, __module__=model.__module__, **fields)


async def _no_method() -> None:
    raise MethodNotAllowedAPIError


class GenericAPI:
    """Subclass and define `get`, `post`, `put`, `patch` and/or `delete` (sync or async)."""

    __module__ = 'panther.app'  # the public home of this class

    input_model: Any = None
    output_model: Any = None
    output_schema: Any = None
    auth: Any = None
    permissions: Any = None
    throttling: Any = None
    cache: Any = None
    middlewares: Any = None

    __panther_endpoint__: ClassEndpoint

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.permissions is not None and not isinstance(cls.permissions, (list, tuple)):
            cls.permissions = [cls.permissions]
        options = EndpointOptions.build(
            input_model=cls.input_model,
            output_model=cls.output_model,
            output_schema=cls.output_schema,
            auth=cls.auth,
            permissions=cls.permissions,
            throttling=cls.throttling,
            cache=cls.cache,
            middlewares=cls.middlewares,
        )
        cls.__panther_endpoint__ = ClassEndpoint(cls, options)

    async def get(self, *args: Any, **kwargs: Any) -> Any:
        raise MethodNotAllowedAPIError

    async def post(self, *args: Any, **kwargs: Any) -> Any:
        raise MethodNotAllowedAPIError

    async def put(self, *args: Any, **kwargs: Any) -> Any:
        raise MethodNotAllowedAPIError

    async def patch(self, *args: Any, **kwargs: Any) -> Any:
        raise MethodNotAllowedAPIError

    async def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise MethodNotAllowedAPIError

    @classmethod
    async def call_method(cls, request: Request) -> Response:
        """Run this endpoint for `request` (the same pipeline the router uses)."""
        return await cls.__panther_endpoint__.handler()(request)
