"""What every `panther` command shares for output: rich consoles and the report of a command-line mistake."""

from __future__ import annotations

import logging
from typing import NoReturn

from rich.console import Console

__all__ = ['HELP_HINT', 'cli_error', 'keep_cli_errors_out_of_log_files', 'stderr_console', 'stdout_console']

logger = logging.getLogger('panther')

HELP_HINT = 'Use "panther -h" for more help'

# Attribute set on the records of command-line mistakes: they belong on the terminal, not in logs/main.log.
_CLI_RECORD = 'panther_cli'


def stdout_console() -> Console:
    # Made per call: a console keeps the stream it was built with, and tests swap `sys.stdout`.
    return Console()


def stderr_console() -> Console:
    return Console(stderr=True)


def cli_error(message: str) -> NoReturn:
    """Report a command-line mistake the way every Panther command does, then exit with status 1."""
    logger.error(message, extra={_CLI_RECORD: True})
    logger.info(HELP_HINT, extra={_CLI_RECORD: True})
    raise SystemExit(1)


def _not_a_cli_record(record: logging.LogRecord) -> bool:
    return not getattr(record, _CLI_RECORD, False)


def keep_cli_errors_out_of_log_files() -> None:
    """Stop the file handlers of the `panther` logger from writing CLI mistakes.

    Their first record would create `logs/` in whatever directory a mistyped command was run in.
    """
    for handler in logging.getLogger('panther').handlers:
        if isinstance(handler, logging.FileHandler) and _not_a_cli_record not in handler.filters:
            handler.addFilter(_not_a_cli_record)
