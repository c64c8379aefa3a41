"""In-process test clients: `APIClient` for HTTP and `WebsocketClient` for WebSockets (no server needed)."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any, cast
from urllib.parse import urlencode

import orjson

from panther._internal.types import ASGIApp, Message
from panther.response import HTMLResponse, PlainTextResponse, Response

__all__ = ['APIClient', 'ResponseHeaders', 'WebsocketClient']

_MISSING: Any = object()
_BODY_METHODS = frozenset({'POST', 'PUT', 'PATCH'})


def _encode_headers(headers: dict[str, Any] | None) -> list[tuple[bytes, bytes]]:
    # Lower-case names, as the ASGI specification requires of servers.
    return [(str(k).lower().encode('latin-1'), str(v).encode('latin-1')) for k, v in (headers or {}).items()]


class ResponseHeaders(dict[str, str]):
    """Response headers: a plain `{name: value}` dict whose lookups ignore the case of the name (as in httpx).

    Names keep the case the app sent them in (iteration, `items()`, `repr`); `res.headers['content-type']`,
    `'Content-Type' in res.headers` and `.get()` work with any case, and comparing with a dict ignores case.
    """

    def __init__(self, items: list[tuple[str, str]] | None = None) -> None:
        super().__init__()
        self._names: dict[str, str] = {}
        for name, value in items or []:
            self[name] = value

    def _stored_name(self, name: str) -> str:
        return self._names.get(name.lower(), name) if isinstance(name, str) else name

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(self._stored_name(name))

    def __setitem__(self, name: str, value: str) -> None:
        # A repeated name (in any case) replaces the earlier value: the last one wins.
        previous = self._names.get(name.lower())
        if previous is not None and previous != name:
            super().__delitem__(previous)
        self._names[name.lower()] = name
        super().__setitem__(name, value)

    def __delitem__(self, name: str) -> None:
        super().__delitem__(self._stored_name(name))
        self._names.pop(name.lower(), None)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(self._stored_name(name))

    def get(self, name: str, default: Any = None) -> Any:
        return super().get(self._stored_name(name), default)

    def pop(self, name: str, *default: Any) -> Any:
        stored = self._stored_name(name)
        self._names.pop(name.lower(), None)
        return super().pop(stored, *default)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, dict):
            return NotImplemented
        if len(other) != len(self):
            return False
        return all(isinstance(name, str) and name in self and self[name] == value for name, value in other.items())

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def update(self, *args: Any, **kwargs: Any) -> None:
        for name, value in dict(*args, **kwargs).items():
            self[name] = value

    def setdefault(self, name: str, default: Any = None) -> Any:
        if name not in self:
            self[name] = default
        return self[name]

    def copy(self) -> ResponseHeaders:
        return ResponseHeaders(list(self.items()))

    def __reduce__(self) -> tuple[type[ResponseHeaders], tuple[list[tuple[str, str]]]]:
        # copy / deepcopy / pickle rebuild through __init__, which sets up the lower-case index.
        return ResponseHeaders, (list(self.items()),)

    __hash__ = None


def _query_string(query_params: dict[str, Any] | None) -> bytes:
    # Lists become repeated keys (`?tag=a&tag=b`); everything is URL-encoded.
    return urlencode(query_params or {}, doseq=True).encode('ascii')


def _multipart(fields: dict[str, Any], files: dict[str, tuple[str, bytes, str]]) -> tuple[bytes, str]:
    boundary = f'panther-{uuid.uuid4().hex}'
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, (filename, content, file_type) in files.items():
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            f'Content-Type: {file_type}\r\n\r\n'
        )
        parts.append(head.encode() + content + b'\r\n')
    parts.append(f'--{boundary}--\r\n'.encode())
    return b''.join(parts), f'multipart/form-data; boundary={boundary}'


def _path(path: str) -> str:
    return path if path.startswith('/') else f'/{path}'


class _Lifespan:
    """Drives an app's ASGI lifespan from a test client."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.task: asyncio.Task[None] | None = None
        self.to_app: asyncio.Queue[Message] = asyncio.Queue()
        self.from_app: asyncio.Queue[Message] = asyncio.Queue()

    async def startup(self) -> None:
        scope = {'type': 'lifespan', 'asgi': {'version': '3.0', 'spec_version': '2.0'}, 'state': {}}
        self.task = asyncio.create_task(self.app(scope, self.to_app.get, self.from_app.put))  # type: ignore[arg-type]
        await self.to_app.put({'type': 'lifespan.startup'})
        message = await self.from_app.get()
        if message['type'] == 'lifespan.startup.failed':
            raise RuntimeError(f'Application start-up failed: {message.get("message", "")}')

    async def shutdown(self) -> None:
        if self.task is None:
            return
        await self.to_app.put({'type': 'lifespan.shutdown'})
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(self.task, timeout=10)
        self.task = None


