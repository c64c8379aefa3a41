"""Background tasks (SPEC §19): definitions, the schedule (driven by an injected clock), execution, Redis
coordination across processes, and the scheduler owned by the app's lifespan."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import textwrap
import threading
import time as wall_time
import types
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytz

from panther import Panther
from panther.app import API
from panther.background_tasks import BackgroundTask, BackgroundTasks, WeekDay, _background_tasks, current_due_time
from panther.events import Event
from panther.test import APIClient
from panther.utils import Singleton, timezone_now
from tests._uvicorn import free_port, uvicorn_servers

START = datetime(2026, 3, 2, 12, 0, 0, tzinfo=pytz.UTC)  # a Monday


class Clock:
    """The scheduler's clock in tests: moves only when told to."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


async def _reset(scheduler: BackgroundTasks) -> None:
    await scheduler.clear()
    assert scheduler.tasks == [] and scheduler.clock is timezone_now and not scheduler.is_running
    scheduler._initialized = False


@pytest.fixture
async def scheduler() -> AsyncIterator[BackgroundTasks]:
    """The process's scheduler, initialised, with an empty task list and a fake clock."""
    await _reset(_background_tasks)
    _background_tasks.initialize()
    _background_tasks.clock = Clock()
    yield _background_tasks
    await _reset(_background_tasks)
    Event.clear()


def clock_of(scheduler: BackgroundTasks) -> Clock:
    assert isinstance(scheduler.clock, Clock)
    return scheduler.clock


async def settle(scheduler: BackgroundTasks) -> None:
    """Wait for the runs that the last `run_due` started."""
    await scheduler.join()
    assert not scheduler._running


async def step(scheduler: BackgroundTasks, seconds: float = 0) -> datetime | None:
    """Move the clock, run what is due, wait for the runs; returns the next due time."""
    next_due = await scheduler.run_due(clock_of(scheduler).advance(seconds))
    await settle(scheduler)
    return next_due


def messages(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == level and r.name == 'panther']


# Definitions


def test_public_names_and_weekday_numbering() -> None:
    assert BackgroundTasks() is _background_tasks
    assert Singleton._instances[BackgroundTasks] is _background_tasks
    assert [day.value for day in WeekDay] == list(range(7))
    assert WeekDay.MONDAY.value == START.weekday()


def test_builder_methods_chain_and_defaults() -> None:
    task = BackgroundTask(print, 'x', end='')
    assert (task.func, task.args, task.kwargs) == (print, ('x',), {'end': ''})
    assert task._remaining_interval == 1 and task._period == timedelta(minutes=1)
    assert task.interval(3).every_seconds(2).on(WeekDay.FRIDAY).at(time(9, 30)).timeout(5) is task
    assert task._remaining_interval == 3 and task._period == timedelta(seconds=2)
    assert task._day_of_week == 4 and task._times == (time(9, 30),) and task._timeout == 5.0
    for method, unit in [
        ('every_seconds', timedelta(seconds=1)),
        ('every_minutes', timedelta(minutes=1)),
        ('every_hours', timedelta(hours=1)),
        ('every_days', timedelta(days=1)),
        ('every_weeks', timedelta(weeks=1)),
    ]:
        assert getattr(BackgroundTask(print), method)()._period == unit
        assert getattr(BackgroundTask(print), method)(3)._period == 3 * unit


def test_at_accepts_a_datetime_by_its_time_and_several_times() -> None:
    assert BackgroundTask(print).at(datetime(2020, 1, 1, 8, 15, 30, 999))._times == (time(8, 15, 30),)
    task = BackgroundTask(print).at(time(18), time(6), datetime(2021, 5, 5, 12))
    assert task._times == (time(6), time(12), time(18))
    assert BackgroundTask(print).at([time(18), time(6)])._times == (time(6), time(18))


