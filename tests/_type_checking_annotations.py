"""An endpoint whose request annotation names a class imported only for type checkers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from panther.app import API

if TYPE_CHECKING:
    from panther.request import Request


@API()
async def type_checking_only(request: Request, number: int) -> dict:
    # `Request` cannot be resolved at run time here: the parameter is still recognised by its annotation's name.
    return {'path': request.path, 'number': number, 'type': type(number).__name__}
