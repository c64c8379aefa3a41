"""Importing the app a command works on: an app file (`main.py`) or an import target (`main:app`)."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from types import ModuleType

from panther.cli._output import cli_error

__all__ = ['import_app_file', 'import_app_target']


def _put_first_on_path(directory: str) -> None:
    if directory not in sys.path:
        sys.path.insert(0, directory)


def import_app_file(argument: str, command: str) -> ModuleType:
    """Import `argument` (a `.py` file) under its own module name, as `panther run main:app` would.

    Importing constructs the app: `Panther()` loads the configs, connects the database and fills `config`.
    """
    path = Path(argument)
    if path.suffix != '.py' or not path.is_file():
        cli_error(f'"{argument}" is not a Python file; give the app file, e.g. "panther {command} main.py".')
    resolved = path.resolve()
    # The working directory too, as `panther run` has it: `panther createuser examples/blog/main.py` from the
    # repository root imports `examples.blog...`. The file's folder comes first, for its sibling modules.
    _put_first_on_path(os.getcwd())
    _put_first_on_path(str(resolved.parent))
    # Executed afresh even when a module of that name was imported before (an earlier app file, or this one when
    # commands run in one process): loading the app is what configures `config` for the command.
    sys.modules.pop(resolved.stem, None)
    return importlib.import_module(resolved.stem)


def import_app_target(argument: str, command: str) -> ModuleType:
    """Import an app file (`main.py`) or the module of an import target (`main:app`, `core.main`)."""
    if argument.endswith('.py'):
        return import_app_file(argument, command)
    module_name = argument.partition(':')[0]
    if not module_name or not all(part.isidentifier() for part in module_name.split('.')):
        cli_error(f'"{argument}" is neither an app file nor a module, e.g. "panther {command} main.py".')
    # `panther run main:app` imports from the working directory; so does this.
    _put_first_on_path(os.getcwd())
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        # Only the target itself (or a package on its path) being absent is the user's mistake; a missing import
        # inside the app is the app's error, with its traceback.
        if exc.name is None or not (module_name == exc.name or module_name.startswith(f'{exc.name}.')):
            raise
        cli_error(f'No module named "{exc.name}" (from "{argument}"); run the command in the project directory.')
