"""WebSocket benchmark: Panther's `GenericWebsocket` against a raw ASGI socket app, in the same run.

    python benchmarks/bench_ws.py              # in-process echo + connect, group fan-out in one process
    python benchmarks/bench_ws.py --redis      # fan-out through Redis too (REDIS_PORT, default 6379)

* **echo**: one connection, N client messages each echoed back (receive → handler → send), CPU µs per round
  trip. The raw app does the least that still echoes (no routing, no connection object).
* **connect + 1 message + close**: a whole connection per iteration (routing, connection object, accept, one
  echo, disconnect).
* **group fan-out**: 1,000 connections of one process in one group; time from `send_to_group()` until the
  1,000th socket has been handed the message (ms), against a loop that hands one pre-rendered message to the
  same 1,000 ASGI `send` callables (the floor). With `--redis` the message goes out over Redis and back through
  this process's subscription, as it would between workers.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GROUP_SIZE = 1000
# A name of its own per run: a shared Redis may still list members of an earlier run (until they expire).
GROUP = f'bench-{os.getpid()}-{int(time.time())}'


async def raw_echo_app(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
    if scope['type'] == 'lifespan':
        while True:
            event = (await receive())['type'].rsplit('.', 1)[-1]
            await send({'type': f'lifespan.{event}.complete'})
            if event == 'shutdown':
                return
    await receive()  # websocket.connect
    await send({'type': 'websocket.accept'})
    while True:
        message = await receive()
        if message['type'] == 'websocket.receive':
            text = message.get('text')
            if text is not None:
                await send({'type': 'websocket.send', 'text': text})
            else:
                await send({'type': 'websocket.send', 'bytes': message.get('bytes')})
        elif message['type'] == 'websocket.disconnect':
            return


def build_panther_app(redis_port: int | None = None) -> Any:
    from panther import Panther
    from panther.websocket import GenericWebsocket

    class Echo(GenericWebsocket):
        async def connect(self) -> None:
            await self.accept()

        async def receive(self, data: str | bytes) -> None:
            await self.send(data)

    class Member(GenericWebsocket):
        async def connect(self) -> None:
            await self.accept()
            await self.join(GROUP)

    settings = sys.modules[__name__]
    settings.REDIS = {'host': '127.0.0.1', 'port': redis_port} if redis_port else None  # type: ignore[attr-defined]
    return Panther(__name__, configs=__name__, urls={'echo': Echo, 'member': Member})


def ws_scope(path: str) -> dict[str, Any]:
    return {
        'type': 'websocket',
        'asgi': {'version': '3.0', 'spec_version': '2.3'},
        'http_version': '1.1',
        'scheme': 'ws',
        'path': path,
        'raw_path': path.encode(),
        'query_string': b'',
        'root_path': '',
        'headers': [(b'host', b'127.0.0.1')],
        'client': ('127.0.0.1', 50000),
        'server': ('127.0.0.1', 8000),
        'subprotocols': [],
        'extensions': {'websocket.http.response': {}},
    }


async def echo_us(app: Any, messages: int) -> float:
    """CPU µs per echoed message over one connection."""
    incoming = [{'type': 'websocket.connect'}] + [{'type': 'websocket.receive', 'text': 'ping'}] * messages
    incoming.append({'type': 'websocket.disconnect', 'code': 1000})
    feed = iter(incoming)
    echoed = 0

    async def receive() -> dict[str, Any]:
        return next(feed)

    async def send(message: dict[str, Any]) -> None:
        nonlocal echoed
        if message['type'] == 'websocket.send':
            echoed += 1

    start = time.process_time()
    await app(ws_scope('/echo'), receive, send)
    elapsed = time.process_time() - start
    if echoed != messages:
        raise SystemExit(f'echo: expected {messages} replies, got {echoed}')
    return elapsed / messages * 1e6


async def connection_us(app: Any, connections: int) -> float:
    """CPU µs per connection: connect, accept, one echo, disconnect."""
    script = (
        {'type': 'websocket.connect'},
        {'type': 'websocket.receive', 'text': 'ping'},
        {'type': 'websocket.disconnect'},
    )
    replies = 0

    async def send(message: dict[str, Any]) -> None:
        nonlocal replies
        if message['type'] == 'websocket.send':
            replies += 1

    scope = ws_scope('/echo')
    start = time.process_time()
    for _ in range(connections):
        feed = iter(script)

        async def receive(feed: Any = feed) -> dict[str, Any]:
            return next(feed)

        await app(dict(scope), receive, send)
    elapsed = time.process_time() - start
    if replies != connections:
        raise SystemExit(f'connect: expected {connections} replies, got {replies}')
    return elapsed / connections * 1e6


async def best(measure: Callable[[], Any], rounds: int) -> float:
    return min([await measure() for _ in range(rounds)])


async def fan_out_ms(app: Any, rounds: int) -> tuple[float, float]:
    """(raw floor ms, panther ms) to hand one message to GROUP_SIZE sockets of this process."""
    from panther.websocket import send_to_group

    delivered = 0
    all_delivered = asyncio.Event()
    end = asyncio.get_running_loop().create_future()
    sends: list[Callable[..., Any]] = []

    def make_send() -> Callable[..., Any]:
        async def send(message: dict[str, Any]) -> None:
            nonlocal delivered
            if message['type'] == 'websocket.send':
                delivered += 1
                if delivered == GROUP_SIZE:
                    all_delivered.set()

        return send

    waiting = 0
    all_joined = asyncio.Event()

    async def hold_open() -> dict[str, Any]:
        # Reached after `connect()` (and its join) returned: the receive loop asks for the next message.
        nonlocal waiting
        waiting += 1
        if waiting == GROUP_SIZE:
            all_joined.set()
        await end
        return {'type': 'websocket.disconnect', 'code': 1000}

    tasks = []
    for _ in range(GROUP_SIZE):
        first = [True]

        async def receive(first: list[bool] = first) -> dict[str, Any]:
            if first[0]:
                first[0] = False
                return {'type': 'websocket.connect'}
            return await hold_open()

        send = make_send()
        sends.append(send)
        tasks.append(asyncio.create_task(app(ws_scope('/member'), receive, send)))
    await asyncio.wait_for(all_joined.wait(), timeout=30)

    frame = {'type': 'websocket.send', 'text': '{"text":"hello"}'}
    raw_best = pan_best = float('inf')
    for _ in range(rounds):
        delivered = 0
        all_delivered.clear()
        start = time.perf_counter()
        for send in sends:
            await send(frame)
        raw_best = min(raw_best, (time.perf_counter() - start) * 1e3)

        delivered = 0
        all_delivered.clear()
        start = time.perf_counter()
        count = await send_to_group(GROUP, {'text': 'hello'})
        await asyncio.wait_for(all_delivered.wait(), timeout=10)
        pan_best = min(pan_best, (time.perf_counter() - start) * 1e3)
        if count != GROUP_SIZE:
            raise SystemExit(f'fan-out: send_to_group reported {count} members')
    end.set_result(None)
    await asyncio.gather(*tasks)
    return raw_best, pan_best


SERVE = """
import sys, uvicorn
sys.path.insert(0, {root!r})
from benchmarks.bench_ws import build_panther_app, raw_echo_app
import logging
app = raw_echo_app if {which!r} == 'raw' else build_panther_app()
logging.getLogger('panther').setLevel(logging.WARNING)
uvicorn.run(app, host='127.0.0.1', port={port}, log_level='error', lifespan='on')
"""


def _serve(which: str) -> tuple[subprocess.Popen[bytes], int]:
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        port = probe.getsockname()[1]
    code = SERVE.format(root=str(ROOT), which=which, port=port)
    process = subprocess.Popen([sys.executable, '-c', code], cwd=ROOT)
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(('127.0.0.1', port), timeout=0.2).close()
            return process, port
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                raise SystemExit(f'{which} server did not start') from None
            time.sleep(0.05)


async def _round_trips(port: int, connections: int, per_connection: int) -> float:
    """Messages per second: `connections` clients each sending and awaiting `per_connection` echoes."""
    from websockets.asyncio.client import connect

    async def client() -> None:
        async with connect(f'ws://127.0.0.1:{port}/echo', compression=None) as ws:
            for _ in range(per_connection):
                await ws.send('ping')
                await ws.recv()

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(connections)))
    return connections * per_connection / (time.perf_counter() - start)


def uvicorn_echo(connections: int, per_connection: int, rounds: int) -> tuple[float, float]:
    """Median messages/s of the raw app and of Panther, each served by uvicorn, rounds alternating."""
    servers = {which: _serve(which) for which in ('raw', 'panther')}
    results: dict[str, list[float]] = {'raw': [], 'panther': []}
    try:
        for _ in range(rounds):
            for which, (_, port) in servers.items():
                results[which].append(asyncio.run(_round_trips(port, connections, per_connection)))
    finally:
        for process, _ in servers.values():
            process.terminate()
            process.wait(timeout=10)
    return statistics.median(results['raw']), statistics.median(results['panther'])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument('--messages', type=int, default=20_000, help='echoed messages per round')
    parser.add_argument('--connections', type=int, default=3_000, help='connections per round')
    parser.add_argument('--rounds', type=int, default=15)
    parser.add_argument('--redis', action='store_true', help='also measure the fan-out through Redis')
    parser.add_argument('--quick', action='store_true', help='in-process only (no uvicorn)')
    args = parser.parse_args()
    os.chdir(ROOT)
    import logging

    logging.getLogger('panther').setLevel(logging.WARNING)
    print(f'Python {sys.version.split()[0]}; in-process, CPU time, best of {args.rounds} interleaved rounds')

    async def in_process() -> int:
        app = build_panther_app()
        logging.getLogger('panther').setLevel(logging.WARNING)  # creating the app configures logging
        await app.startup()
        raw_echo = pan_echo = raw_conn = pan_conn = float('inf')
        for _ in range(args.rounds):
            raw_echo = min(raw_echo, await echo_us(raw_echo_app, args.messages))
            pan_echo = min(pan_echo, await echo_us(app, args.messages))
            raw_conn = min(raw_conn, await connection_us(raw_echo_app, args.connections))
            pan_conn = min(pan_conn, await connection_us(app, args.connections))
        raw_fan, pan_fan = await fan_out_ms(app, args.rounds)
        await app.shutdown()

        throughput = raw_echo / pan_echo
        print(f'{"scenario":34} {"raw":>9} {"panther":>9} {"panther/raw":>12}')
        print(f'{"echo round trip (µs)":34} {raw_echo:9.2f} {pan_echo:9.2f} {pan_echo / raw_echo:12.2f}')
        print(f'{"connect + 1 message + close (µs)":34} {raw_conn:9.2f} {pan_conn:9.2f} {pan_conn / raw_conn:12.2f}')
        print(f'{"fan-out to 1,000 sockets (ms)":34} {raw_fan:9.2f} {pan_fan:9.2f} {pan_fan / raw_fan:12.2f}')
        print(f'echo throughput in-process: {throughput:.0%} of the raw app (the framework alone, no server)')
        return 0

    status = asyncio.run(in_process())
    if not args.quick:
        raw, pan = uvicorn_echo(connections=8, per_connection=2000, rounds=5)
        ok = pan / raw >= 0.7
        print('\nuvicorn on 127.0.0.1, 8 connections x 2000 sequential round trips, median of 5 alternating rounds')
        print(f'{"echo round trips/s":34} {raw:9.0f} {pan:9.0f} {pan / raw:12.2f}')
        print(
            f'echo throughput through uvicorn: {pan / raw:.0%} of the raw app (target ≥ 70%) {"ok" if ok else "MISS"}'
        )
        status = 0 if ok else 1
    if args.redis:
        port = int(os.environ.get('REDIS_PORT', '6379'))

        async def through_redis() -> None:
            from panther.db.connections.redis import close_redis

            app = build_panther_app(redis_port=port)
            logging.getLogger('panther').setLevel(logging.WARNING)
            await app.startup()
            raw_fan, pan_fan = await fan_out_ms(app, args.rounds)
            await app.shutdown()
            await close_redis()
            name = 'fan-out to 1,000 sockets via Redis (ms)'
            print(f'{name:34} {raw_fan:9.2f} {pan_fan:9.2f} {pan_fan / raw_fan:12.2f}')

        asyncio.run(through_redis())
    return status


if __name__ == '__main__':
    raise SystemExit(main())
