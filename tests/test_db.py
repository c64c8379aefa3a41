"""The query API, run against both engines: the embedded SQLite database and MongoDB."""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
import enum
import logging
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from panther.configs import config
from panther.db import Model
from panther.db.connections import db, load_database
from panther.db.cursor import BaseCursor
from panther.db.models import BaseUser, DocumentError, Unique
from panther.db.queries.base_queries import BaseQuery
from panther.db.queries.pantherdb_queries import BasePantherDBQuery
from panther.exceptions import DatabaseError, NotFoundAPIError, PantherError
from tests.conftest import MONGO_HOST, MONGO_PORT


class Color(enum.Enum):
    RED = 'red'
    BLUE = 'blue'


class Address(BaseModel):
    city: str
    zip_code: str = ''


class Author(Model):
    name: str
    age: int = 0


class Book(Model):
    name: str
    author: str = Field('default_author')
    pages_count: int = Field(0)


class Article(Model):
    title: str
    writer: Author | None = None
    reviewers: list[Author] = []


class Everything(Model):
    when: dt.datetime
    day: dt.date
    color: Color
    key: uuid.UUID
    price: decimal.Decimal
    scores: dict[str, int] = {}
    address: Address | None = None
    tags: list[str] = []
    note: str | None = None
    flag: bool = False


class Shelf(Model):
    model_config = ConfigDict(str_strip_whitespace=True)

    label: str
    size: Annotated[int, Field(gt=0)] = 1
    address: Address | None = None
    code: str = ''
    serial: int = Field(0, frozen=True)

    @field_validator('code')
    @classmethod
    def _upper(cls, value: str) -> str:
        if value == 'bad':
            raise ValueError('not allowed')
        return value.upper()


class User(BaseUser):
    pass


class Account(Model):
    username: Annotated[str, Unique()]
    email: Annotated[str | None, Unique()] = None
    nickname: str = ''


class Entry(Model):
    model_config = ConfigDict(frozen=True)

    text: str
    at: dt.datetime | None = None
    writer: Author | None = None


class Stay(Model):
    check_in: dt.date
    check_out: dt.date

    @field_validator('check_out')
    @classmethod
    def _after_check_in(cls, value: dt.date, info: ValidationInfo) -> dt.date:
        check_in = info.data.get('check_in')
        if check_in is None or value <= check_in:
            raise ValueError(f'must be after check_in ({check_in})')
        return value


class Booking(Model):
    start: int
    end: int

    @model_validator(mode='after')
    def _ordered(self) -> Booking:
        if self.end <= self.start:
            raise ValueError(f'end must be after start ({self.start})')
        return self


class Point(BaseModel):
    a: int
    b: int


class Plot(Model):
    name: str
    origin: Point | None = None
    path: list[Point] = []
    named: dict[str, Point] = {}


class Window(BaseModel):
    opens: dt.datetime
    closes: dt.datetime | None = None


class Event(Model):
    at: dt.datetime
    history: list[dt.datetime] = []
    window: Window | None = None
    day: dt.date | None = None


class Review(BaseModel):
    author: str
    score: int = 0
    tags: list[str] = []


class Post(Model):
    title: str
    tags: list[str] = []
    scores: list[int] = []
    reviews: list[Review] = []
    extra: Any = None
    matrix: list[list[int]] = []


@pytest.fixture(params=['sqlite', pytest.param('mongodb', marks=pytest.mark.mongodb)])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == 'sqlite':
        load_database(
            {'engine': {'class': 'panther.db.connections.PantherDBConnection', 'path': tmp_path / 'db.sqlite3'}}
        )
    else:
        name = f'panther_test_{uuid.uuid4().hex[:12]}'
        host, port = request.getfixturevalue('mongodb_address')
        load_database(
            {
                'engine': {
                    'class': 'panther.db.connections.MongoDBConnection',
                    'host': f'mongodb://{host}:{port}',
                    'database': name,
                }
            }
        )
    yield request.param
    if request.param == 'mongodb':
        await config.DATABASE.client.drop_database(config.DATABASE.session.name)
    await config.DATABASE.close()


async def _books(count: int = 4) -> list[Book]:
    return await Book.insert_many(
        [{'name': f'book{i}', 'author': f'author{i % 2}', 'pages_count': i} for i in range(count)]
    )


# ------------------------------------------------------------------------------------------------- inserting


async def test_insert_one_returns_instance_with_id(engine: str) -> None:
    book = await Book.insert_one(name='x', pages_count='12')
    assert isinstance(book, Book)
    assert book.name == 'x'
    assert book.pages_count == 12
    dumped = book.model_dump()
    assert isinstance(dumped['id'], str)
    if engine == 'sqlite':
        assert len(dumped['id']) == 26
        assert book._id == book.id
    else:
        assert re.fullmatch('[0-9a-f]{24}', dumped['id'])
        assert str(book._id) == dumped['id']


async def test_insert_ignores_given_ids(engine: str) -> None:
    book = await Book.insert_one({'id': 'mine', '_id': 'also-mine', 'name': 'x'})
    assert book.model_dump()['id'] not in ('mine', 'also-mine')


