"""`Query`: the query methods every `Model` has, delegating to the configured engine."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from pydantic import BaseModel

from panther.configs import config
from panther.db._deletion import CHUNK, delete_checked, referrers
from panther.exceptions import DatabaseError, NotFoundAPIError

if TYPE_CHECKING:
    from typing_extensions import Self

    from panther.db.cursor import BaseCursor
    from panther.db.queries.base_queries import BaseQuery

__all__ = ['Query']

query_logger = logging.getLogger('query')

F = TypeVar('F', bound=Callable[..., Coroutine[Any, Any, Any]])

NO_DATABASE = "You don't have active database connection, Check your DATABASE block in configs"


class NoDatabaseError(NotImplementedError):
    """A query method was called before any `DATABASE` was configured (a `NotImplementedError`, as in 5.x)."""

    def __init__(self) -> None:
        super().__init__(NO_DATABASE)


def _engine() -> type[BaseQuery]:
    engine = config.QUERY_ENGINE
    if engine is None:
        raise NoDatabaseError
    return cast('type[BaseQuery]', engine)


def _format_ms(milliseconds: float) -> str:
    return f'{milliseconds:.3g}' if milliseconds < 1000 else f'{milliseconds:.0f}'


def _logged(func: F) -> F:
    """Time the call and log `[Query] Model.method() takes N ms` when `LOG_QUERIES` is on."""
    name = func.__name__

    @functools.wraps(func)
    async def wrapper(owner: Any, /, *args: Any, **kwargs: Any) -> Any:
        if not config.LOG_QUERIES:
            return await func(owner, *args, **kwargs)
        start = time.perf_counter()
        try:
            return await func(owner, *args, **kwargs)
        finally:
            elapsed = (time.perf_counter() - start) * 1000
            model_name = owner.__name__ if isinstance(owner, type) else type(owner).__name__
            query_logger.info(f'[Query] {model_name}.{name}() takes {_format_ms(elapsed)} ms')

    return wrapper  # type: ignore[return-value]


def _merge(first: Mapping[str, Any] | None, kwargs: dict[str, Any]) -> dict[str, Any]:
    # Always a new dict: the engines adjust filters (`id` → `_id`) and callers' dicts must stay untouched.
    if first is None:
        return kwargs
    if not isinstance(first, Mapping):
        raise DatabaseError(f'Expected a dict, got `{type(first).__name__}`.')
    if not kwargs:
        return dict(first)
    return {**first, **kwargs}


def _merge_document(document: Any, kwargs: dict[str, Any]) -> Any:
    if document is None:
        return kwargs
    if isinstance(document, BaseModel):
        if not kwargs:
            return document
        return {**document.__dict__, **kwargs}
    return _merge(document, kwargs)


class Query:
    """Query methods of `Model`. All of them are coroutines."""

    # ------------------------------------------------------------------------------------------- reading

    @classmethod
    @_logged
    async def find_one(cls, _filter: Mapping[str, Any] | None = None, /, **kwargs: Any) -> Self | None:
        """The first document matching the filter, or `None`."""
        return await _engine().find_one(cls, _merge(_filter, kwargs))  # type: ignore[arg-type,return-value]

    @classmethod
    def find(cls, _filter: Mapping[str, Any] | None = None, /, **kwargs: Any) -> BaseCursor:
        """A lazy cursor over the matching documents: chain `.sort()`, `.skip()`, `.limit()`, then `await` it for the
        result (`for book in await Book.find()`) or stream it with `async for`. Nothing is read before that."""
        return _engine().cursor(cls, _merge(_filter, kwargs))  # type: ignore[arg-type]

    @classmethod
    def all(cls) -> BaseCursor:
        """Same as `find()` without a filter."""
        return _engine().cursor(cls, {})  # type: ignore[arg-type]

    @classmethod
    @_logged
    async def first(cls, _filter: Mapping[str, Any] | None = None, /, **kwargs: Any) -> Self | None:
        """The earliest inserted matching document."""
        return await _engine().first(cls, _merge(_filter, kwargs))  # type: ignore[arg-type,return-value]

    @classmethod
    @_logged
    async def last(cls, _filter: Mapping[str, Any] | None = None, /, **kwargs: Any) -> Self | None:
        """The latest inserted matching document."""
        return await _engine().last(cls, _merge(_filter, kwargs))  # type: ignore[arg-type,return-value]

    @classmethod
    @_logged
    async def aggregate(cls, pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Raw documents of a MongoDB aggregation pipeline (MongoDB only)."""
        return await _engine().aggregate(cls, pipeline)  # type: ignore[arg-type]

    @classmethod
    @_logged
    async def count(cls, _filter: Mapping[str, Any] | None = None, /, **kwargs: Any) -> int:
        return await _engine().count(cls, _merge(_filter, kwargs))  # type: ignore[arg-type]

    @classmethod
    @_logged
    async def exists(cls, _filter: Mapping[str, Any] | None = None, /, **kwargs: Any) -> bool:
        return await _engine().exists(cls, _merge(_filter, kwargs))  # type: ignore[arg-type]

    @classmethod
    @_logged
    async def find_one_or_insert(cls, _filter: Mapping[str, Any] | None = None, /, **kwargs: Any) -> tuple[Self, bool]:
        """`(existing, False)`, or `(inserted, True)` when nothing matches the filter."""
        query = _merge(_filter, kwargs)
        engine = _engine()
        found = await engine.find_one(cls, dict(query))  # type: ignore[arg-type]
        if found is not None:
            return found, False  # type: ignore[return-value]
        return await engine.insert_one(cls, query), True  # type: ignore[arg-type,return-value]

    @classmethod
    @_logged
    async def find_one_or_raise(cls, _filter: Mapping[str, Any] | None = None, /, **kwargs: Any) -> Self:
        """The matching document; raises `NotFoundAPIError` (404) when there is none."""
        found = await _engine().find_one(cls, _merge(_filter, kwargs))  # type: ignore[arg-type]
        if found is None:
            raise NotFoundAPIError(detail=f'{cls.__name__} Does Not Exist')
        return found  # type: ignore[return-value]

    # ------------------------------------------------------------------------------------------- writing

    @classmethod
    @_logged
    async def insert_one(cls, _document: Mapping[str, Any] | BaseModel | None = None, /, **kwargs: Any) -> Self:
        """Validate and store one document; returns the new instance with its `id`."""
        return await _engine().insert_one(cls, _merge_document(_document, kwargs))  # type: ignore[arg-type,return-value]

    @classmethod
    @_logged
    async def insert_many(cls, documents: Iterable[Mapping[str, Any] | BaseModel]) -> list[Self]:
        """Validate every document first, then store them all in one transaction."""
        return await _engine().insert_many(cls, list(documents))  # type: ignore[arg-type,return-value]

    @classmethod
    @_logged
    async def update_one(
        cls, _filter: Mapping[str, Any], _update: Mapping[str, Any] | None = None, /, **kwargs: Any
    ) -> bool:
        """Update the first matching document; returns whether one matched."""
        query = _merge(_filter, {})
        return await _engine().update_one(cls, query, _merge(_update, kwargs))  # type: ignore[arg-type]

    @classmethod
    @_logged
    async def update_many(
        cls, _filter: Mapping[str, Any], _update: Mapping[str, Any] | None = None, /, **kwargs: Any
    ) -> int:
        """Update every matching document; returns how many matched."""
        query = _merge(_filter, {})
        return await _engine().update_many(cls, query, _merge(_update, kwargs))  # type: ignore[arg-type]

    @classmethod
    @_logged
    async def delete_one(cls, _filter: Mapping[str, Any] | None = None, /, **kwargs: Any) -> bool:
        """Delete the first matching document. An empty filter deletes nothing and returns `False`.

        Documents referring to it are handled by their fields' `OnDelete` rules (`ProtectedError` when protected).
        """
        engine, query = _engine(), _merge(_filter, kwargs)
        if not query or not referrers(cls):  # type: ignore[arg-type]
            return await engine.delete_one(cls, query)  # type: ignore[arg-type]
        ids = await engine.ids(cls, query, limit=1)  # type: ignore[arg-type]
        if not ids:
            return False
        await delete_checked(engine, cls, ids)  # type: ignore[arg-type]
        return await engine.delete_many(cls, {'_id': {'$in': ids}}) > 0  # type: ignore[arg-type]

    @classmethod
    @_logged
    async def delete_many(cls, _filter: Mapping[str, Any] | None = None, /, **kwargs: Any) -> int:
        """Delete every matching document (an empty filter deletes all); returns how many.

        Documents referring to them are handled by their fields' `OnDelete` rules (`ProtectedError` when protected).
        """
        engine, query = _engine(), _merge(_filter, kwargs)
        if not referrers(cls):  # type: ignore[arg-type]
            return await engine.delete_many(cls, query)  # type: ignore[arg-type]
        ids = await engine.ids(cls, query)  # type: ignore[arg-type]
        if not ids:
            return 0
        await delete_checked(engine, cls, ids)  # type: ignore[arg-type]
        deleted = 0
        for start in range(0, len(ids), CHUNK):
            deleted += await engine.delete_many(cls, {'_id': {'$in': ids[start : start + CHUNK]}})  # type: ignore[arg-type]
        return deleted

    # ------------------------------------------------------------------------------------------ instance

    @_logged
    async def update(self, _update: Mapping[str, Any] | None = None, /, **kwargs: Any) -> None:
        """Update this document by id, then reload every field from the database."""
        await _engine().update_instance(self, _merge(_update, kwargs))  # type: ignore[arg-type]

    @_logged
    async def save(self) -> None:
        """Insert (and set `id`) when there is no id yet, else store every field."""
        await _engine().save_instance(self)  # type: ignore[arg-type]

    @_logged
    async def delete(self) -> None:
        """Delete this document; documents referring to it are handled by their fields' `OnDelete` rules."""
        engine = _engine()
        if getattr(self, 'id', None) is not None and referrers(type(self)):  # type: ignore[arg-type]
            await delete_checked(engine, type(self), [str(self.id)])  # type: ignore[arg-type,attr-defined]
        await engine.delete_instance(self)  # type: ignore[arg-type]

    @_logged
    async def reload(self) -> None:
        """Re-read every field from the database."""
        await _engine().reload_instance(self)  # type: ignore[arg-type]
