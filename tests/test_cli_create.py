"""`panther create`: the files written, the prompts, collisions, and a fresh project passing its own tests."""

from __future__ import annotations

import builtins
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

import panther
from panther._internal.secret_key import PUBLISHED_KEYS
from panther.cli.create_project_command import CreateProject, create
from panther.cli.template import SINGLE_FILE_TEMPLATE, TEMPLATE
from tests._core_helpers import run_interpreter, run_panther

REPO_ROOT = Path(__file__).resolve().parent.parent


def _tree(directory: Path) -> set[str]:
    return {path.relative_to(directory).as_posix() for path in directory.rglob('*') if path.is_file()}


def _template_files(template: dict[str, object], prefix: str = '') -> set[str]:
    files: set[str] = set()
    for name, content in template.items():
        if isinstance(content, dict):
            files |= _template_files(content, f'{prefix}{name}/')
        else:
            files.add(f'{prefix}{name}')
    return files


def _secret_key(project: Path) -> str:
    lines = [line for line in (project / '.env').read_text().splitlines() if line.startswith('SECRET_KEY=')]
    assert len(lines) == 1
    return lines[0].removeprefix('SECRET_KEY=')


@pytest.fixture
def in_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _answers(monkeypatch: pytest.MonkeyPatch, *answers: str) -> list[str]:
    """Feed `answers` to the prompts (rich's Prompt reads through the built-in input()); returns what is left."""
    remaining = list(answers)

    def fake_input(prompt: object = '') -> str:
        if not remaining:
            raise AssertionError('a prompt was asked that the test did not expect')
        return remaining.pop(0)

    monkeypatch.setattr(builtins, 'input', fake_input)
    return remaining


def _exit_code(args: list[str]) -> int:
    try:
        create(args)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


# --- what is written -------------------------------------------------------------------------------------------


def test_the_template_has_spec_layout_plus_tests() -> None:
    assert {'app', 'core', 'main.py', '.env', '.gitignore', 'requirements.txt'} <= TEMPLATE.keys()
    assert set(TEMPLATE['app']) == {'__init__.py', 'apis.py', 'models.py', 'serializers.py', 'urls.py'}  # type: ignore[arg-type]
    assert set(TEMPLATE['core']) == {'__init__.py', 'configs.py', 'middlewares.py', 'urls.py'}  # type: ignore[arg-type]
    assert {'main.py', '.env', '.gitignore', 'requirements.txt'} <= SINGLE_FILE_TEMPLATE.keys()
    assert 'app' not in SINGLE_FILE_TEMPLATE and 'core' not in SINGLE_FILE_TEMPLATE


