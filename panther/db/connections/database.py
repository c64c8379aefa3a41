"""Database connections (`config.DATABASE`) and `load_database`, which reads the `DATABASE` setting."""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from panther.configs import config
from panther.db._session import PantherDBSession
from panther.db._sqlite import SQLiteStore
from panther.exceptions import PantherError

__all__ = [
    'BaseDatabaseConnection',
    'DatabaseConnection',
    'MongoDBConnection',
    'PantherDBConnection',
    'db',
    'load_database',
]

logger = logging.getLogger('panther')

DEFAULT_PATH = 'database.pdb'


class BaseDatabaseConnection(ABC):
    """A configured database; `config.DATABASE` holds one instance. Subclasses provide `session` and `client`."""

    @property
    @abstractmethod
    def session(self) -> Any:
        """The database handle queries run on."""

    @property
    @abstractmethod
    def client(self) -> Any:
        """The underlying driver object."""

    async def close(self) -> None:  # noqa: B027 - optional hook: not every connection holds resources
        """Release connections (called on application shutdown)."""


class PantherDBConnection(BaseDatabaseConnection):
    """The embedded database: an SQLite file (WAL mode, one table per model, JSON documents, ULID ids).

    `path` defaults to `database.pdb` in the working directory and is used as given (no suffix is added).
    `encryption=True` encrypts every document with Fernet using `config.SECRET_KEY`, read when first needed.
    The file exists once the connection is made; if it is deleted while the process runs (as test suites do
    between tests), the next operation starts a new, empty file.
    """

    def __init__(self, path: str | Path | None = None, encryption: bool = False) -> None:
        self.path = Path(path) if path else Path(DEFAULT_PATH)
        self.encryption = bool(encryption)
        self.store = SQLiteStore(self.path, encryption=self.encryption, key=self._secret_key)
        if self.encryption and config.SECRET_KEY:
            # Report a malformed key at start-up when it is already known.
            self.store.fernet()
        # Opening the first connection creates the file: 5.x apps and their tests expect it after start-up.
        self.store.connection()
        self._session = PantherDBSession(self.store)

    @staticmethod
    def _secret_key() -> bytes:
        key = config.SECRET_KEY
        if not key:
            raise PantherError('`PantherDBConnection(encryption=True)` needs `SECRET_KEY` in your configs.')
        return key.encode() if isinstance(key, str) else key

    @property
    def session(self) -> PantherDBSession:
        """The 5.x collection API (`db.session.collection('User').find_one(...)`) over the same tables as the
        `Model` queries; `connection()` gives the event-loop thread's `sqlite3.Connection`."""
        return self._session

    @property
    def client(self) -> PantherDBSession:
        return self._session

    async def close(self) -> None:
        await self.store.close()

    def __repr__(self) -> str:
        return f'PantherDBConnection(path={str(self.path)!r}, encryption={self.encryption})'


def redacted_uri(uri: str) -> str:
    """`scheme://hosts/path` of a connection URI: user, password and query options (which may hold secrets) left out."""
    parts = urlsplit(uri)
    if not parts.scheme or not parts.netloc:
        return uri.rpartition('@')[2]
    hosts = parts.netloc.rpartition('@')[2]
    return f'{parts.scheme}://{hosts}{parts.path}'


class MongoDBConnection(BaseDatabaseConnection):
    """MongoDB through pymongo's native asyncio client (`AsyncMongoClient`).

    `host` may be a full `mongodb://…/dbname` URI; `database` wins over the URI's database name.
    """

    def __init__(
        self,
        host: str = 'localhost',
        port: int = 27017,
        document_class: type | None = None,
        tz_aware: bool | None = None,
        connect: bool | None = None,
        type_registry: Any = None,
        database: str | None = None,
        **kwargs: Any,
    ) -> None:
        try:
            from pymongo import AsyncMongoClient
            from pymongo.errors import ConfigurationError
        except ImportError:  # pragma: no cover - depends on the environment
            raise PantherError('`MongoDBConnection` needs pymongo: `pip install "panther[mongo]"`.') from None
        options = {
            'document_class': document_class,
            'tz_aware': tz_aware,
            'connect': connect,
            'type_registry': type_registry,
        }
        options = {key: value for key, value in options.items() if value is not None}
        self._client: Any = AsyncMongoClient(host, port, **options, **kwargs)
        # For the start-up log: where the data lives, never the credentials a URI may carry.
        self.address = redacted_uri(host) if isinstance(host, str) and '://' in host else f'{host}:{port}'
        if database:
            self._database = self._client.get_database(database)
        else:
            try:
                self._database = self._client.get_default_database()
            except ConfigurationError:
                raise PantherError(
                    "Invalid 'DATABASE': MongoDB needs a database name, as `database` or in the URI."
                ) from None
        self._collections: dict[str, Any] = {}
        # Collections whose unique indexes have been checked by this connection (see `BaseMongoDBQuery`).
        self.indexed: set[str] = set()
        self._index_lock: asyncio.Lock | None = None

    @property
    def index_lock(self) -> asyncio.Lock:
        """Serialises index set-up, so concurrent first writes wait for the unique indexes instead of racing."""
        if self._index_lock is None:
            self._index_lock = asyncio.Lock()
        return self._index_lock

    def collection(self, name: str) -> Any:
        found = self._collections.get(name)
        if found is None:
            found = self._collections[name] = self._database[name]
        return found

    @property
    def session(self) -> Any:
        """The `AsyncDatabase` (`db.session['Book']`, `await db.session.drop_collection('Book')`)."""
        return self._database

    @property
    def client(self) -> Any:
        return self._client

    async def close(self) -> None:
        await self._client.close()

    def close_soon(self) -> None:
        """Close the client from synchronous code (`load_database()` replacing this connection).

        The client belongs to the event loop it was first used in: it is closed by a task of that loop when it is
        the running one, or by running that loop when none is. A client never used has nothing to release, and
        one whose loop is already closed cannot be closed from another loop.
        """
        # pymongo binds the client to its loop on first use and keeps it there.
        bound = getattr(self._client, '_loop', None)
        if not isinstance(bound, asyncio.AbstractEventLoop) or bound.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is bound:
            task = bound.create_task(self.close())
            # The loop keeps only weak references to tasks.
            _closing.add(task)
            task.add_done_callback(_closing.discard)
        elif running is None:
            bound.run_until_complete(self.close())

    def __repr__(self) -> str:
        return f'MongoDBConnection(database={self._database.name!r})'


