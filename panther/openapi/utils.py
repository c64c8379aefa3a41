"""`OpenAPIGenerator.generate_openapi_spec()` (the document, built once per routing table) and `EndpointParser`."""

from __future__ import annotations

import copy
import threading
from typing import Any

from panther._internal import state
from panther.configs import config
from panther.openapi._document import DocumentBuilder
from panther.openapi._parser import EndpointParser

__all__ = ['EndpointParser', 'OpenAPIGenerator']


class OpenAPIGenerator:
    """The OpenAPI 3.1 document of the running app, from what its endpoints declare.

    Built on first use after start-up and kept until the routing table or the configuration changes.
    """

    _lock = threading.Lock()
    _cache: tuple[Any, int, dict[str, Any]] | None = None

    @classmethod
    def generate_openapi_spec(cls) -> dict[str, Any]:
        return copy.deepcopy(cls.cached_spec())

    @classmethod
    def cached_spec(cls) -> dict[str, Any]:
        """The shared document; callers must not change it (`generate_openapi_spec()` returns a copy)."""
        cached = cls._cache
        urls = config.FLAT_URLS
        if cached is not None and cached[0] is urls and cached[1] == state.config_version:
            return cached[2]
        with cls._lock:
            document = DocumentBuilder(
                dict(urls or {}),
                default_auth=config.AUTHENTICATION,
                default_throttling=config.THROTTLING,
                websocket_auth=config.WS_AUTHENTICATION,
            ).build()
            cls._cache = (urls, state.config_version, document)
        return document