async def test_insert_one_accepts_a_model_instance(engine: str) -> None:
    book = await Book.insert_one(Book(name='from instance', pages_count=3))
    assert book.id is not None
    found = await Book.find_one(id=book.id)
    assert found is not None
    assert found.pages_count == 3


async def test_frozen_models(engine: str) -> None:
    entry = await Entry.insert_one(text='a', at=dt.datetime(2024, 1, 2, 3, 4, 5, 678901), writer=Author(name='w'))
    assert entry.id is not None
    assert entry.model_dump()['id'] == str(entry.id)
    assert await Entry.find_one(id=entry.id) == entry
    assert entry.writer.id is not None  # the unsaved (not frozen) related document was inserted first
    with pytest.raises(ValidationError):
        entry.text = 'changed'
    many = await Entry.insert_many([{'text': 'b'}, Entry(text='c')])
    assert [await Entry.find_one(id=item.id) for item in many] == many
    draft = Entry(text='d')
    await draft.save()
    assert draft.id is not None
    assert await Entry.find_one(id=draft.id) == draft
    await draft.save()  # stored again under its id
    assert await Entry.count(text='d') == 1
    # The stored document can still be changed through the query API; the instance is reloaded.
    await entry.update(text='e')
    assert entry.text == 'e'
    assert await Entry.update_one({'id': draft.id}, text='f') is True
    assert (await Entry.find_one(id=draft.id)).text == 'f'


async def test_insert_invalid_document_raises_and_writes_nothing(engine: str) -> None:
    with pytest.raises(DatabaseError) as error:
        await Book.insert_one()
    assert str(error.value) == 'Book(name="Field required")'
    with pytest.raises(DatabaseError, match='pages_count'):
        await Book.insert_one(name='x', pages_count='many')
    assert await Book.count() == 0


async def test_insert_many_is_all_or_nothing(engine: str) -> None:
    with pytest.raises(DatabaseError):
        await Book.insert_many([{'name': 'ok'}, {'pages_count': 1}])
    assert await Book.count() == 0
    books = await _books(3)
    assert [book.name for book in books] == ['book0', 'book1', 'book2']
    assert len({book.id for book in books}) == 3
    assert await Book.count() == 3


# --------------------------------------------------------------------------------------------------- reading


async def test_find_one(engine: str) -> None:
    books = await _books()
    found = await Book.find_one(id=books[2].id)
    assert found == books[2]
    assert (await Book.find_one(name='book1')) == books[1]
    assert (await Book.find_one({'name': 'book1'}, pages_count=1)) == books[1]
    assert await Book.find_one(name='missing') is None
    assert await Book.find_one() is not None


async def test_find_one_by_id_as_string(engine: str) -> None:
    book = await Book.insert_one(name='x')
    assert await Book.find_one(id=str(book.id)) == book
    assert await Book.find_one({'_id': str(book.id)}) == book


async def test_unknown_and_invalid_ids_find_nothing(engine: str, caplog: pytest.LogCaptureFixture) -> None:
    await Book.insert_one(name='x')
    with caplog.at_level(logging.WARNING, logger='query'):
        assert await Book.find_one(id='not-an-id') is None
    if engine == 'mongodb':
        assert 'id=not-an-id is not a valid bson.ObjectId' in caplog.text
        assert await Book.find_one(id='0' * 24) is None
    else:
        assert await Book.find_one(id='0' * 26) is None


async def test_filters_are_not_mutated(engine: str) -> None:
    book = await Book.insert_one(name='x')
    query = {'id': book.id}
    await Book.find_one(query)
    await Book.find(query)
    await Book.count(query)
    await Book.update_one(query, name='y')
    assert query == {'id': book.id}
    update = {'name': 'z'}
    await Book.update_one({'id': book.id}, update)
    assert update == {'name': 'z'}


async def test_find_returns_cursor_with_cls_and_filter(engine: str) -> None:
    await _books()
    cursor = await Book.find(author='author0')
    assert isinstance(cursor, BaseCursor)
    assert cursor.cls is Book
    assert cursor.filter == {'author': 'author0'}
    names = [book.name async for book in cursor]
    assert sorted(names) == ['book0', 'book2']
    # An awaited cursor holds its result; a streamed one is consumed by one iteration.
    assert len(await cursor.to_list()) == 2
    streamed = Book.find(author='author0')
    assert len([book async for book in streamed]) == 2
    with pytest.raises(DatabaseError, match='already been iterated'):
        await streamed.to_list()
    book = await Book.find_one(name='book0')
    cursor = await Book.find(id=book.id)
    assert '_id' in cursor.filter


async def test_all_to_list(engine: str) -> None:
    books = await _books()
    found = await (await Book.all()).to_list()
    assert found == books


async def test_sort_skip_limit_in_any_order(engine: str) -> None:
    await _books(6)
    cursor = (await Book.find()).limit(2).skip(1).sort('pages_count', -1)
    assert [book.pages_count for book in await cursor.to_list()] == [4, 3]
    cursor = (await Book.find()).sort([('author', 1), ('pages_count', -1)])
    assert [book.name for book in await cursor.to_list()] == ['book4', 'book2', 'book0', 'book5', 'book3', 'book1']
    cursor = (await Book.find()).sort('pages_count').skip(4)
    assert [book.pages_count for book in await cursor.to_list()] == [4, 5]
    with pytest.raises(DatabaseError):
        (await Book.find()).sort('name', 2)
    with pytest.raises(DatabaseError):
        (await Book.find()).limit(-1)


