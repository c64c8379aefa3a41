"""The request path (panther/_internal/pipeline.py): each compiled variant, one route lookup, middleware chains
built once per configuration."""

from __future__ import annotations

import sys
from datetime import timedelta
from typing import Any

import pytest

from panther import status
from panther._internal.pipeline import DirectCall, MiddlewareChain, keeps_request_state
from panther._internal.routing import Router
from panther.app import API, GenericAPI
from panther.configs import config
from panther.middlewares.base import HTTPMiddleware
from panther.middlewares.cors import CORSMiddleware
from panther.request import Request
from panther.response import Response
from panther.test import APIClient
from tests._core_helpers import make_app


@API()
async def hello() -> dict[str, str]:
    return {'hello': 'world'}


@API()
async def item(item_id: int) -> dict[str, int]:
    return {'id': item_id}


@API()
async def pair(a: str, b: str) -> dict[str, str]:
    return {'a': a, 'b': b}


@API(methods=['GET', 'POST'])
async def echo(request: Request) -> Any:
    return request.data if request.method == 'POST' else {'method': request.method}


@API(cache=timedelta(minutes=1))
async def cached(request: Request) -> dict[str, int]:
    cached.calls += 1  # type: ignore[attr-defined]
    return {'calls': cached.calls}  # type: ignore[attr-defined]


cached.calls = 0  # type: ignore[attr-defined]


async def allow_all(request: Request) -> bool:
    return True


@API(permissions=[allow_all])
async def guarded(item_id: int) -> dict[str, int]:
    return {'id': item_id}


class Things(GenericAPI):
    async def get(self, thing_id: int) -> dict[str, int]:
        return {'thing': thing_id}


URLS = {
    'hello': hello,
    'items/<item_id>': item,
    'pairs/<a>/<b>': pair,
    'echo': echo,
    'cached': cached,
    'guarded/<item_id>': guarded,
    'things/<thing_id>': Things,
}


def route_of(app: Any, path: str) -> Any:
    route, _ = app.router.resolve(path)
    return route


# --- which variant each endpoint compiles to ----------------------------------------------------------------------


def test_each_endpoint_compiles_to_the_smallest_variant() -> None:
    app = make_app(URLS)
    direct = route_of(app, '/hello').direct
    assert isinstance(direct, DirectCall)
    assert (direct.name, direct.methods) == (None, frozenset({'GET'}))
    single = route_of(app, '/items/1').direct
    assert isinstance(single, DirectCall)
    assert single.name == 'item_id'
    assert single.convert is int
    # Two variables, the request, a cache, a permission, a class: no direct call.
    for path in ('/pairs/x/y', '/echo', '/cached', '/guarded/1', '/things/1'):
        assert route_of(app, path).direct is None, path
    assert route_of(app, '/cached').cache_duration == timedelta(minutes=1)
    assert route_of(app, '/guarded/1').cache_duration is None


@pytest.mark.parametrize(
    'names',
    [[], ['CORSMiddleware'], ['Passing'], ['Passing', 'CORSMiddleware']],
    ids=['entry', 'entry-with-cors', 'through-a-middleware', 'through-middlewares-with-cors'],
)
async def test_every_variant_answers_the_same_with_and_without_global_middlewares(names: list[str]) -> None:
    client = APIClient(make_app(URLS, MIDDLEWARES=[globals()[name] for name in names]))
    # direct (the entry calls the handler, or the plain variant does behind middlewares)
    assert (await client.get('/hello')).data == {'hello': 'world'}
    assert (await client.get('/items/7')).data == {'id': 7}
    bad = await client.get('/items/seven')
    assert (bad.status_code, bad.data) == (400, {'detail': 'Path variable `seven` is not `int`'})
    head = await client.head('/items/7')
    assert (head.status_code, head.body) == (200, b'')
    # plain
    assert (await client.get('/pairs/x/y')).data == {'a': 'x', 'b': 'y'}
    assert (await client.post('/echo', payload={'k': 'v'})).data == {'k': 'v'}
    assert (await client.get('/echo')).data == {'method': 'GET'}
    not_allowed = await client.put('/echo')
    assert not_allowed.status_code == status.HTTP_405_METHOD_NOT_ALLOWED
    assert not_allowed.headers['Allow'] == 'GET, POST, HEAD, OPTIONS'
    # cache-only: the second GET is a hit
    cached.calls = 0  # type: ignore[attr-defined]
    assert (await client.get('/cached')).data == {'calls': 1}
    assert (await client.get('/cached')).data == {'calls': 1}
    # full
    assert (await client.get('/guarded/3')).data == {'id': 3}
    assert (await client.get('/guarded/x')).status_code == 400
    # class endpoint
    assert (await client.get('/things/4')).data == {'thing': 4}
    assert (await client.post('/things/4')).status_code == 405
    # not routed
    assert (await client.get('/nowhere')).status_code == 404


