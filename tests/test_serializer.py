"""ModelSerializer: declaration, errors, field options, foreign keys, and its use as an endpoint's input model."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from panther import Panther
from panther.app import API
from panther.configs import config
from panther.db import Model
from panther.db.connections import load_database
from panther.db.models import Unique
from panther.request import Request
from panther.serializer import ModelSerializer
from panther.test import APIClient


class Book(Model):
    name: str
    author: str = Field('default_author')
    pages_count: int = Field(0)


class Person(Model):
    name: str
    born: dt.datetime | None = None
    nickname: str | None = None


class Review(Model):
    text: str
    book: Book


class Plain(BaseModel):
    title: str = Field(max_length=5)
    count: int = 1


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[None]:
    load_database({'engine': {'class': 'panther.db.connections.PantherDBConnection', 'path': tmp_path / 's.sqlite3'}})
    yield
    await config.DATABASE.close()


def _serializer(name: str, **config_attributes: Any) -> type:
    return type(name, (ModelSerializer,), {'__module__': 'tests.x', 'Config': type('Config', (), config_attributes)})


def test_is_a_real_pydantic_class() -> None:
    class BookSerializer(ModelSerializer):
        """Books in and out."""

        class Config:
            model = Book
            fields = ['name', 'author']

    assert issubclass(BookSerializer, ModelSerializer)
    assert issubclass(BookSerializer, BaseModel)
    assert isinstance(BookSerializer(name='x'), ModelSerializer)
    assert BookSerializer.model is Book
    assert BookSerializer.__doc__ == 'Books in and out.'
    assert list(BookSerializer.model_fields) == ['name', 'author']


def test_no_docstring_is_none() -> None:
    serializer = _serializer('NoDoc', model=Book, fields=['name'])
    assert serializer.__doc__ is None


def test_observable_examples_of_the_spec() -> None:
    two = _serializer('Two', model=Book, fields=['author', 'pages_count'])
    assert two().model_dump() == {'author': 'default_author', 'pages_count': 0}
    assert two(author='ali', pages_count='12').model_dump() == {'author': 'ali', 'pages_count': 12}
    three = _serializer('Three', model=Book, fields=['name', 'author', 'pages_count'])
    with pytest.raises(ValidationError) as error:
        three()
    assert [e['loc'] for e in error.value.errors()] == [('name',)]
    required = _serializer(
        'Required', model=Book, fields=['name', 'author', 'pages_count'], required_fields=['author', 'pages_count']
    )
    with pytest.raises(ValidationError) as error:
        required()
    assert [e['loc'][0] for e in error.value.errors()] == ['name', 'author', 'pages_count']
    everything = _serializer('Everything', model=Book, fields='*')
    assert set(everything(name='x').model_dump()) == {'id', 'name', 'author', 'pages_count'}
    excluded = _serializer('Excluded', model=Book, fields='*', exclude=['author'])
    assert set(excluded(name='x').model_dump()) == {'id', 'name', 'pages_count'}


def test_required_and_optional_fields_do_not_touch_the_model() -> None:
    before = {name: (info.default, info.is_required()) for name, info in Book.model_fields.items()}
    _serializer('R', model=Book, fields='*', required_fields='*')
    optional = _serializer('O', model=Book, fields=['name', 'author'], optional_fields=['name'])
    after = {name: (info.default, info.is_required()) for name, info in Book.model_fields.items()}
    assert before == after
    assert Book.model_fields['name'].is_required()
    assert optional().name == ''
    # A later serializer of the same model sees the model's own defaults.
    later = _serializer('Later', model=Book, fields=['name', 'author'])
    with pytest.raises(ValidationError):
        later()
    assert later(name='x').author == 'default_author'


def test_optional_defaults() -> None:
    serializer = _serializer('Opt', model=Person, fields='*', optional_fields='*')
    person = serializer()
    assert person.name == ''
    assert person.nickname is None
    assert person.born is None
    with_datetime = _serializer('OptDt', model=Person, fields=['name', 'born'], optional_fields=['born'])
    assert isinstance(with_datetime(name='x').born, dt.datetime) is False  # `datetime | None` defaults to None


def test_constraints_and_validators_are_kept() -> None:
    class PlainSerializer(ModelSerializer):
        class Config:
            model = Plain
            fields = '*'
            str_strip_whitespace = True

        @field_validator('title')
        @classmethod
        def shout(cls, value: str) -> str:
            return value.upper()

    assert PlainSerializer(title='  ab ').title == 'AB'
    with pytest.raises(ValidationError):
        PlainSerializer(title='too long')
    assert PlainSerializer.model_config['str_strip_whitespace'] is True
    assert PlainSerializer.model_config['arbitrary_types_allowed'] is True


def test_body_annotations_add_and_replace_fields_and_model_config_wins() -> None:
    class Custom(ModelSerializer):
        pages_count: str = 'many'
        extra: bool = False
        model_config = ConfigDict(str_to_upper=True)

        class Config:
            model = Book
            fields = ['name', 'pages_count']
            str_to_upper = False
            str_strip_whitespace = True

    item = Custom(name=' x ')
    assert item.model_dump() == {'name': 'X', 'pages_count': 'many', 'extra': False}
    assert Custom.model_config['str_to_upper'] is True
    assert Custom.model_config['str_strip_whitespace'] is True


@pytest.mark.parametrize(
    ('attributes', 'message'),
    [
        ({'model': None}, '`Bad.Config.model` is required.'),
        ({'model': 1}, '`Bad.Config.model` is not subclass of `panther.db.Model` or `pydantic.BaseModel`.'),
        ({'model': int}, '`Bad.Config.model` is not subclass of `panther.db.Model` or `pydantic.BaseModel`.'),
        (
            {'model': ModelSerializer},
            '`Bad.Config.model` is not subclass of `panther.db.Model` or `pydantic.BaseModel`.',
        ),
        ({'model': Book}, '`Bad.Config.fields` is required.'),
        ({'model': Book, 'fields': ['*']}, "`Bad.Config.fields.*` is not valid. Did you mean `fields = '*'`"),
        ({'model': Book, 'fields': ['nope']}, '`Bad.Config.fields.nope` is not in `Book.model_fields`'),
        (
            {'model': Book, 'fields': '*', 'required_fields': ['nope']},
            '`Bad.Config.required_fields.nope` is not valid.',
        ),
        (
            {'model': Book, 'fields': ['name'], 'required_fields': ['author']},
            '`Bad.Config.required_fields.author` is not defined in `Config.fields`.',
        ),
        (
            {'model': Book, 'fields': '*', 'optional_fields': ['nope']},
            '`Bad.Config.optional_fields.nope` is not valid.',
        ),
        (
            {'model': Book, 'fields': ['name'], 'optional_fields': ['author']},
            '`Bad.Config.optional_fields.author` is not defined in `Config.fields`.',
        ),
        (
            {'model': Book, 'fields': '*', 'required_fields': '*', 'optional_fields': ['name']},
            "`Bad.Config.optional_fields` and `Bad.Config.required_fields` can't include same fields at the same time",
        ),
        (
            {'model': Book, 'fields': '*', 'required_fields': ['name'], 'optional_fields': ['name']},
            "`name` can't be in `Bad.Config.optional_fields` and `Bad.Config.required_fields` at the same time",
        ),
        ({'model': Book, 'fields': '*', 'exclude': ['nope']}, '`Bad.Config.exclude.nope` is not valid.'),
        (
            {'model': Book, 'fields': ['name'], 'exclude': ['author']},
            '`Bad.Config.exclude.author` is not defined in `Config.fields`.',
        ),
    ],
)
def test_declaration_errors(attributes: dict[str, Any], message: str) -> None:
    with pytest.raises(AttributeError) as error:
        _serializer('Bad', **attributes)
    assert str(error.value) == message


def test_unique_fields_keep_their_constraints_in_a_serializer() -> None:
    class Handle(Model):
        name: Annotated[str, Unique(), Field(min_length=2)]

    class HandleSerializer(ModelSerializer):
        class Config:
            model = Handle
            fields = ['name']

    assert HandleSerializer(name='ab').name == 'ab'
    with pytest.raises(ValidationError, match='at least 2 characters'):
        HandleSerializer(name='a')
    # The marker is only the model's (the serializer is not stored).
    assert Unique() in Handle.model_fields['name'].metadata


def test_missing_config() -> None:
    with pytest.raises(AttributeError) as error:
        type('Bad', (ModelSerializer,), {'__module__': 'tests.x'})
    assert str(error.value) == '`class Config` is required in tests.x.Bad.'


async def test_foreign_key_ids_are_resolved_before_validation(database: None) -> None:
    class ReviewSerializer(ModelSerializer):
        class Config:
            model = Review
            fields = ['text', 'book']

    book = await Book.insert_one(name='dune')
    data = {'text': 'good', 'book': book.id}
    prepared = await ReviewSerializer.prepare_input(data)
    assert data == {'text': 'good', 'book': book.id}  # the caller's data is not modified
    review = ReviewSerializer.model_validate(prepared)
    assert review.book == book
    unknown = await ReviewSerializer.prepare_input({'text': 'x', 'book': 'no-such-id'})
    with pytest.raises(ValidationError):
        ReviewSerializer.model_validate(unknown)


class ReviewInput(ModelSerializer):
    class Config:
        model = Review
        fields = ['text', 'book']


class BookInput(ModelSerializer):
    class Config:
        model = Book
        fields = ['name', 'author', 'pages_count']
        required_fields = ['author', 'pages_count']


@API(input_model=ReviewInput, methods=['POST'])
async def review_api(request: Request) -> Any:
    return request.validated_data


@API(input_model=BookInput, methods=['POST'])
async def book_api(request: Request) -> Any:
    return request.validated_data


async def test_serializer_as_input_model(database: None) -> None:
    client = APIClient(app=Panther(__name__, configs=__name__, urls={'review': review_api, 'book': book_api}))
    book = await Book.insert_one(name='dune', author='frank', pages_count=412)
    response = await client.post('review', payload={'text': 'x', 'book': book.id})
    assert response.status_code == 200
    assert response.data == {
        'text': 'x',
        'book': {'id': book.id, 'name': 'dune', 'author': 'frank', 'pages_count': 412},
    }
    response = await client.post('book', payload={})
    assert response.status_code == 400
    assert response.data == {'name': 'Field required', 'author': 'Field required', 'pages_count': 'Field required'}
