"""Stored documents. Each class is one table of the embedded database."""

from datetime import datetime
from typing import Annotated

from pydantic import Field

from panther.db import Model
from panther.db.models import BaseUser, Unique
from panther.utils import timezone_now


class User(BaseUser):
    """`username`, `password` (scrypt hash), `last_login` and `date_created` come from `BaseUser`."""

    # A unique index: two sign-ups with one name cannot both succeed, however close together they arrive.
    username: Annotated[str, Unique()]


class Message(Model):
    """One chat message: what a client gets in the history when it joins the room."""

    room: str
    author: User
    text: str
    sent_at: datetime = Field(default_factory=timezone_now)