async def test_a_request_built_by_the_entry_is_what_request_init_builds() -> None:
    """The entry sets a `Request`'s attributes itself instead of calling `__init__` (see `HTTPEntry.__call__`):
    both must leave every slot in the same state."""
    seen: list[Request] = []

    @API()
    async def capture(request: Request) -> dict[str, str]:
        seen.append(request)
        return {}

    @API()
    async def capture_variable(request: Request, name: str) -> dict[str, str]:
        seen.append(request)
        return {}

    client = APIClient(make_app({'capture': capture, 'capture/<name>': capture_variable}))
    await client.get('/capture')
    await client.get('/capture/x')
    slots = {name for klass in Request.__mro__ for name in getattr(klass, '__slots__', ()) if name != '__dict__'}
    for built, variables, pattern in zip(seen, ({}, {'name': 'x'}), ('capture', 'capture/<name>'), strict=True):
        expected = Request(built.scope, built.asgi_receive, built.asgi_send)
        expected.path_variables, expected.route = variables, pattern
        assert {name for name in slots if hasattr(built, name)} == {name for name in slots if hasattr(expected, name)}
        for name in ('scope', 'asgi_receive', 'asgi_send', 'path_variables', 'route', 'max_body_size', 'user'):
            assert getattr(built, name) == getattr(expected, name), name
        assert vars(built) == vars(expected) == {}


async def test_the_response_middlewares_get_from_a_direct_handler_is_a_plain_response() -> None:
    """The innermost layer builds `Response(data)` without calling `Response.__init__`: the same object."""
    seen: list[Response] = []

    class Capturing(HTTPMiddleware):
        async def __call__(self, request: Request) -> Response:
            response = await self.dispatch(request=request)
            seen.append(response)
            return response

    client = APIClient(make_app(URLS, MIDDLEWARES=[Capturing]))
    assert (await client.get('/hello')).data == {'hello': 'world'}
    built, expected = seen[0], Response({'hello': 'world'})
    assert type(built) is Response
    for name in ('data', 'status_code', 'pagination', 'cookies', 'headers', 'body', 'bytes_headers'):
        assert getattr(built, name) == getattr(expected, name), name
    built.headers['X-Extra'] = '1'  # what a middleware may do: the class defaults are not shared state
    assert 'X-Extra' not in Response({}).headers


async def test_options_is_answered_by_the_pipeline() -> None:
    client = APIClient(make_app(URLS))
    response = await client.options('/guarded/1')
    assert (response.status_code, response.headers['Allow']) == (204, 'GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS')
    response = await client.options('/echo')  # the plain variant hands OPTIONS to the full one
    assert (response.status_code, response.headers['Allow']) == (204, 'GET, POST, HEAD, OPTIONS')


def test_direct_call_converts_its_variable() -> None:
    async def handler(value: int) -> int:
        return value

    call = DirectCall(handler, frozenset({'GET'}), 'value', int, int)
    with pytest.raises(Exception, match='Path variable `x` is not `int`'):
        call.invoke({'value': 'x'})
    coroutine = call.invoke({'value': '5'})
    coroutine.close()


# --- one route lookup, middleware chains built once ----------------------------------------------------------------


