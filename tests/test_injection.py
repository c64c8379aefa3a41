"""Argument injection (panther/_internal/injection.py): path variables and the request by annotation."""

from __future__ import annotations

import asyncio
import threading
from decimal import Decimal
from typing import Optional
from uuid import UUID

import pytest

from panther.app import API, GenericAPI
from panther.request import Request
from panther.test import APIClient
from tests._core_helpers import make_app
from tests._string_annotations import TypedClass, typed_function
from tests._type_checking_annotations import type_checking_only

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
