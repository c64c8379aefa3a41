"""Response classes. Bodies are rendered with orjson; one start and one body message per plain response."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import logging
import re
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator
from decimal import Decimal
from email.utils import formatdate, parsedate_to_datetime
from http.cookies import SimpleCookie
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Union

import orjson
from pydantic import BaseModel

from panther._internal.concurrency import to_thread

if TYPE_CHECKING:
    from panther._internal.types import Receive, Send
    from panther.pagination import Pagination

__all__ = [
    'Cookie',
    'EventSourceResponse',
    'FileResponse',
    'HTMLResponse',
    'IterableDataTypes',
    'PlainTextResponse',
    'RedirectResponse',
    'Response',
    'ResponseDataTypes',
    'ServerSentEvent',
    'StreamingDataTypes',
    'StreamingResponse',
    'TemplateResponse',
]

logger = logging.getLogger('panther')

ResponseDataTypes = Union[
    list[Any], tuple[Any, ...], set[Any], dict[Any, Any], int, float, str, bool, bytes, None, BaseModel, type[BaseModel]
]
IterableDataTypes = Union[list[Any], tuple[Any, ...], set[Any]]
StreamingDataTypes = Union[Generator[Any, Any, Any], AsyncGenerator[Any, Any]]


@dataclasses.dataclass
class Cookie:
    key: str
    value: str
    domain: str | None = None
    max_age: int | None = None
    secure: bool = False
    httponly: bool = False
    samesite: str = 'lax'
    path: str = '/'

    def to_header(self) -> tuple[bytes, bytes]:
        jar: SimpleCookie = SimpleCookie()
        jar[self.key] = self.value
        morsel = jar[self.key]
        if self.domain:
            morsel['domain'] = self.domain
        if self.max_age is not None:
            morsel['max-age'] = self.max_age
        morsel['path'] = self.path
        morsel['samesite'] = self.samesite
        if self.secure:
            morsel['secure'] = True
        if self.httponly:
            morsel['httponly'] = True
        return b'Set-Cookie', morsel.OutputString().encode('latin-1')


def _json_default(obj: Any) -> Any:
    if isinstance(obj, BaseModel):
        return obj.model_dump()
    if isinstance(obj, (set, frozenset)):
        return list(obj)
    if isinstance(obj, Decimal):
        return str(obj)
    if isinstance(obj, bytes):
        return f'raw bytes is not JSON serializable ({len(obj)} bytes)'
    if isinstance(obj, Iterator) or (hasattr(obj, '__iter__') and hasattr(obj, 'cls')):
        return list(obj)
    raise TypeError(f'Type is not JSON serializable: {type(obj).__name__}')


# Responses with these statuses carry no body, so no Content-Length either (RFC 9110 §8.6); servers such as
# uvicorn's httptools protocol would otherwise wait for body bytes.
NO_BODY_STATUSES = frozenset({100, 101, 102, 103, 204, 304})

PLAIN_TYPES = frozenset({dict, list, str, int, float, bool, type(None), bytes, tuple})

_ENCODED_CONTENT_TYPES: dict[str, tuple[bytes, bytes]] = {}
# Header pairs sent again and again (CORS, cache and security headers) are encoded once; the table is bounded and
# starts over when full, so one-off values (ETags, cookies) cannot grow it.
_ENCODED_HEADERS: dict[tuple[str, str], tuple[bytes, bytes]] = {}
_ENCODED_HEADERS_MAX = 1024


def render_json(data: Any) -> bytes:
    return orjson.dumps(data, default=_json_default, option=orjson.OPT_NON_STR_KEYS)


def _encoded_content_type(content_type: str) -> tuple[bytes, bytes]:
    encoded = _ENCODED_CONTENT_TYPES.get(content_type)
    if encoded is None:
        encoded = (b'Content-Type', content_type.encode('latin-1'))
        if len(_ENCODED_CONTENT_TYPES) < 64:
            _ENCODED_CONTENT_TYPES[content_type] = encoded
    return encoded


class Response:
    content_type = 'application/json'
    # The headers dict is only built when someone reads it; untouched responses send pre-encoded headers.
    _headers: dict[str, Any] | None = None
    status_code: int = 200
    pagination: Pagination | None = None
    cookies: list[tuple[bytes, bytes]] | None = None
    # Responses that need the request's headers (conditional and range requests) get the scope in send().
    wants_scope = False

    def __init__(
        self,
        data: Any = None,
        status_code: int = 200,
        headers: dict[str, Any] | None = None,
        pagination: Pagination | None = None,
        set_cookies: Cookie | list[Cookie] | None = None,
    ) -> None:
        self.data = data
        self.status_code = status_code
        # `_headers`, `pagination` and `cookies` are class-level None unless given: most responses set none of them.
        if headers:
            self._headers = {'Content-Type': self.content_type, **headers}
        if pagination is not None:
            self.pagination = pagination
        if set_cookies is not None:
            cookies = set_cookies if isinstance(set_cookies, list) else [set_cookies]
            self.cookies = [cookie.to_header() for cookie in cookies]

    @property
    def headers(self) -> dict[str, Any]:
        if self._headers is None:
            self._headers = {'Content-Type': self.content_type}
        return self._headers

    @headers.setter
    def headers(self, value: dict[str, Any]) -> None:
        self._headers = value

    def __str__(self) -> str:
        text = str(self.data)
        if len(text) > 30:
            text = f'{text[:27]}...'
        return f'{type(self).__name__}(status_code={self.status_code}, data={text})'

    __repr__ = __str__

    @property
    def body(self) -> bytes:
        data = self.data
        if isinstance(data, bytes):
            return data
        if data is None:
            return b''
        return render_json(data)

    def _header_list(self, body_length: int | None) -> list[tuple[bytes, bytes]]:
        if self.status_code in NO_BODY_STATUSES:
            body_length = None
        if self._headers is None and self.cookies is None:
            content_type = self.content_type
            encoded = _ENCODED_CONTENT_TYPES.get(content_type) or _encoded_content_type(content_type)
            if body_length is None:
                return [encoded]
            return [(b'Content-Length', str(body_length).encode()), encoded]
        headers: list[tuple[bytes, bytes]] = []
        if body_length is not None and 'Content-Length' not in self.headers:
            headers.append((b'Content-Length', str(body_length).encode()))
        known = _ENCODED_HEADERS
        for name, value in self.headers.items():
            if type(value) is str:
                pair = known.get((name, value))
                if pair is None:
                    pair = (name.encode('latin-1'), value.encode('latin-1'))
                    if len(known) >= _ENCODED_HEADERS_MAX:
                        known.clear()
                    known[name, value] = pair
                headers.append(pair)
            else:
                headers.append((name.encode('latin-1'), str(value).encode('latin-1')))
        if self.cookies:
            headers.extend(self.cookies)
        return headers

    @property
    def bytes_headers(self) -> list[tuple[bytes, bytes]]:
        return self._header_list(len(self.body))

    def ready_messages(self) -> tuple[int, list[tuple[bytes, bytes]], bytes] | None:
        """`(status, headers, body)` when they are known without awaiting anything, else None (use `send()`)."""
        return None

    async def prepare(self) -> None:
        """Finish async work before sending: materialise database cursors returned as data."""
        if type(self.data) in PLAIN_TYPES or isinstance(self.data, BaseModel):
            return
        to_list = getattr(self.data, 'to_list', None)
        if to_list is not None and hasattr(self.data, 'cls') and inspect.iscoroutinefunction(to_list):
            self.data = await to_list()

    async def send(self, send: Send, receive: Receive, *, head: bool = False) -> None:
        body = self.body
        await send({'type': 'http.response.start', 'status': self.status_code, 'headers': self._header_list(len(body))})
        await send({'type': 'http.response.body', 'body': b'' if head else body, 'more_body': False})

    async def serialize_output(self, output_model: type[BaseModel]) -> Any:
        """Reshape `data` through `output_model` (each item for lists); the result replaces `data`."""

        async def one(item: Any) -> Any:
            if isinstance(item, dict):
                out = output_model(**item)
            elif isinstance(item, BaseModel):
                out = output_model(**item.model_dump())
            else:
                raise TypeError(
                    'Type of Response data is not match with `output_model`.\n'
                    '*hint: You may want to remove `output_model`'
                )
            if hasattr(out, 'to_response'):
                return await out.to_response(instance=item, data=out.model_dump())
            return out.model_dump()

        data = self.data
        if isinstance(data, (dict, BaseModel)):
            self.data = await one(data)
        elif isinstance(data, (list, tuple, set)):
            self.data = [await one(item) for item in data]
        else:
            await one(data)
        return self.data


class HTMLResponse(Response):
    content_type = 'text/html; charset=utf-8'

    @property
    def body(self) -> bytes:
        data = self.data
        if isinstance(data, bytes):
            return data
        if data is None:
            return b''
        return str(data).encode()


class PlainTextResponse(HTMLResponse):
    content_type = 'text/plain; charset=utf-8'


class RedirectResponse(Response):
    def __init__(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        status_code: int = 307,
        set_cookies: Cookie | list[Cookie] | None = None,
    ) -> None:
        super().__init__(
            data=None, status_code=status_code, headers={**(headers or {}), 'Location': url}, set_cookies=set_cookies
        )


class StreamingResponse(Response):
    """Streams the chunks of a sync or async generator. `str` chunks are sent as UTF-8 text."""

    content_type = 'application/octet-stream'

    @staticmethod
    def _encode(chunk: Any) -> bytes:
        if isinstance(chunk, bytes):
            return chunk
        if chunk is None:
            return b''
        if isinstance(chunk, str):
            return chunk.encode()
        return render_json(chunk)

    @property
    def body(self) -> bytes:
        data = self.data
        if isinstance(data, (bytes, str)) or data is None:
            return self._encode(data)
        raise TypeError('StreamingResponse has no body until it is sent; iterate its data instead')

    async def _chunks(self) -> AsyncGenerator[bytes, None]:
        data = self.data
        if inspect.isasyncgen(data) or isinstance(data, AsyncIterator):
            async for chunk in data:
                yield self._encode(chunk)
            return
        if inspect.isgenerator(data) or isinstance(data, Iterator):
            done = object()
            while True:
                # A sync generator may block (files, sleeps): advance it off the event loop.
                chunk = await to_thread(next, data, done)
                if chunk is done:
                    return
                yield self._encode(chunk)
        if isinstance(data, (bytes, str)):
            yield self._encode(data)
            return
        raise TypeError(f'StreamingResponse data should be a generator, not `{type(data).__name__}`')

    async def send(self, send: Send, receive: Receive, *, head: bool = False) -> None:
        data = self.data
        if not (inspect.isasyncgen(data) or isinstance(data, (AsyncIterator, Iterator, bytes, str))):
            raise TypeError(f'StreamingResponse data should be a generator, not `{type(data).__name__}`')
        await send({'type': 'http.response.start', 'status': self.status_code, 'headers': self._header_list(None)})
        self._started = True
        if head:
            await send({'type': 'http.response.body', 'body': b'', 'more_body': False})
            return
        await self._stream_body(send, receive)

    async def _stream_body(self, send: Send, receive: Receive) -> None:
        """Send the chunks; stop quietly when the client disconnects."""
        data = self.data
        disconnected = asyncio.Event()

        async def watch_disconnect() -> None:
            while True:
                message = await receive()
                if message['type'] == 'http.disconnect':
                    disconnected.set()
                    return

        watcher = asyncio.create_task(watch_disconnect())
        chunks = self._chunks()
        try:
            async for chunk in chunks:
                if disconnected.is_set():
                    return
                await send({'type': 'http.response.body', 'body': chunk, 'more_body': True})
            if not disconnected.is_set():
                await send({'type': 'http.response.body', 'body': b'', 'more_body': False})
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            await chunks.aclose()
            close = getattr(data, 'aclose', None) or getattr(data, 'close', None)
            if close is not None:
                result = close()
                if inspect.isawaitable(result):
                    await result


_LINE_BREAK = re.compile(r'\r\n|\r|\n')


def _sse_lines(field: str, text: str) -> list[str]:
    """One `field: line` per line of `text` (CRLF, CR and LF all break lines, as the SSE parser does)."""
    return [f'{field}: {line}' if line else f'{field}:' for line in _LINE_BREAK.split(text)]


@dataclasses.dataclass
class ServerSentEvent:
    """One server-sent event. `data` may span lines (str) or be any JSON-serialisable value; `retry` is the
    client's reconnection delay in milliseconds; `comment` lines are ignored by clients (but keep proxies busy)."""

    data: Any = None
    event: str | None = None
    id: str | int | None = None
    retry: int | None = None
    comment: str | None = None

    def __post_init__(self) -> None:
        # A line break would end the field early and let the rest be read as other fields (header injection).
        if self.event is not None and _LINE_BREAK.search(str(self.event)):
            raise ValueError('Server-sent event `event` must not contain line breaks')
        if self.id is not None:
            if isinstance(self.id, bool) or not isinstance(self.id, (str, int)):
                raise TypeError(f'Server-sent event `id` should be a str or int, not `{type(self.id).__name__}`')
            if _LINE_BREAK.search(str(self.id)) or '\0' in str(self.id):
                raise ValueError('Server-sent event `id` must not contain line breaks or NUL')
        retry = self.retry
        if retry is not None and (isinstance(retry, bool) or not isinstance(retry, int) or retry < 0):
            raise ValueError(f'Server-sent event `retry` should be a non-negative int (milliseconds), not {retry!r}')

    def encode(self) -> bytes:
        lines: list[str] = []
        if self.comment is not None:
            lines.extend(_sse_lines('', self.comment))
        if self.id is not None:
            lines.append(f'id: {self.id}')
        if self.event is not None:
            lines.append(f'event: {self.event}')
        if self.retry is not None:
            lines.append(f'retry: {self.retry}')
        if self.data is not None:
            data = self.data
            if isinstance(data, bytes):
                data = data.decode()
            elif not isinstance(data, str):
                data = render_json(data).decode()
            lines.extend(_sse_lines('data', data))
        return ('\n'.join(lines) + '\n\n').encode()


