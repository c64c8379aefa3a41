"""Settings of the notes service.

Panther reads the upper-case globals of this module. Everything that differs between a laptop and a
deployment comes from an environment variable, with a default that is safe for local development:

| variable          | default                                   | effect                                   |
|-------------------|-------------------------------------------|------------------------------------------|
| `SECRET_KEY`      | published dev key: needs `PANTHER_DEV=1`  | signs the JWTs                           |
| `PANTHER_DB_PATH` | `examples/canonical/database.pdb`         | file of the embedded database            |
| `MONGODB_URL`     | unset                                     | use MongoDB instead of the embedded file |
| `REDIS_HOST`      | unset                                     | share cache/throttling/logout via Redis  |
| `REDIS_PORT`      | `6379`                                    |                                          |
| `CORS_ORIGINS`    | `http://localhost:3000,http://127.0.0.1:3000` | browser origins allowed to call the API |
| `TRUSTED_PROXIES` | unset                                     | proxies whose `X-Forwarded-For` is believed |
"""

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

# Lower-case names are not settings: Panther only copies upper-case globals into `config`.
example_dir = Path(__file__).resolve().parent.parent


def database_settings() -> dict[str, Any]:
    mongodb_url = os.environ.get('MONGODB_URL')
    if mongodb_url:
        # The database name comes from the URL path, e.g. mongodb://mongo:27017/panther.
        return {
            'engine': {
                'class': 'panther.db.connections.MongoDBConnection',
                'host': mongodb_url,
                'tz_aware': True,
            },
        }
    return {
        'engine': {
            'class': 'panther.db.connections.PantherDBConnection',
            'path': os.environ.get('PANTHER_DB_PATH') or example_dir / 'database.pdb',
        },
    }


def redis_settings() -> dict[str, Any] | None:
    host = os.environ.get('REDIS_HOST')
    if not host:
        # Without Redis the cache, throttle counters and revoked tokens live in this process's memory.
        return None
    return {'host': host, 'port': int(os.environ.get('REDIS_PORT', '6379'))}


# Development default only: it is published, so anyone can mint tokens with it. Panther refuses to start with it
# unless PANTHER_DEV=1 (./scripts/run sets that). Set SECRET_KEY in every deployment, e.g. to the output of
# `python -c "from panther.utils import generate_secret_key; print(generate_secret_key())"`.
SECRET_KEY = os.environ.get('SECRET_KEY') or 'dev-only-insecure-key-change-me-in-production-0123456789'

DATABASE = database_settings()
REDIS = redis_settings()

URLs = 'examples.canonical.core.urls.url_routing'

USER_MODEL = 'examples.canonical.app.models.User'
AUTHENTICATION = 'panther.authentications.JWTAuthentication'
WS_AUTHENTICATION = 'panther.authentications.QueryParamJWTAuthentication'
JWT_CONFIG = {
    'life_time': timedelta(minutes=15),
    'refresh_life_time': timedelta(days=7),
}

MIDDLEWARES = [
    'panther.middlewares.cors.CORSMiddleware',
]
ALLOW_ORIGINS = [
    origin.strip()
    for origin in os.environ.get('CORS_ORIGINS', 'http://localhost:3000,http://127.0.0.1:3000').split(',')
    if origin.strip()
]
ALLOW_HEADERS = ['Authorization', 'Content-Type']
# Let browser code read the rate-limit headers of throttled endpoints.
EXPOSE_HEADERS = ['RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset', 'Retry-After']

TIMEZONE = 'UTC'

# Behind a reverse proxy (docker compose, nginx): its addresses or networks, comma-separated, e.g. 172.16.0.0/12.
# Only then is `X-Forwarded-For` believed, so each client gets its own throttle bucket (docs/deploy.md).
TRUSTED_PROXIES = [proxy.strip() for proxy in os.environ.get('TRUSTED_PROXIES', '').split(',') if proxy.strip()]
