"""`BaseMongoDBQuery`: the query engine of `MongoDBConnection` (pymongo's asyncio API)."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, cast

from panther.configs import config
from panther.db._documents import (
    ALREADY_EXISTS,
    DocumentError,
    ObjectId,
    encode_instance,
    encode_value,
    keep_as_stored,
    needs_document,
    plan_for,
    prepare_insert,
    prepare_update,
    set_id,
    unique_fields,
)
from panther.db.cursor import Cursor
from panther.db.queries.base_queries import BaseQuery, off_loop
from panther.exceptions import DatabaseError

if TYPE_CHECKING:
    from panther.db.models import Model

try:
    from pymongo.errors import BulkWriteError, DuplicateKeyError
except ImportError:  # pragma: no cover - pymongo is an optional extra, without which this engine is not used

    class BulkWriteError(Exception):  # type: ignore[no-redef]
        details: dict[str, Any]

    class DuplicateKeyError(Exception):  # type: ignore[no-redef]
        details: dict[str, Any] | None


__all__ = ['BaseMongoDBQuery']

query_logger = logging.getLogger('query')

BATCH = 500


def _collection(model: type[Model]) -> Any:
    connection = config.DATABASE
    collection = getattr(connection, 'collection', None)
    if collection is None:
        raise DatabaseError(
            '`BaseMongoDBQuery` needs `config.DATABASE` to be a `MongoDBConnection`; check your DATABASE block.'
        )
    return collection(model.__name__)


# ---------------------------------------------------------------------------------------------------------------
# Unique fields

UNIQUE_PREFIX = 'panther_unique__'
# Every BSON type but null: several documents may leave an optional unique field empty (as on the embedded engine,
# where SQLite's unique indexes let NULLs repeat).
_INDEXED_TYPES = ['string', 'number', 'bool', 'date', 'objectId', 'object', 'binData', 'timestamp']
_DUPLICATE_KEY = 11000


async def _writable(model: type[Model]) -> Any:
    """The collection, once its unique indexes match the model's `Unique()` fields (checked once per connection)."""
    collection = _collection(model)
    connection = config.DATABASE
    name = model.__name__
    if name not in connection.indexed:
        async with connection.index_lock:
            if name not in connection.indexed:
                await _sync_unique_indexes(model, collection)
                connection.indexed.add(name)
    return collection


async def _sync_unique_indexes(model: type[Model], collection: Any) -> None:
    from pymongo.errors import OperationFailure

    wanted = {UNIQUE_PREFIX + field: field for field in unique_fields(model)}
    existing = {name for name in await collection.index_information() if name.startswith(UNIQUE_PREFIX)}
    for name in existing - set(wanted):
        # No longer declared unique.
        await collection.drop_index(name)
    for name, field in wanted.items():
        if name in existing:
            continue
        try:
            await collection.create_index(
                [(field, 1)], name=name, unique=True, partialFilterExpression={field: {'$type': _INDEXED_TYPES}}
            )
        except OperationFailure as error:
            if error.code != _DUPLICATE_KEY:
                raise
            raise DatabaseError(
                f'`{model.__name__}.{field}` cannot be made unique: stored documents already share a value. '
                f'Remove the duplicates first.'
            ) from None


def _duplicate(model: type[Model], details: Mapping[str, Any] | None, message: str) -> DatabaseError:
    """The error of a write refused by a unique index, naming the field."""
    field = None
    pattern = (details or {}).get('keyPattern')
    if isinstance(pattern, Mapping) and len(pattern) == 1:
        field = next(iter(pattern))
    else:
        found = re.search(rf'index: {UNIQUE_PREFIX}(\w+)', message)
        field = found.group(1) if found else None
    if field is None or field not in unique_fields(model):
        return DatabaseError(message)
    return DocumentError(model.__name__, [(field, ALREADY_EXISTS)])


