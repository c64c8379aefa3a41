"""Reads a configuration module into `config`, in the documented order, with clear errors."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import logging
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from panther._internal.secret_key import check_signing_key
from panther.configs import JWTConfig, config
from panther.exceptions import PantherError

logger = logging.getLogger('panther')

_KNOWN_KEYS = frozenset(
    {
        'URLs',
        'DATABASE',
        'REDIS',
        'SECRET_KEY',
        'TIMEZONE',
        'THROTTLING',
        'USER_MODEL',
        'LOG_QUERIES',
        'TEMPLATES_DIR',
        'MIDDLEWARES',
        'WS_MIDDLEWARES',
        'AUTO_REFORMAT',
        'BACKGROUND_TASKS',
        'AUTHENTICATION',
        'WS_AUTHENTICATION',
        'JWT_CONFIG',
        'BASE_DIR',
    }
)


def import_dotted(path: str) -> Any:
    module_path, _, name = path.rpartition('.')
    if not module_path:
        raise ImportError(f'`{path}` is not a dotted path')
    module = importlib.import_module(module_path)
    try:
        return getattr(module, name)
    except AttributeError:
        raise ImportError(f"cannot import name '{name}' from '{module_path}'") from None


def configuration_namespace(configs: str | None) -> dict[str, Any]:
    if configs is None:
        try:
            module: ModuleType = importlib.import_module('core.configs')
        except ModuleNotFoundError:
            raise PantherError("Invalid 'core/configs.py': Not Found") from None
        return dict(vars(module))
    module_obj = sys.modules.get(configs)
    if module_obj is None:
        try:
            module_obj = importlib.import_module(configs)
        except ModuleNotFoundError:
            raise PantherError(f"Invalid 'configs': module `{configs}` not found") from None
    return dict(vars(module_obj))


def load_redis(namespace: dict[str, Any]) -> None:
    redis_config = namespace.get('REDIS')
    if redis_config:
        from panther.db.connections.redis import load_redis as connect

        connect(dict(redis_config))


def load_timezone(namespace: dict[str, Any]) -> None:
    if timezone := namespace.get('TIMEZONE'):
        config.TIMEZONE = timezone


def load_secret_key(namespace: dict[str, Any]) -> None:
    if secret_key := namespace.get('SECRET_KEY'):
        config.SECRET_KEY = secret_key


def load_database(namespace: dict[str, Any]) -> None:
    database = namespace.get('DATABASE')
    if database:
        from panther.db.connections import load_database as connect

        connect(dict(database))


def load_throttling(namespace: dict[str, Any]) -> None:
    if throttling := namespace.get('THROTTLING'):
        config.THROTTLING = throttling  # type: ignore[misc]  # set per app, read through the instance


def load_user_model(namespace: dict[str, Any]) -> None:
    path = namespace.get('USER_MODEL')
    if path:
        try:
            model = import_dotted(path) if isinstance(path, str) else path
        except ImportError as exc:
            raise PantherError(f"Invalid 'USER_MODEL': {exc}") from None
    else:
        try:
            model = import_dotted('panther.db.models.BaseUser')
        except ImportError:
            return
    config.USER_MODEL = model
    if model not in config.MODELS:
        config.MODELS.append(model)


def load_log_queries(namespace: dict[str, Any]) -> None:
    if namespace.get('LOG_QUERIES'):
        config.LOG_QUERIES = True


def load_templates_dir(namespace: dict[str, Any]) -> None:
    import jinja2

    templates_dir = namespace.get('TEMPLATES_DIR') or '.'
    config.TEMPLATES_DIR = templates_dir
    dirs = templates_dir if isinstance(templates_dir, list) else [templates_dir]
    search = [str(config.BASE_DIR) if d == '.' else str(d) for d in dirs]
    package_dir = Path(__file__).resolve().parent.parent
    loaders: list[jinja2.BaseLoader] = [jinja2.FileSystemLoader(search)]
    for extra in ('panel/templates', 'openapi/templates'):
        if (package_dir / extra).is_dir():
            loaders.append(jinja2.FileSystemLoader(str(package_dir / extra)))
    config.JINJA_ENVIRONMENT = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        # Escaping is on for HTML (and for template strings, which are usually HTML snippets).
        autoescape=jinja2.select_autoescape(
            enabled_extensions=('html', 'htm', 'xml', 'jinja', 'j2'), default_for_string=True
        ),
    )


def _middleware_classes(entries: list[Any], key: str, base: type) -> list[type]:
    classes: list[type] = []
    for entry in entries or []:
        path = entry
        if isinstance(entry, (tuple, list)):
            if len(entry) == 1:
                path = entry[0]
            elif len(entry) == 2 and key == 'MIDDLEWARES':
                logger.warning(
                    "DEPRECATED 'MIDDLEWARES': `data` does not supported in middlewares anymore, as your data is "
                    'static you may want to pass them to your middleware with config variables'
                )
                path = entry[0]
            else:
                raise PantherError(f"Invalid '{key}': {entry} should be dotted path or type of a middleware class")
        if isinstance(path, str):
            try:
                middleware = import_dotted(path)
            except (ImportError, ValueError):
                raise PantherError(f"Invalid '{key}': {path} is not a valid middleware path or type") from None
        else:
            middleware = path
        if not (inspect.isclass(middleware) and issubclass(middleware, base)):
            raise PantherError(f"Invalid '{key}': {middleware} is not a sub class of `{base.__name__}`")
        classes.append(middleware)
    return classes


def load_middlewares(namespace: dict[str, Any]) -> None:
    from panther.middlewares.base import HTTPMiddleware, WebsocketMiddleware
    from panther.middlewares.monitoring import MonitoringMiddleware, WebsocketMonitoringMiddleware

    http = _middleware_classes(namespace.get('MIDDLEWARES') or [], 'MIDDLEWARES', HTTPMiddleware)
    ws = _middleware_classes(namespace.get('WS_MIDDLEWARES') or [], 'WS_MIDDLEWARES', WebsocketMiddleware)
    if any(issubclass(m, MonitoringMiddleware) for m in http) or any(
        issubclass(m, WebsocketMonitoringMiddleware) for m in ws
    ):
        config.MONITORING = True
    # Stored innermost-first so the chain can be built by wrapping in list order.
    config.HTTP_MIDDLEWARES = list(reversed(http))
    config.WS_MIDDLEWARES = list(reversed(ws))


def load_auto_reformat(namespace: dict[str, Any]) -> None:
    if not namespace.get('AUTO_REFORMAT'):
        return
    config.AUTO_REFORMAT = True
    ruff = shutil.which('ruff')
    if ruff is None:
        raise PantherError("No module named 'ruff', Hint: `pip install ruff`")
    subprocess.run([ruff, 'format', str(config.BASE_DIR)], check=False, capture_output=True)
    subprocess.run([ruff, 'check', '--select', 'I', '--fix', str(config.BASE_DIR)], check=False, capture_output=True)


def load_background_tasks(namespace: dict[str, Any]) -> None:
    if namespace.get('BACKGROUND_TASKS'):
        config.BACKGROUND_TASKS = True
        from panther.background_tasks import _background_tasks

        # Tasks are accepted from here on; they start running when the app's lifespan starts.
        _background_tasks.initialize()


def load_other_configs(namespace: dict[str, Any]) -> None:
    # `fields()` leaves out the `ClassVar` keys (CORS settings, ...): they are loaded here like custom keys.
    field_names = {f.name for f in dataclasses.fields(config)} | {'THROTTLING'}
    for key, value in namespace.items():
        if key.isupper() and key not in field_names and key != 'URLs':
            setattr(config, key, value)


def load_urls(namespace: dict[str, Any], urls: dict[str, Any] | None) -> None:
    from panther.routings import finalize_urls, flatten_urls

    if isinstance(urls, dict):
        routes = urls
    else:
        value = namespace.get('URLs')
        if value is None:
            raise PantherError("Invalid 'URLs': required.")
        if isinstance(value, dict):
            raise PantherError(
                "Invalid 'URLs': can't be 'dict', you may want to pass it's value directly to Panther(). "
                'Example: Panther(..., urls=...)'
            )
        if not isinstance(value, str):
            raise PantherError("Invalid 'URLs': should be dotted string.")
        try:
            routes = import_dotted(value)
        except ImportError as exc:
            raise PantherError(f"Invalid 'URLs': {exc}") from None
        if not isinstance(routes, dict):
            raise PantherError("Invalid 'URLs': should point to a dict.")
    config.FLAT_URLS = flatten_urls(routes)
    config.URLS = finalize_urls(config.FLAT_URLS)


def _import_auth(value: Any, key: str) -> Any:
    if isinstance(value, str):
        try:
            return import_dotted(value)
        except ImportError as exc:
            raise PantherError(f"Invalid '{key}': {exc}") from None
    return value


def load_authentication(namespace: dict[str, Any]) -> None:
    if auth := namespace.get('AUTHENTICATION'):
        config.AUTHENTICATION = _import_auth(auth, 'AUTHENTICATION')
    if ws_auth := namespace.get('WS_AUTHENTICATION'):
        config.WS_AUTHENTICATION = _import_auth(ws_auth, 'WS_AUTHENTICATION')
    load_jwt_config(namespace)


def _uses_jwt(value: Any) -> bool:
    if not inspect.isclass(value):
        return False
    try:
        from panther.authentications import JWTAuthentication
    except ImportError:
        return False
    return issubclass(value, JWTAuthentication)


def load_jwt_config(namespace: dict[str, Any]) -> None:
    # Also loaded when only some endpoints use JWT (`auth=JWTAuthentication`): the block must not be ignored.
    if 'JWT_CONFIG' not in namespace and not (_uses_jwt(config.AUTHENTICATION) or _uses_jwt(config.WS_AUTHENTICATION)):
        return
    user_config = dict(namespace.get('JWT_CONFIG') or {})
    key = user_config.pop('key', None) or config.SECRET_KEY
    if not key:
        raise PantherError("Invalid 'JWTConfig': `JWTConfig.key` or `SECRET_KEY` is required.")
    try:
        config.JWT_CONFIG = JWTConfig(key=key, **user_config)
    except TypeError as exc:
        raise PantherError(f"Invalid 'JWT_CONFIG': {exc}") from None


def check_endpoints() -> None:
    from panther.app import GenericAPI

    for endpoint in config.FLAT_URLS.values():
        if endpoint == {}:
            continue
        if inspect.isfunction(endpoint) and not hasattr(endpoint, '__wrapped__'):
            raise PantherError(
                f'You may have forgotten to use `@API()` on the `{endpoint.__module__}.{endpoint.__name__}()`'
            )
        if inspect.isclass(endpoint):
            from panther.websocket import GenericWebsocket

            if not issubclass(endpoint, (GenericAPI, GenericWebsocket)):
                raise PantherError(
                    'You may have forgotten to inherit from `panther.app.GenericAPI` or '
                    f'`panther.app.GenericWebsocket` on the `{endpoint.__module__}.{endpoint.__name__}()`'
                )
        elif not hasattr(endpoint, '__panther_endpoint__'):
            raise PantherError(f'`{endpoint!r}` is not a valid endpoint; use `@API()` or a `GenericAPI` subclass')


def load_websocket_connections() -> None:
    routed_ws = any(
        getattr(getattr(e, '__panther_endpoint__', None), 'kind', None) == 'websocket'
        for e in config.FLAT_URLS.values()
    )
    if routed_ws:
        config.HAS_WS = True
    if not config.HAS_WS:
        return
    from panther.base_websocket import WebsocketConnections

    config.WEBSOCKET_CONNECTIONS = WebsocketConnections()


def load(configs: str | None, urls: dict[str, Any] | None) -> None:
    namespace = configuration_namespace(configs)
    load_redis(namespace)
    load_timezone(namespace)
    # SECRET_KEY before DATABASE: an encrypted database needs the key while it opens.
    load_secret_key(namespace)
    load_database(namespace)
    load_throttling(namespace)
    load_user_model(namespace)
    load_log_queries(namespace)
    load_templates_dir(namespace)
    load_middlewares(namespace)
    load_auto_reformat(namespace)
    load_background_tasks(namespace)
    load_other_configs(namespace)
    load_urls(namespace, urls)
    load_authentication(namespace)
    load_websocket_connections()
    check_endpoints()
    check_signing_key(namespace)