async def test_first_and_last_follow_insertion_order(engine: str) -> None:
    books = await _books(5)
    assert await Book.first() == books[0]
    assert await Book.last() == books[-1]
    assert await Book.first(author='author1') == books[1]
    assert await Book.last(author='author0') == books[4]
    assert await Book.first(name='missing') is None


async def test_count_and_exists(engine: str) -> None:
    await _books(5)
    assert await Book.count() == 5
    assert await Book.count(author='author0') == 3
    assert await Book.count({'author': 'author0'}, pages_count=2) == 1
    assert await Book.exists(name='book3') is True
    assert await Book.exists(name='missing') is False


async def test_query_operators(engine: str) -> None:
    await _books(6)
    assert await Book.count(pages_count={'$gt': 3}) == 2
    assert await Book.count(pages_count={'$gte': 3, '$lt': 5}) == 2
    assert await Book.count(pages_count={'$ne': 0}) == 5
    assert await Book.count(name={'$in': ['book1', 'book2', 'nope']}) == 2
    assert await Book.count(name={'$nin': ['book1', 'book2']}) == 4
    assert await Book.count({'$or': [{'name': 'book1'}, {'pages_count': 5}]}) == 2
    assert await Book.count(name={'$regex': 'BOOK[12]', '$options': 'i'}) == 2
    assert await Book.count(name={'$regex': 'BOOK[12]'}) == 0
    assert await Book.count(missing={'$exists': False}) == 6
    # Numbers never compare with strings (MongoDB's type brackets).
    assert await Book.count(name={'$gt': 5}) == 0


async def test_in_and_nin_on_the_id(engine: str) -> None:
    books = await _books(4)
    first, second = str(books[0].id), str(books[1].id)
    names = sorted(book.name for book in await (await Book.find(id={'$nin': [first, second]})).to_list())
    assert names == ['book2', 'book3']
    names = sorted(book.name for book in await (await Book.find(id={'$in': [first, second]})).to_list())
    assert names == ['book0', 'book1']
    assert await Book.count(_id={'$nin': [first]}) == 3
    assert await Book.count(id={'$nin': []}) == 4
    assert await Book.count(id={'$in': []}) == 0
    assert await Book.count({'$or': [{'id': {'$nin': [first]}}, {'name': 'book0'}]}) == 4
    assert await Book.update_many({'id': {'$nin': [first]}}, pages_count=9) == 3
    assert await Book.count(pages_count=9) == 3
    assert await Book.delete_many(id={'$nin': [first, second]}) == 2
    assert sorted(book.name for book in await (await Book.find()).to_list()) == ['book0', 'book1']


_POSTS = [
    {
        'title': 'p1',
        'tags': ['py', 'db'],
        'scores': [1, 5],
        'reviews': [{'author': 'ann', 'score': 5, 'tags': ['good']}, {'author': 'bob', 'score': 2}],
        'extra': 'py',
    },
    {'title': 'p2', 'tags': ['js'], 'scores': [3], 'reviews': [{'author': 'bob', 'score': 4}], 'extra': ['py', 'js']},
    {'title': 'p3', 'extra': {'k': 'py'}},
    {'title': 'p4', 'tags': ['py'], 'scores': [10], 'matrix': [[1, 2], [3]]},
]


@pytest.mark.parametrize(
    ('query', 'expected'),
    [
        # A condition on a list holds when it holds for any item (or for the whole list).
        ({'tags': 'py'}, 'p1 p4'),
        ({'tags': {'$eq': 'db'}}, 'p1'),
        ({'tags': {'$ne': 'py'}}, 'p2 p3'),
        ({'tags': {'$in': ['js', 'db']}}, 'p1 p2'),
        ({'tags': {'$nin': ['py']}}, 'p2 p3'),
        ({'tags': {'$regex': '^p'}}, 'p1 p4'),
        ({'tags': ['py', 'db']}, 'p1'),
        ({'tags': []}, 'p3'),
        ({'tags': {'$in': [['js']]}}, 'p2'),
        ({'tags': None}, ''),
        ({'tags': {'$exists': True}}, 'p1 p2 p3 p4'),
        ({'matrix': [1, 2]}, 'p4'),
        # Each operator may be satisfied by a different item; `$elemMatch` needs one item satisfying all.
        ({'scores': {'$gt': 4}}, 'p1 p4'),
        ({'scores': {'$gt': 1, '$lt': 4}}, 'p1 p2'),
        ({'scores': {'$elemMatch': {'$gt': 1, '$lt': 4}}}, 'p2'),
        ({'tags': {'$elemMatch': {'$eq': 'db'}}}, 'p1'),
        ({'tags': {'$all': ['py', 'db']}}, 'p1'),
        ({'tags': {'$all': ['py']}}, 'p1 p4'),
        ({'tags': {'$all': []}}, ''),
        ({'tags': {'$size': 1}}, 'p2 p4'),
        ({'reviews': {'$size': 0}}, 'p3 p4'),
        # Paths through lists of sub-documents look into each of them.
        ({'reviews.author': 'bob'}, 'p1 p2'),
        ({'reviews.author': {'$ne': 'bob'}}, 'p3 p4'),
        ({'reviews.score': {'$nin': [5, 4]}}, 'p3 p4'),
        ({'reviews.author': 'bob', 'reviews.score': {'$gte': 5}}, 'p1'),
        ({'reviews': {'$elemMatch': {'author': 'bob', 'score': {'$gte': 3}}}}, 'p2'),
        ({'reviews': {'$all': [{'$elemMatch': {'author': 'ann'}}, {'$elemMatch': {'author': 'bob'}}]}}, 'p1'),
        ({'reviews.tags': 'good'}, 'p1'),
        ({'reviews.0.author': 'ann'}, 'p1'),
        ({'reviews.author': {'$exists': True}}, 'p1 p2'),
        ({'reviews.missing': {'$exists': False}}, 'p1 p2 p3 p4'),
        # A field of any type: a single value, a list or a sub-document.
        ({'extra': 'py'}, 'p1 p2'),
        ({'extra': {'$gt': 'a'}}, 'p1 p2'),
        ({'extra': None}, 'p4'),
        ({'extra': {'$in': [None, 'js']}}, 'p2 p4'),
        ({'extra': {'$size': 2}}, 'p2'),
        ({'extra.k': 'py'}, 'p3'),
        ({'$or': [{'tags': 'js'}, {'extra.k': 'py'}]}, 'p2 p3'),
    ],
)
async def test_list_fields_match_like_mongodb(engine: str, query: dict, expected: str) -> None:
    await Post.insert_many(_POSTS)
    where = dict(query)
    found = await (await Post.find(query)).to_list()
    assert ' '.join(sorted(post.title for post in found)) == expected
    assert await Post.count(query) == len(found)
    assert query == where


