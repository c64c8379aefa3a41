"""Database benchmark: the embedded engine against raw `sqlite3`, the MongoDB engine against direct pymongo.

Run: `.venv/bin/python benchmarks/bench_db.py [--output FILE.md] [--quick]`

Both sides run in the same process, on the same machine, interleaved in rounds (raw, engine, raw, engine, …);
the figure per operation is the median over rounds, so background load affects both sides alike.

Raw `sqlite3` does the equivalent statements on a table of the same shape `(_id TEXT UNIQUE, data TEXT)` in a
WAL-mode file with `synchronous=NORMAL`, one committed transaction per write: inserting a JSON text it encodes
with orjson, reading rows by `_id`, reading rows by `json_extract(data, '$.category')` through the same
expression index the engine creates, `json_set` updates, `COUNT(*)`. The engine additionally validates with
pydantic, builds model instances and generates ULIDs. Targets (issue 4): insert_one, update_one and a find
materialising 100 documents ≤ 3x raw; find_one by id ≤ 5x raw; per-operation cost flat from 1,000 to 100,000
documents; MongoDB engine ≤ 1.3x direct pymongo.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from panther.configs import config
from panther.db import Model
from panther.db.connections import load_database


class BenchDoc(Model):
    name: str
    category: str
    value: int


CATEGORIES = 100  # 10,000 documents → 100 per category


def _document(i: int) -> dict[str, Any]:
    return {'name': f'name-{i}', 'category': f'c{i % CATEGORIES}', 'value': i}


def _raw_connection(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute('PRAGMA journal_mode = WAL')
    connection.execute('PRAGMA synchronous = NORMAL')
    connection.execute('CREATE TABLE IF NOT EXISTS t (_id TEXT NOT NULL UNIQUE, data TEXT NOT NULL)')
    connection.execute("CREATE INDEX IF NOT EXISTS ix_t_category ON t (json_extract(data, '$.category'))")
    return connection


def _raw_fill(connection: sqlite3.Connection, start: int, stop: int) -> list[str]:
    ids = [f'raw{i:023d}' for i in range(start, stop)]
    connection.execute('BEGIN')
    connection.executemany(
        'INSERT INTO t (_id, data) VALUES (?, ?)',
        ((ids[i - start], orjson.dumps(_document(i)).decode()) for i in range(start, stop)),
    )
    connection.execute('COMMIT')
    return ids


async def _engine_fill(start: int, stop: int) -> list[str]:
    ids: list[str] = []
    for chunk in range(start, stop, 5000):
        inserted = await BenchDoc.insert_many([_document(i) for i in range(chunk, min(chunk + 5000, stop))])
        ids.extend(str(doc.id) for doc in inserted)
    return ids


def _time_sync(func: Callable[[int], Any], count: int) -> float:
    start = time.perf_counter()
    for i in range(count):
        func(i)
    return (time.perf_counter() - start) / count * 1e6


async def _time_async(func: Callable[[int], Awaitable[Any]], count: int) -> float:
    start = time.perf_counter()
    for i in range(count):
        await func(i)
    return (time.perf_counter() - start) / count * 1e6


async def _compare(
    raw: Callable[[int], Any], engine: Callable[[int], Awaitable[Any]], count: int, rounds: int
) -> tuple[float, float]:
    raw_times, engine_times = [], []
    for _ in range(rounds):
        raw_times.append(_time_sync(raw, count))
        engine_times.append(await _time_async(engine, count))
    return statistics.median(raw_times), statistics.median(engine_times)


async def _hop_cost() -> float:
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, int)
    start = time.perf_counter()
    for _ in range(500):
        await loop.run_in_executor(None, int)
    return (time.perf_counter() - start) / 500 * 1e6


async def bench_sqlite(directory: Path, quick: bool) -> tuple[list[tuple[str, float, float, float]], list[str]]:
    rounds = 3 if quick else 5
    raw = _raw_connection(directory / 'raw.sqlite3')
    load_database({'engine': {'class': 'panther.db.connections.PantherDBConnection', 'path': directory / 'e.sqlite3'}})
    raw_ids = _raw_fill(raw, 0, 10_000)
    engine_ids = await _engine_fill(0, 10_000)
    # Let the engine create its expression index on `category` (it does so in the background on first use).
    await (await BenchDoc.find(category='c1')).to_list()
    await asyncio.sleep(0.5)
    rows: list[tuple[str, float, float, float]] = []
    counter = iter(range(10_000, 10_000_000))

    def raw_insert(_: int) -> None:
        i = next(counter)
        raw.execute('INSERT INTO t (_id, data) VALUES (?, ?)', (f'raw{i:023d}', orjson.dumps(_document(i)).decode()))

    async def engine_insert(_: int) -> None:
        await BenchDoc.insert_one(_document(next(counter)))

    rows.append(('insert_one', *await _compare(raw_insert, engine_insert, 300, rounds), 3.0))

    def raw_find_one(i: int) -> None:
        raw.execute('SELECT _id, data FROM t WHERE _id = ?', (raw_ids[i * 7 % 10_000],)).fetchone()

    async def engine_find_one(i: int) -> None:
        await BenchDoc.find_one(id=engine_ids[i * 7 % 10_000])

    rows.append(('find_one(id=…)', *await _compare(raw_find_one, engine_find_one, 2000, rounds), 5.0))

    def raw_find(i: int) -> None:
        raw.execute(
            "SELECT _id, data FROM t WHERE json_extract(data, '$.category') = ?", (f'c{i % CATEGORIES}',)
        ).fetchall()

    async def engine_find(i: int) -> None:
        found = await (await BenchDoc.find(category=f'c{i % CATEGORIES}')).to_list()
        assert len(found) >= 100

    rows.append(('find(category=…) → 100 docs', *await _compare(raw_find, engine_find, 40, rounds), 3.0))

    def raw_find_decoded(i: int) -> None:
        rows_ = raw.execute(
            "SELECT _id, data FROM t WHERE json_extract(data, '$.category') = ?", (f'c{i % CATEGORIES}',)
        ).fetchall()
        [orjson.loads(data) for _, data in rows_]

    rows.append(
        ('  (raw incl. orjson.loads of the rows)', *await _compare(raw_find_decoded, engine_find, 40, rounds), 0)
    )

    def raw_update(i: int) -> None:
        raw.execute(
            "UPDATE t SET data = json_set(data, '$.value', json(?)) WHERE _id = ?", (str(i), raw_ids[i % 10_000])
        )

    async def engine_update(i: int) -> None:
        await BenchDoc.update_one({'id': engine_ids[i % 10_000]}, value=i)

    rows.append(('update_one(id=…)', *await _compare(raw_update, engine_update, 300, rounds), 3.0))

    def raw_count(_: int) -> None:
        raw.execute('SELECT COUNT(*) FROM t').fetchone()

    async def engine_count(_: int) -> None:
        await BenchDoc.count()

    rows.append(('count()', *await _compare(raw_count, engine_count, 200, rounds), 0))

    # Flatness: the engine's cost per id lookup and per insert at 1k, 10k and 100k documents.
    await config.DATABASE.close()
    raw.close()
    flat_lines = []
    load_database({'engine': {'class': 'panther.db.connections.PantherDBConnection', 'path': directory / 'f.sqlite3'}})
    sizes = [1_000, 10_000, 100_000] if not quick else [1_000, 10_000, 30_000]
    ids: list[str] = []
    per_size = []
    for size in sizes:
        ids.extend(await _engine_fill(len(ids), size))
        lookups = [ids[(i * 7919) % len(ids)] for i in range(2000)]
        find_times, insert_times = [], []
        for _ in range(rounds):
            find_times.append(await _time_async(lambda i, lookups=lookups: BenchDoc.find_one(id=lookups[i]), 2000))
            insert_times.append(await _time_async(lambda i: BenchDoc.insert_one(_document(i)), 200))
        per_size.append((size, statistics.median(find_times), statistics.median(insert_times)))
    await config.DATABASE.close()
    for size, find_us, insert_us in per_size:
        flat_lines.append(f'| {size:,} | {find_us:.1f} | {insert_us:.1f} |')
    first, last = per_size[0], per_size[-1]
    flat_lines.append('')
    flat_lines.append(
        f'Growth {sizes[0]:,} → {sizes[-1]:,} documents: find_one x{last[1] / first[1]:.2f}, '
        f'insert_one x{last[2] / first[2]:.2f} (flat means ≈1; linear growth would be x{sizes[-1] // sizes[0]}).'
    )
    return rows, flat_lines


def _mongo_reachable() -> bool:
    with contextlib.suppress(OSError), socket.create_connection(('127.0.0.1', 27017), timeout=0.5):
        return True
    return False


async def bench_mongo(quick: bool) -> list[tuple[str, float, float, float]]:
    from bson import ObjectId
    from pymongo import AsyncMongoClient

    name = f'panther_bench_{uuid.uuid4().hex[:8]}'
    load_database(
        {
            'engine': {
                'class': 'panther.db.connections.MongoDBConnection',
                'host': 'mongodb://127.0.0.1:27017',
                'database': name,
            }
        }
    )
    direct = AsyncMongoClient('mongodb://127.0.0.1:27017')
    raw = direct[name]['Raw']
    size = 1000
    await raw.insert_many([_document(i) for i in range(size)])
    raw_ids = [doc['_id'] async for doc in raw.find({}, projection={'_id': 1})]
    engine_ids = [str(doc.id) for doc in await BenchDoc.insert_many([_document(i) for i in range(size)])]
    rounds = 3
    count = 50 if quick else 100
    rows = []

    async def compare(
        raw_op: Callable[[int], Awaitable[Any]], engine_op: Callable[[int], Awaitable[Any]], n: int
    ) -> tuple[float, float]:
        # A server round trip varies by milliseconds here, so the two sides alternate operation by operation
        # and the median single-operation time is reported.
        raw_times, engine_times = [], []
        for i in range(n * rounds):
            start = time.perf_counter()
            await raw_op(i)
            middle = time.perf_counter()
            await engine_op(i)
            engine_times.append(time.perf_counter() - middle)
            raw_times.append(middle - start)
        return statistics.median(raw_times) * 1e6, statistics.median(engine_times) * 1e6

    rows.append(
        (
            'insert_one',
            *await compare(lambda i: raw.insert_one(_document(i)), lambda i: BenchDoc.insert_one(_document(i)), count),
            1.3,
        )
    )
    rows.append(
        (
            'find_one(id=…)',
            *await compare(
                lambda i: raw.find_one({'_id': ObjectId(raw_ids[i % size])}),
                lambda i: BenchDoc.find_one(id=engine_ids[i % size]),
                count,
            ),
            1.3,
        )
    )
    rows.append(
        (
            'find(category=…) → ~10 docs',
            *await compare(
                lambda i: raw.find({'category': f'c{i % CATEGORIES}'}).to_list(),
                lambda i: _engine_list(f'c{i % CATEGORIES}'),
                count // 2,
            ),
            1.3,
        )
    )
    rows.append(
        (
            'update_one(id=…)',
            *await compare(
                lambda i: raw.update_one({'_id': raw_ids[i % size]}, {'$set': {'value': i}}),
                lambda i: BenchDoc.update_one({'id': engine_ids[i % size]}, value=i),
                count,
            ),
            1.3,
        )
    )
    rows.append(
        (
            'count()',
            *await compare(lambda i: raw.count_documents({}), lambda i: BenchDoc.count(), count),
            1.3,
        )
    )
    await direct.drop_database(name)
    await direct.close()
    await config.DATABASE.close()
    return rows


async def _engine_list(category: str) -> list[Any]:
    return await (await BenchDoc.find(category=category)).to_list()


def _table(title: str, rows: list[tuple[str, float, float, float]], other: str) -> list[str]:
    lines = [
        f'### {title}',
        '',
        f'| operation | {other} µs/op | Panther µs/op | ratio | target |',
        '|---|---:|---:|---:|---|',
    ]
    for name, raw_us, engine_us, target in rows:
        ratio = engine_us / raw_us
        verdict = '' if not target else (f'≤ {target:g}x met' if ratio <= target else f'≤ {target:g}x MISSED')
        lines.append(f'| {name} | {raw_us:.1f} | {engine_us:.1f} | {ratio:.2f}x | {verdict} |')
    return lines


async def main() -> tuple[str, str | None]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--output', help='also write the markdown report to this file')
    parser.add_argument('--quick', action='store_true', help='fewer rounds and a 30k flatness run')
    options = parser.parse_args()
    started = time.perf_counter()
    lines = [
        '## Database benchmark (`benchmarks/bench_db.py`)',
        '',
        f'Python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}; one thread hand-off (`run_in_executor`) '
        f'costs {await _hop_cost():.0f} µs here. Medians over interleaved rounds.',
        '',
    ]
    with tempfile.TemporaryDirectory() as directory:
        rows, flat = await bench_sqlite(Path(directory), options.quick)
    lines += _table('Embedded engine (SQLite) vs raw sqlite3, 10,000 documents', rows, 'raw sqlite3')
    lines += ['', '### Flatness: embedded engine cost per operation by collection size', '']
    lines += ['| documents | find_one(id=…) µs | insert_one µs |', '|---:|---:|---:|', *flat]
    if _mongo_reachable():
        mongo_rows = await bench_mongo(options.quick)
        lines += [
            '',
            *_table('MongoDB engine vs direct pymongo (AsyncMongoClient), 1,000 documents', mongo_rows, 'pymongo'),
        ]
    else:
        lines += ['', 'MongoDB: no server on 127.0.0.1:27017, skipped.']
    lines += ['', f'Total benchmark time: {time.perf_counter() - started:.0f} s.']
    report = '\n'.join(lines) + '\n'
    print(report)
    return report, options.output


if __name__ == '__main__':
    text, output = asyncio.run(main())
    if output:
        Path(output).write_text(text)
