"""`@API` and `GenericAPI` (panther/app.py): option validation, return values, output models."""

from __future__ import annotations

import asyncio
import datetime
import logging
from uuid import UUID

import pytest
from pydantic import BaseModel, Field

from panther import Panther
from panther.app import API, GenericAPI
from panther.exceptions import PantherError
from panther.request import Request
from panther.response import Response
from panther.test import APIClient
from tests._core_helpers import RawCall, error_messages, make_app, raises_logged

UID = '12345678-1234-5678-1234-567812345678'


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