@pytest.mark.parametrize('value', ['10:00', 10, None, timedelta(hours=1)])
def test_at_with_a_wrong_type_has_the_spec_error(value: Any) -> None:
    with pytest.raises(TypeError) as error:
        BackgroundTask(print).at(value)
    expected = f'Argument should be instance of `datetime.time()` or `datetime.datetime()` not `{type(value).__name__}`'
    assert str(error.value) == expected
    with pytest.raises(TypeError, match='not `str`'):
        BackgroundTask(print).at([time(1), '02:00'])


def test_invalid_definitions_are_refused_with_clear_errors() -> None:
    with pytest.raises(TypeError, match='should be callable, not `int`'):
        BackgroundTask(5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match='at least one time'):
        BackgroundTask(print).at([])
    for method in ('every_seconds', 'every_minutes', 'every_hours', 'every_days', 'every_weeks'):
        for bad in (0, -1):
            with pytest.raises(ValueError, match=rf'`{method}\(\)` expects a positive number, got {bad}'):
                getattr(BackgroundTask(print), method)(bad)
        for wrong in (1.5, '2', True):
            with pytest.raises(TypeError, match=rf'`{method}\(\)` expects an int'):
                getattr(BackgroundTask(print), method)(wrong)
    for bad_interval in (0, -2):
        with pytest.raises(ValueError, match='positive number or -1'):
            BackgroundTask(print).interval(bad_interval)
    with pytest.raises(TypeError, match='`interval\\(\\)` expects an int, not `str`'):
        BackgroundTask(print).interval('3')  # type: ignore[arg-type]
    with pytest.raises(ValueError, match='between 0 \\(Monday\\) and 6'):
        BackgroundTask(print).on(7)
    with pytest.raises(TypeError, match='instance of `WeekDay` not `str`'):
        BackgroundTask(print).on('monday')  # type: ignore[arg-type]
    for bad_timeout in (0, -1, float('nan'), float('inf')):
        with pytest.raises(ValueError, match='positive number of seconds'):
            BackgroundTask(print).timeout(bad_timeout)
    with pytest.raises(TypeError, match='number of seconds'):
        BackgroundTask(print).timeout('1')  # type: ignore[arg-type]


# Submitting


async def test_add_task_before_initialize_logs_one_error_and_ignores_it(caplog: pytest.LogCaptureFixture) -> None:
    await _reset(_background_tasks)
    caplog.set_level(logging.DEBUG, logger='panther')
    task = BackgroundTask(print).submit()
    assert isinstance(task, BackgroundTask)
    assert _background_tasks.tasks == []
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.ERROR, 'Task will be ignored, `BACKGROUND_TASKS` is not True in `configs`')
    ]


async def test_add_task_refuses_what_is_not_a_task(
    scheduler: BackgroundTasks, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger='panther')

    def job() -> None: ...

    scheduler.add_task(job)  # type: ignore[arg-type]
    scheduler.add_task(42)  # type: ignore[arg-type]
    assert scheduler.tasks == []
    assert [r.getMessage() for r in caplog.records] == [
        '`job` should be instance of `background_tasks.BackgroundTask`',
        '`int` should be instance of `background_tasks.BackgroundTask`',
    ]
    assert all(r.levelno == logging.ERROR for r in caplog.records)


async def test_submit_adds_once_and_logs_info(scheduler: BackgroundTasks, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger='panther')

    def job() -> None: ...

    task = BackgroundTask(job)
    assert task.submit() is task
    scheduler.add_task(task)
    assert scheduler.tasks == [task]
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [(logging.INFO, 'Task job submitted.')] * 2


# The schedule (injected clock; every due time is computed, nothing is polled)


async def test_once_task_runs_at_the_next_step_then_is_removed(
    scheduler: BackgroundTasks, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger='panther')
    runs: list[tuple[Any, ...]] = []

    async def greet(name: str, *, punctuation: str) -> None:
        runs.append((name, punctuation))

    BackgroundTask(greet, 'ali', punctuation='!').submit()
    assert await step(scheduler) is None
    assert runs == [('ali', '!')]
    assert scheduler.tasks == []
    assert "greet('ali', punctuation='!') Remaining Interval -> 1" in messages(caplog, logging.INFO)


