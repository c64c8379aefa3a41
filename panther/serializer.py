"""`ModelSerializer`: a pydantic model generated from a `Model` (or any pydantic model) and a `Config`.

The generated fields are copies of the model's `FieldInfo`s, so `required_fields` / `optional_fields` never
change the model itself. Fields typed with a `Model` accept the related document's id: `prepare_input()`
(awaited by the request pipeline before validation) replaces ids with the documents, one query per related
model.
"""

from __future__ import annotations

import copy
import datetime as dt
import types
from typing import Any, ClassVar, Union, get_args, get_origin

from pydantic import BaseModel, create_model
from pydantic._internal._model_construction import ModelMetaclass
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from panther.configs import config

__all__ = ['ModelSerializer']

_KNOWN_CONFIG = frozenset({'model', 'fields', 'exclude', 'required_fields', 'optional_fields'})


def _copy_field(info: FieldInfo, default: Any = PydanticUndefined) -> FieldInfo:
    clone = copy.copy(info)
    # Shallow-copied containers would still be shared with the model's FieldInfo.
    clone._attributes_set = dict(info._attributes_set)
    clone.metadata = list(info.metadata)
    clone.default = default
    clone.default_factory = None
    clone._attributes_set.pop('default_factory', None)
    if default is PydanticUndefined:
        clone._attributes_set.pop('default', None)
    else:
        clone._attributes_set['default'] = default
    return clone


def _optional_default(annotation: Any) -> Any:
    origin = get_origin(annotation)
    if (origin is Union or origin is types.UnionType) and type(None) in get_args(annotation):
        return None
    if annotation is dt.datetime:
        from panther.utils import timezone_now

        return timezone_now()
    try:
        return annotation()
    except Exception:
        return None


def _as_list(value: Any, name: str, attribute: str) -> Any:
    if value == '*':
        return '*'
    if not isinstance(value, (list, tuple)):
        raise AttributeError(f'`{name}.Config.{attribute}` should be a list or "*".')
    return list(value)


def _check_config(name: str, module: str, namespace: dict[str, Any]) -> tuple[Any, ...]:
    config_class = namespace.get('Config')
    if config_class is None:
        raise AttributeError(f'`class Config` is required in {module}.{name}.')
    model = getattr(config_class, 'model', None)
    if model is None:
        raise AttributeError(f'`{name}.Config.model` is required.')
    if not isinstance(model, type) or not issubclass(model, BaseModel) or model is ModelSerializer:
        raise AttributeError(f'`{name}.Config.model` is not subclass of `panther.db.Model` or `pydantic.BaseModel`.')
    fields = getattr(config_class, 'fields', None)
    if fields is None:
        raise AttributeError(f'`{name}.Config.fields` is required.')
    model_fields = model.model_fields
    if fields != '*':
        fields = _as_list(fields, name, 'fields')
        for field in fields:
            if field == '*':
                raise AttributeError(f"`{name}.Config.fields.*` is not valid. Did you mean `fields = '*'`")
            if field not in model_fields:
                raise AttributeError(f'`{name}.Config.fields.{field}` is not in `{model.__name__}.model_fields`')
    required = _as_list(getattr(config_class, 'required_fields', []) or [], name, 'required_fields')
    optional = _as_list(getattr(config_class, 'optional_fields', []) or [], name, 'optional_fields')
    for attribute, chosen in (('required_fields', required), ('optional_fields', optional)):
        if chosen == '*':
            continue
        for field in chosen:
            if field not in model_fields:
                raise AttributeError(f'`{name}.Config.{attribute}.{field}` is not valid.')
            if fields != '*' and field not in fields:
                raise AttributeError(f'`{name}.Config.{attribute}.{field}` is not defined in `Config.fields`.')
    if (required == '*' and optional) or (optional == '*' and required):
        raise AttributeError(
            f'`{name}.Config.optional_fields` and `{name}.Config.required_fields` '
            f"can't include same fields at the same time"
        )
    if required != '*' and optional != '*':
        for field in required:
            if field in optional:
                raise AttributeError(
                    f"`{field}` can't be in `{name}.Config.optional_fields` and "
                    f'`{name}.Config.required_fields` at the same time'
                )
    exclude = getattr(config_class, 'exclude', []) or []
    if not isinstance(exclude, (list, tuple)):
        raise AttributeError(f'`{name}.Config.exclude` should be a list.')
    for field in exclude:
        if field not in model_fields:
            raise AttributeError(f'`{name}.Config.exclude.{field}` is not valid.')
        if fields != '*' and field not in fields:
            raise AttributeError(f'`{name}.Config.exclude.{field}` is not defined in `Config.fields`.')
    return config_class, model, fields, list(exclude), required, optional


class _SerializerMetaclass(ModelMetaclass):
    def __new__(
        mcs,
        name: str,
        bases: tuple[type, ...],
        namespace: dict[str, Any],
        **kwargs: Any,
    ) -> type:
        if namespace.get('__module__') == __name__ and name == 'ModelSerializer':
            return super().__new__(mcs, name, bases, namespace, **kwargs)
        if 'Config' not in namespace and any(getattr(base, 'model', None) is not None for base in bases):
            # Subclass of a finished serializer: an ordinary pydantic subclass.
            return super().__new__(mcs, name, bases, namespace, **kwargs)
        config_class, model, fields, exclude, required, optional = _check_config(
            name, namespace.get('__module__', ''), namespace
        )
        namespace = dict(namespace)
        del namespace['Config']
        model_fields = model.model_fields
        names = [field for field in (list(model_fields) if fields == '*' else fields) if field not in exclude]
        required_names = set(names) if required == '*' else set(required)
        optional_names = set(names) if optional == '*' else set(optional)
        definitions: dict[str, Any] = {}
        for field in names:
            info = model_fields[field]
            if field in required_names:
                clone = _copy_field(info)
            elif field in optional_names:
                clone = _copy_field(info, _optional_default(info.annotation))
            else:
                clone = _copy_field(info, info.default)
                if info.default_factory is not None:
                    clone.default_factory = info.default_factory
                    clone._attributes_set['default_factory'] = info.default_factory
            definitions[field] = (info.annotation, clone)

        extras = {
            key: value
            for key, value in vars(config_class).items()
            if not key.startswith('__') and key not in _KNOWN_CONFIG
        }
        model_config = {**extras, **dict(namespace.get('model_config') or {}), 'arbitrary_types_allowed': True}
        namespace['model_config'] = model_config
        generated = create_model(
            f'{name}Fields',
            __config__=None,
            __module__=namespace.get('__module__', __name__),
            **definitions,
        )
        new_bases = (generated, *bases)
        cls = super().__new__(mcs, name, new_bases, namespace, **kwargs)
        type.__setattr__(cls, 'model', model)
        return cls


class ModelSerializer(BaseModel, metaclass=_SerializerMetaclass):
    """Base of generated serializers; declare `class Config` with `model` and `fields` (see the docs)."""

    model: ClassVar[type[BaseModel] | None] = None

    async def to_response(self, instance: Any, data: Any) -> Any:
        """Shape the response data of an endpoint using this serializer as `output_model`."""
        return data

    @classmethod
    async def prepare_input(cls, data: Any) -> Any:
        """Replace related-document ids with the documents, before validation (one query per related model)."""
        engine = config.QUERY_ENGINE
        if engine is None or not isinstance(data, dict):
            return data
        from panther.db._documents import resolve_input_references

        return await resolve_input_references(cls, data, engine.fetch_related)
