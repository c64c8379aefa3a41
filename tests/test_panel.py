"""The admin panel through APIClient, on both engines: sessions, CSRF, forms, lists, files and bad input."""

from __future__ import annotations

import datetime as dt
import enum
import re
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any, Literal

import jwt
import pytest
from pydantic import BaseModel, Field

import panther.panel.urls
from panther import Panther
from panther.configs import config
from panther.db import Model
from panther.db.connections import load_database
from panther.db.models import BaseUser, OnDelete
from panther.exceptions import PantherError
from panther.file_handler import File, Image
from panther.middlewares.cors import CORSMiddleware
from panther.panel import create_admin, hide, register
from panther.panel.authentications import AdminCookieJWTAuthentication
from panther.panel.registry import _registry
from panther.test import APIClient

SECRET_KEY = 'panel-tests-secret-key-0123456789abcdefghijkl'
PNG = b'\x89PNG\r\n\x1a\n' + b'\x00' * 64
FORM = 'application/x-www-form-urlencoded'
USER_MODEL = 'tests.test_panel.PanelUser'


class Color(enum.Enum):
    RED = 'red'
    BLUE = 'blue'


class Address(BaseModel):
    city: str
    zip_code: int


class PanelUser(BaseUser):
    is_admin: bool = False


class Tag(Model):
    name: str


class Gadget(Model):
    title: str = Field(min_length=1, max_length=100)
    stock: int = 0
    ratio: float = 1.5
    active: bool = False
    born: dt.date | None = None
    seen_at: dt.datetime | None = None
    color: Color = Color.RED
    size: Literal['s', 'm'] = 's'
    note: str | None = None
    address: Address
    extra: dict[str, Any] = Field(default_factory=dict)
    owner: PanelUser | None = None
    tags: list[Tag] = Field(default_factory=list)
    picture: Image | None = None
    attachment: File | None = None
    code: str = 'fixed'


class Hidden(Model):
    name: str


class Level(enum.Enum):
    LOW = 1
    HIGH = 2


class Ticket(Model):
    level: Level = Level.LOW
    weight: Literal[1, 2, 3] = 1


class Shelf(Model):
    tag: Annotated[Tag, OnDelete.PROTECT]


MODELS = [Tag, Gadget, Hidden, Ticket, Shelf]


@pytest.fixture(params=['sqlite', pytest.param('mongodb', marks=pytest.mark.mongodb)])
async def client(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Any]:
    monkeypatch.chdir(tmp_path)
    if request.param == 'sqlite':
        engine = {'class': 'panther.db.connections.PantherDBConnection', 'path': tmp_path / 'panel.sqlite3'}
    else:
        host, port = request.getfixturevalue('mongodb_address')
        engine = {
            'class': 'panther.db.connections.MongoDBConnection',
            'host': f'mongodb://{host}:{port}',
            'database': f'panther_panel_{uuid.uuid4().hex[:12]}',
        }
    load_database({'engine': engine})
    app = Panther(__name__, configs=__name__, urls={'admin/': panther.panel.urls.url_routing})
    config.MODELS.extend(model for model in MODELS if model not in config.MODELS)
    config.MEDIA_ROOT = str(tmp_path / 'media')
    register(Gadget, readonly_fields=['code'], per_page=5, list_display=['title', 'stock', 'active', 'owner'])
    hide(Hidden)
    async with APIClient(app) as api:
        yield api
        if request.param == 'mongodb':
            await config.DATABASE.client.drop_database(config.DATABASE.session.name)
    _registry.clear()


# A password hash made once: hashing costs ~0.5 s, so most tests sign in with minted tokens instead.
_hash_cache: dict[str, str] = {}


async def make_user(username: str, *, admin: bool, password: str = 'secret') -> PanelUser:
    user = await PanelUser.insert_one(username=username, is_admin=admin)
    if password not in _hash_cache:
        await user.set_password(password)
        _hash_cache[password] = user.password
    else:
        await user.update(password=_hash_cache[password])
    return user


async def sign_in(api: APIClient, user: PanelUser) -> str:
    tokens = await AdminCookieJWTAuthentication.login(user)
    api.cookies['access_token'] = tokens['access_token']
    api.cookies['refresh_token'] = tokens['refresh_token']
    return tokens['access_token']


def index_of(model: type) -> int:
    return config.MODELS.index(model)


