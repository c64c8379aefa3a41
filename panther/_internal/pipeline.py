"""The request path, written once.

HTTP request   route → global middlewares → endpoint middlewares → method → authentication → permissions →
               throttle → cache → input validation → handler → output model → response
WebSocket      route → WebSocket middlewares → authentication → permissions → path variables → `connect()`

Authentication and permissions are one step (`Admission`) used by both. Every endpoint compiles the
definition once — at start-up, again only when configuration it depends on changes — keeping only the steps it
has configured. What comes out is one of these variants:

- direct      nothing configured, no body, no argument or one path variable: the entry calls the handler itself
              (`DirectCall`, no `Request` object) and sends plain data it returns without building a `Response`;
              behind global middlewares their innermost layer calls it the same way;
- plain       nothing configured: method check, body, handler;
- cache-only  only `cache`: the entry replays an in-memory hit from the ASGI scope alone (`caching.ready_hit`)
              before entering the pipeline;
- full        any other combination: each configured step, in the order above.

The entry (`HTTPEntry`) looks the route up once per request. Middleware chains are built once per
configuration (`MiddlewareChain`), except for middlewares that may keep per-request state on themselves.
`CORSMiddleware` as the outermost middleware is not a layer: the entry applies its answers (`CORSPolicy`),
computed once per configuration, to whatever it sends.
"""

from __future__ import annotations

import contextlib
import dis
import inspect
import logging
import types
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NoReturn, cast

import orjson

from panther._internal import state
from panther._internal.concurrency import to_thread
from panther._internal.endpoint import ALL_METHODS
from panther._internal.errors import catch_errors, error_to_response
from panther._internal.routing import Router
from panther.caching import REMOTE, memory_hit, ready_hit
from panther.exceptions import (
    APIError,
    AuthenticationAPIError,
    AuthorizationAPIError,
    InvalidPathVariableAPIError,
    MethodNotAllowedAPIError,
    NotFoundAPIError,
    PantherError,
    UpgradeRequiredError,
)
from panther.middlewares.cors import CORSMiddleware, CORSPolicy
from panther.request import DEFAULT_MAX_BODY_SIZE, ClientDisconnected, Request
from panther.response import PLAIN_TYPES, Response, _json_default

if TYPE_CHECKING:
    from panther._internal.endpoint import EndpointOptions
    from panther._internal.injection import InjectionPlan
    from panther._internal.types import Receive, Scope, Send

__all__ = [
    'Admission',
    'DirectCall',
    'HTTPEntry',
    'MiddlewareChain',
    'compile_endpoint',
    'finish_result',
]

logger = logging.getLogger('panther')

Handler = Callable[[Request], Awaitable[Response]]

BODY_METHODS = frozenset({'POST', 'PUT', 'PATCH'})
READ_BODY_METHODS = frozenset({'POST', 'PUT', 'PATCH', 'DELETE'})
_NO_BODY_METHODS = frozenset({'GET', 'HEAD', 'OPTIONS'})
_JSON_CONTENT_TYPE = (b'Content-Type', b'application/json')
_new_request = _new_response = object.__new__
_dumps = orjson.dumps
_NON_STR_KEYS = orjson.OPT_NON_STR_KEYS


# --- authentication and permissions: one step for requests and sockets ---------------------------------------


def as_callable(value: Any) -> Callable[[Any], Any]:
    """Classes are instantiated per request (they may keep state); functions and instances are used as is."""
    if inspect.isclass(value):
        cls: Any = value
        return lambda request: cls()(request)
    return cast(Callable[[Any], Any], value)


class Admission:
    """Authentication, then permissions: sets `request.user` or raises (401 from the authenticator; here 401 when
    a permission refuses a request that sent no credential to an endpoint with authentication, else 403).

    The same step admits HTTP requests and WebSocket connections (a socket refused here is refused in its
    handshake).
    """

    __slots__ = ('auth', 'challenge', 'permissions')

    def __init__(self, auth: Any, permissions: Sequence[Any] | None) -> None:
        self.auth = as_callable(auth) if auth is not None else None
        self.permissions = tuple(as_callable(permission) for permission in permissions or ())
        # RFC 6750 challenge for a request that sent no credential at all (no error code: nothing was invalid).
        self.challenge = getattr(auth, 'keyword', None) or 'Bearer'

    def __bool__(self) -> bool:
        return self.auth is not None or bool(self.permissions)

    async def __call__(self, request: Any) -> None:
        if self.auth is not None:
            user = self.auth(request)
            request.user = await user if inspect.isawaitable(user) else user
        for permission in self.permissions:
            granted = permission(request)
            if inspect.isawaitable(granted):
                granted = await granted
            if not granted:
                if self.auth is not None and request.user is None:
                    # Refused because nobody is logged in: 401 asks for credentials; 403 is for a known user.
                    raise AuthenticationAPIError(headers={'WWW-Authenticate': self.challenge})
                raise AuthorizationAPIError


