"""`panther routes`: the route table read from what the endpoints declare."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from panther.cli._app import import_app_target
from panther.cli.routes_command import Route, collect_routes, routes
from tests._core_helpers import run_panther

REPO_ROOT = Path(__file__).resolve().parent.parent

APP = """
from datetime import timedelta

from panther import Panther
from panther.app import API, GenericAPI
from panther.authentications import CookieJWTAuthentication
from panther.permissions import IsAuthenticated
from panther.throttling import Throttle
from panther.websocket import GenericWebsocket

SECRET_KEY = 'x' * 40
AUTHENTICATION = 'panther.authentications.JWTAuthentication'
THROTTLING = Throttle(rate=100, duration=timedelta(minutes=1))


@API(methods=['POST', 'GET'], cache=timedelta(minutes=5), throttling=Throttle(rate=3, duration=timedelta(seconds=10)))
async def items(request):
    return []


@API(auth=CookieJWTAuthentication, permissions=[IsAuthenticated])
async def everything(request):
    return {}


class ItemAPI(GenericAPI):
    permissions = [IsAuthenticated]

    async def get(self, item_id: int):
        return {}

    async def delete(self, item_id: int):
        return None


class Feed(GenericWebsocket):
    connect_throttling = Throttle(rate=2, duration=timedelta(hours=1))


url_routing = {
    'items/': items,
    'items/<item_id>/': ItemAPI,
    'admin/': {'all/': everything},
    'ws/feed/': Feed,
}

app = Panther(__name__, configs=__name__, urls=url_routing)
"""


def _load(tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> list[Route]:
    (tmp_path / f'{name}.py').write_text(APP)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    import_app_target(f'{name}:app', 'routes')
    return collect_routes()


def test_routes_read_every_declaration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    found = {route.path: route for route in _load(tmp_path, 'routes_app_target', monkeypatch)}
    assert list(found) == ['/items/', '/items/<item_id>/', '/admin/all/', '/ws/feed/']
    module = 'routes_app_target'
    assert found['/items/'] == Route(
        path='/items/',
        methods='GET, POST',
        endpoint=f'{module}.items',
        auth='JWTAuthentication (default)',
        permissions='-',
        throttle='3 per 10 s',
        cache='5 min',
    )
    assert found['/items/<item_id>/'] == Route(
        path='/items/<item_id>/',
        methods='GET, DELETE',
        endpoint=f'{module}.ItemAPI',
        auth='JWTAuthentication (default)',
        permissions='IsAuthenticated',
        throttle='100 per 1 min (default)',
        cache='-',
    )
    everything = found['/admin/all/']
    assert everything.methods == 'GET, POST, PUT, PATCH, DELETE'
    assert (everything.auth, everything.permissions) == ('CookieJWTAuthentication', 'IsAuthenticated')
    feed = found['/ws/feed/']
    assert (feed.methods, feed.throttle, feed.cache) == ('WS', '2 per 1 h', '-')
    assert feed.auth == '-'  # no WS_AUTHENTICATION configured


def test_process_routes_of_an_app_file(tmp_path: Path) -> None:
    (tmp_path / 'main.py').write_text(APP)
    result = run_panther('routes', 'main.py', cwd=tmp_path, columns=250)
    assert result.returncode == 0, result.stderr
    rows = {line.split('│')[1].strip(): line for line in result.stdout.splitlines() if line.startswith('│')}
    assert set(rows) == {'/items/', '/items/<item_id>/', '/admin/all/', '/ws/feed/'}
    assert 'main.ItemAPI' in rows['/items/<item_id>/'] and 'GET, DELETE' in rows['/items/<item_id>/']
    assert '│ WS ' in rows['/ws/feed/']
    assert 'WS: a websocket route.' in result.stdout


def test_app_without_routes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / 'empty_routes_app.py').write_text(
        'from panther import Panther\napp = Panther(__name__, configs=__name__, urls={})\n'
    )
    monkeypatch.chdir(tmp_path)
    assert routes(['empty_routes_app.py']) == 0
    assert 'The app has no routes' in capsys.readouterr().out


def test_unknown_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.chdir(tmp_path)
    with caplog.at_level(logging.INFO, logger='panther'), pytest.raises(SystemExit) as exit_info:
        routes(['no_such_app_module:app'])
    assert exit_info.value.code == 1
    assert caplog.messages[0] == (
        'No module named "no_such_app_module" (from "no_such_app_module:app"); '
        'run the command in the project directory.'
    )


def test_a_broken_import_inside_the_app_is_not_hidden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / 'broken_routes_app.py').write_text('import no_such_dependency_of_the_app\n')
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModuleNotFoundError, match='no_such_dependency_of_the_app'):
        routes(['broken_routes_app:app'])


def test_app_file_imports_packages_of_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # `panther routes examples/blog/main.py` from the repository root: the app imports `examples.blog...`.
    monkeypatch.setattr(sys, 'path', list(sys.path))
    (tmp_path / 'cwd_routes_pkg').mkdir()
    (tmp_path / 'cwd_routes_pkg' / '__init__.py').write_text('')
    (tmp_path / 'cwd_routes_pkg' / 'endpoints.py').write_text(
        'from panther.app import API\n\n\n@API()\nasync def pinged(request):\n    return {}\n'
    )
    (tmp_path / 'site').mkdir()
    (tmp_path / 'site' / 'cwd_routes_main.py').write_text(
        'from panther import Panther\nfrom cwd_routes_pkg.endpoints import pinged\n\n'
        "app = Panther(__name__, configs=__name__, urls={'ping/': pinged})\n"
    )
    monkeypatch.chdir(tmp_path)
    assert routes([str(Path('site', 'cwd_routes_main.py'))]) == 0
    assert [route.endpoint for route in collect_routes()] == ['cwd_routes_pkg.endpoints.pinged']
    assert '/ping/' in capsys.readouterr().out
