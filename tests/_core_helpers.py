"""Helpers shared by the core tests: build an app from a throw-away configuration module, call it over raw ASGI."""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path
from typing import Any

from panther import Panther

REPO_ROOT = Path(__file__).resolve().parent.parent

_counter = itertools.count()


def make_app(urls: dict[str, Any] | None, **settings: Any) -> Panther:
    """`Panther()` whose configuration module holds exactly `settings` (plus `URLs` when given)."""
    name = f'tests._generated_configs_{next(_counter)}'
    module = types.ModuleType(name)
    module.__dict__.update(settings)
    sys.modules[name] = module
    try:
        return Panther(name, configs=name, urls=urls)
    finally:
        sys.modules.pop(name, None)


class RawCall:
    """Calls an ASGI app with a hand-made HTTP scope and records every `receive()` call and sent message."""

    def __init__(self, chunks: list[bytes] | None = None, *, disconnect_early: bool = False) -> None:
        self.chunks = list(chunks if chunks is not None else [b''])
        self.receive_calls = 0
        self.sent: list[dict[str, Any]] = []
        # After the body: disconnect at once, or (like a well-behaved client) only once the response is complete.
        self.disconnect_early = disconnect_early
        self._complete = asyncio.Event()

    async def receive(self) -> dict[str, Any]:
        self.receive_calls += 1
        if self.chunks:
            chunk = self.chunks.pop(0)
            return {'type': 'http.request', 'body': chunk, 'more_body': bool(self.chunks)}
        if not self.disconnect_early:
            await self._complete.wait()
        return {'type': 'http.disconnect'}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)
        if message['type'] == 'http.response.body' and not message.get('more_body', False):
            self._complete.set()

    async def __call__(
        self,
        app: Any,
        method: str = 'GET',
        path: str = '/',
        *,
        headers: list[tuple[bytes, bytes]] | None = None,
        query_string: bytes = b'',
    ) -> RawCall:
        scope = {
            'type': 'http',
            'asgi': {'version': '3.0', 'spec_version': '2.4'},
            'http_version': '1.1',
            'method': method,
            'scheme': 'http',
            'path': path,
            'raw_path': path.encode(),
            'query_string': query_string,
            'root_path': '',
            'headers': headers or [],
            'client': ('127.0.0.1', 50000),
            'server': ('127.0.0.1', 8000),
        }
        try:
            await app(scope, self.receive, self.send)
        finally:
            self._complete.set()
        return self

    @property
    def status(self) -> int:
        return self.sent[0]['status']

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        return list(self.sent[0]['headers'])

    @property
    def body(self) -> bytes:
        return b''.join(m.get('body', b'') for m in self.sent if m['type'] == 'http.response.body')


def run_interpreter(
    arguments: list[str],
    cwd: Path,
    *,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = 60,
    **options: Any,
) -> subprocess.CompletedProcess[str]:
    """`python <arguments>` in a fresh interpreter with the repository on the path (output captured as text)."""
    environment = dict(os.environ if env is None else env)
    environment['PYTHONPATH'] = os.pathsep.join(filter(None, [str(REPO_ROOT), environment.get('PYTHONPATH')]))
    return subprocess.run(
        [sys.executable, *arguments],
        cwd=cwd,
        env=environment,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        **options,
    )


def run_python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter (import side effects are only visible there), repo on the path."""
    return run_interpreter(['-c', textwrap.dedent(code)], cwd)


def run_panther(*args: str, cwd: Path, columns: int = 120, **options: Any) -> subprocess.CompletedProcess[str]:
    """The `panther` command line in a fresh interpreter (`COLUMNS` fixes the width rich lays tables out in)."""
    env = {**(options.pop('env', None) or os.environ), 'COLUMNS': str(columns)}
    return run_interpreter(['-m', 'panther.cli.main', *args], cwd, env=env, **options)


async def check_unique_sign_up(client: Any, monkeypatch: Any, user_model: Any, url: str, password: str) -> None:
    """Sign-up stays unique when the endpoint's `exists()` fast path misses: the unique index is the guarantee.

    Shared by the example apps' tests (each example has the same sign-up contract).
    """

    async def never(cls: type, *args: object, **kwargs: object) -> bool:
        return False

    monkeypatch.setattr(user_model, 'exists', classmethod(never))
    response = await client.post(url, payload={'username': 'Alice', 'password': password})
    assert response.status_code == 201
    response = await client.post(url, payload={'username': 'alice', 'password': password})
    assert response.status_code == 400
    assert response.data == {'username': 'This username is taken.'}
    responses = await asyncio.gather(
        *(client.post(url, payload={'username': 'bob', 'password': password}) for _ in range(2))
    )
    assert sorted(response.status_code for response in responses) == [201, 400]
    assert await user_model.count() == 2


def refusal_reason(response: Any) -> str:
    """Check a 401 answer (the generic 5.x body, an RFC 6750 challenge) and return the reason the challenge gives."""
    import re

    assert (response.status_code, response.data) == (401, {'detail': 'Authentication Error'})
    challenge = response.headers['WWW-Authenticate']
    match = re.fullmatch(r'Bearer error="invalid_token", error_description="([^"]*)"', challenge)
    assert match is not None, challenge
    return match.group(1)


ALL_ALLOW = 'GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS'


def error_messages(caplog: Any) -> list[str]:
    """The messages of the ERROR records `caplog` captured."""
    import logging

    return [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]


def raises_logged(caplog: Any, build: Any) -> str:
    """Run `build()`, which must raise PantherError; check the same message was logged at ERROR once."""
    import logging

    import pytest

    from panther.exceptions import PantherError

    caplog.clear()
    with caplog.at_level(logging.DEBUG), pytest.raises(PantherError) as info:
        build()
    message = info.value.args[0]
    assert error_messages(caplog) == [message]
    return str(message)


class RoundTrips:
    """Counts what is sent to Redis: each send is one round trip (a command, a script or a whole pipeline)."""

    def __init__(self, monkeypatch: Any) -> None:  # a pytest.MonkeyPatch
        from redis.asyncio.connection import AbstractConnection

        self.count = 0
        original = AbstractConnection.send_packed_command

        async def counting(connection: Any, *args: Any, **kwargs: Any) -> None:
            self.count += 1
            await original(connection, *args, **kwargs)

        monkeypatch.setattr(AbstractConnection, 'send_packed_command', counting)
        from panther._internal import redis_wire

        original_send = redis_wire.RedisWire.send_nowait

        def counting_send(wire: Any, *args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return original_send(wire, *args, **kwargs)

        monkeypatch.setattr(redis_wire.RedisWire, 'send_nowait', counting_send)

    async def during(self, call: Any) -> tuple[Any, int]:
        before = self.count
        result = await call
        return result, self.count - before