async def test_every_second_three_times(scheduler: BackgroundTasks, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger='panther')
    runs: list[datetime] = []
    clock = clock_of(scheduler)

    def tick() -> None:
        runs.append(clock.now)

    BackgroundTask(tick).every_seconds().interval(3).submit()
    assert await step(scheduler) == START + timedelta(seconds=1)
    assert await step(scheduler, 0.5) == START + timedelta(seconds=1)  # woken early: nothing runs
    assert await step(scheduler, 0.5) == START + timedelta(seconds=2)
    assert await step(scheduler, 1) is None
    assert runs == [START, START + timedelta(seconds=1), START + timedelta(seconds=2)]
    assert scheduler.tasks == []
    remaining = [m for m in messages(caplog, logging.INFO) if 'Remaining' in m]
    assert remaining == [f'tick() Remaining Interval -> {n}' for n in (3, 2, 1)]


async def test_interval_without_a_period_waits_the_default_minute(scheduler: BackgroundTasks) -> None:
    runs: list[datetime] = []
    clock = clock_of(scheduler)
    BackgroundTask(lambda: runs.append(clock.now)).interval(2).submit()
    await step(scheduler)
    await step(scheduler, 3)
    assert len(runs) == 1
    await step(scheduler, 57)
    assert runs == [START, START + timedelta(minutes=1)]


async def test_every_three_seconds_twice(scheduler: BackgroundTasks) -> None:
    runs: list[datetime] = []
    clock = clock_of(scheduler)
    BackgroundTask(lambda: runs.append(clock.now)).every_seconds(3).interval(2).submit()
    await step(scheduler)
    await step(scheduler, 2)
    assert len(runs) == 1
    await step(scheduler, 1)
    assert runs == [START, START + timedelta(seconds=3)]


async def test_forever_logs_infinity(scheduler: BackgroundTasks, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger='panther')

    def beat() -> None: ...

    task = BackgroundTask(beat).every_minutes(5).interval(-1).submit()
    for _ in range(4):
        await step(scheduler, 300)
    assert task in scheduler.tasks and task._remaining_interval == -1
    assert messages(caplog, logging.INFO).count('beat() Remaining Interval -> ∞') == 4


async def test_at_runs_at_that_second_and_then_the_next_day(scheduler: BackgroundTasks) -> None:
    runs: list[datetime] = []
    clock = clock_of(scheduler)
    at = (START + timedelta(seconds=3)).time()
    BackgroundTask(lambda: runs.append(clock.now)).at(at).interval(2).submit()
    assert await step(scheduler) == START + timedelta(seconds=3)
    await step(scheduler, 2)
    assert runs == []
    assert await step(scheduler, 1) == START + timedelta(days=1, seconds=3)
    assert runs == [START + timedelta(seconds=3)]


async def test_a_late_wake_up_never_skips_an_at_time(scheduler: BackgroundTasks) -> None:
    runs: list[datetime] = []
    clock = clock_of(scheduler)
    BackgroundTask(lambda: runs.append(clock.now)).at((START + timedelta(seconds=10)).time()).submit()
    # The loop was blocked past the exact second: the run is late, not lost.
    await step(scheduler, 14.7)
    assert runs == [START + timedelta(seconds=14.7)]


async def test_a_late_wake_up_does_not_replay_missed_periods(scheduler: BackgroundTasks) -> None:
    runs: list[datetime] = []
    clock = clock_of(scheduler)
    BackgroundTask(lambda: runs.append(clock.now)).every_seconds().interval(-1).submit()
    await step(scheduler)
    assert await step(scheduler, 30) == START + timedelta(seconds=31)
    assert len(runs) == 2  # one catch-up run, no burst of 29


