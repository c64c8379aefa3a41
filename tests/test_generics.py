"""Generic CRUD endpoints through the test client, on both engines."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, field_validator

from panther import Panther
from panther.configs import config
from panther.db import Model
from panther.db.connections import load_database
from panther.db.models import Unique
from panther.generics import CreateAPI, DeleteAPI, ListAPI, RetrieveAPI, UpdateAPI
from panther.pagination import Pagination
from panther.request import Request
from panther.serializer import ModelSerializer
from panther.test import APIClient


class Book(Model):
    name: str
    author: str = 'unknown'
    pages_count: int = 0
    published: bool = False


class Publisher(Model):
    name: str


class Edition(Model):
    title: str
    publisher: Publisher | None = None


class ListEditions(ListAPI):
    filter_fields = ['publisher']

    async def get_query(self, request: Request, **kwargs: Any) -> Any:
        return (await Edition.find()).sort('title')


class Member(Model):
    username: Annotated[str, Unique()]
    team: str = ''


class MemberSerializer(ModelSerializer):
    class Config:
        model = Member
        fields = ['username', 'team']


class CreateMember(CreateAPI):
    input_model = MemberSerializer


class UpdateMember(UpdateAPI):
    input_model = MemberSerializer

    async def get_instance(self, request: Request, **kwargs: Any) -> Model:
        return await Member.find_one_or_raise(id=kwargs['member_id'])


class Corner(BaseModel):
    x: int
    y: int


class Room(Model):
    name: str
    corner: Corner | None = None


class LooseRoomSerializer(ModelSerializer):
    """Lets any dict through as `corner`, so the database is the one to check it."""

    class Config:
        model = Room
        fields = ['name', 'corner']

    corner: dict[str, Any] | None = None


class UpdateRoom(UpdateAPI):
    input_model = LooseRoomSerializer

    async def get_instance(self, request: Request, **kwargs: Any) -> Model:
        return await Room.find_one_or_raise(id=kwargs['room_id'])


class BookSerializer(ModelSerializer):
    class Config:
        model = Book
        fields = ['name', 'author', 'pages_count', 'published']


class LooseSerializer(ModelSerializer):
    """Accepts documents without `name`, which the model itself requires."""

    class Config:
        model = Book
        fields = ['author']


class RetrieveBook(RetrieveAPI):
    async def get_instance(self, request: Request, **kwargs: Any) -> Model:
        return await Book.find_one_or_raise(id=kwargs['book_id'])


class ListBooks(ListAPI):
    sort_fields = ['name', 'pages_count']
    search_fields = ['name', 'author']
    filter_fields = ['author', 'pages_count', 'published']
    pagination = Pagination

    async def get_query(self, request: Request, **kwargs: Any) -> Any:
        return await Book.find()


class ListPublished(ListAPI):
    filter_fields = ['author']

    async def get_query(self, request: Request, **kwargs: Any) -> Any:
        return (await Book.find(published=True)).sort('pages_count', -1)


class CreateBook(CreateAPI):
    input_model = BookSerializer


class CreateLoose(CreateAPI):
    input_model = LooseSerializer


class UpdateBook(UpdateAPI):
    input_model = BookSerializer

    async def get_instance(self, request: Request, **kwargs: Any) -> Model:
        return await Book.find_one_or_raise(id=kwargs['book_id'])


class StrictBookSerializer(ModelSerializer):
    """`name` and `pages_count` required, `name` at least 2 characters."""

    class Config:
        model = Book
        fields = ['name', 'author', 'pages_count']
        required_fields = ['name', 'pages_count']

    @field_validator('name')
    @classmethod
    def name_is_long_enough(cls, value: str) -> str:
        if len(value) < 2:
            raise ValueError('name is too short')
        return value


class UpdateStrict(UpdateAPI):
    input_model = StrictBookSerializer

    async def get_instance(self, request: Request, **kwargs: Any) -> Model:
        return await Book.find_one_or_raise(id=kwargs['book_id'])


CREATED: list[str] = []


class CreateStamped(CreateAPI):
    input_model = BookSerializer

    async def perform_create(self, request: Request, data: dict[str, Any], **kwargs: Any) -> Model:
        # A server-side field, then an action after the insert.
        book = await super().perform_create(request, {**data, 'author': f'stamped:{kwargs["shelf"]}'}, **kwargs)
        CREATED.append(str(book.id))
        return book


DELETED: list[str] = []


class DeleteBook(DeleteAPI):
    async def get_instance(self, request: Request, **kwargs: Any) -> Model:
        return await Book.find_one_or_raise(id=kwargs['book_id'])

    async def pre_delete(self, instance: Model, request: Request, **kwargs: Any) -> None:
        DELETED.append(f'pre {instance.name}')

    async def post_delete(self, instance: Model, request: Request, **kwargs: Any) -> None:
        DELETED.append(f'post {await Book.count(id=instance.id)}')


class NoInstance(RetrieveAPI):
    pass


class NoQuery(ListAPI):
    pass


class WrongQuery(ListAPI):
    async def get_query(self, request: Request, **kwargs: Any) -> Any:
        return [1, 2]


URLS = {
    'books/': ListBooks,
    'editions/': ListEditions,
    'members/': CreateMember,
    'members/<member_id>/': UpdateMember,
    'rooms/<room_id>/': UpdateRoom,
    'published/': ListPublished,
    'create/': CreateBook,
    'create-loose/': CreateLoose,
    'book/<book_id>/': RetrieveBook,
    'update/<book_id>/': UpdateBook,
    'strict/<book_id>/': UpdateStrict,
    'shelves/<shelf>/books/': CreateStamped,
    'delete/<book_id>/': DeleteBook,
    'no-instance/': NoInstance,
    'no-query/': NoQuery,
    'wrong-query/': WrongQuery,
}


@pytest.fixture(params=['sqlite', pytest.param('mongodb', marks=pytest.mark.mongodb)])
async def client(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[APIClient]:
    if request.param == 'sqlite':
        engine = {'class': 'panther.db.connections.PantherDBConnection', 'path': tmp_path / 'g.sqlite3'}
    else:
        database = f'panther_generics_{uuid.uuid4().hex[:12]}'
        host, port = request.getfixturevalue('mongodb_address')
        engine = {
            'class': 'panther.db.connections.MongoDBConnection',
            'host': f'mongodb://{host}:{port}',
            'database': database,
        }
    load_database({'engine': engine})
    yield APIClient(app=Panther(__name__, configs=__name__, urls=URLS))
    if request.param == 'mongodb':
        await config.DATABASE.client.drop_database(config.DATABASE.session.name)
    await config.DATABASE.close()


async def _seed() -> list[Book]:
    return await Book.insert_many(
        [
            {'name': 'Dune', 'author': 'Frank Herbert', 'pages_count': 412, 'published': True},
            {'name': 'Emma', 'author': 'Jane Austen', 'pages_count': 12, 'published': True},
            {'name': 'a.c', 'author': 'dune fan', 'pages_count': 12},
            {'name': 'abc', 'author': 'x', 'pages_count': 7},
        ]
    )


# ----------------------------------------------------------------------------------------------------- create


async def test_create(client: APIClient) -> None:
    response = await client.post('create/', payload={'name': 'Dune', 'pages_count': '412'})
    assert response.status_code == 201
    assert response.data['name'] == 'Dune'
    assert response.data['pages_count'] == 412
    assert isinstance(response.data['id'], str)
    assert await Book.count() == 1


async def test_create_with_invalid_body_is_400_and_writes_nothing(client: APIClient) -> None:
    response = await client.post('create/', payload={'pages_count': 'many'})
    assert response.status_code == 400
    assert set(response.data) == {'name', 'pages_count'}
    response = await client.post('create-loose/', payload={'author': 'someone'})
    assert response.status_code == 400
    assert response.data == {'name': 'Field required'}
    assert await Book.count() == 0


async def test_unique_fields_are_400(client: APIClient) -> None:
    response = await client.post('members/', payload={'username': 'ali'})
    assert response.status_code == 201
    response = await client.post('members/', payload={'username': 'ali', 'team': 'x'})
    assert (response.status_code, response.data) == (400, {'username': 'already exists'})
    other = await client.post('members/', payload={'username': 'sara'})
    url = f'members/{other.data["id"]}/'
    response = await client.patch(url, payload={'username': 'ali'})
    assert (response.status_code, response.data) == (400, {'username': 'already exists'})
    response = await client.put(url, payload={'username': 'ali', 'team': 'y'})
    assert (response.status_code, response.data) == (400, {'username': 'already exists'})
    response = await client.patch(url, payload={'team': 'z'})
    assert (response.status_code, response.data['username'], response.data['team']) == (200, 'sara', 'z')
    assert sorted(member.username for member in await (await Member.find()).to_list()) == ['ali', 'sara']


# --------------------------------------------------------------------------------------------------- retrieve


async def test_retrieve(client: APIClient) -> None:
    books = await _seed()
    response = await client.get(f'book/{books[1].id}/')
    assert response.status_code == 200
    assert response.data == {
        'id': str(books[1].id),
        'name': 'Emma',
        'author': 'Jane Austen',
        'pages_count': 12,
        'published': True,
    }


@pytest.mark.parametrize('book_id', ['0' * 24, '0' * 26, 'not-an-id', '%24where'])
async def test_retrieve_unknown_or_invalid_id_is_404(client: APIClient, book_id: str) -> None:
    await _seed()
    response = await client.get(f'book/{book_id}/')
    assert response.status_code == 404
    assert response.data == {'detail': 'Book Does Not Exist'}


# ------------------------------------------------------------------------------------------------------- list


async def test_list_with_pagination(client: APIClient) -> None:
    await _seed()
    response = await client.get('books/', query_params={'limit': 2, 'sort': 'name'})
    assert response.status_code == 200
    assert response.data['count'] == 4
    assert response.data['next'] == '?limit=2&skip=2&sort=name'
    assert response.data['previous'] is None
    assert [book['name'] for book in response.data['results']] == ['Dune', 'Emma']
    response = await client.get('books/', query_params={'limit': 2, 'skip': 2, 'sort': 'name'})
    assert response.data['previous'] == '?limit=2&skip=0&sort=name'
    assert response.data['next'] is None
    assert [book['name'] for book in response.data['results']] == ['a.c', 'abc']


@pytest.mark.parametrize('params', [{'limit': 'ten'}, {'skip': 'x'}, {'limit': '-2'}])
async def test_list_bad_pagination_is_400(client: APIClient, params: dict[str, str]) -> None:
    response = await client.get('books/', query_params=params)
    assert response.status_code == 400
    assert set(response.data) == {'detail'}


@pytest.mark.parametrize(
    ('params', 'detail'),
    [
        ({'skip': '99999999999999999999'}, '`skip` should be at most 1000000000.'),
        ({'limit': '99999999999999999999'}, '`limit` should be at most 1000000000.'),
        ({'skip': '9223372036854775807'}, '`skip` should be at most 1000000000.'),
        ({'pages_count': '99999999999999999999'}, '`pages_count` filter: `99999999999999999999` is out of range.'),
        ({'pages_count': '-99999999999999999999'}, '`pages_count` filter: `-99999999999999999999` is out of range.'),
    ],
)
async def test_list_out_of_range_numbers_are_400_not_a_database_overflow(
    client: APIClient, params: dict[str, str], detail: str
) -> None:
    # Before: SQLite raised OverflowError inside the query and the client got a 500.
    await _seed()
    response = await client.get('books/', query_params=params)
    assert (response.status_code, response.data) == (400, {'detail': detail})
    largest = await client.get('books/', query_params={'skip': '1000000000', 'pages_count': str(2**63 - 1)})
    assert (largest.status_code, largest.data['results']) == (200, [])


async def test_list_sort(client: APIClient) -> None:
    await _seed()
    response = await client.get('books/', query_params={'sort': '-pages_count,name,author'})
    assert [book['name'] for book in response.data['results']] == ['Dune', 'Emma', 'a.c', 'abc']
    response = await client.get('books/', query_params={'sort': 'author'})  # not in sort_fields: ignored
    assert response.status_code == 200


async def test_list_filters_are_converted_to_field_types(client: APIClient) -> None:
    await _seed()
    response = await client.get('books/', query_params={'pages_count': '12', 'sort': 'name'})
    assert [book['name'] for book in response.data['results']] == ['Emma', 'a.c']
    assert response.data['count'] == 2
    response = await client.get('books/', query_params={'published': 'true', 'sort': 'name'})
    assert [book['name'] for book in response.data['results']] == ['Dune', 'Emma']
    response = await client.get('books/', query_params={'author': 'x'})
    assert [book['name'] for book in response.data['results']] == ['abc']
    response = await client.get('books/', query_params={'pages_count': 'abc'})
    assert response.status_code == 400
    assert 'pages_count' in response.data['detail']


async def test_list_filters_related_fields_by_id(client: APIClient) -> None:
    first, second = await Publisher.insert_many([{'name': 'first'}, {'name': 'second'}])
    await Edition.insert_many(
        [{'title': 'a', 'publisher': first}, {'title': 'b', 'publisher': second}, {'title': 'c', 'publisher': first}]
    )
    response = await client.get('editions/', query_params={'publisher': str(first.id)})
    assert response.status_code == 200
    assert [edition['title'] for edition in response.data] == ['a', 'c']
    assert response.data[0]['publisher'] == {'id': str(first.id), 'name': 'first'}
    for unknown in ('not-an-id', '0' * 24, '0' * 26):
        response = await client.get('editions/', query_params={'publisher': unknown})
        assert (response.status_code, response.data) == (200, [])


async def test_list_search_is_case_insensitive_any_field_contains(client: APIClient) -> None:
    await _seed()
    response = await client.get('books/', query_params={'search': 'DUNE', 'sort': 'name'})
    assert [book['name'] for book in response.data['results']] == ['Dune', 'a.c']
    response = await client.get('books/', query_params={'search': 'austen'})
    assert [book['name'] for book in response.data['results']] == ['Emma']
    response = await client.get('books/', query_params={'search': 'dune', 'published': 'true'})
    assert [book['name'] for book in response.data['results']] == ['Dune']
    assert response.data['count'] == 1


@pytest.mark.parametrize('term', ['.*', 'a.c', '(a+)+$', '[', '\\', "' OR 1=1 --", '{"$gt": ""}'])
async def test_list_search_input_is_escaped(client: APIClient, term: str) -> None:
    await _seed()
    response = await client.get('books/', query_params={'search': term})
    assert response.status_code == 200
    names = [book['name'] for book in response.data['results']]
    assert names == (['a.c'] if term == 'a.c' else [])


async def test_list_keeps_the_query_filter_and_sort(client: APIClient) -> None:
    await _seed()
    response = await client.get('published/')
    assert [book['name'] for book in response.data] == ['Dune', 'Emma']
    response = await client.get('published/', query_params={'author': 'Jane Austen'})
    assert [book['name'] for book in response.data] == ['Emma']


# ----------------------------------------------------------------------------------------------------- update


async def test_put_and_patch(client: APIClient) -> None:
    books = await _seed()
    response = await client.put(
        f'update/{books[3].id}/', payload={'name': 'ABC', 'author': 'y', 'pages_count': 8, 'published': True}
    )
    assert response.status_code == 200
    assert response.data == {'id': str(books[3].id), 'name': 'ABC', 'author': 'y', 'pages_count': 8, 'published': True}
    response = await client.patch(f'update/{books[3].id}/', payload={'name': 'abc!'})
    assert response.status_code == 200
    stored = await Book.find_one(id=books[3].id)
    assert (stored.name, stored.author, stored.pages_count) == ('abc!', 'y', 8)


async def test_patch_validates_only_the_fields_sent(client: APIClient) -> None:
    books = await _seed()
    # PUT needs every required field...
    response = await client.put(f'strict/{books[1].id}/', payload={'author': 'z'})
    assert response.status_code == 400
    assert response.data == {'name': 'Field required', 'pages_count': 'Field required'}
    # ...PATCH only validates what it gets, with the same constraints and validators.
    response = await client.patch(f'strict/{books[1].id}/', payload={'author': 'z'})
    assert response.status_code == 200
    stored = await Book.find_one(id=books[1].id)
    assert (stored.name, stored.author) == (books[1].name, 'z')
    response = await client.patch(f'strict/{books[1].id}/', payload={'name': 'x'})
    assert response.status_code == 400
    assert response.data == {'name': 'Value error, name is too short'}
    response = await client.patch(f'strict/{books[1].id}/', payload={'pages_count': 'many'})
    assert response.status_code == 400
    assert 'pages_count' in response.data
    assert (await Book.find_one(id=books[1].id)).pages_count == books[1].pages_count


async def test_update_with_an_incomplete_sub_document_is_400(client: APIClient) -> None:
    room = await Room.insert_one(name='hall', corner={'x': 1, 'y': 2})
    response = await client.patch(f'rooms/{room.id}/', payload={'corner': {'x': 5}})
    assert (response.status_code, response.data) == (400, {'corner.y': 'Field required'})
    assert (await Room.find_one(id=room.id)).corner == Corner(x=1, y=2)
    response = await client.patch(f'rooms/{room.id}/', payload={'corner': {'x': 5, 'y': 6}})
    assert (response.status_code, response.data['corner']) == (200, {'x': 5, 'y': 6})


async def test_create_hook_adds_server_side_fields(client: APIClient) -> None:
    CREATED.clear()
    response = await client.post('shelves/top/books/', payload={'name': 'Emma', 'author': 'ignored'})
    assert response.status_code == 201
    assert response.data['author'] == 'stamped:top'
    assert CREATED == [response.data['id']]
    assert (await Book.find_one(id=response.data['id'])).author == 'stamped:top'


async def test_update_bad_input(client: APIClient) -> None:
    books = await _seed()
    response = await client.put(f'update/{books[0].id}/', payload={'name': 'x', 'pages_count': 'many'})
    assert response.status_code == 400
    assert (await Book.find_one(id=books[0].id)).name == 'Dune'
    response = await client.put('update/nope/', payload={'name': 'x'})
    assert response.status_code == 404


# ----------------------------------------------------------------------------------------------------- delete


async def test_delete(client: APIClient) -> None:
    books = await _seed()
    DELETED.clear()
    response = await client.delete(f'delete/{books[0].id}/')
    assert response.status_code == 204
    assert response.data in (None, b'', '')
    assert DELETED == ['pre Dune', 'post 0']
    assert await Book.count() == 3
    response = await client.delete(f'delete/{books[0].id}/')
    assert response.status_code == 404


# ------------------------------------------------------------------------------------------------------- 501


@pytest.mark.parametrize('path', ['no-instance/', 'no-query/', 'wrong-query/'])
async def test_unimplemented_hooks_are_501(client: APIClient, path: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger='panther'):
        response = await client.get(path)
    assert response.status_code == 501
    assert response.data == {'detail': 'Internal Server Error'}
    assert any(record.levelno == logging.ERROR for record in caplog.records)
