"""Turning model instances into stored documents and stored documents back into instances.

Both engines share this: the write path validates with pydantic and encodes values to what the engine
stores; the read path decodes, resolves foreign keys in one batched query per related model (never one
query, let alone one thread, per document) and validates.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import logging
import os
import types
import uuid
from collections.abc import Awaitable, Callable, Mapping
from pathlib import PurePath
from typing import TYPE_CHECKING, Annotated, Any, Union, cast, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import SchemaError, SchemaValidator

from panther.db._base import ID, ObjectId, StoredModel
from panther.db._shapes import may_be_array, shape_of
from panther.exceptions import DatabaseError
from panther.file_handler import File

if TYPE_CHECKING:
    from panther.db.models import Model

logger = logging.getLogger('panther')

__all__ = [
    'ALREADY_EXISTS',
    'MAX_REFERENCE_DEPTH',
    'DocumentError',
    'ObjectId',
    'OnDelete',
    'Plan',
    'ProtectedError',
    'Unique',
    'collect_references',
    'encode_instance',
    'encode_value',
    'format_validation_error',
    'id_unobserved',
    'keep_as_stored',
    'materialise_documents',
    'needs_document',
    'on_delete_rules',
    'plan_for',
    'prepare_insert',
    'prepare_update',
    'resolve_found',
    'resolve_input_references',
    'save_file',
    'set_id',
    'to_milliseconds',
    'unique_fields',
]


class DocumentError(DatabaseError):
    """A document the database refused, with the reason for each field in `fields`.

    Raised for documents that do not validate and for values a unique field already holds; the message reads
    `Model(field="reason", ...)`.
    """

    def __init__(self, model_name: str, errors: list[tuple[str, str]]) -> None:
        self.fields: dict[str, str] = {}
        for location, message in errors:
            self.fields.setdefault(location, message)
        parts = ', '.join(f'{location}="{message}"' for location, message in errors)
        super().__init__(f'{model_name}({parts})')


class Unique:
    """Field metadata: no two documents of the model may hold the same value in this field.

    `username: Annotated[str, Unique()]`. Enforced by a unique index (SQLite expression index / MongoDB index),
    so concurrent writes cannot both succeed; a write that would repeat a value raises
    `DocumentError('User(username="already exists")')`. Several documents may leave an optional field empty.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return 'Unique()'

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Unique)

    def __hash__(self) -> int:
        return hash(Unique)


class OnDelete(enum.Enum):
    """Field metadata of a reference: what deleting the referenced document does to the documents referring to it.

    `book: Annotated[Book, OnDelete.CASCADE]`. Without it, an optional reference (`Book | None`) becomes `None` and a
    list of references (`list[Book]`) loses the deleted document, while a required reference does not stop the
    delete (as in Panther 5.x): the documents referring to a deleted document through it are left out of query
    results from then on. Enforced by every delete of the query API (`delete_one()`, `delete_many()`,
    `instance.delete()`) on both engines.
    """

    PROTECT = 'protect'
    """Deleting a referenced document raises `ProtectedError` and deletes nothing."""
    CASCADE = 'cascade'
    """The referring documents are deleted too (their own references' rules apply to them in turn)."""
    SET_NULL = 'set_null'
    """The reference becomes `None` (the field must accept `None`); a deleted document leaves a list of references."""


class ProtectedError(DocumentError):
    """Deleting documents that others still refer to through a protecting reference (see `OnDelete`).

    `fields` maps each referring `Model.field` to the reason; nothing was deleted.
    """

    def __init__(self, model_name: str, references: list[str]) -> None:
        super().__init__(model_name, [(reference, 'refers to this document') for reference in references])
        self.args = (
            f'This `{model_name}` is referenced by {", ".join(f"`{name}`" for name in references)}: '
            f'delete or change those documents first.',
        )


ALREADY_EXISTS = 'already exists'

_PRIMITIVES = frozenset({str, int, float, bool, type(None)})
_NONE_TYPE = type(None)
# Related documents are resolved this many levels deep; a reference cycle stops here instead of looping.
MAX_REFERENCE_DEPTH = 8