async def test_several_at_times_run_the_same_day(scheduler: BackgroundTasks) -> None:
    runs: list[datetime] = []
    clock = clock_of(scheduler)
    first, second = (START + timedelta(seconds=5)).time(), (START + timedelta(seconds=35)).time()
    BackgroundTask(lambda: runs.append(clock.now)).at(second, first).interval(-1).submit()
    await step(scheduler, 5)
    await step(scheduler, 30)
    assert await step(scheduler) == START + timedelta(days=1, seconds=5)
    assert runs == [START + timedelta(seconds=5), START + timedelta(seconds=35)]


async def test_on_today_runs_now_and_another_day_waits_for_its_midnight(scheduler: BackgroundTasks) -> None:
    runs: list[str] = []
    BackgroundTask(runs.append, 'monday').on(WeekDay.MONDAY).submit()
    BackgroundTask(runs.append, 'tuesday').on(WeekDay.TUESDAY).submit()
    assert await step(scheduler) == datetime(2026, 3, 3, tzinfo=pytz.UTC)
    assert runs == ['monday']
    await step(scheduler, 12 * 3600 - 1)
    assert runs == ['monday']
    await step(scheduler, 1)
    assert runs == ['monday', 'tuesday']


async def test_on_and_at_with_a_local_time_zone(scheduler: BackgroundTasks) -> None:
    tehran = pytz.timezone('Asia/Tehran')
    clock = clock_of(scheduler)
    clock.now = START.astimezone(tehran)  # Monday 15:30 in Tehran
    runs: list[datetime] = []
    BackgroundTask(lambda: runs.append(clock.now)).on(WeekDay.WEDNESDAY).at(time(9)).submit()
    next_due = await step(scheduler)
    assert next_due is not None
    assert next_due.astimezone(tehran).replace(tzinfo=None) == datetime(2026, 3, 4, 9, 0)
    assert runs == []


# Execution


async def test_sync_functions_run_in_a_worker_thread_async_ones_on_the_loop(scheduler: BackgroundTasks) -> None:
    threads: dict[str, int] = {}

    def blocking() -> None:
        threads['sync'] = threading.get_ident()

    async def cooperative() -> None:
        threads['async'] = threading.get_ident()

    BackgroundTask(blocking).submit()
    BackgroundTask(cooperative).submit()
    await step(scheduler)
    assert threads['async'] == threading.get_ident()
    assert threads['sync'] != threading.get_ident()


async def test_a_failing_task_is_logged_by_name_and_the_schedule_goes_on(
    scheduler: BackgroundTasks, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger='panther')
    calls: list[int] = []

    def flaky() -> None:
        calls.append(1)
        raise RuntimeError('disk full')

    async def also_flaky() -> None:
        raise TimeoutError('upstream timed out')  # the task's own TimeoutError is a failure, not our timeout

    BackgroundTask(flaky).every_seconds().interval(3).submit()
    BackgroundTask(also_flaky).submit()
    for _ in range(3):
        await step(scheduler, 1)
    assert len(calls) == 3
    errors = messages(caplog, logging.ERROR)
    assert errors.count('Exception in background task flaky: disk full') == 3
    assert errors.count('Exception in background task also_flaky: upstream timed out') == 1


async def test_a_hanging_async_task_is_cancelled_after_its_timeout(
    scheduler: BackgroundTasks, caplog: pytest.LogCaptureFixture
) -> None:
    cancelled = asyncio.Event()
    runs: list[int] = []

    async def stuck() -> None:
        runs.append(1)
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    BackgroundTask(stuck).every_seconds().interval(2).timeout(0.05).submit()
    await step(scheduler)
    assert cancelled.is_set()
    assert messages(caplog, logging.ERROR) == ['Background task stuck timed out after 0.05 s and was cancelled']
    await step(scheduler, 1)
    assert len(runs) == 2  # the schedule went on


