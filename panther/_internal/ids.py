"""ULID strings: 26 Crockford base32 characters, sortable by creation time.

Written here rather than taken from a ULID package: the package names clash (`python-ulid` and `simple-ulid`
both install a top-level `ulid` module, and every Panther 5.x environment has `simple-ulid`).
"""

from __future__ import annotations

import os
import threading
import time

__all__ = ['new_ulid']

# 48-bit millisecond time + 80 random bits. Monotonic inside a process (the random part is incremented within one
# millisecond), so ids sort in creation order.
_CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'
# Two base32 characters per 10 bits: 13 lookups encode the 130-bit (2 zero bits + 128) value.
_PAIRS = [a + b for a in _CROCKFORD for b in _CROCKFORD]
_SHIFTS = tuple(range(120, -1, -10))
_RANDOM_MAX = (1 << 80) - 1
_lock = threading.Lock()
_last_ms = 0
_last_random = 0


def new_ulid() -> str:
    global _last_ms, _last_random
    with _lock:
        now = time.time_ns() // 1_000_000
        if now <= _last_ms:
            now = _last_ms
            random_part = _last_random + 1
            if random_part > _RANDOM_MAX:
                now += 1
                random_part = int.from_bytes(os.urandom(10), 'big')
        else:
            random_part = int.from_bytes(os.urandom(10), 'big')
        _last_ms, _last_random = now, random_part
    value = (now << 80) | random_part
    pairs = _PAIRS
    return ''.join([pairs[(value >> shift) & 1023] for shift in _SHIFTS])
