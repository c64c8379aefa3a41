from __future__ import annotations

import asyncio
import datetime
import logging
import threading
from decimal import Decimal
from typing import Optional
from uuid import UUID

import pytest
from pydantic import BaseModel, Field

from panther import Panther, status
from panther.app import API, GenericAPI
from panther.configs import config
from panther.exceptions import APIError, AuthenticationAPIError, PantherError, ThrottlingAPIError
from panther.middlewares import HTTPMiddleware
from panther.request import Request
from panther.response import Response
from panther.test import APIClient
from tests._core_helpers import RawCall, make_app
from tests._string_annotations import TypedClass, typed_function
from tests._type_checking_annotations import type_checking_only

ALL_ALLOW = 'GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS'


def error_messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]


def raises_logged(caplog: pytest.LogCaptureFixture, build) -> str:
    """Run `build()`, which must raise PantherError; check the same message was logged at ERROR once."""
    caplog.clear()
    with caplog.at_level(logging.DEBUG), pytest.raises(PantherError) as info:
        build()
    message = info.value.args[0]
    assert error_messages(caplog) == [message]
    return message


# Options validation (SPEC §5.1)


async def auth_ok(request):
    return 'user'


async def two_params(request, extra):
    return None


def sync_auth(request):
    return None


class AuthClass:
    async def __call__(self, request):
        return 'class-user'


class NoCall:
    pass


class WrongArity:
    async def __call__(self, request, extra):
        return None


class SyncCall:
    def __call__(self, request):
        return None


class NotFunctionCall:
    __call__ = 5


@pytest.mark.parametrize(
    ('auth', 'message'),
    [
        (
            True,
            '`bool` is not valid for authentication, it should be a callable, a Class with __call__ method or a '
            'single function.',
        ),
        (
            NoCall(),
            '`NoCall` is not valid for authentication, it should be a callable, a Class with __call__ method or a '
            'single function.',
        ),
        (NotFunctionCall, 'NotFunctionCall must implement __call__() method.'),
        (WrongArity, 'WrongArity.__call__() requires 2 positional argument(s) (self, request).'),
        (two_params, 'two_params() requires 1 positional argument(s) (request).'),
        (SyncCall, 'SyncCall.__call__() should be `async`'),
        (sync_auth, 'sync_auth() should be `async`'),
    ],
)
def test_invalid_auth(caplog: pytest.LogCaptureFixture, auth, message: str) -> None:
    assert raises_logged(caplog, lambda: API(auth=auth)) == message


@pytest.mark.parametrize(
    ('permission', 'message'),
    [
        (
            1,
            '`int` is not valid for permission, it should be a callable, a Class with __call__ method or a '
            'single function.',
        ),
        (NotFunctionCall, 'NotFunctionCall must implement __call__() method.'),
        (WrongArity, 'WrongArity.__call__() requires 2 positional argument(s) (self, request).'),
        (two_params, 'two_params() requires 1 positional argument(s) (request).'),
    ],
)
def test_invalid_permission(caplog: pytest.LogCaptureFixture, permission, message: str) -> None:
    assert raises_logged(caplog, lambda: API(permissions=[permission])) == message
    assert raises_logged(caplog, lambda: API(permissions=permission)) == message


def test_auth_is_checked_before_permissions(caplog: pytest.LogCaptureFixture) -> None:
    message = raises_logged(caplog, lambda: API(auth=True, permissions=[1]))
    assert message.startswith('`bool` is not valid for authentication')


def test_removed_cache_exp_time(caplog: pytest.LogCaptureFixture) -> None:
    message = raises_logged(caplog, lambda: API(cache_exp_time=10))
    assert 'The `cache_exp_time` argument has been removed in Panther v5 and is no longer available.' in message
    assert 'You may want to use `cache` instead.' in message


def test_cache_must_be_a_timedelta(caplog: pytest.LogCaptureFixture) -> None:
    message = raises_logged(caplog, lambda: API(cache=10))
    assert (
        'The `cache` argument has been changed in Panther v5, it should be an instance of `datetime.timedelta()`.'
        in message
    )


def test_unknown_kwargs(caplog: pytest.LogCaptureFixture) -> None:
    assert raises_logged(caplog, lambda: API(foo=1, bar=2)) == "Unknown kwargs: dict_keys(['foo', 'bar'])"


def test_permissions_checked_before_unknown_kwargs(caplog: pytest.LogCaptureFixture) -> None:
    assert raises_logged(caplog, lambda: API(permissions=[1], foo=1)).startswith('`int` is not valid for permission')


