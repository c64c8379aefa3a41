"""Models, the two-engine fixture and helpers shared by the query API tests (test_db*.py)."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import uuid
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from panther.db import Model
from panther.db.models import BaseUser, Unique


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


async def _books(count: int = 4) -> list[Book]:
    return await Book.insert_many(
        [{'name': f'book{i}', 'author': f'author{i % 2}', 'pages_count': i} for i in range(count)]
    )
