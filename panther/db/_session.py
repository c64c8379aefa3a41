"""`db.session` / `db.client` of the embedded engine: the synchronous collection API of Panther 5.x.

A facade over the same SQLite tables the `Model` queries use (one table per collection, the id in `_id`, the
document as JSON), not a second store: a document inserted here is found by `Model` queries and the reverse.
Documents are plain dicts; the id is the `_id` key of every returned document.

The methods are synchronous, as in 5.x. Point operations take microseconds and run inline like the engine's; a
scan (a filter no index serves, a large `find()`) blocks the caller while it runs. Inside endpoints prefer the
async `Model` queries, which move long work off the event loop.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import orjson

from panther._internal.ids import new_ulid
from panther.db import _sqlite
from panther.db._documents import ALREADY_EXISTS, DocumentError, encode_value
from panther.db._sql import compile_where, update_expression
from panther.db._sqlite import SQLiteStore
from panther.exceptions import DatabaseError

__all__ = ['PantherDBCollection', 'PantherDBSession']

T = TypeVar('T')

_ID_KEYS = ('_id', 'id')
_COLLECTION_NAME = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')


class PantherDBSession:
    """What `db.session` and `db.client` return on the embedded engine."""

    __slots__ = ('store',)

    def __init__(self, store: SQLiteStore) -> None:
        self.store = store

    def collection(self, name: str) -> PantherDBCollection:
        """The collection (table) `name`; a model's collection is named like the model class (`'User'`)."""
        if not isinstance(name, str) or not _COLLECTION_NAME.match(name):
            raise DatabaseError(
                f'{name!r} is not a valid collection name: use letters, digits and `_`, not starting with a digit.'
            )
        return PantherDBCollection(self.store, name)

    def connection(self) -> sqlite3.Connection:
        """The `sqlite3.Connection` of the event-loop thread, for raw SQL (keep statements short)."""
        return self.store.connection()

    def __repr__(self) -> str:
        return f'PantherDBSession(path={self.store.path!r})'


