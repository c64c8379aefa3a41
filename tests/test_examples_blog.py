"""The blog example (examples/blog), driven end to end through `APIClient`.

Every test builds the app from scratch: the settings module is re-imported with a fresh environment (a database
file and an upload directory in the test's temporary directory) and `main.py` is re-imported after
`Event.clear()`. The working directory is the temporary directory too, because `FileResponse` serves files below
the directory the app was started in (`config.BASE_DIR`), and that is where the covers are.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ElementTree
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from examples.blog.app.models import Comment, Post, User
from panther.configs import config
from panther.db.connections import MongoDBConnection, PantherDBConnection
from panther.events import Event
from panther.test import APIClient
from tests._core_helpers import check_unique_sign_up, refusal_reason

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIGS = 'examples.blog.core.configs'
MAIN = 'examples.blog.main'
SETTINGS_VARIABLES = (
    'SECRET_KEY',
    'BLOG_DB_PATH',
    'BLOG_UPLOAD_DIR',
    'BLOG_BASE_URL',
    'BLOG_COOKIE_SECURE',
    'REDIS_HOST',
    'REDIS_PORT',
    'MONGODB_URL',
    'TRUSTED_PROXIES',
)
PASSWORD = 'correct horse battery'
PNG = b'\x89PNG\r\n\x1a\n' + b'\x00\x00\x00\rIHDR' + bytes(range(64))
GIF = b'GIF89a' + bytes(range(32))
ATOM = '{http://www.w3.org/2005/Atom}'


def fresh_module(name: str) -> ModuleType:
    """Import `name`, or re-execute it when it was imported before (settings read the environment on import)."""
    module = sys.modules.get(name)
    return importlib.reload(module) if module is not None else importlib.import_module(name)


@pytest.fixture
def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in SETTINGS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv('BLOG_DB_PATH', str(tmp_path / 'blog.pdb'))
    monkeypatch.setenv('BLOG_UPLOAD_DIR', str(tmp_path / 'uploads'))
    monkeypatch.chdir(tmp_path)
    return monkeypatch


async def _serve(app: Any) -> AsyncIterator[APIClient]:
    database = config.DATABASE
    try:
        async with APIClient(app) as api:  # runs the start-up and shutdown hooks
            yield api
    finally:
        await database.close()
        Event.clear()


def build_app() -> Any:
    Event.clear()
    fresh_module(CONFIGS)
    return fresh_module(MAIN).app


@pytest.fixture
async def client(environment: pytest.MonkeyPatch) -> AsyncIterator[APIClient]:
    async for api in _serve(build_app()):
        yield api


@dataclass
class Author:
    user: User
    access_token: str

    @property
    def cookies(self) -> dict[str, str]:
        return {'access_token': self.access_token}


async def author(username: str) -> Author:
    """An author with an access token, made directly: scrypt costs ~0.5 s, so only the account test pays for it."""
    user = await User.insert_one(username=username)
    return Author(user, (await user.login())['access_token'])


async def create_post(api: APIClient, writer: Author, **fields: Any) -> dict[str, Any]:
    response = await api.post(
        '/api/posts/', payload={'title': 'A post', 'published': True, **fields}, cookies=writer.cookies
    )
    assert response.status_code == 201, response.data
    return response.data


def uploads(tmp_path: Path) -> list[Path]:
    directory = tmp_path / 'uploads'
    return sorted(directory.iterdir()) if directory.exists() else []


def files_in(directory: Path, pattern: str) -> list[Path]:
    return sorted(directory.glob(pattern))


def set_cookie_headers(response: Any) -> dict[str, str]:
    """`{cookie name: whole Set-Cookie value}` of a response."""
    headers = [value.decode('latin-1') for _, value in response.cookies]
    return {header.split('=', 1)[0]: header for header in headers}


# --- accounts ------------------------------------------------------------------------------------------------------


async def test_sign_up_login_refresh_and_logout_with_cookies(client: APIClient) -> None:
    response = await client.post('/api/auth/signup/', payload={'username': 'Alice', 'password': PASSWORD})
    assert response.status_code == 201
    assert set(response.data) == {'id', 'username'}  # never the password hash
    assert response.data['username'] == 'alice'
    response = await client.post('/api/auth/signup/', payload={'username': 'ALICE', 'password': PASSWORD})
    assert response.status_code == 400
    assert response.data == {'username': 'This username is taken.'}
    response = await client.post('/api/auth/signup/', payload={'username': 'a b', 'password': 'short'})
    assert response.status_code == 400
    assert set(response.data) == {'username', 'password'}

    response = await client.post('/api/auth/login/', payload={'username': 'alice', 'password': 'wrong-password'})
    assert response.status_code == 401
    assert response.data == {'detail': 'Invalid username or password'}
    assert (await client.get('/api/auth/me/')).status_code == 401

    response = await client.post('/api/auth/login/', payload={'username': 'alice', 'password': PASSWORD})
    assert response.status_code == 200
    assert response.data['username'] == 'alice'
    assert 'access_token' not in response.data  # the tokens are only in HttpOnly cookies
    cookies = set_cookie_headers(response)
    assert set(cookies) == {'access_token', 'refresh_token'}
    for header in cookies.values():
        assert 'HttpOnly' in header
        assert 'SameSite=lax' in header
        assert 'Secure' not in header  # BLOG_COOKIE_SECURE is off by default (plain http on a laptop)
    assert 'Max-Age=900' in cookies['access_token']
    assert 'Path=/;' in cookies['access_token'] or cookies['access_token'].endswith('Path=/')
    assert 'Path=/api/auth/' in cookies['refresh_token']
    first_access = client.cookies['access_token']

    # The client keeps the cookies, as a browser would.
    me = await client.get('/api/auth/me/')
    assert me.status_code == 200
    assert me.data['username'] == 'alice'

    # Refresh: new cookies, and the old session (its access token too) is revoked.
    response = await client.post('/api/auth/refresh/')
    assert response.status_code == 200
    assert set(set_cookie_headers(response)) == {'access_token', 'refresh_token'}
    assert client.cookies['access_token'] != first_access
    response = await client.get('/api/auth/me/', cookies={'access_token': first_access})
    assert refusal_reason(response) == 'Token has been revoked'
    assert (await client.get('/api/auth/me/')).status_code == 200

    # Logout revokes the session and expires both cookies.
    session = dict(client.cookies)
    response = await client.post('/api/auth/logout/')
    assert response.status_code == 204
    cookies = set_cookie_headers(response)
    assert 'Max-Age=0' in cookies['access_token']
    assert 'Max-Age=0' in cookies['refresh_token']
    # A browser deletes cookies that arrive with Max-Age=0; the test client keeps them, so forget them here.
    client.cookies.clear()
    assert (await client.get('/api/auth/me/')).status_code == 401
    response = await client.get('/api/auth/me/', cookies={'access_token': session['access_token']})
    assert refusal_reason(response) == 'Token has been revoked'
    response = await client.post('/api/auth/refresh/', cookies={'refresh_token': session['refresh_token']})
    assert response.status_code == 401

    # A browser may still hold a revoked (or expired, or broken) cookie: logging in again works regardless.
    response = await client.post(
        '/api/auth/login/',
        payload={'username': 'alice', 'password': PASSWORD},
        cookies={'access_token': session['access_token']},
    )
    assert response.status_code == 200


async def test_sign_up_names_are_unique_even_when_the_early_check_misses(
    client: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    await check_unique_sign_up(client, monkeypatch, User, '/api/auth/signup/', PASSWORD)


async def test_secure_cookies_behind_https(environment: pytest.MonkeyPatch) -> None:
    environment.setenv('BLOG_COOKIE_SECURE', 'true')
    async for api in _serve(build_app()):
        from examples.blog.app.apis import expired_cookies, token_cookies

        alice = await author('alice')
        tokens = await alice.user.login()
        for cookie in [*token_cookies(tokens), *expired_cookies()]:
            header = cookie.to_header()[1].decode()
            assert 'Secure' in header
            assert 'HttpOnly' in header
        assert (await api.get('/api/auth/me/', cookies=alice.cookies)).status_code == 200


# --- posts ---------------------------------------------------------------------------------------------------------


async def test_create_and_read_a_post(client: APIClient) -> None:
    alice = await author('alice')
    bob = await author('bob')
    response = await client.post(
        '/api/posts/',
        payload={
            'title': '  Hello, Wörld! ',
            'body': 'First post.',
            'tags': ['Python', 'web', 'python'],
            'published': True,
            'author': bob.user.id,  # ignored: the author is whoever is logged in
            'slug': 'chosen-by-client',  # ignored: made from the title
        },
        cookies=alice.cookies,
    )
    assert response.status_code == 201, response.data
    post = response.data
    assert set(post) == {
        'id',
        'slug',
        'title',
        'body',
        'tags',
        'published',
        'author',
        'created_at',
        'updated_at',
        'cover_url',
    }
    assert post['title'] == 'Hello, Wörld!'
    assert post['slug'] == 'hello-world'
    assert post['tags'] == ['python', 'web']
    assert post['author'] == {'id': alice.user.id, 'username': 'alice'}
    assert post['cover_url'] is None

    # The same title again gets the next free slug.
    assert (await create_post(client, alice, title='Hello world'))['slug'] == 'hello-world-2'
    assert (await create_post(client, alice, title='!!!'))['slug'] == 'post'

    response = await client.get('/api/posts/hello-world/')  # anyone may read a published post
    assert response.status_code == 200
    assert response.data == post
    response = await client.get('/api/posts/no-such-post/')
    assert response.status_code == 404
    assert response.data == {'detail': 'Post not found'}


async def test_post_validation(client: APIClient) -> None:
    alice = await author('alice')
    response = await client.post('/api/posts/', payload={'body': 'no title', 'tags': 'x'}, cookies=alice.cookies)
    assert response.status_code == 400
    assert response.data == {'title': 'Field required'}
    response = await client.post('/api/posts/', payload={'title': 'x' * 201}, cookies=alice.cookies)
    assert response.status_code == 400
    assert set(response.data) == {'title'}
    response = await client.post('/api/posts/', payload={'title': 'ok', 'tags': ['no spaces']}, cookies=alice.cookies)
    assert response.status_code == 400
    assert set(response.data) == {'tags'}
    response = await client.post(
        '/api/posts/', payload={'title': 'ok', 'tags': [f't{i}' for i in range(11)]}, cookies=alice.cookies
    )
    assert response.status_code == 400
    response = await client.post(
        '/api/posts/', payload=b'{"title": ', content_type='application/json', cookies=alice.cookies
    )
    assert response.status_code == 400
    assert await Post.count() == 0


async def test_list_pagination_search_filters_and_sort(client: APIClient) -> None:
    alice, bob = await author('alice'), await author('bob')
    for title, body, tags in [
        ('Async Python', 'event loops', ['python', 'async']),
        ('Banana bread', 'flour and bananas', ['baking']),
        ('Cython tricks', 'fast python', ['python']),
        ('Pythonic baking', 'bread, again', ['baking', 'pythonic']),
    ]:
        await create_post(client, alice, title=title, body=body, tags=tags)
    await create_post(client, alice, title='Alice draft', published=False)
    await create_post(client, bob, title='Bob draft', published=False)

    async def titles(viewer: Author | None = None, **query: Any) -> list[str]:
        cookies = viewer.cookies if viewer else None
        response = await client.get('/api/posts/', query_params=query, cookies=cookies)
        assert response.status_code == 200, response.data
        return [item['title'] for item in response.data['results']]

    # Newest first; visitors see published posts, an author also sees their own drafts.
    assert await titles() == ['Pythonic baking', 'Cython tricks', 'Banana bread', 'Async Python']
    assert await titles(bob) == ['Bob draft', 'Pythonic baking', 'Cython tricks', 'Banana bread', 'Async Python']
    assert await titles(alice, published='false') == ['Alice draft']

    page = await client.get('/api/posts/', query_params={'search': 'PYTHON', 'limit': 2})
    assert page.data['count'] == 3
    assert [item['title'] for item in page.data['results']] == ['Pythonic baking', 'Cython tricks']
    # The links keep the search.
    assert page.data['next'] == '?limit=2&skip=2&search=PYTHON'
    page = await client.get('/api/posts/' + page.data['next'])
    assert [item['title'] for item in page.data['results']] == ['Async Python']
    assert page.data['previous'] == '?limit=2&skip=0&search=PYTHON'
    assert page.data['next'] is None

    # ?tag= matches whole tags only: `python` is not `pythonic`.
    assert await titles(tag='python') == ['Cython tricks', 'Async Python']
    assert await titles(tag='Baking', sort='title') == ['Banana bread', 'Pythonic baking']
    assert await titles(tag='pyth') == []
    assert await titles(search='.*') == []  # the search text is not a pattern
    assert await titles(sort='title', limit=2) == ['Async Python', 'Banana bread']
    assert await titles(author=bob.user.id) == []
    assert await titles(bob, author=bob.user.id) == ['Bob draft']

    assert (await client.get('/api/posts/', query_params={'limit': 'ten'})).status_code == 400
    assert (await client.get('/api/posts/', query_params={'published': 'maybe'})).status_code == 400


async def test_writes_need_a_login(client: APIClient) -> None:
    alice = await author('alice')
    post = await create_post(client, alice)
    url = f'/api/posts/{post["slug"]}/'
    for response in [
        await client.post('/api/posts/', payload={'title': 'x'}),
        await client.patch(url, payload={'title': 'x'}),
        await client.put(url, payload={'title': 'x'}),
        await client.delete(url),
        await client.post(f'{url}comments/', payload={'body': 'hi'}),
    ]:
        assert response.status_code == 401
        assert response.data == {'detail': 'Log in to do this'}
    # A cookie that is not a valid token is a 401 that says why.
    response = await client.post('/api/posts/', payload={'title': 'x'}, cookies={'access_token': 'not-a-jwt'})
    assert refusal_reason(response) == 'Token is malformed'
    assert await Post.count() == 1
    assert (await Post.find_one_or_raise(id=post['id'])).title == 'A post'


async def test_only_the_author_may_change_a_post(client: APIClient) -> None:
    alice, bob = await author('alice'), await author('bob')
    post = await create_post(client, alice, title='Mine')
    draft = await create_post(client, alice, title='Secret', published=False)
    url, draft_url = f'/api/posts/{post["slug"]}/', f'/api/posts/{draft["slug"]}/'

    for response in [
        await client.patch(url, payload={'title': 'Stolen'}, cookies=bob.cookies),
        await client.put(url, payload={'title': 'Stolen'}, cookies=bob.cookies),
        await client.delete(url, cookies=bob.cookies),
    ]:
        assert response.status_code == 403
        assert response.data == {'detail': 'Permission Denied'}
    # Someone else's draft does not exist for anyone but its author.
    assert (await client.get(draft_url, cookies=bob.cookies)).status_code == 404
    assert (await client.get(draft_url)).status_code == 404
    assert (await client.patch(draft_url, payload={'title': 'x'}, cookies=bob.cookies)).status_code == 404
    assert (await client.delete(draft_url, cookies=bob.cookies)).status_code == 404
    assert (await client.get(draft_url, cookies=alice.cookies)).status_code == 200
    assert (await Post.find_one_or_raise(id=post['id'])).title == 'Mine'
    assert await Post.count() == 2


async def test_update_and_delete(client: APIClient) -> None:
    alice, bob = await author('alice'), await author('bob')
    post = await create_post(client, alice, title='Draft one', body='text', tags=['a'], published=False)
    url = f'/api/posts/{post["slug"]}/'

    # PATCH writes only what was sent; the slug stays, so links keep working.
    response = await client.patch(url, payload={'published': True, 'title': 'Final title'}, cookies=alice.cookies)
    assert response.status_code == 200, response.data
    assert response.data['published'] is True
    assert response.data['title'] == 'Final title'
    assert response.data['slug'] == 'draft-one'
    assert (response.data['body'], response.data['tags']) == ('text', ['a'])
    assert response.data['updated_at'] > post['updated_at']

    # PUT replaces every field: what is not sent goes back to its default (a PUT without title is refused).
    response = await client.put(url, payload={'body': 'no title'}, cookies=alice.cookies)
    assert response.status_code == 400
    response = await client.put(url, payload={'title': 'Replaced'}, cookies=alice.cookies)
    assert response.status_code == 200
    stored = await Post.find_one_or_raise(id=post['id'])
    assert (stored.title, stored.body, stored.tags, stored.published) == ('Replaced', '', [], False)

    await client.patch(url, payload={'published': True}, cookies=alice.cookies)
    response = await client.post(f'{url}comments/', payload={'body': 'Nice'}, cookies=bob.cookies)
    assert response.status_code == 201
    assert await Comment.count() == 1

    response = await client.delete(url, cookies=alice.cookies)
    assert response.status_code == 204
    assert (await client.get(url, cookies=alice.cookies)).status_code == 404
    assert await Comment.count() == 0  # post_delete removed the post's comments


# --- covers --------------------------------------------------------------------------------------------------------


async def test_cover_upload_and_download(client: APIClient, tmp_path: Path) -> None:
    alice = await author('alice')
    response = await client.post(
        '/api/posts/',
        payload={'title': 'With a cover', 'body': 'look', 'tags': 'photos, travel', 'published': 'true'},
        files={'cover': ('../../holiday.html', PNG, 'image/png')},
        cookies=alice.cookies,
    )
    assert response.status_code == 201, response.data
    post = response.data
    assert post['tags'] == ['photos', 'travel']
    assert post['published'] is True
    assert post['cover_url'] == '/posts/with-a-cover/cover/'
    # Stored under a random name with the extension of the detected format, inside the upload directory only.
    [stored] = uploads(tmp_path)
    assert stored.suffix == '.png'
    assert 'holiday' not in stored.name
    assert stored.read_bytes() == PNG
    assert files_in(tmp_path, '*.png') == []  # nothing was written into the working directory

    response = await client.get(post['cover_url'])
    assert response.status_code == 200
    assert response.raw_body == PNG  # type: ignore[attr-defined]
    assert response.headers['Content-Type'] == 'image/png'
    assert response.headers['X-Content-Type-Options'] == 'nosniff'
    etag = response.headers['ETag']
    assert (await client.get(post['cover_url'], headers={'If-None-Match': etag})).status_code == 304
    partial = await client.get(post['cover_url'], headers={'Range': 'bytes=0-7'})
    assert partial.status_code == 206
    assert partial.raw_body == PNG[:8]  # type: ignore[attr-defined]
    head = await client.head(post['cover_url'])
    assert head.status_code == 200
    assert head.raw_body == b''  # type: ignore[attr-defined]

    # Replacing the cover (multipart PATCH) removes the old file; a GIF is served as a GIF.
    url = f'/api/posts/{post["slug"]}/'
    response = await client.patch(url, files={'cover': ('new.gif', GIF, 'image/gif')}, cookies=alice.cookies)
    assert response.status_code == 200, response.data
    [replaced] = uploads(tmp_path)
    assert replaced.suffix == '.gif'
    assert replaced != stored
    response = await client.get(post['cover_url'])
    assert response.headers['Content-Type'] == 'image/gif'
    assert response.raw_body == GIF  # type: ignore[attr-defined]

    # A PATCH without `cover` keeps it.
    assert (await client.patch(url, payload={'body': 'edited'}, cookies=alice.cookies)).status_code == 200
    assert uploads(tmp_path) == [replaced]

    # A post without a cover, or a draft seen by someone else, has no cover to download.
    plain = await create_post(client, alice, title='Plain')
    assert (await client.get(f'/posts/{plain["slug"]}/cover/')).status_code == 404
    await client.patch(url, payload={'published': False}, cookies=alice.cookies)
    assert (await client.get(post['cover_url'])).status_code == 404
    assert (await client.get(post['cover_url'], cookies=alice.cookies)).status_code == 200

    # Deleting the post deletes its cover.
    assert (await client.delete(url, cookies=alice.cookies)).status_code == 204
    assert uploads(tmp_path) == []

    # `{"cover": null}` removes a cover.
    response = await client.post(
        '/api/posts/', payload={'title': 'Again'}, files={'cover': ('a.gif', GIF, 'image/gif')}, cookies=alice.cookies
    )
    assert len(uploads(tmp_path)) == 1
    response = await client.patch(
        f'/api/posts/{response.data["slug"]}/', payload={'cover': None}, cookies=alice.cookies
    )
    assert response.status_code == 200
    assert response.data['cover_url'] is None
    assert uploads(tmp_path) == []


async def test_a_cover_named_like_a_server_file_is_the_uploaded_image(client: APIClient, tmp_path: Path) -> None:
    # The app's working directory has a README.md; a cover uploaded under that name was checked against it (415).
    (tmp_path / 'README.md').write_text('# not an image')
    alice = await author('alice')
    names = ['README.md', '../README.md', str(tmp_path / 'README.md'), 'pyproject.toml', 'missing.png']
    for number, name in enumerate(names):
        response = await client.post(
            '/api/posts/',
            payload={'title': f'Cover {number}', 'published': 'true'},
            files={'cover': (name, PNG, 'image/png')},
            cookies=alice.cookies,
        )
        assert response.status_code == 201, (name, response.data)
        assert (await client.get(response.data['cover_url'])).body == PNG
        response = await client.post(
            '/api/posts/',
            payload={'title': f'Text {number}', 'published': 'true'},
            files={'cover': (name, b'# text', 'image/png')},
            cookies=alice.cookies,
        )
        assert (response.status_code, response.data) == (
            415,
            {'detail': 'The cover must be a PNG, JPEG, GIF or WebP image.'},
        )
    assert sorted(path.read_bytes() for path in uploads(tmp_path)) == [PNG] * len(names)
    assert (tmp_path / 'README.md').read_text() == '# not an image'


async def test_invalid_uploads_are_refused(client: APIClient, tmp_path: Path) -> None:
    alice = await author('alice')
    fields = {'title': 'Cover test', 'published': 'true'}

    async def upload(name: str, content: bytes, content_type: str) -> Any:
        return await client.post(
            '/api/posts/', payload=fields, files={'cover': (name, content, content_type)}, cookies=alice.cookies
        )

    response = await upload('notes.txt', b'plain text', 'text/plain')
    assert response.status_code == 415
    assert response.data == {'detail': "text/plain is not a valid image 'content_type'"}
    # The declared type is not trusted: the content decides.
    response = await upload('fake.png', b'<html><script>alert(1)</script></html>', 'image/png')
    assert response.status_code == 415
    assert response.data == {'detail': 'The cover must be a PNG, JPEG, GIF or WebP image.'}
    # SVG is an image type, but it can carry scripts.
    response = await upload('logo.svg', b'<svg xmlns="http://www.w3.org/2000/svg"></svg>', 'image/svg+xml')
    assert response.status_code == 415
    # A cover that is not a file at all.
    response = await client.post('/api/posts/', payload={**fields, 'cover': 'http://x/y.png'}, cookies=alice.cookies)
    assert response.status_code == 415
    assert response.data == {'detail': 'Send the cover as a file in a multipart/form-data request.'}
    # Over the 4 MiB cover limit, and over the 5 MiB request limit.
    response = await upload('big.png', PNG + bytes(4 * 1024 * 1024), 'image/png')
    assert response.status_code == 413
    response = await upload('huge.png', PNG + bytes(5 * 1024 * 1024), 'image/png')
    assert response.status_code == 413

    assert await Post.count() == 0
    assert uploads(tmp_path) == []

    # An upload refused while updating keeps the old cover.
    post = await create_post(client, alice)
    url = f'/api/posts/{post["slug"]}/'
    response = await client.patch(url, files={'cover': ('x.txt', b'x', 'text/plain')}, cookies=alice.cookies)
    assert response.status_code == 415
    assert uploads(tmp_path) == []


# --- comments ------------------------------------------------------------------------------------------------------


async def test_comments(client: APIClient) -> None:
    alice, bob, carol = await author('alice'), await author('bob'), await author('carol')
    post = await create_post(client, alice, title='Discuss')
    url = f'/api/posts/{post["slug"]}/comments/'

    response = await client.post(url, payload={'body': '  First!  '}, cookies=bob.cookies)
    assert response.status_code == 201
    assert set(response.data) == {'id', 'body', 'author', 'created_at'}
    assert response.data['body'] == 'First!'
    assert response.data['author'] == {'id': bob.user.id, 'username': 'bob'}
    first = response.data
    second = (await client.post(url, payload={'body': 'Second'}, cookies=carol.cookies)).data
    assert (await client.post(url, payload={'body': '   '}, cookies=bob.cookies)).status_code == 400
    assert (await client.post(url, payload={'body': 'x' * 2001}, cookies=bob.cookies)).status_code == 400

    listing = await client.get(url)
    assert listing.status_code == 200
    assert listing.data['count'] == 2
    assert [item['body'] for item in listing.data['results']] == ['First!', 'Second']  # oldest first
    assert (await client.get('/api/posts/missing/comments/')).status_code == 404

    # A comment may be deleted by its author or by the post's author, by nobody else.
    response = await client.delete(f'/api/comments/{first["id"]}/', cookies=carol.cookies)
    assert response.status_code == 403
    assert (await client.delete(f'/api/comments/{first["id"]}/')).status_code == 401
    assert (await client.delete(f'/api/comments/{first["id"]}/', cookies=bob.cookies)).status_code == 204
    assert (await client.delete(f'/api/comments/{second["id"]}/', cookies=alice.cookies)).status_code == 204
    assert (await client.delete(f'/api/comments/{second["id"]}/', cookies=alice.cookies)).status_code == 404
    assert await Comment.count() == 0

    # Drafts take no comments from others (they do not exist for them).
    draft = await create_post(client, alice, title='Quiet', published=False)
    response = await client.post(f'/api/posts/{draft["slug"]}/comments/', payload={'body': 'hi'}, cookies=bob.cookies)
    assert response.status_code == 404


# --- HTML pages and the feed ---------------------------------------------------------------------------------------


async def test_html_pages_escape_what_authors_write(client: APIClient) -> None:
    alice, bob = await author('alice'), await author('bob')
    attack = '<script>alert("pwned")</script> & <b>bold</b>'
    post = await create_post(client, alice, title='<i>Title</i>', body=attack, tags=['xss'])
    await client.post(
        f'/api/posts/{post["slug"]}/comments/', payload={'body': '<img src=x onerror=1>'}, cookies=bob.cookies
    )
    await create_post(client, alice, title='Hidden draft', published=False)

    page = await client.get(f'/posts/{post["slug"]}/')
    assert page.status_code == 200
    assert page.headers['Content-Type'].startswith('text/html')
    assert "script-src 'none'" in page.headers['Content-Security-Policy']
    html = page.data
    assert '<script>' not in html
    assert '&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;' in html
    assert '&lt;i&gt;Title&lt;/i&gt;' in html
    assert '<img src=x' not in html
    assert '&lt;img src=x onerror=1&gt;' in html
    assert 'Comments (1)' in html

    index = await client.get('/')
    assert index.status_code == 200
    assert f'href="/posts/{post["slug"]}/"' in index.data
    assert '<script>' not in index.data
    assert '<link rel="icon" href="data:,">' in index.data  # no /favicon.ico request (it would 404)
    assert "img-src 'self' data:" in index.headers['Content-Security-Policy']
    assert 'Hidden draft' not in index.data
    # The author sees their draft on the pages too; a bad cookie is treated as no cookie.
    assert 'Hidden draft' in (await client.get('/', cookies=alice.cookies)).data
    assert (await client.get('/', cookies={'access_token': 'expired-or-garbage'})).status_code == 200

    tagged = await client.get('/', query_params={'tag': 'xss'})
    assert f'/posts/{post["slug"]}/' in tagged.data
    assert f'/posts/{post["slug"]}/' not in (await client.get('/', query_params={'tag': 'other'})).data
    assert (await client.get('/', query_params={'page': 'abc'})).status_code == 200
    # A page number no database integer holds was a 500 (SQLite overflow).
    for page_number in ('99999999999999999999', '1000001'):
        response = await client.get('/', query_params={'page': page_number})
        assert (response.status_code, response.data) == (400, {'detail': '`page` should be at most 1000000.'})
    assert (await client.get('/', query_params={'page': '1000000'})).status_code == 200

    missing = await client.get('/posts/hidden-draft/')
    assert missing.status_code == 404
    assert 'Not found' in missing.data
    assert (await client.get('/posts/hidden-draft/', cookies=alice.cookies)).status_code == 200


async def test_atom_feed_is_cached(client: APIClient) -> None:
    alice = await author('alice')
    await create_post(client, alice, title='First & <best>', body='<p>body</p>', tags=['news'])
    await create_post(client, alice, title='Not yet', published=False)

    response = await client.get('/feed/', headers={'Host': 'blog.example'})
    assert response.status_code == 200
    assert response.headers['Content-Type'] == 'application/atom+xml; charset=utf-8'
    feed = ElementTree.fromstring(response.raw_body)  # type: ignore[attr-defined]
    assert feed.tag == f'{ATOM}feed'
    entries = feed.findall(f'{ATOM}entry')
    assert [entry.findtext(f'{ATOM}title') for entry in entries] == ['First & <best>']
    entry = entries[0]
    assert entry.findtext(f'{ATOM}content') == '<p>body</p>'
    # From the BASE_URL setting (development default), not from the Host header.
    link = entry.find(f'{ATOM}link').get('href')  # type: ignore[union-attr]
    assert link == 'http://127.0.0.1:8000/posts/first-best/'
    assert entry.find(f'{ATOM}category').get('term') == 'news'  # type: ignore[union-attr]
    assert entry.findtext(f'{ATOM}author/{ATOM}name') == 'alice'

    # Rendered once per 5 minutes (per client): a new post shows up when the cached feed expires.
    await create_post(client, alice, title='Second')
    again = await client.get('/feed/', headers={'Host': 'blog.example'})
    assert again.raw_body == response.raw_body  # type: ignore[attr-defined]
    assert again.headers['Content-Type'] == 'application/atom+xml; charset=utf-8'
    conditional = {'If-None-Match': again.headers['ETag'], 'Host': 'blog.example'}
    assert (await client.get('/feed/', headers=conditional)).status_code == 304


async def test_feed_cannot_be_poisoned_through_the_host_header(environment: pytest.MonkeyPatch) -> None:
    # The reproduction: the feed built its links from `Host` and was cached per client only, so behind a proxy (one
    # client address for everyone) one request with `Host: evil.example` served evil links to every reader.
    environment.setenv('BLOG_BASE_URL', 'https://blog.example/')
    async for client in _serve(build_app()):
        alice = await author('alice')
        await create_post(client, alice, title='First')
        poisoned = await client.get('/feed/', headers={'Host': 'evil.example'})
        assert b'evil.example' not in poisoned.raw_body  # type: ignore[attr-defined]
        assert b'https://blog.example/posts/first/' in poisoned.raw_body  # type: ignore[attr-defined]
        # The forged host has an entry of its own: a reader with the real host never gets it.
        await create_post(client, alice, title='Second')
        honest = await client.get('/feed/', headers={'Host': 'blog.example'})
        assert b'https://blog.example/posts/second/' in honest.raw_body  # type: ignore[attr-defined]
        again = await client.get('/feed/', headers={'Host': 'evil.example'})
        assert again.raw_body == poisoned.raw_body  # type: ignore[attr-defined]


# --- the rest ------------------------------------------------------------------------------------------------------


async def test_cross_site_writes_are_refused(client: APIClient) -> None:
    alice = await author('alice')
    response = await client.post(
        '/api/posts/',
        payload={'title': 'forged'},
        headers={'Origin': 'https://evil.example', 'Host': 'blog.example'},
        cookies=alice.cookies,
    )
    assert response.status_code == 403
    assert response.data == {'detail': 'Cross-site requests are not allowed'}
    response = await client.post(
        '/api/posts/',
        payload={'title': 'mine'},
        headers={'Origin': 'https://blog.example', 'Host': 'blog.example'},
        cookies=alice.cookies,
    )
    assert response.status_code == 201
    # Reading is never refused.
    response = await client.get('/api/posts/', headers={'Origin': 'https://evil.example', 'Host': 'blog.example'})
    assert response.status_code == 200


async def test_the_app_uses_the_configured_files(client: APIClient, tmp_path: Path) -> None:
    assert isinstance(config.DATABASE, PantherDBConnection)
    assert config.DATABASE.path == tmp_path / 'blog.pdb'
    assert config.UPLOAD_DIR == (tmp_path / 'uploads').resolve()
    assert config.USER_MODEL is User
    assert (await client.get('/unknown/')).status_code == 404
    await author('alice')
    assert (tmp_path / 'blog.pdb').exists()


async def test_mongodb_url_moves_posts_to_mongodb_and_covers_stay_in_the_upload_dir(
    environment: pytest.MonkeyPatch, mongodb_address: tuple[str, int], tmp_path: Path
) -> None:
    host, port = mongodb_address
    environment.setenv('MONGODB_URL', f'mongodb://{host}:{port}/blog_{uuid.uuid4().hex[:12]}')
    async for api in _serve(build_app()):
        assert isinstance(config.DATABASE, MongoDBConnection)
        alice = await author('alice')
        post = await create_post(api, alice, title='On Mongo')
        response = await api.patch(
            f'/api/posts/{post["slug"]}/', files={'cover': ('c.png', PNG, 'image/png')}, cookies=alice.cookies
        )
        assert response.status_code == 200, response.data
        assert (await api.get(response.data['cover_url'])).raw_body == PNG
        assert [path.read_bytes() for path in uploads(tmp_path)] == [PNG]  # the volume of docker-compose.yml
        assert (await Post.find_one(slug='on-mongo')) is not None
        await config.DATABASE.session.client.drop_database(config.DATABASE.session.name)
    assert not (tmp_path / 'blog.pdb').exists()


def test_default_settings(environment: pytest.MonkeyPatch) -> None:
    environment.delenv('BLOG_DB_PATH')
    environment.delenv('BLOG_UPLOAD_DIR')
    configs = fresh_module(CONFIGS)
    assert configs.DATABASE['engine']['path'] == REPO_ROOT / 'examples' / 'blog' / 'blog.pdb'
    assert configs.UPLOAD_DIR == REPO_ROOT / 'examples' / 'blog' / 'uploads'
    assert configs.COOKIE_SECURE is False
    assert configs.BASE_URL == 'http://127.0.0.1:8000'
    assert configs.REDIS is None
    assert len(configs.SECRET_KEY.encode()) >= 32


def test_database_and_uploads_are_not_committed() -> None:
    paths = ['examples/blog/blog.pdb', 'examples/blog/blog.pdb-wal', 'examples/blog/uploads/cover.png']
    result = subprocess.run(
        ['git', 'check-ignore', *paths], cwd=REPO_ROOT, capture_output=True, text=True, check=False, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == paths


# --- the admin panel -------------------------------------------------------------------------------------------


async def test_the_admin_panel_shows_posts_authors_and_covers_to_staff_only(client):
    # `config.refresh()` between tests forgets models imported by an earlier test; a served app has them all.
    config.MODELS.extend(model for model in (Post, Comment) if model not in config.MODELS)
    alice = await author('alice')
    response = await client.post(
        '/api/posts/',
        payload={'title': 'Admin view', 'published': 'true'},
        files={'cover': ('c.png', PNG, 'image/png')},
        cookies=alice.cookies,
    )
    assert response.status_code == 201, response.data
    post = await Post.find_one(slug='admin-view')

    refused = await client.get('/admin/', cookies=alice.cookies)  # a signed-in author who is not staff
    assert refused.status_code == 302 and refused.headers['Location'].endswith('&denied=1')

    staff = await User.insert_one(username='editor', is_admin=True)
    cookies = {'access_token': (await staff.login())['access_token']}
    home = await client.get('/admin/', cookies=cookies)
    assert home.status_code == 200 and '>Post<' in home.data and '>Comment<' in home.data
    index = config.MODELS.index(Post)
    listing = await client.get(f'/admin/{index}/', cookies=cookies)
    assert 'Admin view' in listing.data and 'alice' in listing.data
    detail = await client.get(f'/admin/{index}/{post.id}/', cookies=cookies)
    assert f'src="/admin/{index}/{post.id}/files/cover/"' in detail.data
    assert 'id="field-slug">admin-view<' in detail.data  # read-only once created
    cover = await client.get(f'/admin/{index}/{post.id}/files/cover/', cookies=cookies)
    assert cover.status_code == 200 and cover.headers['Content-Type'] == 'image/png'
