"""Settings of the chat.

Panther reads the upper-case globals of this module. Everything that differs between a laptop and a deployment
comes from an environment variable, with a default that is safe for local development:

| variable            | default                           | effect                                                  |
|---------------------|-----------------------------------|---------------------------------------------------------|
| `SECRET_KEY`        | published: needs `PANTHER_DEV=1`  | signs the JWTs                                          |
| `CHAT_DB_PATH`      | `examples/chat/chat.pdb`          | file of the embedded database (users, message history)  |
| `MONGODB_URL`       | unset                             | use MongoDB instead of the embedded file                |
| `CHAT_HISTORY_SIZE` | `50`                              | how many earlier messages a client gets when it joins   |
| `REDIS_HOST`        | unset                             | rooms and delivery shared by every worker through Redis |
| `REDIS_PORT`        | `6379`                            |                                                         |
| `TRUSTED_PROXIES`   | unset                             | proxies whose `X-Forwarded-For` is believed             |
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
        # The database name comes from the URL path, e.g. mongodb://mongo:27017/chat.
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
            'path': os.environ.get('CHAT_DB_PATH') or example_dir / 'chat.pdb',
        },
    }


def redis_settings() -> dict[str, Any] | None:
    host = os.environ.get('REDIS_HOST')
    if not host:
        # Without Redis, room membership and message delivery only reach the connections of this process.
        return None
    return {'host': host, 'port': int(os.environ.get('REDIS_PORT', '6379'))}


# Development default only: it is published, so anyone can mint tokens with it. Panther refuses to start with it
# unless PANTHER_DEV=1 (./scripts/run sets that). Set SECRET_KEY in every deployment, e.g. to the output of
# `python -c "from panther.utils import generate_secret_key; print(generate_secret_key())"`.
SECRET_KEY = os.environ.get('SECRET_KEY') or 'dev-only-insecure-chat-key-change-me-0123456789abcdef'

DATABASE = database_settings()
REDIS = redis_settings()

URLs = 'examples.chat.core.urls.url_routing'
TEMPLATES_DIR = str(example_dir / 'templates')
STATIC_DIR = example_dir / 'static'  # custom setting: `config.STATIC_DIR`

USER_MODEL = 'examples.chat.app.models.User'
AUTHENTICATION = 'panther.authentications.JWTAuthentication'
# Browsers cannot set headers on a WebSocket handshake, so the access token travels as `?authorization=<token>`.
WS_AUTHENTICATION = 'panther.authentications.QueryParamJWTAuthentication'
JWT_CONFIG = {
    'life_time': timedelta(minutes=15),
    'refresh_life_time': timedelta(days=7),
}

# Custom setting, read by the app as `config.HISTORY_SIZE`.
HISTORY_SIZE = int(os.environ.get('CHAT_HISTORY_SIZE') or 50)

TIMEZONE = 'UTC'

# Behind a reverse proxy (docker compose, nginx): its addresses or networks, comma-separated, e.g. 172.16.0.0/12.
# Only then is `X-Forwarded-For` believed, so each client gets its own throttle bucket (docs/deploy.md).
TRUSTED_PROXIES = [proxy.strip() for proxy in os.environ.get('TRUSTED_PROXIES', '').split(',') if proxy.strip()]
