"""What deleting a document does to the documents referring to it (`OnDelete` rules), on every engine.

Deletes of a model that no other model refers to cost nothing extra. Otherwise the documents to delete are found
first (by id), every protecting reference is checked (including documents a cascade would reach), and only then
are references cleared, cascaded documents deleted and the documents themselves deleted. The engines have no
transactions spanning collections, so a failure part-way can leave part of this done; a reference left pointing
at a deleted document reads as `None` (or leaves its list), and a document missing a required reference is left
out of results, never an error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from panther.db._base import StoredModel
from panther.db._documents import OnDelete, ProtectedError, on_delete_rules
from panther.exceptions import DatabaseError

if TYPE_CHECKING:
    from panther.db.models import Model
    from panther.db.queries.base_queries import BaseQuery

__all__ = ['CHUNK', 'delete_checked', 'model_defined', 'referrers']

# A `$in` list of ids per statement: SQLite limits the parameters of one statement.
CHUNK = 500

Referrer = tuple[type, str, bool, OnDelete]

_generation = 0
_referrers: dict[type, tuple[Referrer, ...]] = {}
_built_for = -1


def model_defined() -> None:
    """Called for each new `Model` subclass: the map of who refers to whom is rebuilt when next needed."""
    global _generation
    _generation += 1


def _models() -> list[type[Model]]:
    found: list[type[Model]] = []
    # Subclasses of `Model` (the one direct subclass of `StoredModel` that stores anything).
    pending: list[Any] = [model for base in StoredModel.__subclasses__() for model in base.__subclasses__()]
    while pending:
        model = pending.pop()
        found.append(model)
        pending.extend(model.__subclasses__())
    return found


def referrers(model: type[Model]) -> tuple[Referrer, ...]:
    """`(referring model, field, holds a list, rule)` of every reference to `model` declared on any model."""
    global _built_for
    if _built_for != _generation:
        mapping: dict[type, list[Referrer]] = {}
        complete = True
        for candidate in _models():
            if not candidate.__pydantic_complete__:
                complete = False
                continue
            try:
                rules = on_delete_rules(candidate)
            except DatabaseError:
                # A class whose declaration was refused (it may linger until garbage-collected).
                continue
            for field, many, target, rule in rules:
                mapping.setdefault(target, []).append((candidate, field, many, rule))
        _referrers.clear()
        _referrers.update({target: tuple(found) for target, found in mapping.items()})
        # Incomplete models (forward references not resolved yet) are looked at again next time.
        _built_for = _generation if complete else -1
    return _referrers.get(model, ())


def _chunks(ids: list[str]) -> list[list[str]]:
    return [ids[start : start + CHUNK] for start in range(0, len(ids), CHUNK)]


async def _ids(engine: type[BaseQuery], model: type[Model], field: str, targets: list[str]) -> list[str]:
    found: list[str] = []
    for chunk in _chunks(targets):
        found.extend(await engine.ids(model, {field: {'$in': chunk}}))
    return found


def _outside(query: dict[str, Any], excluded: set[str] | None) -> dict[str, Any]:
    """`query` limited to documents that are not about to be deleted anyway."""
    if excluded:
        return {**query, '_id': {'$nin': list(excluded)}}
    return query


async def delete_checked(engine: type[BaseQuery], model: type[Model], ids: list[str]) -> None:
    """Apply the `OnDelete` rules of every reference to the documents `ids` of `model`, which the caller deletes
    right after. Raises `ProtectedError` (deleting nothing) when a protecting reference remains."""
    doomed: dict[type, set[str]] = {model: set(ids)}
    pending: list[tuple[type[Model], list[str]]] = [(model, ids)]
    protected: list[tuple[type[Model], str, list[str]]] = []
    cleared: list[tuple[type[Model], str, bool, list[str]]] = []
    while pending:
        target, targets = pending.pop()
        for referrer, field, many, rule in referrers(target):
            if rule is OnDelete.CASCADE:
                known = doomed.setdefault(referrer, set())
                reached = await _ids(engine, referrer, field, targets)
                fresh = [identifier for identifier in reached if identifier not in known]
                if fresh:
                    known.update(fresh)
                    pending.append((referrer, fresh))
            elif rule is OnDelete.PROTECT:
                protected.append((referrer, field, targets))
            else:
                cleared.append((referrer, field, many, targets))
    blocking = []
    for referrer, field, targets in protected:
        for chunk in _chunks(targets):
            if await engine.exists(referrer, _outside({field: {'$in': chunk}}, doomed.get(referrer))):
                blocking.append(f'{referrer.__name__}.{field}')
                break
    if blocking:
        raise ProtectedError(model.__name__, list(dict.fromkeys(blocking)))
    for referrer, field, many, targets in cleared:
        for chunk in _chunks(targets):
            query = _outside({field: {'$in': chunk}}, doomed.get(referrer))
            if many:
                await engine.remove_references(referrer, field, chunk, query)
            else:
                await engine.update_many(referrer, query, {field: None})
    first = set(ids)
    for target, doomed_ids in doomed.items():
        extra = [identifier for identifier in doomed_ids if target is not model or identifier not in first]
        for chunk in _chunks(extra):
            await engine.delete_many(target, {'_id': {'$in': chunk}})
