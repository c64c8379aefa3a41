"""`panther run` serves with production limits: request-head size and deadline, keep-alive timeout, concurrency.

The attacks are replayed against a real `panther run` process on 127.0.0.1 (scaled down from the report: a
64 MiB header stalled other clients, and 300 idle or 1-byte-per-second connections were never closed).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from panther._internal.server import (
    DEFAULT_LIMIT_CONCURRENCY,
    DEFAULT_TIMEOUT_KEEP_ALIVE,
    HEADER_TIMEOUT_ENV,
    MAX_HEADER_SIZE_ENV,
    PROTOCOL_PATH,
    server_arguments,
)
from tests._core_helpers import REPO_ROOT
from tests._uvicorn import free_port, stop, wait_until_listening

REQUEST = b'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'


@pytest.fixture(scope='module')
def port() -> Iterator[int]:
    """`panther run` with a 1 s head deadline and keep-alive timeout, everything else at its default."""
    chosen = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(('UVICORN_', 'PANTHER_MAX', 'PANTHER_HEADER'))}
    command = [sys.executable, '-m', 'panther.cli.main', 'run', 'examples.hello.main:app', '--port', str(chosen)]
    command += ['--header-timeout', '1', '--timeout-keep-alive', '1', '--no-access-log']
    server = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_listening(server, chosen)
        yield chosen
    finally:
        stop(server)


async def get(port: int) -> float:
    """One ordinary request on a new connection; its duration in seconds."""
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection('127.0.0.1', port)
    writer.write(REQUEST)
    status = await asyncio.wait_for(reader.readline(), timeout=5)
    writer.close()
    assert status.startswith(b'HTTP/1.1 200')
    return time.perf_counter() - started


async def read_until_closed(reader: asyncio.StreamReader, timeout: float = 5) -> bytes:
    try:
        return await asyncio.wait_for(reader.read(), timeout=timeout)
    except ConnectionResetError:
        return b''


async def test_an_oversized_header_is_refused_with_431(port: int) -> None:
    reader, writer = await asyncio.open_connection('127.0.0.1', port)
    writer.write(b'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ' + b'a' * 40_000 + b'\r\n\r\n')
    answer = await read_until_closed(reader)
    writer.close()
    assert answer.startswith(b'HTTP/1.1 431 Request Header Fields Too Large\r\n')
    assert answer.endswith(b'{"detail":"The request line and headers are larger than 32768 bytes"}')


async def test_a_header_flood_is_cut_off_without_stalling_other_clients(port: int) -> None:
    async def flood() -> int:
        """Send a 16 MiB header in 64 KiB writes; how many bytes went out before the server closed."""
        _, writer = await asyncio.open_connection('127.0.0.1', port)
        sent = 0
        try:
            writer.write(b'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ')
            while sent < 16 * 1024 * 1024:
                writer.write(b'a' * 65536)
                await writer.drain()
                sent += 65536
        except (ConnectionResetError, BrokenPipeError):
            pass
        writer.close()
        return sent

    attack = asyncio.create_task(flood())
    latencies = [await get(port)]
    while not attack.done():
        latencies.append(await get(port))
    assert await attack < 16 * 1024 * 1024  # refused long before the whole header was sent
    assert max(latencies) < 0.5


async def test_idle_and_stalled_connections_are_closed_after_the_head_deadline(port: int) -> None:
    started = time.monotonic()
    connections = [await asyncio.open_connection('127.0.0.1', port) for _ in range(50)]
    # Half send nothing; the other half start a request and stop mid-head (a slowloris client).
    for _, writer in connections[::2]:
        writer.write(b'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ')
    answers = await asyncio.gather(*(read_until_closed(reader) for reader, _ in connections))
    elapsed = time.monotonic() - started
    for _, writer in connections:
        writer.close()
    assert all(answer.startswith(b'HTTP/1.1 408 Request Timeout\r\n') for answer in answers)
    assert 0.9 < elapsed < 4
    assert await get(port) < 0.5  # the server is still serving


async def test_an_idle_keep_alive_connection_is_closed_after_the_configured_timeout(port: int) -> None:
    reader, writer = await asyncio.open_connection('127.0.0.1', port)
    writer.write(REQUEST)
    assert (await reader.readline()).startswith(b'HTTP/1.1 200')
    await reader.readuntil(b'\r\n\r\n')
    assert await reader.readexactly(32) == b'{"message":"Hello from Panther"}'
    answered = time.monotonic()
    # Idle on a kept-alive connection: closed without an answer once `--timeout-keep-alive 1` has passed.
    assert await read_until_closed(reader) == b''
    assert 0.9 < time.monotonic() - answered < 4
    writer.close()


async def test_a_second_request_on_a_kept_alive_connection_gets_a_fresh_deadline(port: int) -> None:
    reader, writer = await asyncio.open_connection('127.0.0.1', port)
    for _ in range(2):
        writer.write(REQUEST)
        assert (await asyncio.wait_for(reader.readline(), timeout=5)).startswith(b'HTTP/1.1 200')
        await reader.readuntil(b'\r\n\r\n')
        await reader.readexactly(32)
    writer.close()


# The command line handed to uvicorn


@pytest.fixture
def no_overrides(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith('UVICORN_') or name in {MAX_HEADER_SIZE_ENV, HEADER_TIMEOUT_ENV}:
            monkeypatch.delenv(name)
    return monkeypatch


def test_production_defaults_are_added(no_overrides: pytest.MonkeyPatch) -> None:
    assert server_arguments(['main:app']) == [
        'main:app',
        '--http',
        PROTOCOL_PATH,
        '--timeout-keep-alive',
        str(DEFAULT_TIMEOUT_KEEP_ALIVE),
        '--limit-concurrency',
        str(DEFAULT_LIMIT_CONCURRENCY),
    ]


def test_the_command_line_and_uvicorn_variables_win(no_overrides: pytest.MonkeyPatch) -> None:
    args = ['main:app', '--timeout-keep-alive=30', '--limit-concurrency', '50', '--http', 'httptools']
    assert server_arguments(args) == args
    no_overrides.setenv('UVICORN_LIMIT_CONCURRENCY', '10')
    assert '--limit-concurrency' not in server_arguments(['main:app'])
    assert server_arguments(['main:app', '--help']) == ['main:app', '--help']


def test_h11_gets_the_same_header_limit(no_overrides: pytest.MonkeyPatch) -> None:
    args = server_arguments(['main:app', '--http', 'h11', '--max-header-size', '8192'])
    assert args[:3] == ['main:app', '--http', 'h11']
    assert args[3:5] == ['--h11-max-incomplete-event-size', '8192']


def test_panther_options_go_to_the_environment(no_overrides: pytest.MonkeyPatch) -> None:
    args = server_arguments(['main:app', '--max-header-size', '8192', '--header-timeout=2.5', '--port', '9000'])
    assert args[:3] == ['main:app', '--port', '9000']
    assert (os.environ[MAX_HEADER_SIZE_ENV], os.environ[HEADER_TIMEOUT_ENV]) == ('8192', '2.5')


@pytest.mark.parametrize(
    ('args', 'message'),
    [
        (['main:app', '--max-header-size', 'big'], "PANTHER_MAX_HEADER_SIZE must be a number, not 'big'"),
        (['main:app', '--header-timeout', '0'], "PANTHER_HEADER_TIMEOUT must be positive, not '0'"),
        (['main:app', '--header-timeout'], 'panther run: --header-timeout needs a value'),
    ],
)
def test_bad_limits_stop_before_the_server_starts(
    no_overrides: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    with pytest.raises(SystemExit, match=message):
        server_arguments(args)