def test_valid_auth_values_are_accepted() -> None:
    for auth in (auth_ok, AuthClass, AuthClass()):
        assert API(auth=auth).options.auth is auth


def test_generic_api_is_validated_at_class_creation(caplog: pytest.LogCaptureFixture) -> None:
    def build() -> None:
        class Broken(GenericAPI):
            auth = True

    assert raises_logged(caplog, build).startswith('`bool` is not valid for authentication')

    def build_cache() -> None:
        class BrokenCache(GenericAPI):
            cache = 5

    assert 'should be an instance of `datetime.timedelta()`' in raises_logged(caplog, build_cache)


def test_generic_api_wraps_a_single_permission() -> None:
    class Single(GenericAPI):
        permissions = AuthClass

    assert Single.permissions == [AuthClass]


def test_generic_api_defaults() -> None:
    for name in ('input_model', 'output_model', 'output_schema', 'auth', 'permissions', 'throttling', 'cache',
                 'middlewares'):  # fmt: skip
        assert getattr(GenericAPI, name) is None
    assert not hasattr(GenericAPI, 'methods')


class Item(BaseModel):
    name: str
    price: float = 0


def test_decorator_keeps_identity_and_exposes_options() -> None:
    @API(methods=['get', 'Post'], input_model=Item, permissions=AuthClass, cache=datetime.timedelta(seconds=5))
    async def documented(request: Request):
        """Docstring."""

    assert documented.__name__ == 'documented'
    assert documented.__doc__ == 'Docstring.'
    assert documented.__module__ == __name__
    assert asyncio.iscoroutinefunction(documented.__wrapped__)
    assert documented.methods == {'GET', 'POST'}
    assert documented.input_model is Item
    assert documented.output_model is None
    assert documented.permissions == [AuthClass]
    assert documented.cache == datetime.timedelta(seconds=5)
    assert documented.middlewares is None
    assert documented.auth is None


def test_default_methods_are_the_five() -> None:
    @API()
    def anything():
        return None

    assert anything.methods == {'GET', 'POST', 'PUT', 'PATCH', 'DELETE'}


def test_head_and_options_may_be_listed_in_methods() -> None:
    @API(methods=('get', 'HEAD', 'options'))
    async def listed():
        return None

    assert listed.methods == {'GET', 'HEAD', 'OPTIONS'}


@pytest.mark.parametrize(
    ('methods', 'message'),
    [
        (['GET', 'FETCH'], '`FETCH` is not a valid HTTP method in `methods`; use GET, POST, PUT, PATCH, DELETE'),
        (['TRACE'], '`TRACE` is not a valid HTTP method'),
        (['GET '], '`GET ` is not a valid HTTP method'),
        ([1], '`1` is not a valid HTTP method'),
        ('GET', "`methods` should be a list of HTTP method names, not 'GET'."),
    ],
)
def test_unknown_methods_are_refused_at_declaration(
    methods: object, message: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR), pytest.raises(PantherError) as info:

        @API(methods=methods)
        async def endpoint():
            return None

    assert message in str(info.value)
    assert message in caplog.text


# Argument injection (SPEC §5.5, issue 3)


@API()
async def typed(request: Request, number: int, flag: bool, uid: UUID, ratio: float, name: str, raw):
    values = [number, flag, uid, ratio, name, raw]
    return {
        'values': [str(v) for v in values],
        'types': [type(v).__name__ for v in values],
        'path': request.path,
    }


@API()
async def decimal_value(amount: Decimal):
    return {'amount': str(amount), 'type': type(amount).__name__}


@API()
async def optional_int(number: Optional[int]):
    return {'number': number, 'type': type(number).__name__}


@API()
async def pep604_int(number: int | None):
    return {'number': number}


@API()
async def ignores_variables(request: Request):
    return {'path': request.path_variables}


@API()
async def keyword_catchall(**kwargs):
    return kwargs


@API()
async def renamed_request(req: Request, id: int):
    return {'method': req.method, 'id': id}


@API()
async def query_not_injected(a: str = 'default', b: int = 0):
    return {'a': a, 'b': b}


@API()
def sync_typed(number: int):
    try:
        asyncio.get_running_loop()
        on_loop = True
    except RuntimeError:
        on_loop = False
    return {'number': number, 'on_loop': on_loop, 'main_thread': threading.current_thread() is threading.main_thread()}