def token_in(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert found, 'the page has no CSRF token'
    return found.group(1)


def version_in(html: str) -> str:
    found = re.search(r'name="_version" value="([0-9a-f]+)"', html)
    assert found
    return found.group(1)


async def admin_session(api: APIClient) -> PanelUser:
    admin = await make_user('root', admin=True)
    await sign_in(api, admin)
    return admin


async def form_token(api: APIClient, path: str) -> str:
    page = await api.get(path)
    assert page.status_code == 200, page.data
    return token_in(page.data)


def gadget_form(token: str, **changes: Any) -> dict[str, Any]:
    form = {
        'csrf_token': token,
        'title': 'Lamp',
        'stock': '3',
        'ratio': '2.5',
        'active': 'on',
        'born': '2020-02-29',
        'seen_at': '2024-01-02T03:04:05',
        'color': 'blue',
        'size': 'm',
        'note': '',
        'address.city': 'Oslo',
        'address.zip_code': '150',
        'extra': '{"shelf": [1, 2]}',
    }
    form.update(changes)
    return {key: value for key, value in form.items() if value is not None}


# --- sessions ---------------------------------------------------------------------------------------------------


async def test_anonymous_visitors_are_sent_to_the_login_page(client):
    for path in ('/admin/', f'/admin/{index_of(Gadget)}/', f'/admin/{index_of(Gadget)}/create/'):
        response = await client.get(path)
        assert response.status_code == 302
        assert response.headers['Location'] == f'/admin/login/?redirect_to={path}'
    login = await client.get('/admin/login/')
    assert login.status_code == 200
    assert 'name="password"' in login.data


async def test_login_sets_httponly_samesite_cookies_and_lists_models_with_counts(client):
    await make_user('root', admin=True)
    await Tag.insert_one(name='a')
    await Tag.insert_one(name='b')
    token = await form_token(client, '/admin/login/')
    response = await client.post(
        '/admin/login/?redirect_to=/admin/1/',
        payload={'csrf_token': token, 'username': 'root', 'password': 'secret'},
        content_type=FORM,
    )
    assert response.status_code == 302
    assert response.headers['Location'] == '/admin/1/'
    cookies = {value.decode().split('=', 1)[0]: value.decode() for _, value in response.cookies}
    for name in ('access_token', 'refresh_token'):
        assert 'HttpOnly' in cookies[name] and 'SameSite=lax' in cookies[name]
        assert 'Secure' not in cookies[name]  # plain http here; https requests get Secure cookies
    home = await client.get('/admin/')
    assert home.status_code == 200
    assert re.search(r'data-count="Tag">2<', home.data)
    assert 'Gadget' in home.data and 'Hidden' not in home.data


async def test_login_over_https_marks_the_cookies_secure(client):
    await make_user('root', admin=True)
    page = await client.get('/admin/login/')
    csrf_cookie = next(value.decode() for _, value in page.cookies if value.startswith(b'panel_csrf='))
    assert 'HttpOnly' in csrf_cookie and 'SameSite=strict' in csrf_cookie
    body = f'csrf_token={token_in(page.data)}&username=root&password=secret'.encode()
    cookie = f'panel_csrf={client.cookies["panel_csrf"]}'.encode()
    status, headers = await asgi_post(client.app, '/admin/login/', body, [(b'cookie', cookie)], scheme='https')
    assert status == 302
    set_cookies = [value.decode() for name, value in headers if name.lower() == b'set-cookie']
    assert len(set_cookies) == 2 and all('Secure' in value for value in set_cookies)


async def asgi_post(
    app: Any, path: str, body: bytes, headers: list[tuple[bytes, bytes]], scheme: str
) -> tuple[int, list[tuple[bytes, bytes]]]:
    """One request straight through ASGI (APIClient always speaks plain http)."""
    scope = {
        'type': 'http',
        'asgi': {'version': '3.0'},
        'http_version': '1.1',
        'method': 'POST',
        'scheme': scheme,
        'path': path,
        'raw_path': path.encode(),
        'query_string': b'',
        'root_path': '',
        'headers': [(b'content-type', FORM.encode()), (b'host', b'admin.example'), *headers],
        'client': ('127.0.0.1', 50000),
        'server': ('admin.example', 443),
    }
    messages: list[dict[str, Any]] = []
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {'type': 'http.disconnect'}
        sent = True
        return {'type': 'http.request', 'body': body, 'more_body': False}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    await app(scope, receive, send)
    return messages[0]['status'], messages[0]['headers']


async def test_wrong_password_and_unknown_user_get_the_login_page_again(client):
    await make_user('root', admin=True)
    for username, password in (('root', 'wrong'), ('nobody', 'secret')):
        token = await form_token(client, '/admin/login/')
        response = await client.post(
            '/admin/login/',
            payload={'csrf_token': token, 'username': username, 'password': password},
            content_type=FORM,
        )
        assert response.status_code == 400
        assert 'the username or the password is wrong' in response.data
        assert 'access_token' not in client.cookies


async def test_users_who_are_not_staff_cannot_enter(client):
    member = await make_user('member', admin=False)
    token = await form_token(client, '/admin/login/')
    response = await client.post(
        '/admin/login/', payload={'csrf_token': token, 'username': 'member', 'password': 'secret'}, content_type=FORM
    )
    assert response.status_code == 403
    assert 'may not use the admin panel' in response.data
    assert 'access_token' not in client.cookies
    # A valid session of the app (e.g. its own login) is not enough either.
    await sign_in(client, member)
    response = await client.get('/admin/')
    assert response.status_code == 302
    assert response.headers['Location'] == '/admin/login/?redirect_to=/admin/&denied=1'
    page = await client.get(response.headers['Location'])
    assert 'may not use the admin panel' in page.data


async def test_the_staff_hook_decides_when_configured(client):
    member = await make_user('member', admin=False)
    await sign_in(client, member)
    config.ADMIN_PERMISSION = lambda user: user.username == 'member'
    assert (await client.get('/admin/')).status_code == 200
    config.ADMIN_PERMISSION = 'builtins.bool'  # a dotted path works too; bool(user) is True
    assert (await client.get('/admin/')).status_code == 200


async def test_forged_expired_and_garbage_cookies_are_sent_to_the_login_page(client):
    admin = await make_user('root', admin=True)
    now = int(time.time())
    claims = {'token_type': 'access', 'user_id': str(admin.id), 'iat': now, 'exp': now + 600}
    forged = jwt.encode(claims, 'another-key-that-is-long-enough-to-sign-0123', algorithm='HS256')
    expired = jwt.encode({**claims, 'iat': now - 1200, 'exp': now - 600}, SECRET_KEY, algorithm='HS256')
    refresh_as_access = jwt.encode({**claims, 'token_type': 'refresh'}, SECRET_KEY, algorithm='HS256')
    for value in (
        forged,
        expired,
        refresh_as_access,
        'not-a-token',
        jwt.encode({**claims, 'user_id': {'$ne': None}}, SECRET_KEY),
    ):
        client.cookies['access_token'] = value
        response = await client.get('/admin/')
        assert response.status_code == 302, value
        assert response.headers['Location'].startswith('/admin/login/')


async def test_logout_revokes_the_session(client):
    admin = await make_user('root', admin=True)
    access = await sign_in(client, admin)
    token = await form_token(client, '/admin/')
    response = await client.post('/admin/logout/', payload={'csrf_token': token}, content_type=FORM)
    assert response.status_code == 302
    assert response.headers['Location'] == '/admin/login/'
    assert 'access_token' not in client.cookies
    client.cookies['access_token'] = access  # replaying the old cookie
    assert (await client.get('/admin/')).status_code == 302


async def test_login_attempts_are_throttled_per_client(client):
    for _ in range(30):
        page = await client.get('/admin/login/')
        assert page.status_code == 200
    payload = {'csrf_token': token_in(page.data), 'username': 'root', 'password': 'x'}
    response = await client.post('/admin/login/', payload=payload, content_type=FORM)
    assert response.status_code == 429
    assert response.headers['Content-Type'].startswith('text/html') and 'Retry-After' in response.headers


async def test_after_login_only_paths_inside_the_panel_are_followed(client):
    await make_user('root', admin=True)
    for target in ('//evil.example/', 'https://evil.example/', '/elsewhere/'):
        token = await form_token(client, '/admin/login/')
        response = await client.post(
            '/admin/login/',
            payload={'csrf_token': token, 'username': 'root', 'password': 'secret', 'redirect_to': target},
            content_type=FORM,
        )
        assert response.headers['Location'] == '/admin/'


# --- CSRF and headers ---------------------------------------------------------------------------------------------


async def test_state_changing_requests_without_the_right_csrf_token_are_refused(client):
    await admin_session(client)
    path = f'/admin/{index_of(Tag)}/create/'
    good = await form_token(client, path)
    for payload in ({'name': 'x'}, {'name': 'x', 'csrf_token': 'f' * 64}, {'name': 'x', 'csrf_token': ''}):
        response = await client.post(path, payload=payload, content_type=FORM)
        assert response.status_code == 403
        assert 'CSRF' in response.data
    # A token is bound to its browser: with another nonce cookie the same token is worthless.
    nonce = client.cookies['panel_csrf']
    client.cookies['panel_csrf'] = 'a' * 32
    response = await client.post(path, payload={'name': 'x', 'csrf_token': good}, content_type=FORM)
    assert response.status_code == 403
    client.cookies['panel_csrf'] = nonce
    assert await Tag.count() == 0
    response = await client.post(path, payload={'name': 'x', 'csrf_token': good}, content_type=FORM)
    assert response.status_code == 302
    assert await Tag.count() == 1


async def test_a_token_from_another_session_is_refused(client):
    admin = await admin_session(client)
    token = await form_token(client, f'/admin/{index_of(Tag)}/create/')
    await sign_in(client, admin)  # a new session (new `sid`): the old form's token no longer matches
    response = await client.post(
        f'/admin/{index_of(Tag)}/create/', payload={'name': 'x', 'csrf_token': token}, content_type=FORM
    )
    assert response.status_code == 403
    assert await Tag.count() == 0


async def test_the_login_form_needs_its_csrf_token_too(client):
    await make_user('root', admin=True)
    await client.get('/admin/login/')
    response = await client.post('/admin/login/', payload={'username': 'root', 'password': 'secret'}, content_type=FORM)
    assert response.status_code == 403
    assert 'access_token' not in client.cookies


async def test_admin_pages_forbid_framing_and_carry_a_strict_csp(client):
    await admin_session(client)
    for path in ('/admin/', '/admin/login/', '/admin/999/', f'/admin/{index_of(Gadget)}/create/'):
        response = await client.get(path)
        assert response.headers['X-Frame-Options'] == 'DENY'
        csp = response.headers['Content-Security-Policy']
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
        assert 'unsafe-inline' not in csp


async def test_without_a_signing_key_the_panel_says_what_is_missing(client, caplog):
    config.JWT_CONFIG = None
    config.SECRET_KEY = None
    response = await client.get('/admin/login/')
    assert response.status_code == 500
    assert 'SECRET_KEY' in response.data and 'SECRET_KEY' in caplog.text


async def test_without_a_user_model_the_panel_says_what_is_missing(client):
    config.USER_MODEL = None
    response = await client.get('/admin/login/')
    assert response.status_code == 500 and 'USER_MODEL' in response.data


async def test_static_files_are_served_from_the_package(client):
    css = await client.get('/admin/static/panel.css')
    assert css.status_code == 200 and css.headers['Content-Type'].startswith('text/css')
    js = await client.get('/admin/static/panel.js')
    assert js.status_code == 200 and 'select-all' in js.data
    assert (await client.get('/admin/static/base.html')).status_code == 404


# --- forms ------------------------------------------------------------------------------------------------------


async def test_create_and_edit_a_document_with_every_field_kind(client):
    admin = await admin_session(client)
    first, second = await Tag.insert_one(name='one'), await Tag.insert_one(name='two')
    path = f'/admin/{index_of(Gadget)}/create/'
    page = await client.get(path)
    assert 'one · ' in page.data and 'type="datetime-local"' in page.data and 'name="address.city"' in page.data
    form = gadget_form(token_in(page.data), owner=str(admin.id), code='set-once', **{f'tags[{first.id}]': 'on'})
    response = await client.post(path, payload=form, content_type=FORM)
    assert response.status_code == 302, response.data
    gadget = await Gadget.find_one(title='Lamp')
    assert (gadget.stock, gadget.ratio, gadget.active, gadget.born) == (3, 2.5, True, dt.date(2020, 2, 29))
    # Typed in TIMEZONE (UTC); MongoDB reads datetimes back as naive UTC.
    assert gadget.seen_at.replace(tzinfo=dt.timezone.utc) == dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    assert (gadget.color, gadget.size, gadget.note) == (Color.BLUE, 'm', None)
    assert gadget.address == Address(city='Oslo', zip_code=150)
    assert gadget.extra == {'shelf': [1, 2]}
    assert gadget.owner.id == admin.id and [tag.id for tag in gadget.tags] == [first.id]
    assert response.headers['Location'] == f'/admin/{index_of(Gadget)}/{gadget.id}/?created=1'

    detail = await client.get(response.headers['Location'])
    assert 'value="2024-01-02T03:04:05"' in detail.data and 'Created.' in detail.data
    edit = gadget_form(
        token_in(detail.data),
        _version=version_in(detail.data),
        title='Desk lamp',
        active=None,
        stock='4',
        color='red',
        note='bright',
        code='changed',  # read-only: ignored
        **{f'tags[{second.id}]': 'on'},
    )
    response = await client.post(f'/admin/{index_of(Gadget)}/{gadget.id}/', payload=edit, content_type=FORM)
    assert response.status_code == 302, response.data
    await gadget.reload()
    assert (gadget.title, gadget.stock, gadget.active, gadget.color, gadget.note) == (
        'Desk lamp',
        4,
        False,
        Color.RED,
        'bright',
    )
    assert gadget.owner is None and [tag.id for tag in gadget.tags] == [second.id]
    assert gadget.code == 'set-once'  # read-only: typed when created, never changed by an edit
    assert 'id="field-code">set-once<' in (await client.get(f'/admin/{index_of(Gadget)}/{gadget.id}/')).data


async def test_datetimes_are_shown_in_the_timezone_and_kept_when_unchanged(client):
    await admin_session(client)
    config.TIMEZONE = 'Asia/Tehran'  # UTC+03:30
    seen = dt.datetime(2024, 1, 2, 10, 0, tzinfo=dt.timezone.utc)
    gadget = await Gadget.insert_one(title='Lamp', address={'city': 'a', 'zip_code': 1}, seen_at=seen)
    path = f'/admin/{index_of(Gadget)}/{gadget.id}/'
    page = await client.get(path)
    assert 'name="seen_at" value="2024-01-02T13:30:00"' in page.data
    form = gadget_form(token_in(page.data), _version=version_in(page.data), seen_at='2024-01-02T13:30:00')
    assert (await client.post(path, payload=form, content_type=FORM)).status_code == 302
    await gadget.reload()
    assert gadget.seen_at.replace(tzinfo=gadget.seen_at.tzinfo or dt.timezone.utc) == seen
    page = await client.get(path)
    form = gadget_form(token_in(page.data), _version=version_in(page.data), seen_at='2024-01-02T14:00:00')
    assert (await client.post(path, payload=form, content_type=FORM)).status_code == 302
    await gadget.reload()
    moved = gadget.seen_at.replace(tzinfo=gadget.seen_at.tzinfo or dt.timezone.utc)
    assert moved == dt.datetime(2024, 1, 2, 10, 30, tzinfo=dt.timezone.utc)


async def test_choices_with_numeric_values(client):
    await admin_session(client)
    path = f'/admin/{index_of(Ticket)}/create/'
    token = await form_token(client, path)
    response = await client.post(path, payload={'csrf_token': token, 'level': '2', 'weight': '3'}, content_type=FORM)
    assert response.status_code == 302, response.data
    ticket = await Ticket.find_one()
    assert (ticket.level, ticket.weight) == (Level.HIGH, 3)
    response = await client.post(path, payload={'csrf_token': token, 'level': '7', 'weight': '3'}, content_type=FORM)
    assert response.status_code == 400 and 'id="errors-level"' in response.data
    listing = await client.get(f'/admin/{index_of(Ticket)}/', query_params={'f_level': '2', 'f_weight': '3'})
    assert str(ticket.id) in listing.data


async def test_invalid_values_are_shown_next_to_their_fields_and_nothing_is_stored(client):
    await admin_session(client)
    path = f'/admin/{index_of(Gadget)}/create/'
    form = gadget_form(
        await form_token(client, path),
        title='',
        stock='many',
        **{'address.zip_code': 'x', 'extra': '{not json', 'owner': 'missing-id', 'born': '2020-13-45'},
    )
    response = await client.post(path, payload=form, content_type=FORM)
    assert response.status_code == 400
    for name in ('title', 'stock', 'address.zip_code', 'extra', 'owner', 'born'):
        assert f'id="errors-{name}"' in response.data, name
    assert 'Invalid JSON' in response.data
    assert 'value="many"' in response.data  # the input is shown again
    assert await Gadget.count() == 0


async def test_numbers_too_large_to_store_are_form_errors(client):
    await admin_session(client)
    path = f'/admin/{index_of(Gadget)}/create/'
    response = await client.post(
        path, payload=gadget_form(await form_token(client, path), stock='9' * 30), content_type=FORM
    )
    assert response.status_code == 400 and 'too large to store' in response.data
    assert await Gadget.count() == 0
    # Inside JSON a number that large is read as a float (orjson), which both engines store.
    form = gadget_form(await form_token(client, path), extra='{"big": ' + '9' * 30 + '}')
    assert (await client.post(path, payload=form, content_type=FORM)).status_code == 302
    assert (await Gadget.find_one()).extra == {'big': 1e30}


BAD_INPUTS = [
    {'ratio': 'inf'},
    {'ratio': 'nan'},
    {'ratio': '1e999'},
    {'born': '0000-00-00'},
    {'seen_at': '9999-99-99T99:99'},
    {'seen_at': 'x' * 5000},
    {'color': 'green'},
    {'size': ''},
    {'owner': '../../etc/passwd'},
    {'owner': 'x' * 5000},
    {'tags[nope]': 'on'},
    {'extra': '[1, 2]'},
    {'extra': 'null'},
    {'address.zip_code': '-0'},
    {'title': 'nul \x00 byte'},
    {'picture__clear': 'on'},
]


async def test_bad_inputs_never_answer_500(client):
    await admin_session(client)
    path = f'/admin/{index_of(Gadget)}/create/'
    token = await form_token(client, path)
    for changes in BAD_INPUTS:
        response = await client.post(path, payload=gadget_form(token, **changes), content_type=FORM)
        assert response.status_code in (302, 400), (changes, response.status_code)
    broken = await client.post(path, payload=f'csrf_token={token}&title=%FF'.encode(), content_type=FORM)
    assert broken.status_code == 400  # not UTF-8
    base = f'/admin/{index_of(Gadget)}/'
    for params in (
        {'f_ratio': 'inf'},
        {'f_born': 'x'},
        {'f_owner': '$ne'},
        {'sort': '-'},
        {'q': '\\'},
        {'f_color': 'x'},
    ):
        assert (await client.get(base, query_params=params)).status_code == 200, params


async def test_a_stored_script_is_shown_as_text(client):
    await admin_session(client)
    gadget = await Gadget.insert_one(
        title='<script>alert(1)</script>', address={'city': '"><img src=x>', 'zip_code': 1}
    )
    for path in (f'/admin/{index_of(Gadget)}/', f'/admin/{index_of(Gadget)}/{gadget.id}/'):
        page = await client.get(path)
        assert '<script>alert(1)' not in page.data and '&lt;script&gt;alert(1)&lt;/script&gt;' in page.data
        assert '<img src=x>' not in page.data


async def test_user_passwords_go_through_set_password_and_are_never_shown(client):
    await admin_session(client)
    path = f'/admin/{index_of(PanelUser)}/create/'
    token = await form_token(client, path)
    response = await client.post(
        path, payload={'csrf_token': token, 'username': 'alice', 'password': 'pa55word'}, content_type=FORM
    )
    assert response.status_code == 302, response.data
    alice = await PanelUser.find_one(username='alice')
    assert alice.password != 'pa55word' and await alice.check_password('pa55word')
    detail = await client.get(response.headers['Location'])
    assert alice.password not in detail.data and 'type="password"' in detail.data
    listing = await client.get(f'/admin/{index_of(PanelUser)}/')
    assert alice.password not in listing.data
    # Saving with an empty password keeps the stored one.
    form = {
        'csrf_token': token_in(detail.data),
        '_version': version_in(detail.data),
        'username': 'alice2',
        'password': '',
    }
    response = await client.post(f'/admin/{index_of(PanelUser)}/{alice.id}/', payload=form, content_type=FORM)
    assert response.status_code == 302
    await alice.reload()
    assert alice.username == 'alice2' and await alice.check_password('pa55word')


async def test_image_upload_preview_and_refused_non_image(client):
    await admin_session(client)
    path = f'/admin/{index_of(Gadget)}/create/'
    form = gadget_form(await form_token(client, path))
    response = await client.post(path, payload=form, files={'picture': ('cat.png', PNG, 'image/png')})
    assert response.status_code == 302, response.data
    gadget = await Gadget.find_one(title='Lamp')
    with gadget.picture as picture:
        assert picture.read() == PNG
    detail = await client.get(response.headers['Location'])
    image_url = f'/admin/{index_of(Gadget)}/{gadget.id}/files/picture/'
    assert f'<img class="preview" src="{image_url}"' in detail.data
    image = await client.get(image_url)
    assert image.status_code == 200 and image.headers['Content-Type'] == 'image/png'
    # Files that are not images are downloads, never rendered in the panel's origin.
    form = gadget_form(token_in(detail.data), _version=version_in(detail.data))
    html = b'<html><script>alert(1)</script></html>'
    response = await client.post(
        f'/admin/{index_of(Gadget)}/{gadget.id}/', payload=form, files={'attachment': ('x.html', html, 'text/html')}
    )
    assert response.status_code == 302
    download = await client.get(f'/admin/{index_of(Gadget)}/{gadget.id}/files/attachment/')
    assert download.headers['Content-Disposition'] == 'attachment'
    assert 'sandbox' in download.headers['Content-Security-Policy']
    # An "image" that is not one: an error next to the field, nothing stored.
    form = gadget_form(await form_token(client, path), title='Fake')
    response = await client.post(
        path, payload=form, files={'picture': ('x.png', b'<svg onload=alert(1)>', 'image/png')}
    )
    assert response.status_code == 400
    assert 'id="errors-picture"' in response.data
    assert await Gadget.count(title='Fake') == 0


@pytest.mark.parametrize('middlewares', [[], [CORSMiddleware]], ids=['alone', 'behind-global-middlewares'])
async def test_a_huge_upload_gets_the_413_page(client, middlewares):
    # Global middlewares make the app read the body before them; the refusal still reaches the panel's page.
    config.HTTP_MIDDLEWARES = middlewares
    await admin_session(client)
    path = f'/admin/{index_of(Gadget)}/create/'
    token = await form_token(client, path)
    config.MAX_BODY_SIZE = 10_000
    response = await client.post(
        path, payload=gadget_form(token), files={'picture': ('big.png', PNG * 500, 'image/png')}
    )
    assert response.status_code == 413
    assert response.headers['Content-Type'].startswith('text/html')
    assert 'larger than 10000 bytes' in response.data
    assert await Gadget.count() == 0


# --- missing things ---------------------------------------------------------------------------------------------


async def test_unknown_models_and_documents_get_the_404_page(client):
    await admin_session(client)
    gadget = index_of(Gadget)
    paths = [
        '/admin/999/',
        '/admin/abc/',
        '/admin/-1/',
        f'/admin/{index_of(Hidden)}/',
        '/admin/999/create/',
        f'/admin/{gadget}/nope/',
        f'/admin/{gadget}/000000000000000000000000/',
        f'/admin/{gadget}/{"z" * 200}/',
        f'/admin/{gadget}/nope/delete/',
        f'/admin/{gadget}/nope/files/picture/',
    ]
    for path in paths:
        response = await client.get(path)
        assert response.status_code == 404, path
        assert response.headers['Content-Type'].startswith('text/html'), path
    existing = await Gadget.insert_one(title='x', address={'city': 'a', 'zip_code': 1})
    assert (await client.get(f'/admin/{gadget}/{existing.id}/files/title/')).status_code == 404
    assert (await client.get(f'/admin/{gadget}/{existing.id}/files/picture/')).status_code == 404
    token = await form_token(client, '/admin/')
    response = await client.post(f'/admin/{gadget}/nope/', payload={'csrf_token': token}, content_type=FORM)
    assert response.status_code == 404


async def test_a_path_without_its_trailing_slash_is_redirected(client):
    await admin_session(client)
    response = await client.get(f'/admin/{index_of(Gadget)}', query_params={'q': 'x'})
    assert response.status_code == 307
    assert response.headers['Location'] == f'/admin/{index_of(Gadget)}/?q=x'


async def test_a_stale_edit_is_refused_with_a_clear_message(client):
    await admin_session(client)
    gadget = await Gadget.insert_one(title='Lamp', address={'city': 'a', 'zip_code': 1})
    path = f'/admin/{index_of(Gadget)}/{gadget.id}/'
    page = await client.get(path)
    await Gadget.update_one({'id': gadget.id}, title='Changed elsewhere')  # another admin saved meanwhile
    form = gadget_form(token_in(page.data), _version=version_in(page.data), title='Mine')
    response = await client.post(path, payload=form, content_type=FORM)
    assert response.status_code == 409
    assert 'changed by someone else' in response.data
    assert 'value="Mine"' in response.data  # the input is kept
    await gadget.reload()
    assert gadget.title == 'Changed elsewhere'
    # The refused page carries the current version: saving again from it works.
    form = gadget_form(token_in(response.data), _version=version_in(response.data), title='Mine')
    assert (await client.post(path, payload=form, content_type=FORM)).status_code == 302
    await gadget.reload()
    assert gadget.title == 'Mine'


async def test_a_change_to_a_referenced_document_does_not_make_an_edit_stale(client):
    admin = await admin_session(client)
    gadget = await Gadget.insert_one(title='Lamp', address={'city': 'a', 'zip_code': 1}, owner=admin)
    path = f'/admin/{index_of(Gadget)}/{gadget.id}/'
    page = await client.get(path)
    await admin.update(last_login=dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc))  # e.g. the owner logs in
    form = gadget_form(token_in(page.data), _version=version_in(page.data), title='Mine', owner=str(admin.id))
    response = await client.post(path, payload=form, content_type=FORM)
    assert response.status_code == 302, response.data


