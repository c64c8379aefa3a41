"""Files `panther create` writes. A nested dict is a directory; `{{NAME}}` marks are filled in by the command.

`TEMPLATE` is the multi-file layout of `examples/canonical` (app/ and core/); `SINGLE_FILE_TEMPLATE` keeps the
whole app in main.py. Both carry a pytest configuration and a test, so `pytest` passes in a fresh project.
"""

from __future__ import annotations

from typing import Union

__all__ = [
    'AUTHENTICATION_SNIPPET',
    'MODELS_WITHOUT_DATABASE',
    'MODELS_WITH_USER',
    'MONGODB_SNIPPET',
    'PANTHERDB_SNIPPET',
    'REDIS_SNIPPET',
    'SINGLE_FILE_TEMPLATE',
    'SINGLE_FILE_USER',
    'SINGLE_FILE_USER_IMPORT',
    'TEMPLATE',
    'TIMEDELTA_IMPORT',
    'Template',
]

# str: a file's text; dict: a directory. (`Union`, not `|`: this alias is evaluated at import on Python 3.10.)
Template = dict[str, Union[str, 'Template']]

# --- settings snippets, inserted at {{DATABASE}}, {{REDIS}} and {{AUTHENTICATION}} --------------------------------

PANTHERDB_SNIPPET = """
# The embedded database: one SQLite file. DATABASE_PATH moves it (tests point it at a temporary file).
DATABASE = {
    'engine': {
        'class': 'panther.db.connections.PantherDBConnection',
        'path': os.environ.get('DATABASE_PATH') or BASE_DIR / 'database.pdb',
    },
}
USER_MODEL = '{{USER_MODEL}}'
"""

MONGODB_SNIPPET = """
# The database name is the path of the URL.
DATABASE = {
    'engine': {
        'class': 'panther.db.connections.MongoDBConnection',
        'host': os.environ.get('MONGODB_URL') or 'mongodb://127.0.0.1:27017/{{PROJECT_NAME}}',
    },
}
USER_MODEL = '{{USER_MODEL}}'
"""

REDIS_SNIPPET = """
# Shared by every worker: response cache, throttle counters and revoked tokens.
REDIS = {
    'host': os.environ.get('REDIS_HOST') or '127.0.0.1',
    'port': int(os.environ.get('REDIS_PORT') or 6379),
}
"""

AUTHENTICATION_SNIPPET = """
AUTHENTICATION = 'panther.authentications.JWTAuthentication'
JWT_CONFIG = {
    'life_time': timedelta(minutes=15),
    'refresh_life_time': timedelta(days=7),
}
"""

TIMEDELTA_IMPORT = 'from datetime import timedelta\n'

# --- files of both layouts -----------------------------------------------------------------------------------

# `load_env` copies it over `os.environ`, so only what differs per checkout belongs here.
_ENV = """# Read by the settings at start-up. Keep this file out of version control: the key signs the tokens.
SECRET_KEY={{SECRET_KEY}}
"""

_GITIGNORE = """__pycache__/
*.py[cod]
.venv/
.env
logs/
/database.pdb
/database.pdb-*
"""

_REQUIREMENTS = """panther=={{PANTHER_VERSION}}
{{REQUIREMENTS_EXTRA}}# For the tests:
pytest
pytest-asyncio
"""

_PYPROJECT = """[tool.pytest.ini_options]
testpaths = ["tests"]
pythonpath = ["."]
asyncio_mode = "auto"
asyncio_default_fixture_loop_scope = "function"
"""

_README = """# {{PROJECT_NAME}}

A [Panther](https://github.com/AliRn76/panther) project.

```shell
pip install -r requirements.txt
panther run main:app --reload    # serve on http://127.0.0.1:8000
pytest                           # run the tests
```

`.env` holds the `SECRET_KEY` this project was created with; give every deployment its own key
(`python -c "from panther.utils import generate_secret_key; print(generate_secret_key())"`).
{{README_EXTRA}}"""

_CONFTEST = """import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True, scope='session')
def _test_database(tmp_path_factory: pytest.TempPathFactory) -> None:
    # Set before the app is imported, so the tests never touch the development database.
    os.environ['DATABASE_PATH'] = str(Path(tmp_path_factory.mktemp('db')) / 'test.pdb')
"""

_TEST = """from panther.test import APIClient


async def test_hello_world() -> None:
    from main import app

    async with APIClient(app=app) as client:
        response = await client.get('/')
    assert response.status_code == 200
    assert response.data == {'detail': 'Hello World'}


async def test_unknown_path_is_404() -> None:
    from main import app

    async with APIClient(app=app) as client:
        response = await client.get('/no-such-page/')
    assert response.status_code == 404
"""

# --- multi-file layout ---------------------------------------------------------------------------------------

_MAIN = """\"\"\"Entry point: `panther run main:app --reload` in this directory.\"\"\"

from panther import Panther

app = Panther(__name__, configs='core.configs')
"""

_CONFIGS = """\"\"\"Settings of {{PROJECT_NAME}}: Panther reads the upper-case globals of this module.\"\"\"

import os
{{TIMEDELTA_IMPORT}}from pathlib import Path

from panther.utils import load_env

BASE_DIR = Path(__file__).resolve().parent.parent

# Deployments without a .env file set these variables in the environment instead.
if (BASE_DIR / '.env').is_file():
    load_env(BASE_DIR / '.env')

SECRET_KEY = os.environ['SECRET_KEY']
{{DATABASE}}{{REDIS}}{{AUTHENTICATION}}
MIDDLEWARES = [
    'core.middlewares.ServerTimingMiddleware',
    # One line per request in logs/monitoring.log; `panther monitor` shows them live.
    'panther.middlewares.monitoring.MonitoringMiddleware',
]

URLs = 'core.urls.url_routing'

TIMEZONE = 'UTC'
"""