# ---------------------------------------------------------------------------------------------------------------
# Plans: which fields hold related models or files, computed once per model class.

Node = tuple[Any, ...]


class Plan:
    """Per-model facts the hot paths need: fields holding references or files, and their shape."""

    __slots__ = ('field_names', 'nodes')

    def __init__(self, nodes: dict[str, Node], field_names: tuple[str, ...]) -> None:
        self.nodes = nodes
        self.field_names = field_names


_plans: dict[type, Plan] = {}


def _node(annotation: Any, seen: frozenset[type]) -> Node | None:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _node(get_args(annotation)[0], seen)
    if origin is Union or origin is types.UnionType:
        for member in get_args(annotation):
            if member is not _NONE_TYPE:
                node = _node(member, seen)
                if node is not None:
                    return node
        return None
    if origin in (list, set, frozenset, tuple) or (origin is not None and _is_sequence(origin)):
        args = [a for a in get_args(annotation) if a is not Ellipsis]
        if args:
            inner = _node(args[0], seen)
            if inner is not None:
                return ('list', inner)
        return None
    if origin is dict or (origin is not None and isinstance(origin, type) and issubclass(origin, Mapping)):
        pair = get_args(annotation)
        if len(pair) == 2:
            inner = _node(pair[1], seen)
            if inner is not None:
                return ('dict', inner)
        return None
    if isinstance(annotation, type):
        if issubclass(annotation, StoredModel):
            return ('model', annotation)
        if issubclass(annotation, File):
            return ('file', annotation)
        if issubclass(annotation, BaseModel) and annotation not in seen:
            inner_nodes = {}
            for name, field in annotation.model_fields.items():
                inner = _node(field.annotation, seen | {annotation})
                if inner is not None:
                    inner_nodes[name] = inner
            if inner_nodes:
                return ('object', inner_nodes)
    return None


def _is_sequence(origin: Any) -> bool:
    from collections.abc import Sequence
    from collections.abc import Set as AbstractSet

    return isinstance(origin, type) and issubclass(origin, (Sequence, AbstractSet)) and origin is not str


def _has_info_function(schema: Any) -> bool:
    if isinstance(schema, dict):
        function = schema.get('function')
        if isinstance(function, dict) and function.get('type') == 'with-info':
            return True
        return any(_has_info_function(value) for value in schema.values())
    if isinstance(schema, list):
        return any(_has_info_function(value) for value in schema)
    return False


def id_unobserved(model: type[BaseModel]) -> bool:
    """Whether validating a document without its `id` and setting the id afterwards gives the same instance.

    Readers use this to skip validating the id of every row (it comes from the primary key, already a string).
    It holds unless user code runs during validation and can see the id: model validators, a custom `__init__`
    or `model_post_init`, validators taking `info` (which exposes the other fields), or an `id` field that is
    not the standard `ID` type. Call it on complete models only (it reads the core schema).
    """
    field = model.model_fields.get('id')
    if field is None or not issubclass(model, StoredModel) or cast(Any, field.annotation) is not ID:
        return False
    if field.default is not None or field.default_factory is not None or field.metadata:
        return False
    decorators = model.__pydantic_decorators__
    if decorators.model_validators or decorators.root_validators:
        return False
    targets = [decorator.info.fields for decorator in decorators.field_validators.values()]
    targets += [decorator.info.fields for decorator in decorators.validators.values()]
    if any('id' in fields or '*' in fields for fields in targets):
        return False
    if getattr(model, '__pydantic_custom_init__', True) or getattr(model, '__pydantic_post_init__', True):
        return False
    return not _has_info_function(model.__pydantic_core_schema__)


_unique: dict[type, tuple[str, ...]] = {}


def unique_fields(model: type[BaseModel]) -> tuple[str, ...]:
    """The fields of `model` declared with `Unique()`, checked to hold a single value (or a sub-document)."""
    found = _unique.get(model)
    if found is None:
        names = []
        for name, field in model.model_fields.items():
            if name != 'id' and any(isinstance(item, Unique) for item in field.metadata):
                if may_be_array(shape_of(field.annotation)):
                    raise DatabaseError(
                        f'`{model.__name__}.{name}`: `Unique()` needs a field holding one value, not a list or `Any`.'
                    )
                names.append(name)
        found = tuple(names)
        if model.__pydantic_complete__:
            _unique[model] = found
    return found


