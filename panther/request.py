"""The HTTP request object."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qsl, unquote_to_bytes

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


# Form bodies up to this size are parsed inline (a few milliseconds at most); larger ones in a worker thread.
_FORM_INLINE_SIZE = 64 * 1024


def _is_urlencoded(raw_content_type: bytes) -> bool:
    return raw_content_type.partition(b';')[0].strip().lower() == b'application/x-www-form-urlencoded'


def _parse_urlencoded(body: bytes) -> dict[str, str]:
    """`application/x-www-form-urlencoded` → dict (last duplicate wins), at most `MAX_FORM_FIELDS` fields."""
    from panther._internal.parsers import form_limits, too_many_fields

    max_fields = form_limits()[1]
    try:
        text = body.decode('utf-8')
        # parse_qsl counts the separators before decoding anything, so a body of many fields fails fast.
        return dict(parse_qsl(text, keep_blank_values=True, errors='strict', max_num_fields=max_fields))
    except UnicodeDecodeError:
        raise BadRequestAPIError(detail='Form body is not valid UTF-8') from None
    except ValueError:
        raise too_many_fields(max_fields) from None


async def _unquote_in_slices(raw: bytes) -> str:
    """Percent-decode one form name or value, yielding to the event loop between slices of it."""
    from panther._internal.parsers import FORM_PARSE_SLICE

    raw = raw.replace(b'+', b' ')
    decoded: list[bytes] = []
    start = 0
    while start < len(raw):
        end = min(start + FORM_PARSE_SLICE, len(raw))
        if end < len(raw):
            # Never cut a `%XX` escape in two.
            escape = raw.rfind(b'%', end - 2, end)
            end = escape if escape != -1 else end
        decoded.append(unquote_to_bytes(raw[start:end]))
        start = end
        await asyncio.sleep(0)
    try:
        return b''.join(decoded).decode('utf-8')
    except UnicodeDecodeError:
        raise BadRequestAPIError(detail='Form body is not valid UTF-8') from None


async def _parse_urlencoded_in_slices(body: bytes) -> dict[str, str]:
    """`_parse_urlencoded` for large bodies: one big call would hold the event loop (or, in a thread, the GIL)
    for seconds on a body of percent escapes."""
    from panther._internal.parsers import form_limits, too_many_fields

    max_fields = form_limits()[1]
    if body.count(b'&') + 1 > max_fields:
        raise too_many_fields(max_fields)
    try:
        body.decode('utf-8')
    except UnicodeDecodeError:
        raise BadRequestAPIError(detail='Form body is not valid UTF-8') from None
    data: dict[str, str] = {}
    for pair in body.split(b'&'):
        if pair:
            name, _, value = pair.partition(b'=')
            data[await _unquote_in_slices(name)] = await _unquote_in_slices(value)
    return data


def validation_errors_to_detail(error: ValidationError) -> dict[str, str]:
    """pydantic errors as `{"dotted.location": "message"}`; later errors for one location win."""
    return {'.'.join(str(part) for part in e['loc']): e['msg'] for e in error.errors(include_url=False)}


class Request(BaseRequest):
    # `route` is set for every routed request; `_routed_path` and `_route` (the path and route the entry looked
    # up before the global middlewares run, see `_internal/pipeline.py`) for every request through middlewares.
    # Slots: setting them does not build the instance `__dict__`.
    __slots__ = ('_route', '_routed_path', 'route')

    # Class-level defaults keep construction cheap: a request that never reads its body never sets them.
    validated_data: Any = None
    max_body_size: int = DEFAULT_MAX_BODY_SIZE
    _body: bytes | None = None
    _body_error: APIError | None = None
    _data: Any = _UNSET

    def __init__(self, scope: Scope, receive: Receive, send: Send, max_body_size: int = DEFAULT_MAX_BODY_SIZE) -> None:
        self.scope = scope
        self.asgi_receive = receive
        self.asgi_send = send
        self.path_variables: dict[str, str] | None = None
        self.route: str | None = None
        self._routed_path = ''
        self._route: Any = None
        if max_body_size is not DEFAULT_MAX_BODY_SIZE:
            self.max_body_size = max_body_size

    @property
    def method(self) -> str:
        return cast(str, self.scope['method'])

    @property
    def last_event_id(self) -> str | None:
        """The `Last-Event-ID` header a reconnecting `EventSource` sends: resume the events after it."""
        value = self.raw_header(b'last-event-id')
        if value is None:
            return None
        try:
            return value.decode('utf-8')
        except UnicodeDecodeError:
            raise BadRequestAPIError(detail='Last-Event-ID header is not valid UTF-8') from None

    @property
    def body(self) -> bytes:
        """The raw body; available after `await request.read_body()` (the framework reads it when needed)."""
        return self._body if self._body is not None else b''

    async def read_body(self) -> bytes:
        """Read the body once, refusing (413) anything larger than `max_body_size` without buffering it all.

        A refusal is remembered: reading again raises it again (the body is gone by then).
        """
        if self._body is not None:
            return self._body
        if self._body_error is not None:
            raise self._body_error
        try:
            return await self._read_body()
        except APIError as exc:
            self._body_error = exc
            raise

    async def _read_body(self) -> bytes:
        limit = self.max_body_size
        declared = content_type = None
        for name, value in self.scope.get('headers') or ():
            if name == b'content-length':
                declared = value
            elif name == b'content-type':
                content_type = value
        if declared is not None:
            try:
                declared_size = int(declared)
            except ValueError:
                raise BadRequestAPIError(detail='Content-Length header is not a valid integer') from None
            if declared_size > limit:
                raise PayloadTooLargeAPIError(detail=f'Request body is larger than {limit} bytes')
        if content_type is not None and content_type[:10].lower() == b'multipart/':
            boundary = self._multipart_boundary(content_type)
            if boundary is not None:
                return await self._read_multipart(boundary, limit)
        chunks: list[bytes] = []
        size = 0
        receive = self.asgi_receive
        while True:
            message = await receive()
            if message['type'] == 'http.disconnect':
                raise ClientDisconnected
            chunk = message.get('body', b'')
            more = message.get('more_body', False)
            if chunk:
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLargeAPIError(detail=f'Request body is larger than {limit} bytes')
                chunks.append(chunk)
            if not more:
                break
        self._body = chunks[0] if len(chunks) == 1 else b''.join(chunks)
        if content_type is not None and len(self._body) > _FORM_INLINE_SIZE and _is_urlencoded(content_type):
            # Decoding a large form takes long enough to stall every other request: decode it in slices.
            self._data = await _parse_urlencoded_in_slices(self._body)
        return self._body

    async def _receive_chunk(self) -> tuple[bytes, bool]:
        message = await self.asgi_receive()
        if message['type'] == 'http.disconnect':
            raise ClientDisconnected
        return message.get('body', b''), message.get('more_body', False)

    @staticmethod
    def _multipart_boundary(raw: bytes) -> str | None:
        if not raw.lower().startswith(b'multipart/form-data'):
            return None
        _, params = _media_type(raw.decode('latin-1'))
        return params.get('boundary') or None

    async def _read_multipart(self, boundary: str, limit: int) -> bytes:
        """Parse `multipart/form-data` while it arrives: file parts are spooled to disk above a threshold, so an
        upload is never held in memory twice. The raw body is kept only while it is small.

        The parser gets at most `FORM_PARSE_SLICE` bytes at a time and the event loop runs between slices, so a
        body of many tiny parts cannot hold up other requests; the part and field limits end such a body early."""
        from panther._internal.parsers import (
            FORM_PARSE_SLICE,
            SPOOL_THRESHOLD,
            MultipartReader,
            read_multipart_form_data,
        )

        reader = MultipartReader(boundary)
        kept: list[bytes] | None = []
        size = 0
        while True:
            chunk, more = await self._receive_chunk()
            if chunk:
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLargeAPIError(detail=f'Request body is larger than {limit} bytes')
                for start in range(0, len(chunk), FORM_PARSE_SLICE):
                    reader.feed(chunk[start : start + FORM_PARSE_SLICE])
                    # An ASGI server hands over buffered chunks without suspending: yield explicitly.
                    await asyncio.sleep(0)
                if kept is not None and size <= SPOOL_THRESHOLD:
                    kept.append(chunk)
                else:
                    kept = None
            if not more:
                break
        body = b''.join(kept) if kept is not None else b''
        if reader.failed and kept is not None:
            # Hand-written bodies with bare LF line breaks: the whole-body parser accepts those.
            if len(body) > _FORM_INLINE_SIZE:
                from panther._internal.concurrency import to_thread

                self._data = await to_thread(read_multipart_form_data, boundary, body)
            else:
                self._data = read_multipart_form_data(boundary, body)
        else:
            self._data = reader.finish()
        self._body = body
        return body

    @property
    def data(self) -> Any:
        """The parsed body. Call `await request.read_body()` first when using it outside an endpoint."""
        if self._data is _UNSET:
            self._data = self._parse_body(self.body)
        return self._data

    @data.setter
    def data(self, value: Any) -> None:
        self._data = value

    def is_json(self) -> bool:
        raw = self.raw_header(b'content-type')
        if not raw:
            return True
        media = raw.partition(b';')[0].strip().lower()
        return media == b'application/json' or media.endswith(b'+json')

    def _parse_body(self, body: bytes) -> Any:
        if self.is_json():
            try:
                return orjson.loads(body or b'{}')
            except orjson.JSONDecodeError as exc:
                raise BadRequestAPIError(detail=f'Invalid JSON body: {exc}') from None
        media_type, params = _media_type(self.headers.content_type)
        if media_type == 'application/x-www-form-urlencoded':
            return _parse_urlencoded(body)
        if media_type == 'multipart/form-data' and params.get('boundary'):
            from panther._internal.parsers import read_multipart_form_data

            return read_multipart_form_data(params['boundary'], body)
        logger.warning(f"'{self.headers.content_type}' Content-Type is not supported")
        return body

    def validate_data(self, model: type[BaseModel]) -> BaseModel:
        """Validate `request.data` with `model`, store it on `validated_data` and return it (400 on errors)."""
        if self._data is _UNSET and self._body and self.is_json():
            # The body has not been parsed yet: let pydantic parse and validate the JSON in one pass.
            try:
                self.validated_data = model.model_validate_json(self._body)
                return cast(BaseModel, self.validated_data)
            except ValidationError as error:
                if not any(
                    e['type'] in ('json_invalid', 'model_type', 'model_attributes_type') or not e['loc']
                    for e in error.errors(include_url=False)
                ):
                    raise APIError(detail=validation_errors_to_detail(error), status_code=400) from None
                # Not a JSON object (or not JSON at all): report it the same way as the slow path.
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
        return cast(BaseModel, self.validated_data)
