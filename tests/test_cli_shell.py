"""`panther shell`: IPython with the app loaded, and a clear hint when IPython is missing."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests._core_helpers import run_interpreter

APP = """
from pathlib import Path

from panther import Panther
from panther.db.models import BaseUser

Path(__file__).with_name('imported').write_text('yes')

DATABASE = {'engine': {'class': 'panther.db.connections.PantherDBConnection', 'path': 'shell.pdb'}}
USER_MODEL = 'main.Member'


class Member(BaseUser):
    pass


app = Panther(__name__, configs=__name__, urls={})
"""

# Blocks `import IPython` the way an environment without it fails, then runs the command.
WITHOUT_IPYTHON = """
import sys
sys.modules['IPython'] = None
sys.argv = ['panther', *sys.argv[1:]]
from panther.cli.main import start
start()
"""


def _run(tmp_path: Path, *command: str, stdin: str = '') -> subprocess.CompletedProcess[str]:
    env = {**os.environ, 'IPYTHONDIR': str(tmp_path / '.ipython')}  # no history or profile in the user's home
    return run_interpreter(list(command), tmp_path, env=env, stdin=stdin, timeout=120)


@pytest.mark.slow
def test_shell_has_the_app_and_awaits_queries(tmp_path: Path) -> None:
    (tmp_path / 'main.py').write_text(APP)
    lines = [
        "print('app is', type(app).__name__, config.USER_MODEL.__name__)",
        "await Member.insert_one(username='ann')",
        "print('members', await Member.count())",
    ]
    result = _run(tmp_path, '-m', 'panther.cli.main', 'shell', 'main.py', stdin='\n'.join(lines) + '\n')
    assert result.returncode == 0, result.stderr
    assert 'app is Panther Member' in result.stdout
    assert 'members 1' in result.stdout
    assert 'Error' not in result.stdout


@pytest.mark.slow
def test_shell_without_ipython_gives_the_install_hint(tmp_path: Path) -> None:
    (tmp_path / 'main.py').write_text(APP)
    result = _run(tmp_path, '-c', WITHOUT_IPYTHON, 'shell', 'main.py')
    assert result.returncode == 1
    assert 'The "shell" command needs IPython: pip install ipython (or pip install "panther[full]").' in result.stderr
    assert 'Use "panther -h" for more help' in result.stderr
    assert 'Traceback' not in result.stderr
    # The app was not imported for nothing.
    assert not (tmp_path / 'imported').exists()
    assert not (tmp_path / 'logs').exists()
