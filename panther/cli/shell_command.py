"""`panther shell <app file>`: IPython with the app module imported and its settings loaded."""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

from panther.cli._app import import_app_file
from panther.cli._output import cli_error

__all__ = ['shell']

INSTALL_HINT = 'The "shell" command needs IPython: pip install ipython (or pip install "panther[full]").'


def _ipython() -> ModuleType:
    try:
        import IPython
    except ImportError:
        cli_error(INSTALL_HINT)
    return IPython


def _namespace(module: ModuleType) -> dict[str, Any]:
    from panther.configs import config

    # The app module's own names (app, models, endpoints, ...), `config` and the user model.
    namespace = {name: value for name, value in vars(module).items() if not name.startswith('__')}
    namespace.setdefault('config', config)
    if config.USER_MODEL is not None:
        namespace.setdefault(config.USER_MODEL.__name__, config.USER_MODEL)
    namespace[module.__name__] = module
    return namespace


def shell(args: list[str]) -> int:
    if not args:
        cli_error('The "shell" command needs the app file, e.g. "panther shell main.py".')
    if len(args) > 1:
        cli_error('Too Many Arguments.')
    # Checked before the app is imported: an app that connects to services at import should not do so for nothing.
    ipython = _ipython()
    module = import_app_file(args[0], 'shell')
    # A terminal gets the asyncio loop integration; piped input (scripts, tests) gets IPython's simple prompt, which
    # refuses the loop hook with a warning. `await User.find_one(...)` works at the prompt either way.
    argv = ['--gui', 'asyncio'] if sys.stdin.isatty() else []
    ipython.start_ipython(argv=[*argv, '--no-banner'], user_ns=_namespace(module))
    return 0