# --- lists ------------------------------------------------------------------------------------------------------


async def test_list_search_filters_sorting_and_pages(client):
    await admin_session(client)
    await Gadget.insert_many(
        [
            {
                'title': f'{"Lamp" if n % 2 else "Desk"} {n:02}',
                'stock': n,
                'active': n % 3 == 0,
                'address': {'city': 'a', 'zip_code': n},
            }
            for n in range(12)
        ]
    )
    base = f'/admin/{index_of(Gadget)}/'
    page = await client.get(base, query_params={'sort': '-stock'})
    titles = re.findall(r'<td>((?:Lamp|Desk) \d\d)</td>', page.data)
    assert titles == ['Lamp 11', 'Desk 10', 'Lamp 09', 'Desk 08', 'Lamp 07']  # per_page=5
    assert 'Page 1 of 3' in page.data
    page = await client.get(base, query_params={'sort': '-stock', 'page': '3'})
    assert re.findall(r'<td>((?:Lamp|Desk) \d\d)</td>', page.data) == ['Lamp 01', 'Desk 00']
    assert 'Page 3 of 3' in page.data
    page = await client.get(base, query_params={'q': 'LAMP', 'sort': 'stock'})
    assert re.findall(r'<td>((?:Lamp|Desk) \d\d)</td>', page.data) == [
        'Lamp 01',
        'Lamp 03',
        'Lamp 05',
        'Lamp 07',
        'Lamp 09',
    ]
    page = await client.get(base, query_params={'f_active': 'true', 'sort': 'stock'})
    assert re.findall(r'<td>((?:Lamp|Desk) \d\d)</td>', page.data) == ['Desk 00', 'Lamp 03', 'Desk 06', 'Lamp 09']
    page = await client.get(base, query_params={'sort': '-id'})
    assert len(re.findall(r'<td>((?:Lamp|Desk) \d\d)</td>', page.data)) == 5
    far = await client.get(base, query_params={'page': '9' * 30, 'sort': 'stock'})
    assert far.status_code == 200 and 'Page 3 of 3' in far.data  # past the end: the last page
    huge = await client.get(base, query_params={'f_stock': '9' * 30})
    assert huge.status_code == 200 and 'out of the range' in huge.data
    page = await client.get(base, query_params={'q': '.*', 'f_active': 'maybe', 'sort': 'nope', 'page': 'x'})
    assert page.status_code == 200
    assert 'was ignored' in page.data and re.findall(r'<td>((?:Lamp|Desk) \d\d)</td>', page.data) == []