class Passing(HTTPMiddleware):
    async def __call__(self, request: Request) -> Response:
        return await self.dispatch(request=request)


class KeepsState(HTTPMiddleware):
    async def __call__(self, request: Request) -> Response:
        self.seen = request.path
        return await self.dispatch(request=request)


class OwnInit(HTTPMiddleware):
    def __init__(self, dispatch: Any) -> None:
        super().__init__(dispatch)


class ChangesRequestOnly(HTTPMiddleware):
    async def __call__(self, request: Request) -> Response:
        request.marker = 'set'
        del request.marker
        return await self.dispatch(request=request)


def test_which_middlewares_keep_per_request_state() -> None:
    assert keeps_request_state(Passing) is False
    assert keeps_request_state(ChangesRequestOnly) is False
    assert keeps_request_state(CORSMiddleware) is False
    assert keeps_request_state(KeepsState) is True
    assert keeps_request_state(OwnInit) is True

    class SubclassOfStateful(KeepsState):
        pass

    assert keeps_request_state(SubclassOfStateful) is True


async def test_shared_middlewares_are_built_once_per_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[type] = []
    original = HTTPMiddleware.__init__

    def counting_init(self: HTTPMiddleware, dispatch: Any) -> None:
        built.append(type(self))
        original(self, dispatch)

    monkeypatch.setattr(HTTPMiddleware, '__init__', counting_init)
    client = APIClient(make_app(URLS, MIDDLEWARES=[Passing, CORSMiddleware]))
    built.clear()
    for _ in range(3):
        assert (await client.get('/hello')).status_code == 200
    assert built == []
    config.ALLOW_ORIGINS = ['https://a.example']  # a CORS setting changed: the chain is built again, once
    for _ in range(2):
        response = await client.get('/hello', headers={'Origin': 'https://a.example'})
        assert response.headers['Access-Control-Allow-Origin'] == 'https://a.example'
    assert sorted(cls.__name__ for cls in built) == ['CORSMiddleware', 'Passing']


async def test_a_middleware_that_keeps_state_gets_an_instance_per_request() -> None:
    instances: list[HTTPMiddleware] = []

    class Remembering(HTTPMiddleware):
        async def __call__(self, request: Request) -> Response:
            self.request = request
            instances.append(self)
            return await self.dispatch(request=request)

    client = APIClient(make_app(URLS, MIDDLEWARES=[Remembering]))
    responses = [await client.get('/hello') for _ in range(3)]
    assert all(response.status_code == 200 for response in responses)
    assert len({id(instance) for instance in instances}) == 3  # the list keeps them alive: ids cannot repeat


async def test_one_route_lookup_per_request_with_middlewares(monkeypatch: pytest.MonkeyPatch) -> None:
    lookups: list[str] = []
    for name in ('resolve', 'resolve_dynamic', 'match'):
        original = getattr(Router, name)

        def counting(self: Router, path: Any, _original: Any = original, _name: str = name) -> Any:
            lookups.append(_name)
            return _original(self, path)

        monkeypatch.setattr(Router, name, counting)
    client = APIClient(make_app(URLS, MIDDLEWARES=[Passing]))
    assert (await client.get('/items/3')).data == {'id': 3}
    assert lookups == ['resolve_dynamic']


async def test_a_middleware_that_rewrites_the_path_is_routed_again() -> None:
    class Prefix(HTTPMiddleware):
        async def __call__(self, request: Request) -> Response:
            path = request.scope['path']
            if path.startswith('/v1/'):
                request.scope['path'] = path[3:]
            return await self.dispatch(request=request)

    client = APIClient(make_app(URLS, MIDDLEWARES=[Prefix]))
    response = await client.get('/v1/items/9')
    assert (response.status_code, response.data) == (200, {'id': 9})