def _object_id(value: Any) -> Any:
    if value is None or isinstance(value, ObjectId):
        return value
    if isinstance(value, Mapping):
        return {key: _object_id(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_object_id(item) for item in value]
    if isinstance(value, (str, bytes)):
        try:
            return ObjectId(value)
        except Exception:
            shown = value if isinstance(value, str) else repr(value)
            query_logger.warning(f'id={shown} is not a valid bson.ObjectId')
            return None
    identifier = getattr(value, 'id', None)
    if identifier is not None:
        return _object_id(identifier)
    query_logger.warning(f'id={value} is not a valid bson.ObjectId')
    return None


def _relation(model: type[Model], key: str) -> bool:
    """Whether `key` (a field or a dotted path) holds references to other documents, stored as `ObjectId`s."""
    cache_key = (model, key)
    found = _relations.get(cache_key)
    if found is None:
        segments = key.split('.')
        node: Any = plan_for(model).nodes.get(segments[0])
        for segment in segments[1:]:
            while node is not None and node[0] == 'list' and not segment.isdigit():
                node = node[1]
            if node is None:
                break
            if node[0] in ('list', 'dict'):
                node = node[1]
            elif node[0] == 'object':
                node = node[1].get(segment)
            else:
                node = None
        while node is not None and node[0] == 'list':
            node = node[1]
        found = node is not None and node[0] == 'model'
        if len(_relations) >= 4096:
            _relations.clear()
        _relations[cache_key] = found
    return found


_relations: dict[tuple[type, str], bool] = {}


def _reference(value: Any) -> Any:
    # An id given as text is compared as the `ObjectId` the reference is stored as. Text that is not an id stays
    # text, which no stored reference equals: it matches nothing (and `$ne` everything), as an unknown id would.
    if isinstance(value, str):
        try:
            return ObjectId(value)
        except Exception:
            return value
    if isinstance(value, (list, tuple, set)):
        return [_reference(item) for item in value]
    return encode_value(value, True)


def _reference_filter(value: Any) -> Any:
    if isinstance(value, Mapping) and value and all(isinstance(key, str) and key.startswith('$') for key in value):
        return {
            op: _reference(operand) if op in ('$eq', '$ne', '$in', '$nin', '$all') else encode_value(operand, True)
            for op, operand in value.items()
        }
    return _reference(value)


def _convert(model: type[Model], query: Mapping[str, Any]) -> dict[str, Any]:
    """`id` → `_id` as ObjectId, values encoded for BSON, ids of related documents as ObjectIds; operators
    (`$or`, `$in`, …) pass through."""
    converted: dict[str, Any] = {}
    for key, value in query.items():
        if key in ('id', '_id'):
            converted['_id'] = _object_id(value)
        elif key in ('$and', '$or', '$nor') and isinstance(value, list):
            converted[key] = [_convert(model, item) if isinstance(item, Mapping) else item for item in value]
        elif _relation(model, key):
            converted[key] = _reference_filter(value)
        else:
            converted[key] = encode_value(value, True)
    return converted


def _decode(document: dict[str, Any]) -> dict[str, Any]:
    document['id'] = document.pop('_id', None)
    return document


def _raw(collection: Any) -> Any:
    """The collection returning undecoded BSON documents: decoding a batch is left to `_decode_raw`, off the event
    loop for large batches (pymongo would decode each reply on the event loop). Kept on the collection object, which
    the connection caches."""
    raw = collection.__dict__.get('_panther_raw')
    if raw is None:
        from bson.raw_bson import RawBSONDocument

        options = collection.codec_options.with_options(document_class=RawBSONDocument)
        raw = collection.__dict__['_panther_raw'] = collection.with_options(codec_options=options)
    return raw


def _decode_raw(documents: list[Any], codec_options: Any) -> list[dict[str, Any]]:
    from bson import decode

    return [_decode(decode(document.raw, codec_options)) for document in documents]


class BaseMongoDBQuery(BaseQuery):
    """Query engine of `MongoDBConnection`. Filters accept every MongoDB query operator."""

    object_ids = True

    @classmethod
    async def _one(cls, model: type[Model], document: dict[str, Any] | None) -> Model | None:
        if document is None:
            return None
        found = await cls.materialise(model, [_decode(document)])
        # Empty when the document refers to a deleted one through a required reference: it cannot be read.
        return found[0] if found else None

    # ------------------------------------------------------------------------------------------- reading

    @classmethod
    async def find_one(cls, model: type[Model], query: dict[str, Any]) -> Model | None:
        return await cls._one(model, await _collection(model).find_one(_convert(model, query)))

    @classmethod
    async def first(cls, model: type[Model], query: dict[str, Any]) -> Model | None:
        document = await _collection(model).find_one(_convert(model, query), sort=[('_id', 1)])
        return await cls._one(model, document)

    @classmethod
    async def last(cls, model: type[Model], query: dict[str, Any]) -> Model | None:
        document = await _collection(model).find_one(_convert(model, query), sort=[('_id', -1)])
        return await cls._one(model, document)

    @classmethod
    def cursor(cls, model: type[Model], query: dict[str, Any]) -> Cursor:
        return Cursor(model, _convert(model, query), cls)

    @classmethod
    async def stream_batches(cls, cursor: Cursor) -> AsyncIterator[list[Model]]:
        """Batches of at most `BATCH` instances; large batches are decoded and validated off the event loop."""
        collection = _collection(cursor.cls)
        found = _raw(collection).find(cursor.filter).batch_size(BATCH)
        if cursor._sort:
            found = found.sort([('_id' if field == 'id' else field, order) for field, order in cursor._sort])
        if cursor._skip:
            found = found.skip(cursor._skip)
        if cursor._limit:
            found = found.limit(cursor._limit)
        try:
            while True:
                raw = await found.to_list(BATCH)
                if not raw:
                    return
                documents = await off_loop(len(raw), _decode_raw, raw, collection.codec_options)
                yield await cls.materialise(cursor.cls, documents)
        finally:
            await found.close()

    @classmethod
    async def ids(cls, model: type[Model], query: dict[str, Any], limit: int = 0) -> list[str]:
        found = _collection(model).find(_convert(model, query), projection={'_id': 1}, limit=limit)
        return [str(document['_id']) for document in await found.to_list()]

    @classmethod
    async def count(cls, model: type[Model], query: dict[str, Any]) -> int:
        return cast('int', await _collection(model).count_documents(_convert(model, query)))

    @classmethod
    async def exists(cls, model: type[Model], query: dict[str, Any]) -> bool:
        return await _collection(model).find_one(_convert(model, query), projection={'_id': 1}) is not None

    @classmethod
    async def aggregate(cls, model: type[Model], pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
        cursor = await _collection(model).aggregate(pipeline)
        return cast('list[dict[str, Any]]', await cursor.to_list())

    @classmethod
    async def fetch_by_ids(cls, model: type[Model], ids: list[str], depth: int = 0) -> dict[str, Model]:
        object_ids = [oid for oid in (_object_id(identifier) for identifier in ids) if oid is not None]
        if not object_ids:
            return {}
        collection = _collection(model)
        raw = await _raw(collection).find({'_id': {'$in': object_ids}}).to_list()
        documents = await off_loop(len(raw), _decode_raw, raw, collection.codec_options)
        instances = await cls.materialise(model, documents, depth)
        return {str(instance.id): instance for instance in instances}

    # ------------------------------------------------------------------------------------------- writing

    @classmethod
    async def insert_one(cls, model: type[Model], document: Any) -> Model:
        instance = await prepare_insert(model, document, cls.fetch_related)
        collection = await _writable(model)
        keep_as_stored(instance, collection.codec_options.tz_aware)
        try:
            result = await collection.insert_one(encode_instance(instance, True))
        except DuplicateKeyError as error:
            raise _duplicate(model, error.details, str(error)) from None
        set_id(instance, result.inserted_id)
        return instance

    @classmethod
    async def insert_many(cls, model: type[Model], documents: list[Any]) -> list[Model]:
        instances = [await prepare_insert(model, document, cls.fetch_related) for document in documents]
        if not instances:
            return []
        collection = await _writable(model)
        for instance in instances:
            keep_as_stored(instance, collection.codec_options.tz_aware)
        documents = [encode_instance(instance, True) for instance in instances]
        try:
            result = await collection.insert_many(documents)
        except BulkWriteError as error:
            failed = (error.details.get('writeErrors') or [{}])[0]
            # Ordered inserts stop at the first failure; the documents before it are removed again, so that, as on
            # the embedded engine, a refused batch leaves nothing behind.
            written = [document['_id'] for document in documents[: failed.get('index', 0)] if '_id' in document]
            if written:
                await collection.delete_many({'_id': {'$in': written}})
            raise _duplicate(model, failed, failed.get('errmsg', str(error))) from None
        for instance, identifier in zip(instances, result.inserted_ids, strict=True):
            set_id(instance, identifier)
        return instances

    @classmethod
    async def _update_document(
        cls, model: type[Model], update: dict[str, Any], current: Model | None = None
    ) -> dict[str, Any]:
        values, operators = await prepare_update(model, update, cls.fetch_related, mongo=True, current=current)
        document = dict(operators)
        if values:
            document['$set'] = values
        return document

    @classmethod
    async def _update_each(cls, model: type[Model], query: dict[str, Any], update: dict[str, Any], many: bool) -> int:
        """An update whose validation sees the other fields: each document is validated with its own current values
        (all of them before anything is written), then written by id."""
        from pymongo import UpdateOne

        documents = await cls.documents_to_update(model, query, many)
        if not documents:
            # Nothing is written, and there is no document to check the values against.
            return 0
        changes = [await cls._update_document(model, update, document) for document in documents]
        if not changes[0]:
            return len(documents)
        collection = await _writable(model)
        requests = [
            UpdateOne({'_id': document._id}, change) for document, change in zip(documents, changes, strict=True)
        ]
        try:
            result = await collection.bulk_write(requests)
        except BulkWriteError as error:
            failed = (error.details.get('writeErrors') or [{}])[0]
            raise _duplicate(model, failed, failed.get('errmsg', str(error))) from None
        return cast('int', result.matched_count)

    @classmethod
    async def update_one(cls, model: type[Model], query: dict[str, Any], update: dict[str, Any]) -> bool:
        if needs_document(model, update):
            return await cls._update_each(model, query, update, many=False) > 0
        document = await cls._update_document(model, update)
        if not document:
            return await cls.exists(model, query)
        collection = await _writable(model)
        try:
            result = await collection.update_one(_convert(model, query), document)
        except DuplicateKeyError as error:
            raise _duplicate(model, error.details, str(error)) from None
        return cast('bool', result.matched_count > 0)

    @classmethod
    async def update_many(cls, model: type[Model], query: dict[str, Any], update: dict[str, Any]) -> int:
        if needs_document(model, update):
            return await cls._update_each(model, query, update, many=True)
        document = await cls._update_document(model, update)
        if not document:
            return await cls.count(model, query)
        collection = await _writable(model)
        try:
            result = await collection.update_many(_convert(model, query), document)
        except DuplicateKeyError as error:
            raise _duplicate(model, error.details, str(error)) from None
        # Matched, not modified: the same number the embedded engine reports.
        return cast('int', result.matched_count)

    @classmethod
    async def delete_one(cls, model: type[Model], query: dict[str, Any]) -> bool:
        if not query:
            return False
        result = await _collection(model).delete_one(_convert(model, query))
        return cast('bool', result.deleted_count > 0)

    @classmethod
    async def delete_many(cls, model: type[Model], query: dict[str, Any]) -> int:
        result = await _collection(model).delete_many(_convert(model, query))
        return cast('int', result.deleted_count)

    # ------------------------------------------------------------------------------------------ instance

    @classmethod
    async def update_instance(cls, instance: Model, update: dict[str, Any]) -> None:
        from pymongo import ReturnDocument

        model = type(instance)
        if instance.id is None:
            raise DatabaseError(f'This `{model.__name__}` has no id; save it first.')
        document = await cls._update_document(model, update, await cls.stored_version(instance, update))
        if not document:
            await cls.reload_instance(instance)
            return
        collection = await _writable(model)
        try:
            stored = await collection.find_one_and_update(
                {'_id': instance._id}, document, return_document=ReturnDocument.AFTER
            )
        except DuplicateKeyError as error:
            raise _duplicate(model, error.details, str(error)) from None
        if stored is None:
            raise DatabaseError(f'`{model.__name__}` with id `{instance.id}` does not exist.')
        fresh = await cls._one(model, stored)
        if fresh is None:
            raise DatabaseError(f'`{model.__name__}` with id `{instance.id}` refers to a deleted document.')
        cls.copy_into(instance, fresh)

    @classmethod
    async def save_instance(cls, instance: Model) -> None:
        model = type(instance)
        if instance.id is None:
            inserted = await cls.insert_one(model, instance)
            cls.copy_into(instance, inserted)
            return
        fresh = await prepare_insert(model, instance, cls.fetch_related)
        collection = await _writable(model)
        keep_as_stored(fresh, collection.codec_options.tz_aware)
        try:
            await collection.replace_one({'_id': instance._id}, encode_instance(fresh, True), upsert=True)
        except DuplicateKeyError as error:
            raise _duplicate(model, error.details, str(error)) from None
        set_id(fresh, instance.id)
        cls.copy_into(instance, fresh)

    @classmethod
    async def delete_instance(cls, instance: Model) -> None:
        if instance.id is not None:
            await _collection(type(instance)).delete_one({'_id': instance._id})

    @classmethod
    async def reload_instance(cls, instance: Model) -> None:
        model = type(instance)
        fresh = None
        if instance.id is not None:
            fresh = await cls._one(model, await _collection(model).find_one({'_id': instance._id}))
        if fresh is None:
            raise DatabaseError(f'`{model.__name__}` with id `{instance.id}` does not exist.')
        cls.copy_into(instance, fresh)
