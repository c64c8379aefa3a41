"""The public surface: module paths and names user code imports, and imports without optional packages."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import panther

PUBLIC = {
    'panther': ['Panther', '__version__', 'version'],
    'panther.main': ['Panther'],
    'panther.app': ['API', 'GenericAPI'],
    'panther.request': ['Request'],
    'panther.base_request': ['BaseRequest', 'Headers', 'Address'],
    'panther.response': [
        'Response',
        'Cookie',
        'StreamingResponse',
        'HTMLResponse',
        'PlainTextResponse',
        'FileResponse',
        'TemplateResponse',
        'RedirectResponse',
        'ResponseDataTypes',
        'IterableDataTypes',
        'StreamingDataTypes',
        'EventSourceResponse',
        'ServerSentEvent',
    ],
    'panther.status': [
        'HTTP_200_OK',
        'WS_1000_NORMAL_CLOSURE',
        'status_text',
        'is_informational',
        'is_success',
        'is_redirect',
        'is_client_error',
        'is_server_error',
    ],
    'panther.exceptions': [
        'PantherError',
        'DatabaseError',
        'BaseError',
        'APIError',
        'WebsocketError',
        'RedirectAPIError',
        'BadRequestAPIError',
        'AuthenticationAPIError',
        'AuthorizationAPIError',
        'NotFoundAPIError',
        'MethodNotAllowedAPIError',
        'UnprocessableEntityError',
        'UpgradeRequiredError',
        'ThrottlingAPIError',
        'InvalidPathVariableAPIError',
    ],
    'panther.configs': ['config', 'Config', 'JWTConfig', 'QueryObservable'],
    'panther.routings': [
        'flatten_urls',
        'finalize_urls',
        'find_endpoint',
        'check_urls_path_variables',
        'ENDPOINT_NOT_FOUND',
    ],
    'panther.serializer': ['ModelSerializer'],
    'panther.db': ['Model'],
    'panther.db.models': ['Model', 'BaseUser', 'ID'],
    'panther.db.connections': [
        'db',
        'redis',
        'BaseDatabaseConnection',
        'PantherDBConnection',
        'MongoDBConnection',
        'DatabaseConnection',
        'RedisConnection',
    ],
    'panther.db.cursor': ['Cursor'],
    'panther.db.queries': ['Query'],
    'panther.db.queries.base_queries': ['BaseQuery'],
    'panther.db.queries.pantherdb_queries': ['BasePantherDBQuery'],
    'panther.db.queries.mongodb_queries': ['BaseMongoDBQuery'],
    'panther.generics': ['ListAPI', 'RetrieveAPI', 'CreateAPI', 'UpdateAPI', 'DeleteAPI'],
    'panther.pagination': ['Pagination'],
    'panther.authentications': [
        'BaseAuthentication',
        'JWTAuthentication',
        'QueryParamJWTAuthentication',
        'CookieJWTAuthentication',
    ],
    'panther.permissions': ['BasePermission', 'IsAuthenticated', 'IsAuthenticatedOrReadonly'],
    'panther.throttling': ['Throttle'],
    'panther.caching': ['api_cache_key', 'get_response_from_cache', 'set_response_in_cache', 'CachedResponse'],
    'panther.events': ['Event'],
    'panther.background_tasks': [
        'BackgroundTask',
        'BackgroundTasks',
        'WeekDay',
        '_background_tasks',
        'current_due_time',
    ],
    'panther.middlewares': [
        'HTTPMiddleware',
        'WebsocketMiddleware',
        'CORSMiddleware',
        'MonitoringMiddleware',
        'WebsocketMonitoringMiddleware',
    ],
    'panther.middlewares.base': ['HTTPMiddleware', 'WebsocketMiddleware'],
    'panther.middlewares.cors': ['CORSMiddleware'],
    'panther.middlewares.monitoring': ['MonitoringMiddleware', 'WebsocketMonitoringMiddleware'],
    'panther.websocket': ['GenericWebsocket', 'Websocket', 'send_message_to_websocket', 'close_websocket_connection'],
    'panther.base_websocket': ['Websocket', 'WebsocketConnections', 'PubSub'],
    'panther.file_handler': ['File', 'Image'],
    'panther.test': ['APIClient', 'WebsocketClient'],
    'panther.utils': [
        'Singleton',
        'load_env',
        'generate_secret_key',
        'round_datetime',
        'generate_hash_value_from_string',
        'scrypt',
        'timezone_now',
        'run_coroutine',
        'URANDOM_SIZE',
    ],
    'panther._utils': ['import_class', 'detect_mime_type', 'read_multipart_form_data', 'is_function_async'],
    'panther.logging': ['LOGGING'],
    'panther.cli.main': ['start'],
    'panther.openapi': ['OutputSchema'],
    'panther.openapi.urls': ['url_routing'],
    'panther.openapi.views': ['ScalarOpenAPI', 'SwaggerOpenAPI', 'RedocOpenAPI', 'RapiDocOpenAPI', 'SpotlightOpenAPI'],
    'panther.openapi.utils': ['EndpointParser', 'OpenAPIGenerator'],
}


@pytest.mark.parametrize('module_name', sorted(PUBLIC))
def test_public_names_exist(module_name: str) -> None:
    module = importlib.import_module(module_name)
    missing = [name for name in PUBLIC[module_name] if not hasattr(module, name)]
    assert not missing, f'{module_name} lacks {missing}'


def test_version() -> None:
    assert panther.version() == panther.__version__
    assert panther.__version__.count('.') == 2


def test_typed_marker_ships() -> None:
    from importlib import resources

    assert resources.files('panther').joinpath('py.typed').is_file()


def test_core_imports_without_optional_packages() -> None:
    script = textwrap.dedent("""
        import sys

        OPTIONAL = {'redis', 'hiredis', 'pymongo', 'bson', 'cryptography', 'watchfiles', 'IPython'}

        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split('.')[0] in OPTIONAL:
                    raise ModuleNotFoundError(f'No module named {name!r}', name=name)
                return None

        sys.meta_path.insert(0, Block())
        import panther.main, panther.app, panther.db.models, panther.db.connections, panther.authentications
        import panther.throttling, panther.caching, panther.generics, panther.websocket, panther.test
        from panther.exceptions import PantherError
        try:
            from panther.db.connections import RedisConnection
        except PantherError as exc:
            assert 'pip install redis' in str(exc), exc
        else:
            raise AssertionError('RedisConnection imported without redis')
        print('imported')
    """)
    result = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == 'imported'


# Every import statement of SPEC.md and the seed reference page (panther-llm-context.txt), plus the root and
# `panther.app` names the public Panther docs use.
DOCUMENTED_IMPORTS = [
    'from panther import Panther',
    'from panther.app import API',
    'from panther.app import GenericAPI',
    'from panther.db import Model',
    'from panther.request import Request',
    'from panther.response import HTMLResponse, Response',
    'from panther.response import Response',
    'from panther.test import APIClient',
    'from panther.test import WebsocketClient',
    'from panther.websocket import GenericWebsocket',
    'from panther import API, GenericAPI, Request, Response, status, version',
    'from panther.app import CreateAPI, DeleteAPI, ListAPI, RetrieveAPI, UpdateAPI',
    'import panther.status',
]


@pytest.mark.parametrize('statement', DOCUMENTED_IMPORTS)
def test_documented_import_works(statement: str) -> None:
    result = subprocess.run([sys.executable, '-c', statement], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_root_names_are_the_defining_modules_objects() -> None:
    from panther import API, GenericAPI, Panther, Request, Response, status
    from panther.app import API as app_API
    from panther.app import GenericAPI as app_GenericAPI
    from panther.main import Panther as main_Panther
    from panther.request import Request as request_Request
    from panther.response import Response as response_Response

    assert (API, GenericAPI, Panther, Request, Response) == (
        app_API,
        app_GenericAPI,
        main_Panther,
        request_Request,
        response_Response,
    )
    assert status.HTTP_200_OK == 200
    assert {'API', 'GenericAPI', 'Panther', 'Request', 'Response'} <= set(dir(panther))


def test_generic_views_from_panther_app_are_those_of_panther_generics() -> None:
    import panther.app
    import panther.generics

    for name in ('CreateAPI', 'DeleteAPI', 'ListAPI', 'RetrieveAPI', 'UpdateAPI'):
        assert getattr(panther.app, name) is getattr(panther.generics, name)


def test_unknown_root_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        panther.Nope  # noqa: B018
    with pytest.raises(ImportError):
        exec('from panther.app import NopeAPI')


def test_importing_a_small_module_does_not_load_the_framework() -> None:
    script = textwrap.dedent("""
        import sys
        import panther.status
        loaded = sorted(name for name in sys.modules if name == 'panther' or name.startswith('panther.'))
        assert loaded == ['panther', 'panther.status'], loaded
        from panther import API
        assert 'panther.app' in sys.modules and 'panther.main' not in sys.modules
        assert 'panther.generics' not in sys.modules
        print('light')
    """)
    result = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == 'light'


# Which panther modules an import may load, at most (each checked in a fresh interpreter). Requests and
# responses never load the database layer; the root loads nothing until a name is used.
IMPORT_BUDGET = {
    'panther': {'panther'},
    'panther.status': {'panther', 'panther.status'},
    'panther.exceptions': {'panther', 'panther.exceptions', 'panther.status'},
    'panther.configs': {'panther', 'panther.configs'},
    'panther.base_request': {'panther', 'panther.base_request', 'panther.exceptions', 'panther.status'},
    'panther.request': {'panther', 'panther.base_request', 'panther.exceptions', 'panther.request', 'panther.status'},
    'panther.response': {'panther', 'panther._internal', 'panther._internal.concurrency', 'panther.response'},
}


def _loaded_by(statement: str) -> set[str]:
    script = textwrap.dedent(f"""
        import sys
        {statement}
        print(' '.join(sorted(name for name in sys.modules if name == 'panther' or name.startswith('panther.'))))
    """)
    result = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


@pytest.mark.parametrize('module_name', sorted(IMPORT_BUDGET))
def test_a_public_import_loads_only_what_it_needs(module_name: str) -> None:
    assert _loaded_by(f'import {module_name}') <= IMPORT_BUDGET[module_name]


@pytest.mark.parametrize('module_name', ['panther.request', 'panther.response', 'panther.app', 'panther.routings'])
def test_the_request_layer_never_loads_the_database_layer(module_name: str) -> None:
    loaded = _loaded_by(f'import {module_name}')
    assert not {name for name in loaded if name == 'panther.db' or name.startswith('panther.db.')}, loaded


# Every public module declares `__all__`, and it holds at least the names SPEC documents.
@pytest.mark.parametrize('module_name', sorted(PUBLIC))
def test_public_modules_declare_their_exports(module_name: str) -> None:
    module = importlib.import_module(module_name)
    exported = getattr(module, '__all__', None)
    assert exported is not None, f'{module_name} has no __all__'
    assert len(set(exported)) == len(exported), f'{module_name}.__all__ repeats a name'
    assert not [name for name in exported if not hasattr(module, name)], f'{module_name}.__all__ names a missing object'
    missing = set(PUBLIC[module_name]) - set(exported)
    assert not missing, f'{module_name}.__all__ lacks {missing}'


# --- no import cycles --------------------------------------------------------------------------------------------

PACKAGE = Path(panther.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix('').parts
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def _imports_of(path: Path, modules: set[str]) -> set[str]:
    """Panther modules `path` imports anywhere (functions included, `if TYPE_CHECKING:` blocks excluded)."""
    name = _module_name(path)
    package = name if path.name == '__init__.py' else name.rpartition('.')[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and 'TYPE_CHECKING' in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                anchor = package.split('.')[: len(package.split('.')) - (node.level - 1)]
                base = '.'.join([*anchor, *([node.module] if node.module else [])])
            found.add(base)
            found.update(f'{base}.{alias.name}' for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding='utf-8')))
    return (found & modules) - {name}


def test_the_package_has_no_import_cycles() -> None:
    # Each piece sits in its layer (DESIGN.md §5): no module reaches one that (directly or not) reaches it back,
    # not even through an import inside a function.
    paths = {_module_name(path): path for path in PACKAGE.rglob('*.py')}
    graph = {name: _imports_of(path, set(paths)) for name, path in paths.items()}
    done: set[str] = set()

    def visit(name: str, trail: tuple[str, ...]) -> None:
        assert name not in trail, f'import cycle: {" -> ".join((*trail[trail.index(name) :], name))}'
        if name in done:
            return
        for imported in sorted(graph[name]):
            visit(imported, (*trail, name))
        done.add(name)

    for name in sorted(graph):
        visit(name, ())
