"""`BaseQuery`: the interface every query engine implements.

Engine methods are classmethods that receive the model class explicitly (`find_one(model, filter)`), so
one engine serves every model and `config.QUERY_ENGINE` can be switched at any time. The public,
user-facing methods live on `panther.db.queries.Query`, which `Model` inherits; they merge arguments, log
and delegate here. Filters and updates arrive already merged and as fresh dicts the engine may modify.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from panther._internal.concurrency import to_thread
from panther.db._documents import (
    MAX_REFERENCE_DEPTH,
    collect_references,
    materialise_documents,
    needs_document,
    plan_for,
    resolve_found,
)
from panther.exceptions import DatabaseError

if TYPE_CHECKING:
    from panther.db.cursor import BaseCursor
    from panther.db.models import Model

__all__ = ['BUILD_INLINE_MAX', 'BaseQuery', 'off_loop']

T = TypeVar('T')

# Batches of more documents than this are decoded and validated on a worker thread: building a large batch of
# model instances takes milliseconds, which would hold the event loop.
BUILD_INLINE_MAX = 256


async def off_loop(size: int, func: Callable[..., T], *args: Any) -> T:
    """`func(*args)`, on a worker thread when it works on more than `BUILD_INLINE_MAX` documents (a thread hand-off
    costs more than building a small batch)."""
    if size > BUILD_INLINE_MAX:
        return await to_thread(func, *args)
    return func(*args)


class BaseQuery(ABC):
    """Subclass this to write a custom engine; every abstract method below must be implemented."""

    # True when documents are identified by `bson.ObjectId` (the `ID` type validates into it).
    object_ids = False

    @classmethod
    @abstractmethod
    async def find_one(cls, model: type[Model], query: dict[str, Any]) -> Model | None:
        """The first document matching `query`, or None."""

    @classmethod
    @abstractmethod
    def cursor(cls, model: type[Model], query: dict[str, Any]) -> BaseCursor:
        """A lazy cursor over the documents matching `query`, built without reading anything (`Model.find()`)."""

    @classmethod
    async def find(cls, model: type[Model], query: dict[str, Any]) -> BaseCursor:
        """A cursor over the documents matching `query` (not read yet)."""
        return cls.cursor(model, query)

    @classmethod
    @abstractmethod
    async def first(cls, model: type[Model], query: dict[str, Any]) -> Model | None:
        """The earliest stored match (insertion order), or None."""

    @classmethod
    @abstractmethod
    async def last(cls, model: type[Model], query: dict[str, Any]) -> Model | None:
        """The latest stored match, or None."""

    @classmethod
    @abstractmethod
    async def aggregate(cls, model: type[Model], pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Raw result documents of an aggregation pipeline (engines without one raise DatabaseError)."""

    @classmethod
    @abstractmethod
    async def count(cls, model: type[Model], query: dict[str, Any]) -> int:
        """How many documents match `query`."""

    @classmethod
    async def exists(cls, model: type[Model], query: dict[str, Any]) -> bool:
        return await cls.count(model, query) > 0

    @classmethod
    @abstractmethod
    async def insert_one(cls, model: type[Model], document: Any) -> Model:
        """Validate and store one document; the new instance, with its id."""

    @classmethod
    @abstractmethod
    async def insert_many(cls, model: type[Model], documents: list[Any]) -> list[Model]:
        """Validate every document first, then store them all; the new instances in input order."""

    @classmethod
    @abstractmethod
    async def update_one(cls, model: type[Model], query: dict[str, Any], update: dict[str, Any]) -> bool:
        """Update the first match; whether a document matched."""

    @classmethod
    @abstractmethod
    async def update_many(cls, model: type[Model], query: dict[str, Any], update: dict[str, Any]) -> int:
        """Returns the number of *matched* documents on every engine."""

    @classmethod
    @abstractmethod
    async def delete_one(cls, model: type[Model], query: dict[str, Any]) -> bool:
        """An empty filter deletes nothing (on every engine) and returns `False`."""

    @classmethod
    @abstractmethod
    async def delete_many(cls, model: type[Model], query: dict[str, Any]) -> int:
        """Delete every match (an empty filter deletes all); how many were deleted."""

    @classmethod
    @abstractmethod
    async def update_instance(cls, instance: Model, update: dict[str, Any]) -> None:
        """Update the stored document of `instance` and reload every field into it."""

    @classmethod
    @abstractmethod
    async def save_instance(cls, instance: Model) -> None:
        """Insert `instance` (setting its id) or replace its stored document."""

    @classmethod
    @abstractmethod
    async def delete_instance(cls, instance: Model) -> None:
        """Delete the stored document of `instance`."""

    @classmethod
    @abstractmethod
    async def reload_instance(cls, instance: Model) -> None:
        """Re-read every field of `instance` from the database."""

    @classmethod
    @abstractmethod
    async def fetch_by_ids(cls, model: type[Model], ids: list[str], depth: int = 0) -> dict[str, Model]:
        """`{id: instance}` for the ids that exist, in one round trip (used to resolve foreign keys)."""

    # ------------------------------------------------------------------------------------------- helpers

    @classmethod
    async def materialise(cls, model: type[Model], documents: list[dict[str, Any]], depth: int = 0) -> list[Model]:
        """Decoded documents (with `id`) → instances, resolving foreign keys with one query per related model.

        A reference to a document that no longer exists reads as `None` (or leaves its list); a document that then
        misses a required reference is left out (see `materialise_documents`).
        """
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
            if references:
                wanted: dict[type, list[str]] = {}
                for _, _, related, identifier in references:
                    wanted.setdefault(related, []).append(identifier)
                found: dict[type, dict[str, Any]] = {}
                for related, ids in wanted.items():
                    if depth >= MAX_REFERENCE_DEPTH:
                        found[related] = {}
                    else:
                        found[related] = await cls.fetch_by_ids(related, list(dict.fromkeys(ids)), depth + 1)
                dangling = resolve_found(references, owners, found)
        quiet = depth >= MAX_REFERENCE_DEPTH
        return await off_loop(len(documents), materialise_documents, model, documents, dangling, quiet)

    @classmethod
    async def ids(cls, model: type[Model], query: dict[str, Any], limit: int = 0) -> list[str]:
        """The ids (as text) of the documents matching `query`, at most `limit` of them (0: all)."""
        cursor = cls.cursor(model, query)
        if limit:
            cursor.limit(limit)
        return [str(instance.id) for instance in await cursor.to_list()]

    @classmethod
    async def remove_references(cls, model: type[Model], field: str, ids: list[str], query: dict[str, Any]) -> None:
        """Take the documents `ids` out of the list of references `field` of the documents matching `query`."""
        gone = set(ids)
        for document in await cls.cursor(model, query).to_list():
            kept = [item for item in getattr(document, field) if item is not None and str(item.id) not in gone]
            await cls.update_one(model, {'_id': document._id}, {field: kept})

    @classmethod
    async def documents_to_update(cls, model: type[Model], query: dict[str, Any], many: bool) -> list[Model]:
        """The documents an update would change, read first when validating it needs their current values."""
        if many:
            return await (await cls.find(model, dict(query))).to_list()
        found = await cls.find_one(model, dict(query))
        return [] if found is None else [found]

    @classmethod
    async def stored_version(cls, instance: Model, update: dict[str, Any]) -> Model:
        """What validating an update of `instance` is given as the document's current values: the stored document
        when validators can see them (`instance` itself may be out of date), else `instance`."""
        model = type(instance)
        if not needs_document(model, update):
            return instance
        stored = await cls.find_one(model, {'_id': instance._id})
        if stored is None:
            raise DatabaseError(f'`{model.__name__}` with id `{instance.id}` does not exist.')
        return stored

    @classmethod
    async def fetch_related(cls, model: type[Model], ids: list[str]) -> dict[str, Model]:
        """Fetcher used when validating input that names related documents by id."""
        return await cls.fetch_by_ids(model, ids)

    @staticmethod
    def copy_into(instance: Model, fresh: Model) -> None:
        """Make `instance` hold the (already validated) field values of `fresh`."""
        instance.__dict__.update(fresh.__dict__)
