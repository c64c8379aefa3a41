"""Settings of the blog.

Panther reads the upper-case globals of this module. Everything that differs between a laptop and a deployment
comes from an environment variable, with a default that is safe for local development:

| variable             | default                           | effect                                          |
|----------------------|-----------------------------------|-------------------------------------------------|
| `SECRET_KEY`         | published: needs `PANTHER_DEV=1`  | signs the JWTs kept in the cookies              |
| `BLOG_DB_PATH`       | `examples/blog/blog.pdb`          | file of the embedded database                   |
| `MONGODB_URL`        | unset                             | use MongoDB instead of the embedded file        |
| `BLOG_UPLOAD_DIR`    | `examples/blog/uploads`           | where cover images are written                  |
| `BLOG_COOKIE_SECURE` | `false`                           | `true` behind HTTPS: cookies only over HTTPS    |
| `BLOG_BASE_URL`      | `http://127.0.0.1:8000`           | the site's address, for absolute links (feed)   |
| `REDIS_HOST`         | unset                             | share cache, throttling and logouts via Redis   |
| `REDIS_PORT`         | `6379`                            |                                                 |
| `TRUSTED_PROXIES`    | unset                             | proxies whose `X-Forwarded-For` is believed     |
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
        # The database name comes from the URL path, e.g. mongodb://mongo:27017/blog.
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
            'path': os.environ.get('BLOG_DB_PATH') or example_dir / 'blog.pdb',
        },
    }


def redis_settings() -> dict[str, Any] | None:
    host = os.environ.get('REDIS_HOST')
    if not host:
        # Without Redis the feed cache, throttle counters and logged-out tokens live in this process's memory.
        return None
    return {'host': host, 'port': int(os.environ.get('REDIS_PORT', '6379'))}


# Development default only: it is published, so anyone can mint tokens with it. Panther refuses to start with it
# unless PANTHER_DEV=1 (./scripts/run sets that). Set SECRET_KEY in every deployment, e.g. to the output of
# `python -c "from panther.utils import generate_secret_key; print(generate_secret_key())"`.
SECRET_KEY = os.environ.get('SECRET_KEY') or 'dev-only-insecure-blog-key-change-me-0123456789abcdef'

DATABASE = database_settings()
REDIS = redis_settings()

URLs = 'examples.blog.core.urls.url_routing'
TEMPLATES_DIR = str(example_dir / 'templates')

USER_MODEL = 'examples.blog.app.models.User'
# The access token travels in the `access_token` cookie; the refresh token in `refresh_token` (see apis.py).
AUTHENTICATION = 'panther.authentications.CookieJWTAuthentication'
JWT_CONFIG = {
    'life_time': timedelta(minutes=15),
    'refresh_life_time': timedelta(days=7),
}

# Refuse cross-site writes even from browsers that would send the cookies (see app/middlewares.py).
MIDDLEWARES = ['examples.blog.app.middlewares.SameOriginWritesMiddleware']

# Covers are at most 4 MiB; a bigger request body is refused with 413 before it is read.
MAX_BODY_SIZE = 5 * 1024 * 1024

# Custom settings, read by the app as `config.UPLOAD_DIR` and `config.COOKIE_SECURE`.
UPLOAD_DIR = Path(os.environ.get('BLOG_UPLOAD_DIR') or example_dir / 'uploads').resolve()
# Covers uploaded through the admin panel are saved there too.
MEDIA_ROOT = UPLOAD_DIR
COOKIE_SECURE = os.environ.get('BLOG_COOKIE_SECURE', 'false').strip().lower() in {'1', 'true', 'yes', 'on'}

# Absolute links (the Atom feed) are built from this, never from the `Host` header a client sends.
BASE_URL = os.environ.get('BLOG_BASE_URL') or 'http://127.0.0.1:8000'

TIMEZONE = 'UTC'

# Behind a reverse proxy (docker compose, nginx): its addresses or networks, comma-separated, e.g. 172.16.0.0/12.
# Only then is `X-Forwarded-For` believed, so each client gets its own throttle bucket (docs/deploy.md).
TRUSTED_PROXIES = [proxy.strip() for proxy in os.environ.get('TRUSTED_PROXIES', '').split(',') if proxy.strip()]
