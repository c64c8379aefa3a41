"""The SQLite store behind `PantherDBConnection`.

A thread hand-off costs far more than an SQLite point operation, so statements first run *inline* on the
event-loop thread with `busy_timeout=0` and a short time budget. When the file is locked by another connection
(`SQLITE_BUSY`) or the statement overruns its budget, the same work is redone on one dedicated worker thread
per database, whose connection waits for locks. Long scans are streamed from that thread in batches through
pooled read-only connections, so an unfinished cursor never holds back commits of the writer connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import hmac
import logging
import os
import re
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar, cast

from panther.exceptions import DatabaseError, PantherError

__all__ = ['SQLITE_HEADER', 'SQLiteStore', 'check_database_file', 'quote_identifier', 'unique_index_name']

logger = logging.getLogger('panther')

T = TypeVar('T')

SQLITE_HEADER = b'SQLite format 3\x00'

# The progress handler runs every PROGRESS_STEPS virtual-machine steps (a point query needs far fewer). An inline
# statement gets INLINE_BUDGET_CALLS of them (~1-3 ms of work) before it is interrupted and handed to the worker.
# Counting steps instead of reading a clock keeps the decision independent of machine load and GIL waits.
PROGRESS_STEPS = 1000
INLINE_BUDGET_CALLS = 150
# Decrypting runs Python per row inside few VM steps, so encrypted databases get a smaller budget.
ENCRYPTED_BUDGET_CALLS = 10
# A statement that overran its inline budget goes straight to the worker this many times before trying again.
SLOW_SKIPS = 100
# Results with more rows than this are streamed from the worker thread instead of read inline.
INLINE_MAX_ROWS = 256
STREAM_BATCH = 1000
WORKER_BUSY_TIMEOUT_MS = 10_000
# Inline connections never checkpoint (that can take milliseconds); the worker does it every N inline writes.
CHECKPOINT_EVERY = 1000
MAX_READERS = 4

_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
_SQLITE_INTERRUPT = 9
_IDENTIFIER = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')


def quote_identifier(name: str) -> str:
    """Quote a table name; names are class names, anything else is refused rather than escaped."""
    if not _IDENTIFIER.match(name):
        raise DatabaseError(f'`{name}` is not a valid table name.')
    return f'"{name}"'


def check_database_file(path: str) -> None:
    """Refuse files that exist but are not SQLite databases (the old JSON PantherDB format, typically)."""
    try:
        with open(path, 'rb') as file:
            header = file.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        return
    except IsADirectoryError:
        raise PantherError(f"Invalid 'DATABASE': `{path}` is a directory.") from None
    if header and header != SQLITE_HEADER:
        raise PantherError(
            f'`{path}` is not an SQLite database: it looks like a database of the old JSON PantherDB engine. '
            f'Import it once with `panther db import {path}` (the original file is kept as a backup).'
        )


_UNDECRYPTABLE = 'Cannot decrypt the database: `SECRET_KEY` is not the key it was encrypted with.'


def _database_error(error: sqlite3.Error) -> DatabaseError:
    # Exceptions inside SQL functions (decryption) reach us only as this generic message.
    if 'user-defined function raised exception' in str(error):
        return DatabaseError(_UNDECRYPTABLE)
    return DatabaseError(str(error))


def _error_code(error: sqlite3.Error) -> int:
    code = getattr(error, 'sqlite_errorcode', None)
    if code is not None:
        return cast('int', code & 0xFF)
    # Python 3.10 has no error codes on exceptions; the messages are stable.
    message = str(error)
    if 'locked' in message:
        return _SQLITE_BUSY
    if 'interrupted' in message:
        return _SQLITE_INTERRUPT
    return -1


@functools.lru_cache(maxsize=256)
def _compile_regex(pattern: str, flags: str) -> re.Pattern[str]:
    value = 0
    for flag in flags:
        value |= {'i': re.IGNORECASE, 'm': re.MULTILINE, 's': re.DOTALL, 'x': re.VERBOSE}.get(flag, 0)
    return re.compile(pattern, value)


def _sql_regexp(pattern: str | None, flags: str | None, value: Any) -> int:
    if pattern is None or not isinstance(value, str):
        return 0
    return 1 if _compile_regex(pattern, flags or '').search(value) else 0


class _Stream:
    """One streaming result on a pooled read-only connection; lives in the worker thread."""

    __slots__ = ('closed', 'connection', 'cursor')

    def __init__(self, connection: sqlite3.Connection, cursor: sqlite3.Cursor) -> None:
        self.connection = connection
        self.cursor = cursor
        self.closed = False


class SQLiteStore:
    """Connections, the worker thread and the inline/worker dispatch for one database file."""

    def __init__(self, path: str | Path, *, encryption: bool = False, key: Callable[[], bytes] | None = None) -> None:
        self.path = str(path)
        check_database_file(self.path)
        # Every connection opens the same file, even when the working directory changes after the first one.
        self._file = os.path.abspath(self.path)
        # (device, inode) of the file the connections are open on; `None` until the first connection.
        self._identity: tuple[int, int] | None = None
        self.encrypted = encryption
        self._key = key
        self._fernet: Any = None
        self._blind_key: bytes | None = None
        self._inline: sqlite3.Connection | None = None
        self._worker: sqlite3.Connection | None = None
        self._readers: list[sqlite3.Connection] = []
        self._executor: ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()
        self._ticks = 0
        self._budget = ENCRYPTED_BUDGET_CALLS if encryption else INLINE_BUDGET_CALLS
        # Statement → how many more times to skip the inline attempt (it overran its budget recently).
        self._slow: dict[Any, int] = {}
        self._tables: set[str] = set()
        # Tables whose unique indexes match their model (writes wait for that, reads only need the table).
        self.unique_ready: set[str] = set()
        self._indexes: set[str] = set()
        self._writes = 0
        self._checkpoint_pending = False
        # Every connection and the executor, so a store dropped without `close()` still releases them.
        self._opened: list[sqlite3.Connection] = []
        self._executors: list[ThreadPoolExecutor] = []
        weakref.finalize(self, _release, self._opened, self._executors)

    def connection(self) -> sqlite3.Connection:
        """The `sqlite3.Connection` used on the event-loop thread (for raw SQL; keep statements short)."""
        self.check_file()
        return self._inline_connection()

    # ------------------------------------------------------------------------------------ the file itself

    def check_file(self) -> None:
        """Reopen the database when its file was deleted or replaced since the connections were opened.

        Test suites delete the file between tests while the process lives on. Open connections would go on using
        the unlinked file (so the next test would see the previous one's documents), and a new connection next to
        them would share their `-wal`/`-shm` files. Called at the start of every operation, before table caches are
        trusted: one `stat()`.
        """
        identity = self._identity
        if identity is None:
            return
        try:
            status = os.stat(self._file)
        except FileNotFoundError:
            status = None
        if status is not None and (status.st_dev, status.st_ino) == identity:
            return
        logger.info(f'`{self.path}` was deleted or replaced while open; opening it again.')
        self._reset_connections()
        if status is None:
            self._remove_leftovers()

    def _remove_leftovers(self) -> None:
        """Delete the `-wal`/`-shm` files of a deleted database, so a new file never starts with the old log."""
        if os.path.exists(self._file):
            return
        for suffix in ('-wal', '-shm'):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._file + suffix)

    def _reset_connections(self) -> None:
        """Close every connection (the worker's on its thread) and forget what they knew about the schema."""
        if self._executor is not None:
            self._executor.submit(self._close_worker_side).result()
        if self._inline is not None:
            with contextlib.suppress(sqlite3.Error):
                # SQLite does not empty the log of a moved file when closing; a file put in its place would
                # otherwise start with these pages.
                self._ticks = 0
                self._inline.execute('PRAGMA wal_checkpoint(TRUNCATE)')
            self._inline.close()
            self._inline = None
        # Connections still streaming from the old file are not in this list, so they are closed, not pooled, when
        # their stream ends.
        self._opened.clear()
        self._identity = None
        self._tables.clear()
        self.unique_ready.clear()
        self._indexes.clear()
        self._slow.clear()
        self._writes = 0

    # ---------------------------------------------------------------------------------------------- crypto

    def fernet(self) -> Any:
        if self._fernet is None:
            try:
                from cryptography.fernet import Fernet
            except ImportError:  # pragma: no cover - depends on the environment
                raise PantherError('`encryption=True` needs the `cryptography` package.') from None
            if self._key is None:
                raise PantherError('`encryption=True` needs a key.')
            try:
                self._fernet = Fernet(self._key())
            except (ValueError, TypeError) as error:
                raise PantherError(
                    f'`encryption=True` needs a Fernet key in `SECRET_KEY` '
                    f'(generate one with `panther.utils.generate_secret_key()`): {error}'
                ) from None
        return self._fernet

    def encrypt(self, text: str | bytes) -> str:
        raw = text.encode() if isinstance(text, str) else text
        return cast('str', self.fernet().encrypt(raw).decode('ascii'))

    def decrypt(self, token: str) -> bytes:
        from cryptography.fernet import InvalidToken

        try:
            return cast('bytes', self.fernet().decrypt(token.encode('ascii')))
        except InvalidToken:
            raise DatabaseError(_UNDECRYPTABLE) from None

    def _sql_decrypt(self, token: str | None) -> str | None:
        return None if token is None else self.decrypt(token).decode()

    def _sql_encrypt(self, text: str | None) -> str | None:
        return None if text is None else self.encrypt(text)

    def _sql_blind(self, value: Any) -> bytes | None:
        """A keyed hash of a value: what unique indexes of an encrypted database hold instead of the value itself
        (an index stores its keys in clear)."""
        if value is None:
            return None
        if self._blind_key is None:
            key = self._key() if self._key is not None else b''
            self._blind_key = hashlib.sha256(b'panther unique index\x00' + key).digest()
        if isinstance(value, float) and value.is_integer():
            # 1 and 1.0 are one value for a unique index, as in SQLite and MongoDB.
            value = int(value)
        return hmac.new(self._blind_key, f'{type(value).__name__}:{value}'.encode(), hashlib.sha256).digest()

    # ----------------------------------------------------------------------------------------- connections

    @staticmethod
    def _enable_wal(connection: sqlite3.Connection) -> None:
        """Switch to WAL, retrying while another process holds the lock.

        SQLite answers some lock conflicts on this pragma with SQLITE_BUSY at once, without calling the busy
        handler (e.g. while another process is creating the file), so the wait is done here.
        """
        deadline = time.monotonic() + WORKER_BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                connection.execute('PRAGMA journal_mode = WAL')
                return
            except sqlite3.OperationalError as error:
                if ('locked' not in str(error) and 'busy' not in str(error)) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def _connect(self, busy_timeout_ms: int, *, read_only: bool = False) -> sqlite3.Connection:
        try:
            connection = sqlite3.connect(
                self._file, isolation_level=None, check_same_thread=False, cached_statements=512, timeout=0
            )
        except sqlite3.Error as error:
            raise PantherError(f'`{self.path}` cannot be opened as an SQLite database: {error}') from None
        try:
            # Converting a fresh file to WAL needs the write lock once; wait for it like the worker does.
            connection.execute(f'PRAGMA busy_timeout = {WORKER_BUSY_TIMEOUT_MS}')
            self._enable_wal(connection)
            connection.execute('PRAGMA synchronous = NORMAL')
            connection.execute(f'PRAGMA busy_timeout = {int(busy_timeout_ms)}')
            if read_only:
                connection.execute('PRAGMA query_only = 1')
        except sqlite3.DatabaseError as error:
            connection.close()
            raise PantherError(f'`{self.path}` cannot be opened as an SQLite database: {error}') from None
        if self._identity is None:
            status = os.stat(self._file)
            self._identity = (status.st_dev, status.st_ino)
        self._opened.append(connection)
        connection.create_function('panther_regexp', 3, _sql_regexp, deterministic=True)
        if self.encrypted:
            connection.create_function('panther_decrypt', 1, self._sql_decrypt, deterministic=True)
            # Fernet tokens are randomised, so encryption is not deterministic.
            connection.create_function('panther_encrypt', 1, self._sql_encrypt)
            connection.create_function('panther_blind', 1, self._sql_blind, deterministic=True)
        return connection

    def _inline_connection(self) -> sqlite3.Connection:
        connection = self._inline
        if connection is None:
            connection = self._connect(0)
            connection.execute('PRAGMA wal_autocheckpoint = 0')
            connection.set_progress_handler(self._over_budget, PROGRESS_STEPS)
            self._inline = connection
        return connection

    def _over_budget(self) -> int:
        self._ticks += 1
        return 1 if self._ticks > self._budget else 0

    def _worker_connection(self) -> sqlite3.Connection:
        connection = self._worker
        if connection is None:
            connection = self._connect(WORKER_BUSY_TIMEOUT_MS)
            self._worker = connection
        return connection

    def _executor_instance(self) -> ThreadPoolExecutor:
        executor = self._executor
        if executor is None:
            with self._executor_lock:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix='panther-sqlite')
                    self._executors.append(self._executor)
                executor = self._executor
        return executor

    # ------------------------------------------------------------------------------------------- dispatch

    def _call_inline(self, func: Callable[..., T], args: Sequence[Any], budget: bool = True) -> T:
        connection = self._inline_connection()
        # Writes are never interrupted (see `run`): start them with a budget they cannot exhaust.
        self._ticks = 0 if budget else -(1 << 62)
        return func(connection, *args)

    def _call_worker(self, func: Callable[..., T], args: Sequence[Any]) -> T:
        return func(self._worker_connection(), *args)

    async def run(self, func: Callable[..., T], *args: Any, key: Any = None, write: bool = False) -> T:
        """Run `func(connection, *args)` inline if it is quick and the file is free, else on the worker.

        Reads are interrupted when they overrun the inline budget and redone on the worker (`key` then
        remembers the statement as slow). Writes are never interrupted: an interrupt can arrive after the
        commit, so a retry could apply the write twice. Callers only send point writes here; `SQLITE_BUSY`
        (raised before anything is written, as the inline connection does not wait) moves them to the worker.
        """
        if key is None or not self._skip_inline(key):
            try:
                result = self._call_inline(func, args, budget=not write)
            except sqlite3.OperationalError as error:
                code = _error_code(error)
                if code == _SQLITE_INTERRUPT:
                    if key is not None:
                        self._slow[key] = SLOW_SKIPS
                elif code not in (_SQLITE_BUSY, _SQLITE_LOCKED):
                    raise _database_error(error) from error
            else:
                if write:
                    self._count_write()
                return result
        return await self.run_in_worker(func, *args)

    async def run_in_worker(self, func: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor_instance(), self._call_worker, func, args)
        except sqlite3.OperationalError as error:
            raise _database_error(error) from error

    def run_sync(self, func: Callable[..., T], *args: Any, write: bool = False) -> T:
        """Blocking variant for synchronous callers (sync cursor iteration, the session API, the CLI).

        On the event loop's thread (or the main thread of a script) it tries inline first, as `run` does, with the
        same rule for writes. Other threads, such as synchronous endpoints in the thread pool, must not share the
        inline connection with the event loop, so their work goes to the worker.
        """
        if _on_inline_thread():
            try:
                result = self._call_inline(func, args, budget=not write)
            except sqlite3.OperationalError as error:
                if _error_code(error) not in (_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_INTERRUPT):
                    raise _database_error(error) from error
            else:
                if write:
                    self._count_write()
                return result
        try:
            return self._executor_instance().submit(self._call_worker, func, args).result()
        except sqlite3.OperationalError as error:
            raise _database_error(error) from error

    def _skip_inline(self, key: Any) -> bool:
        skips = self._slow.get(key)
        if not skips:
            return False
        # Try inline again now and then: the table may have shrunk or gained an index since.
        if skips == 1:
            del self._slow[key]
        else:
            self._slow[key] = skips - 1
        return True

    def _count_write(self) -> None:
        self._writes += 1
        if self._writes >= CHECKPOINT_EVERY and not self._checkpoint_pending:
            self._writes = 0
            self._checkpoint_pending = True
            self._executor_instance().submit(self._checkpoint)

    def _checkpoint(self) -> None:
        try:
            self._worker_connection().execute('PRAGMA wal_checkpoint(PASSIVE)')
        except sqlite3.Error as error:
            logger.warning(f'SQLite checkpoint failed: {error}')
        finally:
            self._checkpoint_pending = False

    # --------------------------------------------------------------------------------------------- schema

    async def ensure_table(self, table: str) -> None:
        if table not in self._tables:
            await self.run(_create_table, quote_identifier(table), write=True)
            self._tables.add(table)

    def ensure_table_sync(self, table: str) -> None:
        if table not in self._tables:
            self.run_sync(_create_table, quote_identifier(table))
            self._tables.add(table)

    def forget_table(self, table: str) -> None:
        """Drop what is known about a table that was just dropped, so its next use creates it again."""
        self._tables.discard(table)
        self.unique_ready.discard(table)
        prefix = f'{table}__'
        self._indexes = {name for name in self._indexes if not name.startswith(prefix)}

    async def ensure_unique(self, table: str, unique: Sequence[tuple[str, str]]) -> None:
        """Create the table if needed and a unique index for each `(field, expression)` of `unique`; unique indexes
        of fields no longer listed are dropped.

        Raises `sqlite3.IntegrityError` when stored rows already share a value of a field to make unique (the table
        is usable for reading then, and the next call tries again).
        """
        await self.ensure_table(table)
        wanted = _unique_indexes(table, unique)
        existing = await self.run(_unique_index_names, table)
        if existing != {name for name, _, _ in wanted}:
            # Building an index reads the whole table: on the worker, never on the event loop.
            await self.run_in_worker(_sync_unique_indexes, table, wanted, existing)
        # A unique index also serves equality filters: no second index on the same expression.
        self._indexes.update(f'{table}__{field}' for _, field, _ in wanted)
        self.unique_ready.add(table)

    def ensure_index(self, table: str, path: str, expression: str) -> None:
        """Create an expression index for a filtered field in the background (never blocks the caller)."""
        name = f'{table}__{path}'
        if self.encrypted or name in self._indexes:
            return
        self._indexes.add(name)
        statement = (
            f'CREATE INDEX IF NOT EXISTS {quote_identifier("ix_" + name.replace(".", "_"))} '
            f'ON {quote_identifier(table)} ({expression})'
        )
        self._executor_instance().submit(self._create_index, statement)

    def _create_index(self, statement: str) -> None:
        try:
            self._worker_connection().execute(statement)
        except sqlite3.Error as error:
            logger.warning(f'Could not create an SQLite index: {error}')
        else:
            # Statements that were too slow without the index may now be quick enough to run inline.
            self._slow = {}

    # ------------------------------------------------------------------------------------------ streaming

    def open_stream(self, sql: str, params: Sequence[Any], batch: int) -> tuple[list[Any], _Stream | None]:
        """Worker thread: run a query on a read connection and return the first batch (and the open stream)."""
        connection = self._readers.pop() if self._readers else self._connect(WORKER_BUSY_TIMEOUT_MS, read_only=True)
        try:
            cursor = connection.execute(sql, params)
            rows = cursor.fetchmany(batch)
        except BaseException:
            self._release_reader(connection)
            raise
        if len(rows) < batch:
            cursor.close()
            self._release_reader(connection)
            return rows, None
        return rows, _Stream(connection, cursor)

    def next_batch(self, stream: _Stream, batch: int) -> list[Any]:
        if stream.closed:
            return []
        rows = stream.cursor.fetchmany(batch)
        if len(rows) < batch:
            self.close_stream(stream)
        return rows

    def close_stream(self, stream: _Stream) -> None:
        if not stream.closed:
            stream.closed = True
            stream.cursor.close()
            self._release_reader(stream.connection)

    def _release_reader(self, connection: sqlite3.Connection) -> None:
        if len(self._readers) < MAX_READERS and connection in self._opened:
            self._readers.append(connection)
        else:
            connection.close()

    def discard_stream(self, stream: _Stream) -> None:
        """Close an abandoned stream from any thread (used by cursor finalizers)."""
        if stream.closed or self._executor is None:
            return
        with contextlib.suppress(RuntimeError):
            self._executor.submit(self.close_stream, stream)

    def fetch_inline(self, sql: str, params: Sequence[Any]) -> list[Any] | None:
        """The rows of a small, quick result, read on the event-loop thread; `None` when the result has to come
        from the worker instead (too many rows, over the inline budget, or the file is locked)."""
        key = ('stream', sql)
        if self._skip_inline(key):
            return None
        try:
            return self._call_inline(_fetch_limited, (sql, params, INLINE_MAX_ROWS))
        except sqlite3.OperationalError as error:
            code = _error_code(error)
            if code == _SQLITE_INTERRUPT:
                self._slow[key] = SLOW_SKIPS
            elif code not in (_SQLITE_BUSY, _SQLITE_LOCKED):
                raise _database_error(error) from error
            return None

    async def stream(self, sql: str, params: Sequence[Any], owner: object, *, inline: bool = True) -> Any:
        """Async generator of row batches: inline if the result is small and quick, else from the worker.

        `inline=False` when the caller has already tried `fetch_inline`.
        """
        if inline:
            rows = self.fetch_inline(sql, params)
            if rows is not None:
                yield rows
                return
        loop = asyncio.get_running_loop()
        executor = self._executor_instance()
        try:
            rows, stream = await loop.run_in_executor(executor, self.open_stream, sql, params, STREAM_BATCH)
        except sqlite3.OperationalError as error:
            raise _database_error(error) from error
        if stream is None:
            yield rows
            return
        finalizer = weakref.finalize(owner, self.discard_stream, stream)
        try:
            while rows:
                yield rows
                if stream.closed:
                    return
                rows = await loop.run_in_executor(executor, self.next_batch, stream, STREAM_BATCH)
        finally:
            finalizer.detach()
            if not stream.closed:
                executor.submit(self.close_stream, stream)

    def fetch_all_sync(self, sql: str, params: Sequence[Any]) -> list[Any]:
        return self.run_sync(_fetch_all, sql, params)

    # ------------------------------------------------------------------------------------------- shutdown

    def _close_worker_side(self) -> None:
        for connection in self._readers:
            connection.close()
        self._readers.clear()
        if self._worker is not None:
            with contextlib.suppress(sqlite3.Error):
                self._worker.execute('PRAGMA wal_checkpoint(PASSIVE)')
            self._worker.close()
            self._worker = None

    async def close(self) -> None:
        """Close every connection and stop the worker thread."""
        if self._executor is not None:
            executor = self._executor
            await asyncio.get_running_loop().run_in_executor(executor, self._close_worker_side)
            executor.shutdown(wait=True)
            self._executor = None
        self.close_sync()

    def close_sync(self) -> None:
        self._reset_connections()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        self._remove_leftovers()


def _on_inline_thread() -> bool:
    """Whether this thread may use the inline connection: the main thread or one running an event loop."""
    if threading.current_thread() is threading.main_thread():
        return True
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _release(connections: list[sqlite3.Connection], executors: list[ThreadPoolExecutor]) -> None:
    for executor in executors:
        executor.shutdown(wait=False)
    for connection in connections:
        with contextlib.suppress(sqlite3.Error):
            connection.close()


# ------------------------------------------------------------------------------------------------------------
# Statement helpers: plain functions of a connection, so either thread can run them.


def _create_table(connection: sqlite3.Connection, table: str) -> None:
    # The implicit rowid keeps insertion order (`first`/`last`); `_id` is the public ULID.
    connection.execute(f'CREATE TABLE IF NOT EXISTS {table} (_id TEXT NOT NULL UNIQUE, data TEXT NOT NULL)')


UNIQUE_PREFIX = 'ux_'


def unique_index_name(table: str, field: str) -> str:
    return f'{UNIQUE_PREFIX}{table}__{field}'


def _unique_indexes(table: str, unique: Sequence[tuple[str, str]]) -> list[tuple[str, str, str]]:
    return [(unique_index_name(table, field), field, expression) for field, expression in unique]


def _unique_index_names(connection: sqlite3.Connection, table: str) -> set[str]:
    rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?", (table,))
    prefix = unique_index_name(table, '')
    return {name for (name,) in rows if name.startswith(prefix)}


def _sync_unique_indexes(
    connection: sqlite3.Connection, table: str, wanted: list[tuple[str, str, str]], existing: set[str]
) -> None:
    names = {name for name, _, _ in wanted}
    for name in existing - names:
        connection.execute(f'DROP INDEX IF EXISTS {quote_identifier(name)}')
    for name, _, expression in wanted:
        if name not in existing:
            index, target = quote_identifier(name), quote_identifier(table)
            connection.execute(f'CREATE UNIQUE INDEX IF NOT EXISTS {index} ON {target} ({expression})')


def _fetch_limited(connection: sqlite3.Connection, sql: str, params: Sequence[Any], limit: int) -> list[Any] | None:
    """Rows of a small result, or `None` when there are more than `limit` (the caller streams instead)."""
    cursor = connection.execute(sql, params)
    try:
        rows = cursor.fetchmany(limit + 1)
    finally:
        cursor.close()
    return None if len(rows) > limit else rows


def _fetch_all(connection: sqlite3.Connection, sql: str, params: Sequence[Any]) -> list[Any]:
    return connection.execute(sql, params).fetchall()


def fetch_one(connection: sqlite3.Connection, sql: str, params: Sequence[Any]) -> Any:
    return connection.execute(sql, params).fetchone()


def execute(connection: sqlite3.Connection, sql: str, params: Sequence[Any]) -> int:
    return connection.execute(sql, params).rowcount


def execute_returning(connection: sqlite3.Connection, sql: str, params: Sequence[Any]) -> list[Any]:
    return connection.execute(sql, params).fetchall()


def execute_each(connection: sqlite3.Connection, statements: Sequence[tuple[str, Sequence[Any]]]) -> int:
    """Several statements in one transaction (all or none); returns the rows they changed."""
    connection.execute('BEGIN IMMEDIATE')
    try:
        changed = sum(connection.execute(sql, params).rowcount for sql, params in statements)
        connection.execute('COMMIT')
    except BaseException:
        if connection.in_transaction:
            connection.execute('ROLLBACK')
        raise
    return changed


def execute_many(connection: sqlite3.Connection, sql: str, rows: Iterable[Sequence[Any]]) -> None:
    """One transaction for every row: all are written or none."""
    connection.execute('BEGIN IMMEDIATE')
    try:
        connection.executemany(sql, rows)
        connection.execute('COMMIT')
    except BaseException:
        if connection.in_transaction:
            connection.execute('ROLLBACK')
        raise