async def test_a_hanging_sync_task_stops_being_waited_for(
    scheduler: BackgroundTasks, caplog: pytest.LogCaptureFixture
) -> None:
    release = threading.Event()
    finished = threading.Event()

    def stuck() -> None:
        release.wait(10)
        finished.set()

    BackgroundTask(stuck).timeout(0.05).submit()
    await step(scheduler)
    assert messages(caplog, logging.ERROR) == [
        'Background task stuck timed out after 0.05 s and is no longer waited for (its thread runs on)'
    ]
    assert not finished.is_set()
    release.set()
    assert await asyncio.to_thread(finished.wait, 5)


async def test_a_run_knows_its_due_time_even_when_late(scheduler: BackgroundTasks) -> None:
    seen: list[tuple[str, datetime | None]] = []

    async def on_loop() -> None:
        seen.append(('async', current_due_time()))

    def in_thread() -> None:
        seen.append(('sync', current_due_time()))

    BackgroundTask(on_loop).every_seconds().interval(2).submit()
    BackgroundTask(in_thread).at((START + timedelta(seconds=1)).time()).submit()
    await step(scheduler)
    await step(scheduler, 1.8)  # both due at START + 1 s, run 0.8 s late
    assert sorted(seen, key=str) == sorted(
        [('async', START), ('async', START + timedelta(seconds=1)), ('sync', START + timedelta(seconds=1))], key=str
    )
    assert current_due_time() is None  # outside a run


async def test_a_slow_run_does_not_hold_up_other_tasks(scheduler: BackgroundTasks) -> None:
    gate = asyncio.Event()
    quick: list[int] = []

    async def slow() -> None:
        await gate.wait()

    BackgroundTask(slow).submit()
    BackgroundTask(quick.append, 1).every_seconds().interval(2).submit()
    await scheduler.run_due(clock_of(scheduler).now)
    await scheduler.run_due(clock_of(scheduler).advance(1))
    await asyncio.sleep(0)
    await asyncio.gather(*[run for run in scheduler._running if 'append' in run.get_name()])
    assert quick == [1, 1]
    gate.set()
    await settle(scheduler)


# Lifespan: the scheduler runs while the app is served


@API()
async def index() -> dict[str, str]:
    return {'ok': 'yes'}


def _app(urls: dict[str, Any] | None = None, **configs: Any) -> Panther:
    """An app whose configuration module holds only `configs`."""
    module = types.ModuleType(f'bg_app_{uuid.uuid4().hex[:8]}')
    module.__dict__.update(configs)
    sys.modules[module.__name__] = module
    try:
        return Panther(module.__name__, configs=module.__name__, urls=urls or {'': index})
    finally:
        del sys.modules[module.__name__]


async def test_config_key_initializes_and_the_lifespan_starts_and_stops_the_scheduler(
    scheduler: BackgroundTasks,
) -> None:
    await _reset(scheduler)
    app = _app(BACKGROUND_TASKS=True)
    assert scheduler._initialized and not scheduler.is_running
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def forever() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    async with APIClient(app) as client:
        assert scheduler.is_running
        BackgroundTask(forever).submit()
        assert (await client.get('/')).status_code == 200
        await asyncio.wait_for(started.wait(), 5)
    assert cancelled.is_set()  # shutdown cancelled the run in progress
    assert not scheduler.is_running


async def test_a_sync_endpoint_submits_from_its_worker_thread(scheduler: BackgroundTasks) -> None:
    await _reset(scheduler)
    done = asyncio.Event()
    threads: list[int] = []

    async def job() -> None:
        done.set()

    @API()
    def submit_job() -> dict[str, bool]:  # sync endpoints run in a worker thread
        threads.append(threading.get_ident())
        BackgroundTask(job).submit()
        return {'submitted': True}

    app = _app({'submit/': submit_job}, BACKGROUND_TASKS=True)
    async with APIClient(app) as client:
        # The scheduler sleeps (nothing is due); the submission from another thread must wake it.
        assert (await client.get('/submit/')).data == {'submitted': True}
        await asyncio.wait_for(done.wait(), 5)
    assert threads and threads[0] != threading.get_ident()