_rules: dict[type, tuple[tuple[str, bool, type, OnDelete], ...]] = {}


def _admits_none(annotation: Any) -> bool:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _admits_none(get_args(annotation)[0])
    return (origin is Union or origin is types.UnionType) and _NONE_TYPE in get_args(annotation)


def on_delete_rules(model: type[BaseModel]) -> tuple[tuple[str, bool, type, OnDelete], ...]:
    """`(field, holds a list, referenced model, rule)` of each top-level reference field of `model`, checked.

    References nested in sub-documents or dicts follow no rule: reading them gives `None` (or drops them from a
    list) once their target is gone.
    """
    found = _rules.get(model)
    if found is not None:
        return found
    rules = []
    nodes = plan_for(model).nodes if model.__pydantic_complete__ else {}
    for name, field in model.model_fields.items():
        marks = [item for item in field.metadata if isinstance(item, OnDelete)]
        node = nodes.get(name)
        many = node is not None and node[0] == 'list' and node[1][0] == 'model'
        if node is None or not (node[0] == 'model' or many):
            if marks:
                raise DatabaseError(
                    f'`{model.__name__}.{name}`: `OnDelete` belongs on a reference to another model or a list of them.'
                )
            continue
        target = node[1][1] if many else node[1]
        nullable = _admits_none(field.annotation)
        if not marks and not (many or nullable):
            # A required reference without a rule: deleting its target goes ahead as in Panther 5.x, and the
            # referring documents are left out of results from then on (they cannot be read without it).
            continue
        rule = marks[-1] if marks else OnDelete.SET_NULL
        if rule is OnDelete.SET_NULL and not many and not nullable:
            raise DatabaseError(
                f'`{model.__name__}.{name}`: `OnDelete.SET_NULL` needs a field that accepts None '
                f'(`{target.__name__} | None`).'
            )
        rules.append((name, many, target, rule))
    result = tuple(rules)
    if model.__pydantic_complete__:
        _rules[model] = result
    return result


def plan_for(model: type[BaseModel]) -> Plan:
    plan = _plans.get(model)
    if plan is None:
        nodes = {}
        for name, field in model.model_fields.items():
            if name == 'id':
                continue
            node = _node(field.annotation, frozenset())
            if node is not None:
                nodes[name] = node
        plan = Plan(nodes, tuple(name for name in model.model_fields if name != 'id'))
        _plans[model] = plan
    return plan


# ---------------------------------------------------------------------------------------------------------------
# Encoding (write path and filter values)


def save_file(file: Any) -> str:
    """Write a `File` of a model and return the path to store: inside `config.MEDIA_ROOT` when it is set (under the
    file's sanitised name, made unique, never outside that directory), else in the working directory."""
    from panther.configs import config

    root = config.MEDIA_ROOT
    if root is None or str(root) == '':
        return cast('str', file.save())
    # A trailing separator makes `save()` treat the path as the directory to keep the sanitised name in.
    return cast('str', file.save(os.path.join(os.fspath(root), '')))


def encode_value(value: Any, mongo: bool) -> Any:
    """Convert one Python value to what the engine stores: JSON types for SQLite, BSON types for MongoDB."""
    kind = type(value)
    if kind in _PRIMITIVES:
        return value
    if isinstance(value, BaseModel):
        if isinstance(value, StoredModel):
            if value.id is None:
                raise DatabaseError(
                    f'The related `{type(value).__name__}` has no id; save it before storing a reference to it.'
                )
            return value._id
        if isinstance(value, File):
            return save_file(value)
        return {name: encode_value(getattr(value, name), mongo) for name in type(value).model_fields}
    if isinstance(value, dict):
        return {(k.value if isinstance(k, enum.Enum) else str(k)): encode_value(v, mongo) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [encode_value(item, mongo) for item in value]
    if isinstance(value, enum.Enum):
        return encode_value(value.value, mongo)
    if isinstance(value, dt.datetime):
        return to_milliseconds(value) if mongo else value.isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (uuid.UUID, decimal.Decimal, PurePath)):
        return str(value)
    if isinstance(value, ObjectId):
        return value if mongo else str(value)
    if isinstance(value, int):  # bool/int subclasses such as IntFlag values already handled via Enum
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bytes) and mongo:
        return value
    raise DatabaseError(f'Panther cannot store a value of type `{kind.__name__}`.')


