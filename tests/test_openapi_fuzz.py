"""Schema-driven fuzzing: schemathesis generates requests from each example app's OpenAPI document and checks
every answer against it (no 5xx; status code, content type, headers and body as documented).

The app runs in-process (schemathesis' ASGI transport, with the app's start-up and shutdown hooks). A user is
signed up and logged in through the app's own endpoints first, and each operation gets the credentials its
`security` names. Runs are bounded and deterministic: few examples per operation, derandomized, no example database.
"""

from __future__ import annotations

import importlib
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from panther.events import Event

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
BASE_URL = f'http://{asgi.HOST}'
USERNAME = 'fuzzer'
PASSWORD = 'fuzzing-password-1'
# Sign-up and log-in hash a password (scrypt, ~0.5 s) per request: they get fewer examples.
EXAMPLES = 8
SLOW_EXAMPLES = 2
ENVIRONMENT = ('PANTHER_DB_PATH', 'BLOG_DB_PATH', 'CHAT_DB_PATH', 'BLOG_UPLOAD_DIR', 'MONGODB_URL', 'REDIS_HOST')


def _fresh(name: str) -> ModuleType:
    module = sys.modules.get(name)
    return importlib.reload(module) if module is not None else importlib.import_module(name)


@pytest.fixture
def example_app(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for variable in ENVIRONMENT:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv('PANTHER_DB_PATH', str(tmp_path / 'canonical.pdb'))
    monkeypatch.setenv('BLOG_DB_PATH', str(tmp_path / 'blog.pdb'))
    monkeypatch.setenv('CHAT_DB_PATH', str(tmp_path / 'chat.pdb'))
    monkeypatch.setenv('BLOG_UPLOAD_DIR', str(tmp_path / 'uploads'))
    Event.clear()
    _fresh(f'examples.{request.param}.core.configs')
    app = _fresh(f'examples.{request.param}.main').app
    try:
        yield app
    finally:
        asgi.shutdown_lifespans()
        Event.clear()


def _operation_paths(schema: Any) -> dict[str, str]:
    paths = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        paths[operation.definition.raw.get('operationId')] = operation.path
    return paths


def _log_in(app: Any, paths: dict[str, str]) -> dict[str, str]:
    """Sign up and log in through the app; the tokens come from the body or, for cookie apps, from cookies."""
    client = asgi.get_client(app)
    headers = {'Origin': BASE_URL}
    credentials = {'username': USERNAME, 'password': PASSWORD}
    signed_up = client.post(BASE_URL + paths['sign_up_post'], json=credentials, headers=headers)
    assert signed_up.status_code == 201, signed_up.text
    logged_in = client.post(BASE_URL + paths['login_post'], json=credentials, headers=headers)
    assert logged_in.status_code == 200, logged_in.text
    body = logged_in.json()
    tokens = body if 'access_token' in body else dict(logged_in.cookies)
    assert tokens.get('access_token') and tokens.get('refresh_token'), tokens
    return tokens


def _credentials(security: list[dict[str, Any]], tokens: dict[str, str]) -> dict[str, dict[str, str]]:
    """Headers and cookies for the first security requirement of an operation (anonymous when it has none)."""
    requirement = next((item for item in security if item), {})
    headers: dict[str, str] = {'Origin': BASE_URL}
    cookies: dict[str, str] = {}
    for scheme in requirement:
        token = tokens['refresh_token'] if scheme.startswith('Refresh') else tokens['access_token']
        if scheme.endswith('BearerAuth'):
            headers['Authorization'] = f'Bearer {token}'
        elif scheme.endswith('CookieAuth'):
            cookies['refresh_token' if scheme.startswith('Refresh') else 'access_token'] = token
    return {'headers': headers, 'cookies': cookies}


def _ends_session(operation: Any) -> bool:
    """Refreshing spends the session's tokens and logging out revokes them: those run after everything else."""
    security = operation.definition.raw.get('security') or []
    refreshes = any(name.startswith('Refresh') for requirement in security for name in requirement)
    return refreshes or str(operation.definition.raw.get('operationId', '')).startswith('logout')


def _fuzz(operation: Any, tokens: dict[str, str], statuses: dict[str, list[int]]) -> None:
    operation_id = operation.definition.raw.get('operationId')
    slow = operation_id in ('sign_up_post', 'login_post')
    credentials = _credentials(operation.definition.raw.get('security') or [], tokens)

    @settings(
        max_examples=SLOW_EXAMPLES if slow else EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def run(case: Any) -> None:
        response = case.call_and_validate(checks=CHECKS, **credentials)
        statuses[operation_id].append(response.status_code)

    run()


@pytest.fixture
def signed_in(example_app: Any) -> tuple[Any, dict[str, str]]:
    """The app's schema, and the tokens of a user signed up and logged in through the app's own endpoints."""
    schema = schemathesis.openapi.from_asgi('/docs/openapi.json', example_app)
    return schema, _log_in(example_app, _operation_paths(schema))


@pytest.mark.parametrize('example_app', ['canonical', 'blog', 'chat'], indirect=True)
def test_example_app_answers_as_its_document_says(signed_in: tuple[Any, dict[str, str]]) -> None:
    schema, tokens = signed_in
    operations = sorted((result.ok() for result in schema.get_all_operations()), key=_ends_session)
    statuses: dict[str, list[int]] = defaultdict(list)
    for operation in operations:
        _fuzz(operation, tokens, statuses)
    assert len(statuses) == len(operations)
    # The credentials worked: an operation that needs them answered with a success at least once.
    protected = [
        operation.definition.raw['operationId']
        for operation in operations
        if (security := operation.definition.raw.get('security')) and all(security)
    ]
    assert protected
    assert any(200 <= code < 300 for name in protected for code in statuses[name]), dict(statuses)