_closing: set[asyncio.Task[None]] = set()


class DatabaseConnection:
    """`db`: shortcuts to the configured connection."""

    @property
    def session(self) -> Any:
        return config.DATABASE.session

    @property
    def client(self) -> Any:
        return config.DATABASE.client

    @property
    def is_defined(self) -> bool:
        return bool(config.DATABASE)


db = DatabaseConnection()

_ENGINES = {
    'panther.db.connections.PantherDBConnection': 'panther.db.queries.pantherdb_queries.BasePantherDBQuery',
    'panther.db.connections.MongoDBConnection': 'panther.db.queries.mongodb_queries.BaseMongoDBQuery',
}


def _import(dotted_path: str, what: str) -> Any:
    from panther._internal.imports import import_class

    try:
        return import_class(dotted_path)
    except (ImportError, AttributeError, ValueError) as error:
        raise PantherError(f"Invalid 'DATABASE': `{what}` cannot be imported ({error}).") from None


def release_database(connection: Any) -> None:
    """Close a connection from synchronous code (the app configured again, `config.refresh()`)."""
    if isinstance(connection, PantherDBConnection):
        connection.store.close_sync()
    elif isinstance(connection, MongoDBConnection):
        connection.close_soon()


def load_database(database_config: dict[str, Any]) -> None:
    """Create `config.DATABASE` from the `DATABASE` setting and choose `config.QUERY_ENGINE`."""
    from panther.db.queries.base_queries import BaseQuery

    if not isinstance(database_config, dict):
        raise PantherError("Invalid 'DATABASE': it should be a dict.")
    engine = database_config.get('engine')
    if engine is not None:
        if not isinstance(engine, dict):
            raise PantherError("Invalid 'DATABASE': `engine` should be a dict.")
        class_path = engine.get('class')
        if not class_path:
            raise PantherError('Invalid \'DATABASE\': `engine["class"]` not found.')
        connection_class = _import(class_path, class_path) if isinstance(class_path, str) else class_path
        if not isinstance(connection_class, type):
            raise PantherError(f"Invalid 'DATABASE': `{class_path}` is not a class.")
        options = {key: value for key, value in engine.items() if key != 'class'}
        # The app is being configured again in this process: release the old connection first.
        release_database(config.DATABASE)
        try:
            config.DATABASE = connection_class(**options)
        except TypeError as error:
            raise PantherError(f"Invalid 'DATABASE': {error}") from None
        query_path = _ENGINES.get(class_path) if isinstance(class_path, str) else None
        if query_path is None and issubclass(connection_class, PantherDBConnection):
            query_path = _ENGINES['panther.db.connections.PantherDBConnection']
        if query_path is None and issubclass(connection_class, MongoDBConnection):
            query_path = _ENGINES['panther.db.connections.MongoDBConnection']
        if query_path is not None:
            config.QUERY_ENGINE = _import(query_path, query_path)
    query = database_config.get('query')
    if query:
        if config.QUERY_ENGINE:
            logger.warning('`DATABASE.query` has already been filled.')
        query_class = _import(query, query) if isinstance(query, str) else query
        if not (isinstance(query_class, type) and issubclass(query_class, BaseQuery)):
            raise PantherError(f"Invalid 'DATABASE': `{query}` should be a subclass of `BaseQuery`.")
        # Engines are used as classes, never instantiated, so missing methods are reported here.
        missing = sorted(getattr(query_class, '__abstractmethods__', ()))
        if missing:
            raise PantherError(f"Invalid 'DATABASE': `{query}` does not implement {', '.join(missing)}.")
        config.QUERY_ENGINE = query_class
