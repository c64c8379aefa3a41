"""Permission classes.

A permission is an async callable taking the request (or websocket connection). Only a truthy result
grants access: `None` (a forgotten `return`) denies, unlike Panther 5.x where only `False` denied.
Classes are instantiated per request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from panther.base_request import BaseRequest

__all__ = ['BasePermission', 'IsAuthenticated', 'IsAuthenticatedOrReadonly']

# HEAD is GET without a body, so it is read-only too.
READONLY_METHODS = frozenset({'GET', 'HEAD'})


class BasePermission:
    """Base for permission classes; grants everything unless `__call__` is overridden."""

    async def __call__(self, request: BaseRequest) -> bool:
        return True


class IsAuthenticated(BasePermission):
    async def __call__(self, request: BaseRequest) -> bool:
        return bool(request.user)


class IsAuthenticatedOrReadonly(BasePermission):
    """Anyone may read (GET/HEAD); writes need a user. Websocket connections have no method: they need a user."""

    async def __call__(self, request: BaseRequest) -> bool:
        return bool(request.user) or getattr(request, 'method', None) in READONLY_METHODS
