"""`panther createuser`: on the embedded database and on MongoDB, with the prompts fed through input()/getpass."""

from __future__ import annotations

import builtins
import getpass
import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from panther.cli import create_user_command
from panther.cli.create_user_command import create_user
from panther.configs import config
from panther.utils import run_coroutine

APP = """
from panther import Panther
from panther.db.models import BaseUser

DATABASE = {DATABASE}
USER_MODEL = '{MODULE}.{MODEL}'


class User(BaseUser):
    pass


class Staff(BaseUser):
    is_admin: bool = False


class Member(BaseUser):
    email: str


app = Panther(__name__, configs=__name__, urls={{}})
"""

NO_PASSWORD_APP = """
from panther import Panther
from panther.db import Model

DATABASE = {DATABASE}
USER_MODEL = '{MODULE}.Account'


class Account(Model):
    username: str


app = Panther(__name__, configs=__name__, urls={{}})
"""


class Engine:
    def __init__(self, name: str, tmp_path: Path, mongodb_port: int | None) -> None:
        self.name = name
        self.tmp_path = tmp_path
        self.database_name = f'cli_{uuid.uuid4().hex[:12]}'
        self.mongodb_port = mongodb_port

    def settings(self) -> str:
        if self.name == 'pantherdb':
            path = self.tmp_path / 'users.pdb'
            return f"{{'engine': {{'class': 'panther.db.connections.PantherDBConnection', 'path': {str(path)!r}}}}}"
        host = f'mongodb://127.0.0.1:{self.mongodb_port}/{self.database_name}'
        return f"{{'engine': {{'class': 'panther.db.connections.MongoDBConnection', 'host': {host!r}}}}}"

    def write_app(self, model: str = 'User', source: str = APP) -> str:
        module = f'createuser_{self.name}_{model.lower()}_{uuid.uuid4().hex[:8]}'
        (self.tmp_path / f'{module}.py').write_text(source.format(DATABASE=self.settings(), MODULE=module, MODEL=model))
        return str(self.tmp_path / f'{module}.py')

    def connection(self) -> Any:
        """A new connection to the same database, to read what the command stored."""
        from panther.db.connections import MongoDBConnection, PantherDBConnection

        if self.name == 'pantherdb':
            return PantherDBConnection(path=self.tmp_path / 'users.pdb')
        return MongoDBConnection(host=f'mongodb://127.0.0.1:{self.mongodb_port}/{self.database_name}')


@pytest.fixture(params=['pantherdb', pytest.param('mongodb', marks=pytest.mark.mongodb)])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Engine]:
    port = request.getfixturevalue('mongodb_address')[1] if request.param == 'mongodb' else None
    engine = Engine(request.param, tmp_path, port)
    yield engine
    if request.param == 'mongodb':
        connection = engine.connection()
        await connection.client.drop_database(engine.database_name)
        await connection.close()


def _prompts(monkeypatch: pytest.MonkeyPatch, answers: list[str], passwords: list[str]) -> list[str]:
    """Answer the visible prompts from `answers` and the masked ones from `passwords`; returns the prompts shown."""
    asked: list[str] = []

    def fake_input(prompt: object = '') -> str:
        if not answers:
            raise AssertionError('unexpected prompt')
        return answers.pop(0)

    def fake_getpass(prompt: str = '', stream: object = None) -> str:
        asked.append('password')
        if not passwords:
            raise AssertionError('unexpected password prompt')
        return passwords.pop(0)

    monkeypatch.setattr(builtins, 'input', fake_input)
    monkeypatch.setattr(getpass, 'getpass', fake_getpass)
    return asked


def _exit_code(args: list[str]) -> int:
    try:
        return create_user(args)
    except SystemExit as exc:
        return int(exc.code or 0)


async def _stored(engine: Engine, username: str) -> Any:
    connection = engine.connection()
    config.DATABASE = connection
    try:
        return await config.USER_MODEL.find_one(username=username)
    finally:
        await connection.close()