# --- the endpoint pipeline ---------------------------------------------------------------------------------------


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
    """The direct variant: an async handler with no configured step and no body, taking no argument or one path
    variable (positionally). The entry calls it without entering the pipeline."""

    __slots__ = ('annotation', 'bare', 'convert', 'func', 'methods', 'name')

    def __init__(
        self,
        func: Callable[..., Awaitable[Any]],
        methods: frozenset[str],
        name: str | None,
        convert: Callable[[str], Any] | None,
        annotation: Any,
    ) -> None:
        self.func = func
        self.methods = methods
        self.name = name
        self.convert = convert
        self.annotation = annotation
        # A handler that takes no argument: callers may call it without going through `invoke()`.
        self.bare = func if name is None else None

    def invoke(self, variables: dict[str, str] | None) -> Awaitable[Any]:
        """The handler's coroutine for these path variables (a bad value raises the 400 here)."""
        name = self.name
        raw = variables.get(name) if name is not None and variables else None
        if raw is None:
            return self.func()
        convert = self.convert
        if convert is None:
            return self.func(raw)
        try:
            value = convert(raw)
        except (ValueError, TypeError):
            raise InvalidPathVariableAPIError(raw, self.annotation) from None
        return self.func(value)


def compile_endpoint(
    options: EndpointOptions,
    func: Callable[..., Any],
    plan: InjectionPlan,
    *,
    methods: frozenset[str],
    instance_factory: Callable[[], Any] | None = None,
) -> Handler:
    """Compile the pipeline of one handler (one HTTP method set) with only its configured steps.

    The returned handler carries `direct` (a `DirectCall`) for the direct variant and `cache_duration` for the
    cache-only variant, so the entry can take those shortcuts.
    """
    from panther.configs import config

    admission = Admission(options.auth if options.auth is not None else config.AUTHENTICATION, options.permissions)
    throttle = options.throttling if options.throttling is not None else config.THROTTLING
    input_model = options.input_model
    output_model = options.output_model
    cache = options.cache
    is_async = inspect.iscoroutinefunction(func)
    allow = allowed_methods_header(methods)

    if cache:
        from panther import caching
    if admission:
        from panther.authentications import settle_revocation
    if throttle is not None and not hasattr(throttle, 'check_and_increment'):
        message = f'Invalid throttling {throttle!r}: it should be an instance of `panther.throttling.Throttle`'
        logger.error(message)
        raise PantherError(message)

    prepare_input = getattr(input_model, 'prepare_input', None) if input_model is not None else None
    has_steps = bool(admission) or throttle is not None or input_model is not None or bool(cache)

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

    async def full(request: Request) -> Response:
        method = request.method
        if method not in methods:
            if method == 'HEAD' and 'GET' in methods:
                method = 'GET'
            elif method == 'OPTIONS':
                return Response(status_code=204, headers={'Allow': allow})
            else:
                raise MethodNotAllowedAPIError(headers={'Allow': allow})
        if admission:
            if throttle is not None:
                # A JWT's revocation check rides along with the throttle counter: one Store round trip for both.
                request.defer_revocation_check = True
            try:
                await admission(request)
            except APIError:
                await settle_revocation(request)  # a revoked token is answered as revoked, not as forbidden
                raise
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

    direct = _direct_call(func, plan, methods, is_async=is_async and instance_factory is None)

    async def plain(request: Request) -> Response:
        method = request.scope['method']
        if method not in methods:
            return await full(request)
        if method in READ_BODY_METHODS:
            await request.read_body()
        if direct is not None:
            result = await direct.invoke(request.path_variables)
        elif instance_factory is None and is_async:
            result = await func(**plan.build(request))
        else:
            return await call_handler(request)
        if type(result) in PLAIN_TYPES:
            return Response(data=result)
        return await finish_result(result)

    cache_duration = cache or timedelta()

    async def cache_only(request: Request) -> Response:
        if request.scope['method'] != 'GET' or 'GET' not in methods:
            return await full(request)
        cached = caching.memory_hit(request, cache_duration)
        if cached is caching.REMOTE:
            cached = await caching.get_response_from_cache(request=request, duration=cache_duration)
        if cached is not None:
            return cached
        response = await call_handler(request)
        await caching.set_response_in_cache(request=request, response=response, duration=cache_duration)
        return response

    pipeline: Any
    if cache and not (admission or throttle is not None or input_model is not None) and output_model is None:
        pipeline = cache_only
        pipeline.cache_duration = cache_duration if 'GET' in methods else None
        pipeline.direct = None
    elif has_steps or output_model is not None:
        pipeline = full
        pipeline.cache_duration = pipeline.direct = None
    else:
        pipeline = plain
        pipeline.cache_duration = None
        pipeline.direct = direct
    if options.middlewares:
        return _with_endpoint_middlewares(pipeline, options.middlewares)
    return cast(Handler, pipeline)


