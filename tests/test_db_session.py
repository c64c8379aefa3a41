"""`db.session` / `db.client` on the embedded engine: the synchronous 5.x collection API over the SQLite tables,
and the database file's life (created on connect, recreated after being deleted while the process runs)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import pytest
from cryptography.fernet import Fernet

from panther import Panther, status
from panther.app import API
from panther.configs import config
from panther.db import Model
from panther.db.connections import PantherDBConnection, db, load_database
from panther.db.models import DocumentError, Unique
from panther.exceptions import DatabaseError
from panther.request import Request
from panther.test import APIClient


class SessionAuthor(Model):
    name: str


class SessionBook(Model):
    title: str
    pages: int = 0
    tags: list[str] = []
    author: SessionAuthor | None = None


class SessionMember(Model):
    name: Annotated[str, Unique()]


def _connect(path: Path, **options: Any) -> None:
    load_database({'engine': {'class': 'panther.db.connections.PantherDBConnection', 'path': path, **options}})


@pytest.fixture
async def path(tmp_path: Path) -> AsyncIterator[Path]:
    database = tmp_path / 'test.pdb'
    _connect(database)
    yield database
    await config.DATABASE.close()


def _raw_rows(path: Path, table: str) -> list[tuple[str, str]]:
    """The rows as a new, independent connection to the file sees them."""
    connection = sqlite3.connect(path)
    try:
        return connection.execute(f'SELECT _id, data FROM "{table}" ORDER BY rowid').fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        connection.close()


# ------------------------------------------------------------------------------------------------ the API


def test_session_and_client_offer_collections(path: Path) -> None:
    assert type(db.session).__name__ == 'PantherDBSession'
    assert type(db.client) is type(db.session)
    assert repr(db.session.collection('SessionBook')) == "PantherDBCollection('SessionBook')"
    # The raw connection stays available for SQL.
    assert db.session.connection().execute('SELECT 1').fetchone() == (1,)


def test_insert_one_returns_the_document_with_its_id(path: Path) -> None:
    books = db.session.collection('SessionBook')
    book = books.insert_one(title='Dune', pages=412)
    assert set(book) == {'_id', 'title', 'pages'}
    assert book['title'] == 'Dune' and book['pages'] == 412
    assert isinstance(book['_id'], str) and len(book['_id']) == 26
    # A positional dict works too; ids given in the document are not used.
    other = books.insert_one({'title': 'Emma', '_id': 'mine', 'id': 'mine too'})
    assert other['_id'] not in ('mine', 'mine too') and 'id' not in other
    assert books.find_one(title='Emma') == other
    # Values are stored as JSON (datetimes as ISO text).
    import datetime as dt

    dated = books.insert_one(title='x', when=dt.datetime(2024, 1, 2, 3, 4, 5))
    assert dated['when'] == '2024-01-02T03:04:05'
    assert books.find_one(_id=dated['_id'])['when'] == '2024-01-02T03:04:05'


def test_reading_methods(path: Path) -> None:
    books = db.session.collection('SessionBook')
    first = books.insert_one(title='a', pages=10, tags=['x'])
    second = books.insert_one(title='b', pages=20, tags=['x', 'y'])
    third = books.insert_one(title='a', pages=30)

    assert books.find_one(title='a') == first
    assert books.find_one() == first
    assert books.find_one(title='missing') is None
    assert books.first(title='a') == first
    assert books.last(title='a') == third
    assert books.last() == third
    assert books.first(title='missing') is None and books.last(title='missing') is None
    assert books.find(title='a') == [first, third]
    assert books.find() == [first, second, third] == books.all()
    assert books.find(title='missing') == []
    assert books.find_one(_id=second['_id']) == second
    assert books.find_one(id=second['_id']) == second
    # The filters of the `Model` queries: operators, positional dicts, list items.
    assert books.find({'pages': {'$gte': 20}}) == [second, third]
    assert books.find(tags='y') == [second]
    assert books.count() == 3
    assert books.count(title='a') == 2
    assert books.count({'pages': {'$lt': 0}}) == 0
    # An unknown collection is empty.
    assert db.session.collection('Nothing').find() == []
    assert db.session.collection('Nothing').count() == 0


def test_update_one_and_update_many(path: Path) -> None:
    books = db.session.collection('SessionBook')
    first = books.insert_one(title='a', pages=1)
    second = books.insert_one(title='a', pages=2)
    other = books.insert_one(title='b', pages=3)

    assert books.update_one({'title': 'a'}, pages=10) is True
    assert books.find_one(_id=first['_id'])['pages'] == 10
    assert books.find_one(_id=second['_id'])['pages'] == 2  # only the first match
    assert books.update_one({'title': 'missing'}, pages=0) is False

    assert books.update_many({'title': 'a'}, pages=5, sold=True) == 2
    assert [book['pages'] for book in books.find(title='a')] == [5, 5]
    assert books.find_one(_id=other['_id']) == other
    assert books.update_many({'title': 'missing'}, pages=0) == 0
    assert books.update_many({}, seen=1) == 3

    # Update operators, and a whole stored document passed back (its `_id` never changes).
    assert books.update_one({'_id': other['_id']}, {'$inc': {'pages': 4}, '$unset': {'seen': ''}})
    assert books.find_one(_id=other['_id']) == {'_id': other['_id'], 'title': 'b', 'pages': 7}
    document = books.find_one(_id=first['_id'])
    document['title'] = 'renamed'
    assert books.update_one({'_id': first['_id']}, **document)
    assert books.find_one(_id=first['_id'])['title'] == 'renamed'
    assert books.update_one({'_id': first['_id']}, {'$set': {'pages': 1, '_id': 'other'}})
    assert books.find_one(_id=first['_id'])['pages'] == 1
    assert books.count() == 3


def test_delete_one_and_delete_many(path: Path) -> None:
    books = db.session.collection('SessionBook')
    first = books.insert_one(title='a')
    books.insert_one(title='a')
    books.insert_one(title='b')

    assert books.delete_one() is False  # an empty filter deletes nothing, as `Model.delete_one`
    assert books.count() == 3
    assert books.delete_one(title='a') is True
    assert books.find_one(_id=first['_id']) is None
    assert books.count(title='a') == 1
    assert books.delete_one(title='missing') is False
    assert books.delete_many(title='missing') == 0
    assert books.delete_many({'title': 'a'}) == 1
    assert books.delete_many() == 1
    assert books.count() == 0


async def test_drop_removes_the_collection_and_models_create_it_again(path: Path) -> None:
    await SessionBook.insert_one(title='kept?')
    books = db.session.collection('SessionBook')
    assert books.count() == 1
    books.drop()
    assert 'SessionBook' not in {name for (name,) in _tables(path)}
    assert await SessionBook.count() == 0
    book = await SessionBook.insert_one(title='after')
    assert books.find() == [{'_id': book.id, 'title': 'after', 'pages': 0, 'tags': [], 'author': None}]
    books.drop()
    books.drop()  # dropping a missing collection is fine
    assert await SessionBook.find_one() is None


def _tables(path: Path) -> list[tuple[str]]:
    connection = sqlite3.connect(path)
    try:
        return connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    finally:
        connection.close()


# ----------------------------------------------------------------------------------- one store, two APIs


async def test_model_documents_and_session_documents_are_the_same(path: Path) -> None:
    books = db.session.collection('SessionBook')
    author = await SessionAuthor.insert_one(name='Herbert')
    book = await SessionBook.insert_one(title='Dune', pages=412, tags=['sf'], author=author)
    # A Model's document, read through the session: references are the related ids.
    assert books.find_one(_id=book.id) == {
        '_id': book.id,
        'title': 'Dune',
        'pages': 412,
        'tags': ['sf'],
        'author': author.id,
    }
    assert db.session.collection('SessionAuthor').find_one(name='Herbert') == {'_id': author.id, 'name': 'Herbert'}

    # A session document, read as a Model (a related instance given to the session is stored as its id).
    inserted = books.insert_one(title='Emma', pages=12, tags=[], author=author)
    assert inserted['author'] == author.id
    found = await SessionBook.find_one(id=inserted['_id'])
    assert found == SessionBook(id=inserted['_id'], title='Emma', pages=12, tags=[], author=author)
    assert await SessionBook.count() == 2
    assert [b.title for b in await (await SessionBook.find(author=author)).to_list()] == ['Dune', 'Emma']

    # Writes of either side are seen by the other.
    assert books.update_one({'_id': book.id}, pages=500)
    await book.reload()
    assert book.pages == 500
    await SessionBook.update_one({'id': inserted['_id']}, title='Emma (2nd)')
    assert books.find_one(_id=inserted['_id'])['title'] == 'Emma (2nd)'
    await book.delete()
    assert books.count() == 1
    assert books.delete_many() == 1
    assert await SessionBook.count() == 0


async def test_unique_fields_of_a_model_hold_for_session_inserts(path: Path) -> None:
    await SessionMember.insert_one(name='ali')
    members = db.session.collection('SessionMember')
    with pytest.raises(DocumentError) as caught:
        members.insert_one(name='ali')
    assert caught.value.fields == {'name': 'already exists'}
    members.insert_one(name='saba')
    with pytest.raises(DocumentError):
        members.update_one({'name': 'saba'}, name='ali')
    assert sorted(m.name for m in await (await SessionMember.find()).to_list()) == ['ali', 'saba']


async def test_encrypted_database_through_the_session(tmp_path: Path) -> None:
    config.SECRET_KEY = Fernet.generate_key().decode()
    path = tmp_path / 'secret.pdb'
    _connect(path, encryption=True)
    try:
        books = db.session.collection('SessionBook')
        inserted = books.insert_one(title='classified', pages=7)
        assert books.find_one(title='classified') == inserted
        assert books.update_one({'title': 'classified'}, pages=8)
        assert (await SessionBook.find_one(id=inserted['_id'])).pages == 8
        model_book = await SessionBook.insert_one(title='also secret')
        assert books.find_one(_id=model_book.id)['title'] == 'also secret'
        assert all(
            b'secret' not in data.encode() and b'classified' not in data.encode()
            for _, data in _raw_rows(path, 'SessionBook')
        )
    finally:
        await config.DATABASE.close()


async def test_sync_endpoint_in_a_worker_thread_uses_the_session(path: Path) -> None:
    seen_threads: list[bool] = []

    @API(methods=['POST'])
    def create(request: Request) -> dict:  # a 5.x-style synchronous endpoint
        seen_threads.append(threading.current_thread() is threading.main_thread())
        book = db.session.collection('SessionBook').insert_one(title=request.data['title'])
        return {'id': book['_id'], 'count': db.session.collection('SessionBook').count()}

    client = APIClient(app=Panther(__name__, configs=__name__, urls={'books/': create}))
    # The event loop's connection must only ever be used by the event loop's thread.
    inline_users: set[int] = set()
    db.session.connection().set_trace_callback(lambda _: inline_users.add(threading.get_ident()))
    responses = await asyncio.gather(*(client.post('/books/', payload={'title': f'b{i}'}) for i in range(5)))
    assert {response.status_code for response in responses} == {status.HTTP_200_OK}
    assert await SessionBook.count() == 5
    assert inline_users == {threading.get_ident()}
    assert sorted(book.title for book in await (await SessionBook.find()).to_list()) == [f'b{i}' for i in range(5)]
    assert seen_threads == [False] * 5


# ------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize('name', ['', 'bad name', '1st', 'a;DROP TABLE x', 'Book"', 'üser', 42, None])
def test_invalid_collection_names_are_refused(path: Path, name: Any) -> None:
    with pytest.raises(DatabaseError, match='is not a valid collection name'):
        db.session.collection(name)


@pytest.mark.parametrize(
    ('call', 'message'),
    [
        (lambda c: c.insert_one('title'), r'`insert_one\(\)` needs a dict as its document, got str'),
        (lambda c: c.insert_one([('title', 'x')]), 'needs a dict as its document, got list'),
        (lambda c: c.insert_one({1: 'x'}), 'the keys of a document must be strings'),
        (lambda c: c.insert_one(title=object()), 'cannot store a value of type `object`'),
        (lambda c: c.find_one('x'), r'`find_one\(\)` needs a dict as its filter, got str'),
        (lambda c: c.last(1.5), r'`last\(\)` needs a dict as its filter, got float'),
        (lambda c: c.find(42), r'`find\(\)` needs a dict as its filter, got int'),
        (lambda c: c.count(['a']), 'needs a dict as its filter'),
        (lambda c: c.delete_one('a'), 'needs a dict as its filter'),
        (lambda c: c.delete_many(3), 'needs a dict as its filter'),
        (lambda c: c.update_one('a', title='x'), r'`update_one\(\)` needs a filter dict first, got str'),
        (lambda c: c.update_many(None, title='x'), r'`update_many\(\)` needs a filter dict first, got NoneType'),
        (lambda c: c.update_one({}, 'x'), 'needs a dict as its update, got str'),
        (lambda c: c.update_one({}, {'$set': 'x'}), '`\\$set` needs a dict'),
        (lambda c: c.update_one({}, {'$push': {'tags': 'x'}}), '`\\$push` is not supported'),
        (lambda c: c.update_one({}, **{'bad key': 1}), 'not a valid field name'),
        (lambda c: c.find(**{'bad key': 1}), 'not a valid field name'),
        (lambda c: c.find(title={'$where': 'x'}), '`\\$where` is not supported'),
        (lambda c: c.find({'$or': 'x'}), '`\\$or` needs a non-empty list'),
    ],
)
def test_bad_arguments_get_clear_errors(path: Path, call: Any, message: str) -> None:
    books = db.session.collection('SessionBook')
    kept = books.insert_one(title='kept')
    with pytest.raises(DatabaseError, match=message):
        call(books)
    assert books.find() == [kept]


def test_sql_in_values_is_data(path: Path) -> None:
    books = db.session.collection('SessionBook')
    text = 'x\'); DROP TABLE "SessionBook"; --'
    inserted = books.insert_one(title=text)
    assert books.find(title=text) == [inserted]
    assert books.count() == 1


# --------------------------------------------------------------------------------------- the file's life


def _delete(path: Path, with_side_files: bool = False) -> None:
    path.unlink()
    if with_side_files:
        for suffix in ('-wal', '-shm'):
            Path(f'{path}{suffix}').unlink(missing_ok=True)


def _is_database(path: Path) -> bool:
    return path.read_bytes()[:16] == b'SQLite format 3\x00'


def test_the_file_exists_once_the_connection_is_made(tmp_path: Path) -> None:
    path = tmp_path / 'app.pdb'
    _connect(path)
    try:
        assert _is_database(path)
    finally:
        config.DATABASE.store.close_sync()


def test_a_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    from panther.exceptions import PantherError

    with pytest.raises(PantherError, match='cannot be opened as an SQLite database'):
        PantherDBConnection(path=tmp_path / 'missing' / 'app.pdb')


@pytest.mark.parametrize('with_side_files', [False, True], ids=['database file only', 'with -wal and -shm'])
async def test_a_file_deleted_while_the_process_runs_is_recreated_empty(path: Path, with_side_files: bool) -> None:
    # Enough documents that the bulk insert and the scan go through the worker thread's connections too.
    await SessionBook.insert_many([{'title': f'old {i}'} for i in range(300)])
    assert len(await (await SessionBook.find()).to_list()) == 300
    db.session.collection('Notes').insert_one(text='old')

    _delete(path, with_side_files)  # what a 5.x test's teardown does

    assert await SessionBook.count() == 0
    assert _is_database(path)
    assert db.session.collection('Notes').find() == []
    await SessionBook.insert_many([{'title': f'new {i}'} for i in range(300)])
    book = await SessionBook.insert_one(title='newest')
    note = db.session.collection('Notes').insert_one(text='new')
    # Written to the new file, which another connection sees; nothing of the old file came back.
    assert len(_raw_rows(path, 'SessionBook')) == 301
    assert _raw_rows(path, 'SessionBook')[-1][0] == book.id
    assert [row[0] for row in _raw_rows(path, 'Notes')] == [note['_id']]
    assert [b.title for b in await (await SessionBook.find()).to_list()][-2:] == ['new 299', 'newest']


async def test_the_session_notices_a_deleted_file_first(path: Path) -> None:
    books = db.session.collection('SessionBook')
    books.insert_one(title='old')
    _delete(path)
    assert books.find() == []
    inserted = books.insert_one(title='new')
    assert [row[0] for row in _raw_rows(path, 'SessionBook')] == [inserted['_id']]
    assert [b.id for b in await (await SessionBook.find()).to_list()] == [inserted['_id']]


async def test_a_file_replaced_by_another_database_is_reopened(path: Path, tmp_path: Path) -> None:
    await SessionBook.insert_one(title='original')
    other = tmp_path / 'other.pdb'
    connection = PantherDBConnection(path=other)
    try:
        connection.session.collection('SessionBook').insert_one(title='from the other file')
    finally:
        connection.store.close_sync()
    other.replace(path)
    assert [b.title for b in await (await SessionBook.find()).to_list()] == ['from the other file']


async def test_5x_style_test_class_deleting_the_file_between_tests(tmp_path: Path) -> None:
    @API(methods=['GET', 'POST'])
    async def books(request: Request) -> Any:
        if request.method == 'POST':
            return await SessionBook.insert_one(title=request.data['title'])
        return await (await SessionBook.find()).to_list()

    database = tmp_path / 'test.pdb'
    _connect(database)
    client = APIClient(app=Panther(__name__, configs=__name__, urls={'books/': books}))
    try:
        for test in range(3):  # one app for the class, the file deleted after every test
            assert (await client.get('/books/')).data == []
            created = await client.post('/books/', payload={'title': f'test {test}'})
            assert created.status_code == 200
            assert [b['title'] for b in (await client.get('/books/')).data] == [f'test {test}']
            db.session.collection('SessionBook').drop()
            _delete(database)
    finally:
        await config.DATABASE.close()