async def test_creates_a_user_with_a_hashed_password(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    asked = _prompts(monkeypatch, ['alice'], ['s3cret-pass', 's3cret-pass'])
    assert _exit_code([engine.write_app()]) == 0
    assert asked == ['password', 'password']
    assert capsys.readouterr().out.endswith('User(username=alice) Created Successfully.\n')
    user = await _stored(engine, 'alice')
    assert user is not None and user.password != 's3cret-pass'
    assert await user.acheck_password('s3cret-pass')
    assert not await user.acheck_password('wrong')


async def test_a_taken_username_is_asked_again(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    app_file = engine.write_app()
    _prompts(monkeypatch, ['bob'], ['pw', 'pw'])
    assert _exit_code([app_file]) == 0
    answers = ['bob', '  ', 'carol']
    _prompts(monkeypatch, answers, ['pw2', 'pw2'])
    assert _exit_code([app_file]) == 0
    assert answers == []
    out = capsys.readouterr().out
    assert 'A user with username "bob" already exists; choose another.' in out
    assert 'The `username` cannot be empty.' in out
    assert out.endswith('User(username=carol) Created Successfully.\n')
    assert await _stored(engine, 'carol') is not None


async def test_empty_or_mismatched_passwords_are_asked_again(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    passwords = ['', 'first', 'second', 'third', 'third']
    _prompts(monkeypatch, ['dora'], passwords)
    assert _exit_code([engine.write_app()]) == 0
    assert passwords == []
    out = capsys.readouterr().out
    assert 'The password cannot be empty.' in out and 'The passwords differ; try again.' in out
    user = await _stored(engine, 'dora')
    assert await user.acheck_password('third')


async def test_admin_flag_and_question(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    app_file = engine.write_app('Staff')
    _prompts(monkeypatch, ['root'], ['pw', 'pw'])  # --admin: no question
    assert _exit_code([app_file, '--admin']) == 0
    _prompts(monkeypatch, ['clerk', ''], ['pw', 'pw'])  # the question, answered with its default (no)
    assert _exit_code([app_file]) == 0
    _prompts(monkeypatch, ['boss', 'y'], ['pw', 'pw'])
    assert _exit_code([app_file]) == 0
    assert (await _stored(engine, 'root')).is_admin is True
    assert (await _stored(engine, 'clerk')).is_admin is False
    assert (await _stored(engine, 'boss')).is_admin is True


async def test_keyboard_interrupt_stores_nothing(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(prompt: object = '') -> str:
        raise KeyboardInterrupt

    app_file = engine.write_app()
    monkeypatch.setattr(builtins, 'input', interrupted)
    assert _exit_code([app_file]) == 0
    assert capsys.readouterr().out.endswith(': Keyboard Interrupt\n')  # after the prompt
    connection = engine.connection()
    config.DATABASE = connection
    try:
        assert await config.USER_MODEL.count() == 0
    finally:
        await connection.close()


async def test_model_without_password_field(engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger='panther'):
        assert _exit_code([engine.write_app(source=NO_PASSWORD_APP)]) == 1
    assert caplog.messages[-2] == (
        'Account has no `password` field: "createuser" needs a user model that stores a hashed password, '
        'e.g. a subclass of `panther.db.models.BaseUser`.'
    )
    assert caplog.messages[-1] == 'Use "panther -h" for more help'


@pytest.mark.parametrize(
    ('model', 'args', 'message'),
    [
        ('User', ['--admin'], 'User has no `is_admin` field, so "--admin" cannot mark the user as staff.'),
        ('Member', [], 'Member has required fields "createuser" does not ask for: email.'),
    ],
)
def test_refused_before_prompting(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, model: str, args: list[str], message: str
) -> None:
    app_file = Engine('pantherdb', tmp_path, None).write_app(model)
    with caplog.at_level(logging.INFO, logger='panther'):
        assert _exit_code([app_file, *args]) == 1  # no prompt is patched: asking would fail the test
    assert caplog.messages[-2:] == [message, 'Use "panther -h" for more help']


def test_no_database(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / 'no_database_app.py').write_text(
        'from panther import Panther\napp = Panther(__name__, configs=__name__, urls={})\n'
    )
    with caplog.at_level(logging.INFO, logger='panther'):
        assert _exit_code([str(tmp_path / 'no_database_app.py')]) == 1
    assert caplog.messages[-2] == '`DATABASE` is not set in the configs, so there is nowhere to store the user.'


def test_helpers_are_looked_up_at_call_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    app_file = Engine('pantherdb', tmp_path, None).write_app()
    loaded: list[str] = []
    real_loader = create_user_command.load_application_file

    def loader(path: str) -> Any:
        loaded.append(path)
        return real_loader(path)

    monkeypatch.setattr(create_user_command, 'load_application_file', loader)
    monkeypatch.setattr(create_user_command, 'get_username', lambda prompt, model, field: f'{field}-from-patch')
    monkeypatch.setattr(create_user_command, 'get_password', lambda prompt: 'patched')
    assert create_user([app_file]) == 0
    assert loaded == [app_file]
    assert 'User(username=username-from-patch) Created Successfully.' in capsys.readouterr().out
    # The app's own connection still reads the embedded database after the command closed it.
    user = run_coroutine(config.USER_MODEL.find_one(username='username-from-patch'))
    assert user is not None and user.check_password('patched') is True


def test_keyboard_interrupt_in_a_patched_prompt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(prompt: str, model: Any, field: str) -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr(create_user_command, 'get_username', interrupted)
    assert create_user([Engine('pantherdb', tmp_path, None).write_app()]) == 0
    assert capsys.readouterr().out == 'Keyboard Interrupt\n'
