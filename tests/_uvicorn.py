"""Real uvicorn processes on 127.0.0.1 for tests that need a server (started from a source file in a temp dir)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return int(probe.getsockname()[1])


def wait_until_listening(server: subprocess.Popen[bytes], port: int, timeout: float = 20) -> None:
    # uvicorn binds its socket only after the app's start-up hooks have completed.
    deadline = time.monotonic() + timeout
    while True:
        assert server.poll() is None, 'uvicorn exited during start-up'
        try:
            socket.create_connection(('127.0.0.1', port), timeout=0.2).close()
            return
        except OSError:
            assert time.monotonic() < deadline, f'uvicorn did not listen on {port} within {timeout} s'
            time.sleep(0.05)


def stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(timeout=10)


@contextlib.contextmanager
def uvicorn_servers(
    directory: Path, module: str, count: int = 1, env: dict[str, str] | None = None
) -> Iterator[list[tuple[subprocess.Popen[bytes], int]]]:
    """`count` uvicorn processes serving `<module>:app` from `directory`, each on its own port."""
    environment = {**os.environ, 'PYTHONPATH': str(directory), **(env or {})}
    servers: list[tuple[subprocess.Popen[bytes], int]] = []
    try:
        for _ in range(count):
            port = free_port()
            command = [sys.executable, '-m', 'uvicorn', f'{module}:app', '--host', '127.0.0.1', '--port', str(port)]
            process = subprocess.Popen(
                command, cwd=directory, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            servers.append((process, port))
        for process, port in servers:
            wait_until_listening(process, port)
        yield servers
    finally:
        for process, _ in servers:
            stop(process)