class PantherDBCollection:
    """One collection: `insert_one`, `find_one`, `find`, `first`, `last`, `count`, `update_one`, `update_many`,
    `delete_one`, `delete_many`, `drop` (Panther 5.x argument shapes, plain-dict documents)."""

    __slots__ = ('name', 'store', 'table')

    def __init__(self, store: SQLiteStore, name: str) -> None:
        self.store = store
        self.name = name
        self.table = _sqlite.quote_identifier(name)

    def __repr__(self) -> str:
        return f'PantherDBCollection({self.name!r})'

    # ------------------------------------------------------------------------------------------- reading

    def find_one(self, _filter: Mapping[str, Any] | None = None, /, **kwargs: Any) -> dict[str, Any] | None:
        """A matching document (the first inserted when several match), or `None`."""
        return self._one(_merge('find_one', _filter, kwargs), 'ASC')

    def first(self, _filter: Mapping[str, Any] | None = None, /, **kwargs: Any) -> dict[str, Any] | None:
        return self._one(_merge('first', _filter, kwargs), 'ASC')

    def last(self, _filter: Mapping[str, Any] | None = None, /, **kwargs: Any) -> dict[str, Any] | None:
        return self._one(_merge('last', _filter, kwargs), 'DESC')

    def find(self, _filter: Mapping[str, Any] | None = None, /, **kwargs: Any) -> list[dict[str, Any]]:
        """Every matching document, in insertion order (no filter: the whole collection)."""
        where, params = self._where(_merge('find', _filter, kwargs))
        sql = f'SELECT _id, data FROM {self.table} WHERE {where} ORDER BY rowid'
        return [self._decode(row) for row in self._run(_sqlite._fetch_all, sql, params)]

    def all(self) -> list[dict[str, Any]]:
        return self.find()

    def count(self, _filter: Mapping[str, Any] | None = None, /, **kwargs: Any) -> int:
        where, params = self._where(_merge('count', _filter, kwargs))
        sql = f'SELECT COUNT(*) FROM {self.table}' + ('' if where == '1' else f' WHERE {where}')
        return int(self._run(_sqlite.fetch_one, sql, params)[0])

    def _one(self, query: dict[str, Any], order: str) -> dict[str, Any] | None:
        where, params = self._where(query)
        sql = f'SELECT _id, data FROM {self.table} WHERE {where} ORDER BY rowid {order} LIMIT 1'
        row = self._run(_sqlite.fetch_one, sql, params)
        return None if row is None else self._decode(row)

    # ------------------------------------------------------------------------------------------- writing

    def insert_one(self, _document: Mapping[str, Any] | None = None, /, **kwargs: Any) -> dict[str, Any]:
        """Store a document and return it with its new `_id` (an `_id`/`id` given in the document is ignored)."""
        document = _merge('insert_one', _document, kwargs, what='document')
        stored = {key: encode_value(value, False) for key, value in document.items() if key not in _ID_KEYS}
        identifier = new_ulid()
        raw = orjson.dumps(stored)
        data = self.store.encrypt(raw) if self.store.encrypted else raw.decode()
        sql = f'INSERT INTO {self.table} (_id, data) VALUES (?, ?)'
        self._run(_sqlite.execute, sql, (identifier, data), write=True)
        return {'_id': identifier, **stored}

    def update_one(
        self, _filter: Mapping[str, Any], _update: Mapping[str, Any] | None = None, /, **kwargs: Any
    ) -> bool:
        """Set the given fields of the first matching document; whether one matched."""
        where, params, expression, update_params = self._update_parts('update_one', _filter, _update, kwargs)
        sql = f'UPDATE {self.table} SET data = {expression} WHERE rowid = ({self._first_match(where)})'
        return self._run(_sqlite.execute, sql, [*update_params, *params], write=True) > 0

    def update_many(
        self, _filter: Mapping[str, Any], _update: Mapping[str, Any] | None = None, /, **kwargs: Any
    ) -> int:
        """Set the given fields of every matching document; how many matched."""
        where, params, expression, update_params = self._update_parts('update_many', _filter, _update, kwargs)
        sql = f'UPDATE {self.table} SET data = {expression} WHERE {where}'
        return self._run(_sqlite.execute, sql, [*update_params, *params], write=True)

    def delete_one(self, _filter: Mapping[str, Any] | None = None, /, **kwargs: Any) -> bool:
        """Delete the first matching document; an empty filter deletes nothing (as `Model.delete_one`)."""
        query = _merge('delete_one', _filter, kwargs)
        if not query:
            return False
        where, params = self._where(query)
        sql = f'DELETE FROM {self.table} WHERE rowid = ({self._first_match(where)})'
        return self._run(_sqlite.execute, sql, params, write=True) > 0

    def delete_many(self, _filter: Mapping[str, Any] | None = None, /, **kwargs: Any) -> int:
        """Delete every matching document (no filter: all of them); how many were deleted."""
        where, params = self._where(_merge('delete_many', _filter, kwargs))
        return self._run(_sqlite.execute, f'DELETE FROM {self.table} WHERE {where}', params, write=True)

    def drop(self) -> None:
        """Remove the collection with its documents and indexes (a model's table is created again when used)."""
        self.store.check_file()
        self.store.run_sync(_sqlite.execute, f'DROP TABLE IF EXISTS {self.table}', (), write=True)
        self.store.forget_table(self.name)

    # ------------------------------------------------------------------------------------------- helpers

    def _run(self, func: Callable[..., T], sql: str, params: Any, *, write: bool = False) -> T:
        store = self.store
        store.check_file()
        store.ensure_table_sync(self.name)
        try:
            return store.run_sync(func, sql, params, write=write)
        except sqlite3.IntegrityError as error:
            raise self._duplicate(error) from None

    def _first_match(self, where: str) -> str:
        return f'SELECT rowid FROM {self.table} WHERE {where} ORDER BY rowid LIMIT 1'

    def _where(self, query: dict[str, Any]) -> tuple[str, list[Any]]:
        where, params, _ = compile_where(query, 'panther_decrypt(data)' if self.store.encrypted else 'data')
        return where, params

    def _update_parts(
        self, method: str, _filter: Any, _update: Mapping[str, Any] | None, kwargs: dict[str, Any]
    ) -> tuple[str, list[Any], str, list[Any]]:
        if not isinstance(_filter, Mapping):
            raise DatabaseError(f'`{method}()` needs a filter dict first, got {type(_filter).__name__}.')
        update = _merge(method, _update, kwargs, what='update')
        values = {key: value for key, value in update.items() if not key.startswith('$') and key not in _ID_KEYS}
        operators = {key: value for key, value in update.items() if key.startswith('$')}
        extra = operators.pop('$set', None)
        if extra is not None:
            if not isinstance(extra, Mapping):
                raise DatabaseError('`$set` needs a dict.')
            values.update((key, value) for key, value in extra.items() if key not in _ID_KEYS)
        values = {key: encode_value(value, False) for key, value in values.items()}
        where, params = self._where(_merge(method, _filter, {}))
        expression, update_params = update_expression(values, operators, self.store)
        return where, params, expression, update_params

    def _decode(self, row: Any) -> dict[str, Any]:
        identifier, data = row
        document = orjson.loads(self.store.decrypt(data) if self.store.encrypted else data)
        return {'_id': identifier, **document}

    def _duplicate(self, error: sqlite3.IntegrityError) -> DatabaseError:
        # SQLite names the unique index of the model's field: "UNIQUE constraint failed: index 'ux_User__username'".
        found = re.search(rf"'{re.escape(_sqlite.unique_index_name(self.name, ''))}([^']+)'", str(error))
        if found is None:
            return DatabaseError(str(error))
        return DocumentError(self.name, [(found.group(1), ALREADY_EXISTS)])


def _merge(method: str, given: Any, kwargs: dict[str, Any], what: str = 'filter') -> dict[str, Any]:
    """The positional dict merged with the keyword arguments (which win), as in the `Model` queries."""
    if given is None:
        return kwargs
    if not isinstance(given, Mapping):
        raise DatabaseError(f'`{method}()` needs a dict as its {what}, got {type(given).__name__}.')
    for key in given:
        if not isinstance(key, str):
            raise DatabaseError(f'`{method}()`: the keys of a {what} must be strings, got {key!r}.')
    return {**given, **kwargs}
