"""Dotted-path imports and the async check used when configuration and endpoints are loaded."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

__all__ = ['import_class', 'is_function_async']


def import_class(dotted_path: str, /) -> Any:
    """`'a.b.C'` → attribute `C` of module `a.b`; import errors propagate with their own message."""
    module_path, _, attribute = dotted_path.rpartition('.')
    module = importlib.import_module(module_path)
    return getattr(module, attribute)


def is_function_async(func: Callable[..., Any], /) -> bool:
    """True when `func` is declared with `async def`.

    Plain functions and methods are decided by their code flag; other callables (partials, objects with an
    async `__call__`) have no `__code__`, so `inspect` decides for them.
    """
    code = getattr(func, '__code__', None)
    if code is None:
        return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(type(func).__call__)
    return bool(code.co_flags & inspect.CO_COROUTINE)