async def test_elem_match_with_logical_operators(engine: str) -> None:
    if engine == 'mongodb':
        pytest.skip('the MongoDB test server does not implement `$or` inside `$elemMatch` (MongoDB does)')
    await Post.insert_many(_POSTS)
    query = {'reviews': {'$elemMatch': {'$or': [{'author': 'ann'}, {'score': 4}]}}}
    assert sorted(post.title for post in await (await Post.find(query)).to_list()) == ['p1', 'p2']
    assert await Post.count(reviews={'$elemMatch': {'$nor': [{'author': 'bob'}]}}) == 1


async def test_list_fields_in_updates_and_deletes(engine: str) -> None:
    await Post.insert_many(_POSTS)
    assert await Post.update_many({'tags': 'py'}, {'$set': {'title': 'python'}}) == 2
    assert await Post.count(title='python') == 2
    assert await Post.delete_many(tags={'$all': ['py', 'db']}) == 1
    assert await Post.exists(tags='db') is False
    assert (await Post.find_one(tags='js')).title == 'p2'


async def test_aggregate(engine: str) -> None:
    await _books(4)
    pipeline = [{'$match': {'author': 'author1'}}, {'$group': {'_id': '$author', 'total': {'$sum': '$pages_count'}}}]
    if engine == 'sqlite':
        with pytest.raises(DatabaseError) as error:
            await Book.aggregate(pipeline)
        assert str(error.value) == 'aggregate() does not supported in `PantherDB`.'
    else:
        assert await Book.aggregate(pipeline) == [{'_id': 'author1', 'total': 4}]


# -------------------------------------------------------------------------------------------------- updating


async def test_update_one(engine: str) -> None:
    books = await _books()
    assert await Book.update_one({'id': books[1].id}, name='renamed') is True
    assert (await Book.find_one(id=books[1].id)).name == 'renamed'
    assert await Book.update_one({'name': 'missing'}, name='y') is False
    assert await Book.update_one({'author': 'author0'}, {'pages_count': 100}) is True
    assert await Book.count(pages_count=100) == 1
    # Partial update: other fields untouched.
    found = await Book.find_one(id=books[1].id)
    assert (found.author, found.pages_count) == ('author1', 1)


async def test_update_validates_and_converts(engine: str) -> None:
    book = await Book.insert_one(name='x')
    assert await Book.update_one({'id': book.id}, pages_count='7') is True
    assert (await Book.find_one(id=book.id)).pages_count == 7
    with pytest.raises(DatabaseError, match=r'^Book\(pages_count='):
        await Book.update_one({'id': book.id}, pages_count='many')
    assert (await Book.find_one(id=book.id)).pages_count == 7


async def test_update_applies_the_models_validators_and_config(engine: str) -> None:
    shelf = await Shelf.insert_one(label='a')
    assert await Shelf.update_one({'id': shelf.id}, label='  b ', code='x1', size='3', address={'city': 'Paris'})
    found = await Shelf.find_one(id=shelf.id)
    assert (found.label, found.code, found.size, found.address) == ('b', 'X1', 3, Address(city='Paris'))
    with pytest.raises(DatabaseError) as raised:
        await Shelf.update_one({'id': shelf.id}, size=0, code='bad', address={'city': 5}, label='c')
    assert str(raised.value) == (
        'Shelf(size="Input should be greater than 0", code="Value error, not allowed", '
        'address.city="Input should be a valid string")'
    )
    with pytest.raises(DatabaseError, match=r'^Shelf\(serial="Field is frozen"\)$'):
        await Shelf.update_one({'id': shelf.id}, serial=2)
    # Nothing of a rejected update is written, not even its valid fields.
    assert await Shelf.find_one(id=shelf.id) == found


