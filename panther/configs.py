"""The process-wide configuration object `config`."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

__all__ = ['Config', 'JWTConfig', 'QueryObservable', 'config']


class QueryObservable:
    """Lets `Model` classes follow `config.QUERY_ENGINE` without importing the database layer here."""

    observers: list[Any] = []

    @classmethod
    def observe(cls, observer: Any) -> None:
        cls.observers.append(observer)

    @classmethod
    def update(cls) -> None:
        for observer in cls.observers:
            observer._reload_bases(parent=config.QUERY_ENGINE)


@dataclass
class JWTConfig:
    key: str
    algorithm: str = 'HS256'
    life_time: timedelta | int = timedelta(days=1)
    refresh_life_time: timedelta | int | float | None = None

    def __post_init__(self) -> None:
        if isinstance(self.life_time, timedelta):
            self.life_time = int(self.life_time.total_seconds())
        if isinstance(self.refresh_life_time, timedelta):
            self.refresh_life_time = self.refresh_life_time.total_seconds()
        if not self.refresh_life_time:
            self.refresh_life_time = self.life_time * 2

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, JWTConfig):
            return NotImplemented
        return (self.key, self.algorithm, self.life_time, self.refresh_life_time) == (
            other.key,
            other.algorithm,
            other.life_time,
            other.refresh_life_time,
        )

    __hash__ = None  # type: ignore[assignment]


# Changing one of these invalidates the compiled route tree / middleware chains of the running app.
_ROUTING_KEYS = frozenset(
    {
        'URLS',
        'FLAT_URLS',
        'HTTP_MIDDLEWARES',
        'WS_MIDDLEWARES',
        'AUTHENTICATION',
        'WS_AUTHENTICATION',
        'THROTTLING',
        'MAX_BODY_SIZE',
        *(
            'ALLOW_ORIGINS',
            'ALLOW_METHODS',
            'ALLOW_HEADERS',
            'ALLOW_CREDENTIALS',
            'EXPOSE_HEADERS',
            'CORS_MAX_AGE',
        ),
    }
)


@dataclass
class Config:
    BASE_DIR: Path = field(default_factory=Path)
    MONITORING: bool = False
    LOG_QUERIES: bool = False
    SECRET_KEY: str | None = None
    HTTP_MIDDLEWARES: list[Any] = field(default_factory=list)
    WS_MIDDLEWARES: list[Any] = field(default_factory=list)
    USER_MODEL: type | None = None
    AUTHENTICATION: Any = None
    WS_AUTHENTICATION: Any = None
    JWT_CONFIG: JWTConfig | None = None
    MODELS: list[Any] = field(default_factory=list)
    FLAT_URLS: dict[str, Any] = field(default_factory=dict)
    URLS: dict[str, Any] = field(default_factory=dict)
    WEBSOCKET_CONNECTIONS: Any = None
    BACKGROUND_TASKS: bool = False
    HAS_WS: bool = False
    TIMEZONE: str = 'UTC'
    TEMPLATES_DIR: str | list[str] = '.'
    JINJA_ENVIRONMENT: Any = None
    AUTO_REFORMAT: bool = False
    QUERY_ENGINE: Any = None
    DATABASE: Any = None

    # Not a dataclass field on purpose: loading `THROTTLING` sets an instance attribute (keeps `vars()` order).
    THROTTLING: ClassVar[Any] = None

    # CORS (`CORSMiddleware` reads them once, when the middleware chain is built; a falsy value means the
    # default). Declared here, loaded like custom keys, so `vars()` lists them only when the app sets them.
    ALLOW_ORIGINS: ClassVar[list[str] | None] = None
    ALLOW_METHODS: ClassVar[list[str] | None] = None
    ALLOW_HEADERS: ClassVar[list[str] | None] = None
    ALLOW_CREDENTIALS: ClassVar[bool | None] = None
    EXPOSE_HEADERS: ClassVar[list[str] | None] = None
    CORS_MAX_AGE: ClassVar[int | None] = None

    # Called (without arguments) whenever a routing-related key changes; set by the running app.
    _listeners: ClassVar[list[Callable[[], None]]] = []

    def __setattr__(self, key: str, value: Any) -> None:
        super().__setattr__(key, value)
        if key == 'QUERY_ENGINE' and value:
            QueryObservable.update()
        if key in _ROUTING_KEYS:
            for listener in Config._listeners:
                listener()

    def __getattr__(self, item: str) -> Any:
        # Only reached for attributes that do not exist: custom keys read as None until loaded.
        if item.startswith('__'):
            raise AttributeError(item)
        return None

    def __getitem__(self, item: str) -> Any:
        return getattr(self, item.upper())

    def __setitem__(self, key: str, value: Any) -> None:
        setattr(self, key.upper(), value)

    def vars(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def refresh(self) -> None:
        """Return the process to a clean start: every built-in field back to its default, custom keys dropped,
        the database and Redis connections closed, and the state kept outside `config` forgotten (stored cache
        entries, throttle counters and revoked tokens in memory, verified tokens, start-up/shutdown hooks, open
        WebSockets). Running apps then serve the routes of the new configuration (none until one is loaded)."""
        from panther._internal import lifetime

        lifetime.release_connections(self.__dict__.get('DATABASE'))
        field_names = {f.name for f in fields(self)}
        for name in list(self.__dict__):
            if name not in field_names:
                object.__delattr__(self, name)
        defaults = Config()
        for f in fields(self):
            object.__setattr__(self, f.name, copy.copy(getattr(defaults, f.name)))
        lifetime.reset_state()
        for listener in Config._listeners:
            listener()


config = Config()
