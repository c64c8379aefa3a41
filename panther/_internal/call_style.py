"""Tell whether a function's caller awaits its result directly.

Some 5.x APIs were synchronous (`user.check_password(p) -> bool`) while our docs teach `await
user.check_password(p)` so that slow work can leave the event loop. Returning a coroutine to a caller that does
not await it is dangerous (a coroutine is truthy: any password would match), and returning a `bool` to a caller
that awaits it raises. Reading the caller's next bytecode instruction tells the two apart exactly: an `await`
compiles to `GET_AWAITABLE` right after the call on every supported CPython version.
"""

from __future__ import annotations

import dis
import sys
from types import CodeType

__all__ = ['caller_awaits']

# Call sites are finite in a normal program; the cap only guards against code generated at run time.
_MAX_REMEMBERED = 4096
_awaited_call_sites: dict[tuple[CodeType, int], bool] = {}


def caller_awaits(depth: int = 1) -> bool:
    """Whether the frame `depth` levels above the caller of this function awaits the call it is making.

    `depth=1` means: the function that called `caller_awaits()` was called with `await func(...)`.
    """
    frame = sys._getframe(depth + 1)
    key = (frame.f_code, frame.f_lasti)
    known = _awaited_call_sites.get(key)
    if known is not None:
        return known
    awaited = _next_instruction(frame.f_code, frame.f_lasti) == 'GET_AWAITABLE'
    if len(_awaited_call_sites) >= _MAX_REMEMBERED:
        _awaited_call_sites.clear()
    _awaited_call_sites[key] = awaited
    return awaited


def _next_instruction(code: CodeType, last: int) -> str | None:
    # `f_lasti` is the call instruction (3.10, 3.13+) or its last inline-cache entry (3.11, 3.12); cache entries
    # are not listed by `dis`, so the first listed instruction after `last` is the one that follows the call.
    for instruction in dis.get_instructions(code):
        if instruction.offset > last:
            return instruction.opname
    return None
