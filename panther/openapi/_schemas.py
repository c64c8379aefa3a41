"""JSON schemas of pydantic models and annotations for `components.schemas`, generated in one pass.

Operations register what they need and get a dict back; after every operation is registered, `resolve()` fills
those dicts with `$ref`s (models) or inline schemas (other annotations). pydantic names each model once, gives
models of equal names from different modules distinct names, and handles recursive models.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import CoreSchema

from panther.file_handler import File

logger = logging.getLogger('panther')

REF_TEMPLATE = '#/components/schemas/{model}'
Mode = Literal['validation', 'serialization']


class _DocumentSchema(GenerateJsonSchema):
    """pydantic's generator with uploaded files shown as binary strings (what a client sends and gets)."""

    def model_schema(self, schema: Any) -> JsonSchemaValue:
        cls = schema.get('cls')
        if isinstance(cls, type) and issubclass(cls, File):
            return {'type': 'string', 'format': 'binary', 'contentMediaType': 'application/octet-stream'}
        return super().model_schema(schema)


def _core_schema(annotation: Any) -> CoreSchema:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation.__pydantic_core_schema__
    return TypeAdapter(annotation).core_schema


def _label(annotation: Any) -> str:
    return getattr(annotation, '__qualname__', None) or repr(annotation)


class SchemaRegistry:
    def __init__(self) -> None:
        self._requests: list[tuple[Any, Mode, dict[str, Any], str]] = []

    def schema_for(self, annotation: Any, mode: Mode, where: str) -> dict[str, Any]:
        """A dict that `resolve()` fills with the schema of `annotation` (`where` names the endpoint in warnings)."""
        holder: dict[str, Any] = {}
        self._requests.append((annotation, mode, holder, where))
        return holder

    def resolve(self) -> dict[str, Any]:
        """Fill every registered dict and return `components.schemas`."""
        inputs: list[tuple[tuple[int, Mode], Mode, CoreSchema]] = []
        describable: dict[tuple[int, Mode], list[dict[str, Any]]] = {}
        warned: set[str] = set()
        for annotation, mode, holder, where in self._requests:
            key = (id(annotation), mode)
            if key not in describable:
                try:
                    core = _core_schema(annotation)
                    # Generated alone first: one undescribable type must not take the whole document with it.
                    _DocumentSchema(ref_template=REF_TEMPLATE).generate(core, mode=mode)
                except Exception as exc:
                    if where not in warned:
                        warned.add(where)
                        logger.warning(
                            f'OpenAPI: `{_label(annotation)}` of {where} cannot be described as JSON schema '
                            f'({type(exc).__name__}: {str(exc).splitlines()[0]}); it is documented as `{{}}`.'
                        )
                    continue
                describable[key] = []
                inputs.append((key, mode, core))
            describable[key].append(holder)
        if not inputs:
            return {}
        generator = _DocumentSchema(ref_template=REF_TEMPLATE)
        schemas, definitions = generator.generate_definitions(inputs)
        for key, holders in describable.items():
            for holder in holders:
                holder.update(schemas[(key, key[1])])
        return dict(sorted(definitions.items()))