async def test_bulk_delete_asks_for_confirmation_first(client):
    await admin_session(client)
    tags = await Tag.insert_many([{'name': name} for name in ('a', 'b', 'c')])
    base = f'/admin/{index_of(Tag)}/'
    token = await form_token(client, base)
    body = f'csrf_token={token}&ids={tags[0].id}&ids={tags[1].id}'
    confirm = await client.post(f'{base}delete/', payload=body.encode(), content_type=FORM)
    assert confirm.status_code == 200
    assert 'Delete 2 Tag documents?' in confirm.data
    assert await Tag.count() == 3
    body += '&confirm=yes'
    response = await client.post(f'{base}delete/', payload=body.encode(), content_type=FORM)
    assert response.status_code == 302
    assert response.headers['Location'] == f'{base}?deleted=2'
    assert [tag.name for tag in await Tag.find()] == ['c']
    nothing = await client.post(f'{base}delete/', payload=f'csrf_token={token}'.encode(), content_type=FORM)
    assert nothing.status_code == 400


async def test_delete_one_document_after_confirming(client):
    await admin_session(client)
    tag = await Tag.insert_one(name='a')
    path = f'/admin/{index_of(Tag)}/{tag.id}/delete/'
    page = await client.get(path)
    assert 'Delete 1 Tag?' in page.data
    response = await client.post(path, payload={'csrf_token': token_in(page.data)}, content_type=FORM)
    assert response.status_code == 302
    assert await Tag.count() == 0


