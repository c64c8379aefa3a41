"""The one place exceptions become responses."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from panther.exceptions import APIError, BaseError
from panther.response import Response

logger = logging.getLogger('panther')


def error_to_response(exc: BaseException) -> Response:
    if isinstance(exc, (APIError, BaseError)):
        detail = exc.detail
        data = detail if isinstance(detail, dict) else {'detail': detail}
        return Response(data=data, status_code=exc.status_code, headers=exc.headers)
    logger.error(f'Unhandled {type(exc).__name__}: {exc}', exc_info=exc)
    return Response(data={'detail': 'Internal Server Error'}, status_code=500)


def catch_errors(handler: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """Wrap one middleware layer so an exception it raises becomes a response for the layers around it."""
    from panther.request import ClientDisconnected

    async def call(request: Any) -> Any:
        try:
            return await handler(request=request)
        except ClientDisconnected:
            raise
        except Exception as exc:
            return error_to_response(exc)

    return call
