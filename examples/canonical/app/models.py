"""Stored documents. Each class is one table (embedded database) or collection (MongoDB)."""

from datetime import datetime
from typing import Annotated

from pydantic import Field

from panther.db import Model
from panther.db.models import BaseUser, Unique
from panther.utils import timezone_now


class User(BaseUser):
    """`username`, `password` (scrypt hash), `last_login` and `date_created` come from `BaseUser`.

    `USER_MODEL` in core/configs.py points here, so JWT authentication loads this class.
    """

    # A unique index: two sign-ups with one name cannot both succeed, however close together they arrive.
    username: Annotated[str, Unique()]


class Note(Model):
    title: str = Field(min_length=1, max_length=200)
    body: str = Field('', max_length=10_000)
    tags: list[str] = Field(default_factory=list, max_length=10)
    pinned: bool = False
    # Stored as the user's id and read back as a `User`. Never taken from a request body: see apis.py.
    owner: User
    created_at: datetime = Field(default_factory=timezone_now)