def _direct_call(
    func: Callable[..., Any], plan: InjectionPlan, methods: frozenset[str], *, is_async: bool
) -> DirectCall | None:
    if not is_async:
        return None
    bodyless = frozenset(methods - READ_BODY_METHODS)
    if plan.simple and not plan.request_params:
        return DirectCall(func, bodyless, None, None, None)
    if plan.single_positional is not None:
        name, convert, annotation = plan.single_positional
        return DirectCall(func, bodyless, name, convert, annotation)
    return None


def _with_endpoint_middlewares(inner: Handler, middlewares: Sequence[type]) -> Handler:
    async def innermost(request: Request) -> Response:
        # Errors become responses here so the endpoint's middlewares can post-process them too.
        try:
            return await inner(request)
        except ClientDisconnected:
            raise
        except Exception as exc:
            return error_to_response(exc)

    # Endpoint middlewares are built as `M(next)` (5.x), outermost first in `middlewares`.
    chain = MiddlewareChain(list(reversed(middlewares)), innermost, lambda cls, nxt: cls(nxt))

    async def run(request: Request) -> Response:
        return cast(Response, await chain(request))

    run.cache_duration = run.direct = None  # type: ignore[attr-defined]
    return run


# --- middleware chains ------------------------------------------------------------------------------------------


def keeps_request_state(cls: type) -> bool:
    """Whether a middleware class may keep per-request state on its instances.

    Panther 5.x built new middleware instances for every request, so a middleware could store things on `self`.
    Classes that define their own `__init__` or assign attributes on `self` in `__call__` keep getting a new
    instance per request; every other middleware is built once per configuration.
    """
    for klass in cls.__mro__:
        if klass.__module__.startswith('panther.middlewares'):
            break
        if '__init__' in klass.__dict__:
            return True
        call = klass.__dict__.get('__call__')
        if call is not None and _assigns_on_self(call):
            return True
    return False


def _assigns_on_self(func: Any) -> bool:
    code = getattr(func, '__code__', None)
    if code is None or not code.co_varnames:
        return True
    self_name = code.co_varnames[0]
    previous: dis.Instruction | None = None
    for instruction in dis.get_instructions(code):
        if instruction.opname in ('STORE_ATTR', 'DELETE_ATTR') and previous is not None:
            if previous.opname.startswith('LOAD_FAST') and previous.argval == self_name:
                return True
        previous = instruction
    return False


def _bound_call(layer: Any) -> Any:
    """The layer's `__call__` as a bound method: calling that costs about half of calling the instance (which
    looks `__call__` up on its type each time). Functions and other callables are returned as they are."""
    if isinstance(layer, types.FunctionType):
        return layer
    call = next((klass.__dict__['__call__'] for klass in type(layer).__mro__ if '__call__' in klass.__dict__), None)
    return layer.__call__ if isinstance(call, types.FunctionType) else layer


