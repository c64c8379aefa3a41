"""The query API, run against both engines: inserting, reading, updating, deleting."""

from __future__ import annotations

import datetime as dt
import logging
import re

import pytest
from pydantic import (
    ValidationError,
)

from panther.db.cursor import BaseCursor
from panther.db.models import DocumentError
from panther.exceptions import DatabaseError, NotFoundAPIError
from tests._db_models import Address, Author, Book, Booking, Entry, Plot, Point, Post, Shelf, Stay, _books

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
