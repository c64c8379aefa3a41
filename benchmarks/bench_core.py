"""Core benchmark: Panther against a raw ASGI app, in the same run.

    python benchmarks/bench_core.py            # in-process µs/request and uvicorn requests/s
    python benchmarks/bench_core.py --quick    # in-process only

In-process: the ASGI app is called directly with prepared scope/receive/send (best of several batches),
so the figures are the framework's own per-request cost. Over HTTP: each app is served by uvicorn on
127.0.0.1 and a bounded keep-alive load (fixed request count, several connections) is sent to it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.apps import ROUTE_COUNT, build_panther_app, pass_through_middleware, raw_app  # noqa: E402

POST_BODY = orjson.dumps({'name': 'keyboard', 'price': 49.5, 'tags': ['usb', 'mechanical']})

# name, method, path, body, expected status, target ratio
SCENARIOS: list[tuple[str, str, str, bytes, int, float]] = [
    ('GET /hello', 'GET', '/hello', b'', 200, 2.0),
    ('GET /items/<id>', 'GET', '/items/42', b'', 200, 2.0),
    ('POST /items', 'POST', '/items', POST_BODY, 201, 2.5),
    (f'GET last of {ROUTE_COUNT} routes', 'GET', f'/r{ROUTE_COUNT - 1}/abc', b'', 200, 2.0),
]
# The same GET /hello through apps with global middlewares: name, which app, target ratio.
MIDDLEWARE_SCENARIOS: list[tuple[str, str, float]] = [
    ('GET /hello, CORSMiddleware', 'cors', 2.0),
    ('GET /hello, 1 pass-through', 'pass', 2.0),
]


def make_scope(method: str, path: str, body: bytes) -> dict[str, Any]:
    headers = [(b'host', b'127.0.0.1'), (b'user-agent', b'bench')]
    if body:
        headers += [(b'content-type', b'application/json'), (b'content-length', str(len(body)).encode())]
    return {
        'type': 'http',
        'asgi': {'version': '3.0'},
        'http_version': '1.1',
        'method': method,
        'scheme': 'http',
        'path': path,
        'raw_path': path.encode(),
        'query_string': b'',
        'root_path': '',
        'headers': headers,
        'client': ('127.0.0.1', 50000),
        'server': ('127.0.0.1', 8000),
    }


async def _check(app: Callable[..., Any], method: str, path: str, body: bytes, expected: int) -> None:
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        return {'type': 'http.request', 'body': body, 'more_body': False}

    async def send(msg: dict[str, Any]) -> None:
        if msg['type'] == 'http.response.start':
            status.append(msg['status'])

    await app(make_scope(method, path, body), receive, send)
    if status[-1] != expected:
        raise SystemExit(f'{path}: expected {expected}, got {status[-1]}')


async def _batch(app: Callable[..., Any], method: str, path: str, body: bytes, size: int) -> float:
    message = {'type': 'http.request', 'body': body, 'more_body': False}

    async def receive() -> dict[str, Any]:
        return message

    async def send(msg: dict[str, Any]) -> None:
        return None

    scopes = [make_scope(method, path, body) for _ in range(size)]
    # CPU time of this process: time spent descheduled by other work on the machine does not count.
    start = time.process_time()
    for scope in scopes:
        await app(scope, receive, send)
    return (time.process_time() - start) / size * 1e6


async def compare_us(
    apps: list[Callable[..., Any]], method: str, path: str, body: bytes, expected: int, batch: int, batches: int
) -> list[float]:
    """Best µs/request of each app; batches are interleaved so load changes on the machine hit all apps alike."""
    for app in apps:
        await _check(app, method, path, body, expected)
    best = [float('inf')] * len(apps)
    for _ in range(batches):
        for index, app in enumerate(apps):
            best[index] = min(best[index], await _batch(app, method, path, body, batch))
    return best


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


SERVE = """
import sys, uvicorn
sys.path.insert(0, {root!r})
from benchmarks.apps import build_panther_app, raw_app
app = raw_app if {which!r} == 'raw' else build_panther_app()
uvicorn.run(app, host='127.0.0.1', port={port}, log_level='error', access_log=False, lifespan='on')
"""


async def _load(port: int, request: bytes, total: int, connections: int) -> float:
    async def worker(count: int) -> None:
        reader, writer = await asyncio.open_connection('127.0.0.1', port)
        try:
            for _ in range(count):
                writer.write(request)
                head = await reader.readuntil(b'\r\n\r\n')
                length = 0
                for line in head.split(b'\r\n'):
                    if line.lower().startswith(b'content-length:'):
                        length = int(line.split(b':', 1)[1])
                if length:
                    await reader.readexactly(length)
        finally:
            writer.close()

    per = total // connections
    start = time.perf_counter()
    await asyncio.gather(*(worker(per) for _ in range(connections)))
    return per * connections / (time.perf_counter() - start)


def _serve(which: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, '-c', SERVE.format(root=str(ROOT), which=which, port=port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=str(ROOT),
    )
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            socket.create_connection(('127.0.0.1', port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f'uvicorn ({which}) did not start: {proc.stderr.read().decode() if proc.stderr else ""}')


def http_rps(total: int, connections: int, rounds: int = 5) -> dict[str, tuple[float, float]]:
    """Median requests/s of both apps per scenario; rounds alternate between the two servers."""
    servers = [_serve('raw'), _serve('panther')]
    try:
        results = {}
        for name, method, path, body, _, _ in SCENARIOS:
            head = f'{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n'
            if body:
                head += f'Content-Type: application/json\r\nContent-Length: {len(body)}\r\n'
            request = head.encode() + b'\r\n' + body
            samples: list[list[float]] = [[], []]
            for _, port in servers:
                asyncio.run(_load(port, request, total // 5, connections))  # warm-up
            for _ in range(rounds):
                for index, (_, port) in enumerate(servers):
                    samples[index].append(asyncio.run(_load(port, request, total, connections)))
            results[name] = (statistics.median(samples[0]), statistics.median(samples[1]))
        return results
    finally:
        for proc, _ in servers:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument('--quick', action='store_true', help='in-process only')
    parser.add_argument('--batch', type=int, default=2000)
    parser.add_argument('--batches', type=int, default=25)
    parser.add_argument('--requests', type=int, default=3000, help='requests per HTTP scenario and round')
    parser.add_argument('--connections', type=int, default=8)
    args = parser.parse_args()

    os.chdir(ROOT)
    import logging

    from benchmarks.bench_ws import build_panther_app as build_ws_app
    from benchmarks.bench_ws import connection_us, raw_echo_app
    from panther.middlewares import CORSMiddleware

    ws_app = build_ws_app()
    panther_app = build_panther_app()
    with_middlewares = {
        'cors': build_panther_app([CORSMiddleware]),
        'pass': build_panther_app([pass_through_middleware()]),
    }
    logging.getLogger('panther').setLevel(logging.WARNING)

    async def in_process() -> list[tuple[str, float, float, float | None]]:
        await panther_app.startup()
        rows = []
        for name, method, path, body, expected, target in SCENARIOS:
            raw, pan = await compare_us([raw_app, panther_app], method, path, body, expected, args.batch, args.batches)
            rows.append((name, raw, pan, target))
        for name, which, target in MIDDLEWARE_SCENARIOS:
            raw, pan = await compare_us(
                [raw_app, with_middlewares[which]], 'GET', '/hello', b'', 200, args.batch, args.batches
            )
            rows.append((name, raw, pan, target))
        # A whole WebSocket connection (routing, connection object, accept, one echo, close): no target.
        raw_ws = pan_ws = float('inf')
        for _ in range(args.batches):
            raw_ws = min(raw_ws, await connection_us(raw_echo_app, args.batch))
            pan_ws = min(pan_ws, await connection_us(ws_app, args.batch))
        rows.append(('WS connect, 1 echo, close', raw_ws, pan_ws, None))
        await panther_app.shutdown()
        return rows

    rows = asyncio.run(in_process())
    failed = False
    print(f'In-process (best of {args.batches} batches of {args.batch}), Python {sys.version.split()[0]}')
    print(f'{"scenario":28} {"raw µs":>8} {"panther µs":>11} {"ratio":>6} {"target":>7}')
    for name, raw, pan, target in rows:
        ratio = pan / raw
        if target is None:
            print(f'{name:28} {raw:8.2f} {pan:11.2f} {ratio:6.2f} {"-":>7}')
            continue
        ok = ratio <= target
        failed |= not ok
        print(f'{name:28} {raw:8.2f} {pan:11.2f} {ratio:6.2f} {"≤" + str(target):>7} {"ok" if ok else "MISS"}')

    if not args.quick:
        rps = http_rps(args.requests, args.connections)
        print(
            f'\nuvicorn on 127.0.0.1, {args.connections} keep-alive connections, {args.requests} requests/scenario, '
            'median of 5 alternating rounds'
        )
        print(f'{"scenario":28} {"raw req/s":>10} {"panther req/s":>14} {"panther/raw":>12}')
        for name, *_ in SCENARIOS:
            raw, pan = rps[name]
            print(f'{name:28} {raw:10.0f} {pan:14.0f} {pan / raw:12.2f}')
    return 1 if failed else 0


if __name__ == '__main__':
    raise SystemExit(main())
