"""Panther's logging setup: the `LOGGING` dictConfig mapping and `configure_logging()` that applies it.

Importing this module changes nothing: no handlers, no folders. `Panther()` and the CLI call
`configure_logging()`; the `logs/` folder appears only when a file handler writes its first record.
"""

from __future__ import annotations

import io
import logging
import logging.config
import os
import sys
import threading
from typing import TYPE_CHECKING, Any, TextIO

__all__ = ['LOGGING', 'LazyFileHandler', 'StderrHandler', 'configure_logging']

LOGS_DIR = 'logs'
_DATE_FORMAT = '%Y-%m-%d %H:%M:%S'


class LazyFileHandler(logging.FileHandler):
    """File handler that creates the log file's folder on its first write instead of at configuration time.

    Meant to be used with `delay=True` so merely configuring logging touches nothing on disk.
    """

    def _open(self) -> io.TextIOWrapper:
        os.makedirs(os.path.dirname(self.baseFilename), exist_ok=True)
        return super()._open()


if TYPE_CHECKING:
    _StreamHandler = logging.StreamHandler[TextIO]
else:
    # StreamHandler is subscriptable at runtime only from Python 3.11 on.
    _StreamHandler = logging.StreamHandler


class StderrHandler(_StreamHandler):
    """Stream handler bound to whatever `sys.stderr` is when a record is emitted.

    A plain `StreamHandler(sys.stderr)` keeps the stream object it was given; once a test runner or
    `contextlib.redirect_stderr` swaps and closes that object, every later record fails to write.
    """

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        # The base class assigns the stream in __init__ and setStream(); the live sys.stderr always wins.
        del value


LOGGING: dict[str, Any] = {
    'version': 1,
    'disable_existing_loggers': False,
    'formatters': {
        'default': {
            '()': 'uvicorn.logging.DefaultFormatter',
            'fmt': '%(levelprefix)s | %(asctime)s | %(message)s',
            'datefmt': _DATE_FORMAT,
        },
        'file': {
            'format': '%(levelname)s | %(asctime)s | %(message)s',
            'datefmt': _DATE_FORMAT,
        },
        'monitoring': {
            'format': '%(asctime)s | %(message)s',
            'datefmt': _DATE_FORMAT,
        },
    },
    'handlers': {
        'console': {
            'class': 'panther.logging.StderrHandler',
            'formatter': 'default',
        },
        'file': {
            'class': 'panther.logging.LazyFileHandler',
            'formatter': 'file',
            'filename': os.path.join(LOGS_DIR, 'main.log'),
            'delay': True,
            'encoding': 'utf-8',
        },
        'monitoring_file': {
            'class': 'panther.logging.LazyFileHandler',
            'formatter': 'monitoring',
            'filename': os.path.join(LOGS_DIR, 'monitoring.log'),
            'delay': True,
            'encoding': 'utf-8',
        },
        'query_file': {
            'class': 'panther.logging.LazyFileHandler',
            'formatter': 'file',
            'filename': os.path.join(LOGS_DIR, 'query.log'),
            'delay': True,
            'encoding': 'utf-8',
        },
    },
    'loggers': {
        # Propagation stays on so the root logger (and test tools such as caplog / assertLogs) see records.
        'panther': {'handlers': ['console', 'file'], 'level': 'DEBUG', 'propagate': True},
        'monitoring': {'handlers': ['monitoring_file'], 'level': 'DEBUG', 'propagate': True},
        'query': {'handlers': ['console', 'query_file'], 'level': 'DEBUG', 'propagate': True},
    },
}

_configured = False
_lock = threading.Lock()


def configure_logging() -> None:
    """Apply `LOGGING` once per process; later calls do nothing, and loggers configured elsewhere are kept."""
    global _configured
    with _lock:
        if _configured:
            return
        logging.config.dictConfig(LOGGING)
        _configured = True