async def test_updates_with_incomplete_sub_documents_are_refused(engine: str) -> None:
    plot = await Plot.insert_one(name='p', origin={'a': 1, 'b': 2})
    # Required fields of the model itself may be left out of an update, those of a sub-document may not.
    with pytest.raises(DocumentError) as raised:
        await Plot.update_one({'id': plot.id}, origin={'a': 5})
    assert str(raised.value) == 'Plot(origin.b="Field required")'
    assert raised.value.fields == {'origin.b': 'Field required'}
    with pytest.raises(DatabaseError, match=r'^Plot\(path\.1\.a="Field required"\)$'):
        await Plot.update_many({'name': 'p'}, path=[{'a': 1, 'b': 1}, {'b': 2}])
    with pytest.raises(DatabaseError, match=r'^Plot\(named\.x\.b="Field required", name="Input should be'):
        await plot.update(named={'x': {'a': 1}}, name=5)
    with pytest.raises(DatabaseError, match=r'^Plot\(origin\.b="Field required"\)$'):
        await Plot.update_one({'id': plot.id}, {'$set': {'origin': {'a': 5}}})
    assert await Plot.find_one(id=plot.id) == plot
    assert (plot.name, plot.origin, plot.path, plot.named) == ('p', Point(a=1, b=2), [], {})
    assert await Plot.update_one({'id': plot.id}, origin={'a': 5, 'b': 6}) is True
    assert (await Plot.find_one(id=plot.id)).origin == Point(a=5, b=6)


async def test_validators_that_see_other_fields_get_the_documents_own_values(engine: str) -> None:
    day = dt.date(2024, 1, 1)
    early = await Stay.insert_one(check_in=day, check_out=day + dt.timedelta(days=2))
    late = await Stay.insert_one(check_in=day + dt.timedelta(days=10), check_out=day + dt.timedelta(days=12))
    assert await Stay.update_one({'id': late.id}, check_out=day + dt.timedelta(days=11)) is True
    message = r'^Stay\(check_out="Value error, must be after check_in \(2024-01-11\)"\)$'
    with pytest.raises(DatabaseError, match=message):
        await Stay.update_one({'id': late.id}, check_out=day + dt.timedelta(days=5))
    assert await Stay.update_one({'id': early.id}, check_out=day + dt.timedelta(days=5)) is True
    assert await Stay.update_many({}, check_out=day + dt.timedelta(days=20)) == 2
    # Every document is validated before anything is written.
    with pytest.raises(DatabaseError, match='must be after check_in'):
        await Stay.update_many({}, check_out=day + dt.timedelta(days=6))
    assert {stay.check_out for stay in await (await Stay.find()).to_list()} == {day + dt.timedelta(days=20)}
    await early.update(check_out=day + dt.timedelta(days=1))
    with pytest.raises(DatabaseError, match='must be after check_in'):
        await early.update(check_out=day)
    assert (await Stay.find_one(id=early.id)).check_out == day + dt.timedelta(days=1)
    # No document: nothing to write, nor to check the value against.
    assert await Stay.update_one({'check_in': day + dt.timedelta(days=99)}, check_out=day) is False
    assert await Stay.update_many({'check_in': day + dt.timedelta(days=99)}, check_out=day) == 0

    # Model validators see the whole document; earlier updates of other documents must not leak into it.
    first = await Booking.insert_one(start=0, end=10)
    second = await Booking.insert_one(start=50, end=60)
    assert await Booking.update_one({'id': second.id}, start=58) is True
    assert await Booking.update_one({'id': first.id}, end=20) is True
    with pytest.raises(DatabaseError, match=r'^Booking\(end="Value error, end must be after start \(0\)"\)$'):
        await Booking.update_one({'id': first.id}, end=-1)
    assert await Booking.update_many({}, end=70) == 2
    with pytest.raises(DatabaseError, match=r'end must be after start \(58\)'):
        await Booking.update_many({}, end=30)
    await first.update(start=65)
    with pytest.raises(DatabaseError, match='end must be after start'):
        await first.update(start=75)
    assert [(item.start, item.end) for item in await (await Booking.find()).sort('start').to_list()] == [
        (58, 70),
        (65, 70),
    ]


async def test_update_many_returns_matched_count(engine: str) -> None:
    await _books(4)
    assert await Book.update_many({'author': 'author0'}, author='author0') == 2
    assert await Book.update_many({'author': 'author0'}, {'pages_count': 9}) == 2
    assert await Book.count(pages_count=9) == 2
    assert await Book.update_many({'name': 'missing'}, pages_count=1) == 0


async def test_update_operators(engine: str) -> None:
    book = await Book.insert_one(name='x', pages_count=1)
    await Book.update_one({'id': book.id}, {'$inc': {'pages_count': 2}})
    assert (await Book.find_one(id=book.id)).pages_count == 3
    await Book.update_one({'id': book.id}, {'$set': {'name': 'set'}})
    assert (await Book.find_one(id=book.id)).name == 'set'
    await Book.update_one({'id': book.id}, {'$unset': {'author': ''}})
    assert (await Book.find_one(id=book.id)).author == 'default_author'


