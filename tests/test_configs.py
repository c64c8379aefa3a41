from __future__ import annotations

from dataclasses import fields
from datetime import timedelta
from pathlib import Path

import pytest

from panther._internal import state
from panther.configs import Config, JWTConfig, QueryObservable, config

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
