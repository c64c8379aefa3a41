"""Database connections: the embedded SQLite database, MongoDB and Redis."""

from panther.db.connections.database import (
    BaseDatabaseConnection,
    DatabaseConnection,
    MongoDBConnection,
    PantherDBConnection,
    db,
    load_database,
)
from panther.db.connections.redis import RedisConnection, redis

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
