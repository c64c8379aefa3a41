from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import types
from datetime import timedelta
from pathlib import Path
from typing import Any

import jinja2
import pytest

from panther import Panther, __version__, version
from panther.app import API
from panther.configs import config
from panther.events import Event
from panther.middlewares import HTTPMiddleware, MonitoringMiddleware, WebsocketMiddleware
from panther.request import Request
from panther.response import Response
from panther.test import APIClient, WebsocketClient
from panther.websocket import GenericWebsocket
from tests._core_helpers import RawCall, make_app, run_python


@pytest.fixture(autouse=True)
def _clean_events():
    Event.clear()
    yield
    Event.clear()


def errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno == logging.ERROR]


def start_fails(caplog: pytest.LogCaptureFixture, urls: Any = None, **settings: Any) -> str:
    """Build an app that must fail: returns the one ERROR message after checking the non-zero exit."""
    caplog.clear()
    with caplog.at_level(logging.DEBUG), pytest.raises(SystemExit) as info:
        make_app(urls, **settings)
    assert info.value.code not in (0, None)
    records = errors(caplog)
    assert len(records) == 1, [r.getMessage() for r in records]
    return records[0].getMessage()


@API()
async def hello():
    return {'detail': 'hello'}


@API()
async def boom():
    raise ValueError('kaboom')


@API()
async def unserialisable():
    return {'value': object()}


url_routing = {'hello': hello}
not_a_dict = ['hello']


def plain_function(request):
    return None


class NotAnEndpoint:
    pass


class NotAMiddleware:
    pass


class AWebsocketMiddleware(WebsocketMiddleware):
    pass


class Recorder(HTTPMiddleware):
    async def __call__(self, request: Request):
        response = await self.dispatch(request=request)
        response.headers['X-Recorded'] = 'yes'
        return response


class ForgetsToReturn(HTTPMiddleware):
    async def __call__(self, request: Request):
        await self.dispatch(request=request)


# Package surface


def test_version() -> None:
    assert version() == __version__
    assert isinstance(__version__, str)
    assert __version__.count('.') == 2


# Construction and configuration


def test_construction_with_module_name_sets_base_dir_to_cwd() -> None:
    app = make_app({'hello': hello})
    assert isinstance(app, Panther)
    assert config.BASE_DIR == Path.cwd()
    assert config.FLAT_URLS == {'hello/': hello}
    assert config.URLS == {'hello': hello}


def test_construction_with_a_file_path_uses_its_directory(tmp_path: Path) -> None:
    module = sys.modules[__name__]
    Panther(str(tmp_path / 'main.py'), configs=module.__name__, urls={})
    assert config.BASE_DIR == tmp_path


def test_base_dir_of_the_config_module_is_ignored(tmp_path: Path) -> None:
    make_app({}, BASE_DIR=tmp_path)
    assert config.BASE_DIR == Path.cwd()


async def test_urls_config_key_as_dotted_path() -> None:
    app = make_app(None, URLs='tests.test_main.url_routing')
    assert config.FLAT_URLS == {'hello/': hello}
    res = await APIClient(app).get('/hello')
    assert res.data == {'detail': 'hello'}


def test_urls_argument_wins_over_the_urls_key() -> None:
    make_app({'other': hello}, URLs='tests.test_main.url_routing')
    assert config.FLAT_URLS == {'other/': hello}


def test_empty_urls_dict_is_allowed() -> None:
    make_app({})
    assert config.FLAT_URLS == {}
    assert config.URLS == {}


def test_app_can_be_constructed_many_times() -> None:
    for _ in range(3):
        make_app({'hello': hello}, CUSTOM_KEY=1)
        assert config.CUSTOM_KEY == 1
        config.refresh()


def test_custom_keys_are_copied_with_their_types() -> None:
    make_app({}, CUSTOM_KEY=5, CUSTOM_LIST=[1, 2], CUSTOM_key='ignored', lower='ignored', MAX_BODY_SIZE=100)
    assert config.CUSTOM_KEY == 5
    assert config.CUSTOM_LIST == [1, 2]
    assert config.CUSTOM_key is None
    assert config.lower is None
    assert config.MAX_BODY_SIZE == 100


