"""Several workers without Redis: detecting the worker count and the start-up WARNING (per worker)."""

from __future__ import annotations

import logging
import os
import selectors
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from panther import Panther
from panther._internal.workers import WORKERS_ENV, detected_workers, workers_from_args
from panther.app import API
from panther.test import APIClient

ROOT = Path(__file__).resolve().parent.parent
WARNING = 'workers without REDIS: logout, spent refresh tokens, throttling limits and the response cache hold'


@pytest.mark.parametrize(
    ('argv', 'environ', 'expected'),
    [
        (['main', 'app:app'], {}, 1),
        (['main', 'app:app', '--workers', '4'], {}, 4),
        (['uvicorn', 'app:app', '--workers=3'], {}, 3),
        (['gunicorn', '-w', '5', '-k', 'uvicorn.workers.UvicornWorker', 'app:app'], {}, 5),
        (['main', 'app:app'], {'WEB_CONCURRENCY': '2'}, 2),
        (['main', 'app:app', '--workers', '4'], {WORKERS_ENV: '6'}, 6),
        (['main', 'app:app', '--workers', 'many'], {'WEB_CONCURRENCY': '0'}, 1),
        (['main', 'app:app', '--workers'], {}, 1),
    ],
)
def test_detected_workers(argv: list[str], environ: dict[str, str], expected: int) -> None:
    assert detected_workers(argv, environ) == expected


def test_workers_from_args_ignores_other_options() -> None:
    assert workers_from_args(['app:app', '--port', '8000']) is None


@API()
async def hello() -> dict[str, str]:
    return {'hello': 'world'}


async def _start(caplog: pytest.LogCaptureFixture, **settings: object) -> list[str]:
    module = sys.modules[__name__]
    for name, value in settings.items():
        setattr(module, name, value)
    try:
        app = Panther(__name__, configs=__name__, urls={'': hello})
        with caplog.at_level(logging.WARNING, logger='panther'):
            async with APIClient(app):  # runs the lifespan start-up
                pass
    finally:
        for name in settings:
            delattr(module, name)
    return [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]


async def test_several_workers_without_redis_warn_at_start_up(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(WORKERS_ENV, '4')
    warnings = await _start(caplog)
    assert len(warnings) == 1
    assert warnings[0].startswith(f'4 {WARNING}')
    assert 'a limit of N allows up to 4 x N. Configure REDIS' in warnings[0]


async def test_one_worker_does_not_warn(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(WORKERS_ENV, raising=False)
    monkeypatch.delenv('WEB_CONCURRENCY', raising=False)
    monkeypatch.setattr(sys, 'argv', ['main', 'app:app'])
    assert await _start(caplog) == []


async def test_several_workers_with_redis_do_not_warn(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, redis_address: tuple[str, int]
) -> None:
    monkeypatch.setenv(WORKERS_ENV, '4')
    host, port = redis_address
    assert await _start(caplog, REDIS={'host': host, 'port': port}) == []


APP = """
from panther import Panther
from panther.app import API


@API()
async def hello():
    return {'hello': 'world'}


app = Panther(__name__, configs=__name__, urls={'': hello})
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
def test_panther_run_with_two_workers_and_no_redis_warns_in_each_worker(tmp_path: Path) -> None:
    (tmp_path / 'app.py').write_text(textwrap.dedent(APP))
    env = {**os.environ, 'PYTHONPATH': f'{ROOT}{os.pathsep}{tmp_path}'}
    env.pop(WORKERS_ENV, None)
    env.pop('WEB_CONCURRENCY', None)
    command = [sys.executable, '-m', 'panther.cli.main', 'run', 'app:app', '--workers', '2']
    command += ['--host', '127.0.0.1', '--port', str(_free_port())]
    server = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert server.stdout is not None
    output = b''
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(server.stdout, selectors.EVENT_READ)
            deadline = time.monotonic() + 30
            while output.count(WARNING.encode()) < 2 and time.monotonic() < deadline:
                if selector.select(timeout=max(0.0, deadline - time.monotonic())):
                    chunk = os.read(server.stdout.fileno(), 65536)
                    if not chunk:
                        break
                    output += chunk
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        server.stdout.close()
    text = output.decode(errors='replace')
    assert text.count(f'2 {WARNING}') == 2, text
