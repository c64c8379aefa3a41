"""Panther: a fast, secure, batteries-included async web framework.

The names below are imported on first use, so `import panther.status` (or any small module) does not load
the whole framework.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from panther import status
    from panther.app import API, GenericAPI
    from panther.main import Panther
    from panther.request import Request
    from panther.response import Response

__version__ = '5.3.0'

__all__ = ['API', 'GenericAPI', 'Panther', 'Request', 'Response', '__version__', 'status', 'version']

# name -> defining module, for the names user code imports from the package root.
_LAZY = {
    'Panther': 'panther.main',
    'API': 'panther.app',
    'GenericAPI': 'panther.app',
    'Request': 'panther.request',
    'Response': 'panther.response',
}


def version() -> str:
    return __version__


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        if name == 'status':
            return importlib.import_module('panther.status')
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
