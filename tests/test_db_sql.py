"""The embedded engine's SQL compiler (panther/db/_sql.py): filters, sorts and updates in, SQL and parameters out;
and the same filters answering the same documents on both engines."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from panther.configs import config
from panther.db import Model
from panther.db._sql import compile_where, order_by
from panther.db.connections import load_database
from panther.exceptions import DatabaseError


class Shape(BaseModel):
    name: str
    age: int = 0
    tags: list[str] = []


NAME = "json_extract(data, '$.name')"
AGE = "json_extract(data, '$.age')"
NUMBER = "json_type(data, '$.age') IN ('integer', 'real')"

# filter → (WHERE clause, parameters)
WHERE_CASES: list[tuple[dict[str, Any], str, list[Any]]] = [
    ({}, '1', []),
    ({'name': 'a'}, f'{NAME} = ?', ['a']),
    ({'id': 'x'}, '_id = ?', ['x']),
    ({'_id': 'x'}, '_id = ?', ['x']),
    ({'id': {'$in': ['x', 'y']}}, '_id IN (?, ?)', ['x', 'y']),
    ({'id': {'$nin': ['x']}}, 'NOT _id IN (?)', ['x']),
    ({'age': {'$gt': 3}}, f'({NUMBER} AND {AGE} > ?)', [3]),
    ({'age': {'$gte': 1, '$lt': 9}}, f'({NUMBER} AND {AGE} >= ?) AND ({NUMBER} AND {AGE} < ?)', [1, 9]),
    ({'name': {'$in': ['a', 'b']}}, f'({NAME} IN (?, ?))', ['a', 'b']),
    ({'name': {'$nin': ['a']}}, f'NOT coalesce(({NAME} IN (?)), 0)', ['a']),
    ({'name': {'$ne': 'a'}}, f'NOT coalesce({NAME} = ?, 0)', ['a']),
    ({'name': {'$exists': True}}, "json_type(data, '$.name') IS NOT NULL", []),
    ({'name': {'$regex': '^a'}}, f'panther_regexp(?, ?, {NAME})', ['^a', '']),
    ({'$or': [{'name': 'a'}, {'age': 1}]}, f'(({NAME} = ?) OR ({AGE} = ?))', ['a', 1]),
    ({'$nor': [{'name': 'a'}]}, f'NOT (({NAME} = ?))', ['a']),
]


@pytest.mark.parametrize(('query', 'sql', 'params'), WHERE_CASES, ids=[repr(case[0]) for case in WHERE_CASES])
def test_filters_compile_to_parameterised_sql(query: dict[str, Any], sql: str, params: list[Any]) -> None:
    where, parameters, _ = compile_where(query, 'data', Shape)
    assert (where, parameters) == (sql, params)


def test_a_list_field_matches_the_list_or_any_item() -> None:
    where, params, _ = compile_where({'tags': 'py'}, 'data', Shape)
    assert "json_each(data, '$.tags')" in where
    assert params == ['py', 'py']


def test_values_never_reach_the_sql_text() -> None:
    hostile = "x'); DROP TABLE Shape; --"
    where, params, _ = compile_where({'name': hostile, 'age': {'$in': [hostile]}}, 'data', Shape)
    assert hostile not in where
    assert params.count(hostile) == 2


def test_equality_and_ranges_are_worth_an_index() -> None:
    _, _, indexable = compile_where({'name': 'a', 'age': {'$lt': 3}}, 'data', Shape)
    assert indexable == [('name', NAME), ('age', AGE)]


@pytest.mark.parametrize(
    ('query', 'message'),
    [
        ({'name; DROP': 1}, 'is not a valid field name'),
        ({'': 1}, 'is not a valid field name'),
        ({'$where': 'sleep(1)'}, 'is not supported by the embedded database'),
        ({'$or': []}, 'needs a non-empty list of filters'),
        ({'$or': {'name': 'a'}}, 'needs a non-empty list of filters'),
        ({'name': {'$unknown': 1}}, 'is not supported'),
    ],
)
def test_bad_filters_are_refused_naming_the_problem(query: dict[str, Any], message: str) -> None:
    with pytest.raises(DatabaseError, match=message):
        compile_where(query, 'data', Shape)


def test_sorts_compile_to_order_by() -> None:
    assert order_by([], 'data') == ('', [])
    clause, indexable = order_by([('age', -1), ('id', 1)], 'data')
    assert clause == f' ORDER BY {AGE} DESC, _id ASC, rowid ASC'
    assert indexable == [('age', AGE)]


# --- the same filter, the same answer on both engines --------------------------------------------------------------


class Person(Model):
    name: str
    age: int = 0
    tags: list[str] = []
    nickname: str | None = None


PEOPLE = [
    {'name': 'ada', 'age': 36, 'tags': ['math', 'code'], 'nickname': 'countess'},
    {'name': 'alan', 'age': 41, 'tags': ['code']},
    {'name': 'grace', 'age': 85, 'tags': ['code', 'navy'], 'nickname': 'amazing'},
    {'name': 'emmy', 'age': 53, 'tags': ['math']},
    {'name': 'zero', 'age': 0, 'tags': []},
]

SAME_ANSWER: list[dict[str, Any]] = [
    {},
    {'name': 'ada'},
    {'age': {'$gt': 40}},
    {'age': {'$gte': 36, '$lt': 60}},
    {'tags': 'code'},
    {'tags': {'$all': ['code', 'math']}},
    {'tags': {'$size': 0}},
    {'name': {'$in': ['ada', 'emmy', 'nobody']}},
    {'name': {'$nin': ['ada', 'emmy']}},
    {'name': {'$ne': 'ada'}},
    {'nickname': None},
    {'nickname': {'$exists': True}},
    {'name': {'$regex': '^a'}},
    {'$or': [{'age': {'$lt': 10}}, {'tags': 'navy'}]},
    {'$and': [{'tags': 'code'}, {'age': {'$lt': 50}}]},
    {'$nor': [{'tags': 'code'}]},
]


@pytest.fixture(params=['sqlite', pytest.param('mongodb', marks=pytest.mark.mongodb)])
async def people(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == 'sqlite':
        load_database({'engine': {'class': 'panther.db.connections.PantherDBConnection', 'path': tmp_path / 'db'}})
    else:
        host, port = request.getfixturevalue('mongodb_address')
        engine = {
            'class': 'panther.db.connections.MongoDBConnection',
            'host': f'mongodb://{host}:{port}',
            'database': f'panther_sql_{uuid.uuid4().hex[:12]}',
        }
        load_database({'engine': engine})
    await Person.insert_many(PEOPLE)
    yield request.param
    if request.param == 'mongodb':
        await config.DATABASE.client.drop_database(config.DATABASE.session.name)
    await config.DATABASE.close()


def _expected(query: dict[str, Any]) -> set[str]:
    """The answer worked out by hand for each filter of SAME_ANSWER (the engines must both agree with it)."""
    answers = {
        repr({}): {'ada', 'alan', 'grace', 'emmy', 'zero'},
        repr({'name': 'ada'}): {'ada'},
        repr({'age': {'$gt': 40}}): {'alan', 'grace', 'emmy'},
        repr({'age': {'$gte': 36, '$lt': 60}}): {'ada', 'alan', 'emmy'},
        repr({'tags': 'code'}): {'ada', 'alan', 'grace'},
        repr({'tags': {'$all': ['code', 'math']}}): {'ada'},
        repr({'tags': {'$size': 0}}): {'zero'},
        repr({'name': {'$in': ['ada', 'emmy', 'nobody']}}): {'ada', 'emmy'},
        repr({'name': {'$nin': ['ada', 'emmy']}}): {'alan', 'grace', 'zero'},
        repr({'name': {'$ne': 'ada'}}): {'alan', 'grace', 'emmy', 'zero'},
        repr({'nickname': None}): {'alan', 'emmy', 'zero'},
        repr({'nickname': {'$exists': True}}): {'ada', 'alan', 'grace', 'emmy', 'zero'},
        repr({'name': {'$regex': '^a'}}): {'ada', 'alan'},
        repr({'$or': [{'age': {'$lt': 10}}, {'tags': 'navy'}]}): {'zero', 'grace'},
        repr({'$and': [{'tags': 'code'}, {'age': {'$lt': 50}}]}): {'ada', 'alan'},
        repr({'$nor': [{'tags': 'code'}]}): {'emmy', 'zero'},
    }
    return answers[repr(query)]


async def test_each_filter_finds_the_same_documents_on_both_engines(people: str) -> None:
    for query in SAME_ANSWER:
        found = {person.name for person in await Person.find(query)}
        assert found == _expected(query), f'{people}: {query}'
        assert await Person.count(query) == len(found), f'{people}: {query}'
