"""Permissions: only a truthy result grants, for classes, async and sync functions, HTTP and websockets."""

from __future__ import annotations

from typing import Any

import pytest

from panther import Panther
from panther.app import API, GenericAPI
from panther.base_request import BaseRequest
from panther.permissions import BasePermission, IsAuthenticated, IsAuthenticatedOrReadonly
from panther.request import Request
from panther.test import APIClient, WebsocketClient
from panther.websocket import GenericWebsocket


def make_request(method: str = 'GET', user: Any = None) -> Request:
    async def receive() -> dict[str, Any]:
        return {'type': 'http.request', 'body': b''}

    async def send(message: dict[str, Any]) -> None:
        return None

    request = Request({'type': 'http', 'method': method, 'path': '/', 'headers': []}, receive, send)
    request.user = user
    return request


async def test_base_permission_grants() -> None:
    assert await BasePermission()(make_request()) is True


@pytest.mark.parametrize(('user', 'expected'), [(None, False), ('', False), ({'id': 1}, True), ('ali', True)])
async def test_is_authenticated(user: Any, expected: bool) -> None:
    assert await IsAuthenticated()(make_request(user=user)) is expected


@pytest.mark.parametrize(
    ('method', 'user', 'expected'),
    [
        ('GET', None, True),
        ('HEAD', None, True),
        ('POST', None, False),
        ('PUT', None, False),
        ('PATCH', None, False),
        ('DELETE', None, False),
        ('OPTIONS', None, False),
        ('POST', 'ali', True),
        ('DELETE', 'ali', True),
    ],
)
async def test_is_authenticated_or_readonly(method: str, user: Any, expected: bool) -> None:
    assert await IsAuthenticatedOrReadonly()(make_request(method, user)) is expected


async def test_readonly_on_a_websocket_connection_needs_a_user() -> None:
    connection = BaseRequest({'type': 'websocket', 'path': '/', 'headers': []}, None, None)  # type: ignore[arg-type]
    assert await IsAuthenticatedOrReadonly()(connection) is False
    connection.user = 'ali'
    assert await IsAuthenticatedOrReadonly()(connection) is True


# --- through the app -------------------------------------------------------------------------------------------


async def fake_auth(request: Request) -> str | None:
    return request.headers.get('x-user')


async def returns_none(request: Request) -> None:
    # A forgotten `return True`: must deny, not grant.
    return None


def sync_is_admin(request: Request) -> bool:
    return request.user == 'admin'


class IsAdmin(BasePermission):
    async def __call__(self, request: Request) -> bool:
        return request.user == 'admin'


class RecordsCalls(BasePermission):
    calls: list[str] = []

    async def __call__(self, request: Request) -> bool:
        RecordsCalls.calls.append(request.path)
        return True


@API(auth=fake_auth, permissions=[IsAuthenticated, IsAdmin])
async def admin_only() -> str:
    return 'welcome'


@API(auth=fake_auth, permissions=returns_none)
async def forgetful() -> str:
    return 'should not be reached'


@API(auth=fake_auth, permissions=[sync_is_admin])
async def sync_checked() -> str:
    return 'sync ok'


@API(auth=fake_auth, permissions=[IsAdmin, RecordsCalls])
async def stops_at_first_denial() -> str:
    return 'ok'


class Articles(GenericAPI):
    auth = fake_auth
    permissions = IsAuthenticatedOrReadonly

    async def get(self) -> str:
        return 'read'

    async def post(self) -> str:
        return 'written'


class AdminSocket(GenericWebsocket):
    auth = fake_auth
    permissions = [IsAdmin]

    async def connect(self, **kwargs: Any) -> None:
        await self.accept()
        await self.close()


URLS = {
    'admin': admin_only,
    'forgetful': forgetful,
    'sync': sync_checked,
    'first': stops_at_first_denial,
    'articles': Articles,
    'ws': AdminSocket,
}


@pytest.fixture
def client() -> APIClient:
    return APIClient(app=Panther(__name__, configs=__name__, urls=URLS))


async def test_app_class_permissions(client: APIClient) -> None:
    assert (await client.get('/admin', headers={'X-User': 'admin'})).data == 'welcome'
    response = await client.get('/admin')
    assert (response.status_code, response.data) == (401, {'detail': 'Authentication Error'})
    response = await client.get('/admin', headers={'X-User': 'ali'})
    assert (response.status_code, response.data) == (403, {'detail': 'Permission Denied'})


async def test_app_none_denies(client: APIClient) -> None:
    response = await client.get('/forgetful', headers={'X-User': 'admin'})
    assert response.status_code == 403


async def test_app_sync_function_permission(client: APIClient) -> None:
    assert (await client.get('/sync', headers={'X-User': 'admin'})).data == 'sync ok'
    assert (await client.get('/sync', headers={'X-User': 'ali'})).status_code == 403


async def test_app_permissions_stop_at_the_first_denial(client: APIClient) -> None:
    RecordsCalls.calls = []
    assert (await client.get('/first', headers={'X-User': 'ali'})).status_code == 403
    assert RecordsCalls.calls == []
    assert (await client.get('/first', headers={'X-User': 'admin'})).status_code == 200
    assert RecordsCalls.calls == ['/first']


async def test_app_readonly_generic_api(client: APIClient) -> None:
    assert (await client.get('/articles')).data == 'read'
    assert (await client.post('/articles')).status_code == 401
    assert (await client.post('/articles', headers={'X-User': 'ali'})).data == 'written'


async def test_app_websocket_permissions(client: APIClient) -> None:
    denied = await WebsocketClient(client.app).aconnect('/ws', headers={'X-User': 'ali'})
    # Refused in the handshake with 403, never accepted.
    assert [m['type'] for m in denied] == ['websocket.http.response.start', 'websocket.http.response.body']
    assert denied[0]['status'] == 403
    allowed = await WebsocketClient(client.app).aconnect('/ws', headers={'X-User': 'admin'})
    assert allowed[0]['type'] == 'websocket.accept'