async def test_instance_update_reloads_fields(engine: str) -> None:
    book = await Book.insert_one(name='x', pages_count=1)
    await Book.update_one({'id': book.id}, author='changed elsewhere')
    await book.update(name='y')
    assert (book.name, book.author, book.pages_count) == ('y', 'changed elsewhere', 1)
    await book.update({'pages_count': 5})
    assert book.pages_count == 5


async def test_save_inserts_then_updates(engine: str) -> None:
    book = Book(name='draft')
    await book.save()
    assert book.id is not None
    book.pages_count = 42
    await book.save()
    found = await Book.find_one(id=book.id)
    assert found.pages_count == 42
    assert await Book.count() == 1


async def test_reload_and_delete(engine: str) -> None:
    book = await Book.insert_one(name='x')
    await Book.update_one({'id': book.id}, name='fresh')
    await book.reload()
    assert book.name == 'fresh'
    await book.delete()
    assert await Book.count() == 0
    with pytest.raises(DatabaseError, match='does not exist'):
        await book.reload()


async def test_find_one_or_insert(engine: str) -> None:
    created, inserted = await Book.find_one_or_insert(name='x')
    assert inserted is True
    found, inserted = await Book.find_one_or_insert({'name': 'x'})
    assert inserted is False
    assert found == created
    assert await Book.count() == 1


async def test_find_one_or_raise(engine: str) -> None:
    book = await Book.insert_one(name='x')
    assert await Book.find_one_or_raise(name='x') == book
    with pytest.raises(NotFoundAPIError) as error:
        await Book.find_one_or_raise(name='missing')
    assert error.value.status_code == 404
    assert error.value.detail == 'Book Does Not Exist'


# -------------------------------------------------------------------------------------------------- deleting


async def test_delete_one(engine: str) -> None:
    await _books(3)
    assert await Book.delete_one() is False
    assert await Book.delete_one({}) is False
    assert await Book.count() == 3
    assert await Book.delete_one(name='missing') is False
    assert await Book.delete_one(author='author0') is True
    assert await Book.count() == 2
    assert await Book.count(author='author0') == 1


async def test_delete_many(engine: str) -> None:
    await _books(5)
    assert await Book.delete_many(author='author0') == 3
    assert await Book.delete_many(name='missing') == 0
    assert await Book.delete_many() == 2
    assert await Book.count() == 0


# ------------------------------------------------------------------------------------------------ field types


async def test_field_types_round_trip(engine: str) -> None:
    when = dt.datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=dt.timezone.utc)
    key = uuid.uuid4()
    item = await Everything.insert_one(
        when=when,
        day='2024-02-29',
        color='blue',
        key=str(key),
        price='10.25',
        scores={'a': 1, 'b': '2'},
        address={'city': 'Tehran'},
        tags=['x', 'y'],
    )
    found = await Everything.find_one(id=item.id)
    assert found is not None
    assert found.when.replace(tzinfo=dt.timezone.utc) == when
    assert found.day == dt.date(2024, 2, 29)
    assert found.color is Color.BLUE
    assert found.key == key
    assert found.price == decimal.Decimal('10.25')
    assert found.scores == {'a': 1, 'b': 2}
    assert found.address == Address(city='Tehran')
    assert found.tags == ['x', 'y']
    assert found.note is None
    assert await Everything.count(color=Color.BLUE) == 1
    assert await Everything.count(key=key) == 1
    assert await Everything.count(day=dt.date(2024, 2, 29)) == 1
    assert await Everything.count(**{'address.city': 'Tehran'}) == 1
    assert await Everything.count(flag=False) == 1
    await found.update(address={'city': 'Shiraz', 'zip_code': '7'}, note='n')
    assert found.address == Address(city='Shiraz', zip_code='7')
    assert found.note == 'n'


async def test_datetimes_read_back_as_returned_by_insert(engine: str) -> None:
    when = dt.datetime(2024, 5, 6, 7, 8, 9, 123456)
    window = Window(opens=when, closes=when + dt.timedelta(microseconds=999))
    event = await Event.insert_one(at=when, history=[when, when.replace(microsecond=1)], window=window)
    found = await Event.find_one(id=event.id)
    assert found == event
    # MongoDB keeps milliseconds (the rest is cut); the embedded engine keeps microseconds.
    expected = when.replace(microsecond=123000) if engine == 'mongodb' else when
    assert (event.at, event.window.opens, event.history[0]) == (expected, expected, expected)
    assert window.opens == when  # the caller's sub-document is not changed
    assert await Event.count(at=when) == 1
    assert await Event.count(at={'$gte': when}) == 1
    many = await Event.insert_many([{'at': when}, Event(at=when + dt.timedelta(microseconds=1500))])
    assert [await Event.find_one(id=item.id) for item in many] == many
    draft = Event(at=when, day=dt.date(2024, 5, 6))
    await draft.save()
    assert await Event.find_one(id=draft.id) == draft
    draft.at = when + dt.timedelta(microseconds=2)
    await draft.save()
    assert await Event.find_one(id=draft.id) == draft
    await draft.update(history=[when])
    assert await Event.find_one(id=draft.id) == draft
    user = await User.insert_one(username='u')
    stored = await User.find_one(id=user.id)
    assert stored.date_created.replace(tzinfo=None) == user.date_created.astimezone(dt.timezone.utc).replace(
        tzinfo=None
    )


