from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import fields
from datetime import timedelta
from pathlib import Path

import jwt
import pytest

from panther._internal import state
from panther._internal.store import MemoryStore, RedisStore, get_store
from panther.app import API
from panther.configs import Config, JWTConfig, QueryObservable, config
from panther.db import Model
from panther.events import Event
from panther.routings import ENDPOINT_NOT_FOUND, find_endpoint
from panther.test import APIClient, WebsocketClient
from panther.throttling import Throttle
from panther.websocket import GenericWebsocket, group_members, join_group, send_message_to_websocket, send_to_group
from tests._core_helpers import make_app

FIELD_ORDER = [
    'BASE_DIR', 'MONITORING', 'LOG_QUERIES', 'SECRET_KEY', 'HTTP_MIDDLEWARES', 'WS_MIDDLEWARES', 'USER_MODEL',
    'AUTHENTICATION', 'WS_AUTHENTICATION', 'JWT_CONFIG', 'MODELS', 'FLAT_URLS', 'URLS', 'WEBSOCKET_CONNECTIONS',
    'BACKGROUND_TASKS', 'HAS_WS', 'TIMEZONE', 'TEMPLATES_DIR', 'JINJA_ENVIRONMENT', 'AUTO_REFORMAT', 'QUERY_ENGINE',
    'DATABASE',
]  # fmt: skip

DEFAULTS = {
    'BASE_DIR': Path(), 'MONITORING': False, 'LOG_QUERIES': False, 'SECRET_KEY': None, 'HTTP_MIDDLEWARES': [],
    'WS_MIDDLEWARES': [], 'USER_MODEL': None, 'AUTHENTICATION': None, 'WS_AUTHENTICATION': None, 'JWT_CONFIG': None,
    'MODELS': [], 'FLAT_URLS': {}, 'URLS': {}, 'WEBSOCKET_CONNECTIONS': None, 'BACKGROUND_TASKS': False,
    'HAS_WS': False, 'TIMEZONE': 'UTC', 'TEMPLATES_DIR': '.', 'JINJA_ENVIRONMENT': None, 'AUTO_REFORMAT': False,
    'QUERY_ENGINE': None, 'DATABASE': None,
}  # fmt: skip


def test_config_is_one_instance_of_config() -> None:
    assert isinstance(config, Config)
    from panther import configs

    assert configs.config is config


def test_field_declaration_order() -> None:
    assert [f.name for f in fields(Config)] == FIELD_ORDER


def test_defaults_after_refresh() -> None:
    assert config.vars() == DEFAULTS
    assert list(config.vars()) == FIELD_ORDER


def test_unknown_attributes_read_as_none() -> None:
    assert config.CUSTOM_KEY is None
    assert config.anything_at_all is None
    assert config.THROTTLING is None


def test_dunder_lookups_still_raise() -> None:
    # copy/pickle probe dunders; answering None for them would break those protocols.
    with pytest.raises(AttributeError):
        config.__missing_dunder__  # noqa: B018


def test_item_access_is_upper_cased() -> None:
    config['custom_key'] = 5
    assert config.CUSTOM_KEY == 5
    assert config['custom_key'] == 5
    assert config['CUSTOM_KEY'] == 5
    assert config['timezone'] == 'UTC'


def test_vars_keeps_fields_then_extra_keys_in_set_order() -> None:
    config.THROTTLING = 'throttle'
    config.MIDDLEWARES = ['m']
    keys = list(config.vars())
    assert keys[: len(FIELD_ORDER)] == FIELD_ORDER
    assert keys[-3:] == ['DATABASE', 'THROTTLING', 'MIDDLEWARES']


def test_vars_is_a_copy() -> None:
    snapshot = config.vars()
    snapshot['TIMEZONE'] = 'Asia/Tehran'
    snapshot['NEW'] = 1
    assert config.TIMEZONE == 'UTC'
    assert config.NEW is None


def test_refresh_resets_fields_and_drops_custom_keys() -> None:
    config.MODELS.append(object)
    config.URLS['x'] = 1
    config.HAS_WS = True
    config.BASE_DIR = Path('/tmp')
    config.TIMEZONE = 'Europe/Paris'
    config.THROTTLING = object()
    config.CUSTOM = 'value'
    config.refresh()
    assert config.vars() == DEFAULTS
    assert config.CUSTOM is None
    assert config.THROTTLING is None
    assert config.HAS_WS is False


def test_refresh_gives_fresh_containers() -> None:
    before = config.MODELS
    config.refresh()
    config.MODELS.append(1)
    assert before == []
    assert Config().MODELS == []


def test_routing_keys_bump_the_configuration_version() -> None:
    before = state.config_version
    config.URLS = {'x': 1}
    assert state.config_version > before
    mid = state.config_version
    config.TIMEZONE = 'UTC'
    assert state.config_version == mid
    config.MAX_BODY_SIZE = 5
    assert state.config_version > mid


def test_query_engine_assignment_notifies_observers() -> None:
    seen: list[object] = []

    class Observer:
        @staticmethod
        def _reload_bases(parent: object) -> None:
            seen.append(parent)

    QueryObservable.observers.append(Observer)
    try:
        config.QUERY_ENGINE = None
        assert seen == []
        engine = object()
        config.QUERY_ENGINE = engine
        assert seen == [engine]
    finally:
        QueryObservable.observers.remove(Observer)
        object.__setattr__(config, 'QUERY_ENGINE', None)


def test_jwt_config_converts_lifetimes() -> None:
    jwt = JWTConfig(key='k', life_time=timedelta(hours=1))
    assert (jwt.key, jwt.algorithm, jwt.life_time, jwt.refresh_life_time) == ('k', 'HS256', 3600, 7200)
    explicit = JWTConfig(key='k', algorithm='HS512', life_time=10, refresh_life_time=timedelta(seconds=30))
    assert (explicit.algorithm, explicit.life_time, explicit.refresh_life_time) == ('HS512', 10, 30)
    assert JWTConfig(key='k').life_time == 86400


