"""`panther createuser <app file> [--admin]`: create a user of `config.USER_MODEL` with a hashed password.

`load_application_file`, `get_username` and `get_password` are module globals looked up at call time, so a caller
(or a test) can replace them.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from types import ModuleType
from typing import Any, TypeVar

from rich.prompt import Confirm, Prompt
from rich.text import Text

from panther.cli._app import import_app_file
from panther.cli._output import cli_error, stdout_console

__all__ = ['create_user', 'get_password', 'get_username', 'load_application_file']

T = TypeVar('T')

_ADMIN_FIELD = 'is_admin'


class _CommandLoop:
    """One event loop, in a thread of its own, that runs every database call of the command.

    A MongoDB client belongs to the loop it was first used in, so the existence check made while prompting and
    the insert afterwards must share a loop; the prompts themselves block, so they stay out of it.
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name='panther-createuser', daemon=True)

    def __enter__(self) -> _CommandLoop:
        self._thread.start()
        return self

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def __exit__(self, *exc_info: object) -> None:
        from panther.configs import config

        if config.DATABASE is not None:
            self.run(config.DATABASE.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


_active_loop: _CommandLoop | None = None


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    if _active_loop is not None:
        return _active_loop.run(coroutine)
    from panther.utils import run_coroutine

    return run_coroutine(coroutine)


def load_application_file(path: str) -> ModuleType:
    """Import the app file: constructing the app loads its configs and connects the database."""
    return import_app_file(path, 'createuser')


def get_username(prompt: str, user_model: Any, username_field: str) -> str:
    """Ask until the answer is not empty and no user has it yet."""
    console = stdout_console()
    while True:
        username = Prompt.ask(prompt, console=console).strip()
        if not username:
            console.print(Text(f'The `{username_field}` cannot be empty.', style='red'))
        elif _run(user_model.exists({username_field: username})):
            taken = f'A user with {username_field} "{username}" already exists; choose another.'
            console.print(Text(taken, style='red'))
        else:
            return username


def get_password(prompt: str) -> str:
    """Ask, without echoing, until the password is not empty and typed the same twice."""
    console = stdout_console()
    while True:
        password = Prompt.ask(prompt, password=True, console=console)
        if not password:
            console.print(Text('The password cannot be empty.', style='red'))
        elif Prompt.ask('Enter it again', password=True, console=console) != password:
            console.print(Text('The passwords differ; try again.', style='red'))
        else:
            return password


def _user_model() -> Any:
    from panther.configs import config

    user_model = config.USER_MODEL
    if user_model is None:
        cli_error('`USER_MODEL` is not set in the configs, so there is no user model to create a user of.')
    if config.DATABASE is None:
        cli_error('`DATABASE` is not set in the configs, so there is nowhere to store the user.')
    fields = getattr(user_model, 'model_fields', {})
    if 'password' not in fields or not callable(getattr(user_model, 'set_password', None)):
        cli_error(
            f'{user_model.__name__} has no `password` field: "createuser" needs a user model that stores a hashed '
            'password, e.g. a subclass of `panther.db.models.BaseUser`.'
        )
    return user_model


def _unasked_required_fields(user_model: Any, asked: set[str]) -> list[str]:
    return [
        name
        for name, info in user_model.model_fields.items()
        if info.is_required() and name not in asked and name not in {'id', '_id'}
    ]


def _parse(args: list[str]) -> tuple[str, bool]:
    admin = '--admin' in args
    rest = [argument for argument in args if argument != '--admin']
    unknown = [argument for argument in rest if argument.startswith('-')]
    if unknown:
        cli_error(f'Unknown option "{unknown[0]}" for "createuser"; the only option is --admin.')
    if not rest:
        cli_error('The "createuser" command needs the app file, e.g. "panther createuser main.py".')
    if len(rest) > 1:
        cli_error('Too Many Arguments.')
    return rest[0], admin


async def _insert(user_model: Any, document: dict[str, Any], password: str) -> Any:
    user = await user_model.insert_one(document)
    await user.set_password(password)
    return user


def create_user(args: list[str]) -> int:
    global _active_loop
    app_file, admin = _parse(args)
    load_application_file(app_file)
    user_model = _user_model()
    username_field = getattr(user_model, 'USERNAME_FIELD', 'username')
    has_admin_field = _ADMIN_FIELD in user_model.model_fields
    if admin and not has_admin_field:
        cli_error(f'{user_model.__name__} has no `{_ADMIN_FIELD}` field, so "--admin" cannot mark the user as staff.')
    missing = _unasked_required_fields(user_model, {username_field, 'password'})
    if missing:
        cli_error(f'{user_model.__name__} has required fields "createuser" does not ask for: {", ".join(missing)}.')

    console = stdout_console()
    with _CommandLoop() as loop:
        _active_loop = loop
        try:
            try:
                username = get_username(f'Enter your `{username_field}`', user_model, username_field)
                password = get_password('Enter your `password`')
                if has_admin_field and not admin:
                    admin = Confirm.ask('Admin?', default=False, console=console)
            except KeyboardInterrupt:
                console.print(Text('Keyboard Interrupt'))
                return 0
            except EOFError:
                cli_error('The input ended before the user was created.')
            document: dict[str, Any] = {username_field: username}
            if has_admin_field:
                document[_ADMIN_FIELD] = admin
            try:
                _run(_insert(user_model, document, password))
            except Exception as exc:
                from panther.exceptions import DatabaseError, PantherError

                if not isinstance(exc, (DatabaseError, PantherError, ValueError)):
                    raise
                cli_error(f'The user was not created: {exc}')
        finally:
            _active_loop = None
    console.print(Text(f'{user_model.__name__}({username_field}={username}) Created Successfully.'))
    return 0
