"""`panther monitor [--once]`: the requests `MonitoringMiddleware` logs to logs/monitoring.log, as a live table."""

from __future__ import annotations

import os
from pathlib import Path

from rich.live import Live
from rich.table import Table
from rich.text import Text

from panther.cli._output import cli_error, stdout_console

__all__ = ['LOG_FILE', 'monitor', 'monitoring_table']

LOG_FILE = Path('logs', 'monitoring.log')
_COLUMNS = ('Datetime', 'Method', 'Path', 'Client', 'Response Time', 'Status')
# Bytes read from the end of the log per row shown: enough for long paths, without reading a huge log whole.
_BYTES_PER_ROW = 1024


def _tail(path: Path, count: int) -> list[str]:
    if count <= 0:
        return []
    with path.open('rb') as file:
        file.seek(0, os.SEEK_END)
        size = file.tell()
        start = max(0, size - count * _BYTES_PER_ROW)
        file.seek(start)
        lines = file.read().decode('utf-8', errors='replace').splitlines()
    if start > 0 and lines:
        lines = lines[1:]  # cut in the middle
    return lines[-count:]


def _row(line: str) -> tuple[str, ...] | None:
    """`<date time> | <method> | <path> | <client> | <seconds> | <status>`; other lines are not requests."""
    parts = [part.strip() for part in line.split('|')]
    if len(parts) < 6:
        return None
    moment, method, status, client, elapsed = parts[0], parts[1], parts[-1], parts[-3], parts[-2]
    path = ' | '.join(parts[2:-3])
    try:
        response_time = f'{float(elapsed) * 1000:.2f} ms'
    except ValueError:
        response_time = elapsed  # an open websocket logs `-`
    return moment, method, path, client, response_time, status


def _status_style(status: str) -> str:
    if status.startswith(('4', '5')):
        return 'red' if status.startswith('5') else 'yellow'
    return 'green' if status.isdigit() else ''


def monitoring_table(path: Path = LOG_FILE, rows: int = 50) -> Table:
    """The last `rows` requests of the monitoring log, newest last."""
    table = Table(*_COLUMNS, title=f'Monitoring: {path}', expand=True)
    for line in _tail(path, rows):
        row = _row(line)
        if row is not None:
            # Text cells: a path such as /[id]/ must not be read as rich markup.
            cells = [Text(cell) for cell in row]
            cells[-1].stylize(_status_style(row[-1]))
            table.add_row(*cells)
    return table


def _live(path: Path) -> None:
    try:
        from watchfiles import watch
    except ImportError:
        cli_error('Live "monitor" needs watchfiles: pip install watchfiles, or use "panther monitor --once".')
    console = stdout_console()

    def rows() -> int:
        # Title, header and borders take 7 lines.
        return max(console.height - 7, 5)

    with Live(monitoring_table(path, rows()), console=console, auto_refresh=False) as live:
        # The folder, not the file: a rotated log is a new file. Waking every second as well picks up writes made
        # before the watcher started and survives file systems that report no events.
        for _changes in watch(
            path.parent,
            watch_filter=lambda _change, changed: Path(changed).name == path.name,
            yield_on_timeout=True,
            rust_timeout=1000,
        ):
            live.update(monitoring_table(path, rows()), refresh=True)


def monitor(args: list[str]) -> int:
    unknown = [argument for argument in args if argument != '--once']
    if unknown:
        cli_error(f'Unknown argument "{unknown[0]}" for "monitor"; the only option is --once.')
    if not LOG_FILE.is_file():
        cli_error(
            f'"{LOG_FILE}" does not exist. Add "panther.middlewares.monitoring.MonitoringMiddleware" to MIDDLEWARES, '
            'send the app a request, and run "panther monitor" in the directory the app runs in.'
        )
    if '--once' in args:
        stdout_console().print(monitoring_table(LOG_FILE))
        return 0
    try:
        _live(LOG_FILE)
    except KeyboardInterrupt:
        pass
    return 0
