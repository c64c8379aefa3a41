"""Request bodies (input models) and response shapes (output models)."""

import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, computed_field, field_validator

from examples.blog.app.covers import as_cover
from examples.blog.app.models import Comment, Post
from panther.serializer import ModelSerializer

TAG = re.compile(r'^[a-z0-9][a-z0-9-]{0,29}$')


# --- accounts --------------------------------------------------------------------------------------------------


class SignUpIn(BaseModel):
    username: str = Field(min_length=3, max_length=32, pattern=r'^[A-Za-z0-9_.-]+$')
    password: str = Field(min_length=8, max_length=128)

    @field_validator('username')
    @classmethod
    def lower_case(cls, value: str) -> str:
        # `Ali` and `ali` are one account.
        return value.lower()


class LoginIn(BaseModel):
    username: str = Field(max_length=32)
    password: str = Field(max_length=128)


class AuthorOut(BaseModel):
    """What anyone may see of an author: never the password hash."""

    id: str
    username: str


# --- posts -----------------------------------------------------------------------------------------------------


def _clean_tags(value: Any) -> Any:
    # JSON bodies send a list; HTML forms and multipart requests send one comma-separated text field.
    if isinstance(value, str):
        value = value.split(',')
    if not isinstance(value, list):
        return value
    tags: list[str] = []
    for raw in value:
        if not isinstance(raw, str):
            return value  # pydantic reports the wrong item type
        tag = raw.strip().lower()
        if not tag:
            continue
        if not TAG.match(tag):
            raise ValueError(f'`{tag}` is not a valid tag: use 1-30 letters, digits and dashes.')
        if tag not in tags:
            tags.append(tag)
    return tags


class PostSerializer(ModelSerializer):
    """Body of `POST /api/posts/` and `PUT` / `PATCH /api/posts/<slug>/`: JSON, or multipart/form-data when it
    carries a cover image. For PATCH every field is optional (`UpdateAPI.partial_patch`).

    `slug` and `author` are not input fields: the slug is made from the title, the author is the logged-in user.
    """

    class Config:
        model = Post
        fields = ['title', 'body', 'tags', 'published', 'cover']
        str_strip_whitespace = True

    # An upload arrives as a `panther.file_handler.File`; `_cover` turns it into a checked `Image`.
    cover: Any = None

    @field_validator('tags', mode='before')
    @classmethod
    def _tags(cls, value: Any) -> Any:
        return _clean_tags(value)

    @field_validator('cover', mode='before')
    @classmethod
    def _cover(cls, value: Any) -> Any:
        # Raises 415 (not a 400 field error) for files that are not PNG, JPEG, GIF or WebP images.
        return as_cover(value)


class PostOut(BaseModel):
    """Output model of the post endpoints (for lists: of each item)."""

    id: str
    slug: str
    title: str
    body: str
    tags: list[str]
    published: bool
    author: AuthorOut
    created_at: datetime
    updated_at: datetime
    # The stored path of the cover is an implementation detail: clients get `cover_url` instead.
    cover: Any = Field(default=None, exclude=True)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def cover_url(self) -> str | None:
        return f'/posts/{self.slug}/cover/' if self.cover else None


# --- comments --------------------------------------------------------------------------------------------------


class CommentSerializer(ModelSerializer):
    """Body of `POST /api/posts/<slug>/comments/`; the post comes from the URL, the author from the cookie."""

    class Config:
        model = Comment
        fields = ['body']
        str_strip_whitespace = True


class CommentOut(BaseModel):
    id: str
    body: str
    author: AuthorOut
    created_at: datetime
