"""Database connections: the embedded SQLite database, MongoDB and Redis."""

from panther.db.connections.database import (
    BaseDatabaseConnection,
    DatabaseConnection,
    MongoDBConnection,
    PantherDBConnection,
    db,
    load_database,
)
from panther.db.connections.redis import redis


def __getattr__(name: str) -> object:
    # Imported on first use: it needs the optional `redis` package.
    if name == 'RedisConnection':
        import importlib

        # The package attribute `redis` is the connection proxy, so the module is taken from the import system.
        return importlib.import_module('panther.db.connections.redis').__getattr__('RedisConnection')
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


__all__ = [
    'BaseDatabaseConnection',
    'DatabaseConnection',
    'MongoDBConnection',
    'PantherDBConnection',
    'RedisConnection',
    'db',
    'load_database',
    'redis',
]
