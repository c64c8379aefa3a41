"""Auth / throttling / caching benchmark, in-process, against baselines measured in the same run.

    python benchmarks/bench_auth.py              # memory Store
    python benchmarks/bench_auth.py --redis      # also with the Redis Store (Redis on 127.0.0.1:6379, or --redis-port)

Scenarios (each a GET through the whole Panther app, called as `await app(scope, receive, send)`):

* hello            — a plain endpoint (baseline for the cache hit);
* PyJWT + hello    — hello plus one bare `jwt.decode` of the same token (baseline for the authenticated GET);
* auth + throttle  — `JWTAuthentication` (decode, token type, revocation check, user lookup),
                     `IsAuthenticated` and a `Throttle`; measured with the verified-token memory on (the
                     default: a client repeats its token) and off (every request checks the signature);
* cache hit        — an endpoint with `cache=timedelta(...)` whose entry is already stored.

The user lookup is an in-memory `find_one` so the figures show the framework's cost, not a database's.
Times are CPU time per request (best of several batches), so other load on the machine does not count.
Targets: cache hit ≤ 1.5 x hello; auth + throttle ≤ 1.5 x (PyJWT + hello).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from panther import Panther, authentications  # noqa: E402
from panther.app import API  # noqa: E402
from panther.authentications import JWTAuthentication  # noqa: E402
from panther.configs import JWTConfig, config  # noqa: E402
from panther.permissions import IsAuthenticated  # noqa: E402
from panther.throttling import Throttle  # noqa: E402

KEY = 'benchmark-signing-key-long-enough-for-hmac-sha256'
SECRET_KEY = KEY  # the app refuses to start without a signing key
BATCH = 500
ROUNDS = 40
# Requests in flight at once in the concurrent scenario (a server under load has many).
CONCURRENCY = 50


class BenchUser:
    def __init__(self, id: str) -> None:
        self.id = id

    @classmethod
    async def find_one(cls, id: str) -> BenchUser | None:
        return USERS.get(id)


USERS = {'1': BenchUser('1')}


@API()
async def hello() -> dict[str, str]:
    return {'message': 'Hello World'}


@API(auth=JWTAuthentication, permissions=[IsAuthenticated], throttling=Throttle(10**9, timedelta(minutes=1)))
async def private() -> dict[str, str]:
    return {'message': 'Hello World'}


_buckets = itertools.count()


@API(
    auth=JWTAuthentication,
    permissions=[IsAuthenticated],
    # A limit below the lease threshold (counted request by request), spread over 1,000 buckets so that every
    # request of the run is admitted (at most 21 per bucket) and pays the exact count: one round trip on Redis.
    throttling=Throttle(100, timedelta(minutes=1), key=lambda request: f'bench:{next(_buckets) % 1000}'),
)
async def private_exact() -> dict[str, str]:
    return {'message': 'Hello World'}


@API(cache=timedelta(minutes=10))
async def cached() -> dict[str, str]:
    return {'message': 'Hello World'}


URLS = {'hello': hello, 'private': private, 'exact': private_exact, 'cached': cached}


def make_scope(path: str, token: str | None) -> dict[str, Any]:
    headers = [(b'host', b'127.0.0.1'), (b'user-agent', b'bench')]
    if token:
        headers.append((b'authorization', f'Bearer {token}'.encode()))
    return {
        'type': 'http',
        'asgi': {'version': '3.0'},
        'http_version': '1.1',
        'method': 'GET',
        'scheme': 'http',
        'path': path,
        'raw_path': path.encode(),
        'query_string': b'',
        'root_path': '',
        'headers': headers,
        'client': ('127.0.0.1', 50000),
        'server': ('127.0.0.1', 8000),
    }


async def run_once(app: Callable[..., Any], path: str, token: str | None) -> int:
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {'type': 'http.request', 'body': b'', 'more_body': False}

    async def send(message: dict[str, Any]) -> None:
        if message['type'] == 'http.response.start':
            statuses.append(message['status'])

    await app(make_scope(path, token), receive, send)
    return statuses[0]


async def batch(app: Callable[..., Any], path: str, token: str | None) -> float:
    """µs per request for one batch."""
    message = {'type': 'http.request', 'body': b'', 'more_body': False}

    async def receive() -> dict[str, Any]:
        return message

    async def send(msg: dict[str, Any]) -> None:
        return None

    scopes = [make_scope(path, token) for _ in range(BATCH)]
    start = time.process_time()
    for scope in scopes:
        await app(scope, receive, send)
    return (time.process_time() - start) / BATCH * 1e6


async def concurrent_batch(app: Callable[..., Any], path: str, token: str | None) -> float:
    """µs per request for one batch served CONCURRENCY requests at a time, as a loaded server runs them."""
    message = {'type': 'http.request', 'body': b'', 'more_body': False}

    async def receive() -> dict[str, Any]:
        return message

    async def send(msg: dict[str, Any]) -> None:
        return None

    scopes = [make_scope(path, token) for _ in range(BATCH)]
    start = time.process_time()
    for first in range(0, BATCH, CONCURRENCY):
        await asyncio.gather(*(app(scope, receive, send) for scope in scopes[first : first + CONCURRENCY]))
    return (time.process_time() - start) / BATCH * 1e6


def decode_batch(token: str) -> float:
    start = time.process_time()
    for _ in range(BATCH):
        jwt.decode(token, KEY, algorithms=['HS256'], options={'require': ['exp', 'iat']})
    return (time.process_time() - start) / BATCH * 1e6


async def bench(store_name: str, redis_port: int = 6379) -> list[tuple[str, float]]:
    app = Panther(__name__, configs=__name__, urls=URLS)
    if store_name == 'redis':
        from panther.db.connections.redis import load_redis

        load_redis({'host': '127.0.0.1', 'port': redis_port})
    config.USER_MODEL = BenchUser
    config.JWT_CONFIG = JWTConfig(key=KEY, life_time=3600)
    token = (await JWTAuthentication.login(USERS['1']))['access_token']
    memory_size = authentications.VERIFIED_TOKENS_CACHE_SIZE
    for path, with_token in (('/hello', False), ('/private', True), ('/exact', True), ('/cached', False)):
        status = await run_once(app, path, token if with_token else None)
        if status != 200:
            raise SystemExit(f'{path}: expected 200, got {status}')

    # Interleaved rounds: every scenario sees the same machine conditions; the best round of each counts.
    best = dict.fromkeys(
        ('hello', 'decode', 'auth', 'auth-exact', 'auth-cold', 'cache', 'auth-concurrent'), float('inf')
    )
    for _ in range(ROUNDS):
        best['hello'] = min(best['hello'], await batch(app, '/hello', None))
        best['decode'] = min(best['decode'], decode_batch(token))
        best['auth'] = min(best['auth'], await batch(app, '/private', token))
        best['auth-exact'] = min(best['auth-exact'], await batch(app, '/exact', token))
        # The same with the verified-token memory off: every request pays the full signature check.
        authentications.VERIFIED_TOKENS_CACHE_SIZE = 0
        authentications._verified_tokens.clear()
        best['auth-cold'] = min(best['auth-cold'], await batch(app, '/private', token))
        authentications.VERIFIED_TOKENS_CACHE_SIZE = memory_size
        best['cache'] = min(best['cache'], await batch(app, '/cached', None))
        best['auth-concurrent'] = min(best['auth-concurrent'], await concurrent_batch(app, '/private', token))
    hello_us, decode_us, auth_us, cache_us = best['hello'], best['decode'], best['auth'], best['cache']

    if store_name == 'redis':
        from panther.db.connections.redis import close_redis

        await close_redis()
    return [
        ('hello', hello_us),
        ('PyJWT decode (bare)', decode_us),
        ('PyJWT + hello', hello_us + decode_us),
        ('auth + throttle', auth_us),
        ('auth + throttle, small limit (counted exactly)', best['auth-exact']),
        ('auth + throttle, token memory off', best['auth-cold']),
        ('cache hit', cache_us),
        (f'auth + throttle, {CONCURRENCY} concurrent', best['auth-concurrent']),
    ]


def report(store_name: str, figures: list[tuple[str, float]]) -> list[str]:
    values = dict(figures)
    auth_ratio = values['auth + throttle'] / values['PyJWT + hello']
    cache_ratio = values['cache hit'] / values['hello']
    cold_ratio = values['auth + throttle, token memory off'] / values['PyJWT + hello']
    lines = [
        f'### Store: {store_name}',
        '',
        '| scenario | µs/request |',
        '|---|---:|',
        *(f'| {name} | {value:.1f} |' for name, value in figures),
        '',
        '| ratio | value | target |',
        '|---|---:|---:|',
        f'| auth + throttle / (PyJWT + hello) | {auth_ratio:.2f} | ≤ 1.5 |',
        f'| same, token memory off / (PyJWT + hello) | {cold_ratio:.2f} | (information) |',
        f'| cache hit / hello | {cache_ratio:.2f} | ≤ 1.5 |',
        '',
    ]
    return lines


def _run(coroutine: Any, loop: str) -> Any:
    if loop == 'uvloop':
        import uvloop

        return uvloop.run(coroutine)
    return asyncio.run(coroutine)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--redis', action='store_true', help='also measure with the Redis Store')
    parser.add_argument('--redis-port', type=int, default=6379, help='port of the Redis server on 127.0.0.1')
    parser.add_argument(
        '--loop',
        choices=['uvloop', 'asyncio'],
        default='uvloop',
        help='event loop (uvicorn serves on uvloop when it is installed, as with panther[standard])',
    )
    parser.add_argument('--output', help='also write the markdown report to this file')
    args = parser.parse_args()

    stores = ['memory', 'redis'] if args.redis else ['memory']
    lines = [
        '## Auth, throttling and caching (in-process)',
        '',
        f'Python {sys.version.split()[0]}, CPU time per request, best of {ROUNDS} interleaved batches of {BATCH}.',
        '',
    ]
    measured: dict[str, dict[str, float]] = {}
    for store_name in stores:
        figures = _run(bench(store_name, args.redis_port), args.loop)
        config.refresh()
        lines += report(store_name, figures)
        measured[store_name] = dict(figures)
    if 'redis' in measured:
        memory, redis = measured['memory'], measured['redis']
        concurrent = f'auth + throttle, {CONCURRENCY} concurrent'
        exact = 'auth + throttle, small limit (counted exactly)'
        ratio = redis['auth + throttle'] / memory['auth + throttle']
        cold = redis['auth + throttle, token memory off'] / memory['auth + throttle, token memory off']
        lines += [
            '### Redis Store against memory Store (same run)',
            '',
            '| scenario | memory µs | redis µs | ratio | target |',
            '|---|---:|---:|---:|---:|',
            f'| auth + throttle | {memory["auth + throttle"]:.1f} | {redis["auth + throttle"]:.1f} | '
            f'{ratio:.2f} | ≤ 2.0 |',
            f'| auth + throttle, small limit (counted exactly) | {memory[exact]:.1f} | {redis[exact]:.1f} | '
            f'{redis[exact] / memory[exact]:.2f} | (information) |',
            f'| same, token memory off | {memory["auth + throttle, token memory off"]:.1f} | '
            f'{redis["auth + throttle, token memory off"]:.1f} | {cold:.2f} | (information) |',
            f'| cache hit | {memory["cache hit"]:.1f} | {redis["cache hit"]:.1f} | '
            f'{redis["cache hit"] / memory["cache hit"]:.2f} | (information) |',
            f'| auth + throttle, {CONCURRENCY} concurrent | {memory[concurrent]:.1f} | {redis[concurrent]:.1f} | '
            f'{redis[concurrent] / memory[concurrent]:.2f} | ≤ 2.0 |',
            '',
        ]
    text = '\n'.join(lines)
    print(text)
    if args.output:
        Path(args.output).write_text(text + '\n')


if __name__ == '__main__':
    main()
