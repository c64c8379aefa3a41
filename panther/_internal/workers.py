"""How many server worker processes serve this app, and the start-up warning when they share no Store.

Without Redis each worker keeps its own memory Store: a logout, a spent refresh token, a throttle counter or a
cached response exists only in the worker that handled that request. With `--workers 4`, a logged-out token
still works on the three other workers and a limit of 5 becomes 20. That is documented (docs/security.md) and
said once per worker at start-up.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping, Sequence

__all__ = ['WORKERS_ENV', 'detected_workers', 'warn_if_workers_share_no_store']

logger = logging.getLogger('panther')

# Set by `panther run` for the worker processes it starts (they inherit the environment).
WORKERS_ENV = 'PANTHER_WORKERS'


def _positive(value: str | None) -> int | None:
    try:
        number = int(value) if value else None
    except ValueError:
        return None
    return number if number is not None and number > 0 else None


def workers_from_args(args: Sequence[str]) -> int | None:
    """`--workers N` / `--workers=N` (uvicorn, gunicorn) or `-w N` (gunicorn) in a command line."""
    for index, arg in enumerate(args):
        if arg in ('--workers', '-w') and index + 1 < len(args):
            return _positive(args[index + 1])
        if arg.startswith('--workers='):
            return _positive(arg.partition('=')[2])
    return None


def detected_workers(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """The number of worker processes, as far as this process can tell (1 when nothing says otherwise).

    `panther run` passes it in `PANTHER_WORKERS`; uvicorn's and gunicorn's worker processes keep the command line
    of the server (`sys.argv`), and both servers also read `WEB_CONCURRENCY`.
    """
    environ = os.environ if environ is None else environ
    argv = sys.argv if argv is None else argv
    return (
        _positive(environ.get(WORKERS_ENV))
        or workers_from_args(argv[1:])
        or _positive(environ.get('WEB_CONCURRENCY'))
        or 1
    )


def warn_if_workers_share_no_store() -> None:
    """One WARNING (per worker) when several workers serve the app and Redis is not configured."""
    from panther._internal.store import RedisStore, get_store

    workers = detected_workers()
    if workers > 1 and not isinstance(get_store(), RedisStore):
        logger.warning(
            f'{workers} workers without REDIS: logout, spent refresh tokens, throttling limits and the response '
            f'cache hold per worker only (each worker has its own memory Store), so a logged-out token still works '
            f'on the other workers and a limit of N allows up to {workers} x N. Configure REDIS to share them.'
        )