async def test_a_protected_document_is_not_deleted_and_the_page_says_why(client):
    await admin_session(client)
    tag = await Tag.insert_one(name='kept')
    await Shelf.insert_one(tag=tag)
    path = f'/admin/{index_of(Tag)}/{tag.id}/delete/'
    response = await client.post(path, payload={'csrf_token': await form_token(client, path)}, content_type=FORM)
    assert response.status_code == 409
    assert 'Shelf' in response.data
    base = f'/admin/{index_of(Tag)}/'
    token = await form_token(client, base)
    body = f'csrf_token={token}&ids={tag.id}&confirm=yes'.encode()
    response = await client.post(f'{base}delete/', payload=body, content_type=FORM)
    assert response.status_code == 409 and 'Deleted 0' in response.data
    assert await Tag.count() == 1


# --- the JSON interface (SPEC §25) -------------------------------------------------------------------------------


async def test_json_create_update_and_delete_need_the_csrf_header(client):
    await admin_session(client)
    token = await form_token(client, '/admin/')
    headers = {'X-CSRF-Token': token, 'Accept': 'application/json'}
    base = f'/admin/{index_of(Tag)}/'
    refused = await client.post(f'{base}create/', payload={'name': 'x'}, headers={'Accept': 'application/json'})
    assert refused.status_code == 403 and 'CSRF' in refused.data['detail']
    created = await client.post(f'{base}create/', payload={'name': 'x'}, headers=headers)
    assert created.status_code == 200 and created.data['name'] == 'x'
    invalid = await client.put(f'{base}{created.data["id"]}/', payload={'name': 5}, headers=headers)
    assert invalid.status_code == 400 and 'name' in invalid.data
    updated = await client.put(f'{base}{created.data["id"]}/', payload={'name': 'y'}, headers=headers)
    assert updated.status_code == 200 and updated.data == {'id': created.data['id'], 'name': 'y'}
    stale = await client.put(f'{base}{created.data["id"]}/', payload={'name': 'z', '_version': 'old'}, headers=headers)
    assert stale.status_code == 409
    deleted = await client.delete(f'{base}{created.data["id"]}/', headers=headers)
    assert deleted.status_code == 204
    assert await Tag.count() == 0


