"""The base class of every stored model and the `ID` type, below the modules that inspect models.

`panther.db.Model` adds the query methods on top of it. The document, shape and deletion modules test for this
class, so they never import `panther.db.models` (which imports them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, PlainSerializer, WrapValidator
from pydantic_core.core_schema import ValidatorFunctionWrapHandler

from panther.configs import config

try:
    from bson import ObjectId
except ImportError:  # pragma: no cover - pymongo is an optional extra

    class ObjectId:  # type: ignore[no-redef]
        """Placeholder so isinstance checks work without pymongo installed."""


__all__ = ['ID', 'ObjectId', 'StoredModel']


def _validate_id(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    if value is None:
        return None
    engine = config.QUERY_ENGINE
    if engine is not None and engine.object_ids:
        if isinstance(value, ObjectId):
            return value
        try:
            return ObjectId(value)
        except Exception:
            raise ValueError('Invalid ObjectId') from None
    return str(value)


def _serialize_id(value: Any) -> str | None:
    return None if value is None else str(value)


ID = Annotated[str, WrapValidator(_validate_id), PlainSerializer(_serialize_id, return_type=str)] | None
"""A document id: a string, validated into `bson.ObjectId` under MongoDB; always serialised as a string."""


class StoredModel(BaseModel):
    """A pydantic model kept in the database (use `panther.db.Model`)."""

    if TYPE_CHECKING:
        # Defined by `Model`; declared here for the modules that only know this base.
        id: Any

        @property
        def _id(self) -> Any: ...

        async def save(self) -> None: ...
