"""Forms generated from a model's pydantic fields: what to render for each field, and how a submitted form
becomes a validated document (with the errors of each field when it does not)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import hashlib
import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import orjson
import pytz
from pydantic import BaseModel, ValidationError

from panther.configs import config
from panther.exceptions import APIError
from panther.file_handler import File, Image

__all__ = [
    'FieldSpec',
    'FormResult',
    'choice_of',
    'fingerprint',
    'form_specs',
    'form_values',
    'input_value',
    'leaves',
    'parse_form',
    'to_local',
]

TEXTAREA_LENGTH = 255
_LONG_TEXT_NAMES = frozenset({'body', 'content', 'description', 'text', 'bio', 'notes', 'summary'})


@dataclasses.dataclass
class FieldSpec:
    """One input of a generated form. `name` is dotted inside nested models (`address.city`)."""

    name: str
    label: str
    kind: str  # str text int float bool date datetime time enum reference references file password json nested
    optional: bool = False
    required: bool = False
    readonly: bool = False
    choices: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    target: Any = None  # the referenced model (reference / references) or the file class (file)
    children: list[FieldSpec] = dataclasses.field(default_factory=list)
    annotation: Any = None

    @property
    def image(self) -> bool:
        return isinstance(self.target, type) and issubclass(self.target, Image)

    @property
    def leaf_name(self) -> str:
        return self.name.rsplit('.', 1)[-1]


def _strip_annotated(annotation: Any) -> Any:
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    annotation = _strip_annotated(annotation)
    if get_origin(annotation) in (Union, types.UnionType):
        args = get_args(annotation)
        rest = [_strip_annotated(arg) for arg in args if arg is not type(None)]
        optional = len(rest) < len(args)
        if len(rest) == 1:
            return rest[0], optional
        return annotation, optional
    return annotation, False


def _is_model(value: Any) -> bool:
    from panther.db import Model

    return isinstance(value, type) and issubclass(value, Model)


def _max_length(field: Any) -> int | None:
    for item in getattr(field, 'metadata', ()):
        length = getattr(item, 'max_length', None)
        if isinstance(length, int):
            return length
    return None


def _kind(name: str, annotation: Any, field: Any, optional: bool) -> tuple[str, dict[str, Any]]:
    origin = get_origin(annotation)
    if annotation is bool:
        return 'bool', {}
    if annotation is str:
        length = _max_length(field)
        long = name in _LONG_TEXT_NAMES or (length is not None and length > TEXTAREA_LENGTH)
        return ('text' if long else 'str'), {}
    if annotation is int:
        return 'int', {}
    if annotation in (float, decimal.Decimal):
        return 'float', {}
    if annotation is dt.datetime:
        return 'datetime', {}
    if annotation is dt.date:
        return 'date', {}
    if annotation is dt.time:
        return 'time', {}
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return 'enum', {'choices': [(str(member.value), member.name) for member in annotation]}
    if origin is Literal:
        return 'enum', {'choices': [(str(value), str(value)) for value in get_args(annotation)]}
    if _is_model(annotation):
        return 'reference', {'target': annotation}
    if isinstance(annotation, type) and issubclass(annotation, File):
        return 'file', {'target': annotation}
    if origin in (list, tuple, set, frozenset):
        args = get_args(annotation)
        if len(args) == 1 and _is_model(_strip_annotated(args[0])):
            return 'references', {'target': _strip_annotated(args[0])}
    if isinstance(annotation, type) and issubclass(annotation, BaseModel) and not optional:
        return 'nested', {'target': annotation}
    return 'json', {}


def form_specs(model: type[BaseModel], readonly: tuple[str, ...] = (), prefix: str = '') -> list[FieldSpec]:
    """The inputs of `model`'s form, in field order (`id` is never an input)."""
    from panther.db.models import BaseUser

    specs = []
    is_user = isinstance(model, type) and issubclass(model, BaseUser)
    for name, field in model.model_fields.items():
        if name == 'id' and not prefix:
            continue
        annotation, optional = _unwrap_optional(field.annotation)
        extra: dict[str, Any]
        if is_user and name == 'password' and not prefix:
            kind, extra = 'password', {}
        else:
            kind, extra = _kind(name, annotation, field, optional)
        spec = FieldSpec(
            name=f'{prefix}{name}',
            label=field.title or name.replace('_', ' ').capitalize(),
            kind=kind,
            optional=optional,
            required=field.is_required(),
            readonly=not prefix and name in readonly,
            annotation=field.annotation,
            **extra,
        )
        if kind == 'nested':
            spec.children = form_specs(annotation, prefix=f'{spec.name}.')
        specs.append(spec)
    return specs


