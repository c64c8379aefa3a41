"""Small public helpers: `.env` loading, secrets, hashing, time windows and running coroutines from sync code."""

from __future__ import annotations

import asyncio
import base64
import contextvars
import hashlib
import os
import threading
from collections.abc import Coroutine
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar, cast, overload

import pytz

from panther.configs import config

__all__ = [
    'URANDOM_SIZE',
    'Singleton',
    'absolute_url',
    'floor_datetime',
    'generate_hash_value_from_string',
    'generate_secret_key',
    'load_env',
    'round_datetime',
    'run_coroutine',
    'scrypt',
    'timezone_now',
]

T = TypeVar('T')

URANDOM_SIZE = 16

# Parameters of the stored password format (`salt.hex() + md5(scrypt(...))`); changing any of them would make
# every password already stored in a database unverifiable.
_SCRYPT_N = 16384
_SCRYPT_R = 8
_SCRYPT_P = 10
_SCRYPT_DKLEN = 64
# scrypt needs about 128 * r * (n + p) bytes (~16 MiB here). OpenSSL's default ceiling is 32 MiB, which is
# enough today, but builds differ in how they account overhead, so the ceiling is stated explicitly.
_SCRYPT_MAXMEM = 64 * 1024 * 1024


class Singleton:
    """One instance per subclass; `__init__` still runs on every instantiation (Python's normal behaviour)."""

    _instances: ClassVar[dict[type, Any]] = {}

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        if cls not in Singleton._instances:
            Singleton._instances[cls] = super().__new__(cls)
        return Singleton._instances[cls]


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in {'"', "'"}:
        return value[1:-1]
    return value


def absolute_url(path: str, request: Any = None) -> str:
    """`path` (e.g. `/posts/hello/`) as an absolute URL on this site.

    The site's address comes from the `BASE_URL` setting (`'https://blog.example'`), never from the request when
    it is set: the `Host` header is written by the client, and links built from it can be made to point
    anywhere (and end up in a cached or mailed page). Without `BASE_URL` — development — the request's scheme
    and `Host` are used, and then a request is required.
    """
    base = config.BASE_URL
    if base:
        return f'{str(base).rstrip("/")}/{path.lstrip("/")}'
    if request is None:
        raise ValueError('`absolute_url()` needs the `BASE_URL` setting or a request')
    host = request.headers.get('host') or 'localhost'
    return f'{request.scheme or "http"}://{host}/{path.lstrip("/")}'


def load_env(env_file: str | Path | None, /) -> dict[str, str | bool]:
    """Read a `.env` file into a dict and export every pair to `os.environ`.

    `true`/`false` (any case) come back as `bool`; `os.environ` always gets the original string.
    """
    if env_file is None or not Path(env_file).is_file():
        raise ValueError(f'"{env_file}" is not a file.')

    variables: dict[str, str | bool] = {}
    with open(env_file, encoding='utf-8') as file:
        for raw_line in file:
            line = raw_line.strip()
            if not line or line.startswith('#') or '=' not in line:
                continue
            key, value = line.split('=', 1)
            key = key.strip()
            if not key:
                continue
            value = _unquote(value.strip())
            lowered = value.lower()
            if lowered == 'true':
                variables[key] = True
            elif lowered == 'false':
                variables[key] = False
            else:
                variables[key] = value
            os.environ[key] = value
    return variables


def generate_secret_key() -> str:
    """44-character URL-safe base64 of 32 random bytes; valid as a Fernet key."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def _check_delta(delta: timedelta) -> None:
    if delta <= timedelta(0):
        raise ValueError('`delta` should be a positive timedelta.')


def round_datetime(dt: datetime, delta: timedelta) -> datetime:
    """Nearest multiple of `delta` counted from `datetime.min` (ties go to the even multiple).

    Integer arithmetic on timedeltas keeps this exact; a float quotient would lose microseconds for dates far
    from year 1.
    """
    _check_delta(delta)
    tzinfo = dt.tzinfo
    naive = dt.replace(tzinfo=None)
    quotient, remainder = divmod(naive - datetime.min, delta)
    doubled = remainder * 2
    if doubled > delta or (doubled == delta and quotient % 2 == 1):
        quotient += 1
    return (datetime.min + quotient * delta).replace(tzinfo=tzinfo)


def floor_datetime(dt: datetime, delta: timedelta) -> datetime:
    """Start of the `delta`-long window containing `dt` (windows counted from `datetime.min`).

    Throttling and caching use this so a window never starts in the future and always lasts a full `delta`.
    Aware datetimes are floored on their wall-clock time and keep their `tzinfo`.
    """
    _check_delta(delta)
    tzinfo = dt.tzinfo
    naive = dt.replace(tzinfo=None)
    return (datetime.min + ((naive - datetime.min) // delta) * delta).replace(tzinfo=tzinfo)


def generate_hash_value_from_string(string_value: str, /) -> str:
    """Deterministic SHA-256 hex digest of the UTF-8 bytes of `string_value`."""
    return hashlib.sha256(string_value.encode('utf-8')).hexdigest()


@overload
def scrypt(password: str | bytes, salt: bytes, digest: Literal[False] = False) -> bytes: ...


@overload
def scrypt(password: str | bytes, salt: bytes, digest: Literal[True]) -> str: ...


def scrypt(password: str | bytes, salt: bytes, digest: bool = False) -> bytes | str:
    """Derive a 64-byte key with scrypt; with `digest=True` return the MD5 hex digest of that key.

    This is CPU-bound (tens of milliseconds): async callers should run it through the thread helper.
    """
    secret = password.encode('utf-8') if isinstance(password, str) else password
    derived_key = hashlib.scrypt(
        secret,
        salt=salt,
        n=_SCRYPT_N,
        r=_SCRYPT_R,
        p=_SCRYPT_P,
        dklen=_SCRYPT_DKLEN,
        maxmem=_SCRYPT_MAXMEM,
    )
    if digest:
        # MD5 only shortens the derived key to the 32 hex characters of the stored format; it is not what
        # makes the hash strong.
        return hashlib.md5(derived_key, usedforsecurity=False).hexdigest()
    return derived_key


def timezone_now() -> datetime:
    """Aware current time in `config.TIMEZONE` (UTC when unset)."""
    return datetime.now(pytz.timezone(config.TIMEZONE or 'UTC'))


def run_coroutine(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run `coroutine` to completion from synchronous code and return its result.

    Without a running loop in this thread it uses `asyncio.run`. Inside a running loop that loop cannot be
    re-entered, so the coroutine runs on a fresh loop in a helper thread while this thread waits.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)

    outcome: dict[str, Any] = {}
    context = contextvars.copy_context()

    def runner() -> None:
        try:
            outcome['result'] = context.run(asyncio.run, coroutine)
        except BaseException as exc:  # re-raised in the calling thread, so nothing is lost
            outcome['error'] = exc

    thread = threading.Thread(target=runner, name='panther-run-coroutine')
    thread.start()
    thread.join()
    if 'error' in outcome:
        raise outcome['error']
    return cast(T, outcome['result'])
