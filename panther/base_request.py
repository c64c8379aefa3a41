"""What HTTP requests and WebSocket connections share: scope access, headers, query, cookies, path variables."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qsl

from panther.exceptions import BadRequestAPIError

if TYPE_CHECKING:
    from panther._internal.types import Receive, Scope, Send

__all__ = ['Address', 'BaseRequest', 'Headers']


class Address:
    def __init__(self, ip: str, port: int) -> None:
        self.ip = ip
        self.port = port

    def __str__(self) -> str:
        return f'{self.ip}:{self.port}'

    def __repr__(self) -> str:
        return f'Address(ip={self.ip!r}, port={self.port!r})'


def _pythonic(name: str) -> str:
    return name.lower().replace('-', '_')


class Headers:
    """Request headers. `headers.content_type`, `headers['Content-Type']` and `'content-type' in headers` all work.

    A repeated header keeps its last value here; `getlist()` returns every value.
    """

    __slots__ = ('__dict__', '_all', '_pythonic_map')

    def __init__(self, raw: list[tuple[bytes, bytes]] | list[list[bytes]]) -> None:
        values: dict[str, str] = {}
        pythonic: dict[str, str] = {}
        self._all: list[tuple[str, str]] = []
        name = ''
        try:
            for name_bytes, value_bytes in raw:
                name = name_bytes.decode('latin-1')
                value = value_bytes.decode('utf-8')
                values[name] = value
                pythonic[_pythonic(name)] = value
                self._all.append((name, value))
        except UnicodeDecodeError as exc:
            raise BadRequestAPIError(detail=f'Header `{name}` is not valid UTF-8') from exc
        self._pythonic_map = pythonic
        # __dict__ is public per the API contract: it holds the raw {name: value} mapping only.
        self.__dict__.update(values)

    def __getattr__(self, item: str) -> str | None:
        # Only reached when the attribute is not a raw header name either.
        if item.startswith('__'):
            raise AttributeError(item)
        return self._pythonic_map.get(item)

    def __getitem__(self, item: str) -> str | None:
        value = self.__dict__.get(item)
        if value is None:
            value = self._pythonic_map.get(_pythonic(item))
        return value

    def get(self, item: str, default: str | None = None) -> str | None:
        value = self[item]
        return default if value is None else value

    def getlist(self, item: str) -> list[str]:
        wanted = _pythonic(item)
        return [value for name, value in self._all if _pythonic(name) == wanted]

    def __contains__(self, item: object) -> bool:
        if not isinstance(item, str):
            return False
        return item in self.__dict__ or _pythonic(item) in self._pythonic_map

    def __iter__(self) -> Iterator[str]:
        return iter(self.__dict__)

    def __len__(self) -> int:
        return len(self.__dict__)

    def items(self) -> list[tuple[str, str]]:
        return list(self.__dict__.items())

    def __str__(self) -> str:
        return 'Headers(' + ', '.join(f'{k}={v}' for k, v in self.__dict__.items()) + ')'

    __repr__ = __str__

    def get_cookies(self) -> dict[str, str]:
        cookie = self['cookie']
        if not cookie:
            return {}
        cookies: dict[str, str] = {}
        for piece in cookie.split(';'):
            if '=' in piece:
                name, _, value = piece.partition('=')
            else:
                name, value = '', piece
            name, value = name.strip(), value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            if name or value:
                cookies[name] = value
        return cookies


def _decode_query(query_string: bytes) -> list[tuple[str, str]]:
    try:
        text = query_string.decode('ascii') if query_string.isascii() else query_string.decode('utf-8')
        return parse_qsl(text, encoding='utf-8', errors='strict')
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequestAPIError(detail='Query string is not valid UTF-8') from exc


class BaseRequest:
    # `__dict__` stays so middlewares can attach their own attributes.
    __slots__ = (
        '__dict__',
        '_cookies',
        '_headers',
        '_query_list',
        '_query_params',
        'asgi_receive',
        'asgi_send',
        'path_variables',
        'scope',
    )

    # A class-level default: set on the instance only when authentication assigns it.
    user: Any = None
    # The matched route pattern (`'notes/<note_id>'`), set by the router; throttle and cache keys use it, never
    # the raw path, so spelling a path differently cannot open a new bucket.
    route: str | None = None
    # Set by an endpoint pipeline that throttles after authenticating: a JWT's revocation check may then wait for
    # the throttle step and share its Store round trip (`pending_revocation`, see `panther.authentications`).
    defer_revocation_check: bool = False
    pending_revocation: Any = None
    # Lazy slots, filled on first use.
    _headers: Headers
    _query_list: list[tuple[str, str]]
    _query_params: dict[str, str]
    _cookies: dict[str, str]

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Only what every request needs is set here; the lazy slots stay empty until first use.
        self.scope = scope
        self.asgi_receive = receive
        self.asgi_send = send
        self.path_variables: dict[str, str] | None = None

    def raw_header(self, name: bytes) -> bytes | None:
        """One header's raw value by lower-case name, without building `Headers` (used on the hot path)."""
        headers = self.scope.get('headers') or ()
        for key, value in headers:
            if key == name:
                return cast('bytes | None', value)
        # ASGI servers send lower-case names; hand-built scopes may not.
        for key, value in headers:
            if key.lower() == name:
                return cast('bytes | None', value)
        return None

    @property
    def headers(self) -> Headers:
        try:
            return self._headers
        except AttributeError:
            self._headers = Headers(self.scope.get('headers') or [])
            return self._headers

    def _query(self) -> list[tuple[str, str]]:
        try:
            return self._query_list
        except AttributeError:
            self._query_list = _decode_query(self.scope.get('query_string') or b'')
            return self._query_list

    @property
    def query_params(self) -> dict[str, str]:
        """Query parameters; for a repeated key the last value wins (see `get_query_list`)."""
        try:
            return self._query_params
        except AttributeError:
            self._query_params = dict(self._query())
            return self._query_params

    def get_query_list(self, key: str) -> list[str]:
        """Every value of a repeated query parameter, in order (`?tag=a&tag=b` → `['a', 'b']`)."""
        return [value for name, value in self._query() if name == key]

    @property
    def cookies(self) -> dict[str, str]:
        try:
            return self._cookies
        except AttributeError:
            self._cookies = self.headers.get_cookies()
            return self._cookies

    @property
    def path(self) -> str:
        return cast(str, self.scope['path'])

    @property
    def server(self) -> Address:
        return Address(*self.scope['server'])

    @property
    def client(self) -> Address | None:
        client = self.scope.get('client')
        return Address(*client) if client else None

    @property
    def http_version(self) -> str | None:
        return self.scope.get('http_version')

    @property
    def scheme(self) -> str | None:
        return self.scope.get('scheme')

    def collect_path_variables(self, found_path: str) -> None:
        variables: dict[str, str] = {}
        for pattern, value in zip(found_path.strip('/').split('/'), self.path.strip('/').split('/'), strict=False):
            if pattern.startswith('<'):
                variables[pattern.strip('<> ')] = value
        self.path_variables = variables