def leaves(specs: list[FieldSpec]) -> list[FieldSpec]:
    found = []
    for spec in specs:
        if spec.kind == 'nested':
            found.extend(leaves(spec.children))
        else:
            found.append(spec)
    return found


# --- showing values --------------------------------------------------------------------------------------------


def _zone() -> Any:
    return pytz.timezone(config.TIMEZONE or 'UTC')


def to_local(value: dt.datetime) -> dt.datetime:
    """Datetimes are shown (and typed) in `config.TIMEZONE`. MongoDB reads them back naive, in UTC."""
    if value.tzinfo is None and getattr(config.QUERY_ENGINE, 'object_ids', False):
        value = value.replace(tzinfo=dt.timezone.utc)
    if value.tzinfo is not None:
        return value.astimezone(_zone()).replace(tzinfo=None)
    return value


def json_default(value: Any) -> Any:
    if isinstance(value, BaseModel):
        from panther.db import Model

        if isinstance(value, Model):
            return str(value.id)
        if isinstance(value, File):
            return value.file_name
        return value.model_dump(mode='json')
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, enum.Enum):
        return value.value
    return str(value)


def input_value(spec: FieldSpec, value: Any) -> Any:
    """The value an input shows for a stored value (None when there is nothing to show)."""
    if value is None:
        return None
    kind = spec.kind
    if kind == 'datetime' and isinstance(value, dt.datetime):
        return to_local(value).isoformat(timespec='seconds')
    if kind in ('date', 'time') and isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if kind == 'enum':
        return str(value.value if isinstance(value, enum.Enum) else value)
    if kind == 'reference':
        return str(getattr(value, 'id', value))
    if kind == 'references':
        return [str(getattr(item, 'id', item)) for item in value]
    if kind == 'json':
        return orjson.dumps(value, default=json_default, option=orjson.OPT_INDENT_2).decode()
    if kind == 'file':
        return value
    if kind == 'password':
        return None
    return value


def form_values(specs: list[FieldSpec], document: Any) -> dict[str, Any]:
    """`{dotted name: input value}` for every leaf input, read from a document (or a dict of raw inputs)."""
    values: dict[str, Any] = {}
    for spec in leaves(specs):
        current = document
        for part in spec.name.split('.'):
            current = current.get(part) if isinstance(current, dict) else getattr(current, part, None)
        values[spec.name] = input_value(spec, current)
    return values


