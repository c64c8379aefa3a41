"""The one way Panther moves blocking work off the event loop."""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar('T')


async def to_thread(func: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run `func` in the default executor, keeping the caller's context variables."""
    loop = asyncio.get_running_loop()
    ctx = contextvars.copy_context()
    call = functools.partial(ctx.run, func, *args, **kwargs)
    return await loop.run_in_executor(None, call)