def test_known_keys_are_loaded() -> None:
    make_app(
        {}, TIMEZONE='Asia/Tehran', SECRET_KEY='s3cret', LOG_QUERIES=1, BACKGROUND_TASKS=True, MIDDLEWARES=[Recorder]
    )
    assert config.TIMEZONE == 'Asia/Tehran'
    assert config.SECRET_KEY == 's3cret'
    assert config.LOG_QUERIES is True
    assert config.BACKGROUND_TASKS is True
    assert config.MIDDLEWARES == [Recorder]
    assert config.HTTP_MIDDLEWARES == [Recorder]
    assert config.MONITORING is False


def test_falsy_values_keep_defaults() -> None:
    make_app({}, TIMEZONE='', SECRET_KEY='', LOG_QUERIES=False)
    assert config.TIMEZONE == 'UTC'
    assert config.SECRET_KEY is None
    assert config.LOG_QUERIES is False


def test_templates_dir_builds_a_jinja_environment(tmp_path: Path) -> None:
    (tmp_path / 'page.html').write_text('<p>{{ x }}</p>')
    make_app({}, TEMPLATES_DIR=str(tmp_path))
    assert config.TEMPLATES_DIR == str(tmp_path)
    assert isinstance(config.JINJA_ENVIRONMENT, jinja2.Environment)
    assert config.JINJA_ENVIRONMENT.get_template('page.html').render(x='<b>') == '<p>&lt;b&gt;</p>'


def test_middlewares_are_stored_innermost_first_and_monitoring_is_detected() -> None:
    make_app({}, MIDDLEWARES=['tests.test_main.Recorder', MonitoringMiddleware, (ForgetsToReturn,)])
    assert config.HTTP_MIDDLEWARES == [ForgetsToReturn, MonitoringMiddleware, Recorder]
    assert config.MONITORING is True


def test_ws_middlewares_are_loaded() -> None:
    make_app({}, WS_MIDDLEWARES=['tests.test_main.AWebsocketMiddleware'])
    assert config.WS_MIDDLEWARES == [AWebsocketMiddleware]


def test_two_item_middleware_entry_is_deprecated_but_works(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        make_app({}, MIDDLEWARES=[('tests.test_main.Recorder', {'data': 1})])
    assert config.HTTP_MIDDLEWARES == [Recorder]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "DEPRECATED 'MIDDLEWARES': `data` does not supported in middlewares anymore, as your data is static you may "
        'want to pass them to your middleware with config variables'
    ]


def _app_in(directory: Path, monkeypatch: pytest.MonkeyPatch, **settings: Any) -> Panther:
    module = types.ModuleType('tests._auto_reformat_configs')
    module.__dict__.update(settings)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    return Panther(str(directory / 'main.py'), configs=module.__name__, urls={})


def test_auto_reformat_formats_the_base_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ruff_dir = Path(sys.executable).parent
    if not (ruff_dir / 'ruff').exists():
        pytest.skip('ruff is not installed next to the interpreter')
    monkeypatch.setenv('PATH', os.pathsep.join([str(ruff_dir), os.environ.get('PATH', '')]))
    source = tmp_path / 'messy.py'
    source.write_text('import sys\nimport os\nx = {  "a":1 }\n')
    _app_in(tmp_path, monkeypatch, AUTO_REFORMAT=True)
    assert config.AUTO_REFORMAT is True
    text = source.read_text()
    assert text.index('import os') < text.index('import sys')
    assert '{  "a":1 }' not in text


def test_auto_reformat_without_ruff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv('PATH', str(tmp_path / 'empty-bin'))
    caplog.clear()
    with caplog.at_level(logging.DEBUG), pytest.raises(SystemExit) as info:
        _app_in(tmp_path, monkeypatch, AUTO_REFORMAT=True)
    assert info.value.code == 1
    assert [r.getMessage() for r in errors(caplog)] == ["No module named 'ruff', Hint: `pip install ruff`"]