class ClassTyped(GenericAPI):
    async def get(self, request: Request, number: int, flag: bool):
        return {'number': number, 'flag': flag, 'self': type(self).__name__}

    def post(self, number: int):
        return {'posted': number}


UID = '12345678-1234-5678-1234-567812345678'


@pytest.fixture
def client() -> APIClient:
    urls = {
        'typed/<number>/<flag>/<uid>/<ratio>/<name>/<raw>': typed,
        'optional/<number>': optional_int,
        'pep604/<number>': pep604_int,
        'ignores/<a>/<b>': ignores_variables,
        'kw/<a>/<b>': keyword_catchall,
        'renamed/<id>': renamed_request,
        'query': query_not_injected,
        'sync/<number>': sync_typed,
        'class/<number>/<flag>': ClassTyped,
        'future/<number>/<flag>/<uid>/<ratio>': typed_function,
        'future-class/<number>': TypedClass,
        'hint-only/<number>': type_checking_only,
        'decimal/<amount>': decimal_value,
    }
    return APIClient(make_app(urls))


async def test_conversion_by_annotation(client: APIClient) -> None:
    res = await client.get(f'/typed/42/TRUE/{UID}/2.5/alice/raw-value')
    assert res.status_code == 200
    assert res.data == {
        'values': ['42', 'True', UID, '2.5', 'alice', 'raw-value'],
        'types': ['int', 'bool', 'UUID', 'float', 'str', 'str'],
        'path': f'/typed/42/TRUE/{UID}/2.5/alice/raw-value',
    }


@pytest.mark.parametrize(('raw', 'expected'), [('true', True), ('1', True), ('True', True), ('false', False),
                                               ('0', False), ('FALSE', False)])  # fmt: skip
async def test_bool_values(client: APIClient, raw: str, expected: bool) -> None:
    res = await client.get(f'/class/1/{raw}')
    assert res.data == {'number': 1, 'flag': expected, 'self': 'ClassTyped'}


@pytest.mark.parametrize(
    ('path', 'detail'),
    [
        (f'/typed/abc/true/{UID}/1.0/a/b', 'Path variable `abc` is not `int`'),
        (f'/typed/1.5/true/{UID}/1.0/a/b', 'Path variable `1.5` is not `int`'),
        (f'/typed/1/maybe/{UID}/1.0/a/b', 'Path variable `maybe` is not `bool`'),
        ('/typed/1/true/not-a-uuid/1.0/a/b', 'Path variable `not-a-uuid` is not `UUID`'),
        (f'/typed/1/true/{UID}/one/a/b', 'Path variable `one` is not `float`'),
        ('/class/x/true', 'Path variable `x` is not `int`'),
        ('/class/1/yes', 'Path variable `yes` is not `bool`'),
        ('/optional/x', 'Path variable `x` is not `int`'),
        ('/decimal/1.2.3', 'Path variable `1.2.3` is not `Decimal`'),
        ('/hint-only/x', 'Path variable `x` is not `int`'),
        ('/future/x/true/' + UID + '/1', 'Path variable `x` is not `int`'),
    ],
)
async def test_bad_path_variable_is_400(client: APIClient, path: str, detail: str) -> None:
    res = await client.get(path)
    assert res.status_code == 400
    assert res.data == {'detail': detail}


async def test_optional_annotations_are_unwrapped(client: APIClient) -> None:
    assert (await client.get('/optional/7')).data == {'number': 7, 'type': 'int'}
    assert (await client.get('/pep604/8')).data == {'number': 8}


async def test_undeclared_path_variables_are_not_forced_on_the_handler(client: APIClient) -> None:
    res = await client.get('/ignores/1/2')
    assert (res.status_code, res.data) == (200, {'path': {'a': '1', 'b': '2'}})


async def test_var_keyword_receives_every_path_variable(client: APIClient) -> None:
    assert (await client.get('/kw/x/y')).data == {'a': 'x', 'b': 'y'}


async def test_request_is_injected_by_annotation_not_name(client: APIClient) -> None:
    assert (await client.get('/renamed/3')).data == {'method': 'GET', 'id': 3}


async def test_query_parameters_are_never_injected(client: APIClient) -> None:
    res = await client.get('/query', query_params={'a': 'x', 'b': '5'})
    assert res.data == {'a': 'default', 'b': 0}


async def test_sync_function_runs_off_the_event_loop(client: APIClient) -> None:
    assert (await client.get('/sync/5')).data == {'number': 5, 'on_loop': False, 'main_thread': False}