class APIClient:
    """Call an app in-process: `res = await APIClient(app).get('/path/')`.

    Use `async with APIClient(app) as client:` to run the app's start-up and shutdown hooks around the
    requests; without it, start-up hooks run before the first request.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._lifespan: _Lifespan | None = None
        self._started = False
        self.cookies: dict[str, str] = {}

    async def __aenter__(self) -> APIClient:
        self._lifespan = _Lifespan(self.app)
        await self._lifespan.startup()
        self._started = True
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._lifespan is not None:
            await self._lifespan.shutdown()
            self._lifespan = None
        elif self._started and hasattr(self.app, 'shutdown'):
            await self.app.shutdown()
        self._started = False

    async def _ensure_started(self) -> None:
        if not self._started:
            self._started = True
            startup = getattr(self.app, 'startup', None)
            if startup is not None:
                await startup()

    async def request(
        self,
        method: str,
        path: str,
        *,
        payload: Any = _MISSING,
        headers: dict[str, Any] | None = None,
        query_params: dict[str, Any] | None = None,
        content_type: str | None = 'application/json',
        cookies: dict[str, str] | None = None,
        body_chunks: list[bytes] | None = None,
        files: dict[str, tuple[str, bytes, str]] | None = None,
    ) -> Response:
        """Send one request. `files={'field': (filename, content, content_type)}` sends multipart form data
        (with `payload` as its text fields)."""
        await self._ensure_started()
        header_list: list[tuple[bytes, bytes]] = []
        if files is not None:
            body, content_type = _multipart(payload if isinstance(payload, dict) else {}, files)
        elif payload is _MISSING or (payload is None and method in ('GET', 'HEAD', 'DELETE', 'OPTIONS')):
            body = b''
        elif isinstance(payload, bytes):
            body = payload
        elif content_type == 'application/x-www-form-urlencoded' and isinstance(payload, dict):
            body = urlencode(payload, doseq=True).encode()
        else:
            body = orjson.dumps(payload)
        if body_chunks is None and content_type and (body or method in _BODY_METHODS):
            header_list.append((b'content-type', content_type.encode('latin-1')))
        lowered = {k.lower() for k in (headers or {})}
        header_list = [h for h in header_list if h[0].decode() not in lowered]
        header_list.extend(_encode_headers(headers))
        jar = {**self.cookies, **(cookies or {})}
        if jar and 'cookie' not in lowered:
            header_list.append((b'cookie', '; '.join(f'{k}={v}' for k, v in jar.items()).encode('latin-1')))
        chunks = body_chunks if body_chunks is not None else [body]
        if body_chunks is None and 'content-length' not in lowered and (body or method in _BODY_METHODS):
            # As a real client: a length only when there is a body, or a method that expects one (then 0).
            header_list.append((b'content-length', str(len(body)).encode()))

        path = _path(path)
        raw_path, _, inline_query = path.partition('?')
        query = _query_string(query_params)
        if inline_query:
            query = inline_query.encode('utf-8') + (b'&' + query if query else b'')
        scope = {
            'type': 'http',
            'asgi': {'version': '3.0', 'spec_version': '2.4'},
            'http_version': '1.1',
            'method': method,
            'scheme': 'http',
            'path': raw_path,
            'raw_path': raw_path.encode('utf-8'),
            'query_string': query,
            'root_path': '',
            'headers': header_list,
            'client': ('127.0.0.1', 8585),
            'server': ('127.0.0.1', 8000),
        }
        pending = [{'type': 'http.request', 'body': c, 'more_body': i < len(chunks) - 1} for i, c in enumerate(chunks)]
        sent: list[Message] = []
        done = asyncio.Event()

        async def receive() -> Message:
            if pending:
                return pending.pop(0)
            await done.wait()
            return {'type': 'http.disconnect'}

        async def send(message: Message) -> None:
            sent.append(message)
            if message['type'] == 'http.response.body' and not message.get('more_body', False):
                done.set()

        try:
            await self.app(scope, receive, send)
        finally:
            done.set()
        return self._build_response(sent)

    def _build_response(self, messages: list[Message]) -> Response:
        start = next((m for m in messages if m['type'] == 'http.response.start'), None)
        if start is None:
            raise RuntimeError('The application sent no response')
        body = b''.join(m.get('body', b'') for m in messages if m['type'] == 'http.response.body')
        headers = ResponseHeaders()
        cookies: list[tuple[bytes, bytes]] = []
        for name, value in start.get('headers', []):
            decoded_name, decoded_value = name.decode('latin-1'), value.decode('latin-1')
            headers[decoded_name] = decoded_value
            if decoded_name.lower() == 'set-cookie':
                cookies.append((name, value))
                key, _, rest = decoded_value.partition('=')
                attributes = rest.lower().replace(' ', '').split(';')[1:]
                if 'max-age=0' in attributes or any(a.startswith('max-age=-') for a in attributes):
                    self.cookies.pop(key, None)  # the server deleted it
                else:
                    self.cookies[key] = rest.split(';', 1)[0]
        content_type = headers.get('content-type', '')
        response: Response
        if content_type.startswith('text/html'):
            response = HTMLResponse(data=body.decode())
        elif content_type.startswith(('text/', 'application/octet-stream')):
            response = PlainTextResponse(data=body.decode(errors='replace'))
        elif content_type.startswith('application/json'):
            try:
                response = Response(data=orjson.loads(body) if body else None)
            except orjson.JSONDecodeError:
                # Endpoints may return raw bytes labelled as JSON: hand them back as they are.
                response = Response(data=body)
        else:
            response = Response(data=body)
        response.status_code = start['status']
        response.headers = headers
        response.cookies = cookies
        response.raw_body = body  # type: ignore[attr-defined]
        return response

    async def get(
        self,
        path: str,
        headers: dict[str, Any] | None = None,
        query_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Response:
        return await self.request('GET', path, headers=headers, query_params=query_params, **kwargs)

    async def head(
        self,
        path: str,
        headers: dict[str, Any] | None = None,
        query_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Response:
        return await self.request('HEAD', path, headers=headers, query_params=query_params, **kwargs)

    async def options(
        self,
        path: str,
        headers: dict[str, Any] | None = None,
        query_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Response:
        return await self.request('OPTIONS', path, headers=headers, query_params=query_params, **kwargs)

    async def delete(
        self,
        path: str,
        headers: dict[str, Any] | None = None,
        query_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Response:
        return await self.request('DELETE', path, headers=headers, query_params=query_params, **kwargs)

    async def _send_body(
        self,
        method: str,
        path: str,
        payload: Any,
        headers: dict[str, Any] | None,
        query_params: dict[str, Any] | None,
        content_type: str,
        options: dict[str, Any],
    ) -> Response:
        return await self.request(
            method,
            path,
            payload=payload,
            headers=headers,
            query_params=query_params,
            content_type=content_type,
            **options,
        )

    async def post(
        self,
        path: str,
        payload: Any = None,
        headers: dict[str, Any] | None = None,
        query_params: dict[str, Any] | None = None,
        content_type: str = 'application/json',
        **kwargs: Any,
    ) -> Response:
        return await self._send_body('POST', path, payload, headers, query_params, content_type, kwargs)

    async def put(
        self,
        path: str,
        payload: Any = None,
        headers: dict[str, Any] | None = None,
        query_params: dict[str, Any] | None = None,
        content_type: str = 'application/json',
        **kwargs: Any,
    ) -> Response:
        return await self._send_body('PUT', path, payload, headers, query_params, content_type, kwargs)

    async def patch(
        self,
        path: str,
        payload: Any = None,
        headers: dict[str, Any] | None = None,
        query_params: dict[str, Any] | None = None,
        content_type: str = 'application/json',
        **kwargs: Any,
    ) -> Response:
        return await self._send_body('PATCH', path, payload, headers, query_params, content_type, kwargs)


class WebsocketSession:
    """An open in-process WebSocket: send to the app and receive what it sends."""

    def __init__(self, app: ASGIApp, scope: dict[str, Any]) -> None:
        self.app = app
        self.scope = scope
        self.to_app: asyncio.Queue[Message] = asyncio.Queue()
        self._from_app: collections.deque[Message] = collections.deque()
        self._arrived = asyncio.Event()
        self.messages: list[Message] = []
        self.accepted = False
        self.close_code: int | None = None
        self.close_reason: str = ''
        # The HTTP answer when the app refused the handshake with a denial response (status, headers, JSON data).
        self.response: Response | None = None
        self.task: asyncio.Task[None] | None = None

    async def _start(self) -> None:
        async def send(message: Message) -> None:
            self.messages.append(message)
            self._from_app.append(message)
            self._arrived.set()

        self.task = asyncio.create_task(self.app(self.scope, self.to_app.get, send))  # type: ignore[arg-type]
        await self.to_app.put({'type': 'websocket.connect'})
        first = await self._next()
        if first['type'] == 'websocket.accept':
            self.accepted = True
        elif first['type'] == 'websocket.close':
            self.close_code, self.close_reason = first.get('code', 1000), first.get('reason', '')
        elif first['type'] == 'websocket.http.response.start':
            await self._read_denial(first)

    async def _read_denial(self, start: Message) -> None:
        """The handshake was refused with an HTTP response (the denial-response extension)."""
        chunks: list[bytes] = []
        while True:
            message = await self._next()
            chunks.append(message.get('body', b''))
            if not message.get('more_body', False):
                break
        body = b''.join(chunks)
        headers = ResponseHeaders()
        for name, value in start.get('headers', []):
            headers[name.decode('latin-1')] = value.decode('latin-1')
        try:
            data = orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            data = body
        self.response = Response(data=data, status_code=start['status'])
        self.response.headers = headers

    async def _next(self, timeout: float = 5) -> Message:
        assert self.task is not None
        deadline = asyncio.get_running_loop().time() + timeout
        while not self._from_app:
            if self.task.done():
                exc = self.task.exception()
                if exc is not None:
                    raise exc
                return {'type': 'websocket.close', 'code': self.close_code or 1000, 'reason': ''}
            self._arrived.clear()
            waiter = asyncio.ensure_future(self._arrived.wait())
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                waiter.cancel()
                raise TimeoutError('The application sent nothing within the timeout')
            await asyncio.wait({waiter, self.task}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
        return self._from_app.popleft()

    async def send_text(self, text: str) -> None:
        await self.to_app.put({'type': 'websocket.receive', 'text': text})

    async def send_bytes(self, data: bytes) -> None:
        await self.to_app.put({'type': 'websocket.receive', 'bytes': data})

    async def send_json(self, data: Any) -> None:
        await self.send_text(orjson.dumps(data).decode())

    async def receive(self, timeout: float = 5) -> Message:
        message = await self._next(timeout)
        if message['type'] == 'websocket.close':
            self.close_code, self.close_reason = message.get('code', 1000), message.get('reason', '')
        return message

    async def receive_text(self, timeout: float = 5) -> str:
        message = await self.receive(timeout)
        if message['type'] != 'websocket.send':
            raise RuntimeError(f'Expected a message, got {message}')
        text = message.get('text')
        return text if isinstance(text, str) else message['bytes'].decode()

    async def receive_bytes(self, timeout: float = 5) -> bytes:
        message = await self.receive(timeout)
        if message['type'] != 'websocket.send':
            raise RuntimeError(f'Expected a message, got {message}')
        return cast('bytes', message['bytes'] if message.get('bytes') is not None else message['text'].encode())

    async def receive_json(self, timeout: float = 5) -> Any:
        return orjson.loads(await self.receive_text(timeout))

    async def close(self, code: int = 1000) -> None:
        if self.task is None:
            return
        await self.to_app.put({'type': 'websocket.disconnect', 'code': code})
        try:
            await asyncio.wait_for(self.task, timeout=5)
        finally:
            self.task = None


class WebsocketClient:
    """`async with WebsocketClient(app).session('/ws/')` as ws: ...` — or the one-shot `connect()`."""

    def __init__(self, app: ASGIApp, *, denial_response: bool = True) -> None:
        self.app = app
        self.messages: list[Message] = []
        # Offer the ASGI denial-response extension, as uvicorn does; False behaves like a server without it.
        self.denial_response = denial_response

    def _scope(
        self,
        path: str,
        headers: dict[str, Any] | None,
        query_params: dict[str, Any] | None,
        subprotocols: list[str] | None = None,
    ) -> dict[str, Any]:
        path = _path(path)
        return {
            'type': 'websocket',
            'asgi': {'version': '3.0', 'spec_version': '2.3'},
            'http_version': '1.1',
            'scheme': 'ws',
            'server': ('127.0.0.1', 8000),
            'client': ('127.0.0.1', 55330),
            'path': path,
            'raw_path': path.encode('utf-8'),
            'query_string': _query_string(query_params),
            'headers': _encode_headers(headers),
            'subprotocols': subprotocols or [],
            'state': {},
            'extensions': {'websocket.http.response': {}} if self.denial_response else {},
        }

    @contextlib.asynccontextmanager
    async def session(
        self,
        path: str,
        headers: dict[str, Any] | None = None,
        query_params: dict[str, Any] | None = None,
        subprotocols: list[str] | None = None,
    ) -> AsyncIterator[WebsocketSession]:
        session = WebsocketSession(self.app, self._scope(path, headers, query_params, subprotocols))
        await session._start()
        try:
            yield session
        finally:
            await session.close()
            self.messages.extend(session.messages)

    async def aconnect(
        self, path: str, headers: dict[str, Any] | None = None, query_params: dict[str, Any] | None = None
    ) -> list[Message]:
        """Connect, let `connect()` run, disconnect; return every message the app sent."""
        async with self.session(path, headers=headers, query_params=query_params) as session:
            await asyncio.sleep(0)
        return session.messages

    def connect(
        self, path: str, headers: dict[str, Any] | None = None, query_params: dict[str, Any] | None = None
    ) -> list[Message]:
        """Synchronous `aconnect()` (call it outside a running event loop)."""
        asyncio.run(self.aconnect(path, headers=headers, query_params=query_params))
        return self.messages
