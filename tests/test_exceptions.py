from __future__ import annotations

import logging

import pytest

from panther import exceptions
from panther.app import API
from panther.exceptions import (
    APIError,
    AuthenticationAPIError,
    AuthorizationAPIError,
    BadRequestAPIError,
    BaseError,
    DatabaseError,
    InvalidPathVariableAPIError,
    MethodNotAllowedAPIError,
    NotFoundAPIError,
    PantherError,
    RedirectAPIError,
    ThrottlingAPIError,
    UnprocessableEntityError,
    UpgradeRequiredError,
    WebsocketError,
)
from panther.test import APIClient
from tests._core_helpers import make_app


@pytest.mark.parametrize(
    ('cls', 'base', 'detail', 'status_code'),
    [
        (BaseError, Exception, 'Internal Server Error', 500),
        (APIError, BaseError, 'Internal Server Error', 500),
        (WebsocketError, BaseError, 'Internal Error', 1011),
        (BadRequestAPIError, APIError, 'Bad Request', 400),
        (AuthenticationAPIError, APIError, 'Authentication Error', 401),
        (AuthorizationAPIError, APIError, 'Permission Denied', 403),
        (NotFoundAPIError, APIError, 'Not Found', 404),
        (MethodNotAllowedAPIError, APIError, 'Method Not Allowed', 405),
        (UnprocessableEntityError, APIError, 'Unprocessable Entity Error', 422),
        (UpgradeRequiredError, APIError, 'This service requires use of the WebSocket protocol.', 426),
        (ThrottlingAPIError, APIError, 'Too Many Request', 429),
    ],
)
def test_defaults_and_hierarchy(cls, base, detail: str, status_code: int) -> None:
    assert issubclass(cls, base)
    error = cls()
    assert error.detail == detail
    assert error.status_code == status_code
    assert error.headers is None


def test_plain_errors_are_not_api_errors() -> None:
    assert issubclass(PantherError, Exception)
    assert not issubclass(PantherError, BaseError)
    assert issubclass(DatabaseError, Exception)
    assert not issubclass(DatabaseError, BaseError)


def test_explicit_arguments_override_defaults() -> None:
    error = NotFoundAPIError(detail={'x': 'y'}, status_code=410, headers={'X-H': 'v'})
    assert (error.detail, error.status_code, error.headers) == ({'x': 'y'}, 410, {'X-H': 'v'})


def test_falsy_arguments_fall_back_to_class_defaults() -> None:
    error = BadRequestAPIError(detail='', status_code=0, headers={})
    assert (error.detail, error.status_code, error.headers) == ('Bad Request', 400, None)


def test_redirect_error_sets_location_and_status() -> None:
    error = RedirectAPIError('/to2')
    assert (error.status_code, error.headers, error.detail) == (302, {'Location': '/to2'}, 'Internal Server Error')
    assert RedirectAPIError('/x', status_code=301).status_code == 301


def test_invalid_path_variable_message() -> None:
    error = InvalidPathVariableAPIError(value='abc', variable_type=int)
    assert isinstance(error, APIError)
    assert error.status_code == 400
    assert error.detail == 'Path variable `abc` is not `int`'


def test_public_names_are_exported() -> None:
    for name in ('PantherError', 'DatabaseError', 'BaseError', 'APIError', 'WebsocketError', 'RedirectAPIError',
                 'BadRequestAPIError', 'AuthenticationAPIError', 'AuthorizationAPIError', 'NotFoundAPIError',
                 'MethodNotAllowedAPIError', 'UnprocessableEntityError', 'UpgradeRequiredError',
                 'ThrottlingAPIError', 'InvalidPathVariableAPIError'):  # fmt: skip
        assert name in exceptions.__all__
        assert hasattr(exceptions, name)


# HTTP mapping


@API()
async def dict_detail():
    raise APIError(detail={'x': 'y'}, status_code=418, headers={'X-H': 'v'})


@API()
async def list_detail():
    raise BadRequestAPIError(['a', 'b'])


@API()
async def redirect():
    raise RedirectAPIError('/to2')


@API()
async def throttled():
    raise ThrottlingAPIError


@API()
async def auth_error():
    raise AuthenticationAPIError('token expired')


@pytest.fixture
def client() -> APIClient:
    urls = {'dict': dict_detail, 'list': list_detail, 'redirect': redirect, 'throttled': throttled, 'auth': auth_error}
    return APIClient(make_app(urls))


async def test_dict_detail_becomes_the_body_with_headers(client: APIClient, caplog) -> None:
    with caplog.at_level(logging.DEBUG):
        res = await client.get('/dict')
    assert res.status_code == 418
    assert res.raw_body == b'{"x":"y"}'
    assert res.headers == {'Content-Length': '9', 'Content-Type': 'application/json', 'X-H': 'v'}
    # API errors are expected outcomes: nothing is logged for them.
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_list_detail_is_wrapped(client: APIClient) -> None:
    res = await client.get('/list')
    assert res.status_code == 400
    assert res.raw_body == b'{"detail":["a","b"]}'


async def test_redirect_error_response(client: APIClient) -> None:
    res = await client.get('/redirect')
    assert res.status_code == 302
    assert res.headers['Location'] == '/to2'
    assert res.raw_body == b'{"detail":"Internal Server Error"}'


async def test_throttling_body_is_29_bytes(client: APIClient) -> None:
    res = await client.get('/throttled')
    assert res.status_code == 429
    assert res.raw_body == b'{"detail":"Too Many Request"}'
    assert len(res.raw_body) == 29


async def test_string_detail(client: APIClient) -> None:
    res = await client.get('/auth')
    assert (res.status_code, res.data) == (401, {'detail': 'token expired'})