def to_milliseconds(value: dt.datetime) -> dt.datetime:
    """The datetime as MongoDB stores it: BSON dates have millisecond precision (the rest is cut, not rounded)."""
    extra = value.microsecond % 1000
    return value.replace(microsecond=value.microsecond - extra) if extra else value


def _as_stored_value(value: Any, tz_aware: bool) -> Any:
    kind = type(value)
    if kind in _PRIMITIVES:
        return value
    if isinstance(value, dt.datetime):
        return _as_read_back(to_milliseconds(value), tz_aware)
    if isinstance(value, BaseModel):
        if isinstance(value, (StoredModel, File)):
            # Stored as a reference or a path; a related document keeps the values it was stored with itself.
            return value
        changed = {}
        for name, item in value.__dict__.items():
            stored = _as_stored_value(item, tz_aware)
            if stored is not item:
                changed[name] = stored
        # A copy: the sub-document may be shared with the caller's input.
        return value.model_copy(update=changed) if changed else value
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_as_stored_value(item, tz_aware) for item in value]
        if all(stored is item for stored, item in zip(items, value, strict=True)):
            return value
        if isinstance(value, list):
            return items
        if isinstance(value, set):
            return set(items)
        return frozenset(items) if isinstance(value, frozenset) else tuple(items)
    if isinstance(value, dict):
        stored_items = {key: _as_stored_value(item, tz_aware) for key, item in value.items()}
        if all(stored_items[key] is item for key, item in value.items()):
            return value
        return stored_items
    return value


def _as_read_back(value: dt.datetime, tz_aware: bool) -> dt.datetime:
    # MongoDB stores UTC instants: a client reads them back naive (in UTC) unless it is `tz_aware`.
    if tz_aware:
        return value if value.tzinfo is not None else value.replace(tzinfo=dt.timezone.utc)
    if value.tzinfo is None:
        return value
    return value.astimezone(dt.timezone.utc).replace(tzinfo=None)


def keep_as_stored(instance: BaseModel, tz_aware: bool = False) -> None:
    """Give `instance` (validated for a MongoDB write) the datetimes a later read returns (milliseconds; naive in
    UTC, or aware when the client is `tz_aware`), so it equals that read."""
    fields = instance.__dict__
    for name, value in fields.items():
        if type(value) not in _PRIMITIVES:
            stored = _as_stored_value(value, tz_aware)
            if stored is not value:
                fields[name] = stored


def set_id(instance: BaseModel, identifier: Any) -> None:
    """Give a validated instance the id the database chose; works for frozen models too (the id is not a change
    of the document, and it is already of the `ID` type's stored form)."""
    instance.__dict__['id'] = identifier
    instance.__pydantic_fields_set__.add('id')


def encode_instance(instance: BaseModel, mongo: bool) -> dict[str, Any]:
    """The stored document of a validated instance (without its id)."""
    document = {}
    for name, value in instance.__dict__.items():
        if name != 'id':
            document[name] = value if type(value) in _PRIMITIVES else encode_value(value, mongo)
    return document


# ---------------------------------------------------------------------------------------------------------------
# Validation


def _errors(error: ValidationError, prefix: tuple[Any, ...] = ()) -> list[tuple[str, str]]:
    """`(location, message)` of each error; the location is dotted (`address.city`)."""
    return [
        ('.'.join(str(part) for part in (*prefix, *item['loc'])), item['msg'])
        for item in error.errors(include_url=False)
    ]


