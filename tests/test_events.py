from __future__ import annotations

import asyncio
import logging

import pytest

from panther.events import Event


@pytest.fixture(autouse=True)
def _clean_events():
    Event.clear()
    yield
    Event.clear()


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]


def test_event_is_a_singleton() -> None:
    assert Event() is Event()


def test_decorators_register_the_original_function_and_return_a_caller() -> None:
    def opening():
        return 'opened'

    def closing():
        return 'closed'

    start_wrapper = Event.startup(opening)
    stop_wrapper = Event.shutdown(closing)
    assert Event._startups == [opening]
    assert Event._shutdowns == [closing]
    assert start_wrapper() == 'opened'
    assert stop_wrapper() == 'closed'
    assert start_wrapper.__name__ == 'opening'


def test_clear_empties_both_lists() -> None:
    Event.startup(lambda: None)
    Event.shutdown(lambda: None)
    Event.clear()
    assert Event._startups == []
    assert Event._shutdowns == []


async def test_run_startups_in_registration_order_sync_and_async() -> None:
    calls: list[str] = []

    @Event.startup
    async def first():
        await asyncio.sleep(0)
        calls.append('first')

    @Event.startup
    def second():
        calls.append('second')

    @Event.startup
    async def third():
        calls.append('third')

    assert await Event.run_startups() == []
    assert calls == ['first', 'second', 'third']


async def test_failing_startup_is_logged_and_the_rest_still_run(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[str] = []

    @Event.startup
    def broken():
        raise ValueError('bad value')

    @Event.startup
    async def async_broken():
        raise KeyError('k')

    @Event.startup
    def fine():
        calls.append('fine')

    with caplog.at_level(logging.DEBUG):
        failures = await Event.run_startups()
    assert calls == ['fine']
    expected = ['broken() startup event got error: bad value', "async_broken() startup event got error: 'k'"]
    assert failures == expected
    assert errors(caplog) == expected


async def test_async_shutdowns_in_order_with_errors_logged(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[str] = []

    @Event.shutdown
    async def first():
        calls.append('first')

    @Event.shutdown
    def broken():
        raise RuntimeError('closing failed')

    @Event.shutdown
    def last():
        calls.append('last')

    with caplog.at_level(logging.DEBUG):
        failures = await Event.arun_shutdowns()
    assert calls == ['first', 'last']
    assert failures == ['broken() shutdown event got error: closing failed']
    assert errors(caplog) == failures


def test_run_shutdowns_from_sync_code_runs_async_hooks() -> None:
    calls: list[str] = []

    @Event.shutdown
    async def async_hook():
        await asyncio.sleep(0)
        calls.append('async')

    @Event.shutdown
    def sync_hook():
        calls.append('sync')

    Event.run_shutdowns()
    assert calls == ['async', 'sync']


async def test_run_shutdowns_also_works_inside_a_running_loop() -> None:
    calls: list[str] = []

    @Event.shutdown
    async def async_hook():
        calls.append('async')

    Event.run_shutdowns()
    assert calls == ['async']