def test_vars_after_loading_ends_with_throttling_then_middlewares() -> None:
    make_app({}, THROTTLING='a throttle', MIDDLEWARES=[])
    keys = list(config.vars())
    assert keys[-3:] == ['DATABASE', 'THROTTLING', 'MIDDLEWARES']
    assert config.THROTTLING == 'a throttle'
    config.refresh()
    assert config.THROTTLING is None
    assert config.MIDDLEWARES is None


# Configuration errors: one ERROR record and a non-zero exit (SPEC §2.2, §3.3, §4.2, §4.6, §20.2)


def test_no_urls_at_all(caplog: pytest.LogCaptureFixture) -> None:
    caplog.clear()
    with caplog.at_level(logging.DEBUG), pytest.raises(SystemExit) as info:
        Panther(__name__, configs=__name__, urls=None)
    assert info.value.code == 1
    assert [r.getMessage() for r in errors(caplog)] == ["Invalid 'URLs': required."]


@pytest.mark.parametrize(
    ('value', 'message'),
    [
        (
            {'a': 1},
            "Invalid 'URLs': can't be 'dict', you may want to pass it's value directly to Panther(). "
            'Example: Panther(..., urls=...)',
        ),
        (5, "Invalid 'URLs': should be dotted string."),
        ('fake.urls', "Invalid 'URLs': No module named 'fake'"),
        ('tests.test_main.not_a_dict', "Invalid 'URLs': should point to a dict."),
    ],
)
def test_invalid_urls_key(caplog: pytest.LogCaptureFixture, value: Any, message: str) -> None:
    assert start_fails(caplog, None, URLs=value) == message


def test_missing_core_configs(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, 'core', raising=False)
    monkeypatch.delitem(sys.modules, 'core.configs', raising=False)
    caplog.clear()
    with caplog.at_level(logging.DEBUG), pytest.raises(SystemExit) as info:
        Panther(__name__, urls={})
    assert info.value.code == 1
    assert [r.getMessage() for r in errors(caplog)] == ["Invalid 'core/configs.py': Not Found"]


def test_url_with_question_mark(caplog: pytest.LogCaptureFixture) -> None:
    assert start_fails(caplog, {'user/?/': hello}) == "URL Is Not Valid. --> 'user/?/'"


def test_url_pointing_to_none(caplog: pytest.LogCaptureFixture) -> None:
    assert start_fails(caplog, {'user': {'<id>': None}}) == "URL Can't Point To None. ('user/<id>/' -> None)"


def test_same_level_variables_fail_start_up(caplog: pytest.LogCaptureFixture) -> None:
    message = start_fails(caplog, {'<a>': hello, '<b>': hello})
    assert message == "URLs can't have same-level path variables that point to an endpoint: \n\t- /<a>\n\t- /<b>"


def test_function_without_api_decorator(caplog: pytest.LogCaptureFixture) -> None:
    message = start_fails(caplog, {'plain': plain_function})
    assert message == 'You may have forgotten to use `@API()` on the `tests.test_main.plain_function()`'


def test_class_that_is_not_an_endpoint(caplog: pytest.LogCaptureFixture) -> None:
    message = start_fails(caplog, {'cls': NotAnEndpoint})
    assert message == (
        'You may have forgotten to inherit from `panther.app.GenericAPI` or `panther.app.GenericWebsocket` '
        'on the `tests.test_main.NotAnEndpoint()`'
    )