def format_validation_error(model_name: str, error: ValidationError) -> str:
    return str(DocumentError(model_name, _errors(error)))


Fetcher = Callable[[type, list[str]], Awaitable[dict[str, Any]]]


async def resolve_input_references(model: type[BaseModel], data: dict[str, Any], fetch: Fetcher) -> dict[str, Any]:
    """Replace related-model ids given as strings with the related instances (one query per related model).

    Unknown ids are left as they are, so validation rejects them (also for optional fields: naming a document
    that does not exist is an error, not a silent `None`). `data` is not modified.
    """
    plan = plan_for(model)
    if not plan.nodes:
        return data
    copied = None
    references: list[tuple[Any, Any, type, str]] = []
    for name, node in plan.nodes.items():
        if name in data and _has_reference(node, data[name]):
            if copied is None:
                copied = dict(data)
            copied[name] = _copy_containers(data[name])
            collect_references(node, copied, name, references, files=False)
    if copied is None:
        return data
    await _apply(references, fetch)
    return copied


def _has_reference(node: Node, value: Any) -> bool:
    kind = node[0]
    if kind == 'model':
        return isinstance(value, (str, ObjectId))
    if kind == 'list':
        return isinstance(value, list) and any(_has_reference(node[1], item) for item in value)
    if kind == 'dict':
        return isinstance(value, dict) and any(_has_reference(node[1], item) for item in value.values())
    if kind == 'object':
        return isinstance(value, dict) and any(
            name in value and _has_reference(inner, value[name]) for name, inner in node[1].items()
        )
    return False


def _copy_containers(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _copy_containers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy_containers(item) for item in value]
    return value


def collect_references(
    node: Node, container: Any, key: Any, references: list[tuple[Any, Any, type, str]], *, files: bool = True
) -> None:
    """Walk a stored value by its plan node; queue related-model ids and turn stored file paths into `File`s."""
    value = container[key]
    if value is None:
        return
    kind = node[0]
    if kind == 'model':
        if isinstance(value, (str, ObjectId)):
            references.append((container, key, node[1], str(value)))
    elif kind == 'file':
        if files and isinstance(value, str):
            from panther._internal.files import detect_mime_type

            stored = node[1](file_name=value, content_type=detect_mime_type(value))
            # Already saved: storing the document again keeps this path instead of writing a copy.
            stored._saved_path = value
            container[key] = stored
    elif kind == 'list':
        if isinstance(value, list):
            for index in range(len(value)):
                collect_references(node[1], value, index, references, files=files)
    elif kind == 'dict':
        if isinstance(value, dict):
            for inner_key in list(value):
                collect_references(node[1], value, inner_key, references, files=files)
    elif kind == 'object' and isinstance(value, dict):
        for name, inner in node[1].items():
            if name in value:
                collect_references(inner, value, name, references, files=files)


async def _apply(references: list[tuple[Any, Any, type, str]], fetch: Fetcher) -> None:
    wanted: dict[type, list[str]] = {}
    for _, _, related, identifier in references:
        wanted.setdefault(related, []).append(identifier)
    found = {related: await fetch(related, list(dict.fromkeys(ids))) for related, ids in wanted.items()}
    for container, key, related, identifier in references:
        instance = found[related].get(identifier)
        if instance is not None:
            container[key] = instance


async def _save_pending(value: Any) -> None:
    """Insert unsaved related models and write files before the referencing document is stored."""
    if isinstance(value, BaseModel):
        if isinstance(value, StoredModel):
            if value.id is None:
                await value.save()
            return
        if isinstance(value, File):
            from panther._internal.concurrency import to_thread

            await to_thread(save_file, value)
            return
        for name in type(value).model_fields:
            await _save_pending(getattr(value, name))
    elif isinstance(value, dict):
        for item in value.values():
            await _save_pending(item)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            await _save_pending(item)