async def test_the_scheduler_survives_an_error_of_its_own(
    scheduler: BackgroundTasks, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import panther.background_tasks as module

    monkeypatch.setattr(module, '_ERROR_PAUSE', 0.01)
    ran = asyncio.Event()
    calls = 0

    def broken_once() -> datetime:
        nonlocal calls
        calls += 1
        if calls == 2:  # the first call is add_task's; the second the scheduler's first step
            raise RuntimeError('clock unavailable')
        return START

    scheduler.clock = broken_once

    async def job() -> None:
        ran.set()

    BackgroundTask(job).submit()
    scheduler.start()
    await asyncio.wait_for(ran.wait(), 5)
    assert 'Background task scheduler error: clock unavailable' in messages(caplog, logging.ERROR)


async def test_without_the_config_key_nothing_runs(
    scheduler: BackgroundTasks, caplog: pytest.LogCaptureFixture
) -> None:
    await _reset(scheduler)
    app = _app()
    async with APIClient(app):
        assert not scheduler.is_running
        BackgroundTask(print).submit()
    assert scheduler.tasks == []
    assert 'Task will be ignored, `BACKGROUND_TASKS` is not True in `configs`' in messages(caplog, logging.ERROR)


@pytest.mark.slow
async def test_real_time_every_second_three_times(scheduler: BackgroundTasks) -> None:
    await _reset(scheduler)
    app = _app(BACKGROUND_TASKS=True)
    runs: list[float] = []
    third = asyncio.Event()

    async def tick() -> None:
        runs.append(wall_time.time())
        if len(runs) == 3:
            third.set()

    async with APIClient(app):
        started = wall_time.time()
        BackgroundTask(tick).every_seconds().interval(3).submit()
        await asyncio.wait_for(third.wait(), 4)
    assert runs[0] - started < 0.5  # the first run is immediate
    # The next ones land on the following whole seconds of the schedule, one second apart (no drift).
    assert [int(run) for run in runs[1:]] == [int(runs[0]) + 1, int(runs[0]) + 2]
    assert all(run % 1 < 0.5 for run in runs[1:])


# Redis: each scheduled run executes once across processes


def _other_process(clock: Clock) -> BackgroundTasks:
    """A second scheduler, as another worker process sharing the Redis would have."""
    other: BackgroundTasks = object.__new__(BackgroundTasks)
    other.__init__()  # type: ignore[misc]
    other.initialize()
    other.clock = clock
    return other


@pytest.fixture
async def shared_redis(redis_address: tuple[str, int]) -> AsyncIterator[str]:
    from panther.db.connections.redis import close_redis, load_redis, redis

    load_redis({'host': redis_address[0], 'port': redis_address[1]})
    run_id = uuid.uuid4().hex
    try:
        yield run_id
    finally:
        async for key in redis.scan_iter(match=f'panther:background_tasks:{__name__}.*'):
            await redis.delete(key)
        await close_redis()


async def test_a_scheduled_run_executes_once_across_processes(scheduler: BackgroundTasks, shared_redis: str) -> None:
    clock = clock_of(scheduler)
    other = _other_process(clock)
    runs: list[str] = []

    async def record(run_id: str, worker: str) -> None:
        runs.append(run_id)

    # Both processes submit the same task (same function and arguments) at start-up.
    first = BackgroundTask(record, shared_redis, 'w').every_seconds().interval(5)
    second = BackgroundTask(record, shared_redis, 'w').every_seconds().interval(5)
    assert first.key == second.key
    # Other arguments, another schedule or another function with the same name are other tasks.
    assert BackgroundTask(record, shared_redis, 'x').every_seconds().key != first.key
    assert BackgroundTask(record, shared_redis, 'w').every_seconds(2).key != first.key
    assert BackgroundTask(record, shared_redis, 'w').every_seconds().at(time(9)).key != first.key
    first_lambda = BackgroundTask(lambda: 1)
    second_lambda = BackgroundTask(lambda: 2)
    assert first_lambda.key != second_lambda.key
    scheduler.add_task(first)
    other.add_task(second)
    for _ in range(5):
        await scheduler.run_due(clock.now)
        await other.run_due(clock.now)
        await settle(scheduler)
        await settle(other)
        clock.advance(1)
    assert len(runs) == 5
    assert first._remaining_interval == second._remaining_interval == 0
    assert scheduler.tasks == other.tasks == []


async def test_a_process_that_starts_later_joins_the_same_grid(scheduler: BackgroundTasks, shared_redis: str) -> None:
    clock = clock_of(scheduler)
    runs: list[datetime] = []

    async def report(run_id: str) -> None:
        runs.append(clock.now)

    BackgroundTask(report, shared_redis).every_minutes().interval(-1).submit()
    await step(scheduler)
    # Another worker starts 25 s later: its first due (now) is not on the shared grid, so it does not run.
    clock.advance(25)
    other = _other_process(clock)
    late = BackgroundTask(report, shared_redis).every_minutes().interval(-1)
    other.add_task(late)
    assert await other.run_due(clock.now) == START + timedelta(minutes=1)
    await settle(other)
    assert runs == [START]
    clock.advance(35)
    await other.run_due(clock.now)
    await scheduler.run_due(clock.now)
    await settle(other)
    await settle(scheduler)
    assert runs == [START, START + timedelta(minutes=1)]


async def test_a_once_job_is_never_deduplicated(scheduler: BackgroundTasks, shared_redis: str) -> None:
    clock = clock_of(scheduler)
    other = _other_process(clock)
    sent: list[str] = []

    async def send_mail(address: str) -> None:
        sent.append(address)

    # Two requests (on two workers) submit the same one-off job: both are wanted.
    scheduler.add_task(BackgroundTask(send_mail, 'a@example.com'))
    other.add_task(BackgroundTask(send_mail, 'a@example.com'))
    await step(scheduler)
    await other.run_due(clock.now)
    await settle(other)
    assert sent == ['a@example.com', 'a@example.com']


def _start_redis(port: int, directory: Path) -> subprocess.Popen[bytes]:
    command = ['redis-server', '--bind', '127.0.0.1', '--port', str(port), '--save', '', '--appendonly', 'no']
    server = subprocess.Popen([*command, '--dir', str(directory)], stdout=subprocess.DEVNULL)
    import socket

    deadline = wall_time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(('127.0.0.1', port), 0.2) as sock:
                sock.sendall(b'PING\r\n')
                if sock.recv(16).startswith(b'+PONG'):
                    return server
        except OSError:
            pass
        assert server.poll() is None and wall_time.monotonic() < deadline, 'redis-server did not start'
        wall_time.sleep(0.05)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[int, list[subprocess.Popen[bytes]]]]:
    """A Redis server of this test alone (the shared one must not be stopped)."""
    import shutil

    if shutil.which('redis-server') is None:
        pytest.skip('redis-server is not installed')
    port = free_port()
    servers = [_start_redis(port, tmp_path)]
    try:
        yield port, servers
    finally:
        for server in servers:
            if server.poll() is None:
                server.terminate()
                server.wait(10)


