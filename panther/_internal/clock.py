"""The clocks Panther reads for time-based behaviour: expiry of stored entries, throttle windows, token times.

They are module attributes so tests can replace them (see `ManualClock`) and check expiry without waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ['ManualClock', 'monotonic', 'wall']

# Seconds since the epoch: throttle windows, token `iat`/`exp`, revocation lifetimes.
wall: Callable[[], float] = time.time
# Seconds that only move forward: expiry of entries kept in memory, retry cool-downs.
monotonic: Callable[[], float] = time.monotonic


class ManualClock:
    """A clock that moves only when told to; `install()` makes Panther read it, `uninstall()` restores the real
    clocks."""

    def __init__(self, start: float | None = None) -> None:
        # Starts at the real time: tokens and windows computed from it stay plausible to other libraries.
        self.now = time.time() if start is None else start

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def time(self) -> float:
        return self.now

    def install(self) -> None:
        global wall, monotonic
        wall = monotonic = self.time

    @staticmethod
    def uninstall() -> None:
        global wall, monotonic
        wall, monotonic = time.time, time.monotonic
