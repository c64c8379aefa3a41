"""The steps of the endpoint pipeline (panther/_internal/pipeline.py): methods, authentication, permissions,
throttling, input validation, endpoint middlewares, concurrency."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import BaseModel

from panther import status
from panther.app import API, GenericAPI
from panther.configs import config
from panther.exceptions import APIError, AuthenticationAPIError, ThrottlingAPIError
from panther.middlewares import HTTPMiddleware
from panther.request import Request
from panther.response import Response
from panther.test import APIClient
from tests._core_helpers import ALL_ALLOW, make_app, raises_logged


class Item(BaseModel):
    name: str
    price: float = 0


class NoCall:
    pass


# Methods: 405 with Allow, HEAD, OPTIONS (issue 3)


@API(methods=['GET', 'POST'])
async def get_post(request: Request):
    return {'method': request.method}


@API(methods=['POST'])
async def post_only():
    return {'posted': True}


@API()
async def all_methods(request: Request):
    return {'method': request.method}


class OnlyGetAndDelete(GenericAPI):
    def get(self):
        return {'got': True}

    async def delete(self):
        return None


class NoMethods(GenericAPI):
    pass


@pytest.fixture
def methods_client() -> APIClient:
    urls = {'gp': get_post, 'post': post_only, 'all': all_methods, 'gd': OnlyGetAndDelete, 'none': NoMethods}
    return APIClient(make_app(urls))


@pytest.mark.parametrize(
    ('method', 'path', 'allow'),
    [
        ('PUT', '/gp', 'GET, POST, HEAD, OPTIONS'),
        ('DELETE', '/gp', 'GET, POST, HEAD, OPTIONS'),
        ('GET', '/post', 'POST, OPTIONS'),
        ('TRACE', '/all', ALL_ALLOW),
        ('POST', '/gd', 'GET, DELETE, HEAD, OPTIONS'),
        ('PATCH', '/gd', 'GET, DELETE, HEAD, OPTIONS'),
        ('GET', '/none', 'OPTIONS'),
    ],
)
async def test_method_not_allowed_has_allow(methods_client: APIClient, method: str, path: str, allow: str) -> None:
    res = await methods_client.request(method, path)
    assert res.status_code == 405
    assert res.data == {'detail': 'Method Not Allowed'}
    assert res.headers == {'Content-Length': '31', 'Content-Type': 'application/json', 'Allow': allow}


async def test_head_on_a_post_only_endpoint_is_405_without_body(methods_client: APIClient) -> None:
    res = await methods_client.head('/post')
    assert res.status_code == 405
    assert res.raw_body == b''
    assert res.headers == {'Content-Length': '31', 'Content-Type': 'application/json', 'Allow': 'POST, OPTIONS'}


@pytest.mark.parametrize(
    ('path', 'allow'),
    [('/gp', 'GET, POST, HEAD, OPTIONS'), ('/post', 'POST, OPTIONS'), ('/all', ALL_ALLOW),
     ('/gd', 'GET, DELETE, HEAD, OPTIONS')],
)  # fmt: skip
async def test_options_answers_204_with_allow(methods_client: APIClient, path: str, allow: str) -> None:
    res = await methods_client.options(path)
    assert res.status_code == 204
    assert res.raw_body == b''
    assert res.headers['Allow'] == allow


@pytest.mark.parametrize('path', ['/gp', '/gd'])
async def test_head_runs_get_without_a_body(methods_client: APIClient, path: str) -> None:
    get = await methods_client.get(path)
    head = await methods_client.head(path)
    assert head.status_code == 200
    assert head.raw_body == b''
    assert head.headers['Content-Type'] == 'application/json'
    assert int(head.headers['Content-Length']) > 0
    assert get.status_code == 200


async def test_allowed_methods_reach_the_handler(methods_client: APIClient) -> None:
    for method in ('GET', 'POST', 'PUT', 'PATCH', 'DELETE'):
        res = await methods_client.request(method, '/all')
        assert (res.status_code, res.data) == (200, {'method': method})


# Authentication, permissions, throttling, input validation (SPEC §5.4)


async def user_from_header(request: Request):
    token = request.headers.authorization
    if token == 'bad':
        raise AuthenticationAPIError
    return {'name': token} if token else None


class ClassAuth:
    instances = 0

    def __init__(self) -> None:
        type(self).instances += 1

    async def __call__(self, request: Request):
        return 'from-class'


async def needs_user(request: Request):
    return request.user is not None


async def returns_none(request: Request):
    return None


class RaisesCustom:
    async def __call__(self, request: Request):
        raise APIError(detail='custom denial', status_code=status.HTTP_403_FORBIDDEN)


@API(auth=user_from_header, permissions=[needs_user])
async def protected(request: Request):
    return {'user': request.user}


async def only_bob(request: Request):
    return request.user is not None and request.user['name'] == 'bob'


@API(auth=user_from_header, permissions=[only_bob])
async def bobs_page(request: Request):
    return {'user': request.user}


@API(auth=ClassAuth)
async def class_auth(request: Request):
    return {'user': request.user}


@API(permissions=returns_none)
async def none_permission():
    return {'reached': True}


@API(permissions=[RaisesCustom])
async def custom_permission():
    return {'reached': True}


@API()
async def default_auth(request: Request):
    return {'user': request.user}


class Throttle:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.seen = 0

    async def check_and_increment(self, request: Request):
        self.seen += 1
        if self.seen > self.limit:
            raise ThrottlingAPIError(headers={'Retry-After': '60'})
        return {'RateLimit-Remaining': str(self.limit - self.seen)}


@API(throttling=Throttle(limit=1))
async def throttled():
    return {'ok': True}


@API(input_model=Item)
async def create_item(request: Request):
    return Response(data={'validated': request.validated_data.model_dump(), 'raw': request.data}, status_code=201)


class ItemView(GenericAPI):
    input_model = Item

    async def get(self, request: Request):
        return {'validated': request.validated_data}

    async def put(self, request: Request):
        return request.validated_data


@pytest.fixture
def pipeline_client() -> APIClient:
    urls = {
        'protected': protected,
        'bobs-page': bobs_page,
        'class-auth': class_auth,
        'none-permission': none_permission,
        'custom-permission': custom_permission,
        'default-auth': default_auth,
        'throttled': throttled,
        'items': create_item,
        'item-view': ItemView,
    }
    return APIClient(make_app(urls))


async def test_auth_sets_user(pipeline_client: APIClient) -> None:
    res = await pipeline_client.get('/protected', headers={'Authorization': 'alice'})
    assert (res.status_code, res.data) == (200, {'user': {'name': 'alice'}})


async def test_permission_refusing_an_anonymous_request_asks_for_credentials(pipeline_client: APIClient) -> None:
    # 5.x answered 403: nobody is logged in, so 401 with a challenge (RFC 7235), as DRF does.
    for path in ('/protected', '/bobs-page'):
        res = await pipeline_client.get(path)
        assert (res.status_code, res.data) == (401, {'detail': 'Authentication Error'})
        assert res.headers['WWW-Authenticate'] == 'Bearer'


async def test_permission_refusing_a_known_user_stays_403(pipeline_client: APIClient) -> None:
    res = await pipeline_client.get('/bobs-page', headers={'Authorization': 'alice'})
    assert (res.status_code, res.data) == (403, {'detail': 'Permission Denied'})
    assert 'WWW-Authenticate' not in res.headers
    res = await pipeline_client.get('/bobs-page', headers={'Authorization': 'bob'})
    assert (res.status_code, res.data) == (200, {'user': {'name': 'bob'}})


async def test_authentication_error_is_401(pipeline_client: APIClient) -> None:
    res = await pipeline_client.get('/protected', headers={'Authorization': 'bad'})
    assert (res.status_code, res.data) == (401, {'detail': 'Authentication Error'})


async def test_auth_class_is_instantiated_per_request(pipeline_client: APIClient) -> None:
    before = ClassAuth.instances
    for _ in range(2):
        assert (await pipeline_client.get('/class-auth')).data == {'user': 'from-class'}
    assert ClassAuth.instances == before + 2


async def test_permission_returning_none_denies(pipeline_client: APIClient) -> None:
    # DESIGN §1: only a truthy result grants access.
    assert (await pipeline_client.get('/none-permission')).status_code == 403


async def test_permission_may_raise_its_own_error(pipeline_client: APIClient) -> None:
    res = await pipeline_client.get('/custom-permission')
    assert (res.status_code, res.data) == (403, {'detail': 'custom denial'})


async def test_config_authentication_is_the_default() -> None:
    app = make_app({'default-auth': default_auth}, AUTHENTICATION='tests.test_pipeline_steps.ClassAuth')
    assert config.AUTHENTICATION is ClassAuth
    assert (await APIClient(app).get('/default-auth')).data == {'user': 'from-class'}


async def test_throttling_headers_and_429(pipeline_client: APIClient) -> None:
    first = await pipeline_client.get('/throttled')
    assert first.status_code == 200
    assert first.headers['RateLimit-Remaining'] == '0'
    second = await pipeline_client.get('/throttled')
    assert (second.status_code, second.data) == (429, {'detail': 'Too Many Request'})
    assert second.headers['Retry-After'] == '60'


async def test_input_model_validates_body(pipeline_client: APIClient) -> None:
    res = await pipeline_client.post('/items', payload={'name': 'pen', 'price': '2.5'})
    assert res.status_code == 201
    assert res.data == {'validated': {'name': 'pen', 'price': 2.5}, 'raw': {'name': 'pen', 'price': '2.5'}}


async def test_input_model_errors(pipeline_client: APIClient) -> None:
    res = await pipeline_client.post('/items', payload={'price': 'cheap'})
    assert res.status_code == 400
    assert res.data == {
        'name': 'Field required',
        'price': 'Input should be a valid number, unable to parse string as a number',
    }


@pytest.mark.parametrize('payload', [[1, 2], [{'name': 'pen'}], 'text', 5])
async def test_non_object_json_body_is_400(pipeline_client: APIClient, payload) -> None:
    res = await pipeline_client.post('/items', payload=payload)
    assert res.status_code == 400
    assert set(res.data) == {'detail'}


async def test_malformed_json_is_400(pipeline_client: APIClient) -> None:
    res = await pipeline_client.post('/items', payload=b'{"name": ')
    assert res.status_code == 400
    assert res.data['detail'].startswith('Invalid JSON body')


async def test_null_body_is_required(pipeline_client: APIClient) -> None:
    res = await pipeline_client.post('/items', payload=b'null')
    assert (res.status_code, res.data) == (400, {'detail': 'Request body is required'})


async def test_input_model_only_for_body_methods(pipeline_client: APIClient) -> None:
    assert (await pipeline_client.get('/item-view')).data == {'validated': None}
    res = await pipeline_client.put('/item-view', payload={'name': 'x'})
    assert res.data == {'name': 'x', 'price': 0.0}


# Per-endpoint middlewares (SPEC §20.3)


def _recording(name: str, before: bool = True, after: bool = True) -> type[HTTPMiddleware]:
    async def __call__(self, request: Request):
        if before:
            request.calls.append(name)
        response = await self.dispatch(request=request)
        if after:
            request.calls.append(name)
        return response

    return type(name, (HTTPMiddleware,), {'__call__': __call__})


class Start(HTTPMiddleware):
    async def __call__(self, request: Request):
        request.calls = []
        response = await self.dispatch(request=request)
        response.data = request.calls
        return response


Before1 = _recording('Before1', after=False)
Before2 = _recording('Before2', after=False)
After1 = _recording('After1', before=False)
After2 = _recording('After2', before=False)
After3 = _recording('After3', before=False)
My = _recording('My')
P1 = _recording('P1')
P2 = _recording('P2')


@API(middlewares=[P1, P2])
async def with_middlewares(request: Request):
    request.calls.append('FunctionCall')
    return {}


@API(methods=['POST'], middlewares=[P1])
async def with_middleware_post_only(request: Request):
    request.calls.append('FunctionCall')


@API(middlewares=[P1])
async def failing_with_middleware(request: Request):
    request.calls.append('FunctionCall')
    raise APIError(detail='nope', status_code=409)


class ClassWithMiddlewares(GenericAPI):
    middlewares = [P2, P1]

    async def get(self, request: Request):
        request.calls.append('ClassCall')


async def test_spec_middleware_ordering_example() -> None:
    app = make_app({'f': with_middlewares}, MIDDLEWARES=[Start, Before2, After3, My, Before1, After1, After2, My])
    res = await APIClient(app).get('/f')
    assert res.data == [
        'Before2', 'My', 'Before1', 'My', 'P1', 'P2', 'FunctionCall', 'P2', 'P1', 'My', 'After2', 'After1', 'My',
        'After3',
    ]  # fmt: skip


async def test_endpoint_middlewares_wrap_method_check_and_errors() -> None:
    urls = {'post': with_middleware_post_only, 'fail': failing_with_middleware, 'cls': ClassWithMiddlewares}
    client = APIClient(make_app(urls, MIDDLEWARES=[Start]))
    res = await client.get('/post')
    assert res.status_code == 405
    assert res.headers['Allow'] == 'POST, OPTIONS'
    assert res.data == ['P1', 'P1']
    res = await client.get('/fail')
    assert res.status_code == 409
    assert res.data == ['P1', 'FunctionCall', 'P1']
    res = await client.get('/cls')
    assert res.data == ['P2', 'P1', 'ClassCall', 'P1', 'P2']


async def test_endpoint_middlewares_do_not_run_for_other_routes() -> None:
    client = APIClient(make_app({'f': with_middlewares, 'plain': default_auth}, MIDDLEWARES=[Start]))
    assert (await client.get('/plain')).data == []


def test_endpoint_middlewares_must_be_http_middlewares(caplog: pytest.LogCaptureFixture) -> None:
    message = raises_logged(caplog, lambda: API(middlewares=[NoCall]))
    assert 'HTTPMiddleware' in message


# Concurrency (SPEC §31.1)


class Rendezvous:
    """Holds each request in authentication until all the expected ones are there, so they surely overlap."""

    def __init__(self) -> None:
        self.expect(0)

    def expect(self, count: int) -> None:
        self.expected, self.arrived, self.all_here = count, 0, asyncio.Event()

    async def wait(self) -> None:
        self.arrived += 1
        if self.arrived >= self.expected:
            self.all_here.set()
        await self.all_here.wait()


rendezvous = Rendezvous()


async def slow_auth(request: Request):
    await rendezvous.wait()
    return request.headers['x-user']


async def slow_permission(request: Request):
    await asyncio.sleep(0)  # let the other requests run in between
    return request.user is not None


@API(auth=slow_auth, permissions=[slow_permission])
async def whoami(request: Request):
    await asyncio.sleep(0)
    return {'user': request.user, 'query': request.query_params}


class WhoAmIView(GenericAPI):
    auth = slow_auth

    async def get(self, request: Request, tag: str):
        await asyncio.sleep(0)
        return {'user': request.user, 'query': request.query_params, 'tag': tag}


async def test_overlapping_requests_to_one_function_endpoint_keep_their_own_state() -> None:
    client = APIClient(make_app({'whoami': whoami}))
    count = 6
    rendezvous.expect(count)
    responses = await asyncio.gather(
        *(client.get('/whoami', headers={'x-user': f'user{i}'}, query_params={'n': str(i)}) for i in range(count))
    )
    assert [(r.status_code, r.data) for r in responses] == [
        (200, {'user': f'user{i}', 'query': {'n': str(i)}}) for i in range(count)
    ]


async def test_overlapping_requests_to_one_class_endpoint_keep_their_own_state() -> None:
    client = APIClient(make_app({'who/<tag>': WhoAmIView}))
    rendezvous.expect(3)
    responses = await asyncio.gather(
        *(client.get(f'/who/t{i}', headers={'x-user': f'u{i}'}, query_params={'n': str(i)}) for i in range(3))
    )
    assert [r.data for r in responses] == [{'user': f'u{i}', 'query': {'n': str(i)}, 'tag': f't{i}'} for i in range(3)]
