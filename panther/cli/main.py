"""Dispatch for the `panther` console command."""

from __future__ import annotations

import importlib
import logging
import os
import sys
from typing import NoReturn

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from panther.logging import configure_logging

__all__ = ['cli_error', 'print_help', 'start']

logger = logging.getLogger('panther')

HELP_HINT = 'Use "panther -h" for more help'
_DB_COMMAND_MODULE = 'panther.cli.db_command'

_COMMANDS: tuple[tuple[str, str], ...] = (
    ('run <app> [options]', 'Serve an app with uvicorn, e.g. "panther run main:app --reload".'),
    ('', 'Takes every uvicorn option (--host, --port, --workers, ...).'),
    ('db import FILE', 'Import an old JSON PantherDB file into the SQLite database.'),
    ('tasks APP_FILE', 'List the background tasks the app submits, e.g. "panther tasks main.py".'),
    ('version, --version', 'Print the installed Panther version.'),
    ('h, help, -h, --help', 'Show this help.'),
)


def print_help() -> None:
    table = Table.grid(padding=(0, 2))
    table.add_column(style='bold cyan', no_wrap=True)
    table.add_column()
    for command, description in _COMMANDS:
        # Text, not str: rich would read '[options]' as a markup tag and drop it.
        table.add_row(Text(command), Text(description))
    body = Group(Text('Usage: panther <command> [arguments]'), Text(''), table)
    Console().print(Panel(body, title='Panther', title_align='left', expand=False))


def cli_error(message: str) -> NoReturn:
    """Report a command-line mistake the way every Panther command does, then exit with status 1."""
    logger.error(message)
    logger.info(HELP_HINT)
    raise SystemExit(1)


def _version() -> None:
    # Imported here: `panther/__init__` pulls in the whole framework, which `help` and errors do not need.
    import panther

    print(panther.__version__)


def _run(args: list[str]) -> None:
    from uvicorn.main import main as uvicorn_main

    from panther._internal.server import server_arguments
    from panther._internal.workers import WORKERS_ENV, workers_from_args

    # Production limits (request-head size and deadline, keep-alive, concurrency) unless the arguments set them.
    args = server_arguments(args)
    # Old apps and tools read sys.argv as if uvicorn had been called directly.
    sys.argv = ['main', *args]
    workers = workers_from_args(args)
    if workers is not None:
        # Each worker warns at start-up when the app has no Redis to share logouts and limits (see docs/security.md).
        os.environ[WORKERS_ENV] = str(workers)
    try:
        uvicorn_main.main(args=args, prog_name='panther run', standalone_mode=True)
    except KeyboardInterrupt:
        # uvicorn already shut down; a traceback after Ctrl+C would only be noise.
        raise SystemExit(0) from None


def _db(args: list[str]) -> None:
    try:
        module = importlib.import_module(_DB_COMMAND_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != _DB_COMMAND_MODULE:
            raise
        cli_error('The "db" command is not available in this installation of Panther.')
    result = module.main(args)
    if isinstance(result, int) and result:
        raise SystemExit(result)


def start() -> None:
    """Entry point of the `panther` console script; exits non-zero on any error."""
    configure_logging()
    command = sys.argv[1] if len(sys.argv) > 1 else None
    args = sys.argv[2:]

    if command in {'h', 'help', '-h', '--help'}:
        print_help()
    elif command == 'run':
        _run(args)
    elif command in {'version', '--version'}:
        _version()
    elif command == 'db':
        _db(args)
    elif command == 'tasks':
        from panther.cli.tasks_command import main as tasks

        tasks(args)
    else:
        cli_error('Invalid Arguments.')


if __name__ == '__main__':
    start()