# ----------------------------------------------------------------------------------------------- unique fields


async def test_unique_fields(engine: str) -> None:
    ali = await Account.insert_one(username='ali', email='ali@example.com')
    with pytest.raises(DocumentError) as raised:
        await Account.insert_one(username='ali')
    assert str(raised.value) == 'Account(username="already exists")'
    assert raised.value.fields == {'username': 'already exists'}
    assert isinstance(raised.value, DatabaseError)
    with pytest.raises(DatabaseError, match=r'^Account\(email="already exists"\)$'):
        await Account.insert_one(username='other', email='ali@example.com')
    # An optional unique field may be left empty by several documents.
    sara = await Account.insert_one(username='sara')
    reza = await Account.insert_one(username='reza', email=None)
    assert await Account.count() == 3
    assert (await Account.find_one(username='ali')).id == ali.id

    with pytest.raises(DatabaseError, match=r'^Account\(username="already exists"\)$'):
        await Account.update_one({'id': sara.id}, username='ali')
    with pytest.raises(DatabaseError, match=r'^Account\(email="already exists"\)$'):
        await Account.update_many({'username': {'$in': ['sara', 'reza']}}, email='same@example.com')
    with pytest.raises(DatabaseError, match=r'^Account\(username="already exists"\)$'):
        await sara.update(username='reza')
    assert sara.username == 'sara'
    sara.username = 'ali'
    with pytest.raises(DatabaseError, match=r'^Account\(username="already exists"\)$'):
        await sara.save()
    # Writing a document's own value again is no conflict.
    assert await Account.update_one({'id': ali.id}, username='ali', nickname='a') is True
    await reza.update(username='reza2')
    assert (await Account.find_one(id=reza.id)).username == 'reza2'

    # A batch with a repeated value writes nothing, on both engines.
    with pytest.raises(DatabaseError, match=r'^Account\(username="already exists"\)$'):
        await Account.insert_many([{'username': 'new1'}, {'username': 'new2'}, {'username': 'new1'}])
    with pytest.raises(DatabaseError, match=r'^Account\(username="already exists"\)$'):
        await Account.insert_many([{'username': 'new3'}, {'username': 'ali'}])
    assert sorted(account.username for account in await (await Account.find()).to_list()) == ['ali', 'reza2', 'sara']


async def test_concurrent_inserts_of_one_unique_value(engine: str) -> None:
    results = await asyncio.gather(*(Account.insert_one(username='race') for _ in range(5)), return_exceptions=True)
    assert len([result for result in results if isinstance(result, Account)]) == 1
    assert all(isinstance(result, DocumentError) for result in results if not isinstance(result, Account))
    assert await Account.count(username='race') == 1

    # Check-then-insert is a race on its own (on MongoDB both checks can pass); the unique index settles it.
    async def sign_up(name: str) -> Account | None:
        if await Account.exists(username=name):
            return None
        return await Account.insert_one(username=name)

    results = await asyncio.gather(sign_up('twice'), sign_up('twice'), return_exceptions=True)
    assert len([result for result in results if isinstance(result, Account)]) == 1
    assert await Account.count(username='twice') == 1


async def test_unique_index_follows_the_model(engine: str, tmp_path: Path) -> None:
    class Handle(Model):
        name: Annotated[str, Unique()]

    await Handle.insert_one(name='x')
    with pytest.raises(DatabaseError, match='already exists'):
        await Handle.insert_one(name='x')
    await _reconnect(engine)

    class Handle(Model):  # type: ignore[no-redef]  # the same collection, no longer unique
        name: str

    await Handle.insert_one(name='x')
    assert await Handle.count(name='x') == 2
    await _reconnect(engine)

    class Handle(Model):  # type: ignore[no-redef]
        name: Annotated[str, Unique()]

    # The duplicates can still be read (and removed); writes are refused until they are gone.
    assert await Handle.count(name='x') == 2
    with pytest.raises(DatabaseError, match=r'`Handle.name` cannot be made unique: stored documents already share'):
        await Handle.insert_one(name='y')
    assert await Handle.count() == 2
    assert await Handle.delete_one(name='x') is True
    await Handle.insert_one(name='y')
    with pytest.raises(DatabaseError, match=r'^Handle\(name="already exists"\)$'):
        await Handle.insert_one(name='x')


async def _reconnect(engine: str) -> None:
    # A new connection to the same database, as after a restart of the application.
    if engine == 'sqlite':
        path = config.DATABASE.path
        await config.DATABASE.close()
        load_database({'engine': {'class': 'panther.db.connections.PantherDBConnection', 'path': path}})
    else:
        name = config.DATABASE.session.name
        await config.DATABASE.close()
        load_database(
            {
                'engine': {
                    'class': 'panther.db.connections.MongoDBConnection',
                    'host': f'mongodb://{MONGO_HOST}:{MONGO_PORT}',
                    'database': name,
                }
            }
        )


def test_unique_needs_a_single_valued_field() -> None:
    with pytest.raises(DatabaseError, match=r'`Tags.tags`: `Unique\(\)` needs a field holding one value'):

        class Tags(Model):
            tags: Annotated[list[str], Unique()]


