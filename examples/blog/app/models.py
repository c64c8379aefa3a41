"""Stored documents. Each class is one table of the embedded database."""

from datetime import datetime
from typing import Annotated

from pydantic import Field

from panther.db import Model
from panther.db.models import BaseUser, Unique
from panther.file_handler import Image
from panther.utils import timezone_now


class User(BaseUser):
    """An author. `username`, `password` (scrypt hash), `last_login` and `date_created` come from `BaseUser`."""

    # A unique index: two sign-ups with one name cannot both succeed, however close together they arrive.
    username: Annotated[str, Unique()]
    # Staff members may use the admin panel (/admin/). Sign-up never sets it: see `panther.panel.create_admin`.
    is_admin: bool = False


class Post(Model):
    title: str = Field(min_length=1, max_length=200)
    # Made from the title when the post is created and never changed afterwards, so links keep working.
    slug: str = Field(min_length=1, max_length=100)
    body: str = Field('', max_length=50_000)
    tags: list[str] = Field(default_factory=list, max_length=10)
    # Drafts (`published=False`) are visible to their author only.
    published: bool = False
    # Stored as the user's id and read back as a `User`. Always the logged-in user, never taken from the body.
    author: User
    # Stored as the path of the saved file (inside `config.UPLOAD_DIR`), read back as an `Image`.
    cover: Image | None = None
    created_at: datetime = Field(default_factory=timezone_now)
    updated_at: datetime = Field(default_factory=timezone_now)


class Comment(Model):
    post: Post
    author: User
    body: str = Field(min_length=1, max_length=2_000)
    created_at: datetime = Field(default_factory=timezone_now)
