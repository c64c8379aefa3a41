"""Cursors returned by `Model.find()`: lazy, chainable, awaitable.

`Model.find(...)` builds a cursor without touching the database. Chain `.sort()`, `.skip()`, `.limit()`, then:

* `await` it: the whole result is read (in batches, model instances built off the event loop for large results)
  and the cursor holds it, as the result 5.x code expects: a plain `for`, `len()`, indexing and `==` work on it on
  both engines, as often as needed. Chaining again afterwards runs the query again when next read.
* `async for` over it (not awaited): the result is streamed batch by batch; such a cursor is consumed by one
  iteration.

`BaseCursor` is what both engines return, so `Response(data=cursor)` can recognise any of them.
"""

from __future__ import annotations

import abc
import contextlib
import contextvars
import logging
import time
from collections.abc import AsyncIterator, Generator, Iterator
from typing import TYPE_CHECKING, Any, cast

from panther.configs import config
from panther.exceptions import DatabaseError

if TYPE_CHECKING:
    from panther.db.models import Model

__all__ = ['BaseCursor', 'Cursor', 'PantherDBCursor', 'deferred_reads']

SortSpec = list[tuple[str, int]]

query_logger = logging.getLogger('query')

# Inside `ListAPI.get_query()` awaiting a cursor does not read it: the view reads only the requested page.
_deferred: contextvars.ContextVar[bool] = contextvars.ContextVar('panther_deferred_reads', default=False)


@contextlib.contextmanager
def deferred_reads() -> Iterator[None]:
    """Within this block, `await cursor` returns the cursor without reading it (as `Model.find()` does)."""
    token = _deferred.set(True)
    try:
        yield
    finally:
        _deferred.reset(token)


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
        # The result, once read by `await` (or by synchronous use on the embedded engine).
        self._items: list[Any] | None = None

    def sort(self, key: str | list[tuple[str, int]] | tuple[str, int], direction: int | None = None) -> BaseCursor:
        """`sort('name')`, `sort('name', -1)` or `sort([('name', 1), ('age', -1)])`; returns the cursor."""
        self._reopen()
        self._sort = _sort_spec(key, direction)
        return self

    def skip(self, count: int) -> BaseCursor:
        self._reopen()
        self._skip = _count(count, 'skip')
        return self

    def limit(self, count: int) -> BaseCursor:
        """`limit(0)` means no limit (as in MongoDB)."""
        self._reopen()
        self._limit = _count(count, 'limit')
        return self

    def _reopen(self) -> None:
        if self._items is not None:
            # A read result being refined: the query runs again, with the new options, when next read.
            self._items = None
            self._used = False
        self._check_unused()

    def _check_unused(self) -> None:
        if self._used:
            raise DatabaseError('This cursor has already been iterated; run the query again for a new one.')

    def _start(self) -> None:
        self._check_unused()
        self._used = True

    # ------------------------------------------------------------------------------------------- reading

    def __await__(self) -> Generator[Any, None, BaseCursor]:
        return self._load().__await__()

    async def _load(self, *, deferrable: bool = True) -> BaseCursor:
        if self._items is None and not (deferrable and _deferred.get()):
            self._start()
            started = time.perf_counter()
            self._items = await self._read_all()
            if config.LOG_QUERIES:
                from panther.db.queries.queries import _format_ms

                elapsed = _format_ms((time.perf_counter() - started) * 1000)
                query_logger.info(f'[Query] {self.cls.__name__}.find() takes {elapsed} ms')
        return self

    async def _read_all(self) -> list[Any]:
        items: list[Any] = []
        async for batch in self._engine.stream_batches(self):
            items.extend(batch)
        return items

    async def to_list(self) -> list[Any]:
        """Every model instance of the result (read now unless the cursor was already awaited)."""
        await self._load(deferrable=False)
        return list(self._items or ())

    async def __aiter__(self) -> AsyncIterator[Any]:
        if self._items is not None:
            for item in self._items:
                yield item
            return
        self._start()
        async for batch in self._engine.stream_batches(self):
            for item in batch:
                yield item

    # ------------------------------------------------------------------------- the result, synchronously

    def _results(self) -> list[Any]:
        if self._items is None:
            self._check_unused()
            items = self._read_sync()
            self._used = True
            self._items = items
        return self._items

    @abc.abstractmethod
    def _read_sync(self) -> list[Any]:
        """The whole result read without an event loop, or a `TypeError` where the engine cannot do that."""

    def __iter__(self) -> Iterator[Any]:
        return iter(self._results())

    def __len__(self) -> int:
        return len(self._results())

    def __bool__(self) -> bool:
        return bool(self._results())

    def __getitem__(self, index: int | slice) -> Any:
        return self._results()[index]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, BaseCursor):
            return self._results() == other._results()
        if isinstance(other, (list, tuple)):
            return self._results() == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f'<{type(self).__name__} {self.cls.__name__} filter={self.filter!r}>'


class PantherDBCursor(BaseCursor):
    """Cursor of the embedded SQLite engine (the `PantherDBConnection` database).

    A cursor that was not awaited can still be used synchronously (`for`, `len()`, indexing): that reads the result
    on the calling thread, which blocks, so do it in scripts and sync code, not in async endpoints.
    """

    def __init__(self, cls: type[Model], filter: dict[str, Any], engine: Any) -> None:
        super().__init__(cls, filter)
        self._engine = engine

    async def _read_all(self) -> list[Any]:
        return cast('list[Any]', await self._engine.fetch_list(self))

    def _read_sync(self) -> list[Any]:
        return cast('list[Any]', self._engine.fetch_sync(self))


class Cursor(BaseCursor):
    """Cursor of the MongoDB engine, over pymongo's asynchronous cursor.

    Synchronous use (`for`, `len()`, indexing) needs the result read first: `for book in await Book.find()`.
    """

    def __init__(self, cls: type[Model], filter: dict[str, Any], engine: Any) -> None:
        super().__init__(cls, filter)
        self._engine = engine

    def _read_sync(self) -> list[Any]:
        raise TypeError(
            'A MongoDB cursor is read asynchronously: `await` it first (`for book in await Book.find()`), '
            'or use `async for`.'
        )
