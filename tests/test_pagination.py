"""Pagination: limit/skip parsing, the maximum limit, next/previous links."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from panther.configs import config
from panther.db import Model
from panther.db.connections import load_database
from panther.exceptions import BadRequestAPIError
from panther.pagination import Pagination


class Row(Model):
    number: int


@pytest.fixture
async def rows(tmp_path: Path) -> AsyncIterator[None]:
    load_database({'engine': {'class': 'panther.db.connections.PantherDBConnection', 'path': tmp_path / 'p.sqlite3'}})
    await Row.insert_many([{'number': i} for i in range(4)])
    yield
    await config.DATABASE.close()


async def _page(query_params: dict[str, str]) -> dict:
    pagination = Pagination(query_params=query_params, cursor=await Row.find())
    results = [row.number async for row in pagination.paginate()]
    return await pagination.template(results)


async def test_first_and_second_page(rows: None) -> None:
    assert await _page({'limit': '2'}) == {'count': 4, 'next': '?limit=2&skip=2', 'previous': None, 'results': [0, 1]}
    assert await _page({'limit': '2', 'skip': '2'}) == {
        'count': 4,
        'next': None,
        'previous': '?limit=2&skip=0',
        'results': [2, 3],
    }
    assert await _page({'limit': '3', 'skip': '1'}) == {
        'count': 4,
        'next': None,
        'previous': '?limit=3&skip=0',
        'results': [1, 2, 3],
    }


async def test_links_keep_the_other_query_parameters(rows: None) -> None:
    page = await _page({'limit': '1', 'skip': '1', 'search': 'a b&c', 'sort': '-number'})
    assert page['next'] == '?limit=1&skip=2&search=a+b%26c&sort=-number'
    assert page['previous'] == '?limit=1&skip=0&search=a+b%26c&sort=-number'


async def test_defaults(rows: None) -> None:
    pagination = Pagination(query_params={}, cursor=await Row.find())
    assert (pagination.limit, pagination.skip) == (Pagination.DEFAULT_LIMIT, Pagination.DEFAULT_SKIP) == (20, 0)
    assert await _page({}) == {'count': 4, 'next': None, 'previous': None, 'results': [0, 1, 2, 3]}


async def test_limit_is_capped(rows: None) -> None:
    pagination = Pagination(query_params={'limit': '1000000'}, cursor=await Row.find())
    assert pagination.limit == Pagination.MAX_LIMIT


async def test_count_uses_the_cursor_filter(rows: None) -> None:
    pagination = Pagination(query_params={'limit': '1'}, cursor=await Row.find(number={'$gte': 2}))
    results = [row.number async for row in pagination.paginate()]
    assert await pagination.template(results) == {
        'count': 2,
        'next': '?limit=1&skip=1',
        'previous': None,
        'results': [2],
    }


@pytest.mark.parametrize(
    'params', [{'limit': 'ten'}, {'skip': '1.5'}, {'limit': '0'}, {'limit': '-1'}, {'skip': '-3'}, {'skip': '1e3'}]
)
async def test_bad_numbers_are_400(rows: None, params: dict[str, str]) -> None:
    with pytest.raises(BadRequestAPIError) as error:
        Pagination(query_params=params, cursor=await Row.find())
    assert error.value.status_code == 400
    assert isinstance(error.value.detail, str)


@pytest.mark.parametrize('name', ['limit', 'skip'])
async def test_numbers_beyond_a_database_integer_are_400(rows: None, name: str) -> None:
    with pytest.raises(BadRequestAPIError) as error:
        Pagination(query_params={name: '99999999999999999999'}, cursor=await Row.find())
    assert error.value.detail == f'`{name}` should be at most 1000000000.'
    page = await _page({'skip': '1000000000'})
    assert (page['count'], page['results']) == (4, [])


async def test_overridable_readers(rows: None) -> None:
    class Fixed(Pagination):
        def get_limit(self) -> int:
            return 1

    assert Fixed(query_params={'limit': 'x'}, cursor=await Row.find()).limit == 1
