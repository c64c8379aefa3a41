"""`@API` for function endpoints and `GenericAPI` for class endpoints: two front doors, one pipeline."""

from __future__ import annotations

from typing import Any

from panther._internal.views import API, GenericAPI

__all__ = ['API', 'GenericAPI']

# The generic views live in `panther.generics` (which needs the database layer); they are also importable from
# here, loaded on first use.
_GENERIC_VIEWS = frozenset({'CreateAPI', 'DeleteAPI', 'ListAPI', 'RetrieveAPI', 'UpdateAPI'})


def __getattr__(name: str) -> Any:
    if name in _GENERIC_VIEWS:
        from panther import generics

        return getattr(generics, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
