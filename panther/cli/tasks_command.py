"""`panther tasks <app file>`: the background tasks an app submits when it is imported, with their schedules."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from panther.cli._app import import_app_file
from panther.cli._output import cli_error, stdout_console

__all__ = ['main']


def main(args: list[str]) -> int:
    if not args:
        cli_error('The "tasks" command needs the app file, e.g. "panther tasks main.py".')
    if len(args) > 1:
        cli_error('Too Many Arguments.')
    import_app_file(args[0], 'tasks')
    from panther.background_tasks import _background_tasks
    from panther.configs import config

    console = stdout_console()
    if not config.BACKGROUND_TASKS:
        console.print(Text('`BACKGROUND_TASKS` is not True in `configs`: no task will run.'))
    if not _background_tasks.tasks:
        console.print(Text('No background tasks were submitted at import (start-up hooks submit theirs when served).'))
        return 0
    table = Table('task', 'schedule', 'next run')
    for task in _background_tasks.tasks:
        next_due = task._next_due.isoformat() if task._next_due is not None else '-'
        table.add_row(Text(f'{task.key}'), Text(task.describe()), Text(next_due))
    console.print(table)
    return 0
