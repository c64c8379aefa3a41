"""Request bodies (input models) and response shapes (output models)."""

from datetime import datetime

from pydantic import BaseModel, Field, field_validator

from examples.canonical.app.models import Note
from panther.serializer import ModelSerializer


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


class UserOut(BaseModel):
    """What clients may see of a user: never the password hash."""

    id: str
    username: str
    date_created: datetime | None = None
    last_login: datetime | None = None


class OwnerOut(BaseModel):
    id: str
    username: str


class NoteSerializer(ModelSerializer):
    """Body of `POST /notes/`: the model's fields and constraints; `title` is required, the rest have defaults."""

    class Config:
        model = Note
        fields = ['title', 'body', 'tags', 'pinned']
        str_strip_whitespace = True


class NoteOut(BaseModel):
    """Output model of the note endpoints (for lists: of each item). The owner is reduced to id and username."""

    id: str
    title: str
    body: str
    tags: list[str]
    pinned: bool
    created_at: datetime
    owner: OwnerOut
