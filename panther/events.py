"""Start-up and shutdown hooks, run by the ASGI lifespan protocol."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any

from panther.utils import Singleton, run_coroutine

__all__ = ['Event']

logger = logging.getLogger('panther')


class Event(Singleton):
    _startups: list[Callable[[], Any]] = []
    _shutdowns: list[Callable[[], Any]] = []

    @classmethod
    def startup(cls, func: Callable[[], Any]) -> Callable[[], Any]:
        cls._startups.append(func)

        @functools.wraps(func)
        def wrapper() -> Any:
            return func()

        return wrapper

    @classmethod
    def shutdown(cls, func: Callable[[], Any]) -> Callable[[], Any]:
        cls._shutdowns.append(func)

        @functools.wraps(func)
        def wrapper() -> Any:
            return func()

        return wrapper

    @staticmethod
    async def _run(funcs: list[Callable[[], Any]], kind: str) -> list[str]:
        failures: list[str] = []
        for func in list(funcs):
            try:
                result = func()
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:
                message = f'{getattr(func, "__name__", func)}() {kind} event got error: {exc}'
                logger.error(message)
                failures.append(message)
        return failures

    @classmethod
    async def run_startups(cls) -> list[str]:
        """Run every start-up hook in order; returns the error messages of the hooks that failed."""
        return await cls._run(cls._startups, 'startup')

    @classmethod
    async def arun_shutdowns(cls) -> list[str]:
        return await cls._run(cls._shutdowns, 'shutdown')

    @classmethod
    def run_shutdowns(cls) -> None:
        """Synchronous variant for code outside the event loop."""
        run_coroutine(cls.arun_shutdowns())

    @classmethod
    def clear(cls) -> None:
        cls._startups.clear()
        cls._shutdowns.clear()
