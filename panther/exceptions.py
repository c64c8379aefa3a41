"""Exception types. `APIError` subclasses carry their HTTP status and become JSON responses."""

from __future__ import annotations

from typing import Any

from panther import status

__all__ = [
    'APIError',
    'AuthenticationAPIError',
    'AuthorizationAPIError',
    'BadRequestAPIError',
    'BaseError',
    'DatabaseError',
    'InvalidPathVariableAPIError',
    'MethodNotAllowedAPIError',
    'NotFoundAPIError',
    'PantherError',
    'PayloadTooLargeAPIError',
    'RedirectAPIError',
    'ThrottlingAPIError',
    'UnprocessableEntityError',
    'UnsupportedMediaTypeAPIError',
    'UpgradeRequiredError',
    'WebsocketError',
]


class PantherError(Exception):
    """A configuration or programming error, reported at start-up."""


class DatabaseError(Exception):
    """Invalid use of the ODM or a document that does not validate."""


class BaseError(Exception):
    detail: str | dict[str, Any] | list[Any] = 'Internal Server Error'
    status_code: int = status.HTTP_500_INTERNAL_SERVER_ERROR

    def __init__(
        self,
        detail: str | dict[str, Any] | list[Any] | None = None,
        status_code: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.detail = detail or self.detail
        self.status_code = status_code or self.status_code
        self.headers = headers or None
        super().__init__(self.detail)


class APIError(BaseError):
    pass


class WebsocketError(BaseError):
    detail = 'Internal Error'
    status_code = status.WS_1011_INTERNAL_ERROR


class RedirectAPIError(APIError):
    def __init__(self, url: str, status_code: int = status.HTTP_302_FOUND) -> None:
        super().__init__(headers={'Location': url}, status_code=status_code)


class BadRequestAPIError(APIError):
    detail = 'Bad Request'
    status_code = status.HTTP_400_BAD_REQUEST


class AuthenticationAPIError(APIError):
    detail = 'Authentication Error'
    status_code = status.HTTP_401_UNAUTHORIZED
    # Why authentication failed, for logs and the `WWW-Authenticate` header; never sent as the body.
    reason: str | None = None


class AuthorizationAPIError(APIError):
    detail = 'Permission Denied'
    status_code = status.HTTP_403_FORBIDDEN


class NotFoundAPIError(APIError):
    detail = 'Not Found'
    status_code = status.HTTP_404_NOT_FOUND


class MethodNotAllowedAPIError(APIError):
    detail = 'Method Not Allowed'
    status_code = status.HTTP_405_METHOD_NOT_ALLOWED


class PayloadTooLargeAPIError(APIError):
    detail = 'Request body is too large'
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE


class UnsupportedMediaTypeAPIError(APIError):
    detail = 'Unsupported Media Type'
    status_code = status.HTTP_415_UNSUPPORTED_MEDIA_TYPE


class UnprocessableEntityError(APIError):
    detail = 'Unprocessable Entity Error'
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY


class UpgradeRequiredError(APIError):
    detail = 'This service requires use of the WebSocket protocol.'
    status_code = status.HTTP_426_UPGRADE_REQUIRED


class ThrottlingAPIError(APIError):
    detail = 'Too Many Request'
    status_code = status.HTTP_429_TOO_MANY_REQUESTS


class InvalidPathVariableAPIError(BadRequestAPIError):
    def __init__(self, value: str, variable_type: type[Any]) -> None:
        super().__init__(detail=f'Path variable `{value}` is not `{variable_type.__name__}`')