def test_jwt_config_equality() -> None:
    assert JWTConfig(key='k', life_time=60) == JWTConfig(key='k', life_time=timedelta(minutes=1))
    assert JWTConfig(key='k') != JWTConfig(key='other')


# config.refresh(): the process back to a clean start (SPEC §31)


@API(throttling=Throttle(rate=1, duration=timedelta(minutes=1)))
async def limited() -> dict:
    return {'ok': True}


_cache_calls: list[int] = []


@API(cache=timedelta(minutes=1))
async def cached() -> dict:
    _cache_calls.append(1)
    return {'calls': len(_cache_calls)}


async def test_refresh_forgets_throttle_counters_and_cached_responses() -> None:
    _cache_calls.clear()
    client = APIClient(make_app({'limited': limited, 'cached': cached}))
    assert (await client.get('/limited')).status_code == 200
    assert (await client.get('/limited')).status_code == 429
    assert (await client.get('/cached')).data == {'calls': 1}
    assert (await client.get('/cached')).data == {'calls': 1}
    config.refresh()
    client = APIClient(make_app({'limited': limited, 'cached': cached}))
    assert (await client.get('/limited')).status_code == 200
    assert (await client.get('/cached')).data == {'calls': 2}


async def test_refresh_forgets_values_in_the_memory_store() -> None:
    await get_store().set('panther:test:key', b'value', ttl=60)
    config.refresh()
    assert await get_store().get('panther:test:key') is None


async def test_refresh_forgets_startup_and_shutdown_hooks() -> None:
    calls: list[str] = []

    @Event.startup
    def started() -> None:
        calls.append('startup')

    @Event.shutdown
    def stopped() -> None:
        calls.append('shutdown')

    config.refresh()
    async with APIClient(make_app({})):
        pass
    assert calls == []


async def test_refresh_unmounts_the_routes_of_running_apps() -> None:
    client = APIClient(make_app({'limited': limited}))
    assert (await client.get('/limited')).status_code == 200
    config.refresh()
    assert (await client.get('/limited')).status_code == 404
    assert find_endpoint('/limited') == ENDPOINT_NOT_FOUND


def _open_descriptors_of(path: Path) -> list[str]:
    # Every file this process holds open, by the path it was opened with (Linux).
    found = []
    for link in Path('/proc/self/fd').iterdir():
        with contextlib.suppress(OSError):
            if os.readlink(link).startswith(str(path)):
                found.append(str(link))
    return found


@pytest.mark.skipif(not Path('/proc/self/fd').is_dir(), reason='needs /proc to list open files')
async def test_refresh_closes_the_embedded_database(tmp_path: Path) -> None:
    database = tmp_path / 'refresh.pdb'

    class Note(Model):
        title: str

    make_app({}, DATABASE={'engine': {'class': 'panther.db.connections.PantherDBConnection', 'path': str(database)}})
    await Note.insert_one(title='kept')
    assert _open_descriptors_of(database)
    config.refresh()
    assert config.DATABASE is None
    assert _open_descriptors_of(database) == []
    # The file is intact and opens again for the next app.
    make_app({}, DATABASE={'engine': {'class': 'panther.db.connections.PantherDBConnection', 'path': str(database)}})
    assert [note.title for note in await Note.find()] == ['kept']


@pytest.mark.redis
async def test_refresh_disconnects_redis(redis_address: tuple[str, int]) -> None:
    from panther.db.connections.redis import load_redis, redis

    host, port = redis_address
    load_redis({'host': host, 'port': port})
    assert redis.is_connected
    assert isinstance(get_store(), RedisStore)
    config.refresh()
    assert not redis.is_connected
    assert isinstance(get_store(), MemoryStore)
    # The old connection is closed by a task of this loop.
    await asyncio.gather(*(task for task in asyncio.all_tasks() if task is not asyncio.current_task()))


class Feed(GenericWebsocket):
    async def connect(self) -> None:
        await self.accept()
        await self.send(self.connection_id)


async def test_refresh_forgets_open_websockets() -> None:
    app = make_app({'feed': Feed})
    async with WebsocketClient(app).session('/feed') as ws:
        connection_id = await ws.receive_text()
        await send_message_to_websocket(connection_id, 'before')
        assert await ws.receive_text() == 'before'
        config.refresh()
        # In-process delivery is synchronous: had the registry kept the socket, the message would be queued now.
        await send_message_to_websocket(connection_id, 'after')
        assert ws.messages[-1] == {'type': 'websocket.send', 'text': 'before'}


async def test_refresh_forgets_websocket_groups() -> None:
    app = make_app({'feed': Feed})
    async with WebsocketClient(app).session('/feed') as ws:
        connection_id = await ws.receive_text()
        await join_group(connection_id, 'news', info={'name': 'ann'})
        assert await group_members('news') == {connection_id: {'name': 'ann'}}
        config.refresh()
        assert await group_members('news') == {}
        assert await send_to_group('news', 'after') == 0


async def test_refresh_forgets_verified_tokens() -> None:
    from panther import authentications

    config.JWT_CONFIG = JWTConfig(key='a-test-signing-key-that-is-long-enough-for-hs256', life_time=60)
    token = jwt.encode(
        {'token_type': 'access', 'user_id': '1', 'iat': int(time.time()), 'exp': int(time.time()) + 60},
        config.JWT_CONFIG.key,
        algorithm='HS256',
    )
    authentications.JWTAuthentication.decode_jwt(token)
    assert authentications._verified_tokens
    config.refresh()
    assert not authentications._verified_tokens
