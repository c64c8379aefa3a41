"""The one start-up line that says which database and which Redis the app uses (never with credentials)."""

from __future__ import annotations

import importlib
import logging
from typing import Any

logger = logging.getLogger('panther')


def describe_database(connection: Any) -> str:
    from panther.db.connections import MongoDBConnection, PantherDBConnection

    if connection is None:
        return 'none'
    if isinstance(connection, PantherDBConnection):
        encrypted = ', encrypted' if connection.encryption else ''
        return f'SQLite engine ({connection.path.resolve()}{encrypted})'
    if isinstance(connection, MongoDBConnection):
        return f'MongoDB ({connection.address}, database {connection.session.name!r})'
    return type(connection).__name__


def describe_redis() -> str:
    # The module, not the `redis` proxy object the package exports under the same name.
    connection = importlib.import_module('panther.db.connections.redis')._connection
    if connection is None:
        return 'none (cache, throttling and logged-out tokens in process memory)'
    options = connection.connection_pool.connection_kwargs
    if options.get('path'):
        return f'unix:{options["path"]} db {options.get("db", 0)}'
    return f'{options.get("host", "localhost")}:{options.get("port", 6379)} db {options.get("db", 0)}'


def log_services() -> None:
    from panther.configs import config

    logger.info(f'Database: {describe_database(config.DATABASE)}; Redis: {describe_redis()}')