def _as_stored(value: Any) -> Any:
    """`value` as the document stores it: related documents by id (a change to them is not a change to this one)
    and files by their path."""
    from panther.db import Model

    if isinstance(value, Model):
        return ['ref', str(value.id)]
    if isinstance(value, File):
        return ['file', value.file_name]
    if isinstance(value, BaseModel):
        return {name: _as_stored(getattr(value, name, None)) for name in type(value).model_fields}
    if isinstance(value, dict):
        return {str(key): _as_stored(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_as_stored(item) for item in value]
    return value


def fingerprint(document: Any) -> str:
    """A digest of a stored document's values; a save whose form carried another one is refused (stale form)."""
    fields = {name: _as_stored(getattr(document, name, None)) for name in type(document).model_fields}
    encoded = orjson.dumps(fields, default=json_default, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(encoded).hexdigest()[:32]


# --- reading a submitted form ----------------------------------------------------------------------------------


@dataclasses.dataclass
class FormResult:
    document: Any = None  # the validated model instance (None when there are errors)
    values: dict[str, Any] = dataclasses.field(default_factory=dict)  # raw inputs, to show the form again
    errors: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    password: str | None = None  # a new password for `set_password()` (BaseUser models)


def _set_path(data: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split('.')
    for part in parts[:-1]:
        data = data.setdefault(part, {})
    data[parts[-1]] = value


def _get_path(data: Any, dotted: str) -> Any:
    for part in dotted.split('.'):
        data = data.get(part) if isinstance(data, dict) else getattr(data, part, None)
    return data


def _upload(value: Any) -> File | None:
    if isinstance(value, File) and value.file_name and value.size > 0:
        return value
    return None


async def _lookup(target: Any, raw: str) -> Any:
    # A malformed id (not an ObjectId under MongoDB) finds nothing rather than failing the request.
    try:
        return await target.find_one(id=raw)
    except Exception:
        return None


def localize(value: str) -> Any:
    """A naive `datetime-local` input is a time in `config.TIMEZONE`."""
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return value  # pydantic reports it next to the field
    if parsed.tzinfo is None:
        return _zone().localize(parsed)
    return parsed


async def _read_field(spec: FieldSpec, form: dict[str, Any], existing: Any, result: FormResult) -> Any:
    """The value to validate for one leaf input, or `_KEEP` to leave the stored / default value."""
    name = spec.name
    raw = form.get(name)
    kind = spec.kind
    if kind == 'bool':
        result.values[name] = raw is not None and str(raw).lower() in ('on', 'true', '1', 'yes')
        return result.values[name]
    if kind == 'file':
        upload = _upload(raw)
        if upload is not None:
            try:
                return spec.target.model_validate(upload)
            except (APIError, ValidationError, ValueError) as exc:
                detail = getattr(exc, 'detail', None) or str(exc)
                result.errors.setdefault(name, []).append(str(detail))
                return _KEEP
        if form.get(f'{name}__clear') and spec.optional:
            return None
        return _KEEP
    if kind == 'references':
        prefix = f'{name}['
        ids = [key[len(prefix) : -1] for key in form if key.startswith(prefix) and key.endswith(']')]
        result.values[name] = ids
        documents = []
        for document_id in ids:
            found = await _lookup(spec.target, document_id)
            if found is None:
                result.errors.setdefault(name, []).append(f'No {spec.target.__name__} with id {document_id}')
            else:
                documents.append(found)
        return documents
    text = '' if raw is None or isinstance(raw, File) else str(raw)
    result.values[name] = text
    if kind == 'password':
        if text:
            result.password = text
        return _KEEP
    if text == '' and kind not in ('str', 'text'):
        if spec.optional:
            return None
        if existing is None and not spec.required:
            return _KEEP  # the field's default
        result.errors.setdefault(name, []).append('This field is required')
        return _KEEP
    if text == '' and spec.optional and kind in ('str', 'text'):
        return None
    if kind == 'reference':
        found = await _lookup(spec.target, text)
        if found is None:
            result.errors.setdefault(name, []).append(f'No {spec.target.__name__} with id {text}')
            return _KEEP
        return found
    if kind == 'json':
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            result.errors.setdefault(name, []).append(f'Invalid JSON: {exc}')
            return _KEEP
    if kind == 'int' and text.lstrip('+-').isdigit() and not -(2**63) <= int(text) < 2**63:
        result.errors.setdefault(name, []).append('The number is too large to store')
        return _KEEP
    if kind == 'enum':
        return choice_of(spec, text)
    if kind == 'datetime':
        if existing is not None and text == input_value(spec, _get_path(existing, name)):
            return _KEEP  # unchanged: the stored value stays exactly as it was (naive or aware)
        return localize(text)
    return text


_KEEP = object()


def choice_of(spec: FieldSpec, text: str) -> Any:
    """The enum member / `Literal` value a select's text stands for (an `int` choice is not the string `'1'`)."""
    annotation, _ = _unwrap_optional(spec.annotation)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        options: tuple[Any, ...] = tuple(annotation)
        return next((member for member in options if str(member.value) == text), text)
    return next((value for value in get_args(annotation) if str(value) == text), text)


def _error_key(loc: tuple[Any, ...], names: set[str]) -> tuple[str, str]:
    """The input an error belongs to (the longest matching prefix of its location) and the rest of the path."""
    parts = [str(part) for part in loc]
    for end in range(len(parts), 0, -1):
        key = '.'.join(parts[:end])
        if key in names:
            return key, '.'.join(parts[end:])
    return (parts[0] if parts else '__all__'), '.'.join(parts[1:])


def _dump_for_validation(document: Any, model: type[BaseModel]) -> dict[str, Any]:
    # Field values as they are (referenced documents, files), so validating them again changes nothing.
    return {name: getattr(document, name) for name in model.model_fields if name != 'id'}


async def parse_form(
    model: type[BaseModel], specs: list[FieldSpec], form: dict[str, Any], existing: Any = None
) -> FormResult:
    """Validate a submitted form against `model`; `existing` (the stored document) supplies what the form leaves
    out (read-only fields, an unchanged file, an empty password)."""
    result = FormResult()
    data: dict[str, Any] = _dump_for_validation(existing, model) if existing is not None else {}
    for spec in leaves(specs):
        if spec.readonly:
            continue
        value = await _read_field(spec, form, existing, result)
        if value is _KEEP:
            continue
        if '.' in spec.name:
            top = spec.name.split('.', 1)[0]
            if isinstance(data.get(top), BaseModel):
                data[top] = data[top].model_dump()
        _set_path(data, spec.name, value)
    reported = set(result.errors)  # inputs already refused while reading: pydantic would only repeat it
    try:
        document = model.model_validate(data)
    except ValidationError as error:
        names = {spec.name for spec in leaves(specs)}
        for item in error.errors(include_url=False):
            key, rest = _error_key(tuple(item['loc']), names)
            if key in reported:
                continue
            message = f'{rest}: {item["msg"]}' if rest else item['msg']
            result.errors.setdefault(key, []).append(message)
        return result
    except APIError as exc:
        result.errors.setdefault('__all__', []).append(str(exc.detail))
        return result
    if not result.errors:
        result.document = document
    return result
