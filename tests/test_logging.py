from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import sys
from pathlib import Path

from panther.logging import LOGGING, LazyFileHandler, StderrHandler
from tests._core_helpers import run_python


def test_import_has_no_side_effects(tmp_path: Path) -> None:
    result = run_python(
        """
        import json, logging, os
        import panther.logging
        import panther
        names = ['', 'panther', 'monitoring', 'query']
        print(json.dumps({
            'entries': sorted(os.listdir('.')),
            'handlers': {name: len(logging.getLogger(name).handlers) for name in names},
            'levels': {name: logging.getLogger(name).level for name in names[1:]},
        }))
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report['entries'] == []
    assert report['handlers'] == {'': 0, 'panther': 0, 'monitoring': 0, 'query': 0}
    assert report['levels'] == {'panther': 0, 'monitoring': 0, 'query': 0}
    assert not (tmp_path / 'logs').exists()


def test_configure_logging_applies_config_lazily_and_once(tmp_path: Path) -> None:
    result = run_python(
        """
        import json, logging, os
        kept = logging.getLogger('existing.app')
        from panther.logging import configure_logging

        configure_logging()
        after_configure = os.path.exists('logs')
        handlers = [type(h).__name__ for h in logging.getLogger('panther').handlers]
        configure_logging()
        handlers_again = [type(h).__name__ for h in logging.getLogger('panther').handlers]

        seen = []
        class Collect(logging.Handler):
            def emit(self, record):
                seen.append((record.name, record.levelname, record.getMessage()))
        logging.getLogger().addHandler(Collect())

        logging.getLogger('panther').debug('debug message')
        logging.getLogger('monitoring').info('monitoring line')
        logging.getLogger('query').info('[Query] User.find() takes 1.61 ms')
        for handler in logging.getLogger('panther').handlers + logging.getLogger('query').handlers:
            handler.flush()
        for handler in logging.getLogger('monitoring').handlers:
            handler.flush()

        print(json.dumps({
            'after_configure': after_configure,
            'handlers': handlers,
            'handlers_again': handlers_again,
            'monitoring_handlers': [type(h).__name__ for h in logging.getLogger('monitoring').handlers],
            'query_handlers': [type(h).__name__ for h in logging.getLogger('query').handlers],
            'levels': [logging.getLogger(n).level for n in ('panther', 'monitoring', 'query')],
            'kept_disabled': kept.disabled,
            'seen': seen,
            'files': sorted(os.listdir('logs')),
            'main': open('logs/main.log', encoding='utf-8').read(),
            'monitoring': open('logs/monitoring.log', encoding='utf-8').read(),
            'query': open('logs/query.log', encoding='utf-8').read(),
        }))
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)

    assert report['after_configure'] is False
    assert report['handlers'] == ['StderrHandler', 'LazyFileHandler']
    assert report['handlers_again'] == report['handlers']
    assert report['monitoring_handlers'] == ['LazyFileHandler']
    assert report['query_handlers'] == ['StderrHandler', 'LazyFileHandler']
    assert report['levels'] == [logging.DEBUG] * 3
    assert report['kept_disabled'] is False
    # Propagation to the root logger is what lets caplog / assertLogs capture framework records.
    assert report['seen'] == [
        ['panther', 'DEBUG', 'debug message'],
        ['monitoring', 'INFO', 'monitoring line'],
        ['query', 'INFO', '[Query] User.find() takes 1.61 ms'],
    ]
    assert report['files'] == ['main.log', 'monitoring.log', 'query.log']
    assert report['main'].startswith('DEBUG | ')
    assert report['main'].rstrip().endswith(' | debug message')
    # The monitoring file holds only `time | message`.
    assert report['monitoring'].count(' | ') == 1
    assert report['monitoring'].rstrip().endswith(' | monitoring line')
    assert 'monitoring line' not in result.stderr
    assert report['query'].rstrip().endswith('[Query] User.find() takes 1.61 ms')

    stderr_lines = result.stderr.splitlines()
    assert any(line.startswith('DEBUG:') and line.endswith(' | debug message') for line in stderr_lines)
    assert any('[Query] User.find() takes 1.61 ms' in line for line in stderr_lines)


def test_logging_mapping_shape() -> None:
    assert LOGGING['version'] == 1
    assert LOGGING['disable_existing_loggers'] is False
    assert LOGGING['formatters']['default']['()'] == 'uvicorn.logging.DefaultFormatter'
    assert LOGGING['formatters']['default']['fmt'] == '%(levelprefix)s | %(asctime)s | %(message)s'
    assert LOGGING['formatters']['default']['datefmt'] == '%Y-%m-%d %H:%M:%S'
    for name in ('panther', 'monitoring', 'query'):
        assert LOGGING['loggers'][name]['level'] == 'DEBUG'
        assert LOGGING['loggers'][name]['propagate'] is True
    for handler in ('file', 'monitoring_file', 'query_file'):
        assert LOGGING['handlers'][handler]['delay'] is True
    assert LOGGING['handlers']['file']['filename'] == os.path.join('logs', 'main.log')
    assert LOGGING['handlers']['monitoring_file']['filename'] == os.path.join('logs', 'monitoring.log')
    assert LOGGING['handlers']['query_file']['filename'] == os.path.join('logs', 'query.log')


def test_lazy_file_handler_creates_directory_on_first_emit(tmp_path: Path) -> None:
    target = tmp_path / 'deep' / 'logs' / 'app.log'
    handler = LazyFileHandler(str(target), delay=True, encoding='utf-8')
    try:
        assert not target.parent.exists()
        handler.emit(logging.LogRecord('panther', logging.INFO, __file__, 1, 'first line', None, None))
        handler.flush()
        assert target.read_text(encoding='utf-8') == 'first line\n'
    finally:
        handler.close()


def test_stderr_handler_follows_replaced_stderr() -> None:
    handler = StderrHandler()
    handler.setFormatter(logging.Formatter('%(message)s'))
    record = logging.LogRecord('panther', logging.INFO, __file__, 1, 'to the live stream', None, None)
    first, second = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(first):
        handler.emit(record)
    with contextlib.redirect_stderr(second):
        handler.emit(record)
    assert first.getvalue() == 'to the live stream\n'
    assert second.getvalue() == 'to the live stream\n'
    # Assigning a stream (as setStream does) never pins an old object.
    handler.stream = io.StringIO()
    assert handler.stream is sys.stderr
