"""The panel's permission: a staff member is signed in (anyone else is sent to the login page)."""

from __future__ import annotations

from typing import Any

from panther.exceptions import RedirectAPIError
from panther.panel.authentications import login_url
from panther.permissions import BasePermission

__all__ = ['IsAuthenticated']


class IsAuthenticated(BasePermission):
    async def __call__(self, request: Any) -> bool:
        if not request.user:
            raise RedirectAPIError(url=login_url(request))
        return True