async def prepare_insert(model: type[Model], document: Any, fetch: Fetcher) -> Model:
    """Validate a document for insertion; returns the instance (without id) ready to be encoded."""
    if isinstance(document, BaseModel):
        data = {key: value for key, value in document.__dict__.items() if key not in ('id', '_id')}
    elif isinstance(document, Mapping):
        data = {key: value for key, value in document.items() if key not in ('id', '_id')}
    else:
        raise DatabaseError(f'A document must be a dict or a `{model.__name__}`, not `{type(document).__name__}`.')
    plan = plan_for(model)
    if plan.nodes:
        data = await resolve_input_references(model, data, fetch)
    try:
        instance = model.model_validate(data)
    except ValidationError as error:
        raise DocumentError(model.__name__, _errors(error)) from None
    if plan.nodes:
        for name in plan.nodes:
            await _save_pending(instance.__dict__.get(name))
    return instance


# Model → {field name: validator of that field alone, or None where the field needs `validate_assignment`}.
_field_checks: dict[type, dict[str, Any]] = {}


def _model_fields_schema(model: type[BaseModel]) -> tuple[dict[str, Any], list[Any], Any] | None:
    """The `model-fields` core schema of `model`, the definitions it may refer to, and the model's core config."""
    schema: Any = model.__pydantic_core_schema__
    definitions: list[Any] = []
    if schema.get('type') == 'definitions':
        definitions = schema.get('definitions', [])
        schema = schema.get('schema', {})
    if schema.get('type') == 'definition-ref':
        schema = next((item for item in definitions if item.get('ref') == schema.get('schema_ref')), {})
    if schema.get('type') != 'model' or schema.get('cls') is not model:
        return None
    inner = schema.get('schema', {})
    if inner.get('type') != 'model-fields':
        return None
    return inner, definitions, schema.get('config')


def _field_checks_for(model: type[BaseModel]) -> dict[str, Any]:
    """Per-field validators equivalent to `validate_assignment` of one field, built once per model.

    `validate_assignment` also runs model validators, checks frozen fields and hands validators taking `info`
    the holder's other fields; fields where any of that could matter keep using it (their entry is `None`).
    """
    checks: dict[str, Any] = dict.fromkeys(model.model_fields)
    decorators = model.__pydantic_decorators__
    found = None if decorators.model_validators or decorators.root_validators else _model_fields_schema(model)
    if found is not None and not model.model_config.get('frozen'):
        fields_schema, definitions, core_config = found
        for name, entry in fields_schema.get('fields', {}).items():
            if name not in checks or entry.get('frozen') or _has_info_function(entry):
                continue
            schema = entry['schema']
            if definitions:
                schema = {'type': 'definitions', 'schema': schema, 'definitions': definitions}
            try:
                checks[name] = SchemaValidator(schema, core_config)
            except SchemaError:
                # An unusual schema only means the general path for this field.
                checks[name] = None
    _field_checks[model] = checks
    return checks


def _checks(model: type[Model]) -> dict[str, Any]:
    checks = _field_checks.get(model)
    if checks is None:
        checks = _field_checks_for(model) if model.__pydantic_complete__ else dict.fromkeys(model.model_fields)
    return checks


def _set_keys(update: Mapping[str, Any]) -> list[str]:
    keys: list[str] = []
    for key, value in update.items():
        if key == '$set' and isinstance(value, Mapping):
            keys.extend(value)
        elif not key.startswith('$'):
            keys.append(key)
    return keys


def needs_document(model: type[Model], update: Mapping[str, Any]) -> bool:
    """Whether validating `update` runs code that sees the document's other fields (validators taking `info`,
    model validators), so each document must be validated with its own current values."""
    checks = _checks(model)
    return any(key in checks and checks[key] is None for key in _set_keys(update))