async def test_sync_class_method(client: APIClient) -> None:
    res = await client.post('/class/9/true')
    assert (res.status_code, res.data) == (200, {'posted': 9})


async def test_string_annotations_function(client: APIClient) -> None:
    res = await client.get(f'/future/3/0/{UID}/0.5')
    assert res.data == {
        'path': f'/future/3/0/{UID}/0.5',
        'number': 3,
        'flag': False,
        'uid': UID,
        'ratio': 0.5,
        'types': ['int', 'bool', 'UUID', 'float'],
    }


async def test_decimal_path_variable(client: APIClient) -> None:
    assert (await client.get('/decimal/10.50')).data == {'amount': '10.50', 'type': 'Decimal'}


async def test_type_checking_only_request_annotation(client: APIClient) -> None:
    assert (await client.get('/hint-only/4')).data == {'path': '/hint-only/4', 'number': 4, 'type': 'int'}


async def test_string_annotations_class(client: APIClient) -> None:
    assert (await client.get('/future-class/11')).data == {'method': 'GET', 'number': 11, 'type': 'int'}


# Return values (SPEC §5.6, §7.3)


class Inner(BaseModel):
    x: int


class Product(BaseModel):
    title: str
    price: float = 1.5
    inner: Inner | None = None


class Color:
    RED = 'red'


RETURNS = {
    'none': None,
    'dict': {'detail': 'ok'},
    'list': [1, 'a', None],
    'tuple': (1, 2, 3, 4),
    'str': 'Hello',
    'int': 7,
    'float': 1.25,
    'bool': True,
    'bytes': b'\x00raw',
    'model': Product(title='Fruit', inner=Inner(x=1)),
    'models': [Product(title='A'), {'nested': Product(title='B')}],
    'datetime': {'at': datetime.datetime(2024, 1, 2, 3, 4, 5)},
    'aware': {'at': datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)},
    'uuid': UUID(UID),
    'nested-bytes': {'blob': b'abc'},
}


def _returning(value):
    @API()
    async def endpoint():
        return value

    return endpoint


@pytest.fixture
def returns_app() -> Panther:
    urls = {key: _returning(value) for key, value in RETURNS.items()}
    urls['set'] = _returning({3, 1, 2})
    urls['response'] = _returning(Response(data={'made': True}, status_code=201, headers={'X-Custom': '1'}))
    return make_app(urls)


@pytest.fixture
def returns_client(returns_app: Panther) -> APIClient:
    return APIClient(returns_app)


@pytest.mark.parametrize(
    ('key', 'body'),
    [
        ('dict', b'{"detail":"ok"}'),
        ('list', b'[1,"a",null]'),
        ('tuple', b'[1,2,3,4]'),
        ('str', b'"Hello"'),
        ('int', b'7'),
        ('float', b'1.25'),
        ('bool', b'true'),
        ('bytes', b'\x00raw'),
        ('model', b'{"title":"Fruit","price":1.5,"inner":{"x":1}}'),
        ('models', b'[{"title":"A","price":1.5,"inner":null},{"nested":{"title":"B","price":1.5,"inner":null}}]'),
        ('datetime', b'{"at":"2024-01-02T03:04:05"}'),
        ('aware', b'{"at":"2024-01-02T03:04:05+00:00"}'),
        ('uuid', b'"' + UID.encode() + b'"'),
        ('nested-bytes', b'{"blob":"raw bytes is not JSON serializable (3 bytes)"}'),
    ],
)
async def test_return_value_bodies(returns_app: Panther, key: str, body: bytes) -> None:
    call = await RawCall()(returns_app, 'GET', f'/{key}')
    assert call.status == 200
    assert call.body == body
    assert call.headers == [(b'Content-Length', str(len(body)).encode()), (b'Content-Type', b'application/json')]


async def test_none_is_an_empty_200(returns_client: APIClient) -> None:
    res = await returns_client.get('/none')
    assert res.status_code == 200
    assert res.raw_body == b''
    assert res.headers == {'Content-Length': '0', 'Content-Type': 'application/json'}


async def test_set_is_serialised_as_an_array(returns_client: APIClient) -> None:
    res = await returns_client.get('/set')
    assert res.status_code == 200
    assert sorted(res.data) == [1, 2, 3]


