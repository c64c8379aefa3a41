"""The signing key is checked at start-up: short or published keys are refused unless PANTHER_DEV is set."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from panther._internal.secret_key import PUBLISHED_KEYS
from panther.app import API, GenericAPI
from panther.authentications import JWTAuthentication
from panther.utils import generate_secret_key
from tests._core_helpers import REPO_ROOT, make_app

JWT = 'panther.authentications.JWTAuthentication'
HOW_TO = 'python -c "from panther.utils import generate_secret_key; print(generate_secret_key())"'


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv('PANTHER_DEV', raising=False)


@API()
async def hello() -> dict:
    return {'hello': 'world'}


@API(auth=JWTAuthentication)
async def private() -> dict:
    return {}


class PrivateAPI(GenericAPI):
    auth = JWTAuthentication

    async def get(self) -> dict:
        return {}


def refused(caplog: pytest.LogCaptureFixture, urls: dict, **settings: object) -> str:
    with pytest.raises(SystemExit) as exit_info:
        make_app(urls, **settings)
    assert exit_info.value.code == 1
    [error] = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    return error


@pytest.mark.parametrize('key', sorted(PUBLISHED_KEYS))
def test_a_published_key_is_refused(production: None, caplog: pytest.LogCaptureFixture, key: str) -> None:
    error = refused(caplog, {'': hello}, SECRET_KEY=key, AUTHENTICATION=JWT)
    assert error.startswith("Invalid 'SECRET_KEY': the key used to sign the JWTs is a development key published")
    assert HOW_TO in error
    assert 'PANTHER_DEV=1' in error


@pytest.mark.parametrize(
    ('settings', 'start'),
    [
        (
            {'SECRET_KEY': 'k' * 31, 'AUTHENTICATION': JWT},
            "Invalid 'SECRET_KEY': the key used to sign the JWTs is shorter",
        ),
        (
            {'SECRET_KEY': generate_secret_key(), 'JWT_CONFIG': {'key': 'short'}},
            "Invalid 'JWT_CONFIG.key': the key used to sign the JWTs is shorter than 32 bytes",
        ),
        (
            {'WS_AUTHENTICATION': 'panther.authentications.QueryParamJWTAuthentication', 'SECRET_KEY': 'x' * 8},
            'Invalid',
        ),
    ],
)
def test_a_short_key_is_refused(production: None, caplog: pytest.LogCaptureFixture, settings: dict, start: str) -> None:
    error = refused(caplog, {'': hello}, **settings)
    assert error.startswith(start)
    assert HOW_TO in error


@pytest.mark.parametrize('endpoint', [private, PrivateAPI], ids=['@API(auth=...)', 'GenericAPI.auth'])
def test_an_endpoint_with_its_own_jwt_authentication_needs_a_good_key(
    production: None, caplog: pytest.LogCaptureFixture, endpoint: object
) -> None:
    error = refused(caplog, {'private': endpoint}, SECRET_KEY='dev-only-key-at-least-32-bytes-long-change-me')
    assert error.startswith("Invalid 'SECRET_KEY': the key used to sign the JWTs is a development key published")


def test_the_development_flag_allows_a_published_key_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv('PANTHER_DEV', '1')
    make_app({'': hello}, SECRET_KEY=next(iter(PUBLISHED_KEYS)), AUTHENTICATION=JWT)
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert 'published' in warning and 'PANTHER_DEV is set: never deploy with it' in warning


def test_a_generated_key_starts_without_a_warning(production: None, caplog: pytest.LogCaptureFixture) -> None:
    make_app({'private': private}, SECRET_KEY=generate_secret_key(), AUTHENTICATION=JWT)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_apps_that_sign_nothing_start_with_any_key(production: None, caplog: pytest.LogCaptureFixture) -> None:
    make_app({'': hello}, SECRET_KEY='short')
    make_app({'': hello})
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def _start_example(app: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Import an example app in a fresh interpreter, as `panther run` would, with only `env` set."""
    clean = {k: v for k, v in os.environ.items() if k not in {'SECRET_KEY', 'PANTHER_DEV'}}
    clean.update(PANTHER_DB_PATH=str(tmp_path / 'c.pdb'), BLOG_DB_PATH=str(tmp_path / 'b.pdb'))
    clean.update(CHAT_DB_PATH=str(tmp_path / 'ch.pdb'), BLOG_UPLOAD_DIR=str(tmp_path / 'uploads'), **env)
    for name in ('MONGODB_URL', 'REDIS_HOST'):
        clean.pop(name, None)
    return subprocess.run(
        [sys.executable, '-c', f'import {app}'],
        cwd=REPO_ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize('app', ['examples.canonical.main', 'examples.blog.main', 'examples.chat.main'])
def test_examples_refuse_their_published_key_unless_in_development(app: str, tmp_path: Path) -> None:
    # The reported problem: with SECRET_KEY unset the examples signed tokens with a key from this repository.
    result = _start_example(app, tmp_path)
    assert result.returncode == 1
    assert 'is a development key published in the Panther repository' in result.stderr
    assert HOW_TO in result.stderr
    assert _start_example(app, tmp_path, PANTHER_DEV='1').returncode == 0


def test_an_example_with_its_own_key_starts(tmp_path: Path) -> None:
    result = _start_example('examples.canonical.main', tmp_path, SECRET_KEY=generate_secret_key())
    assert (result.returncode, result.stderr) == (0, '')