async def prepare_update(
    model: type[Model], update: Mapping[str, Any], fetch: Fetcher, mongo: bool, current: Model | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Validate the fields an update sets; returns `(encoded values to set, other operators)`.

    Only the fields given are validated (it is a partial update: required fields left out are not missing), each
    one completely: a sub-document lacking a required field is an error like any other. Keys starting with `$`
    other than `$set` are passed through with their values encoded.

    Fields whose validation runs code that can see the other fields (see `needs_document`) are validated as an
    assignment to a copy of `current`, the document being updated, so that code sees its current values.
    """
    values: dict[str, Any] = {}
    operators: dict[str, Any] = {}
    for key, value in update.items():
        if key in ('id', '_id'):
            continue
        if key == '$set':
            if not isinstance(value, Mapping):
                raise DatabaseError('`$set` needs a dict.')
            values.update({k: v for k, v in value.items() if k not in ('id', '_id')})
        elif key.startswith('$'):
            operators[key] = encode_value(value, mongo)
        else:
            values[key] = value
    if not values:
        return {}, operators
    plan = plan_for(model)
    if plan.nodes:
        values = await resolve_input_references(model, values, fetch)
    checks = _checks(model)
    errors: list[tuple[str, str]] = []
    validated: dict[str, Any] = {}
    holder = None
    for key, value in values.items():
        if key not in checks:
            # Dotted paths into sub-documents and keys the model does not declare are stored as given.
            validated[key] = value
            continue
        check = checks[key]
        try:
            if check is None:
                if holder is None:
                    # Never shared between updates: validators would see another document's values.
                    holder = current.model_copy() if current is not None else model.model_construct()
                model.__pydantic_validator__.validate_assignment(holder, key, value)
                validated[key] = holder.__dict__[key]
            else:
                validated[key] = check.validate_python(value)
        except ValidationError as error:
            # Errors of a lone field are located relative to it; `validate_assignment` puts the field first,
            # except for model validators' errors, which are about the assignment of this field all the same.
            # No error can be ignored here: the field would be left out of the update without a word.
            found = _errors(error, () if check is None else (key,))
            errors.extend((location or key, message) for location, message in found)
    if errors:
        raise DocumentError(model.__name__, errors)
    if plan.nodes:
        for name in plan.nodes:
            if name in validated:
                await _save_pending(validated[name])
    return {key: encode_value(value, mongo) for key, value in validated.items()}, operators


def resolve_found(
    references: list[tuple[Any, Any, type, str]], owners: list[int], found: dict[type, dict[str, Any]]
) -> set[int]:
    """Put the related instances in place of their ids; returns the positions (from `owners`, one per reference) of
    the documents referring to a document that does not exist (any more). Such a reference reads as `None`, or is
    left out of its list."""
    dangling: set[int] = set()
    lists: dict[int, tuple[list[Any], set[int]]] = {}
    for (container, key, related, identifier), owner in zip(references, owners, strict=True):
        instance = found[related].get(identifier)
        if instance is None:
            dangling.add(owner)
            if isinstance(container, list):
                lists.setdefault(id(container), (container, set()))[1].add(key)
                continue
        container[key] = instance
    for container, gone in lists.values():
        container[:] = [item for index, item in enumerate(container) if index not in gone]
    return dangling


def materialise_documents(
    model: type[Model], documents: list[dict[str, Any]], dangling: set[int] | None = None, quiet: bool = False
) -> list[Model]:
    """Validate decoded documents (references already resolved) into instances.

    A document at a position in `dangling` (it refers to a document that is gone) that no longer validates, because a
    required reference is missing, is left out of the result with a warning (unless `quiet`: references cut at the
    depth limit) instead of failing the whole read.
    """
    validate = model.model_validate
    if not dangling:
        try:
            return [validate(document) for document in documents]
        except ValidationError as error:
            raise _unreadable(model, error) from None
    instances = []
    for position, document in enumerate(documents):
        try:
            instances.append(validate(document))
        except ValidationError as error:
            if position not in dangling:
                raise _unreadable(model, error) from None
            if not quiet:
                logger.warning(
                    f'`{model.__name__}` {document.get("id")} is left out of the result: it refers to a deleted '
                    f'document ({format_validation_error(model.__name__, error)}). Delete it, or give the reference '
                    f'field `| None` or an `OnDelete` rule.'
                )
    return instances


def _unreadable(model: type[Model], error: ValidationError) -> DatabaseError:
    reason = format_validation_error(model.__name__, error)
    return DatabaseError(f'A stored `{model.__name__}` document does not match the model: {reason}')
