"""Background tasks (`BACKGROUND_TASKS = True`): functions run once, or on a schedule, beside the app.

The scheduler is one asyncio task on the app's event loop, started by the ASGI lifespan and cancelled at
shutdown. It sleeps until the earliest due time (computed from each task's schedule, never polled), so a slow
loop can delay a run but never skips an `at()` time. Async functions run as tasks on the loop, sync ones in a
worker thread, so a slow run never holds up the schedule.

With Redis configured, every scheduled run of a recurring or time-pinned task executes once across all the
processes sharing that Redis: the run is claimed with `SET <task>:<due time> NX PX` and the processes agree on
the start of a period grid through a shared anchor key. A plain once-task (no `interval`, `at` or `on`) is a
job of the process that submitted it and always runs there.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import inspect
import logging
import math
import os
import socket
from collections.abc import Callable, Coroutine, Iterable
from datetime import date, datetime, time, timedelta, timezone
from enum import Enum
from typing import Any, cast

import pytz

from panther._internal.concurrency import to_thread
from panther.utils import Singleton, timezone_now

__all__ = ['BackgroundTask', 'BackgroundTasks', 'WeekDay', '_background_tasks', 'current_due_time']

logger = logging.getLogger('panther')

_current_due: contextvars.ContextVar[datetime | None] = contextvars.ContextVar('background_task_due', default=None)

_TIME_TYPE_ERROR = 'Argument should be instance of `datetime.time()` or `datetime.datetime()` not `{}`'
_KEY_PREFIX = 'panther:background_tasks:'
# The scheduler re-reads the clock at least this often, so a wall-clock jump (NTP, DST) is noticed.
_MAX_SLEEP = 30.0
# How long to wait for Redis when claiming a run before treating it as unavailable.
_CLAIM_TIMEOUT = 2.0
# Scheduler errors (a bug, never a task's own failure) are retried after this pause instead of stopping it.
_ERROR_PAUSE = 1.0
_ONE_SECOND = timedelta(seconds=1)


class WeekDay(Enum):
    MONDAY = 0
    TUESDAY = 1
    WEDNESDAY = 2
    THURSDAY = 3
    FRIDAY = 4
    SATURDAY = 5
    SUNDAY = 6


def _whole_seconds(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def _positive_int(value: Any, method: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f'`{method}()` expects an int, not `{type(value).__name__}`')
    if value <= 0:
        raise ValueError(f'`{method}()` expects a positive number, got {value}')
    return value


def _as_time(value: Any) -> time:
    if isinstance(value, datetime):
        value = value.time()
    elif not isinstance(value, time):
        raise TypeError(_TIME_TYPE_ERROR.format(type(value).__name__))
    # Seconds are the finest unit of a schedule; the time zone is always `config.TIMEZONE`.
    return cast(time, value.replace(microsecond=0, tzinfo=None))


def current_due_time() -> datetime | None:
    """Inside a task's run: the time the run was due (a late run still knows which slot it covers); else None."""
    return _current_due.get()