class MiddlewareChain:
    """A middleware chain around `inner`, built once when every middleware in it may be shared.

    `classes` lists the middlewares innermost first; `construct(cls, next)` builds one layer. An error raised by
    a layer becomes a response for the layers around it (the caller of the chain handles the outermost one).
    """

    __slots__ = ('_classes', '_construct', '_inner', '_keyword', '_raw_construct', 'entry')

    def __init__(
        self,
        classes: Sequence[type],
        inner: Callable[..., Awaitable[Any]],
        construct: Callable[[type, Callable[..., Awaitable[Any]]], Any],
        *,
        catch: bool = True,
        keyword: str = 'request',
    ) -> None:
        self._classes = tuple(classes)
        self._keyword = keyword
        self._inner = inner
        self._raw_construct = construct
        self._construct = (
            (lambda cls, nxt: catch_errors(_bound_call(construct(cls, nxt))))
            if catch
            else (lambda cls, nxt: _bound_call(construct(cls, nxt)))
        )
        shared = not any(keeps_request_state(cls) for cls in self._classes)
        # Shared middlewares: the chain is built here, once; otherwise `build()` runs per request.
        self.entry: Callable[..., Awaitable[Any]] | None = self.build() if shared else None

    def build(self) -> Callable[..., Awaitable[Any]]:
        handler = self._inner
        last = len(self._classes) - 1
        for position, cls in enumerate(self._classes):
            # The outermost layer needs no wrapper: whoever calls the chain turns its errors into a response.
            if position == last:
                handler = _bound_call(self._raw_construct(cls, handler))
            else:
                handler = self._construct(cls, handler)
        return handler

    def __call__(self, request: Any) -> Awaitable[Any]:
        entry = self.entry or self.build()
        return entry(**{self._keyword: request})


# --- the HTTP entry -------------------------------------------------------------------------------------------


class Route:
    """A routed endpoint with its compiled pipeline (None for WebSocket endpoints and reserved paths)."""

    __slots__ = ('bare', 'bare_methods', 'cache_duration', 'direct', 'endpoint', 'handler', 'pattern')

    def __init__(self, endpoint: Any, pattern: str = '') -> None:
        self.endpoint = endpoint
        self.pattern = pattern
        compiled = getattr(endpoint, '__panther_endpoint__', None)
        self.handler: Handler | None = (
            compiled.handler() if compiled is not None and compiled.kind != 'websocket' else None
        )
        self.direct: DirectCall | None = getattr(self.handler, 'direct', None)
        self.cache_duration: timedelta | None = getattr(self.handler, 'cache_duration', None)
        # A direct handler without arguments, and the methods it serves (empty otherwise): one set lookup tells
        # the innermost middleware layer it may call the handler itself.
        direct = self.direct
        self.bare = direct.bare if direct is not None else None
        self.bare_methods: frozenset[str] = direct.methods if direct is not None and direct.bare else frozenset()


_RESERVED = Route(None)