_PING = b': ping\n\n'


class EventSourceResponse(StreamingResponse):
    """Server-sent events from a (sync or async) generator.

    Each chunk becomes one event: a `ServerSentEvent` (id, event, retry, comment), a str/bytes (data, split into
    `data:` lines), an `(event, data)` tuple, or any other value (JSON data). While the generator is idle a
    `: ping` comment is sent every `ping_interval` seconds (None: never) so proxies keep the connection open.
    When the client disconnects the generator is stopped at once (its `finally` blocks run), even while it
    waits for its next event.
    """

    content_type = 'text/event-stream'

    def __init__(
        self,
        data: Any = None,
        status_code: int = 200,
        headers: dict[str, Any] | None = None,
        ping_interval: float | None = 15,
    ) -> None:
        if ping_interval is not None and not ping_interval > 0:
            raise ValueError(f'`ping_interval` should be a positive number of seconds or None, not {ping_interval!r}')
        super().__init__(
            data=data,
            status_code=status_code,
            headers={'Cache-Control': 'no-cache', 'X-Accel-Buffering': 'no', **(headers or {})},
        )
        self.ping_interval = ping_interval

    @staticmethod
    def _encode(chunk: Any) -> bytes:
        if isinstance(chunk, ServerSentEvent):
            return chunk.encode()
        if isinstance(chunk, tuple) and len(chunk) == 2:
            event, data = chunk
            return ServerSentEvent(data=data, event=event or None).encode()
        return ServerSentEvent(data=chunk if chunk is not None else 'null').encode()

    async def _stream_body(self, send: Send, receive: Receive) -> None:
        lock = asyncio.Lock()
        loop = asyncio.get_running_loop()
        last_sent = loop.time()
        chunks = self._chunks()

        async def pump() -> None:
            nonlocal last_sent
            async for chunk in chunks:
                async with lock:
                    await send({'type': 'http.response.body', 'body': chunk, 'more_body': True})
                    last_sent = loop.time()

        async def keep_alive(interval: float) -> None:
            nonlocal last_sent
            while True:
                await asyncio.sleep(max(0.0, last_sent + interval - loop.time()))
                if loop.time() - last_sent >= interval:
                    async with lock:
                        await send({'type': 'http.response.body', 'body': _PING, 'more_body': True})
                        last_sent = loop.time()

        async def watch_disconnect() -> None:
            while (await receive())['type'] != 'http.disconnect':
                pass

        producer = asyncio.ensure_future(pump())
        watcher = asyncio.ensure_future(watch_disconnect())
        helpers = [watcher]
        if self.ping_interval is not None:
            helpers.append(asyncio.ensure_future(keep_alive(self.ping_interval)))
        try:
            await asyncio.wait({producer, watcher}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            # On a disconnect (or our own cancellation) the generator is cancelled where it waits.
            for task in (producer, *helpers):
                task.cancel()
            await asyncio.gather(producer, *helpers, return_exceptions=True)
            await self._close_generator(chunks)
        if watcher.done() and not watcher.cancelled() and watcher.exception() is None:
            return  # the client went away: nothing more to send
        error = producer.exception() if producer.done() and not producer.cancelled() else None
        if error is not None:
            raise error
        await send({'type': 'http.response.body', 'body': b'', 'more_body': False})

    async def _close_generator(self, chunks: AsyncGenerator[bytes, None]) -> None:
        with contextlib.suppress(RuntimeError, ValueError):
            await chunks.aclose()
        close = getattr(self.data, 'aclose', None) or getattr(self.data, 'close', None)
        if close is not None:
            # A sync generator still running in its worker thread cannot be closed ("already executing").
            with contextlib.suppress(RuntimeError, ValueError):
                result = close()
                if inspect.isawaitable(result):
                    await result


class TemplateResponse(HTMLResponse):
    """Renders a Jinja2 template (`name`, looked up in `TEMPLATES_DIR`) or a template string (`source`).

    HTML is autoescaped, so context values cannot inject markup.
    """

    def __init__(
        self,
        source: str | None = None,
        name: str | None = None,
        context: dict[str, Any] | None = None,
        headers: dict[str, Any] | None = None,
        status_code: int = 200,
    ) -> None:
        super().__init__(data=self._render(source, name, context or {}), headers=headers, status_code=status_code)

    @staticmethod
    def _environment() -> Any:
        from panther.configs import config

        if config.JINJA_ENVIRONMENT is None:
            import jinja2

            # Outside a configured app (e.g. a script): a string-only environment with the same escaping rules.
            config.JINJA_ENVIRONMENT = jinja2.Environment(autoescape=jinja2.select_autoescape(default_for_string=True))
        return config.JINJA_ENVIRONMENT

    @classmethod
    def _render(cls, source: str | None, name: str | None, context: dict[str, Any]) -> str:
        import jinja2

        from panther.exceptions import APIError

        environment = cls._environment()
        if name is not None:
            try:
                template = environment.get_template(name)
            except jinja2.TemplateNotFound:
                loader = environment.loader
                paths = _search_paths(loader)
                logger.error(
                    f'`{name}` Template Not Found.\n'
                    f'* Make sure `TEMPLATES_DIR` in your configs is correct, Current is {" - ".join(paths)}'
                )
                raise APIError from None
        else:
            template = environment.from_string(source or '')
        return str(template.render(context))


def _search_paths(loader: Any) -> list[str]:
    if loader is None:
        return []
    paths = list(getattr(loader, 'searchpath', []) or [])
    for inner in getattr(loader, 'loaders', []) or []:
        paths.extend(_search_paths(inner))
    return paths


class FileResponse(StreamingResponse):
    """Streams a file below `base_dir` (default `config.BASE_DIR`) in chunks.

    Supports `HEAD`, single `Range` requests (206/416), `ETag` / `Last-Modified` with `If-None-Match` /
    `If-Modified-Since` (304). A path that does not exist or leaves the base directory answers 404.
    """

    chunk_size = 64 * 1024
    wants_scope = True

    def __init__(
        self,
        file_path: str | Path,
        headers: dict[str, Any] | None = None,
        status_code: int = 200,
        base_dir: str | Path | None = None,
    ) -> None:
        from panther._internal.files import detect_mime_type
        from panther.configs import config

        # `base_dir` (e.g. an upload directory) defaults to the app's BASE_DIR; nothing outside it is served.
        base = Path(base_dir if base_dir is not None else (config.BASE_DIR or '.')).resolve()
        target = (base / file_path).resolve()
        inside = target.is_relative_to(base)
        if not inside:
            # A bare 404 hides the usual cause: an upload under MEDIA_ROOT served with the default base.
            logger.warning(
                'FileResponse: %r is outside the base directory %r, answering 404 (pass base_dir=, '
                'e.g. base_dir=config.MEDIA_ROOT for uploaded files)',
                str(file_path),
                str(base),
            )
        self.path: Path | None = target if inside and target.is_file() else None
        self._not_found: Response | None
        if self.path is None:
            super().__init__(data=None, status_code=404, headers=headers)
            self._not_found = Response(data={'detail': 'Not Found'}, status_code=404, headers=headers)
            return
        self._not_found = None
        stat = self.path.stat()
        self.size = stat.st_size
        self.etag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'
        self.last_modified = formatdate(stat.st_mtime, usegmt=True)
        self.modified = int(stat.st_mtime)
        super().__init__(
            data=None,
            status_code=status_code,
            headers={
                'Content-Type': detect_mime_type(self.path),
                'Accept-Ranges': 'bytes',
                'ETag': self.etag,
                'Last-Modified': self.last_modified,
                **(headers or {}),
            },
        )

    def _not_modified(self, request_headers: dict[bytes, bytes]) -> bool:
        if_none_match = request_headers.get(b'if-none-match')
        if if_none_match is not None:
            tags = [tag.strip() for tag in if_none_match.decode('latin-1').split(',')]
            return '*' in tags or self.etag in tags or f'W/{self.etag}' in tags
        if_modified_since = request_headers.get(b'if-modified-since')
        if if_modified_since is not None:
            try:
                since = parsedate_to_datetime(if_modified_since.decode('latin-1'))
            except (TypeError, ValueError):
                return False
            return self.modified <= int(since.timestamp())
        return False

    def _range(self, request_headers: dict[bytes, bytes]) -> tuple[int, int] | bool | None:
        """Inclusive `(start, end)` of a satisfiable single range; None: no (or ignored) range; False: unsatisfiable."""
        raw = request_headers.get(b'range')
        if raw is None:
            return None
        if_range = request_headers.get(b'if-range')
        if if_range is not None and if_range.decode('latin-1').strip() not in (self.etag, self.last_modified):
            return None
        unit, _, spec = raw.decode('latin-1').partition('=')
        if unit.strip().lower() != 'bytes' or ',' in spec:
            return None
        first, _, last = spec.strip().partition('-')
        try:
            if first:
                start = int(first)
                end = int(last) if last else self.size - 1
            else:
                length = int(last)
                if length <= 0:
                    return False
                start, end = max(self.size - length, 0), self.size - 1
        except ValueError:
            return None
        if start < 0 or start >= self.size or end < start:
            return False
        return start, min(end, self.size - 1)

    async def _file_chunks(self, start: int, length: int) -> AsyncGenerator[bytes, None]:
        assert self.path is not None
        handle: BinaryIO = await to_thread(self.path.open, 'rb')
        try:
            await to_thread(handle.seek, start)
            remaining = length
            while remaining > 0:
                chunk = await to_thread(handle.read, min(self.chunk_size, remaining))
                if not chunk:
                    return
                remaining -= len(chunk)
                yield chunk
        finally:
            await to_thread(handle.close)

    async def send(
        self, send: Send, receive: Receive, *, head: bool = False, scope: dict[str, Any] | None = None
    ) -> None:
        if self._not_found is not None:
            await self._not_found.send(send, receive, head=head)
            return
        request_headers = {k.lower(): v for k, v in (scope or {}).get('headers', [])}
        headers = dict(self.headers)
        if self._not_modified(request_headers):
            await self._send_simple(send, 304, {k: v for k, v in headers.items() if k != 'Content-Type'}, b'')
            return
        byte_range = self._range(request_headers)
        if byte_range is False:
            headers = {'Content-Range': f'bytes */{self.size}'}
            await self._send_simple(send, 416, headers, b'')
            return
        status = self.status_code
        start, length = 0, self.size
        if isinstance(byte_range, tuple):
            start, end = byte_range
            length = end - start + 1
            status = 206
            headers['Content-Range'] = f'bytes {start}-{end}/{self.size}'
        headers['Content-Length'] = str(length)
        header_list = [(k.encode('latin-1'), str(v).encode('latin-1')) for k, v in headers.items()]
        if self.cookies:
            header_list.extend(self.cookies)
        await send({'type': 'http.response.start', 'status': status, 'headers': header_list})
        self._started = True
        if head:
            await send({'type': 'http.response.body', 'body': b'', 'more_body': False})
            return
        self.data = self._file_chunks(start, length)
        await self._stream_body(send, receive)

    async def _send_simple(self, send: Send, status: int, headers: dict[str, Any], body: bytes) -> None:
        header_list = [(k.encode('latin-1'), str(v).encode('latin-1')) for k, v in headers.items()]
        if 'Content-Length' not in headers and status not in NO_BODY_STATUSES:
            header_list.insert(0, (b'Content-Length', str(len(body)).encode()))
        await send({'type': 'http.response.start', 'status': status, 'headers': header_list})
        await send({'type': 'http.response.body', 'body': body, 'more_body': False})