async def test_json_user_creation_hashes_the_password_and_never_returns_it(client):
    await admin_session(client)
    token = await form_token(client, '/admin/')
    response = await client.post(
        f'/admin/{index_of(PanelUser)}/create/',
        payload={'username': 'bob', 'password': 'pw'},
        headers={'X-CSRF-Token': token},
    )
    assert response.status_code == 200 and 'password' not in response.data
    bob = await PanelUser.find_one(username='bob')
    assert await bob.check_password('pw')


# --- registration and the first admin -------------------------------------------------------------------------


def test_register_refuses_unknown_field_names():
    with pytest.raises(PantherError, match='unknown fields: nope'):
        register(Gadget, list_display=['title', 'nope'])
    with pytest.raises(PantherError, match='not a string'):
        register(Gadget, search_fields='title')
    with pytest.raises(PantherError, match='per_page'):
        register(Gadget, per_page=0)


async def test_register_search_fields_and_hidden_models(client):
    await admin_session(client)
    register(Tag, search_fields=[], label_field='name')
    page = await client.get(f'/admin/{index_of(Tag)}/')
    assert 'type="search"' not in page.data
    hide(Tag)
    assert (await client.get(f'/admin/{index_of(Tag)}/')).status_code == 404
    assert '>Tag<' not in (await client.get('/admin/')).data


async def test_create_admin_makes_a_staff_user_who_can_log_in(client):
    user = await create_admin('boss', 'pw-123')
    assert user.is_admin and await user.check_password('pw-123')
    with pytest.raises(PantherError, match='already exists'):
        await create_admin('boss', 'other')
    token = await form_token(client, '/admin/login/')
    response = await client.post(
        '/admin/login/', payload={'csrf_token': token, 'username': 'boss', 'password': 'pw-123'}, content_type=FORM
    )
    assert response.status_code == 302


async def test_create_admin_needs_a_staff_flag_or_hook(client):
    class PlainUser(BaseUser):
        pass

    config.USER_MODEL = PlainUser
    with pytest.raises(PantherError, match='no `is_admin` field'):
        await create_admin('boss', 'pw')
    config.USER_MODEL = None
    with pytest.raises(PantherError, match='USER_MODEL'):
        await create_admin('boss', 'pw')
