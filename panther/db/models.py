"""`Model` (pydantic model + query methods), the `ID` type and `BaseUser`."""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
from datetime import datetime
from typing import Any, ClassVar, cast

from pydantic import BaseModel, Field

from panther._internal.call_style import caller_awaits
from panther._internal.concurrency import to_thread
from panther.configs import config
from panther.db._base import ID, StoredModel
from panther.db._deletion import model_defined
from panther.db._documents import (
    DocumentError,
    ObjectId,
    OnDelete,
    ProtectedError,
    Unique,
    on_delete_rules,
    plan_for,
    unique_fields,
)
from panther.db.queries import Query

__all__ = ['ID', 'BaseUser', 'DocumentError', 'Model', 'OnDelete', 'ProtectedError', 'Unique']

logger = logging.getLogger('panther')


class Model(StoredModel, Query):
    """Base class of stored documents. The table/collection is named after the class."""

    id: ID = None

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        model_defined()
        if cls.__pydantic_complete__:
            # A misplaced `Unique()` or `OnDelete` is reported where the model is declared.
            unique_fields(cls)
            on_delete_rules(cls)
        if cls.__dict__.get('__panther_abstract__', False):
            return
        config.MODELS.append(cls)

    @property
    def _id(self) -> Any:
        """The id as the engine stores it: `bson.ObjectId` under MongoDB, the string otherwise."""
        value = self.id
        if value is None:
            return None
        engine = config.QUERY_ENGINE
        if engine is not None and engine.object_ids and not isinstance(value, ObjectId):
            return ObjectId(value)
        return value

    def __eq__(self, other: object) -> bool:
        """Instances of one model holding the same values are equal. Related documents compare by id: an instance
        read directly equals the same document read through a reference (`author.books[0] == book`), however
        deep each one's own references were resolved."""
        if self is other:
            return True
        if not isinstance(other, BaseModel):
            return NotImplemented
        model = type(self)
        if type(other) is not model:
            return False
        nodes = plan_for(model).nodes
        if not nodes:
            return super().__eq__(other)
        if (
            self.__pydantic_extra__ != other.__pydantic_extra__
            or self.__pydantic_private__ != other.__pydantic_private__
        ):
            return False
        mine, theirs = self.__dict__, other.__dict__
        for name in model.model_fields:
            first, second = mine.get(name, _MISSING), theirs.get(name, _MISSING)
            if name in nodes:
                if _by_reference(first) != _by_reference(second):
                    return False
            elif first != second:
                return False
        return True

    __hash__ = None  # type: ignore[assignment]


_MISSING = object()


def _by_reference(value: Any) -> Any:
    """`value` with every stored document in it replaced by its model and id (how it is stored)."""
    if isinstance(value, Model):
        return value if value.id is None else (Model, type(value), str(value.id))
    if isinstance(value, (list, tuple)):
        return [_by_reference(item) for item in value]
    if isinstance(value, dict):
        return {key: _by_reference(item) for key, item in value.items()}
    if isinstance(value, BaseModel) and plan_for(type(value)).nodes:
        return (type(value), {name: _by_reference(getattr(value, name, None)) for name in type(value).model_fields})
    return value


def _password_digest(password: str, salt: bytes) -> str:
    # A plain function for the thread helper: its `str` result is known, unlike that of the overloaded `scrypt`.
    from panther.utils import scrypt

    return scrypt(password, salt, True)


class BaseUser(Model):
    """A user with a scrypt-hashed password and token helpers delegating to `config.AUTHENTICATION`."""

    __panther_abstract__ = True

    username: str
    password: str = Field('', max_length=64)
    last_login: datetime | None = None
    date_created: datetime | None = None

    USERNAME_FIELD: ClassVar[str] = 'username'

    @classmethod
    async def insert_one(cls, _document: Any = None, /, **kwargs: Any) -> Any:
        from panther.utils import timezone_now

        kwargs['date_created'] = timezone_now()
        return await super().insert_one(_document, **kwargs)

    async def login(self) -> dict[str, Any]:
        """Record the login time and return the tokens of `config.AUTHENTICATION`."""
        from panther.utils import timezone_now

        await self.update(last_login=timezone_now())
        return cast('dict[str, Any]', await config.AUTHENTICATION.login(user=self))

    async def refresh_tokens(self) -> dict[str, Any]:
        return cast('dict[str, Any]', await config.AUTHENTICATION.refresh(user=self))

    async def logout(self) -> Any:
        return await config.AUTHENTICATION.logout(user=self)

    async def set_password(self, password: str) -> None:
        """Store `salt.hex() + md5(scrypt(password, salt)).hexdigest()` (the Panther 5.x format)."""
        from panther.utils import URANDOM_SIZE

        salt = os.urandom(URANDOM_SIZE)
        digest = await to_thread(_password_digest, password, salt)
        await self.update(password=salt.hex() + digest)

    def check_password(self, password: str) -> Any:
        """Whether `password` matches the stored hash.

        `await user.check_password(p)` runs scrypt in a worker thread; a plain call (Panther 5.x code) returns a
        `bool` computed right away, so `if user.check_password(p):` can never be fooled by a truthy coroutine.
        Code that cannot await the call directly (e.g. `asyncio.gather`) uses `acheck_password`.
        """
        if caller_awaits():
            return self.acheck_password(password)
        _warn_if_on_event_loop()
        return _password_matches(self.password, password)

    async def acheck_password(self, password: str) -> bool:
        """Whether `password` matches; scrypt runs in a worker thread."""
        return await to_thread(_password_matches, self.password, password)


def _password_matches(stored: str | None, password: str) -> bool:
    from panther.utils import URANDOM_SIZE

    stored = stored or ''
    salt_length = URANDOM_SIZE * 2
    if len(stored) <= salt_length or not isinstance(password, str):
        return False
    try:
        salt = bytes.fromhex(stored[:salt_length])
    except ValueError:
        return False
    return hmac.compare_digest(_password_digest(password, salt), stored[salt_length:])


_warned_sync_check = False


def _warn_if_on_event_loop() -> None:
    # A plain call from async code blocks every other request while scrypt runs (hundreds of milliseconds).
    global _warned_sync_check
    if _warned_sync_check:
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    _warned_sync_check = True
    logger.warning(
        '`check_password()` was called without `await` inside the event loop: scrypt blocked it. '
        'Use `await user.check_password(password)`.'
    )
