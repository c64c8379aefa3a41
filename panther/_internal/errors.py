"""The one place exceptions become responses."""

from __future__ import annotations

import logging

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