@pytest.mark.parametrize(
    ('key', 'entries', 'message'),
    [
        ('MIDDLEWARES', ['fake.module'], "Invalid 'MIDDLEWARES': fake.module is not a valid middleware path or type"),
        ('MIDDLEWARES', ['nodots'], "Invalid 'MIDDLEWARES': nodots is not a valid middleware path or type"),
        (
            'MIDDLEWARES',
            ['tests.test_main.NotAMiddleware'],
            "Invalid 'MIDDLEWARES': <class 'tests.test_main.NotAMiddleware'> is not a sub class of `HTTPMiddleware`",
        ),
        (
            'MIDDLEWARES',
            [AWebsocketMiddleware],
            "Invalid 'MIDDLEWARES': <class 'tests.test_main.AWebsocketMiddleware'> is not a sub class of "
            '`HTTPMiddleware`',
        ),
        (
            'MIDDLEWARES',
            [('fake.module', 1, 2)],
            "Invalid 'MIDDLEWARES': ('fake.module', 1, 2) should be dotted path or type of a middleware class",
        ),
        (
            'WS_MIDDLEWARES',
            ['fake.module'],
            "Invalid 'WS_MIDDLEWARES': fake.module is not a valid middleware path or type",
        ),
        (
            'WS_MIDDLEWARES',
            [Recorder],
            "Invalid 'WS_MIDDLEWARES': <class 'tests.test_main.Recorder'> is not a sub class of `WebsocketMiddleware`",
        ),
    ],
)
def test_invalid_middlewares(caplog: pytest.LogCaptureFixture, key: str, entries: list, message: str) -> None:
    assert start_fails(caplog, {}, **{key: entries}) == message


def test_loading_order_decides_which_error_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    # Middlewares (step 11) are loaded before URLs (step 15)...
    assert start_fails(caplog, None, MIDDLEWARES=['fake.module']) == (
        "Invalid 'MIDDLEWARES': fake.module is not a valid middleware path or type"
    )
    # ...URLs before authentication (step 16)...
    assert start_fails(caplog, None, AUTHENTICATION='fake.Auth') == "Invalid 'URLs': required."
    # ...and authentication before the endpoint checks (step 18).
    assert start_fails(caplog, {'plain': plain_function}, AUTHENTICATION='fake.Auth') == (
        "Invalid 'AUTHENTICATION': No module named 'fake'"
    )


def test_custom_keys_are_set_before_urls_are_checked(caplog: pytest.LogCaptureFixture) -> None:
    start_fails(caplog, {'user/?/': hello}, CUSTOM_KEY='loaded')
    assert config.CUSTOM_KEY == 'loaded'


def test_unexpected_error_logs_the_traceback(caplog: pytest.LogCaptureFixture) -> None:
    message = start_fails(caplog, {}, MIDDLEWARES=5)
    assert message.startswith('Traceback (most recent call last):')
    assert 'TypeError' in message


# HTTP handling


async def test_unhandled_exception_is_500_with_one_error_log(caplog: pytest.LogCaptureFixture) -> None:
    app = make_app({'boom': boom})
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        res = await APIClient(app).get('/boom')
    assert res.status_code == 500
    assert res.raw_body == b'{"detail":"Internal Server Error"}'
    records = errors(caplog)
    assert len(records) == 1
    assert records[0].name == 'panther'
    assert records[0].exc_info is not None and records[0].exc_info[0] is ValueError
    assert 'kaboom' in caplog.text
    assert 'Traceback (most recent call last)' in caplog.text


async def test_unserialisable_response_is_500_with_one_error_log(caplog: pytest.LogCaptureFixture) -> None:
    app = make_app({'bad': unserialisable})
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        res = await APIClient(app).get('/bad')
    assert (res.status_code, res.data) == (500, {'detail': 'Internal Server Error'})
    assert len(errors(caplog)) == 1


async def test_middleware_returning_none(caplog: pytest.LogCaptureFixture) -> None:
    app = make_app({'hello': hello}, MIDDLEWARES=[ForgetsToReturn])
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        res = await APIClient(app).get('/hello')
    assert (res.status_code, res.data) == (500, {'detail': 'Internal Server Error'})
    assert [r.getMessage() for r in errors(caplog)] == [
        'You forgot to return `response` on the `Middlewares.__call__()`'
    ]


async def test_plain_json_response_over_raw_asgi() -> None:
    call = await RawCall()(make_app({'hello': hello}), 'GET', '/hello')
    assert call.sent == [
        {
            'type': 'http.response.start',
            'status': 200,
            'headers': [(b'Content-Length', b'18'), (b'Content-Type', b'application/json')],
        },
        {'type': 'http.response.body', 'body': b'{"detail":"hello"}', 'more_body': False},
    ]


async def test_head_sends_headers_without_body() -> None:
    call = await RawCall()(make_app({'hello': hello}), 'HEAD', '/hello')
    assert call.status == 200
    assert (b'Content-Length', b'18') in call.headers
    assert call.body == b''


