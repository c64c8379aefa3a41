"""Dispatch for the `panther` console command; each command lives in its own module, imported when used."""

from __future__ import annotations

import importlib
import os
import sys

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from panther.cli._output import HELP_HINT, cli_error, keep_cli_errors_out_of_log_files, stdout_console
from panther.logging import configure_logging

__all__ = ['HELP_HINT', 'cli_error', 'print_help', 'start']

_DB_COMMAND_MODULE = 'panther.cli.db_command'

_COMMANDS: tuple[tuple[str, str], ...] = (
    ('create [name] [directory]', 'Create a project; asks its options when no name is given.'),
    ('', 'Options: --single-file, --database pantherdb|mongodb|none, --redis, --jwt.'),
    ('run <app> [options]', 'Serve an app with uvicorn, e.g. "panther run main:app --reload".'),
    ('', 'Takes every uvicorn option (--host, --port, --workers, ...).'),
    ('createuser APP_FILE [--admin]', 'Create a user of USER_MODEL, e.g. "panther createuser main.py".'),
    ('shell APP_FILE', 'An IPython shell with the app loaded (needs ipython).'),
    ('monitor [--once]', 'Live table of logs/monitoring.log (needs watchfiles and MonitoringMiddleware).'),
    ('routes APP', 'Every route of an app file or "module:app": methods, endpoint, auth, limits, cache.'),
    ('db import FILE', 'Import an old JSON PantherDB file into the SQLite database.'),
    ('tasks APP_FILE', 'List the background tasks the app submits, e.g. "panther tasks main.py".'),
    ('version, --version, -v', 'Print the installed Panther version.'),
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
    stdout_console().print(Panel(body, title='Panther', title_align='left', expand=False))


def _version() -> None:
    # Imported here: `panther/__init__` pulls in the whole framework, which `help` and errors do not need.
    import panther

    stdout_console().print(Text(panther.__version__))


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
    _exit_with(module.main(args))


def _exit_with(result: object) -> None:
    if isinstance(result, int) and result:
        raise SystemExit(result)


def _command(module_name: str, function: str, args: list[str]) -> None:
    module = importlib.import_module(f'panther.cli.{module_name}')
    _exit_with(getattr(module, function)(args))


# Command → (module in panther.cli, function taking the arguments).
_MODULE_COMMANDS = {
    'create': ('create_project_command', 'create'),
    'createuser': ('create_user_command', 'create_user'),
    'shell': ('shell_command', 'shell'),
    'monitor': ('monitor_command', 'monitor'),
    'routes': ('routes_command', 'routes'),
    'tasks': ('tasks_command', 'main'),
}


def start() -> None:
    """Entry point of the `panther` console script; exits non-zero on any error."""
    configure_logging()
    keep_cli_errors_out_of_log_files()
    command = sys.argv[1] if len(sys.argv) > 1 else None
    args = sys.argv[2:]

    if command in {'h', 'help', '-h', '--help'}:
        print_help()
    elif command == 'run':
        _run(args)
    elif command in {'version', '--version', '-v'}:
        _version()
    elif command == 'db':
        _db(args)
    elif command in _MODULE_COMMANDS:
        _command(*_MODULE_COMMANDS[command], args)
    else:
        cli_error('Invalid Arguments.')


if __name__ == '__main__':
    start()
