"""Cursors returned by `Model.find()`: lazily executed, chainable, iterated asynchronously.

`BaseCursor` is what both engines return, so `Response(data=cursor)` can recognise any of them. A cursor is
consumed by one iteration.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from panther.exceptions import DatabaseError

if TYPE_CHECKING:
    from panther.db.models import Model

__all__ = ['BaseCursor', 'Cursor', 'PantherDBCursor']

SortSpec = list[tuple[str, int]]


def _sort_spec(key: str | list[tuple[str, int]] | tuple[str, int], direction: int | None) -> SortSpec:
    if isinstance(key, str):
        pairs = [(key, 1 if direction is None else direction)]
    elif isinstance(key, tuple) and len(key) == 2 and isinstance(key[0], str):
        pairs = [key]
    else:
        pairs = list(key)
    result = []
    for field, order in pairs:
        if order not in (1, -1):
            raise DatabaseError(f'Sort direction of `{field}` must be 1 or -1, not {order!r}.')
        result.append((field, order))
    return result


def _count(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise DatabaseError(f'`{name}` needs a non-negative integer, not {value!r}.')
    return value


class BaseCursor(abc.ABC):
    """The common face of both engines' cursors."""

    cls: type[Model]
    filter: dict[str, Any]
    _engine: Any

    def __init__(self, cls: type[Model], filter: dict[str, Any]) -> None:
        self.cls = cls
        self.filter = filter
        self._sort: SortSpec = []
        self._skip = 0
        self._limit = 0
        self._used = False

    def sort(self, key: str | list[tuple[str, int]] | tuple[str, int], direction: int | None = None) -> BaseCursor:
        """`sort('name')`, `sort('name', -1)` or `sort([('name', 1), ('age', -1)])`; returns the cursor."""
        self._check_unused()
        self._sort = _sort_spec(key, direction)
        return self

    def skip(self, count: int) -> BaseCursor:
        self._check_unused()
        self._skip = _count(count, 'skip')
        return self

    def limit(self, count: int) -> BaseCursor:
        """`limit(0)` means no limit (as in MongoDB)."""
        self._check_unused()
        self._limit = _count(count, 'limit')
        return self

    def _check_unused(self) -> None:
        if self._used:
            raise DatabaseError('This cursor has already been iterated; run the query again for a new one.')

    def _start(self) -> None:
        self._check_unused()
        self._used = True

    @abc.abstractmethod
    def __aiter__(self) -> AsyncIterator[Any]:
        """Yield model instances."""

    async def to_list(self) -> list[Any]:
        """Run the query and return every model instance."""
        self._start()
        items: list[Any] = []
        async for batch in self._engine.stream_batches(self):
            items.extend(batch)
        return items

    def __repr__(self) -> str:
        return f'<{type(self).__name__} {self.cls.__name__} filter={self.filter!r}>'


class PantherDBCursor(BaseCursor):
    """Cursor of the embedded SQLite engine (the `PantherDBConnection` database).

    Besides `async for` it allows synchronous iteration and indexing; those block the calling thread, so
    use them in scripts and sync code, not in async endpoints.
    """

    def __init__(self, cls: type[Model], filter: dict[str, Any], engine: Any) -> None:
        super().__init__(cls, filter)
        self._engine = engine

    async def __aiter__(self) -> AsyncIterator[Any]:
        self._start()
        async for batch in self._engine.stream_batches(self):
            for item in batch:
                yield item

    async def to_list(self) -> list[Any]:
        self._start()
        return await self._engine.fetch_list(self)

    def __iter__(self) -> Iterator[Any]:
        self._start()
        return iter(self._engine.fetch_sync(self))

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return list(self)[index]
        if index < 0:
            items = list(self)
            return items[index]
        self._check_unused()
        self._skip += index
        self._limit = 1
        items = list(self)
        if not items:
            raise IndexError('cursor index out of range')
        return items[0]


class Cursor(BaseCursor):
    """Cursor of the MongoDB engine, over pymongo's asynchronous cursor.

    It cannot be iterated synchronously without blocking the event loop: use `async for` or
    `await cursor.to_list()`.
    """

    def __init__(self, cls: type[Model], filter: dict[str, Any], engine: Any) -> None:
        super().__init__(cls, filter)
        self._engine = engine

    async def __aiter__(self) -> AsyncIterator[Any]:
        self._start()
        async for batch in self._engine.stream_batches(self):
            for item in batch:
                yield item

    def __iter__(self) -> Iterator[Any]:
        raise TypeError('A MongoDB cursor is asynchronous: use `async for` or `await cursor.to_list()`.')

    def __getitem__(self, index: int | slice) -> Any:
        raise TypeError(
            'A MongoDB cursor cannot be indexed synchronously: use `cursor.skip(n).limit(1)` with `async for`.'
        )
