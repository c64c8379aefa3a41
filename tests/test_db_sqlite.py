"""The embedded engine specifically: SQLite file format, ids, encryption, import, crash and multi-process safety."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any, ClassVar

import orjson
import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationInfo, field_validator, model_validator

from panther.cli.db_command import main as db_command
from panther.configs import config
from panther.db import Model, _sqlite
from panther.db.connections import PantherDBConnection, load_database
from panther.db.cursor import PantherDBCursor
from panther.db.models import Unique
from panther.db.queries.pantherdb_queries import BasePantherDBQuery, new_ulid
from panther.exceptions import DatabaseError, PantherError

REPO = Path(__file__).resolve().parent.parent
CROCKFORD = set('0123456789ABCDEFGHJKMNPQRSTVWXYZ')


class Note(Model):
    title: str
    rank: int = 0


class Member(Model):
    name: Annotated[str, Unique()]
    team: str = ''


class Tagged(Model):
    title: str
    tags: list[str] = []
    anything: Any = None


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Path]:
    path = tmp_path / 'notes.sqlite3'
    load_database({'engine': {'class': 'panther.db.connections.PantherDBConnection', 'path': path}})
    yield path
    await config.DATABASE.close()


def _file_bytes(path: Path) -> bytes:
    return path.read_bytes()


def _files(directory: Path) -> list[Path]:
    return list(directory.iterdir())


def _raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


async def test_file_is_sqlite_in_wal_mode(database: Path) -> None:
    await Note.insert_one(title='x')
    assert _file_bytes(database)[:16] == _sqlite.SQLITE_HEADER
    connection = config.DATABASE.session.connection()
    assert connection.execute('PRAGMA journal_mode').fetchone()[0] == 'wal'
    assert connection.execute('PRAGMA synchronous').fetchone()[0] == 1  # NORMAL
    raw = _raw(database)
    rows = raw.execute('SELECT _id, data FROM "Note"').fetchall()
    raw.close()
    assert len(rows) == 1
    assert orjson.loads(rows[0][1]) == {'title': 'x', 'rank': 0}


async def test_ids_are_sortable_ulids(database: Path) -> None:
    notes = [await Note.insert_one(title=str(i)) for i in range(50)]
    ids = [note.id for note in notes]
    assert all(len(i) == 26 and set(i) <= CROCKFORD for i in ids)
    assert ids == sorted(ids)
    assert len(set(ids)) == 50
    assert len({new_ulid() for _ in range(10_000)}) == 10_000


async def test_default_path_is_database_pdb_in_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    connection = PantherDBConnection()
    assert connection.path == Path('database.pdb')
    await connection.close()


async def test_sql_injection_is_not_possible(database: Path) -> None:
    await Note.insert_one(title='secret')
    assert await Note.find_one(title="x' OR '1'='1") is None
    assert await Note.count(title={'$in': ["') OR 1=1 --"]}) == 0
    with pytest.raises(DatabaseError, match='not a valid field name'):
        await Note.find_one(**{"title') OR 1=1 --": 'x'})
    with pytest.raises(DatabaseError, match='not a valid field name'):
        await (await Note.find()).sort("title'; DROP TABLE Note; --").to_list()
    with pytest.raises(DatabaseError, match='not a valid field name'):
        await Note.update_one({'title': 'secret'}, {'$inc': {"rank', 1) --": 1}})
    with pytest.raises(DatabaseError, match='not supported'):
        await Note.find_one({'$where': 'sleep(100)'})
    assert await Note.count() == 1


async def test_cursor_sync_iteration_and_indexing(database: Path) -> None:
    await Note.insert_many([{'title': f't{i}', 'rank': i} for i in range(5)])
    cursor = await Note.find()
    assert isinstance(cursor, PantherDBCursor)
    assert [note.rank for note in cursor] == [0, 1, 2, 3, 4]
    assert sum(1 for _ in await Note.find(rank={'$gte': 3})) == 2
    assert (await Note.find()).sort('rank', -1)[1].rank == 3
    assert [n.rank for n in (await Note.find())[1:3]] == [1, 2]
    with pytest.raises(IndexError):
        (await Note.find())[10]


class Watched(Model):
    """Its validators can see the id, so rows are validated with the id in the input."""

    title: str
    seen: ClassVar[list[object]] = []

    @field_validator('title')
    @classmethod
    def _record_id(cls, value: str, info: ValidationInfo) -> str:
        cls.seen.append(info.data.get('id'))
        return value

    @model_validator(mode='after')
    def _record_self(self) -> Watched:
        type(self).seen.append(self.id)
        return self


async def test_rows_read_back_as_validated_instances(database: Path) -> None:
    notes = await Note.insert_many([{'title': f't{i}', 'rank': i} for i in range(3)])
    found = await (await Note.find()).to_list()
    assert found == notes
    assert [type(note.id) for note in found] == [str, str, str]
    assert all(note.model_fields_set == {'id', 'title', 'rank'} for note in found)
    one = await Note.find_one(id=notes[1].id)
    assert one == notes[1]
    assert one.model_fields_set == {'id', 'title', 'rank'}
    # A document stored without a defaulted field reads back with the default, which is not "set".
    connection = config.DATABASE.session.connection()
    connection.execute('INSERT INTO "Note" (_id, data) VALUES (?, ?)', ('raw-id', '{"title": "raw"}'))
    raw = await Note.find_one(id='raw-id')
    assert (raw.id, raw.title, raw.rank) == ('raw-id', 'raw', 0)
    assert raw.model_fields_set == {'id', 'title'}


async def test_validators_that_can_see_the_id_get_it_when_reading(database: Path) -> None:
    watched = await Watched.insert_one(title='w')
    Watched.seen.clear()
    assert await Watched.find_one(id=watched.id) == watched
    assert await (await Watched.find()).to_list() == [watched]
    assert Watched.seen == [watched.id] * 4


async def test_stored_documents_that_no_longer_match_the_model_are_reported(database: Path) -> None:
    note = await Note.insert_one(title='ok')
    connection = config.DATABASE.session.connection()
    connection.execute('INSERT INTO "Note" (_id, data) VALUES (?, ?)', ('bad', '{"title": 5}'))
    with pytest.raises(
        DatabaseError, match=r'does not match the model: Note\(title="Input should be a valid string"\)'
    ):
        await (await Note.find()).to_list()
    with pytest.raises(DatabaseError, match='does not match the model'):
        await Note.find_one(id='bad')
    assert await Note.find_one(id=note.id) == note
    # A row holding two JSON values must not shift the ids of the rows after it.
    connection.execute('DELETE FROM "Note" WHERE _id = ?', ('bad',))
    connection.execute('INSERT INTO "Note" (_id, data) VALUES (?, ?)', ('two', '{"title": "a"},{"title": "b"}'))
    await Note.insert_one(title='after')
    with pytest.raises(ValueError):
        await (await Note.find()).to_list()


async def test_equality_filters_on_plain_values(database: Path) -> None:
    first, _ = await Note.insert_many([{'title': 'a', 'rank': 1}, {'title': "b'", 'rank': 2}])
    assert [note.title for note in await (await Note.find(rank=2)).to_list()] == ["b'"]
    assert await Note.count(rank=2.0) == 1
    assert await Note.count(title="b'") == 1
    assert await Note.count(title='a', rank=1) == 1
    assert await Note.count(id=first.id, title='a') == 1
    assert await Note.count(id=first.id, rank=2) == 0
    assert await Note.count(title=None) == 0


async def test_list_fields_are_searched_item_by_item_and_single_values_keep_their_index(database: Path) -> None:
    await Tagged.insert_many([{'title': f't{i}', 'tags': [f'x{i}', 'common'], 'anything': i} for i in range(30)])
    store = config.DATABASE.store
    connection = store.connection()

    def sql_and_plan(query: dict) -> tuple[str, str]:
        sql, params = BasePantherDBQuery._cursor_sql(store, PantherDBCursor(Tagged, query, BasePantherDBQuery))
        return sql, ' '.join(row[3] for row in connection.execute(f'EXPLAIN QUERY PLAN {sql}', params))

    assert await Tagged.count(title='t3') == 1
    assert await Tagged.count(tags='x3') == 1
    await store.run_in_worker(_sqlite.fetch_one, 'SELECT 1', ())
    # Only the single-valued field gets an index: an index of a whole list would never be used.
    indexes = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {name for name in indexes if name.startswith('ix_')} == {'ix_Tagged__title'}
    sql, plan = sql_and_plan({'title': 't3'})
    assert 'json_each' not in sql
    assert 'USING INDEX ix_Tagged__title' in plan
    assert 'json_each' in sql_and_plan({'tags': 'x3'})[0]
    assert 'json_each' in sql_and_plan({'anything': 3})[0]
    assert await Tagged.count(tags='common') == 30
    assert await Tagged.count(anything={'$gte': 28}) == 2
    # Values are always parameters, including inside `$elemMatch` and `$all`.
    assert await Tagged.count(tags={'$elemMatch': {'$eq': "x1' OR 1=1 --"}}) == 0
    assert await Tagged.count(tags={'$all': ["') OR 1=1 --"]}) == 0
    for query, message in [
        ({'tags': {'$elemMatch': {'$where': 'x'}}}, '`\\$where` inside `\\$elemMatch` is not supported'),
        ({'tags': {'$elemMatch': 'x'}}, 'needs a non-empty dict'),
        ({'tags': {'$all': 'x'}}, '`\\$all` needs a list'),
        ({'tags': {'$size': -1}}, '`\\$size` needs a non-negative integer'),
        ({'tags': {'$type': 'string'}}, '`\\$type` is not supported'),
        ({'id': {'$size': 1}}, 'not supported for the id'),
    ]:
        with pytest.raises(DatabaseError, match=message):
            await Tagged.find(query)


async def test_list_filters_on_an_encrypted_database(tmp_path: Path) -> None:
    config.SECRET_KEY = Fernet.generate_key().decode()
    path = tmp_path / 'secret.sqlite3'
    load_database({'engine': {'class': 'panther.db.connections.PantherDBConnection', 'path': path, 'encryption': True}})
    try:
        await Tagged.insert_many([{'title': 'a', 'tags': ['x', 'y']}, {'title': 'b', 'tags': ['y']}])
        assert await Tagged.count(tags='x') == 1
        assert await Tagged.count(tags={'$all': ['x', 'y']}) == 1
        assert await Tagged.count(tags={'$nin': ['x']}) == 1
    finally:
        await config.DATABASE.close()


async def test_range_filters_and_sorts_get_expression_indexes(database: Path) -> None:
    await Note.insert_many([{'title': f't{i:02d}', 'rank': i % 7} for i in range(50)])
    before = [
        (note.title, note.rank) for note in await (await Note.find()).sort([('rank', -1), ('title', 1)]).to_list()
    ]
    assert await Note.count(rank={'$gte': 2, '$lt': 4}) == 14
    assert await Note.count(title={'$gt': 't40'}) == 9
    store = config.DATABASE.store
    # Indexes are created on the worker thread, which runs its tasks in order: after this they exist.
    await store.run_in_worker(_sqlite.fetch_one, 'SELECT 1', ())
    connection = store.connection()
    indexes = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {'ix_Note__rank', 'ix_Note__title'} <= indexes

    def plan(cursor: PantherDBCursor) -> str:
        sql, params = BasePantherDBQuery._cursor_sql(store, cursor)
        return ' '.join(row[3] for row in connection.execute(f'EXPLAIN QUERY PLAN {sql}', params))

    assert 'USING INDEX ix_Note__rank' in plan(await Note.find(rank={'$gt': 4}))
    assert 'USING INDEX ix_Note__title' in plan((await Note.find()).sort('title').limit(5))
    # Same results through the indexes; numbers still never compare with strings.
    assert await Note.count(rank={'$gte': 2, '$lt': 4}) == 14
    assert await Note.count(title={'$gt': 't40'}) == 9
    assert await Note.count(rank={'$gt': 'a'}) == 0
    after = [(note.title, note.rank) for note in await (await Note.find()).sort([('rank', -1), ('title', 1)]).to_list()]
    assert after == before
    assert [note.title for note in await (await Note.find()).sort('title', -1).limit(2).to_list()] == ['t49', 't48']
    # Ranges on the id use the primary key; comparisons with None match nothing and index nothing.
    await Note.count(id={'$gt': '0'}, title={'$lt': None})
    await store.run_in_worker(_sqlite.fetch_one, 'SELECT 1', ())
    after_indexes = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert after_indexes == indexes


async def test_updates_by_id(database: Path) -> None:
    first, second = await Note.insert_many([{'title': 'a'}, {'title': 'b'}])
    assert await Note.update_one({'id': first.id}, rank=3) is True
    assert await Note.update_one({'id': first.id}, title='c', rank=4) is True
    assert await Note.update_one({'id': first.id}, {'$set': {'rank': 5, 'undeclared': [1]}}) is True
    assert await Note.update_many({'id': second.id}, rank='6') == 1
    assert await Note.update_one({'id': 'missing'}, rank=1) is False
    with pytest.raises(DatabaseError, match='rank'):
        await Note.update_one({'id': second.id}, rank='x')
    rows = config.DATABASE.session.connection().execute('SELECT _id, data FROM "Note"').fetchall()
    assert {identifier: orjson.loads(data) for identifier, data in rows} == {
        first.id: {'title': 'c', 'rank': 5, 'undeclared': [1]},
        second.id: {'title': 'b', 'rank': 6},
    }


async def test_large_results_stream_from_the_worker(database: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    count = _sqlite.INLINE_MAX_ROWS * 3 + 5
    await Note.insert_many([{'title': f't{i}', 'rank': i} for i in range(count)])
    store = config.DATABASE.store
    threads = []
    original = store.open_stream

    def spy(*args: object) -> object:
        threads.append(threading.current_thread().name)
        return original(*args)

    monkeypatch.setattr(store, 'open_stream', spy)
    monkeypatch.setattr(_sqlite, 'STREAM_BATCH', 100)
    ranks = [note.rank async for note in Note.find().sort('rank')]
    assert ranks == list(range(count))
    assert len(threads) == 1
    assert threads[0].startswith('panther-sqlite')
    assert [note.rank for note in await (await Note.find()).to_list()] == list(range(count))
    assert len(threads) == 2
    # Small, quick results stay inline.
    first = await Note.first()
    assert len(await (await Note.find(id=first.id)).to_list()) == 1
    assert [note.rank async for note in await Note.find(rank={'$lt': 3})] == [0, 1, 2]
    assert len(threads) == 2


async def test_locked_file_moves_writes_to_the_worker(database: Path) -> None:
    await Note.insert_one(title='first')
    blocker = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
    blocker.execute('BEGIN IMMEDIATE')
    blocker.execute('INSERT INTO "Note" (_id, data) VALUES (?, ?)', ('blocker', '{"title": "blocker", "rank": 0}'))
    ticks = 0
    ten_ticks = asyncio.Event()

    async def ticker() -> None:
        # A probe of the event loop: it ticks only while the loop is free.
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1
            if ticks == 10:
                ten_ticks.set()

    ticking = asyncio.create_task(ticker())
    insert = asyncio.create_task(Note.insert_one(title='waiting'))
    # The event loop keeps running while the insert waits for the lock on the worker thread.
    await asyncio.wait_for(ten_ticks.wait(), timeout=10)
    assert not insert.done()
    blocker.execute('COMMIT')
    blocker.close()
    note = await asyncio.wait_for(insert, 5)
    ticking.cancel()
    assert note.id is not None
    assert await Note.count() == 3
    # Reads are not blocked by a writer at all (WAL).
    blocker = sqlite3.connect(database, isolation_level=None)
    blocker.execute('BEGIN IMMEDIATE')
    assert await Note.count() == 3
    blocker.execute('ROLLBACK')
    blocker.close()


async def test_inline_write_meeting_a_lock_is_redone_once_on_the_worker(database: Path) -> None:
    first = await Note.insert_one(title='first')
    store = config.DATABASE.store
    loop = asyncio.get_running_loop()
    holder = sqlite3.connect(database, isolation_level=None)
    attempts: list[str] = []
    waited: list[bool] = []
    pending: list[asyncio.Task[Any]] = []

    def release() -> None:
        # The write had already failed inline with SQLITE_BUSY (the inline connection never waits): it is now
        # waiting for the lock on the worker thread.
        waited.append(not pending[0].done())
        holder.execute('COMMIT')

    def traced(statement: str) -> None:
        if statement.startswith(('INSERT', 'UPDATE', 'BEGIN')) and holder.in_transaction:
            attempts.append(statement.split()[0])
            # Runs after the current step of the event loop: the inline attempt meets the lock for real.
            loop.call_soon(release)

    store.connection().set_trace_callback(traced)
    try:
        for write in (
            lambda: Note.insert_one(title='waiting'),
            lambda: Note.update_one({'id': first.id}, {'$inc': {'rank': 1}}),
            lambda: Note.insert_many([{'title': 'many'}, {'title': 'many'}]),
        ):
            holder.execute('BEGIN IMMEDIATE')
            pending[:] = [asyncio.ensure_future(write())]
            await asyncio.wait_for(pending[0], 10)
    finally:
        store.connection().set_trace_callback(None)
        holder.close()
    assert attempts == ['INSERT', 'UPDATE', 'BEGIN']
    assert waited == [True, True, True]
    # Each write is applied exactly once, although it was started twice.
    assert await Note.count(title='waiting') == 1
    assert (await Note.find_one(id=first.id)).rank == 1
    assert await Note.count(title='many') == 2


async def test_encryption(tmp_path: Path) -> None:
    config.SECRET_KEY = Fernet.generate_key().decode()
    path = tmp_path / 'secret.sqlite3'
    load_database({'engine': {'class': 'panther.db.connections.PantherDBConnection', 'path': path, 'encryption': True}})
    try:
        await Note.insert_many([{'title': 'classified', 'rank': 2}, {'title': 'public', 'rank': 1}])
        assert b'classified' not in b''.join(_file_bytes(p) for p in _files(tmp_path))
        assert (await Note.find_one(title='classified')).rank == 2
        assert [n.title for n in await (await Note.find()).sort('rank').to_list()] == ['public', 'classified']
        assert await Note.update_many({'rank': {'$gt': 0}}, {'$inc': {'rank': 10}}) == 2
        assert await Note.count(rank={'$gte': 11}) == 2
        note = await Note.find_one(title='public')
        await note.update(title='changed')
        assert (await Note.find_one(id=note.id)).title == 'changed'
        assert await Note.update_one({'id': note.id}, title='classified too', rank=5) is True
        assert (await Note.find_one(id=note.id)).rank == 5
        assert b'classified too' not in b''.join(_file_bytes(p) for p in _files(tmp_path))
    finally:
        await config.DATABASE.close()
    config.SECRET_KEY = Fernet.generate_key().decode()
    load_database({'engine': {'class': 'panther.db.connections.PantherDBConnection', 'path': path, 'encryption': True}})
    try:
        with pytest.raises(DatabaseError, match='`SECRET_KEY` is not the key'):
            await Note.find_one(title='classified')
    finally:
        await config.DATABASE.close()


async def test_unique_fields_on_an_encrypted_database(tmp_path: Path) -> None:
    config.SECRET_KEY = Fernet.generate_key().decode()
    path = tmp_path / 'secret.sqlite3'
    load_database({'engine': {'class': 'panther.db.connections.PantherDBConnection', 'path': path, 'encryption': True}})
    try:
        await Member.insert_many([{'name': 'confidential name'}, {'name': 'other'}])
        with pytest.raises(DatabaseError, match=r'^Member\(name="already exists"\)$'):
            await Member.insert_one(name='confidential name')
        with pytest.raises(DatabaseError, match=r'^Member\(name="already exists"\)$'):
            await Member.update_one({'name': 'other'}, name='confidential name')
        assert (await Member.find_one(name='confidential name')).team == ''
        assert await Member.count() == 2
        # The unique index holds keyed hashes, not the names.
        assert b'confidential name' not in b''.join(_file_bytes(p) for p in _files(tmp_path))
    finally:
        await config.DATABASE.close()


async def test_unique_index_serves_lookups(database: Path) -> None:
    await Member.insert_many([{'name': f'm{i}'} for i in range(20)])
    assert (await Member.find_one(name='m3')).name == 'm3'
    store = config.DATABASE.store
    await store.run_in_worker(_sqlite.fetch_one, 'SELECT 1', ())
    connection = store.connection()
    indexes = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    # No second (plain) index on the same expression.
    assert {name for name in indexes if name.startswith(('ix_Member', 'ux_Member'))} == {'ux_Member__name'}
    sql, params = BasePantherDBQuery._cursor_sql(store, PantherDBCursor(Member, {'name': 'm3'}, BasePantherDBQuery))
    plan = ' '.join(row[3] for row in connection.execute(f'EXPLAIN QUERY PLAN {sql}', params))
    assert 'USING INDEX ux_Member__name' in plan


def test_encryption_needs_a_valid_key(tmp_path: Path) -> None:
    config.SECRET_KEY = 'not a fernet key'
    with pytest.raises(PantherError, match='Fernet key'):
        PantherDBConnection(path=tmp_path / 'x.sqlite3', encryption=True)


async def test_encryption_key_is_read_lazily(tmp_path: Path) -> None:
    # DATABASE may be loaded before SECRET_KEY.
    connection = PantherDBConnection(path=tmp_path / 'late.sqlite3', encryption=True)
    config.DATABASE = connection
    config.QUERY_ENGINE = __import__('panther.db.queries.pantherdb_queries', fromlist=['x']).BasePantherDBQuery
    config.SECRET_KEY = Fernet.generate_key().decode()
    try:
        assert (await Note.insert_one(title='late')).title == 'late'
    finally:
        await connection.close()


def _write_old_pdb(path: Path, secret_key: str | None = None) -> None:
    content = orjson.dumps(
        {
            'Note': [{'_id': '01OLDNOTE0000000000000000A', 'title': 'old', 'rank': 3}, {'_id': 'b', 'title': 'two'}],
            'Other': [{'_id': 'c', 'x': 1}],
        }
    )
    if secret_key:
        content = Fernet(secret_key.encode()).encrypt(content)
    path.write_bytes(content)


async def test_old_json_file_gives_a_clear_error_and_imports(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / 'database.pdb'
    _write_old_pdb(path)
    with pytest.raises(PantherError) as error:
        load_database({'engine': {'class': 'panther.db.connections.PantherDBConnection', 'path': path}})
    assert f'panther db import {path}' in str(error.value)

    assert db_command(['import', str(path)]) == 0
    assert 'Imported 3 documents from 2 collections' in capsys.readouterr().out
    assert path.with_name('database.pdb.bak').exists()
    assert db_command(['import', str(path)]) == 1  # now SQLite: nothing to import

    load_database({'engine': {'class': 'panther.db.connections.PantherDBConnection', 'path': path}})
    try:
        note = await Note.find_one(id='01OLDNOTE0000000000000000A')
        assert (note.title, note.rank) == ('old', 3)
        assert await Note.count() == 2
        await Note.insert_one(title='new')
        assert await Note.count() == 3
    finally:
        await config.DATABASE.close()


def test_import_encrypted_old_file_into_new_path(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    key = Fernet.generate_key().decode()
    old, new = tmp_path / 'old.pdb', tmp_path / 'new.sqlite3'
    _write_old_pdb(old, key)
    assert db_command(['import', str(old), '--into', str(new)]) == 1
    assert '--secret-key' in capsys.readouterr().err
    assert not new.exists()
    assert db_command(['import', str(old), '--into', str(new), '--secret-key', key, '--encrypt']) == 0
    assert old.exists()
    raw = _raw(new)
    assert raw.execute('SELECT COUNT(*) FROM "Note"').fetchone()[0] == 2
    token = raw.execute('SELECT data FROM "Other"').fetchone()[0]
    raw.close()
    assert orjson.loads(Fernet(key.encode()).decrypt(token.encode())) == {'x': 1}


def test_import_rejects_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert db_command(['import', str(tmp_path / 'missing.pdb')]) == 1
    bad = tmp_path / 'bad.pdb'
    bad.write_bytes(b'{"Note": [{"title": "no id"}]}')
    assert db_command(['import', str(bad)]) == 1
    assert 'has no `_id`' in capsys.readouterr().err
    assert bad.exists()
    assert not bad.with_name('bad.pdb.bak').exists()
    assert db_command([]) == 2


# ------------------------------------------------------------------------------------------ several processes

_WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from panther.db import Model
    from panther.db.connections import load_database

    class Note(Model):
        title: str
        rank: int = 0

    async def main(path, count, tag):
        load_database({'engine': {'class': 'panther.db.connections.PantherDBConnection', 'path': path}})
        for i in range(count):
            note = await Note.insert_one(title=f'{tag}-{i}', rank=i)
            # Printed only after insert_one returned, i.e. after the commit.
            sys.stdout.write(note.id + '\\n')
            sys.stdout.flush()

    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
    """
)