async def test_response_objects_are_sent_as_they_are(returns_client: APIClient) -> None:
    res = await returns_client.get('/response')
    assert res.status_code == 201
    assert res.headers == {'Content-Length': '13', 'Content-Type': 'application/json', 'X-Custom': '1'}
    assert res.data == {'made': True}


# output_model (SPEC §5.4 step 9, §7.9)


class PublicUser(BaseModel):
    id: str = Field(alias='_id')
    name: str


class Shouting(BaseModel):
    name: str

    async def to_response(self, instance, data):
        return {'name': data['name'].upper(), 'was_dict': isinstance(instance, dict)}


USERS = [{'_id': '1', 'name': 'foo', 'password': 'x'}, {'_id': '2', 'name': 'bar', 'password': 'y'}]


@API(output_model=PublicUser)
async def one_user():
    return USERS[0]


@API(output_model=PublicUser)
async def many_users():
    return USERS


@API(output_model=PublicUser)
async def empty_users():
    return []


@API(output_model=PublicUser)
async def wrong_shape():
    return 'not a dict'


@API(output_model=Shouting)
async def shouting():
    return Response(data=[{'name': 'a'}, Item(name='b')], status_code=202)


class ClassOutput(GenericAPI):
    output_model = PublicUser

    async def get(self):
        return USERS[1]


@pytest.fixture
def output_client() -> APIClient:
    urls = {
        'one': one_user,
        'many': many_users,
        'empty': empty_users,
        'wrong': wrong_shape,
        'shout': shouting,
        'class': ClassOutput,
    }
    return APIClient(make_app(urls))


async def test_output_model_single(output_client: APIClient) -> None:
    assert (await output_client.get('/one')).data == {'id': '1', 'name': 'foo'}


async def test_output_model_list(output_client: APIClient) -> None:
    assert (await output_client.get('/many')).data == [{'id': '1', 'name': 'foo'}, {'id': '2', 'name': 'bar'}]


async def test_output_model_skipped_for_falsy_data(output_client: APIClient) -> None:
    res = await output_client.get('/empty')
    assert (res.status_code, res.data) == (200, [])


async def test_output_model_type_mismatch_is_500(output_client: APIClient, caplog) -> None:
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        res = await output_client.get('/wrong')
    assert (res.status_code, res.data) == (500, {'detail': 'Internal Server Error'})
    assert len(error_messages(caplog)) == 1
    assert 'Type of Response data is not match with `output_model`.' in caplog.text


async def test_output_model_to_response_hook(output_client: APIClient) -> None:
    res = await output_client.get('/shout')
    assert res.status_code == 202
    assert res.data == [{'name': 'A', 'was_dict': True}, {'name': 'B', 'was_dict': False}]


async def test_output_model_on_class(output_client: APIClient) -> None:
    assert (await output_client.get('/class')).data == {'id': '2', 'name': 'bar'}


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


async def test_permission_denied_without_user(pipeline_client: APIClient) -> None:
    res = await pipeline_client.get('/protected')
    assert (res.status_code, res.data) == (403, {'detail': 'Permission Denied'})


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
    app = make_app({'default-auth': default_auth}, AUTHENTICATION='tests.test_app.ClassAuth')
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


async def slow_auth(request: Request):
    delay = float(request.headers['x-delay'])
    await asyncio.sleep(delay)
    return request.headers['x-user']


async def slow_permission(request: Request):
    await asyncio.sleep(float(request.headers['x-delay']) / 2)
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
    delays = [0.06, 0.01, 0.04, 0.0, 0.03, 0.02]
    responses = await asyncio.gather(
        *(
            client.get('/whoami', headers={'x-delay': d, 'x-user': f'user{i}'}, query_params={'n': str(i)})
            for i, d in enumerate(delays)
        )
    )
    assert [(r.status_code, r.data) for r in responses] == [
        (200, {'user': f'user{i}', 'query': {'n': str(i)}}) for i in range(len(delays))
    ]


async def test_overlapping_requests_to_one_class_endpoint_keep_their_own_state() -> None:
    client = APIClient(make_app({'who/<tag>': WhoAmIView}))
    responses = await asyncio.gather(
        *(
            client.get(f'/who/t{i}', headers={'x-delay': d, 'x-user': f'u{i}'}, query_params={'n': str(i)})
            for i, d in enumerate([0.05, 0.0, 0.03])
        )
    )
    assert [r.data for r in responses] == [{'user': f'u{i}', 'query': {'n': str(i)}, 'tag': f't{i}'} for i in range(3)]