class BackgroundTask:
    """`BackgroundTask(func, *args, **kwargs)`; configure with the builder methods, then `.submit()`."""

    def __init__(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        if not callable(func):
            raise TypeError(f'Background task function should be callable, not `{type(func).__name__}`')
        self.func = func
        self.args = args
        self.kwargs = kwargs
        self._remaining_interval = 1
        self._recurring = False
        self._period = timedelta(minutes=1)
        self._period_set = False
        self._day_of_week: int | None = None
        self._times: tuple[time, ...] = ()
        self._timeout: float | None = None
        # Scheduling state, filled in by `BackgroundTasks.add_task()`.
        self._anchor: datetime | None = None
        self._anchor_shared = False
        self._last_due: datetime | None = None
        self._next_due: datetime | None = None

    @property
    def name(self) -> str:
        return getattr(self.func, '__name__', type(self.func).__name__)

    def __repr__(self) -> str:
        return f'<BackgroundTask {self.name}: {self.describe()}>'

    # Builder methods

    def interval(self, interval: int, /) -> BackgroundTask:
        """How many times the task runs; `-1` = forever."""
        if isinstance(interval, bool) or not isinstance(interval, int):
            raise TypeError(f'`interval()` expects an int, not `{type(interval).__name__}`')
        if interval == 0 or interval < -1:
            raise ValueError(f'`interval()` expects a positive number or -1 (forever), got {interval}')
        self._remaining_interval = interval
        self._recurring = interval != 1
        return self

    def _every(self, count: Any, unit: timedelta, method: str) -> BackgroundTask:
        self._period = _positive_int(count, method) * unit
        self._period_set = True
        return self

    def every_seconds(self, seconds: int = 1, /) -> BackgroundTask:
        return self._every(seconds, timedelta(seconds=1), 'every_seconds')

    def every_minutes(self, minutes: int = 1, /) -> BackgroundTask:
        return self._every(minutes, timedelta(minutes=1), 'every_minutes')

    def every_hours(self, hours: int = 1, /) -> BackgroundTask:
        return self._every(hours, timedelta(hours=1), 'every_hours')

    def every_days(self, days: int = 1, /) -> BackgroundTask:
        return self._every(days, timedelta(days=1), 'every_days')

    def every_weeks(self, weeks: int = 1, /) -> BackgroundTask:
        return self._every(weeks, timedelta(weeks=1), 'every_weeks')

    def on(self, day_of_week: WeekDay | int, /) -> BackgroundTask:
        """Only on that weekday (`WeekDay.MONDAY` ... `WeekDay.SUNDAY`, or 0-6 like `datetime.weekday()`)."""
        if isinstance(day_of_week, WeekDay):
            self._day_of_week = day_of_week.value
            return self
        if isinstance(day_of_week, bool) or not isinstance(day_of_week, int):
            raise TypeError(f'Argument should be instance of `WeekDay` not `{type(day_of_week).__name__}`')
        if not 0 <= day_of_week <= 6:
            raise ValueError(f'Day of week should be between 0 (Monday) and 6 (Sunday), got {day_of_week}')
        self._day_of_week = day_of_week
        return self

    def at(self, _time: time | datetime | Iterable[time | datetime], /, *more: time | datetime) -> BackgroundTask:
        """Only at that time of day (a `datetime` counts by its time); several times: `at(t1, t2)` or `at([...])`."""
        values: list[Any]
        if isinstance(_time, (list, tuple, set, frozenset)):
            values = [*_time, *more]
            if not values:
                raise ValueError('`at()` needs at least one time')
        else:
            values = [_time, *more]
        self._times = tuple(sorted({_as_time(value) for value in values}))
        return self

    def timeout(self, seconds: float, /) -> BackgroundTask:
        """Give up on a run after `seconds`: async runs are cancelled, sync runs are no longer waited for."""
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
            raise TypeError(f'`timeout()` expects a number of seconds, not `{type(seconds).__name__}`')
        if not seconds > 0 or math.isinf(seconds):
            raise ValueError(f'`timeout()` expects a positive number of seconds, got {seconds}')
        self._timeout = float(seconds)
        return self

    def submit(self) -> BackgroundTask:
        _background_tasks.add_task(self)
        return self

    # Schedule

    @property
    def coordinated(self) -> bool:
        """True when its runs are scheduled runs (shared through Redis), not a one-off job of this process."""
        return self._recurring or bool(self._times) or self._day_of_week is not None

    @property
    def key(self) -> str:
        """The identity of the task across processes: function path plus a digest of arguments and schedule.

        The same task submitted by every worker has the same key; another function, other arguments or another
        schedule of the same function do not share it (their runs must not be claimed for each other).
        """
        func = self.func
        path = f'{getattr(func, "__module__", "")}.{getattr(func, "__qualname__", self.name)}'
        code = getattr(func, '__code__', None)
        if code is not None and '<' in path:
            # Lambdas and nested functions share a qualified name: their line tells them apart.
            path += f'@{code.co_firstlineno}'
        identity = (self.args, sorted(self.kwargs.items()), self._period, self._day_of_week, self._times)
        return f'{path}:{hashlib.sha256(repr(identity).encode()).hexdigest()[:16]}'

    def _gap(self) -> timedelta:
        # With `at()` the times themselves are the schedule; the default period only applies when set.
        if self._times and not self._period_set:
            return _ONE_SECOND
        return self._period

    def describe(self) -> str:
        parts = ['forever' if self._remaining_interval == -1 else f'{self._remaining_interval} run(s) left']
        if self._period_set or not self._times:
            parts.append(f'every {self._period}')
        if self._day_of_week is not None:
            parts.append(f'on {WeekDay(self._day_of_week).name.title()}')
        if self._times:
            parts.append('at ' + ', '.join(t.isoformat() for t in self._times))
        if self._timeout is not None:
            parts.append(f'timeout {self._timeout:g} s')
        return ', '.join(parts)

    def _start(self, now: datetime) -> None:
        """Fix the first due time (called once, when the task is added)."""
        now = _whole_seconds(now)
        anchor = now
        if not self._times and self._day_of_week is not None and now.weekday() != self._day_of_week:
            anchor = self._next_matching_midnight(now)
        self._anchor = anchor
        self._next_due = self._due_from(now)

    def _next_matching_midnight(self, after: datetime) -> datetime:
        tz = _zone(after)
        day = after.date()
        for offset in range(1, 8):
            candidate = day + timedelta(days=offset)
            if self._day_of_week is None or candidate.weekday() == self._day_of_week:
                return _localize(tz, candidate, time(0))
        raise AssertionError('unreachable: every weekday occurs within a week')

    def _due_from(self, after: datetime) -> datetime | None:
        """The earliest due time at or after `after` (whole seconds), or None if there is none."""
        after = _whole_seconds(after)
        if self._last_due is not None:
            after = max(after, self._last_due + self._gap())
        if self._times:
            return self._next_time_of_day(after)
        return self._next_on_grid(after)

    def _next_time_of_day(self, after: datetime) -> datetime | None:
        tz = _zone(after)
        for offset in range(8):
            day = after.date() + timedelta(days=offset)
            if self._day_of_week is not None and day.weekday() != self._day_of_week:
                continue
            for at_time in self._times:
                candidate = _localize(tz, day, at_time)
                if candidate >= after:
                    return candidate
        return None

    def _next_on_grid(self, after: datetime) -> datetime | None:
        # Runs lie on anchor + k * period (the same grid in every process sharing the anchor); a weekday
        # filters that grid.
        anchor = self._anchor
        assert anchor is not None
        period = self._period.total_seconds()
        for _ in range(400):
            steps = max(0, math.ceil((after - anchor).total_seconds() / period))
            candidate = anchor + timedelta(seconds=steps * period)
            local = candidate.astimezone(_zone(after))
            if self._day_of_week is None or local.weekday() == self._day_of_week:
                return candidate
            after = self._next_matching_midnight(local)
        return None


def _zone(moment: datetime) -> Any:
    """The time zone of `moment`; for pytz, the zone itself rather than the fixed offset attached to it."""
    tz = moment.tzinfo
    zone_name = getattr(tz, 'zone', None)
    return pytz.timezone(zone_name) if zone_name else tz


def _localize(tz: Any, day: date, at_time: time) -> datetime:
    naive = datetime.combine(day, at_time)
    if tz is None:
        return naive
    if hasattr(tz, 'localize'):
        return cast(datetime, tz.normalize(tz.localize(naive)))
    return naive.replace(tzinfo=tz)


def _call_text(task: BackgroundTask) -> str:
    arguments = [repr(arg) for arg in task.args]
    arguments += [f'{key}={value!r}' for key, value in task.kwargs.items()]
    return f'{task.name}({", ".join(arguments)})'


class BackgroundTasks(Singleton):
    """The process's scheduler; use the module-level `_background_tasks` (what `submit()` uses)."""

    tasks: list[BackgroundTask]
    _initialized: bool

    def __init__(self) -> None:
        # `Singleton.__init__` runs on every `BackgroundTasks()`: set the state only the first time.
        if hasattr(self, 'tasks'):
            return
        self.tasks = []
        self._initialized = False
        # Replaceable clock (aware datetimes in `config.TIMEZONE`), so tests can drive the schedule.
        self.clock: Callable[[], datetime] = timezone_now
        self._loop: asyncio.AbstractEventLoop | None = None
        self._scheduler: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._owner = f'{socket.gethostname()}:{os.getpid()}'

    def initialize(self) -> None:
        """Accept tasks from now on. They run while the app is served: its lifespan calls `start()`."""
        self._initialized = True

    def add_task(self, task: BackgroundTask) -> None:
        if not self._initialized:
            logger.error('Task will be ignored, `BACKGROUND_TASKS` is not True in `configs`')
            return
        if not isinstance(task, BackgroundTask):
            name = getattr(task, '__name__', type(task).__name__)
            logger.error(f'`{name}` should be instance of `background_tasks.BackgroundTask`')
            return
        if task not in self.tasks:
            task._start(self.clock())
            self.tasks.append(task)
        logger.info(f'Task {task.name} submitted.')
        self._wake_scheduler()

    # Scheduler life cycle (driven by the app's lifespan)

    @property
    def is_running(self) -> bool:
        return self._scheduler is not None and not self._scheduler.done()

    def start(self) -> None:
        """Start the scheduler on the running event loop (does nothing if it already runs)."""
        if self.is_running:
            return
        self._initialized = True
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._scheduler = self._loop.create_task(self._run_forever(), name='panther background tasks')

    async def stop(self) -> None:
        """Cancel the scheduler and the runs in progress (a sync run's thread finishes on its own)."""
        pending = [task for task in (self._scheduler, *self._running) if task is not None and not task.done()]
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._scheduler = None
        self._loop = None
        self._wake = None

    async def join(self) -> None:
        """Wait until the runs in progress have finished (their failures are logged, not raised)."""
        while self._running:
            await asyncio.gather(*self._running, return_exceptions=True)

    async def clear(self) -> None:
        """Stop the scheduler, forget every task and restore the real clock (between tests)."""
        await self.stop()
        self.tasks.clear()
        self.clock = timezone_now

    def _wake_scheduler(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is None or wake is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            wake.set()
        else:
            # `add_task` may be called from a sync endpoint's worker thread.
            loop.call_soon_threadsafe(wake.set)

    async def _run_forever(self) -> None:
        assert self._wake is not None
        while True:
            self._wake.clear()
            try:
                next_due = await self.run_due()
            except Exception as exc:
                logger.error(f'Background task scheduler error: {exc}', exc_info=exc)
                delay = _ERROR_PAUSE
            else:
                delay = _MAX_SLEEP if next_due is None else (next_due - self.clock()).total_seconds()
            delay = min(delay, _MAX_SLEEP)
            if delay > 0:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)

    # One scheduling step

    async def run_due(self, now: datetime | None = None) -> datetime | None:
        """Start every run due at `now` (default: the clock); returns the earliest next due time, if any."""
        now = self.clock() if now is None else now
        earliest: datetime | None = None
        for task in list(self.tasks):
            due = task._next_due
            if due is not None and due <= now:
                # Woken late: a run that is due again by now is claimed under its current due time, so a late
                # process claims the same run as the punctual ones (and one catch-up run replaces the missed).
                latest = task._due_from(now)
                if latest is not None and latest <= now:
                    due = latest
                await self._handle_due(task, due, now)
            if task._remaining_interval == 0 or task._next_due is None:
                with contextlib.suppress(ValueError):
                    self.tasks.remove(task)
                continue
            if earliest is None or task._next_due < earliest:
                earliest = task._next_due
        return earliest

    async def _handle_due(self, task: BackgroundTask, due: datetime, now: datetime) -> None:
        claimed = True
        if task.coordinated and _redis_connected():
            try:
                if not task._anchor_shared and not task._times:
                    if await self._adopt_shared_anchor(task, due, now):
                        return
                claimed = await self._claim(task, due)
            except Exception as exc:
                # Without Redis nobody can tell whether another process ran this one: skip rather than risk
                # running it twice. It is not counted, so the task still gets all its runs.
                logger.warning(f'Background task {task.name}: run due at {due.isoformat()} skipped ({exc!r})')
                task._last_due = due
                task._next_due = task._due_from(now)
                return
        task._last_due = due
        task._next_due = task._due_from(max(now, due + _ONE_SECOND))
        if claimed:
            self._launch(task, due)
        elif task._remaining_interval != -1:
            # Another process ran this scheduled run: it counts here too.
            task._remaining_interval -= 1

    async def _adopt_shared_anchor(self, task: BackgroundTask, due: datetime, now: datetime) -> bool:
        """Agree on the grid with the other processes; True if `due` is not on it (then it was rescheduled)."""
        from panther.db.connections.redis import redis

        assert task._anchor is not None
        proposed = str(int(task._anchor.timestamp()))
        # SET NX then GET in one transaction: the value read is the first process's anchor (works on Redis < 7).
        async with redis.pipeline(transaction=True) as pipe:
            pipe.set(_anchor_key(task), proposed, nx=True, px=_anchor_ttl_ms(task))
            pipe.get(_anchor_key(task))
            _, existing = await asyncio.wait_for(pipe.execute(), _CLAIM_TIMEOUT)
        task._anchor_shared = True
        if existing is None:
            return False
        shared = datetime.fromtimestamp(int(existing), tz=timezone.utc).astimezone(task._anchor.tzinfo)
        if shared == task._anchor:
            return False
        task._anchor = shared
        task._next_due = task._due_from(due)
        if task._next_due == due:
            return False
        task._next_due = task._due_from(now)
        return True

    async def _claim(self, task: BackgroundTask, due: datetime) -> bool:
        from panther.db.connections.redis import redis

        async with redis.pipeline(transaction=False) as pipe:
            pipe.set(_run_key(task, due), self._owner, nx=True, px=_lock_ttl_ms(task))
            if not task._times:
                # Keep the shared grid alive while the task is scheduled (and recreate it after a Redis restart).
                assert task._anchor is not None
                pipe.set(_anchor_key(task), str(int(task._anchor.timestamp())), nx=True, px=_anchor_ttl_ms(task))
                pipe.pexpire(_anchor_key(task), _anchor_ttl_ms(task))
            results = await asyncio.wait_for(pipe.execute(), _CLAIM_TIMEOUT)
        return bool(results[0])

    def _launch(self, task: BackgroundTask, due: datetime) -> None:
        remaining = task._remaining_interval
        logger.info(f'{_call_text(task)} Remaining Interval -> {"∞" if remaining == -1 else remaining}')
        if remaining != -1:
            task._remaining_interval -= 1
        # The run's task (and its worker thread) copy the context as it is now: they see their own due time.
        token = _current_due.set(due)
        try:
            run = asyncio.get_running_loop().create_task(_execute(task), name=f'background task {task.name}')
        finally:
            _current_due.reset(token)
        self._running.add(run)
        run.add_done_callback(self._running.discard)


def _is_async(func: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(type(func).__call__)


async def _execute(task: BackgroundTask) -> None:
    """One run: failures and timeouts are logged with the task's name, never raised into the scheduler."""
    is_async = _is_async(task.func)
    try:
        call: Coroutine[Any, Any, Any] = task.func(*task.args, **task.kwargs) if is_async else _call_sync(task)
        run = asyncio.ensure_future(call)
    except Exception as exc:
        logger.error(f'Exception in background task {task.name}: {exc}', exc_info=exc)
        return
    try:
        # `asyncio.wait` (not `wait_for`) so a TimeoutError raised by the task itself is not taken for ours.
        done, _ = await asyncio.wait({run}, timeout=task._timeout)
        if not done:
            run.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await run
            # A thread cannot be stopped from outside: a sync run is only no longer waited for.
            outcome = 'was cancelled' if is_async else 'is no longer waited for (its thread runs on)'
            logger.error(f'Background task {task.name} timed out after {task._timeout:g} s and {outcome}')
            return
        error = run.exception()
        if error is not None:
            logger.error(f'Exception in background task {task.name}: {error}', exc_info=error)
    finally:
        if not run.done():
            run.cancel()


async def _call_sync(task: BackgroundTask) -> None:
    result = await to_thread(task.func, *task.args, **task.kwargs)
    if inspect.isawaitable(result):
        await result


def _redis_connected() -> bool:
    try:
        from panther.db.connections.redis import redis
    except ImportError:
        return False
    return bool(redis.is_connected)


def _run_key(task: BackgroundTask, due: datetime) -> str:
    return f'{_KEY_PREFIX}{task.key}:run:{int(due.timestamp())}'


def _anchor_key(task: BackgroundTask) -> str:
    return f'{_KEY_PREFIX}{task.key}:anchor'


def _lock_ttl_ms(task: BackgroundTask) -> int:
    # Long enough to cover processes that reach the same run late (a busy loop, clocks a few minutes apart).
    return int(max(2 * task._gap().total_seconds(), 300) * 1000)


def _anchor_ttl_ms(task: BackgroundTask) -> int:
    # Outlives a quick restart of every process, so a redeploy keeps the grid instead of running at once.
    return int((2 * task._period.total_seconds() + 60) * 1000)


_background_tasks = BackgroundTasks()
