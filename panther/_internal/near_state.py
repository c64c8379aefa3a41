"""What a process keeps of the Redis Store's state so most requests need no round trip.

Two things, both safe to forget (forgetting only costs a round trip, or refuses a little early):

* `AbsentKeys` — revocation markers this process has seen absent. A token's revocation check is answered from
  here while the process listens to the Store's invalidation channel: every write of a marker (by any process)
  is published there, and this process forgets the key when the message arrives. Until the subscription is
  confirmed, and from the moment it is lost, nothing is answered from here.
* `Leases` — throttle counts taken from Redis in advance. For a limit of `LEASE_FROM` requests or more per
  window, a process takes up to `LEASE_MAX` counts in one step and hands them to its next requests. The counts
  are taken from the shared counter, capped at the limit, so all processes together never admit more than the
  limit; counts a process holds when the window ends are lost, so other processes may refuse up to that many
  requests early.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict

from panther._internal import clock

__all__ = ['LEASE_FROM', 'LEASE_MAX', 'AbsentKeys', 'Leases', 'lease_size']

# Limits below this are counted one request at a time (exactly); from here on in leases of up to LEASE_MAX.
LEASE_FROM = 128
LEASE_MAX = 16


def lease_size(limit: int) -> int:
    """How many counts to take at once for a limit: at most 1/64 of it, never more than LEASE_MAX."""
    if limit < LEASE_FROM:
        return 1
    return min(LEASE_MAX, limit // 64)


class AbsentKeys:
    """Keys known to be absent from Redis, valid while the invalidation subscription is live.

    `generation` changes with every invalidation and every (re)subscription: a lookup remembers the generation
    it started in and its answer is kept only if nothing changed meanwhile, so a reply that crosses an
    invalidation on the way is never cached.
    """

    def __init__(self, size: int = 4096, ttl: float = 30.0) -> None:
        self.size = size
        # A bound on how long an answer is reused even without a message (a safety net, not the mechanism).
        self.ttl = ttl
        self.live = False
        self.generation = 0
        self._keys: OrderedDict[str, float] = OrderedDict()
        self.changed = asyncio.Event()

    def known_absent(self, key: str) -> bool:
        if not self.live:
            return False
        until = self._keys.get(key)
        if until is None:
            return False
        if until <= clock.monotonic():
            del self._keys[key]
            return False
        return True

    def remember(self, key: str, generation: int) -> None:
        """Record that `key` was absent, as read by a lookup started in `generation`."""
        if not self.live or generation != self.generation or self.size <= 0:
            return
        keys = self._keys
        keys[key] = clock.monotonic() + self.ttl
        keys.move_to_end(key)
        while len(keys) > self.size:
            keys.popitem(last=False)

    def invalidate(self, key: str) -> None:
        """`key` was written: forget it, and spoil every lookup in flight."""
        self._keys.pop(key, None)
        self._bump()

    def set_live(self, live: bool) -> None:
        """The subscription was confirmed (True) or lost (False): start from nothing either way."""
        self.live = live
        self._keys.clear()
        self._bump()

    def _bump(self) -> None:
        self.generation += 1
        # Tests wait on this instead of sleeping; the event is replaced so each wait sees the next change.
        self.changed.set()
        self.changed = asyncio.Event()

    def __len__(self) -> int:
        return len(self._keys)


class Leases:
    """Throttle counts this process holds: for each counter key, the next count to hand out and the last one."""

    def __init__(self, size: int = 8192) -> None:
        self.size = size
        self._held: OrderedDict[str, list[float]] = OrderedDict()

    def take(self, key: str) -> int | None:
        """The next held count of `key` (the request's count, as `INCR` would have answered), or None."""
        held = self._held.get(key)
        if held is None:
            return None
        if held[2] <= clock.monotonic():
            del self._held[key]
            return None
        count = int(held[0])
        if count >= held[1]:
            del self._held[key]
        else:
            held[0] = count + 1
        return count

    def hold(self, key: str, first: int, last: int, ttl: float) -> None:
        """Counts `first`..`last` of `key` were taken for this process; they are good for `ttl` seconds."""
        if first > last or self.size <= 0:
            return
        self._held[key] = [first, last, clock.monotonic() + ttl]
        self._held.move_to_end(key)
        while len(self._held) > self.size:
            # Dropping held counts only means refusing a few requests early: never admitting more.
            self._held.popitem(last=False)

    def __contains__(self, key: str) -> bool:
        """Whether counts of `key` are held (possibly expired: `take()` tells)."""
        return key in self._held

    def clear(self) -> None:
        self._held.clear()

    def __len__(self) -> int:
        return len(self._held)
