"""What a stored field can hold, from the model's annotations: a single value, a list, a sub-document or anything.

The embedded engine uses this to compile filters with MongoDB's semantics for lists (`tags='py'` matches a list
holding 'py') while a field that can never hold a list keeps its plain, index-friendly comparison.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import types
import uuid
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from pathlib import PurePath
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from panther.db._base import StoredModel
from panther.file_handler import File

__all__ = ['ANY', 'SCALAR', 'Shape', 'child', 'may_be_array', 'model_shape', 'shape_of']

# A shape is SCALAR, ANY, ('array', item shape), ('object', {field: shape}) or ('mapping', value shape).
Shape = Any

SCALAR = 'scalar'
ANY = 'any'

_NONE_TYPE = type(None)
_SCALAR_TYPES = (
    str,
    bytes,
    int,
    float,
    bool,
    dt.datetime,
    dt.date,
    dt.time,
    enum.Enum,
    uuid.UUID,
    decimal.Decimal,
    PurePath,
)


def shape_of(annotation: Any, seen: frozenset[type] = frozenset()) -> Shape:
    origin = get_origin(annotation)
    if origin is Annotated:
        return shape_of(get_args(annotation)[0], seen)
    if origin is Literal:
        return SCALAR
    if origin is Union or origin is types.UnionType:
        members = [shape_of(member, seen) for member in get_args(annotation) if member is not _NONE_TYPE]
        if len(members) == 1:
            return members[0]
        return SCALAR if all(member == SCALAR for member in members) else ANY
    if origin is not None:
        args = [arg for arg in get_args(annotation) if arg is not Ellipsis]
        if isinstance(origin, type) and issubclass(origin, Mapping):
            return ('mapping', shape_of(args[1], seen) if len(args) == 2 else ANY)
        if isinstance(origin, type) and issubclass(origin, (Sequence, AbstractSet)) and origin not in (str, bytes):
            items = [shape_of(arg, seen) for arg in args]
            return ('array', items[0] if items and all(item == items[0] for item in items) else ANY)
        return ANY
    if not isinstance(annotation, type):
        return ANY
    # Related documents are stored as their id and files as their path.
    if issubclass(annotation, (StoredModel, File)) or issubclass(annotation, _SCALAR_TYPES):
        return SCALAR
    if issubclass(annotation, BaseModel):
        if annotation in seen:
            return ANY
        inner = seen | {annotation}
        return ('object', {name: shape_of(field.annotation, inner) for name, field in annotation.model_fields.items()})
    if issubclass(annotation, Mapping):
        return ('mapping', ANY)
    if issubclass(annotation, (Sequence, AbstractSet)):
        return ('array', ANY)
    return ANY


_model_shapes: dict[type, Shape] = {}


def model_shape(model: type[BaseModel]) -> Shape:
    """The shape of a stored document of `model` (cached; the id is not part of it)."""
    shape = _model_shapes.get(model)
    if shape is None:
        fields = {name: shape_of(field.annotation) for name, field in model.model_fields.items() if name != 'id'}
        shape = ('object', fields)
        if model.__pydantic_complete__:
            _model_shapes[model] = shape
    return shape


def child(shape: Shape, segment: str) -> Shape:
    """The shape one path segment further down (an index into a list or a field of a sub-document)."""
    if isinstance(shape, tuple):
        kind, inner = shape
        if kind == 'object':
            return inner.get(segment, ANY)
        if kind == 'mapping':
            return inner
        if kind == 'array':
            return inner if segment.isdigit() else ANY
    return ANY


def may_be_array(shape: Shape) -> bool:
    return shape == ANY or (isinstance(shape, tuple) and shape[0] == 'array')
