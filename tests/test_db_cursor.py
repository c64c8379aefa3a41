"""Query results as 5.x code uses them, on both engines: awaited cursors, chaining, streaming, equality, event-loop
friendliness of large results."""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import logging
import threading
from typing import Any, ClassVar

import pytest
from pydantic import field_validator

from panther import Panther
from panther.configs import config
from panther.db import Model
from panther.db.cursor import BaseCursor
from panther.exceptions import DatabaseError
from panther.generics import ListAPI
from panther.pagination import Pagination
from panther.request import Request
from panther.test import APIClient
from tests._db_models import Book, _books


class Chapter(Model):
    title: str
    number: int = 0
    written: dt.datetime | None = None


class Volume(Model):
    name: str
    chapters: list[Chapter] = []
    opening: Chapter | None = None


class Row(Model):
    name: str
    n: int
    tags: list[str] = []
    built_on: ClassVar[dict[int, int]] = {}

    @field_validator('n')
    @classmethod
    def _record_thread(cls, value: int) -> int:
        ident = threading.get_ident()
        cls.built_on[ident] = cls.built_on.get(ident, 0) + 1
        return value


async def test_an_awaited_find_is_a_plain_result(engine: str) -> None:
    books = await _books(5)
    found = await Book.find()
    assert isinstance(found, BaseCursor)
    assert [book.name for book in found] == ['book0', 'book1', 'book2', 'book3', 'book4']
    assert [book.name for book in found] == [book.name for book in books]  # iterated again
    assert len(found) == 5
    assert found[0] == books[0]
    assert found[-1].name == 'book4'
    assert [book.name for book in found[1:3]] == ['book1', 'book2']
    assert found == books
    assert found == await Book.find()
    assert found != books[:4]
    assert bool(found) is True
    assert bool(await Book.find(name='missing')) is False
    assert len(await Book.find(name='missing')) == 0
    assert await found.to_list() == books
    assert [book.name async for book in found] == [book.name for book in books]
    assert (await Book.all()) == books
    with pytest.raises(IndexError):
        found[5]


async def test_chaining_before_await(engine: str) -> None:
    await _books(6)
    page = await Book.find(author='author0').skip(1).limit(2).sort('pages_count', -1)
    assert [book.pages_count for book in page] == [2, 0]
    page = await Book.find().sort([('author', 1), ('pages_count', -1)]).limit(3)
    assert [book.name for book in page] == ['book4', 'book2', 'book0']
    assert [book.pages_count async for book in Book.find().sort('pages_count', -1)] == [5, 4, 3, 2, 1, 0]
    assert [book.pages_count for book in await Book.all().sort('pages_count').skip(4)] == [4, 5]
    with pytest.raises(DatabaseError, match='must be 1 or -1'):
        Book.find().sort('name', 0)
    with pytest.raises(DatabaseError, match='non-negative'):
        Book.find().skip(-1)


async def test_refining_an_awaited_result_reads_again(engine: str) -> None:
    await _books(3)
    found = await Book.find()
    assert len(found) == 3
    await Book.insert_one(name='late', pages_count=10)
    assert len(found) == 3  # the result read before
    newest = await found.sort('pages_count', -1).limit(2)
    assert newest is found
    assert [book.name for book in newest] == ['late', 'book2']


async def test_streaming_consumes_the_cursor(engine: str) -> None:
    await _books(3)
    cursor = Book.find().sort('name')
    assert [book.name async for book in cursor] == ['book0', 'book1', 'book2']
    with pytest.raises(DatabaseError, match='already been iterated'):
        await cursor
    with pytest.raises(DatabaseError, match='already been iterated'):
        cursor.limit(1)


async def test_a_cursor_not_awaited_is_read_synchronously_only_on_the_embedded_engine(engine: str) -> None:
    await _books(3)
    lazy = Book.find().sort('name', -1)
    if engine == 'sqlite':
        assert [book.name for book in lazy] == ['book2', 'book1', 'book0']
        return
    with pytest.raises(TypeError, match='await'):
        list(lazy)
    with pytest.raises(TypeError, match='await'):
        len(Book.find())
    # Once awaited, the same cursor works synchronously.
    assert [book.name for book in await lazy] == ['book2', 'book1', 'book0']


