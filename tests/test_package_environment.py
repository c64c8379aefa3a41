"""Panther installs beside the Panther 5.x stack: no top-level module name of ours clashes with theirs.

Every 5.x environment has `simple-ulid` (top-level module `ulid`) and `pantherdb`. A fresh virtual environment
gets both, with `simple-ulid`'s `ulid` first on the path, and must still import Panther and serve an app.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import textwrap
import venv
from pathlib import Path

from tests._core_helpers import REPO_ROOT

APP = textwrap.dedent(
    """
    import asyncio
    import pathlib
    import sys

    import pantherdb
    import ulid

    from panther import Panther
    from panther.app import API
    from panther.db import Model
    from panther.test import APIClient, WebsocketClient
    from panther.websocket import GenericWebsocket

    # The 5.x stack's own modules are the ones in use, not something of ours with the same name.
    assert pathlib.Path(ulid.__file__).is_relative_to(sys.argv[1]), ulid.__file__
    assert pathlib.Path(pantherdb.__file__).is_relative_to(sys.argv[1]), pantherdb.__file__
    assert ulid.new()

    DATABASE = {'engine': {'class': 'panther.db.connections.PantherDBConnection', 'path': 'db.sqlite3'}}


    class Note(Model):
        text: str


    @API(methods=['POST'])
    async def create(request):
        return await Note.insert_one(text=request.data['text'])


    class Echo(GenericWebsocket):
        async def connect(self):
            await self.accept()
            await self.send(self.connection_id)


    app = Panther(__name__, configs=__name__, urls={'notes': create, 'echo': Echo})


    async def main():
        async with APIClient(app) as client:
            response = await client.post('/notes', payload={'text': 'hi'})
        assert response.status_code == 200, response.data
        assert len(response.data['id']) == 26
        async with WebsocketClient(app).session('/echo') as socket:
            assert len(await socket.receive_text()) == 26
        print('served')


    asyncio.run(main())
    """
)


def test_panther_runs_beside_simple_ulid_and_pantherdb(tmp_path: Path) -> None:
    fresh = tmp_path / 'fresh'
    venv.EnvBuilder(with_pip=False).create(fresh)
    python = fresh / 'bin' / 'python'
    fresh_site = Path(
        subprocess.check_output(
            [str(python), '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'], text=True
        ).strip()
    )
    install = subprocess.run(
        [sys.executable, '-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--no-deps',
         '--target', str(fresh_site), 'simple-ulid==1.0.0', 'pantherdb==2.3.3'],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr
    # Panther's own dependencies come from the test environment, after the fresh site-packages on the path.
    (fresh_site / 'panther_dependencies.pth').write_text(sysconfig.get_paths()['purelib'] + '\n')
    (tmp_path / 'app.py').write_text(APP)

    result = subprocess.run(
        [str(python), 'app.py', str(fresh_site)],
        cwd=tmp_path,
        env={'PYTHONPATH': str(REPO_ROOT), 'PATH': '/usr/bin:/bin'},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith('served')
