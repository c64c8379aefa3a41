"""`BasePantherDBQuery`: the query engine of the embedded database (SQLite, see `panther.db._sqlite`).

Every model is one table `(_id TEXT UNIQUE, data TEXT)` holding the document as JSON (Fernet-encrypted with
`encryption=True`). Filters, sorting, skip and limit are compiled to parameterised SQL over `json_extract`;
field names are validated and never interpolated from values.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, cast

import orjson
from pydantic import ConfigDict, PydanticUserError, TypeAdapter, ValidationError

from panther._internal.ids import new_ulid
from panther.configs import config
from panther.db import _sqlite
from panther.db._documents import (
    ALREADY_EXISTS,
    MAX_REFERENCE_DEPTH,
    DocumentError,
    collect_references,
    encode_instance,
    id_unobserved,
    materialise_documents,
    needs_document,
    plan_for,
    prepare_insert,
    prepare_update,
    resolve_found,
    set_id,
    unique_fields,
)
from panther.db._sql import Compiler, compile_where, json_path, order_by, update_expression
from panther.db.cursor import PantherDBCursor
from panther.db.queries.base_queries import BaseQuery, off_loop
from panther.exceptions import DatabaseError

if TYPE_CHECKING:
    from panther.db._sqlite import SQLiteStore
    from panther.db.models import Model

__all__ = ['BasePantherDBQuery', 'new_ulid']

logger = logging.getLogger('panther')

# ---------------------------------------------------------------------------------------------------------------
# Unique fields


def _unique_expressions(model: type[Model], store: SQLiteStore) -> list[tuple[str, str]]:
    if store.encrypted:
        # An index holds its keys in clear: encrypted documents are indexed by a keyed hash of the value.
        return [
            (field, f"panther_blind(json_extract(panther_decrypt(data), '{json_path(field)}'))")
            for field in unique_fields(model)
        ]
    # The same expression as the filters' (`Compiler.plain_column`), so the unique index also serves lookups.
    return [(field, f"json_extract(data, '{json_path(field)}')") for field in unique_fields(model)]


def _unique_field(model: type[Model], error: sqlite3.IntegrityError) -> str | None:
    # SQLite names the index: "UNIQUE constraint failed: index 'ux_User__username'".
    message = str(error)
    for field in unique_fields(model):
        if f"'{_sqlite.unique_index_name(model.__name__, field)}'" in message:
            return field
    return None


def _duplicate(model: type[Model], error: sqlite3.IntegrityError) -> DatabaseError:
    field = _unique_field(model, error)
    if field is None:
        return DatabaseError(str(error))
    return DocumentError(model.__name__, [(field, ALREADY_EXISTS)])


async def _prepare(store: SQLiteStore, model: type[Model], *, writing: bool) -> None:
    try:
        await store.ensure_unique(model.__name__, _unique_expressions(model, store))
    except sqlite3.IntegrityError as error:
        refused = _not_unique_yet(model, error)
        if writing:
            raise refused from None
        # Reading goes on (the duplicates can be found and removed); every write tries the index again.
        logger.warning(str(refused))


def _not_unique_yet(model: type[Model], error: sqlite3.IntegrityError) -> DatabaseError:
    field = _unique_field(model, error)
    name = f'{model.__name__}.{field}' if field else model.__name__
    return DatabaseError(
        f'`{name}` cannot be made unique: stored documents already share a value. Remove the duplicates first.'
    )


# ---------------------------------------------------------------------------------------------------------------
# The engine


def _store() -> SQLiteStore:
    connection = config.DATABASE
    store = getattr(connection, 'store', None)
    if store is None:
        raise DatabaseError(
            '`BasePantherDBQuery` needs `config.DATABASE` to be a `PantherDBConnection`; check your DATABASE block.'
        )
    # Before the table caches are trusted: the file may have been deleted since the last operation.
    store.check_file()
    return cast('SQLiteStore', store)


_tables: dict[str, str] = {}


def _table(model: type[Model]) -> str:
    name = model.__name__
    quoted = _tables.get(name)
    if quoted is None:
        quoted = _tables[name] = _sqlite.quote_identifier(name)
    return quoted


# (table, encrypted, keys set) → `UPDATE … WHERE _id = ?` of an update that only sets fields. Bounded, since
# dotted keys can be made of data (e.g. `scores.<user id>`).
_set_statements: dict[tuple[str, bool, tuple[str, ...]], str] = {}
_SET_STATEMENTS_MAX = 1024


def _point_set_statement(model: type[Model], store: SQLiteStore, keys: tuple[str, ...]) -> str:
    cache_key = (model.__name__, store.encrypted, keys)
    sql = _set_statements.get(cache_key)
    if sql is None:
        expression, _ = update_expression(dict.fromkeys(keys), {}, store)
        sql = f'UPDATE {_table(model)} SET data = {expression} WHERE _id = ?'
        if len(_set_statements) >= _SET_STATEMENTS_MAX:
            _set_statements.clear()
        _set_statements[cache_key] = sql
    return sql


def _is_point(query: dict[str, Any]) -> bool:
    return len(query) == 1 and '_id' in query and not isinstance(query['_id'], Mapping)


def _normalise(query: dict[str, Any]) -> dict[str, Any]:
    if 'id' in query:
        value = query.pop('id')
        query['_id'] = value
    return query


# Model → validator of `list[Model]` from JSON text, or `None` where rows must be validated one by one.
_row_validators: dict[type, Any] = {}


def _rows_validator(model: type[Model]) -> Any:
    try:
        return _row_validators[model]
    except KeyError:
        pass
    if not model.__pydantic_complete__:
        # Not cached: the model may still be completed (`model_rebuild()`); validation reports it meanwhile.
        return None
    validator = None
    if id_unobserved(model):
        try:
            # Values are rarely repeated across documents, so caching only the keys' strings is cheaper.
            validator = TypeAdapter(list[model], config=ConfigDict(cache_strings='keys')).validator  # type: ignore[valid-type]
        except PydanticUserError:
            validator = None
    _row_validators[model] = validator
    return validator


def _validate_rows(model: type[Model], rows: list[Any]) -> list[Model]:
    """Rows → instances in one pass (the common case: no related models, files or encryption)."""
    validator = _rows_validator(model)
    if validator is not None:
        # One call parses and validates every stored JSON text, without intermediate dicts. The id is the primary
        # key, not part of the JSON, and nothing can observe it during validation, so it is attached afterwards.
        try:
            instances = validator.validate_json('[' + ','.join([row[1] for row in rows]) + ']')
        except (ValidationError, TypeError):
            instances = None
        # A text that is not one JSON value would shift the ids; the count check catches it.
        if instances is not None and len(instances) == len(rows):
            for instance, (identifier, _) in zip(instances, rows, strict=True):
                instance.__dict__['id'] = identifier if type(identifier) is str else str(identifier)
                instance.__pydantic_fields_set__.add('id')
            return cast('list[Model]', instances)
    validate = model.__pydantic_validator__.validate_python
    loads = orjson.loads
    instances = []
    try:
        for identifier, data in rows:
            document = loads(data)
            document['id'] = identifier
            instances.append(validate(document))
    except ValidationError:
        # Report it the same way as the general path does.
        return materialise_documents(model, [{**orjson.loads(data), 'id': identifier} for identifier, data in rows])
    return instances


class BasePantherDBQuery(BaseQuery):
    """Query engine of `PantherDBConnection` (the embedded SQLite database)."""

    object_ids = False

    # ------------------------------------------------------------------------------------------- helpers

    @staticmethod
    async def _ready(model: type[Model]) -> SQLiteStore:
        """The store, with the model's table (for reading and deleting)."""
        store = _store()
        if model.__name__ not in store._tables:
            await _prepare(store, model, writing=False)
        return store

    @staticmethod
    async def _writable(model: type[Model]) -> SQLiteStore:
        """The store, with the model's table and its unique indexes (for inserting and updating)."""
        store = _store()
        if model.__name__ not in store.unique_ready:
            await _prepare(store, model, writing=True)
        return store

    @staticmethod
    def _doc(store: SQLiteStore) -> str:
        return 'panther_decrypt(data)' if store.encrypted else 'data'

    @staticmethod
    def _where(store: SQLiteStore, model: type[Model], query: Mapping[str, Any]) -> tuple[str, list[Any]]:
        where, params, indexable = compile_where(query, 'panther_decrypt(data)' if store.encrypted else 'data', model)
        if indexable and not store.encrypted:
            for field, column in indexable:
                store.ensure_index(model.__name__, field, column)
        return where, params

    @staticmethod
    def _decode(store: SQLiteStore, row: Any) -> dict[str, Any]:
        identifier, data = row
        document = orjson.loads(store.decrypt(data) if store.encrypted else data)
        document['id'] = identifier
        return cast('dict[str, Any]', document)

    @staticmethod
    def _encode(store: SQLiteStore, document: dict[str, Any]) -> str:
        raw = orjson.dumps(document)
        return store.encrypt(raw) if store.encrypted else raw.decode()

    @classmethod
    async def _one(cls, model: type[Model], store: SQLiteStore, sql: str, params: list[Any]) -> Model | None:
        row = await store.run(_sqlite.fetch_one, sql, params, key=sql)
        if row is None:
            return None
        if store.encrypted or plan_for(model).nodes:
            found = await cls.materialise(model, [cls._decode(store, row)])
            # Empty when the document refers to a deleted one through a required reference: it cannot be read.
            return found[0] if found else None
        return _validate_rows(model, [row])[0]

    # ------------------------------------------------------------------------------------------- reading

    @classmethod
    async def find_one(cls, model: type[Model], query: dict[str, Any]) -> Model | None:
        store = await cls._ready(model)
        where, params = cls._where(store, model, _normalise(query))
        return await cls._one(model, store, f'SELECT _id, data FROM {_table(model)} WHERE {where} LIMIT 1', params)

    @classmethod
    async def first(cls, model: type[Model], query: dict[str, Any]) -> Model | None:
        store = await cls._ready(model)
        where, params = cls._where(store, model, _normalise(query))
        sql = f'SELECT _id, data FROM {_table(model)} WHERE {where} ORDER BY rowid ASC LIMIT 1'
        return await cls._one(model, store, sql, params)

    @classmethod
    async def last(cls, model: type[Model], query: dict[str, Any]) -> Model | None:
        store = await cls._ready(model)
        where, params = cls._where(store, model, _normalise(query))
        sql = f'SELECT _id, data FROM {_table(model)} WHERE {where} ORDER BY rowid DESC LIMIT 1'
        return await cls._one(model, store, sql, params)

    @classmethod
    def cursor(cls, model: type[Model], query: dict[str, Any]) -> PantherDBCursor:
        query = _normalise(query)
        # Compile now so a bad filter fails at `find()`, not later at iteration.
        Compiler('data', model).where(query)
        return PantherDBCursor(model, query, cls)

    @classmethod
    async def ids(cls, model: type[Model], query: dict[str, Any], limit: int = 0) -> list[str]:
        store = await cls._ready(model)
        where, params = cls._where(store, model, _normalise(query))
        sql = f'SELECT _id FROM {_table(model)} WHERE {where}' + (f' LIMIT {int(limit)}' if limit else '')
        return [row[0] for row in await store.run(_sqlite.execute_returning, sql, params, key=sql)]

    @classmethod
    async def count(cls, model: type[Model], query: dict[str, Any]) -> int:
        store = await cls._ready(model)
        where, params = cls._where(store, model, _normalise(query))
        # Without a WHERE clause SQLite counts from the b-tree directly instead of visiting every row.
        sql = f'SELECT COUNT(*) FROM {_table(model)}' + ('' if where == '1' else f' WHERE {where}')
        return cast('int', (await store.run(_sqlite.fetch_one, sql, params, key=sql))[0])

    @classmethod
    async def exists(cls, model: type[Model], query: dict[str, Any]) -> bool:
        store = await cls._ready(model)
        where, params = cls._where(store, model, _normalise(query))
        sql = f'SELECT 1 FROM {_table(model)} WHERE {where} LIMIT 1'
        return await store.run(_sqlite.fetch_one, sql, params, key=sql) is not None

    @classmethod
    async def aggregate(cls, model: type[Model], pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
        raise DatabaseError('aggregate() does not supported in `PantherDB`.')

    @classmethod
    async def fetch_by_ids(cls, model: type[Model], ids: list[str], depth: int = 0) -> dict[str, Model]:
        store = await cls._ready(model)
        documents: list[dict[str, Any]] = []
        for start in range(0, len(ids), 500):
            chunk = [str(identifier) for identifier in ids[start : start + 500]]
            sql = f'SELECT _id, data FROM {_table(model)} WHERE _id IN ({", ".join("?" * len(chunk))})'
            rows = await store.run(_sqlite.execute_returning, sql, chunk, key=sql)
            documents.extend(await off_loop(len(rows), cls._decode_rows, store, rows))
        instances = await cls.materialise(model, documents, depth)
        return {instance.id: instance for instance in instances}  # type: ignore[misc]

    # ------------------------------------------------------------------------------------------- cursors

    @classmethod
    def _cursor_sql(cls, store: SQLiteStore, cursor: PantherDBCursor) -> tuple[str, list[Any]]:
        where, params = cls._where(store, cursor.cls, cursor.filter)
        order, indexable = order_by(cursor._sort, cls._doc(store))
        if indexable and not store.encrypted:
            for field, column in indexable:
                store.ensure_index(cursor.cls.__name__, field, column)
        sql = f'SELECT _id, data FROM {_table(cursor.cls)} WHERE {where}{order}'
        if cursor._limit or cursor._skip:
            sql += ' LIMIT ? OFFSET ?'
            params = [*params, cursor._limit or -1, cursor._skip]
        return sql, params

    @classmethod
    def _decode_rows(cls, store: SQLiteStore, rows: list[Any]) -> list[dict[str, Any]]:
        return [cls._decode(store, row) for row in rows]

    @classmethod
    async def _instances(cls, store: SQLiteStore, model: type[Model], rows: list[Any]) -> list[Model]:
        """Rows → instances; a large batch is decoded and validated off the event loop."""
        if store.encrypted or plan_for(model).nodes:
            return await cls.materialise(model, await off_loop(len(rows), cls._decode_rows, store, rows))
        return await off_loop(len(rows), _validate_rows, model, rows)

    @classmethod
    async def stream_batches(cls, cursor: PantherDBCursor) -> AsyncIterator[list[Model]]:
        store = await cls._ready(cursor.cls)
        sql, params = cls._cursor_sql(store, cursor)
        async for rows in store.stream(sql, params, cursor):
            yield await cls._instances(store, cursor.cls, rows)

    @classmethod
    async def fetch_list(cls, cursor: PantherDBCursor) -> list[Model]:
        """Every instance of the cursor; a small result costs no async generator (`to_list()` of short lists)."""
        store = await cls._ready(cursor.cls)
        sql, params = cls._cursor_sql(store, cursor)
        rows = store.fetch_inline(sql, params)
        if rows is not None:
            return await cls._instances(store, cursor.cls, rows)
        items: list[Model] = []
        async for rows in store.stream(sql, params, cursor, inline=False):
            items.extend(await cls._instances(store, cursor.cls, rows))
        return items

    @classmethod
    def fetch_sync(cls, cursor: PantherDBCursor) -> list[Model]:
        store = _store()
        store.ensure_table_sync(cursor.cls.__name__)
        sql, params = cls._cursor_sql(store, cursor)
        rows = store.fetch_all_sync(sql, params)
        return cls._materialise_sync(store, cursor.cls, [cls._decode(store, row) for row in rows], 0)

    @classmethod
    def _materialise_sync(
        cls, store: SQLiteStore, model: type[Model], documents: list[dict[str, Any]], depth: int
    ) -> list[Model]:
        plan = plan_for(model)
        dangling: set[int] = set()
        if plan.nodes and documents:
            references: list[tuple[Any, Any, type, str]] = []
            owners: list[int] = []
            for position, document in enumerate(documents):
                for name, node in plan.nodes.items():
                    if name in document:
                        collect_references(node, document, name, references)
                owners.extend([position] * (len(references) - len(owners)))
            wanted: dict[type, list[str]] = {}
            for _, _, related, identifier in references:
                wanted.setdefault(related, []).append(identifier)
            found: dict[type, dict[str, Any]] = {}
            for related, ids in wanted.items():
                found[related] = {}
                if depth >= MAX_REFERENCE_DEPTH:
                    continue
                store.ensure_table_sync(related.__name__)
                unique = list(dict.fromkeys(ids))
                for start in range(0, len(unique), 500):
                    chunk = unique[start : start + 500]
                    sql = f'SELECT _id, data FROM {_table(related)} WHERE _id IN ({", ".join("?" * len(chunk))})'
                    related_documents = [cls._decode(store, row) for row in store.fetch_all_sync(sql, chunk)]
                    for instance in cls._materialise_sync(store, related, related_documents, depth + 1):
                        found[related][str(instance.id)] = instance
            dangling = resolve_found(references, owners, found)
        return materialise_documents(model, documents, dangling, quiet=depth >= MAX_REFERENCE_DEPTH)

    # ------------------------------------------------------------------------------------------- writing

    @classmethod
    async def insert_one(cls, model: type[Model], document: Any) -> Model:
        instance = await prepare_insert(model, document, cls.fetch_related)
        store = await cls._writable(model)
        identifier = new_ulid()
        sql = f'INSERT INTO {_table(model)} (_id, data) VALUES (?, ?)'
        data = cls._encode(store, encode_instance(instance, False))
        try:
            await store.run(_sqlite.execute, sql, (identifier, data), write=True)
        except sqlite3.IntegrityError as error:
            raise _duplicate(model, error) from None
        set_id(instance, identifier)
        return instance

    @classmethod
    async def insert_many(cls, model: type[Model], documents: list[Any]) -> list[Model]:
        # Everything is validated before anything is written; the rows then go in one transaction.
        instances = [await prepare_insert(model, document, cls.fetch_related) for document in documents]
        if not instances:
            return []
        store = await cls._writable(model)
        rows = []
        for instance in instances:
            identifier = new_ulid()
            rows.append((identifier, cls._encode(store, encode_instance(instance, False))))
        sql = f'INSERT INTO {_table(model)} (_id, data) VALUES (?, ?)'
        try:
            if len(rows) > _sqlite.INLINE_MAX_ROWS:
                await store.run_in_worker(_sqlite.execute_many, sql, rows)
            else:
                await store.run(_sqlite.execute_many, sql, rows, write=True)
        except sqlite3.IntegrityError as error:
            raise _duplicate(model, error) from None
        for instance, (identifier, _) in zip(instances, rows, strict=True):
            set_id(instance, identifier)
        return instances

    @classmethod
    async def _write(
        cls,
        store: SQLiteStore,
        model: type[Model],
        query: dict[str, Any],
        head: str,
        head_params: list[Any],
        many: bool,
    ) -> int:
        """Run `<head> WHERE …` for the filter: by id inline; one match found inline, then written by rowid;
        bulk writes on the worker (writes cannot be interrupted safely, so a long one never starts inline)."""
        where, params = cls._where(store, model, query)
        if _is_point(query):
            sql = f'{head} WHERE {where}'
            return await store.run(_sqlite.execute, sql, [*head_params, *params], write=True)
        if many:
            return await store.run_in_worker(_sqlite.execute, f'{head} WHERE {where}', [*head_params, *params])
        select = f'SELECT rowid FROM {_table(model)} WHERE {where} LIMIT 1'
        sql = f'{head} WHERE rowid = ? AND ({where})'
        # The row may change between finding it and writing it; the filter is re-checked in the write.
        for _ in range(3):
            row = await store.run(_sqlite.fetch_one, select, params, key=select)
            if row is None:
                return 0
            if await store.run(_sqlite.execute, sql, [*head_params, row[0], *params], write=True):
                return 1
        return 0

    @classmethod
    async def _update(cls, model: type[Model], query: dict[str, Any], update: dict[str, Any], many: bool) -> int:
        try:
            return await cls._apply_update(model, query, update, many)
        except sqlite3.IntegrityError as error:
            raise _duplicate(model, error) from None

    @classmethod
    async def _apply_update(cls, model: type[Model], query: dict[str, Any], update: dict[str, Any], many: bool) -> int:
        if needs_document(model, update):
            return await cls._update_each(model, query, update, many)
        values, operators = await prepare_update(model, update, cls.fetch_related, mongo=False)
        store = await cls._writable(model)
        query = _normalise(query)
        if not values and not operators:
            return await cls.count(model, query) if many else int(await cls.exists(model, query))
        if not operators and _is_point(query) and type(query['_id']) is str:
            # The usual `update_one(id=…)`: one cached statement, no filter compilation.
            sql = _point_set_statement(model, store, tuple(values))
            params = [orjson.dumps(value).decode() for value in values.values()]
            params.append(query['_id'])
            return await store.run(_sqlite.execute, sql, params, write=True)
        expression, update_params = update_expression(values, operators, store)
        return await cls._write(
            store, model, query, f'UPDATE {_table(model)} SET data = {expression}', update_params, many
        )

    @classmethod
    async def _update_each(cls, model: type[Model], query: dict[str, Any], update: dict[str, Any], many: bool) -> int:
        """An update whose validation sees the other fields: each document is validated with its own current values
        (all of them before anything is written), then the documents are written by id in one transaction."""
        documents = await cls.documents_to_update(model, query, many)
        if not documents:
            # Nothing is written, and there is no document to check the values against.
            return 0
        prepared = [
            await prepare_update(model, update, cls.fetch_related, mongo=False, current=document)
            for document in documents
        ]
        store = await cls._writable(model)
        statements = []
        for document, (values, operators) in zip(documents, prepared, strict=True):
            expression, params = update_expression(values, operators, store)
            statements.append((f'UPDATE {_table(model)} SET data = {expression} WHERE _id = ?', [*params, document.id]))
        if len(statements) > _sqlite.INLINE_MAX_ROWS:
            return await store.run_in_worker(_sqlite.execute_each, statements)
        return await store.run(_sqlite.execute_each, statements, write=True)

    @classmethod
    async def update_one(cls, model: type[Model], query: dict[str, Any], update: dict[str, Any]) -> bool:
        return await cls._update(model, query, update, many=False) > 0

    @classmethod
    async def update_many(cls, model: type[Model], query: dict[str, Any], update: dict[str, Any]) -> int:
        return await cls._update(model, query, update, many=True)

    @classmethod
    async def delete_one(cls, model: type[Model], query: dict[str, Any]) -> bool:
        if not query:
            return False
        store = await cls._ready(model)
        return await cls._write(store, model, _normalise(query), f'DELETE FROM {_table(model)}', [], many=False) > 0

    @classmethod
    async def delete_many(cls, model: type[Model], query: dict[str, Any]) -> int:
        store = await cls._ready(model)
        return await cls._write(store, model, _normalise(query), f'DELETE FROM {_table(model)}', [], many=True)

    # ------------------------------------------------------------------------------------------ instance

    @classmethod
    async def update_instance(cls, instance: Model, update: dict[str, Any]) -> None:
        model = type(instance)
        if instance.id is None:
            raise DatabaseError(f'This `{model.__name__}` has no id; save it first.')
        current = await cls.stored_version(instance, update)
        values, operators = await prepare_update(model, update, cls.fetch_related, mongo=False, current=current)
        store = await cls._writable(model)
        if not values and not operators:
            await cls.reload_instance(instance)
            return
        expression, params = update_expression(values, operators, store)
        sql = f'UPDATE {_table(model)} SET data = {expression} WHERE _id = ? RETURNING _id, data'
        try:
            rows = await store.run(_sqlite.execute_returning, sql, [*params, str(instance.id)], key=sql, write=True)
        except sqlite3.IntegrityError as error:
            raise _duplicate(model, error) from None
        if not rows:
            raise DatabaseError(f'`{model.__name__}` with id `{instance.id}` does not exist.')
        fresh = await cls.materialise(model, [cls._decode(store, rows[0])])
        if not fresh:
            raise DatabaseError(f'`{model.__name__}` with id `{instance.id}` refers to a deleted document.')
        cls.copy_into(instance, fresh[0])

    @classmethod
    async def save_instance(cls, instance: Model) -> None:
        model = type(instance)
        if instance.id is None:
            inserted = await cls.insert_one(model, instance)
            cls.copy_into(instance, inserted)
            return
        fresh = await prepare_insert(model, instance, cls.fetch_related)
        store = await cls._writable(model)
        sql = (
            f'INSERT INTO {_table(model)} (_id, data) VALUES (?, ?) ON CONFLICT(_id) DO UPDATE SET data = excluded.data'
        )
        data = cls._encode(store, encode_instance(fresh, False))
        try:
            await store.run(_sqlite.execute, sql, (str(instance.id), data), write=True)
        except sqlite3.IntegrityError as error:
            raise _duplicate(model, error) from None
        set_id(fresh, instance.id)
        cls.copy_into(instance, fresh)

    @classmethod
    async def delete_instance(cls, instance: Model) -> None:
        if instance.id is None:
            return
        store = await cls._ready(type(instance))
        sql = f'DELETE FROM {_table(type(instance))} WHERE _id = ?'
        await store.run(_sqlite.execute, sql, (str(instance.id),), write=True)

    @classmethod
    async def reload_instance(cls, instance: Model) -> None:
        model = type(instance)
        fresh = await cls.find_one(model, {'_id': instance.id}) if instance.id is not None else None
        if fresh is None:
            raise DatabaseError(f'`{model.__name__}` with id `{instance.id}` does not exist.')
        cls.copy_into(instance, fresh)
