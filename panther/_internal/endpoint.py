"""The frozen endpoint description shared by `@API` and `GenericAPI`, and the pipeline compiled from it.

Options are validated when the decorator runs / the class is created. The pipeline is compiled lazily
(first request, or app start-up) and recompiled only when a configuration key it depends on changes.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from panther._internal import state
from panther._internal.concurrency import to_thread
from panther._internal.injection import InjectionPlan
from panther.exceptions import (
    APIError,
    AuthorizationAPIError,
    InvalidPathVariableAPIError,
    MethodNotAllowedAPIError,
    PantherError,
)
from panther.request import Request
from panther.response import PLAIN_TYPES, Response

logger = logging.getLogger('panther')

ALL_METHODS = ('GET', 'POST', 'PUT', 'PATCH', 'DELETE')
# What `@API(methods=[...])` may list (HEAD and OPTIONS are answered by the framework unless listed).
ALLOWED_METHODS = (*ALL_METHODS, 'HEAD', 'OPTIONS')
BODY_METHODS = frozenset({'POST', 'PUT', 'PATCH'})
READ_BODY_METHODS = frozenset({'POST', 'PUT', 'PATCH', 'DELETE'})

Handler = Callable[[Request], Awaitable[Response]]


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


def _as_callable(value: Any) -> Callable[[Any], Any]:
    """Classes are instantiated per request (they may keep state); functions and instances are used as is."""
    if inspect.isclass(value):
        cls: Any = value
        return lambda request: cls()(request)
    return value


def allowed_methods_header(methods: frozenset[str] | tuple[str, ...]) -> str:
    ordered = [m for m in ALL_METHODS if m in methods]
    if 'GET' in methods:
        ordered.append('HEAD')
    ordered.append('OPTIONS')
    return ', '.join(ordered)


async def finish_result(result: Any) -> Response:
    """Turn a handler's non-plain return value into a finished response (cursors materialised, pagination)."""
    if isinstance(result, Response):
        await result.prepare()
        if result.pagination is not None:
            result.data = await result.pagination.template(result.data)
        return result
    response = Response(data=result)
    await response.prepare()
    return response


class DirectCall:
    """A handler simple enough for the app to call inline: async, no pipeline steps, no body, and either no
    arguments or one path variable passed positionally. Saves a coroutine per request on the hottest routes."""

    __slots__ = ('annotation', 'convert', 'func', 'methods', 'name')

    def __init__(
        self, func: Callable[..., Any], methods: frozenset[str], name: str | None, convert: Any, annotation: Any
    ) -> None:
        self.func = func
        self.methods = methods
        self.name = name
        self.convert = convert
        self.annotation = annotation


