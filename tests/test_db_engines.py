"""Query logging, engine configuration, custom engines and a missing database."""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from panther.configs import config
from panther.db import Model
from panther.db.connections import db, load_database
from panther.db.models import BaseUser
from panther.db.queries.base_queries import BaseQuery
from panther.db.queries.pantherdb_queries import BasePantherDBQuery
from panther.exceptions import PantherError
from tests._db_models import Book

# ----------------------------------------------------------------------------------------- logging and config


async def test_query_logging(engine: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger='query'):
        await Book.insert_one(name='quiet')
    assert not [r for r in caplog.records if r.name == 'query']
    config.LOG_QUERIES = True
    with caplog.at_level(logging.INFO, logger='query'):
        await Book.insert_one(name='loud')
        await Book.find_one(name='loud')
    messages = [r.getMessage() for r in caplog.records if r.name == 'query']
    assert len(messages) == 2
    assert re.fullmatch(r'\[Query\] Book\.insert_one\(\) takes [0-9.e+]+ ms', messages[0])
    assert messages[1].startswith('[Query] Book.find_one() takes ')


async def test_db_shortcuts(engine: str) -> None:
    assert db.is_defined is True
    assert db.session is config.DATABASE.session
    assert db.client is config.DATABASE.client


def test_models_are_registered() -> None:
    class Registered(Model):
        name: str

    assert Registered in config.MODELS
    assert BaseUser not in config.MODELS


async def test_queries_need_a_database() -> None:
    with pytest.raises(NotImplementedError, match=r"^You don't have active database connection, Check your DATABASE"):
        await Book.find_one()


def test_load_database_errors(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(PantherError) as error:
        load_database({'engine': {'path': 'x'}})
    assert str(error.value) == 'Invalid \'DATABASE\': `engine["class"]` not found.'
    with pytest.raises(PantherError, match='cannot be imported'):
        load_database({'engine': {'class': 'panther.db.connections.Nope'}})
    with pytest.raises(PantherError, match='unexpected keyword'):
        load_database({'engine': {'class': 'panther.db.connections.PantherDBConnection', 'colour': 1}})
    load_database({'engine': {'class': 'panther.db.connections.PantherDBConnection', 'path': tmp_path / 'a.sqlite3'}})
    assert config.QUERY_ENGINE.__name__ == 'BasePantherDBQuery'

    class CustomQuery(BasePantherDBQuery):
        """A custom engine built on the embedded one (a bare `BaseQuery` subclass is refused as incomplete)."""

    with caplog.at_level(logging.WARNING, logger='panther'):
        load_database(
            {
                'engine': {'class': 'panther.db.connections.PantherDBConnection', 'path': tmp_path / 'b.sqlite3'},
                'query': CustomQuery,
            }
        )
    assert '`DATABASE.query` has already been filled.' in caplog.text
    assert config.QUERY_ENGINE is CustomQuery
    with pytest.raises(PantherError, match='subclass of `BaseQuery`'):
        load_database({'query': 'panther.db.models.Model'})
    config.DATABASE.store.close_sync()


@pytest.mark.mongodb
async def test_load_database_again_closes_the_previous_mongodb_client(
    tmp_path: Path, mongodb_address: tuple[str, int]
) -> None:
    from pymongo.errors import InvalidOperation

    from panther.db.connections import database as database_module

    host, port = mongodb_address
    mongodb = {
        'engine': {
            'class': 'panther.db.connections.MongoDBConnection',
            'host': f'mongodb://{host}:{port}',
            'database': f'panther_test_{uuid.uuid4().hex[:12]}',
        }
    }
    load_database(mongodb)
    first = config.DATABASE.client
    assert await Book.count() == 0
    load_database(mongodb)  # e.g. the app configured again in the same process
    second = config.DATABASE.client
    assert await Book.count() == 0
    load_database({'engine': {'class': 'panther.db.connections.PantherDBConnection', 'path': tmp_path / 'x.db'}})
    assert await Book.count() == 0
    # The old clients are closed by tasks of this loop.
    await asyncio.gather(*database_module._closing)
    with pytest.raises(InvalidOperation):
        await first.admin.command('ping')
    with pytest.raises(InvalidOperation):
        await second.admin.command('ping')
    await config.DATABASE.close()


@pytest.mark.mongodb
def test_load_database_outside_the_event_loop_closes_the_previous_mongodb_client(
    mongodb_address: tuple[str, int],
) -> None:
    from pymongo.errors import InvalidOperation

    host, port = mongodb_address
    mongodb = {
        'engine': {
            'class': 'panther.db.connections.MongoDBConnection',
            'host': f'mongodb://{host}:{port}',
            'database': f'panther_test_{uuid.uuid4().hex[:12]}',
        }
    }
    loop = asyncio.new_event_loop()
    try:
        load_database(mongodb)
        first = config.DATABASE.client
        assert loop.run_until_complete(Book.count()) == 0
        load_database(mongodb)
        with pytest.raises(InvalidOperation):
            loop.run_until_complete(first.admin.command('ping'))
        loop.run_until_complete(config.DATABASE.close())
        # Never used: nothing to close.
        load_database(mongodb)
        load_database(mongodb)
    finally:
        loop.close()


# --- custom engines and missing configuration -------------------------------------------------------------------


class IncompleteEngine(BaseQuery):
    @classmethod
    async def find_one(cls, model: Any, query: dict[str, Any]) -> Any:
        return None


class CustomEngine(BasePantherDBQuery):
    pass


def test_custom_query_engine_must_implement_the_interface(tmp_path: Path) -> None:
    engine = {'class': 'panther.db.connections.PantherDBConnection', 'path': tmp_path / 'c.sqlite3'}
    with pytest.raises(PantherError) as error:
        load_database({'engine': engine, 'query': IncompleteEngine})
    message = str(error.value)
    assert message.startswith("Invalid 'DATABASE': ")
    assert 'does not implement' in message
    assert 'insert_one' in message
    assert 'find_one' not in message
    with pytest.raises(PantherError, match='should be a subclass of `BaseQuery`'):
        load_database({'engine': engine, 'query': dict})
    load_database({'engine': engine, 'query': CustomEngine})
    assert config.QUERY_ENGINE is CustomEngine
    asyncio.run(config.DATABASE.close())


def test_queries_without_a_database_raise_the_documented_error() -> None:
    class Orphan(Model):
        name: str

    with pytest.raises(NotImplementedError) as error:
        asyncio.run(Orphan.find_one(name='x'))
    assert str(error.value).startswith(
        "You don't have active database connection, Check your DATABASE block in configs"
    )
