"""Production limits for `panther run`: request-head size and deadline, keep-alive timeout, concurrency.

uvicorn's httptools protocol accepts request heads of any size and waits forever for a head that trickles in,
so one client could hold hundreds of MiB of server memory or hundreds of idle connections. `panther run` serves
with `PantherHTTPProtocol` (httptools, plus a limit on the request line and headers and a deadline for receiving
them) and passes uvicorn a keep-alive timeout and a concurrency limit, unless the command line says otherwise.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = [
    'DEFAULT_HEADER_TIMEOUT',
    'DEFAULT_LIMIT_CONCURRENCY',
    'DEFAULT_MAX_HEADER_SIZE',
    'DEFAULT_TIMEOUT_KEEP_ALIVE',
    'HEADER_TIMEOUT_ENV',
    'MAX_HEADER_SIZE_ENV',
    'PantherHTTPProtocol',
    'server_arguments',
]

DEFAULT_MAX_HEADER_SIZE = 32 * 1024  # request line + headers, like nginx's default 4 x 8 KiB buffers
DEFAULT_HEADER_TIMEOUT = 10.0  # seconds to receive a whole request head
DEFAULT_TIMEOUT_KEEP_ALIVE = 5  # seconds an idle keep-alive connection stays open
DEFAULT_LIMIT_CONCURRENCY = 1000  # connections + running requests per worker before 503

# `panther run --max-header-size N --header-timeout S` set these, so every worker process sees them.
MAX_HEADER_SIZE_ENV = 'PANTHER_MAX_HEADER_SIZE'
HEADER_TIMEOUT_ENV = 'PANTHER_HEADER_TIMEOUT'

PROTOCOL_PATH = 'panther._internal.server:PantherHTTPProtocol'


class _HeadTooLarge(Exception):
    """Raised from a parser callback; httptools turns it into a parser error."""


def _positive(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SystemExit(f'{name} must be a number, not {raw!r}') from None
    if value <= 0:
        raise SystemExit(f'{name} must be positive, not {raw!r}')
    return value


class PantherHTTPProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a size limit and a deadline for each request head.

    A head (request line and headers) over `PANTHER_MAX_HEADER_SIZE` bytes is answered 431 and the connection
    closed as soon as the limit is passed; a connection that has not sent a whole head within
    `PANTHER_HEADER_TIMEOUT` seconds of opening (or of its previous response) is answered 408 and closed.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_head_size = int(_positive(MAX_HEADER_SIZE_ENV, DEFAULT_MAX_HEADER_SIZE))
        self.head_timeout = _positive(HEADER_TIMEOUT_ENV, DEFAULT_HEADER_TIMEOUT)
        self.head_size = 0  # bytes of the current head that did not complete in the chunk they came in
        self.head_parsed = 0  # bytes of the request line and headers the parser has reported
        self.awaiting_head = False
        self.head_too_large = False
        self.head_timer: asyncio.TimerHandle | None = None

    def _await_head(self) -> None:
        self.awaiting_head = True
        self.head_size = self.head_parsed = 0
        if self.head_timer is not None:
            self.head_timer.cancel()
        self.head_timer = self.loop.call_later(self.head_timeout, self._head_deadline)

    def _head_deadline(self) -> None:
        self.head_timer = None
        if self.awaiting_head and not self.transport.is_closing():
            self._refuse(408, 'Request Timeout', f'The request head did not arrive within {self.head_timeout:g} s')

    def _refuse(self, status: int, reason: str, detail: str) -> None:
        body = orjson.dumps({'detail': detail})
        head = (
            f'HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n'
            f'content-length: {len(body)}\r\nconnection: close\r\n\r\n'
        )
        self.transport.write(head.encode('latin-1') + body)
        self.transport.close()

    def _count(self, size: int) -> None:
        self.head_parsed += size
        if self.head_parsed > self.max_head_size:
            self.head_too_large = True
            raise _HeadTooLarge

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.awaiting_head and not self.head_too_large and not self.transport.is_closing():
            # A header still arriving is not reported by the parser yet, but it is buffered: count the bytes.
            self.head_size += len(data)
            if self.head_size > self.max_head_size:
                self.head_too_large = True
                self.send_400_response('')

    def send_400_response(self, msg: str) -> None:
        if self.head_too_large:
            self._refuse(
                431,
                'Request Header Fields Too Large',
                f'The request line and headers are larger than {self.max_head_size} bytes',
            )
            return
        super().send_400_response(msg)

    # httptools callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.awaiting_head = True

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self.awaiting_head = False
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and not self.pipeline and self.cycle.keep_alive:
            self._await_head()


# `panther run` options: (flag, uvicorn environment variable, default). A flag given on the command line or
# through uvicorn's UVICORN_* variable wins over the default.
_UVICORN_DEFAULTS = (
    ('--timeout-keep-alive', 'UVICORN_TIMEOUT_KEEP_ALIVE', str(DEFAULT_TIMEOUT_KEEP_ALIVE)),
    ('--limit-concurrency', 'UVICORN_LIMIT_CONCURRENCY', str(DEFAULT_LIMIT_CONCURRENCY)),
)
_PANTHER_OPTIONS = {'--max-header-size': MAX_HEADER_SIZE_ENV, '--header-timeout': HEADER_TIMEOUT_ENV}


def _given(args: list[str], flag: str) -> bool:
    return any(arg == flag or arg.startswith(f'{flag}=') for arg in args)


def _option_value(args: list[str], flag: str) -> str | None:
    for index, arg in enumerate(args):
        if arg.startswith(f'{flag}='):
            return arg.partition('=')[2]
        if arg == flag and index + 1 < len(args):
            return args[index + 1]
    return None


def _take_panther_options(args: list[str]) -> list[str]:
    """Remove `--max-header-size` / `--header-timeout` (uvicorn does not know them) into the environment."""
    rest: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        flag, equals, value = arg.partition('=')
        if flag in _PANTHER_OPTIONS:
            if not equals:
                if index + 1 >= len(args):
                    raise SystemExit(f'panther run: {flag} needs a value')
                value = args[index + 1]
                index += 1
            os.environ[_PANTHER_OPTIONS[flag]] = value
            _positive(_PANTHER_OPTIONS[flag], 1)  # a bad value stops here, before uvicorn starts
        else:
            rest.append(arg)
        index += 1
    return rest


def server_arguments(args: list[str]) -> list[str]:
    """The uvicorn command line for `panther run ARGS`: Panther's own options moved into the environment, and the
    production defaults added for every limit the command line (or a UVICORN_* variable) does not set."""
    if '--help' in args or '--version' in args:
        return args
    args = _take_panther_options(args)
    # A bad value set in the environment stops here, before uvicorn starts.
    _positive(MAX_HEADER_SIZE_ENV, DEFAULT_MAX_HEADER_SIZE)
    _positive(HEADER_TIMEOUT_ENV, DEFAULT_HEADER_TIMEOUT)
    extra: list[str] = []
    http = _option_value(args, '--http') or os.environ.get('UVICORN_HTTP')
    if http is None:
        extra += ['--http', PROTOCOL_PATH]
    elif http == 'h11' and not _given(args, '--h11-max-incomplete-event-size'):
        # h11 enforces its own limit on an incomplete request head: give it the same size.
        size = int(_positive(MAX_HEADER_SIZE_ENV, DEFAULT_MAX_HEADER_SIZE))
        extra += ['--h11-max-incomplete-event-size', str(size)]
    for flag, variable, default in _UVICORN_DEFAULTS:
        if not _given(args, flag) and variable not in os.environ:
            extra += [flag, default]
    return [*args, *extra]
