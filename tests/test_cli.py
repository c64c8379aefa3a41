from __future__ import annotations

import logging
import sys
import types
from pathlib import Path

import pytest

import panther
from panther.cli import main as cli_main
from tests._core_helpers import run_panther

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def run_start(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """Call `start()` in-process without touching the test process's logging setup or CWD."""
    monkeypatch.setattr(cli_main, 'configure_logging', lambda: None)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def _start(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setattr(sys, 'argv', ['panther', *args])
    try:
        cli_main.start()
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    return 0


# --- in-process -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize('command', ['version', '--version', '-v'])
def test_version(run_start: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: str) -> None:
    assert _start(run_start, command) == 0
    assert capsys.readouterr().out.strip() == panther.__version__


@pytest.mark.parametrize('args', [(), ('nonsense',), ('startproject',), ('--verbose',)])
def test_invalid_arguments(
    run_start: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, args: tuple[str, ...]
) -> None:
    with caplog.at_level(logging.DEBUG, logger='panther'):
        assert _start(run_start, *args) == 1
    records = [(record.levelname, record.getMessage()) for record in caplog.records if record.name == 'panther']
    assert records == [('ERROR', 'Invalid Arguments.'), ('INFO', 'Use "panther -h" for more help')]


@pytest.mark.parametrize(
    ('args', 'message'),
    [
        (('shell',), 'The "shell" command needs the app file, e.g. "panther shell main.py".'),
        (('createuser',), 'The "createuser" command needs the app file, e.g. "panther createuser main.py".'),
        (
            ('routes',),
            'The "routes" command needs the app, e.g. "panther routes main.py" or "panther routes main:app".',
        ),
        (('shell', 'a.py', 'b.py'), 'Too Many Arguments.'),
        (('createuser', 'a.py', 'b.py'), 'Too Many Arguments.'),
        (('routes', 'a.py', 'b.py'), 'Too Many Arguments.'),
        (('create', 'a', 'b', 'c'), 'Too Many Arguments.'),
        (('monitor', '--forever'), 'Unknown argument "--forever" for "monitor"; the only option is --once.'),
        (
            ('createuser', 'main.py', '--staff'),
            'Unknown option "--staff" for "createuser"; the only option is --admin.',
        ),
        (
            ('shell', 'missing.py'),
            '"missing.py" is not a Python file; give the app file, e.g. "panther shell main.py".',
        ),
        (
            ('routes', 'not a module'),
            '"not a module" is neither an app file nor a module, e.g. "panther routes main.py".',
        ),
    ],
)
def test_command_argument_errors(
    run_start: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, args: tuple[str, ...], message: str
) -> None:
    with caplog.at_level(logging.DEBUG, logger='panther'):
        assert _start(run_start, *args) == 1
    assert caplog.messages == [message, 'Use "panther -h" for more help']


@pytest.mark.parametrize('command', ['h', 'help', '-h', '--help'])
def test_help(run_start: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: str) -> None:
    run_start.setenv('COLUMNS', '160')
    assert _start(run_start, command) == 0
    out = capsys.readouterr().out
    assert 'Usage: panther <command> [arguments]' in out
    expected_commands = (
        'create [name] [directory]',
        'run <app> [options]',
        'createuser APP_FILE [--admin]',
        'shell APP_FILE',
        'monitor [--once]',
        'routes APP',
        'db import FILE',
        'tasks APP_FILE',
        'version, --version, -v',
        'h, help, -h, --help',
    )
    for expected in expected_commands:
        assert expected in out


def test_help_lists_every_dispatched_command() -> None:
    listed = ' '.join(command for command, _ in cli_main._COMMANDS)
    for command in (*cli_main._MODULE_COMMANDS, 'run', 'db', 'version'):
        assert command in listed.split() or f'{command},' in listed.split(), command


def test_run_delegates_to_uvicorn(run_start: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert _start(run_start, 'run', '--help') == 0
    out = capsys.readouterr().out
    assert 'Usage: panther run [OPTIONS] APP' in out
    for option in ('--host', '--port', '--reload', '--workers'):
        assert option in out
    assert sys.argv == ['main', '--help']


def test_run_swallows_keyboard_interrupt(run_start: pytest.MonkeyPatch) -> None:
    def interrupted(**_kwargs: object) -> None:
        raise KeyboardInterrupt

    from uvicorn.main import main as uvicorn_command

    run_start.setattr(uvicorn_command, 'main', interrupted)
    assert _start(run_start, 'run', 'main:app') == 0


def test_db_dispatches_to_db_command(run_start: pytest.MonkeyPatch) -> None:
    received: list[list[str]] = []
    module = types.ModuleType('panther.cli.db_command')
    module.main = lambda args: received.append(args)  # type: ignore[attr-defined]
    run_start.setitem(sys.modules, 'panther.cli.db_command', module)

    assert _start(run_start, 'db', 'import', 'old.pdb') == 0
    assert received == [['import', 'old.pdb']]


def test_db_propagates_failure_status(run_start: pytest.MonkeyPatch) -> None:
    module = types.ModuleType('panther.cli.db_command')
    module.main = lambda args: 3  # type: ignore[attr-defined]
    run_start.setitem(sys.modules, 'panther.cli.db_command', module)
    assert _start(run_start, 'db', 'import') == 3


def test_db_missing_module_is_a_clear_error(run_start: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    def missing(name: str) -> types.ModuleType:
        raise ModuleNotFoundError(f'No module named {name!r}', name=name)

    run_start.setattr(cli_main.importlib, 'import_module', missing)
    with caplog.at_level(logging.INFO, logger='panther'):
        assert _start(run_start, 'db', 'import', 'x.pdb') == 1
    assert caplog.messages == [
        'The "db" command is not available in this installation of Panther.',
        'Use "panther -h" for more help',
    ]


def test_db_missing_dependency_is_not_hidden(run_start: pytest.MonkeyPatch) -> None:
    def broken(name: str) -> types.ModuleType:
        raise ModuleNotFoundError("No module named 'some_dependency'", name='some_dependency')

    run_start.setattr(cli_main.importlib, 'import_module', broken)
    with pytest.raises(ModuleNotFoundError, match='some_dependency'):
        _start(run_start, 'db', 'import', 'x.pdb')


# --- as a real process ----------------------------------------------------------------------------------------


def test_process_version(tmp_path: Path) -> None:
    result = run_panther('version', cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == panther.__version__


def test_process_invalid_arguments(tmp_path: Path) -> None:
    result = run_panther('definitely-not-a-command', cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert any(line.startswith('ERROR:') and line.endswith('| Invalid Arguments.') for line in lines)
    assert any(line.startswith('INFO:') and line.endswith('| Use "panther -h" for more help') for line in lines)


def test_process_no_arguments(tmp_path: Path) -> None:
    result = run_panther(cwd=tmp_path)
    assert result.returncode == 1
    assert 'Invalid Arguments.' in result.stderr
    assert result.stdout == ''


@pytest.mark.parametrize(
    'args', [('definitely-not-a-command',), ('shell',), ('createuser', 'a.py', 'b.py'), ('monitor',)]
)
def test_process_mistakes_create_no_logs_directory(tmp_path: Path, args: tuple[str, ...]) -> None:
    result = run_panther(*args, cwd=tmp_path)
    assert result.returncode == 1
    assert 'ERROR' in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_process_dash_v_prints_the_version(tmp_path: Path) -> None:
    result = run_panther('-v', cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == panther.__version__


def test_process_run_help_is_uvicorn_help(tmp_path: Path) -> None:
    result = run_panther('run', '--help', cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert 'Usage: panther run [OPTIONS] APP' in result.stdout
    assert '--workers' in result.stdout


def test_process_run_bad_app_fails(tmp_path: Path) -> None:
    result = run_panther('run', 'no_such_module_for_panther_tests:app', cwd=tmp_path)
    assert result.returncode != 0
    assert 'no_such_module_for_panther_tests' in result.stderr


TASKS_APP = """
from datetime import time

from panther import Panther
from panther.background_tasks import BackgroundTask, WeekDay

BACKGROUND_TASKS = True


def clean_up(kind):
    ...


app = Panther(__name__, configs=__name__, urls={})
BackgroundTask(clean_up, 'uploads').every_hours().interval(-1).submit()
BackgroundTask(clean_up, 'reports').on(WeekDay.MONDAY).at(time(9), time(17)).interval(-1).timeout(30).submit()
"""


def test_process_tasks_lists_the_submitted_tasks(tmp_path: Path) -> None:
    (tmp_path / 'main.py').write_text(TASKS_APP)
    result = run_panther('tasks', 'main.py', cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if 'main.clean_up' in line]
    assert len(rows) == 2
    assert 'forever, every 1:00:00' in rows[0]
    assert 'forever, on Monday, at 09:00:00, 17:00:00, timeout 30 s' in rows[1]
    assert 'T09:00:00' in rows[1]  # the next run


def test_process_tasks_without_the_setting_says_so(tmp_path: Path) -> None:
    (tmp_path / 'main.py').write_text(TASKS_APP.replace('BACKGROUND_TASKS = True', ''))
    result = run_panther('tasks', 'main.py', cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert '`BACKGROUND_TASKS` is not True in `configs`: no task will run.' in result.stdout
    assert 'No background tasks were submitted at import' in result.stdout


@pytest.mark.parametrize(
    ('args', 'message'),
    [
        ((), 'The "tasks" command needs the app file, e.g. "panther tasks main.py".'),
        (('a.py', 'b.py'), 'Too Many Arguments.'),
        (('missing.py',), '"missing.py" is not a Python file; give the app file, e.g. "panther tasks main.py".'),
        (('notes.txt',), '"notes.txt" is not a Python file'),
    ],
)
def test_process_tasks_bad_arguments(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    (tmp_path / 'notes.txt').write_text('not an app')
    result = run_panther('tasks', *args, cwd=tmp_path)
    assert result.returncode == 1
    assert message in result.stderr
