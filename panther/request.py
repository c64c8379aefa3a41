"""The HTTP request object."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import orjson
from pydantic import BaseModel, ValidationError

from panther.base_request import BaseRequest
from panther.exceptions import (
    APIError,
    BadRequestAPIError,
    PayloadTooLargeAPIError,
    UnprocessableEntityError,
)

if TYPE_CHECKING:
    from panther._internal.types import Receive, Scope, Send

__all__ = ['DEFAULT_MAX_BODY_SIZE', 'Request']

logger = logging.getLogger('panther')

DEFAULT_MAX_BODY_SIZE = 10 * 1024 * 1024
_UNSET: Any = object()


class ClientDisconnected(Exception):
    """The client went away before the whole body arrived."""


def _media_type(content_type: str | None) -> tuple[str, dict[str, str]]:
    if not content_type:
        return '', {}
    media, _, rest = content_type.partition(';')
    params: dict[str, str] = {}
    for piece in rest.split(';'):
        key, sep, value = piece.strip().partition('=')
        if sep:
            params[key.strip().lower()] = value.strip().strip('"')
    return media.strip().lower(), params


def validation_errors_to_detail(error: ValidationError) -> dict[str, str]:
    """pydantic errors as `{"dotted.location": "message"}`; later errors for one location win."""
    return {'.'.join(str(part) for part in e['loc']): e['msg'] for e in error.errors(include_url=False)}


class Request(BaseRequest):
    __slots__ = ('_body', '_data', 'max_body_size', 'validated_data')

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        super().__init__(scope, receive, send)
        self._body: bytes | None = None
        self._data: Any = _UNSET
        self.validated_data: Any = None
        self.max_body_size: int = DEFAULT_MAX_BODY_SIZE

    @property
    def method(self) -> str:
        return self.scope['method']

    @property
    def body(self) -> bytes:
        """The raw body; available after `await request.read_body()` (the framework reads it when needed)."""
        return self._body if self._body is not None else b''

    async def read_body(self) -> bytes:
        """Read the body once, refusing (413) anything larger than `max_body_size` without buffering it all."""
        if self._body is not None:
            return self._body
        limit = self.max_body_size
        declared = self.headers.content_length
        if declared is not None:
            try:
                declared_size = int(declared)
            except ValueError:
                raise BadRequestAPIError(detail='Content-Length header is not a valid integer') from None
            if declared_size > limit:
                raise PayloadTooLargeAPIError(detail=f'Request body is larger than {limit} bytes')
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self.asgi_receive()
            if message['type'] == 'http.disconnect':
                raise ClientDisconnected
            chunk = message.get('body', b'')
            if chunk:
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLargeAPIError(detail=f'Request body is larger than {limit} bytes')
                chunks.append(chunk)
            if not message.get('more_body', False):
                break
        self._body = chunks[0] if len(chunks) == 1 else b''.join(chunks)
        return self._body

    @property
    def data(self) -> Any:
        """The parsed body. Call `await request.read_body()` first when using it outside an endpoint."""
        if self._data is _UNSET:
            self._data = self._parse_body(self.body)
        return self._data

    @data.setter
    def data(self, value: Any) -> None:
        self._data = value

    def _parse_body(self, body: bytes) -> Any:
        media_type, params = _media_type(self.headers.content_type)
        if not media_type or media_type == 'application/json' or media_type.endswith('+json'):
            try:
                return orjson.loads(body or b'{}')
            except orjson.JSONDecodeError as exc:
                raise BadRequestAPIError(detail=f'Invalid JSON body: {exc}') from None
        if media_type == 'application/x-www-form-urlencoded':
            try:
                return dict(parse_qsl(body.decode('utf-8'), keep_blank_values=True, errors='strict'))
            except UnicodeDecodeError:
                raise BadRequestAPIError(detail='Form body is not valid UTF-8') from None
        if media_type == 'multipart/form-data' and params.get('boundary'):
            from panther._utils import read_multipart_form_data

            return read_multipart_form_data(params['boundary'], body)
        logger.warning(f"'{self.headers.content_type}' Content-Type is not supported")
        return body

    def validate_data(self, model: type[BaseModel]) -> BaseModel:
        """Validate `request.data` with `model`, store it on `validated_data` and return it (400 on errors)."""
        data = self.data
        if isinstance(data, bytes):
            raise UnprocessableEntityError(detail='Content-Type is not valid')
        if data is None:
            raise BadRequestAPIError(detail='Request body is required')
        if not isinstance(data, dict):
            raise BadRequestAPIError(detail=f'Request body should be a JSON object, not `{type(data).__name__}`')
        try:
            self.validated_data = model.model_validate(data)
        except ValidationError as error:
            raise APIError(detail=validation_errors_to_detail(error), status_code=400) from None
        return self.validated_data