@pytest.mark.redis
async def test_redis_going_away_skips_runs_and_scheduling_resumes(
    scheduler: BackgroundTasks,
    own_redis: tuple[int, list[subprocess.Popen[bytes]]],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from panther.db.connections.redis import close_redis, load_redis

    port, servers = own_redis
    load_redis({'host': '127.0.0.1', 'port': port})
    runs: list[datetime] = []
    clock = clock_of(scheduler)

    async def job() -> None:
        runs.append(clock.now)

    task = BackgroundTask(job).every_seconds().interval(4).submit()
    try:
        await step(scheduler)
        assert runs == [START]
        servers[0].terminate()
        servers[0].wait(10)
        await step(scheduler, 1)  # Redis is down: nobody can tell if another worker ran it, so it is skipped
        await step(scheduler, 1)
        assert runs == [START]
        assert task in scheduler.tasks and task._remaining_interval == 3  # skipped runs are not counted
        warnings = messages(caplog, logging.WARNING)
        assert len(warnings) == 2 and all(w.startswith('Background task job: run due at ') for w in warnings)
        servers.append(_start_redis(port, tmp_path))
        for _ in range(3):
            await step(scheduler, 1)
        assert runs == [START, START + timedelta(seconds=3), START + timedelta(seconds=4), START + timedelta(seconds=5)]
        assert scheduler.tasks == []
    finally:
        await close_redis()


TWO_WORKER_APP = """
    import os
    import time

    from panther import Panther
    from panther.app import API
    from panther.background_tasks import BackgroundTask, current_due_time
    from panther.db.connections import redis
    from panther.events import Event

    REDIS = {'host': '127.0.0.1', 'port': int(os.environ['REDIS_PORT'])}
    BACKGROUND_TASKS = True
    RUNS = f"bg-two-workers:{os.environ['RUN_ID']}"


    async def record(run_id):
        entry = f'{os.getpid()} {int(current_due_time().timestamp())}'
        # The feed is a copy the test blocks on (BLPOP) instead of polling the list.
        await redis.rpush(RUNS, entry)
        await redis.rpush(f'{RUNS}:feed', entry)


    @Event.startup
    def schedule():
        BackgroundTask(record, os.environ['RUN_ID']).every_seconds().interval(-1).submit()


    @API()
    async def pid():
        return {'pid': os.getpid()}


    app = Panther(__name__, configs=__name__, urls={'': pid})
"""


@pytest.mark.slow
@pytest.mark.redis
def test_two_uvicorn_workers_run_each_due_second_once(tmp_path: Path, redis_address: tuple[str, int]) -> None:
    import httpx
    import redis as redis_client

    run_id = uuid.uuid4().hex
    (tmp_path / 'bg_workers.py').write_text(textwrap.dedent(TWO_WORKER_APP))
    env = {'REDIS_PORT': str(redis_address[1]), 'RUN_ID': run_id}
    client = redis_client.Redis(host=redis_address[0], port=redis_address[1])
    key = f'bg-two-workers:{run_id}'
    try:
        with uvicorn_servers(tmp_path, 'bg_workers', count=2, env=env) as servers:
            pids = {httpx.get(f'http://127.0.0.1:{port}/', timeout=5).json()['pid'] for _, port in servers}
            assert pids == {process.pid for process, _ in servers}
            # Both workers are serving: watch the next five due seconds of the schedule.
            first_seconds = int(wall_time.time())
            while True:
                popped = client.blpop([f'{key}:feed'], timeout=3)
                assert popped is not None, 'no run within 3 s'
                if int(popped[1].decode().split()[1]) >= first_seconds + 5:
                    break
        entries = [entry.decode().split() for entry in client.lrange(key, 0, -1)]
        seconds = [int(second) for _, second in entries]
        watched = [second for second in seconds if first_seconds <= second <= first_seconds + 4]
        assert watched == list(range(first_seconds, first_seconds + 5))  # every due second, once, in order
        assert len(seconds) == len(set(seconds))  # never twice, also while the workers were starting
        assert {int(pid) for pid, _ in entries} <= pids
    finally:
        client.delete(key, f'{key}:feed')
        for name in client.scan_iter(match='panther:background_tasks:bg_workers.record:*'):
            client.delete(name)
        client.close()
