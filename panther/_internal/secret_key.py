"""Start-up check of the signing key: a short or published key is refused unless in development.

Anyone who knows the key that signs the JWTs can mint a token for any user. The example apps and the docs carry
development keys so that they run from a clean clone; those keys are public, and an app deployed with one of them
(for instance because `SECRET_KEY` was not set and the example's fallback was used) is open to everyone.
"""

from __future__ import annotations

import inspect
import logging
import os
from typing import Any

from panther.configs import config
from panther.exceptions import PantherError

__all__ = ['DEV_FLAG', 'MIN_KEY_BYTES', 'PUBLISHED_KEYS', 'check_signing_key', 'development_mode']

logger = logging.getLogger('panther')

# HS256 keys shorter than the hash output (32 bytes) are brute-forceable offline from one token.
MIN_KEY_BYTES = 32

# Environment variable that allows a weak or published key, with a WARNING: `PANTHER_DEV=1`.
DEV_FLAG = 'PANTHER_DEV'

# Every key written in this repository (examples, docs, AGENTS.md, scripts). Add new ones here.
PUBLISHED_KEYS = frozenset(
    {
        'dev-only-insecure-key-change-me-in-production-0123456789',
        'dev-only-insecure-blog-key-change-me-0123456789abcdef',
        'dev-only-insecure-chat-key-change-me-0123456789abcdef',
        'dev-only-key-at-least-32-bytes-long-change-me',
        'development-only-key-replace-it-in-production',
    }
)

_HOW_TO_FIX = (
    'Set SECRET_KEY (e.g. in the environment) to a new random key, made with '
    '`python -c "from panther.utils import generate_secret_key; print(generate_secret_key())"`, '
    f'or set {DEV_FLAG}=1 while developing.'
)


def development_mode() -> bool:
    return os.environ.get(DEV_FLAG, '').strip().lower() in {'1', 'true', 'yes', 'on'}


def _uses_jwt(value: Any) -> bool:
    if not inspect.isclass(value):
        return False
    from panther.authentications import JWTAuthentication

    return issubclass(value, JWTAuthentication)


def _routed_jwt_endpoint() -> bool:
    for endpoint in config.FLAT_URLS.values():
        options = getattr(getattr(endpoint, '__panther_endpoint__', None), 'options', None)
        if _uses_jwt(getattr(options, 'auth', None)) or _uses_jwt(getattr(endpoint, 'auth', None)):
            return True
    return False


def _needs_key(namespace: dict[str, Any]) -> str | None:
    """What the key is needed for, or None when nothing in the app signs or encrypts with it."""
    if config.JWT_CONFIG is not None or 'JWT_CONFIG' in namespace:
        return 'sign the JWTs'
    if _uses_jwt(config.AUTHENTICATION) or _uses_jwt(config.WS_AUTHENTICATION) or _routed_jwt_endpoint():
        return 'sign the JWTs'
    if getattr(config.DATABASE, 'encryption', False):
        return 'encrypt the database'
    return None


def _problem(key: str | bytes) -> str | None:
    raw = key if isinstance(key, bytes) else str(key).encode()
    if raw.decode(errors='replace') in PUBLISHED_KEYS:
        return 'is a development key published in the Panther repository, so anyone can use it'
    if len(raw) < MIN_KEY_BYTES:
        return f'is shorter than {MIN_KEY_BYTES} bytes, so it can be guessed from one token'
    return None


def check_signing_key(namespace: dict[str, Any]) -> None:
    """Refuse (PantherError → ERROR, exit status 1) a short or published key the app needs; with `PANTHER_DEV=1`
    only warn."""
    purpose = _needs_key(namespace)
    if purpose is None:
        return
    jwt_config = config.JWT_CONFIG
    name = 'JWT_CONFIG.key' if jwt_config is not None and jwt_config.key != config.SECRET_KEY else 'SECRET_KEY'
    key = jwt_config.key if jwt_config is not None and purpose == 'sign the JWTs' else config.SECRET_KEY
    if not key:
        # Nothing can be signed with a missing key: JWT settings refuse it at start-up ("`JWTConfig.key` or
        # `SECRET_KEY` is required"), an endpoint's own JWT authentication or the encrypted database when used.
        return
    problem = _problem(key)
    if problem is None:
        return
    message = f"Invalid '{name}': the key used to {purpose} {problem}."
    if development_mode():
        logger.warning(f'{message} Allowed because {DEV_FLAG} is set: never deploy with it.')
        return
    raise PantherError(f'{message} {_HOW_TO_FIX}')
