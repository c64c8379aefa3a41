"""`panther monitor`: the table of logs/monitoring.log, once and live (in a pseudo-terminal)."""

from __future__ import annotations

import logging
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from panther.cli.monitor_command import monitor, monitoring_table

REPO_ROOT = Path(__file__).resolve().parent.parent

LOG = """2026-01-02 10:00:00 | GET | /notes/ | 127.0.0.1:5000 | 0.0123 | 200
this line is not a request
2026-01-02 10:00:01 | POST | /notes/[id]/ | 10.0.0.7:6000 | 0.5 | 500
2026-01-02 10:00:02 | WS | /ws/feed/ | 127.0.0.1:5001 | - | Connected
"""


def _rendered(table: object) -> str:
    console = Console(width=200, record=True, file=open(os.devnull, 'w'))
    try:
        console.print(table)
        return console.export_text()
    finally:
        console.file.close()


def test_table_rows(tmp_path: Path) -> None:
    log = tmp_path / 'monitoring.log'
    log.write_text(LOG)
    table = monitoring_table(log)
    assert table.row_count == 3
    text = _rendered(table)
    assert '12.30 ms' in text and '500.00 ms' in text
    assert '/notes/[id]/' in text  # not swallowed as rich markup
    assert 'Connected' in text and 'not a request' not in text


def test_table_keeps_only_the_last_rows(tmp_path: Path) -> None:
    log = tmp_path / 'monitoring.log'
    log.write_text(''.join(f'2026-01-02 10:00:00 | GET | /page/{n}/ | 127.0.0.1:1 | 0.001 | 200\n' for n in range(500)))
    text = _rendered(monitoring_table(log, rows=3))
    assert '/page/499/' in text and '/page/497/' in text and '/page/496/' not in text


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get('PYTHONPATH')]))
    env['COLUMNS'] = '160'
    return env


def test_process_once(tmp_path: Path) -> None:
    (tmp_path / 'logs').mkdir()
    (tmp_path / 'logs' / 'monitoring.log').write_text(LOG)
    result = subprocess.run(
        [sys.executable, '-m', 'panther.cli.main', 'monitor', '--once'],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert '/notes/' in result.stdout and '/ws/feed/' in result.stdout


def test_without_a_log_says_how_to_get_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    with caplog.at_level(logging.INFO, logger='panther'), pytest.raises(SystemExit) as exit_info:
        monitor([])
    assert exit_info.value.code == 1
    assert caplog.messages[0].startswith('"logs/monitoring.log" does not exist. Add ')
    assert '"panther.middlewares.monitoring.MonitoringMiddleware" to MIDDLEWARES' in caplog.messages[0]
    assert list(tmp_path.iterdir()) == []


def _read_until(fd: int, marker: bytes, seen: bytearray, deadline: float) -> None:
    """Read the terminal's output until `marker` appears (or fail at `deadline`)."""
    while marker not in seen:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f'{marker!r} never appeared in: {bytes(seen)[-2000:]!r}'
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the child closed the terminal
                chunk = b''
            assert chunk, f'the command ended before {marker!r} appeared: {bytes(seen)[-2000:]!r}'
            seen.extend(chunk)


@pytest.mark.slow
def test_live_view_shows_new_requests(tmp_path: Path) -> None:
    log = tmp_path / 'logs' / 'monitoring.log'
    log.parent.mkdir()
    log.write_text(LOG)
    controller, terminal = pty.openpty()
    env = _env()
    env['LINES'] = '40'
    process = subprocess.Popen(
        [sys.executable, '-m', 'panther.cli.main', 'monitor'],
        cwd=tmp_path,
        env=env,
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
    )
    os.close(terminal)
    seen = bytearray()
    deadline = time.monotonic() + 60
    try:
        _read_until(controller, b'/ws/feed/', seen, deadline)
        with log.open('a') as file:
            file.write('2026-01-02 10:00:03 | DELETE | /notes/fresh-row/ | 127.0.0.1:5002 | 0.001 | 204\n')
        _read_until(controller, b'/notes/fresh-row/', seen, deadline)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(controller)