async def test_unknown_scope_type_is_ignored() -> None:
    call = RawCall()
    await make_app({})({'type': 'something-else'}, call.receive, call.send)
    assert call.sent == []
    assert call.receive_calls == 0


@pytest.mark.parametrize('method', ['GET', 'POST', 'DELETE'])
async def test_unknown_path_is_404_without_reading_the_body(method: str) -> None:
    call = RawCall([b'{"a":', b'1}'])
    await call(make_app({'hello': hello}), method, '/missing', headers=[(b'content-type', b'application/json')])
    assert call.status == 404
    assert call.body == b'{"detail":"Not Found"}'
    assert call.receive_calls == 0


async def test_unknown_path_with_middlewares_does_not_read_the_body() -> None:
    call = RawCall([b'{"a":', b'1}'])
    await call(make_app({'hello': hello}, MIDDLEWARES=[Recorder]), 'POST', '/missing')
    assert call.status == 404
    assert call.receive_calls == 0


async def test_declared_content_length_over_the_limit_is_refused_before_reading() -> None:
    app = make_app({'hello': hello}, MAX_BODY_SIZE=16)
    call = RawCall([b'x' * 8] * 10)
    await call(app, 'POST', '/hello', headers=[(b'content-length', b'80')])
    assert call.status == 413
    assert json.loads(call.body) == {'detail': 'Request body is larger than 16 bytes'}
    assert call.receive_calls == 0


async def test_streamed_body_over_the_limit_stops_reading() -> None:
    app = make_app({'hello': hello}, MAX_BODY_SIZE=16)
    call = RawCall([b'x' * 8] * 10)
    await call(app, 'POST', '/hello')
    assert call.status == 413
    assert call.receive_calls == 3  # 8 + 8 is still allowed, the third chunk crosses the limit


async def test_body_limit_also_applies_with_global_middlewares() -> None:
    app = make_app({'hello': hello}, MAX_BODY_SIZE=16, MIDDLEWARES=[Recorder])
    call = RawCall([b'x' * 8] * 10)
    await call(app, 'POST', '/hello', headers=[(b'content-length', b'80')])
    assert call.status == 413
    assert call.receive_calls == 0


async def test_invalid_content_length_is_400() -> None:
    call = await RawCall([b'{}'])(make_app({'hello': hello}), 'POST', '/hello', headers=[(b'content-length', b'abc')])
    assert call.status == 400
    assert json.loads(call.body) == {'detail': 'Content-Length header is not a valid integer'}


async def test_client_disconnect_while_reading_sends_nothing() -> None:
    call = RawCall([], disconnect_early=True)
    await call(make_app({'hello': hello}), 'POST', '/hello')
    assert call.sent == []


async def test_config_change_is_picked_up_by_a_running_app() -> None:
    app = make_app({'hello': hello}, MAX_BODY_SIZE=1000)
    config.MAX_BODY_SIZE = 4
    call = await RawCall([b'{"a": 1}'])(app, 'POST', '/hello')
    assert call.status == 413


async def test_head_with_middlewares_sends_no_body() -> None:
    call = await RawCall()(make_app({'hello': hello}, MIDDLEWARES=[Recorder]), 'HEAD', '/hello')
    assert call.status == 200
    assert (b'X-Recorded', b'yes') in call.headers
    assert (b'Content-Length', b'18') in call.headers
    assert call.body == b''


# Lifespan (full ASGI protocol)


class Lifespan:
    def __init__(self, app: Panther) -> None:
        self.app = app
        self.inbox: asyncio.Queue[dict] = asyncio.Queue()
        self.outbox: asyncio.Queue[dict] = asyncio.Queue()
        self.task: asyncio.Task | None = None

    async def __aenter__(self) -> Lifespan:
        scope = {'type': 'lifespan', 'asgi': {'version': '3.0', 'spec_version': '2.0'}}
        self.task = asyncio.create_task(self.app(scope, self.inbox.get, self.outbox.put))
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        if not self.task.done():
            self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)

    async def send(self, message_type: str) -> dict:
        await self.inbox.put({'type': message_type})
        return await asyncio.wait_for(self.outbox.get(), timeout=5)


