"""Shared fixtures. Every test starts with a fresh `config`; services are checked once per session."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from panther.configs import config
from panther.db.connections import load_database

# The example apps fall back to development keys that are published in this repository; Panther refuses those
# at start-up unless PANTHER_DEV is set. Tests of that refusal remove the flag themselves.
os.environ.setdefault('PANTHER_DEV', '1')

IN_CI = os.environ.get('CI', '').lower() in {'1', 'true', 'yes'}
REDIS_HOST, REDIS_PORT = '127.0.0.1', int(os.environ.get('PANTHER_TEST_REDIS_PORT', '6379'))
MONGO_HOST, MONGO_PORT = '127.0.0.1', int(os.environ.get('PANTHER_TEST_MONGO_PORT', '27017'))


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _require_service(name: str, host: str, port: int) -> None:
    if _reachable(host, port):
        return
    message = f'{name} is not reachable on {host}:{port}; start it with ./scripts/test'
    if IN_CI:
        pytest.fail(f'{message} (CI=true: a missing service is a failure)')
    pytest.skip(message)


@pytest.fixture(autouse=True)
def _fresh_config() -> Iterator[None]:
    config.refresh()
    yield
    config.refresh()


@pytest.fixture
def redis_address() -> tuple[str, int]:
    _require_service('Redis', REDIS_HOST, REDIS_PORT)
    return REDIS_HOST, REDIS_PORT


@pytest.fixture
def mongodb_address() -> tuple[str, int]:
    _require_service('MongoDB', MONGO_HOST, MONGO_PORT)
    return MONGO_HOST, MONGO_PORT


# Browser tests drive the system's chromium through its own chromedriver (both from apt, see scripts/test).
CHROMIUM, CHROMEDRIVER = '/usr/bin/chromium', '/usr/bin/chromedriver'


def _require_browser() -> None:
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append('selenium (the `test` extra)')
    if not missing:
        return
    message = f'the browser tests need {", ".join(missing)}; ./scripts/test installs them'
    if IN_CI:
        pytest.fail(f'{message} (CI=true: a missing browser is a failure)')
    pytest.skip(message)


@pytest.fixture(scope='session')
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One headless chromium for the session (each test starts by clearing its cookies)."""
    _require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    home = tmp_path_factory.mktemp('chromium')
    # Selenium Manager must not go to the network: the driver is given.
    previous = os.environ.get('SE_OFFLINE')
    os.environ['SE_OFFLINE'] = 'true'
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ('--headless=new', '--no-sandbox', '--disable-dev-shm-usage', '--window-size=1280,900'):
        options.add_argument(argument)
    options.add_argument(f'--user-data-dir={home / "profile"}')
    env = {**os.environ, 'HOME': str(home), 'TMPDIR': str(home), 'SE_OFFLINE': 'true'}
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER, env=env), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        if previous is None:
            os.environ.pop('SE_OFFLINE', None)
        else:
            os.environ['SE_OFFLINE'] = previous


def pytest_runtest_setup(item: pytest.Item) -> None:
    # Checked per test item: parametrised variants share their fixture list, so only the variants that carry
    # the marker (e.g. the MongoDB engine of a test run on both engines) need the service.
    if item.get_closest_marker('redis'):
        _require_service('Redis', REDIS_HOST, REDIS_PORT)
    if item.get_closest_marker('mongodb'):
        _require_service('MongoDB', MONGO_HOST, MONGO_PORT)
    if item.get_closest_marker('browser'):
        _require_browser()


@pytest.fixture(autouse=True)
def _fresh_memory_store() -> Iterator[None]:
    # Throttle counters, cached responses and revoked tokens must not leak from one test into the next.
    from panther._internal.store import reset_memory_store
    from panther.caching import clear_near_cache

    reset_memory_store()
    clear_near_cache()
    yield
    reset_memory_store()
    clear_near_cache()


@pytest.fixture(autouse=True)
def _no_background_tasks_left() -> Iterator[None]:
    # `config.refresh()` does not touch the scheduler: tasks one test submitted must not run in the next one's app.
    yield
    from panther.background_tasks import _background_tasks
    from panther.utils import timezone_now

    _background_tasks.tasks.clear()
    _background_tasks._initialized = False
    _background_tasks.clock = timezone_now


@pytest.fixture(params=['memory', pytest.param('redis', marks=pytest.mark.redis)])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """Runs a test once on the in-memory Store and once on the Redis Store."""
    if request.param == 'memory':
        yield 'memory'
        return
    from panther.db.connections.redis import close_redis, load_redis

    host, port = request.getfixturevalue('redis_address')
    load_redis({'host': host, 'port': port})
    try:
        yield 'redis'
    finally:
        await close_redis()


@pytest.fixture
def clock() -> Iterator[Any]:
    """A clock Panther reads instead of the real one (`clock.advance(seconds)`): expiry without waiting."""
    from panther._internal.clock import ManualClock

    manual = ManualClock()
    manual.install()
    yield manual
    ManualClock.uninstall()


@pytest.fixture(params=['sqlite', pytest.param('mongodb', marks=pytest.mark.mongodb)])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The embedded database (`'sqlite'`) or MongoDB (`'mongodb'`), a fresh one per test; tests run on both."""
    if request.param == 'sqlite':
        load_database(
            {'engine': {'class': 'panther.db.connections.PantherDBConnection', 'path': tmp_path / 'db.sqlite3'}}
        )
    else:
        name = f'panther_test_{uuid.uuid4().hex[:12]}'
        host, port = request.getfixturevalue('mongodb_address')
        load_database(
            {
                'engine': {
                    'class': 'panther.db.connections.MongoDBConnection',
                    'host': f'mongodb://{host}:{port}',
                    'database': name,
                }
            }
        )
    yield request.param
    if request.param == 'mongodb':
        await config.DATABASE.client.drop_database(config.DATABASE.session.name)
    await config.DATABASE.close()