# ---------------------------------------------------------------------------------------------- foreign keys


async def test_foreign_keys_are_stored_as_ids_and_resolved(engine: str) -> None:
    author = await Author.insert_one(name='ali', age=30)
    other = await Author.insert_one(name='reza')
    article = await Article.insert_one(title='t', writer=author, reviewers=[other, author.id])
    assert article.writer == author
    assert article.reviewers == [other, author]
    found = await Article.find_one(id=article.id)
    assert found.writer == author
    assert found.reviewers == [other, author]
    assert found.model_dump()['writer'] == {'id': str(author.id), 'name': 'ali', 'age': 30}
    raw = await Article.count(writer=author)
    assert raw == 1


async def test_related_fields_are_filtered_by_id_text(engine: str) -> None:
    author = await Author.insert_one(name='ali')
    other = await Author.insert_one(name='reza')
    await Article.insert_many(
        [{'title': 'a', 'writer': author, 'reviewers': [other]}, {'title': 'b', 'writer': other, 'reviewers': []}]
    )
    assert await Article.count(writer=str(author.id)) == 1
    assert (await Article.find_one(writer=str(other.id))).title == 'b'
    assert await Article.count(writer={'$in': [str(author.id), str(other.id)]}) == 2
    assert await Article.count(writer={'$ne': str(author.id)}) == 1
    assert await Article.count(writer={'$nin': [str(author.id)]}) == 1
    assert await Article.count(reviewers=str(other.id)) == 1
    assert await Article.count(reviewers={'$all': [str(other.id)]}) == 1
    assert await Article.count({'$or': [{'writer': str(author.id)}, {'title': 'none'}]}) == 1
    assert await Article.count(writer=other, reviewers=[]) == 1
    assert await Article.update_many({'writer': str(author.id)}, title='updated') == 1
    assert await Article.delete_many(writer=str(other.id)) == 1
    # Text that is not an id matches nothing (no error), and `$ne` then matches everything.
    for text in ('not-an-id', '0' * 24, '0' * 26, ''):
        assert await Article.count(writer=text) == 0
        assert await Article.count(writer={'$in': [text]}) == 0
        assert await Article.count(writer={'$ne': text}) == 1


async def test_unsaved_related_model_is_inserted_first(engine: str) -> None:
    article = await Article.insert_one(title='t', writer=Author(name='new'))
    assert article.writer.id is not None
    assert await Author.count(name='new') == 1


async def test_unknown_related_id_fails_validation(engine: str) -> None:
    missing = '0' * (24 if engine == 'mongodb' else 26)
    with pytest.raises(DatabaseError, match='writer'):
        await Article.insert_one(title='t', writer=missing)
    assert await Article.count() == 0


async def test_deleted_related_document_reads_as_none(engine: str) -> None:
    author = await Author.insert_one(name='gone')
    article = await Article.insert_one(title='t', writer=author)
    await author.delete()
    assert (await Article.find_one(id=article.id)).writer is None


async def test_foreign_keys_are_fetched_in_one_query_per_related_model(
    engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    authors = await Author.insert_many([{'name': f'a{i}'} for i in range(5)])
    await Article.insert_many(
        [{'title': f't{i}', 'writer': authors[i % 5], 'reviewers': authors[:2]} for i in range(40)]
    )
    engine_class = config.QUERY_ENGINE
    original = engine_class.fetch_by_ids.__func__
    calls = []

    async def counting(cls: type[BaseQuery], model: type[Model], ids: list[str], depth: int = 0) -> dict:
        calls.append(len(ids))
        return await original(cls, model, ids, depth)

    monkeypatch.setattr(engine_class, 'fetch_by_ids', classmethod(counting))
    articles = await (await Article.find()).to_list()
    assert len(articles) == 40
    assert all(article.writer is not None for article in articles)
    assert calls == [5]


# ------------------------------------------------------------------------------------------------ BaseUser


async def test_base_user_passwords(engine: str) -> None:
    user = await User.insert_one(username='ali')
    assert user.date_created is not None
    await user.set_password('secret')
    assert len(user.password) == 64
    stored = await User.find_one(id=user.id)
    assert stored.password == user.password
    assert await stored.check_password('secret') is True
    assert await stored.check_password('wrong') is False
    assert User.USERNAME_FIELD == 'username'


async def test_base_user_delegates_tokens_to_authentication(engine: str) -> None:
    class FakeAuth:
        @classmethod
        async def login(cls, user: BaseUser) -> dict:
            return {'access_token': f'a-{user.username}', 'refresh_token': 'r'}

        @classmethod
        async def refresh(cls, user: BaseUser) -> dict:
            return {'access_token': 'new'}

        @classmethod
        async def logout(cls, user: BaseUser) -> str:
            return 'bye'

    config.AUTHENTICATION = FakeAuth
    user = await User.insert_one(username='ali')
    assert await user.login() == {'access_token': 'a-ali', 'refresh_token': 'r'}
    assert user.last_login is not None
    assert (await User.find_one(id=user.id)).last_login is not None
    assert await user.refresh_tokens() == {'access_token': 'new'}
    assert await user.logout() == 'bye'


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