def compile_pipeline(
    options: EndpointOptions,
    func: Callable[..., Any],
    plan: InjectionPlan,
    *,
    methods: frozenset[str],
    instance_factory: Callable[[], Any] | None = None,
) -> Handler:
    """Build the request handler for one endpoint (one HTTP method set). Only configured steps are included."""
    from panther.configs import config

    auth = options.auth if options.auth is not None else config.AUTHENTICATION
    auth_call = _as_callable(auth) if auth is not None else None
    permissions = tuple(_as_callable(p) for p in options.permissions or ())
    throttle = options.throttling if options.throttling is not None else config.THROTTLING
    input_model = options.input_model
    output_model = options.output_model
    cache = options.cache
    is_async = inspect.iscoroutinefunction(func)
    allow = allowed_methods_header(methods)

    if cache:
        from panther import caching
    if auth_call is not None:
        from panther.authentications import settle_revocation
    if throttle is not None and not hasattr(throttle, 'check_and_increment'):
        raise _fail(f'Invalid throttling {throttle!r}: it should be an instance of `panther.throttling.Throttle`')

    prepare_input = getattr(input_model, 'prepare_input', None) if input_model is not None else None
    needs_steps = bool(auth_call or permissions or throttle is not None or input_model is not None or cache)
    needs_finish = output_model is not None or cache

    async def call_handler(request: Request) -> Response:
        kwargs = plan.build(request)
        if instance_factory is not None:
            instance = instance_factory()
            result = await func(instance, **kwargs) if is_async else await to_thread(func, instance, **kwargs)
        else:
            result = await func(**kwargs) if is_async else await to_thread(func, **kwargs)
        if isinstance(result, Response):
            await result.prepare()
            if result.pagination is not None:
                if output_model is not None and result.data:
                    await result.serialize_output(output_model)
                result.data = await result.pagination.template(result.data)
                return result
        else:
            result = Response(data=result)
            if type(result.data) not in PLAIN_TYPES:
                await result.prepare()
        if output_model is not None and result.data:
            await result.serialize_output(output_model)
        return result

    async def full_pipeline(request: Request) -> Response:
        method = request.method
        if method not in methods:
            if method == 'HEAD' and 'GET' in methods:
                method = 'GET'
            elif method == 'OPTIONS':
                return Response(status_code=204, headers={'Allow': allow})
            else:
                raise MethodNotAllowedAPIError(headers={'Allow': allow})
        if auth_call is not None:
            if throttle is not None:
                # A JWT's revocation check rides along with the throttle counter: one Store round trip for both.
                request.defer_revocation_check = True
            try:
                user = auth_call(request)
                request.user = await user if inspect.isawaitable(user) else user
                for permission in permissions:
                    granted = permission(request)
                    if inspect.isawaitable(granted):
                        granted = await granted
                    if not granted:
                        raise AuthorizationAPIError
            except APIError:
                await settle_revocation(request)  # a revoked token is answered as revoked, not as forbidden
                raise
        else:
            for permission in permissions:
                granted = permission(request)
                if inspect.isawaitable(granted):
                    granted = await granted
                if not granted:
                    raise AuthorizationAPIError
        extra_headers = await throttle.check_and_increment(request) if throttle is not None else None
        if request.pending_revocation is not None:
            await settle_revocation(request)
        try:
            if method in READ_BODY_METHODS:
                await request.read_body()
            if input_model is not None and method in BODY_METHODS:
                if prepare_input is not None:
                    request.data = await prepare_input(request.data)
                request.validate_data(input_model)
            if cache and method == 'GET':
                cached = await caching.get_response_from_cache(request=request, duration=cache)
                if cached is not None:
                    if extra_headers:
                        cached.headers.update(extra_headers)
                    return cached
            response = await call_handler(request)
        except APIError as error:
            if extra_headers:
                # Rate-limit headers belong on every counted answer, errors included.
                error.headers = {**extra_headers, **(error.headers or {})}
            raise
        if cache and method == 'GET':
            await caching.set_response_in_cache(request=request, response=response, duration=cache)
        if extra_headers:
            response.headers.update(extra_headers)
        return response

    build = plan.build
    direct = instance_factory is None and is_async
    no_arguments = direct and plan.simple and not plan.request_params
    single = plan.single_positional if direct else None
    single_name: str = single[0] if single else ''
    single_convert: Any = single[1] if single else None
    single_annotation: Any = single[2] if single else None

    async def fast_pipeline(request: Request) -> Response:
        # No auth, permissions, throttling, validation or caching configured: only what every request needs.
        method = request.scope['method']
        if method not in methods:
            return await full_pipeline(request)
        if method in READ_BODY_METHODS:
            await request.read_body()
        if no_arguments:
            result = await func()
        elif single is not None:
            variables = request.path_variables
            raw = variables.get(single_name) if variables else None
            if raw is None:
                result = await func()
            elif single_convert is None:
                result = await func(raw)
            else:
                try:
                    value = single_convert(raw)
                except (ValueError, TypeError):
                    raise InvalidPathVariableAPIError(value=raw, variable_type=single_annotation) from None
                result = await func(value)
        elif direct:
            result = await func(**build(request))
        else:
            return await call_handler(request)
        if type(result) in PLAIN_TYPES:
            return Response(data=result)
        return await finish_result(result)

    cache_duration = cache or timedelta()

    async def cache_only_pipeline(request: Request) -> Response:
        # Only `cache` is configured: a GET goes straight to the cache lookup.
        if request.scope['method'] != 'GET' or 'GET' not in methods:
            return await full_pipeline(request)
        cached = caching.memory_hit(request, cache_duration)
        if cached is caching.REMOTE:
            cached = await caching.get_response_from_cache(request=request, duration=cache_duration)
        if cached is not None:
            return cached
        response = await call_handler(request)
        await caching.set_response_in_cache(request=request, response=response, duration=cache_duration)
        return response

    only_cache = cache and not (auth_call or permissions or throttle is not None or input_model is not None)
    if only_cache and output_model is None:
        pipeline: Handler = cache_only_pipeline
        if 'GET' in methods:
            # The app looks such GETs up in the in-memory cache itself before entering the pipeline.
            cache_only_pipeline.cache_duration = cache_duration  # type: ignore[attr-defined]
    else:
        pipeline = full_pipeline if needs_steps or needs_finish else fast_pipeline
    if pipeline is fast_pipeline and (no_arguments or single is not None):
        # The app may call such handlers without entering `fast_pipeline` (see `DirectCall`).
        fast_pipeline.direct = DirectCall(  # type: ignore[attr-defined]
            func, frozenset(methods - READ_BODY_METHODS), single_name, single_convert, single_annotation
        )

    handler = pipeline
    if options.middlewares:
        handler = _wrap_endpoint_middlewares(pipeline, options.middlewares)
    return handler


def _wrap_endpoint_middlewares(inner: Handler, middlewares: tuple[Any, ...]) -> Handler:
    from panther._internal.errors import catch_errors, error_to_response

    async def innermost(request: Request) -> Response:
        # Errors become responses here so the endpoint's middlewares can post-process them too.
        try:
            return await inner(request)
        except Exception as exc:
            return error_to_response(exc)

    async def run(request: Request) -> Response:
        handler: Any = innermost
        for middleware in reversed(middlewares):
            handler = catch_errors(middleware(handler))
        return await handler(request=request)

    return run


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