def _writer(tmp_path: Path, path: Path, count: int, tag: str) -> subprocess.Popen[str]:
    script = tmp_path / 'writer.py'
    script.write_text(_WRITER)
    env = {**os.environ, 'PYTHONPATH': str(REPO)}
    return subprocess.Popen(
        [sys.executable, str(script), str(path), str(count), tag], stdout=subprocess.PIPE, text=True, env=env
    )


_UNIQUE_WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from typing import Annotated
    from panther.db import Model
    from panther.db.connections import load_database
    from panther.db.models import Unique
    from panther.exceptions import DatabaseError

    class Member(Model):
        name: Annotated[str, Unique()]
        team: str = ''

    async def main(path, count, team):
        load_database({'engine': {'class': 'panther.db.connections.PantherDBConnection', 'path': path}})
        await Member.count()
        # Both writers start together: each says it is ready, then waits for the go.
        sys.stdout.write('ready\\n')
        sys.stdout.flush()
        sys.stdin.readline()
        for i in range(count):
            try:
                await Member.insert_one(name=f'name-{i}', team=team)
            except DatabaseError as error:
                assert str(error) == 'Member(name="already exists")', error
                sys.stdout.write(f'refused {i}\\n')
            else:
                sys.stdout.write(f'inserted {i}\\n')
        sys.stdout.flush()

    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
    """
)


@pytest.mark.slow
def test_two_processes_inserting_the_same_unique_values_one_wins_each(tmp_path: Path) -> None:
    path = tmp_path / 'unique.sqlite3'
    script = tmp_path / 'unique_writer.py'
    script.write_text(_UNIQUE_WRITER)
    env = {**os.environ, 'PYTHONPATH': str(REPO)}
    count = 200
    writers = [
        subprocess.Popen(
            [sys.executable, str(script), str(path), str(count), team],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for team in ('a', 'b')
    ]
    for writer in writers:
        assert writer.stdout is not None and writer.stdout.readline() == 'ready\n'
    for writer in writers:
        assert writer.stdin is not None
        writer.stdin.write('go\n')
        writer.stdin.flush()
    outputs = [writer.communicate(timeout=120)[0] for writer in writers]
    assert all(writer.returncode == 0 for writer in writers)
    inserted = [line.split()[1] for output in outputs for line in output.splitlines() if line.startswith('inserted')]
    refused = [line.split()[1] for output in outputs for line in output.splitlines() if line.startswith('refused')]
    # Every name was inserted by exactly one of the two processes and refused to the other.
    assert sorted(inserted, key=int) == [str(i) for i in range(count)]
    assert sorted(refused, key=int) == [str(i) for i in range(count)]
    raw = _raw(path)
    names = [orjson.loads(row[0])['name'] for row in raw.execute('SELECT data FROM "Member"')]
    raw.close()
    assert sorted(names) == sorted(f'name-{i}' for i in range(count))


@pytest.mark.slow
@pytest.mark.parametrize('trial', range(5))
def test_kill_9_during_inserts_keeps_every_committed_document(tmp_path: Path, trial: int) -> None:
    path = tmp_path / f'crash{trial}.sqlite3'
    process = _writer(tmp_path, path, 1_000_000, 'crash')
    committed = []
    assert process.stdout is not None
    target = 200 + trial * 137
    while len(committed) < target:
        line = process.stdout.readline()
        assert line, 'the writer stopped early'
        committed.append(line.strip())
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    committed.extend(line.strip() for line in process.stdout.read().splitlines() if len(line.strip()) == 26)
    process.stdout.close()
    raw = _raw(path)
    assert raw.execute('PRAGMA integrity_check').fetchone()[0] == 'ok'
    stored = {row[0] for row in raw.execute('SELECT _id FROM "Note"')}
    raw.close()
    assert set(committed) <= stored
    # At most the one insert in flight may be in the file without having been reported.
    assert len(stored) - len(set(committed)) <= 1


@pytest.mark.slow
def test_two_processes_inserting_into_one_file_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / 'shared.sqlite3'
    count = 300
    started = time.perf_counter()
    writers = [_writer(tmp_path, path, count, tag) for tag in ('a', 'b')]
    outputs = [writer.communicate(timeout=120)[0] for writer in writers]
    assert all(writer.returncode == 0 for writer in writers)
    reported = {line for output in outputs for line in output.split()}
    assert len(reported) == 2 * count
    raw = _raw(path)
    stored = {row[0]: orjson.loads(row[1])['title'] for row in raw.execute('SELECT _id, data FROM "Note"')}
    raw.close()
    assert set(stored) == reported
    assert sorted(title for title in stored.values() if title.startswith('a-')) == sorted(
        f'a-{i}' for i in range(count)
    )
    assert time.perf_counter() - started < 120