def _json_messages(status: int, data: Any, head: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """The two ASGI messages of a JSON response with default headers."""
    # `render_json`, inlined: this runs for most responses.
    body = (
        b''
        if data is None
        else (data if type(data) is bytes else _dumps(data, default=_json_default, option=_NON_STR_KEYS))
    )
    return (
        {
            'type': 'http.response.start',
            'status': status,
            'headers': [(b'Content-Length', str(len(body)).encode()), _JSON_CONTENT_TYPE],
        },
        {'type': 'http.response.body', 'body': b'' if head else body, 'more_body': False},
    )


class HTTPEntry(ABC):
    """The ASGI entry: serves HTTP requests with one route lookup, then the global middlewares (if any) and the
    endpoint's pipeline; hands WebSocket and lifespan scopes to `handle_websocket` / `handle_lifespan`.

    `Panther` is a subclass, so the entry runs without an extra call per request. Everything that depends only on
    configuration (route table, middleware chain, body limit) is built by `rebuild()` and rebuilt only when such
    configuration changes.
    """

    version = -1
    max_body_size = DEFAULT_MAX_BODY_SIZE
    router = Router({})
    static: dict[str, Route] = {}
    chain: MiddlewareChain | None = None
    cors: CORSPolicy | None = None

    def rebuild(self) -> None:
        from panther.configs import config

        self.max_body_size = config.MAX_BODY_SIZE or DEFAULT_MAX_BODY_SIZE
        self.router = Router(config.URLS, wrap=Route)
        # Reserved paths stay in the table (their route has no handler, so they answer 404): otherwise the dynamic
        # lookup could match them against a variable sibling.
        self.static = {
            path: route if isinstance(route, Route) else _RESERVED for path, route in self.router.raw_static.items()
        }
        middlewares = list(config.HTTP_MIDDLEWARES)  # innermost first
        # `CORSMiddleware` as the outermost layer is applied by the entry itself: same answers, no layer.
        self.cors = CORSPolicy.from_config() if middlewares and middlewares[-1] is CORSMiddleware else None
        if self.cors is not None:
            middlewares.pop()
        self.chain = (
            MiddlewareChain(middlewares, _innermost(self.router), lambda cls, nxt: cls(dispatch=nxt))
            if middlewares
            else None
        )
        self.version = state.config_version

    @abstractmethod
    async def handle_websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one WebSocket connection."""

    @abstractmethod
    async def handle_lifespan(self, receive: Receive, send: Send) -> None:
        """Run the ASGI lifespan protocol."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope['type'] != 'http':
            if scope['type'] == 'websocket':
                await self.handle_websocket(scope, receive, send)
            elif scope['type'] == 'lifespan':
                await self.handle_lifespan(receive, send)
            return
        if self.version != state.config_version:
            self.rebuild()
        path = scope['path']
        method = scope['method']
        cors = self.cors
        if cors is not None and method == 'OPTIONS':
            # A preflight is answered before routing and before the other middlewares, as CORSMiddleware does.
            await send({'type': 'http.response.start', 'status': 204, 'headers': cors.header_pairs(scope)})
            await send({'type': 'http.response.body', 'body': b'', 'more_body': False})
            return
        # Static routes are one dict lookup; anything else goes through the router.
        route = self.static.get(path)
        if route is None:
            route, variables = self.router.resolve_dynamic(path)
        else:
            variables = None
        chain = self.chain
        if chain is None and route is not None and (direct := route.direct) is not None and method in direct.methods:
            # The direct variant needs no Request object.
            try:
                bare = direct.bare
                result = await (bare() if bare is not None else direct.invoke(variables))
                if type(result) in PLAIN_TYPES:
                    # Plain data: rendered and sent without building a Response object.
                    start, body = _json_messages(200, result, method == 'HEAD')
                    if cors is not None:
                        start['headers'] += cors.header_pairs(scope)
                    await send(start)
                    await send(body)
                    return
                response = await finish_result(result)
            except Exception as exc:
                response = error_to_response(exc)
            await self._send_finished(response, scope, receive, send)
            return
        if (
            chain is None
            and route is not None
            and route.cache_duration is not None
            and method == 'GET'
            and (cors is None or not cors.vary)
            and (ready := ready_hit(scope, route.pattern, variables)) is not None
        ):
            # The cache-only variant's hit, in memory: replayed without a Request or Response object.
            headers = ready[1] if cors is None else ready[1] + cors.header_pairs(scope)
            await send({'type': 'http.response.start', 'status': ready[0], 'headers': headers})
            await send({'type': 'http.response.body', 'body': ready[2], 'more_body': False})
            return
        # What `Request.__init__` does, written out: this runs for every request that is not direct, and skipping
        # the call saves a tenth of the whole request (tests/test_pipeline.py keeps the two in step).
        request = _new_request(Request)
        request.scope = scope
        request.asgi_receive = receive
        request.asgi_send = send
        request._routed_path = path
        request._route = route
        if route is not None:
            request.path_variables = variables or {}
            request.route = route.pattern
        else:
            request.path_variables = None
            request.route = None
        if self.max_body_size != DEFAULT_MAX_BODY_SIZE:
            request.max_body_size = self.max_body_size
        try:
            if chain is not None:
                if method not in _NO_BODY_METHODS and route is not None and route.handler is not None:
                    # Middlewares may read `request.data`, so the (size-limited) body is read before them. Unknown
                    # paths skip this: their 404 never waits for a body. A refused body (413, 400) is remembered
                    # and raised again by the endpoint's pipeline, so every middleware sees that answer, the
                    # endpoint's own included (the admin panel renders it as a page).
                    with contextlib.suppress(APIError):
                        await request.read_body()
                response = await (chain.entry or chain.build())(request=request)
                if response is None:
                    logger.error('You forgot to return `response` on the `Middlewares.__call__()`')
                    response = Response(data={'detail': 'Internal Server Error'}, status_code=500)
            elif route is None or route.handler is None:
                _not_routed(route)
            elif route.cache_duration is not None and method == 'GET':
                # The cache-only variant: an in-memory hit is answered without entering the pipeline.
                hit = memory_hit(request, route.cache_duration)
                response = await route.handler(request) if hit is None or hit is REMOTE else hit
            else:
                response = await route.handler(request)
        except ClientDisconnected:
            return
        except Exception as exc:
            response = error_to_response(exc)
        if type(response) is Response and response._headers is None and response.cookies is None:
            # A JSON answer with default headers (what middlewares pass on most often) is sent from here.
            status = response.status_code
            data = response.data
            if 200 <= status < 300 and status != 204 and type(data) in PLAIN_TYPES:
                # What `_json_messages` does, inlined: this is the tail of every request through middlewares.
                try:
                    if data is None:
                        payload = b''
                    else:
                        payload = (
                            data if type(data) is bytes else _dumps(data, default=_json_default, option=_NON_STR_KEYS)
                        )
                except Exception as exc:
                    response = error_to_response(exc)
                else:
                    headers = [(b'Content-Length', str(len(payload)).encode()), _JSON_CONTENT_TYPE]
                    if cors is not None:
                        headers += cors.header_pairs(scope)
                    await send({'type': 'http.response.start', 'status': status, 'headers': headers})
                    await send(
                        {'type': 'http.response.body', 'body': b'' if method == 'HEAD' else payload, 'more_body': False}
                    )
                    return
        await self._send_finished(response, scope, receive, send)

    async def _send_finished(self, response: Response, scope: Scope, receive: Receive, send: Send) -> None:
        """Send a finished response, with the CORS headers when the entry applies them."""
        if self.cors is not None:
            self.cors.apply(scope, response)
        await send_response(response, scope, receive, send)


def _innermost(router: Router) -> Handler:
    """The innermost layer of the global middlewares: the endpoint's pipeline. Errors become responses here, so
    every middleware sees them. (A closure, not a method: the middleware calls it once per request.)"""

    async def dispatch(request: Request) -> Response:
        try:
            route: Route | None = request._route
            scope = request.scope
            path = scope['path']
            if path is not request._routed_path and path != request._routed_path:
                # A middleware rewrote the path: route again, as 5.x did (routing ran inside the middlewares).
                route, variables = router.resolve(path)
                request.path_variables = variables or {}
                request.route = route.pattern if route is not None else None
            if route is None:
                _not_routed(route)
            method = scope['method']
            # The direct variant, as the entry runs it; the middlewares get a `Response`.
            if method in route.bare_methods:  # only routes with a handler have bare methods
                result = await route.bare()  # type: ignore[misc]
            elif route.handler is None:
                _not_routed(route)
            elif (direct := route.direct) is not None and method in direct.methods:
                result = await direct.invoke(request.path_variables)
            else:
                return await route.handler(request)
            if type(result) in PLAIN_TYPES:
                # `Response(result)` without the call: its class defaults are what `__init__` sets for data alone
                # (tests/test_pipeline.py compares the two).
                response = _new_response(Response)
                response.data = result
                return response
            return await finish_result(result)
        except ClientDisconnected:
            raise
        except Exception as exc:
            return error_to_response(exc)

    return dispatch


def _not_routed(route: Route | None) -> NoReturn:
    if route is None or route.endpoint is None:
        raise NotFoundAPIError
    raise UpgradeRequiredError


async def send_response(response: Response, scope: Scope, receive: Receive, send: Send) -> None:
    head = scope['method'] == 'HEAD'
    try:
        if (
            type(response) is Response
            and response._headers is None
            and response.status_code < 300
            and response.cookies is None
            and response.status_code != 204
        ):
            # Plain JSON response with default headers: sent here to skip a coroutine per request.
            start, body = _json_messages(response.status_code, response.data, head)
            await send(start)
            await send(body)
        elif response.wants_scope:
            await response.send(send, receive, head=head, scope=scope)  # type: ignore[call-arg]
        elif (ready := response.ready_messages()) is not None:
            # Responses whose messages are already encoded (e.g. cache hits) skip their `send()`.
            await send({'type': 'http.response.start', 'status': ready[0], 'headers': ready[1]})
            await send({'type': 'http.response.body', 'body': b'' if head else ready[2], 'more_body': False})
        else:
            await response.send(send, receive, head=head)
    except Exception as exc:
        if getattr(response, '_started', False):
            # Too late for another answer: the status line is out.
            logger.error(f'Error while streaming the response: {exc}', exc_info=exc)
            return
        await error_to_response(exc).send(send, receive, head=head)