async def test_instances_of_one_document_are_equal(engine: str) -> None:
    written = dt.datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=dt.timezone.utc)
    chapter = await Chapter.insert_one(title='one', number=1, written=written)
    other = await Chapter.insert_one(title='two', number=2)
    volume = await Volume.insert_one(name='v', chapters=[chapter, other], opening=chapter)
    stored = await Chapter.find_one(id=chapter.id)
    assert stored == chapter  # an aware datetime inserted equals the one read back, on MongoDB too
    read = await Volume.find_one(id=volume.id)
    assert read.chapters[0] == chapter
    assert read.chapters[0] == stored
    assert read.opening == read.chapters[0]
    assert read == volume
    assert read.chapters[1] != chapter
    assert [item for item in await Chapter.find() if item in read.chapters] == [chapter, other]
    changed = await Volume.find_one(id=volume.id)
    changed.name = 'w'
    assert changed != read
    # Related documents compare by id: another state of the same chapter still refers to the same document.
    read.chapters[0].title = 'edited in memory'
    assert read == volume
    assert Chapter(title='x') == Chapter(title='x')  # unsaved instances compare by value
    assert Chapter(title='x') != Chapter(title='y')


async def _max_loop_gap(work: asyncio.Future[object]) -> float:
    """The longest time the event loop went without running a 1 ms timer while `work` ran."""
    loop = asyncio.get_running_loop()
    longest = 0.0
    last = loop.time()
    while not work.done():
        tick = loop.create_future()
        loop.call_later(0.001, tick.set_result, None)
        await asyncio.wait([tick, work], return_when=asyncio.FIRST_COMPLETED)
        now = loop.time()
        longest = max(longest, now - last)
        last = now
    return longest


async def test_large_results_are_built_off_the_event_loop(engine: str) -> None:
    # SecantusDB (the test MongoDB server) inserts slowly: fewer documents there, still several batches.
    count = 20_000 if engine == 'sqlite' else 2_500
    for start in range(0, count, 5000):
        await Row.insert_many(
            [{'name': f'r{i}', 'n': i, 'tags': ['a']} for i in range(start, min(count, start + 5000))]
        )
    loop_thread = threading.get_ident()
    Row.built_on.clear()
    # The interpreter's cyclic garbage collector pauses every thread for a full collection of a large heap (~100 ms
    # here): kept out of the measurement, which is about how the engine schedules its own work.
    gc.collect()
    gc.disable()
    try:
        read = asyncio.ensure_future(Row.find())
        awaited_gap = await _max_loop_gap(read)
        result = read.result()

        async def stream() -> int:
            return sum([1 async for _ in Row.find()])

        streamed = asyncio.ensure_future(stream())
        streamed_gap = await _max_loop_gap(streamed)
    finally:
        gc.enable()
    assert len(result) == count
    assert streamed.result() == count
    # Every instance was validated on a worker thread, never on the event loop.
    assert Row.built_on.get(loop_thread, 0) == 0
    assert sum(Row.built_on.values()) == 2 * count
    assert awaited_gap < 0.1, f'the event loop was held for {awaited_gap * 1000:.0f} ms'
    assert streamed_gap < 0.1, f'the event loop was held for {streamed_gap * 1000:.0f} ms'
    # Small results stay on the event loop (a thread hand-off would cost more than building them).
    Row.built_on.clear()
    assert len(await Row.find(n={'$lt': 10})) == 10
    assert Row.built_on == {loop_thread: 10}


class RowList(ListAPI):
    pagination = Pagination
    sort_fields = ['n']

    async def get_query(self, request: Request, **kwargs: Any) -> Any:
        return await Row.find()  # the 5.x way: awaited here, but only the requested page is read


async def test_list_api_reads_only_the_requested_page(engine: str) -> None:
    await Row.insert_many([{'name': f'r{i}', 'n': i} for i in range(300)])
    client = APIClient(app=Panther(__name__, configs=__name__, urls={'rows/': RowList}))
    Row.built_on.clear()
    res = await client.get('/rows/', query_params={'limit': 5, 'skip': 10, 'sort': '-n'})
    assert res.status_code == 200
    assert [row['n'] for row in res.data['results']] == [289, 288, 287, 286, 285]
    assert res.data['count'] == 300
    assert sum(Row.built_on.values()) == 5


async def test_reading_a_result_is_logged(engine: str, caplog: pytest.LogCaptureFixture) -> None:
    await _books(2)
    config.LOG_QUERIES = True
    with caplog.at_level(logging.INFO, logger='query'):
        Book.find()  # nothing is read yet
        await Book.find()
        await Book.find(author='author0').to_list()
    messages = [record.getMessage() for record in caplog.records if record.name == 'query']
    assert len(messages) == 2
    assert all(message.startswith('[Query] Book.find() takes ') for message in messages)