async def test_lifespan_startup_and_shutdown() -> None:
    calls: list[str] = []

    @Event.startup
    async def opening():
        calls.append('async-startup')

    @Event.startup
    def opening_sync():
        calls.append('sync-startup')

    @Event.shutdown
    async def closing():
        calls.append('async-shutdown')

    @Event.shutdown
    def closing_sync():
        calls.append('sync-shutdown')

    async with Lifespan(make_app({})) as lifespan:
        assert await lifespan.send('lifespan.startup') == {'type': 'lifespan.startup.complete'}
        assert calls == ['async-startup', 'sync-startup']
        assert await lifespan.send('lifespan.shutdown') == {'type': 'lifespan.shutdown.complete'}
        assert calls == ['async-startup', 'sync-startup', 'async-shutdown', 'sync-shutdown']
        await asyncio.wait_for(lifespan.task, timeout=5)  # the lifespan call returns after shutdown


async def test_failing_startup_hook_reports_startup_failed(caplog: pytest.LogCaptureFixture) -> None:
    ran: list[str] = []

    @Event.startup
    def broken():
        raise RuntimeError('no database')

    @Event.startup
    def after():
        ran.append('after')

    app = make_app({})
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        async with Lifespan(app) as lifespan:
            message = await lifespan.send('lifespan.startup')
    assert message['type'] == 'lifespan.startup.failed'
    assert 'broken() startup event got error: no database' in message['message']
    assert ran == ['after']  # the next hook still runs
    assert 'broken() startup event got error: no database' in [r.getMessage() for r in errors(caplog)]


async def test_failing_startup_hook_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    @Event.startup
    def broken():
        raise RuntimeError('no database')

    app = make_app({})
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        async with Lifespan(app) as lifespan:
            assert (await lifespan.send('lifespan.startup'))['type'] == 'lifespan.startup.failed'
    assert [r.getMessage() for r in errors(caplog)] == ['broken() startup event got error: no database']


async def test_startup_hooks_run_once_even_if_startup_is_repeated() -> None:
    calls: list[int] = []

    @Event.startup
    def once():
        calls.append(1)

    app = make_app({})
    await app.startup()
    await app.startup()
    assert calls == [1]
    await app.shutdown()


@pytest.mark.parametrize('is_async', [True, False])
async def test_shutdown_closes_the_database(is_async: bool) -> None:
    closed: list[str] = []

    class FakeDatabase:
        if is_async:

            async def close(self) -> None:
                closed.append('async')
        else:

            def close(self) -> None:
                closed.append('sync')

    app = make_app({})
    config.DATABASE = FakeDatabase()
    async with Lifespan(app) as lifespan:
        assert await lifespan.send('lifespan.startup') == {'type': 'lifespan.startup.complete'}
        assert closed == []
        assert await lifespan.send('lifespan.shutdown') == {'type': 'lifespan.shutdown.complete'}
    assert closed == ['async' if is_async else 'sync']


async def test_shutdown_without_startup_runs_nothing() -> None:
    calls: list[int] = []

    @Event.shutdown
    def closing():
        calls.append(1)

    await make_app({}).shutdown()
    assert calls == []


# Logging side effects