def test_create_writes_the_multi_file_project(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _exit_code(['My Blog', 'blog']) == 0
    project = in_tmp / 'blog'
    assert _tree(project) == _template_files(TEMPLATE)
    for path in project.rglob('*'):
        if path.is_file():
            assert '{{' not in path.read_text(), path
    assert f'panther=={panther.__version__}' in (project / 'requirements.txt').read_text().splitlines()
    readme = (project / 'README.md').read_text()
    assert readme.startswith('# my_blog\n')
    assert 'panther run main:app --reload' in readme and 'pytest' in readme
    pyproject = (project / 'pyproject.toml').read_text()
    assert '[tool.pytest.ini_options]' in pyproject and 'asyncio_mode = "auto"' in pyproject
    configs = (project / 'core' / 'configs.py').read_text()
    assert 'PantherDBConnection' in configs and 'REDIS' not in configs and 'AUTHENTICATION' not in configs
    assert 'created in blog' in capsys.readouterr().out


def test_every_project_gets_its_own_strong_key(in_tmp: Path) -> None:
    create(['one', 'one'])
    create(['two', 'two'])
    first, second = _secret_key(in_tmp / 'one'), _secret_key(in_tmp / 'two')
    assert first != second
    for key in (first, second):
        assert len(key) == 44 and key not in PUBLISHED_KEYS


def test_options_insert_their_settings(in_tmp: Path) -> None:
    create(['shop', 'shop', '--single-file', '--database', 'mongodb', '--redis', '--jwt'])
    project = in_tmp / 'shop'
    assert _tree(project) == _template_files(SINGLE_FILE_TEMPLATE)
    main = (project / 'main.py').read_text()
    assert "'mongodb://127.0.0.1:27017/shop'" in main
    assert 'REDIS = {' in main and "AUTHENTICATION = 'panther.authentications.JWTAuthentication'" in main
    assert 'class User(BaseUser)' in main and "USER_MODEL = 'main.User'" in main
    assert {'pymongo', 'redis'} <= set((project / 'requirements.txt').read_text().splitlines())


def test_database_none_has_no_user_model(in_tmp: Path) -> None:
    create(['plain', 'plain', '--database=none'])
    configs = (in_tmp / 'plain' / 'core' / 'configs.py').read_text()
    assert 'DATABASE' not in configs.replace('`DATABASE`', '') and 'USER_MODEL' not in configs
    assert 'class User' not in (in_tmp / 'plain' / 'app' / 'models.py').read_text()


def test_default_directory_is_the_current_one(in_tmp: Path) -> None:
    create(['here'])
    assert (in_tmp / 'main.py').is_file() and (in_tmp / 'core' / 'configs.py').is_file()


# --- bad input -------------------------------------------------------------------------------------------------


def test_existing_directory_is_refused_and_nothing_written(in_tmp: Path, caplog: pytest.LogCaptureFixture) -> None:
    (in_tmp / 'blog').mkdir()
    (in_tmp / 'blog' / 'notes.txt').write_text('mine')
    with caplog.at_level(logging.INFO, logger='panther'):
        assert _exit_code(['blog', 'blog']) == 1
    assert caplog.messages == ['"blog" directory already exists.', 'Use "panther -h" for more help']
    assert _tree(in_tmp) == {'blog/notes.txt'}


def test_collision_in_the_current_directory_is_refused(in_tmp: Path, caplog: pytest.LogCaptureFixture) -> None:
    (in_tmp / 'main.py').write_text('print("my own app")')
    with caplog.at_level(logging.INFO, logger='panther'):
        assert _exit_code(['blog']) == 1
    assert caplog.messages[0] == '"main.py" directory already exists.'
    assert _tree(in_tmp) == {'main.py'}
    assert (in_tmp / 'main.py').read_text() == 'print("my own app")'


@pytest.mark.parametrize(
    ('args', 'message'),
    [
        (['--redis'], 'The "create" command needs a project name, e.g. "panther create blog blog/".'),
        (['   '], 'The project name cannot be empty.'),
        (['blog', '--database', 'oracle'], '"--database" should be one of pantherdb, mongodb, none; not "oracle".'),
        (['blog', '--database'], '"--database" should be one of pantherdb, mongodb, none; not "".'),
        (['blog', '--jwt', '--database', 'none'], '"--jwt" needs a database for its users; drop "--database none".'),
        (['blog', '--force'], 'Unknown option "--force" for "create"; the options are '),
    ],
)
def test_bad_arguments(in_tmp: Path, caplog: pytest.LogCaptureFixture, args: list[str], message: str) -> None:
    with caplog.at_level(logging.INFO, logger='panther'):
        assert _exit_code(args) == 1
    assert caplog.messages[0].startswith(message)
    assert list(in_tmp.iterdir()) == []


# --- interactive -----------------------------------------------------------------------------------------------


def test_interactive_defaults(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    left = _answers(monkeypatch, 'Notes App', 'notes', '', '', '', '')
    CreateProject().create([])
    assert left == []
    project = in_tmp / 'notes'
    assert _tree(project) == _template_files(TEMPLATE)
    assert (project / 'README.md').read_text().startswith('# notes_app\n')
    assert 'PantherDBConnection' in (project / 'core' / 'configs.py').read_text()


def test_interactive_re_asks_invalid_answers(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (in_tmp / 'taken').mkdir()
    left = _answers(
        monkeypatch,
        '',  # empty name: asked again
        'Shop',
        'taken',  # exists: asked again
        'shop',
        'maybe',  # not y/n: asked again
        'Y',  # answers are lower-cased
        '7',  # not a database: asked again
        '1',
        'n',
        'YES',
    )
    CreateProject().create([])
    assert left == []
    out = capsys.readouterr().out
    assert '"taken" directory already exists.' in out
    assert 'Answer y or n.' in out and 'Answer one of 0, 1, 2.' in out
    main = (in_tmp / 'shop' / 'main.py').read_text()
    assert 'MongoDBConnection' in main and 'JWTAuthentication' in main and 'REDIS' not in main
    assert list((in_tmp / 'taken').iterdir()) == []


def test_interactive_without_database_does_not_ask_for_jwt(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    left = _answers(monkeypatch, 'lean', 'lean', 'n', '2', 'y')
    CreateProject().create([])
    assert left == []
    configs = (in_tmp / 'lean' / 'core' / 'configs.py').read_text()
    assert 'REDIS = {' in configs and 'AUTHENTICATION' not in configs


def test_interactive_end_of_input_writes_nothing(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def closed(prompt: object = '') -> str:
        raise EOFError

    monkeypatch.setattr(builtins, 'input', closed)
    assert _exit_code([]) == 1
    assert list(in_tmp.iterdir()) == []


def test_interactive_ctrl_c_writes_nothing(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _answers(monkeypatch, 'blog')
    real_input = builtins.input

    def interrupted_second(prompt: object = '') -> str:
        monkeypatch.setattr(builtins, 'input', interrupt)
        return real_input(prompt)

    def interrupt(prompt: object = '') -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr(builtins, 'input', interrupted_second)
    assert _exit_code([]) == 0
    assert capsys.readouterr().out.endswith('Keyboard Interrupt\n')
    assert list(in_tmp.iterdir()) == []


# --- a fresh project passes its own tests ----------------------------------------------------------------------


def _project_env() -> dict[str, str]:
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get('PYTHONPATH')]))
    # The generated key must be accepted on its own, without the development switch.
    env.pop('PANTHER_DEV', None)
    env.pop('PYTEST_ADDOPTS', None)
    return env


def _run_project_tests(project: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_interpreter(['-m', 'pytest', '-q', '-p', 'no:cacheprovider'], project, env=env, timeout=120)


@pytest.mark.slow
@pytest.mark.parametrize('options', [[], ['--single-file'], ['--database', 'none', '--redis']])
def test_fresh_project_passes_its_own_tests(in_tmp: Path, options: list[str], redis_address: tuple[str, int]) -> None:
    create(['fresh', 'fresh', *options])
    env = _project_env()
    env['REDIS_PORT'] = str(redis_address[1])
    result = _run_project_tests(in_tmp / 'fresh', env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert '2 passed' in result.stdout
    # The tests used a temporary database, not the project's own file.
    assert not (in_tmp / 'fresh' / 'database.pdb').exists()


@pytest.mark.slow
@pytest.mark.mongodb
def test_fresh_mongodb_project_passes_its_own_tests(in_tmp: Path, mongodb_address: tuple[str, int]) -> None:
    create(['fresh', 'fresh', '--database', 'mongodb', '--jwt'])
    env = _project_env()
    host, port = mongodb_address
    env['MONGODB_URL'] = f'mongodb://{host}:{port}/panther_cli_fresh'
    result = _run_project_tests(in_tmp / 'fresh', env)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_fresh_project_test_fails_when_the_app_breaks(in_tmp: Path) -> None:
    # The generated tests check the app's answer: a broken endpoint makes them fail.
    create(['fresh', 'fresh'])
    apis = in_tmp / 'fresh' / 'app' / 'apis.py'
    apis.write_text(apis.read_text().replace("'Hello World'", "'Goodbye'"))
    result = _run_project_tests(in_tmp / 'fresh', _project_env())
    assert result.returncode == 1
    assert '1 failed, 1 passed' in result.stdout


@pytest.mark.slow
def test_fresh_project_works_with_createuser_and_routes(in_tmp: Path) -> None:
    create(['fresh', 'fresh'])
    project = in_tmp / 'fresh'

    def panther_command(*args: str, stdin: str = '') -> subprocess.CompletedProcess[str]:
        # No controlling terminal: the hidden password prompt reads stdin instead of /dev/tty.
        return run_panther(*args, cwd=project, columns=200, env=_project_env(), stdin=stdin, start_new_session=True)

    created = panther_command('createuser', 'main.py', stdin='alice\npw-of-alice\npw-of-alice\n')
    assert created.returncode == 0, created.stderr
    assert 'User(username=alice) Created Successfully.' in created.stdout
    assert 'pw-of-alice' not in created.stdout
    assert (project / 'database.pdb').is_file()
    listed = panther_command('routes', 'main.py')
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if 'app.apis.hello_world' in line)
    assert '│ /  ' in row and '│ GET ' in row and '1 min' in row


@pytest.mark.slow
def test_process_create_into_existing_directory(tmp_path: Path) -> None:
    (tmp_path / 'blog').mkdir()
    result = subprocess.run(
        [sys.executable, '-m', 'panther.cli.main', 'create', 'blog', 'blog'],
        cwd=tmp_path,
        env=_project_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert '"blog" directory already exists.' in result.stderr
    assert 'Use "panther -h" for more help' in result.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ['blog']
    assert list((tmp_path / 'blog').iterdir()) == []