_MIDDLEWARES = """\"\"\"Project middlewares, listed in `MIDDLEWARES` in core/configs.py.\"\"\"

import time

from panther.middlewares.base import HTTPMiddleware
from panther.request import Request
from panther.response import Response


class ServerTimingMiddleware(HTTPMiddleware):
    \"\"\"Tells the browser's developer tools how long the server took (the `Server-Timing` header).\"\"\"

    async def __call__(self, request: Request) -> Response:
        start = time.perf_counter()
        response = await self.dispatch(request=request)
        response.headers['Server-Timing'] = f'app;dur={(time.perf_counter() - start) * 1000:.1f}'
        return response
"""

_CORE_URLS = """\"\"\"The root routing table (`URLs` in core/configs.py points here).\"\"\"

from app.urls import url_routing as app_urls

url_routing = {
    '': app_urls,
}
"""

_APIS = """\"\"\"HTTP endpoints of the app, routed in app/urls.py.\"\"\"

from datetime import timedelta

from app.serializers import MessageOut
from panther.app import API
from panther.request import Request


# Cached for a minute: repeated GETs are answered without running the function.
@API(methods=['GET'], output_model=MessageOut, cache=timedelta(minutes=1))
async def hello_world(request: Request) -> dict[str, str]:
    return {'detail': 'Hello World'}
"""

_SERIALIZERS = """\"\"\"Request and response shapes (pydantic models).\"\"\"

from pydantic import BaseModel


class MessageOut(BaseModel):
    detail: str
"""

MODELS_WITH_USER = """\"\"\"Stored documents: each class is a table (embedded database) or a collection (MongoDB).\"\"\"

from panther.db.models import BaseUser


class User(BaseUser):
    \"\"\"`USER_MODEL` in core/configs.py; create one with `panther createuser main.py`.\"\"\"
"""

MODELS_WITHOUT_DATABASE = (
    '"""Stored documents (`panther.db.Model` subclasses) go here once `DATABASE` is set in core/configs.py."""\n'
)

_APP_URLS = """\"\"\"Routes of the app, mounted under `/` by core/urls.py.\"\"\"

from app.apis import hello_world

url_routing = {
    '': hello_world,
}
"""

TEMPLATE: Template = {
    'app': {
        '__init__.py': '',
        'apis.py': _APIS,
        'models.py': '{{MODELS}}',
        'serializers.py': _SERIALIZERS,
        'urls.py': _APP_URLS,
    },
    'core': {
        '__init__.py': '',
        'configs.py': _CONFIGS,
        'middlewares.py': _MIDDLEWARES,
        'urls.py': _CORE_URLS,
    },
    'tests': {
        'conftest.py': _CONFTEST,
        'test_apis.py': _TEST,
    },
    'main.py': _MAIN,
    '.env': _ENV,
    '.gitignore': _GITIGNORE,
    'requirements.txt': _REQUIREMENTS,
    'pyproject.toml': _PYPROJECT,
    'README.md': _README,
}

# --- single-file layout --------------------------------------------------------------------------------------

_SINGLE_MAIN = """\"\"\"{{PROJECT_NAME}}: the whole app in one file; serve it: `panther run main:app --reload`.\"\"\"

import os
from datetime import timedelta
from pathlib import Path

from pydantic import BaseModel

from panther import Panther
from panther.app import API
{{USER_IMPORT}}from panther.request import Request
from panther.utils import load_env

BASE_DIR = Path(__file__).resolve().parent

# Deployments without a .env file set these variables in the environment instead.
if (BASE_DIR / '.env').is_file():
    load_env(BASE_DIR / '.env')

SECRET_KEY = os.environ['SECRET_KEY']
{{DATABASE}}{{REDIS}}{{AUTHENTICATION}}
# One line per request in logs/monitoring.log; `panther monitor` shows them live.
MIDDLEWARES = ['panther.middlewares.monitoring.MonitoringMiddleware']
{{SINGLE_FILE_USER}}

class MessageOut(BaseModel):
    detail: str


# Cached for a minute: repeated GETs are answered without running the function.
@API(methods=['GET'], output_model=MessageOut, cache=timedelta(minutes=1))
async def hello_world(request: Request) -> dict[str, str]:
    return {'detail': 'Hello World'}


url_routing = {
    '': hello_world,
}

app = Panther(__name__, configs=__name__, urls=url_routing)
"""

SINGLE_FILE_USER_IMPORT = 'from panther.db.models import BaseUser\n'
SINGLE_FILE_USER = """

class User(BaseUser):
    \"\"\"`USER_MODEL`; create one with `panther createuser main.py`.\"\"\"
"""

SINGLE_FILE_TEMPLATE: Template = {
    'tests': {
        'conftest.py': _CONFTEST,
        'test_main.py': _TEST,
    },
    'main.py': _SINGLE_MAIN,
    '.env': _ENV,
    '.gitignore': _GITIGNORE,
    'requirements.txt': _REQUIREMENTS,
    'pyproject.toml': _PYPROJECT,
    'README.md': _README,
}