async def test_an_error_inside_the_chain_reaches_outer_middlewares_as_a_response() -> None:
    seen: list[int] = []

    class Outer(HTTPMiddleware):
        async def __call__(self, request: Request) -> Response:
            response = await self.dispatch(request=request)
            seen.append(response.status_code)
            return response

    class Raising(HTTPMiddleware):
        async def __call__(self, request: Request) -> Response:
            raise RuntimeError('boom')

    async def endpoint(request: Request) -> Response:
        return Response(data='unreached')

    chain = MiddlewareChain([Raising, Outer], endpoint, lambda cls, nxt: cls(dispatch=nxt))  # innermost first
    assert chain.entry is not None
    response = await chain(object())
    assert (response.status_code, seen) == (500, [500])


async def test_middlewares_add_few_python_calls_to_a_plain_get() -> None:
    plain = make_app(URLS)
    cors = make_app(URLS, MIDDLEWARES=[CORSMiddleware])

    async def calls_of(app: Any) -> int:
        client = APIClient(app)
        await client.get('/hello')  # builds what is built lazily
        count = 0

        def profile(frame: Any, event: str, arg: Any) -> None:
            nonlocal count
            if event == 'call' and 'panther' in frame.f_code.co_filename and '/test' not in frame.f_code.co_filename:
                count += 1

        sys.setprofile(profile)
        try:
            await app(
                {'type': 'http', 'method': 'GET', 'path': '/hello', 'headers': [(b'origin', b'https://x.example')],
                 'query_string': b'', 'client': ('127.0.0.1', 1), 'server': ('testserver', 80), 'scheme': 'http',
                 'http_version': '1.1', 'root_path': ''},
                _receive,
                _discard,
            )  # fmt: skip
        finally:
            sys.setprofile(None)
        return count

    passing = make_app(URLS, MIDDLEWARES=[Passing])
    without, with_cors, with_passing = await calls_of(plain), await calls_of(cors), await calls_of(passing)
    # The entry, the handler (and `_json_messages`); CORS outermost adds its header lookup. A pass-through
    # middleware adds itself and the innermost layer. (5.x-style code paths made 37 calls with CORS.)
    assert without <= 3
    assert with_cors <= 6
    assert with_passing <= without + 3


async def _receive() -> dict[str, Any]:
    return {'type': 'http.request', 'body': b'', 'more_body': False}


async def _discard(message: dict[str, Any]) -> None:
    return None


# --- WebSockets share the admission step and build their middleware chain once --------------------------------------


async def test_websocket_middlewares_are_built_once_and_sockets_use_the_http_admission_step() -> None:
    from panther.middlewares.base import WebsocketMiddleware
    from panther.test import WebsocketClient
    from panther.websocket import GenericWebsocket

    built: list[int] = []
    checked: list[str] = []

    class Tagging(WebsocketMiddleware):
        async def __call__(self, connection: Any) -> Any:
            built.append(id(self))
            return await self.dispatch(connection=connection)

    async def only_alice(request: Any) -> bool:
        checked.append(type(request).__name__)
        return request.query_params.get('name') == 'alice'

    class Room(GenericWebsocket):
        permissions = [only_alice]

        async def connect(self) -> None:
            await self.accept()
            await self.send('in')

    app = make_app({'room': Room}, WS_MIDDLEWARES=[Tagging])
    for _ in range(2):
        async with WebsocketClient(app).session('/room', query_params={'name': 'alice'}) as ws:
            assert await ws.receive_text() == 'in'
    async with WebsocketClient(app).session('/room', query_params={'name': 'bob'}) as ws:
        assert not ws.accepted
        assert (ws.response.status_code, ws.response.data) == (403, {'detail': 'Permission Denied'})
    assert len(set(built)) == 1 and len(built) == 3
    assert checked == ['Room', 'Room', 'Room']


@API()
async def unserialisable() -> dict[str, Any]:
    return {'value': object()}


@pytest.mark.parametrize('middlewares', [[], [Passing]], ids=['entry', 'through-middlewares'])
async def test_data_that_cannot_be_rendered_is_a_500_on_every_path(
    middlewares: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    client = APIClient(make_app({'bad': unserialisable}, MIDDLEWARES=middlewares))
    with caplog.at_level('ERROR', logger='panther'):
        response = await client.get('/bad')
    assert (response.status_code, response.data) == (500, {'detail': 'Internal Server Error'})