def test_importing_panther_configures_no_logging(tmp_path: Path) -> None:
    result = run_python(
        """
        import json, logging, os
        import panther, panther.main, panther.app, panther.request, panther.response, panther.test
        import panther.middlewares, panther.websocket, panther.events, panther.routings
        names = ['', 'panther', 'monitoring', 'query']
        before = {n: len(logging.getLogger(n).handlers) for n in names}
        urls = {}
        app = panther.Panther('x', configs='__main__', urls=urls)
        after = {n: len(logging.getLogger(n).handlers) > 0 for n in names[1:]}
        print(json.dumps({'before': before, 'after': after, 'entries': sorted(os.listdir('.'))}))
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report['before'] == {'': 0, 'panther': 0, 'monitoring': 0, 'query': 0}
    # Panther() is what configures logging; merely configuring still creates no folder.
    assert report['after'] == {'panther': True, 'monitoring': True, 'query': True}
    assert report['entries'] == []


def test_failed_start_exits_non_zero_in_a_process(tmp_path: Path) -> None:
    result = run_python(
        """
        import panther
        panther.Panther('x', configs='__main__', urls=None)
        """,
        tmp_path,
    )
    assert result.returncode == 1
    assert "Invalid 'URLs': required." in result.stderr
    assert result.stderr.count('ERROR') == 1


# Served by a real uvicorn process: start-up failures stop the server with a non-zero status.

SERVED_APP = """
from panther import Panther
from panther.app import API
from panther.events import Event


@API()
async def hello():
    return {'ok': True}


@Event.startup
async def broken():
    raise RuntimeError('cannot reach the payment provider')


app = Panther(__name__, configs=__name__, urls={'': hello})
"""

MISCONFIGURED_APP = """
from panther import Panther

MIDDLEWARES = ['no.such.Middleware']
app = Panther(__name__, configs=__name__, urls={})
"""


def _serve(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / 'served_app.py').write_text(source)
    env = {**os.environ, 'PYTHONPATH': str(tmp_path)}
    return subprocess.run(
        [sys.executable, '-m', 'panther.cli.main', 'run', 'served_app:app', '--host', '127.0.0.1', '--port', '0'],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.slow
def test_failing_startup_hook_stops_the_server(tmp_path: Path) -> None:
    result = _serve(tmp_path, SERVED_APP)
    assert result.returncode != 0
    assert 'broken() startup event got error: cannot reach the payment provider' in result.stderr


@pytest.mark.slow
def test_configuration_error_stops_the_server(tmp_path: Path) -> None:
    result = _serve(tmp_path, MISCONFIGURED_APP)
    assert result.returncode != 0
    assert "Invalid 'MIDDLEWARES': no.such.Middleware is not a valid middleware path or type" in result.stderr


# HEAD on endpoints that list it themselves (the app calls such simple handlers inline)


@API(methods=['GET', 'HEAD'])
async def get_and_head():
    return {'detail': 'hello'}


@API(methods=['GET', 'HEAD'])
async def get_and_head_item(item_id: int):
    return {'item': item_id}


@API(methods=['GET', 'HEAD'])
async def get_and_head_response():
    return Response(data={'detail': 'hello'}, headers={'X-Kind': 'response'})


async def _allow(request: Request) -> bool:
    return True


@API(methods=['GET', 'HEAD'], permissions=[_allow], cache=timedelta(seconds=30))
async def get_and_head_pipeline():
    return {'detail': 'hello'}


@pytest.mark.parametrize(
    ('path', 'length'),
    [('/both', b'18'), ('/items/7', b'10'), ('/response', b'18'), ('/pipeline', b'18')],
)
async def test_head_listed_in_methods_sends_no_body(path: str, length: bytes) -> None:
    urls = {'both': get_and_head, 'items/<item_id>': get_and_head_item}
    urls |= {'response': get_and_head_response, 'pipeline': get_and_head_pipeline}
    app = make_app(urls)
    head = await RawCall()(app, 'HEAD', path)
    assert head.status == 200
    assert (b'Content-Length', length) in head.headers
    assert head.body == b''
    get = await RawCall()(app, 'GET', path)
    assert (b'Content-Length', length) in get.headers
    assert len(get.body) == int(length)


# Two apps in one process (SPEC §31): a second Panther() does not take over the first one's routes


@API()
async def first_only():
    return {'app': 'first'}


@API()
async def second_only():
    return {'app': 'second'}


class Greeting(GenericWebsocket):
    async def connect(self, **kwargs) -> None:
        await self.accept()
        await self.send(self.path)


async def test_each_app_keeps_its_own_routes_and_middlewares() -> None:
    first = APIClient(make_app({'one': first_only, 'ws/one': Greeting}, MIDDLEWARES=[Recorder]))
    second = APIClient(make_app({'two': second_only, 'ws/two': Greeting}))
    for _ in range(2):  # and again, after each app has rebuilt what it serves
        res = await first.get('/one')
        assert (res.status_code, res.data, res.headers.get('X-Recorded')) == (200, {'app': 'first'}, 'yes')
        assert (await first.get('/two')).status_code == 404
        res = await second.get('/two')
        assert (res.status_code, res.data, res.headers.get('X-Recorded')) == (200, {'app': 'second'}, None)
        assert (await second.get('/one')).status_code == 404


async def test_each_app_keeps_its_own_websocket_routes() -> None:
    first = make_app({'ws/one': Greeting})
    second = make_app({'ws/two': Greeting})
    async with WebsocketClient(first).session('/ws/one') as ws:
        assert ws.accepted and await ws.receive_text() == '/ws/one'
    async with WebsocketClient(second).session('/ws/two') as ws:
        assert ws.accepted and await ws.receive_text() == '/ws/two'
    for app, foreign in ((first, '/ws/two'), (second, '/ws/one')):
        async with WebsocketClient(app).session(foreign) as ws:
            assert not ws.accepted


async def test_both_apps_follow_a_routing_table_set_by_hand_and_refresh() -> None:
    first = APIClient(make_app({'one': first_only}))
    second = APIClient(make_app({'two': second_only}))
    config.URLS = {'shared': first_only}
    assert (await first.get('/shared')).data == {'app': 'first'}
    assert (await second.get('/shared')).data == {'app': 'first'}
    assert (await first.get('/one')).status_code == 404
    config.refresh()
    assert (await first.get('/shared')).status_code == 404
    assert (await second.get('/shared')).status_code == 404


# The start-up line naming the database and Redis


def _startup_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith('Database: ')]


async def _start(app: Panther, caplog: pytest.LogCaptureFixture) -> list[str]:
    with caplog.at_level(logging.INFO, logger='panther'):
        async with APIClient(app):
            pass
    return _startup_lines(caplog)


async def test_startup_log_names_the_sqlite_file_and_no_redis(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / 'app.pdb'
    app = make_app({}, DATABASE={'engine': {'class': 'panther.db.connections.PantherDBConnection', 'path': str(path)}})
    lines = await _start(app, caplog)
    assert len(lines) == 1
    assert lines[0].startswith(f'Database: SQLite engine ({path}); Redis: none')


async def test_startup_log_without_a_database(caplog: pytest.LogCaptureFixture) -> None:
    assert await _start(make_app({}), caplog) == [
        'Database: none; Redis: none (cache, throttling and logged-out tokens in process memory)'
    ]


async def test_startup_log_names_redis(redis_address: tuple[str, int], caplog: pytest.LogCaptureFixture) -> None:
    host, port = redis_address
    lines = await _start(make_app({}, REDIS={'host': host, 'port': port, 'db': 2}), caplog)
    assert lines == [f'Database: none; Redis: {host}:{port} db 2']


async def test_startup_log_names_mongodb_without_credentials(
    mongodb_address: tuple[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    host, port = mongodb_address
    uri = f'mongodb://{host}:{port}/startup_log?authSource=admin'
    app = make_app({}, DATABASE={'engine': {'class': 'panther.db.connections.MongoDBConnection', 'host': uri}})
    lines = await _start(app, caplog)
    assert lines == [
        f"Database: MongoDB (mongodb://{host}:{port}/startup_log, database 'startup_log'); Redis: none "
        '(cache, throttling and logged-out tokens in process memory)'
    ]


@pytest.mark.parametrize(
    ('uri', 'shown'),
    [
        ('mongodb://admin:s3cret@db.example:27017/app?authSource=admin', 'mongodb://db.example:27017/app'),
        ('mongodb+srv://u:p%40ss@cluster0.example/app', 'mongodb+srv://cluster0.example/app'),
        ('mongodb://a:b@h1:1,h2:2/x?replicaSet=rs&password=leak', 'mongodb://h1:1,h2:2/x'),
        ('mongodb://h:27017', 'mongodb://h:27017'),
    ],
)
def test_redacted_uri_drops_credentials_and_options(uri: str, shown: str) -> None:
    from panther.db.connections.database import redacted_uri

    assert redacted_uri(uri) == shown
