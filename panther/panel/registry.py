"""How each model appears in the admin panel: `register()` customises a model, `hide()` leaves it out."""

from __future__ import annotations

import dataclasses
from typing import Any

from panther.exceptions import PantherError

__all__ = ['ModelAdmin', 'hide', 'label_of', 'options_for', 'register']


@dataclasses.dataclass(frozen=True)
class ModelAdmin:
    """The panel's options for one model (the defaults apply to models nobody registered)."""

    list_display: tuple[str, ...] | None = None  # columns of the list view (default: the first six fields)
    search_fields: tuple[str, ...] | None = None  # searched by the list view's box (default: every `str` field)
    list_filter: tuple[str, ...] | None = None  # filter selects (default: bool, enum, Literal and reference fields)
    readonly_fields: tuple[str, ...] = ()  # shown but never changed by the forms
    label_field: str | None = None  # names a document in pickers (default: username/name/title/first str field)
    per_page: int = 25
    hidden: bool = False


_registry: dict[type, ModelAdmin] = {}


def _field_names(model: type, names: Any, option: str) -> tuple[str, ...] | None:
    if names is None:
        return None
    if isinstance(names, str):
        raise PantherError(f'`{option}` of {model.__name__} should be a list of field names, not a string')
    chosen = tuple(str(name) for name in names)
    fields = getattr(model, 'model_fields', {})
    unknown = [name for name in chosen if name not in fields]
    if unknown:
        raise PantherError(f'`{option}` of {model.__name__} names unknown fields: {", ".join(unknown)}')
    return chosen


def register(
    model: type,
    *,
    list_display: list[str] | tuple[str, ...] | None = None,
    search_fields: list[str] | tuple[str, ...] | None = None,
    list_filter: list[str] | tuple[str, ...] | None = None,
    readonly_fields: list[str] | tuple[str, ...] = (),
    label_field: str | None = None,
    per_page: int = 25,
) -> ModelAdmin:
    """Customise how `model` is listed and edited; unknown field names raise `PantherError` at once."""
    if per_page < 1:
        raise PantherError(f'`per_page` of {model.__name__} should be at least 1')
    if label_field is not None:
        _field_names(model, [label_field], 'label_field')
    options = ModelAdmin(
        list_display=_field_names(model, list_display, 'list_display'),
        search_fields=_field_names(model, search_fields, 'search_fields'),
        list_filter=_field_names(model, list_filter, 'list_filter'),
        readonly_fields=_field_names(model, readonly_fields, 'readonly_fields') or (),
        label_field=label_field,
        per_page=per_page,
    )
    _registry[model] = options
    return options


def hide(model: type) -> None:
    """Leave `model` out of the panel: not listed on the home page, and its pages answer 404."""
    _registry[model] = dataclasses.replace(_registry.get(model, ModelAdmin()), hidden=True)


def options_for(model: type) -> ModelAdmin:
    return _registry.get(model) or ModelAdmin()


def _label_field(model: type[Any]) -> str | None:
    chosen = options_for(model).label_field
    if chosen:
        return chosen
    fields: dict[str, Any] = model.model_fields
    candidates: list[str | None] = [getattr(model, 'USERNAME_FIELD', None), 'name', 'title', 'username', 'email']
    for candidate in [*candidates, 'slug']:
        if candidate and candidate in fields:
            return str(candidate)
    for name, field in fields.items():
        if field.annotation is str and name != 'password':
            return name
    return None


def label_of(document: Any) -> str:
    """How a document is named in lists and pickers: its label field (see `register(label_field=...)`) or id."""
    name = _label_field(type(document))
    value = getattr(document, name, None) if name else None
    return str(value) if value not in (None, '') else str(document.id)
