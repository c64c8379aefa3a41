"""HTTP request bodies and responses, and the shape of the messages clients send over the WebSocket."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_MESSAGE_LENGTH = 500


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


class ChatMessageIn(BaseModel):
    """What a client sends over the room WebSocket: `{"text": "hello"}` (a JSON text frame)."""

    model_config = ConfigDict(str_strip_whitespace=True, extra='forbid')

    text: str = Field(min_length=1, max_length=MAX_MESSAGE_LENGTH)
