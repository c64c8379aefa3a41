"""File and Image: reading, writing, saving (names, collisions, directory escapes) and files in models."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from panther.configs import config
from panther.db import Model
from panther.db.connections import load_database
from panther.exceptions import APIError, DatabaseError
from panther.file_handler import File, Image


def test_in_memory_file() -> None:
    file = File(file_name='a.txt', content_type='text/plain', file=b'Hello')
    assert file.size == 5
    assert file.read(2) == b'He'
    assert file.tell() == 2
    file.seek(0)
    assert file.read() == b'Hello'
    file.write(b' World')
    assert file.file == b'Hello World'
    assert file.size == 11
    with file:
        file.seek(0)
        assert file.read() == b'Hello World'
    assert str(file) == repr(file) == 'File(file_name=a.txt, content_type=text/plain)'


def test_disk_file(tmp_path: Path) -> None:
    path = tmp_path / 'disk.bin'
    path.write_bytes(b'12345')
    file = File(file_name=str(path), content_type='application/octet-stream')
    assert file.size == 5
    with file:
        assert file.read() == b'12345'
    with pytest.raises(OSError, match=r'Write is only supported for in-memory files\.'):
        file.write(b'x')
    with pytest.raises(ValueError, match=r'No file source to read from\.'):
        File(file_name='', content_type='text/plain').read()


def test_save_default_directory_and_explicit_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    file = File(file_name='note.txt', content_type='text/plain', file=b'one')
    saved = file.save()
    assert Path(saved).resolve() == (tmp_path / 'note.txt').resolve()
    assert file.save('elsewhere/') == saved  # idempotent
    other = File(file_name='note.txt', content_type='text/plain', file=b'two')
    saved_in_dir = other.save('uploads/nested/')
    assert Path(saved_in_dir) == Path('uploads/nested/note.txt')
    assert Path(saved_in_dir).read_bytes() == b'two'
    exact = File(file_name='ignored.txt', content_type='text/plain', file=b'three').save(tmp_path / 'exact.bin')
    assert Path(exact).read_bytes() == b'three'


def test_save_does_not_overwrite(tmp_path: Path) -> None:
    first = File(file_name='same.txt', content_type='text/plain', file=b'1').save(f'{tmp_path}/')
    second = File(file_name='same.txt', content_type='text/plain', file=b'2').save(f'{tmp_path}/')
    third = File(file_name='same.txt', content_type='text/plain', file=b'3').save(f'{tmp_path}/')
    assert len({first, second, third}) == 3
    assert Path(second).name.startswith('same_') and Path(second).suffix == '.txt'
    assert Path(third).stem.endswith('_1')
    assert [Path(p).read_bytes() for p in (first, second, third)] == [b'1', b'2', b'3']
    replaced = File(file_name='same.txt', content_type='text/plain', file=b'4').save(f'{tmp_path}/', overwrite=True)
    assert replaced == first
    assert Path(first).read_bytes() == b'4'


@pytest.mark.parametrize('name', ['../../evil.txt', '/etc/passwd', '..\\..\\evil.txt', '....//x.txt', '.hidden', ''])
def test_uploaded_names_never_escape_the_directory(tmp_path: Path, name: str) -> None:
    target = tmp_path / 'uploads'
    saved = Path(File(file_name=name, content_type='text/plain', file=b'x').save(f'{target}/'))
    assert saved.resolve().parent == target.resolve()
    assert not saved.name.startswith('.')


PNG = b'\x89PNG\r\n\x1a\n' + b'\x00' * 24


def test_image_content_type() -> None:
    assert Image(file_name='a.png', content_type='image/png', file=PNG).content_type == 'image/png'
    with pytest.raises(APIError) as error:
        Image(file_name='a.txt', content_type='text/plain', file=b'x')
    assert error.value.status_code == 415
    assert error.value.detail == "text/plain is not a valid image 'content_type'"


@pytest.mark.parametrize(
    ('content_type', 'content', 'detail'),
    [
        ('image/png', b'<html><script>alert(1)</script>', '`a.png` is not a valid image'),
        ('image/svg+xml', b'<svg onload="alert(1)"/>', "image/svg+xml is not a valid image 'content_type'"),
    ],
)
def test_image_refuses_content_that_is_not_a_raster_image(content_type: str, content: bytes, detail: str) -> None:
    with pytest.raises(APIError) as error:
        Image(file_name='a.png', content_type=content_type, file=content)
    assert (error.value.status_code, error.value.detail) == (415, detail)


def test_image_field_accepts_a_parsed_upload() -> None:
    class Upload(BaseModel):
        picture: Image

    upload = File(file_name='me.png', content_type='image/png', file=PNG)
    assert isinstance(Upload(picture=upload).picture, Image)
    with pytest.raises(APIError):
        Upload(picture=File(file_name='me.png', content_type='image/png', file=b'GIF? no'))
    with pytest.raises(ValidationError):
        File(file_name='a.txt')  # type: ignore[call-arg]


def _parent(path: Path) -> Path:
    return path.resolve().parent


def _is_file(path: Path) -> bool:
    return os.path.isfile(path)


class Document(Model):
    title: str
    attachment: File | None = None


@pytest.fixture
async def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Path]:
    monkeypatch.chdir(tmp_path)
    load_database({'engine': {'class': 'panther.db.connections.PantherDBConnection', 'path': tmp_path / 'f.sqlite3'}})
    yield tmp_path
    await config.DATABASE.close()


async def test_file_fields_are_saved_and_stored_as_paths(database: Path) -> None:
    upload = File(file_name='../report.txt', content_type='text/plain', file=b'report body')
    document = await Document.insert_one(title='t', attachment=upload)
    saved = Path(document.attachment.save())
    assert _parent(saved) == _parent(database / 'x')
    found = await Document.find_one(id=document.id)
    assert found.attachment.file_name == str(saved)
    assert found.attachment.content_type == 'text/plain'
    assert found.attachment.read() == b'report body'
    found.attachment.close()
    assert _is_file(saved)


@pytest.fixture(params=['sqlite', pytest.param('mongodb', marks=pytest.mark.mongodb)])
async def engine(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Path]:
    monkeypatch.chdir(tmp_path)
    if request.param == 'sqlite':
        engine = {'class': 'panther.db.connections.PantherDBConnection', 'path': tmp_path / 'f.sqlite3'}
    else:
        host, port = request.getfixturevalue('mongodb_address')
        engine = {
            'class': 'panther.db.connections.MongoDBConnection',
            'host': f'mongodb://{host}:{port}',
            'database': f'panther_files_{uuid.uuid4().hex[:12]}',
        }
    load_database({'engine': engine})
    yield tmp_path
    if request.param == 'mongodb':
        await config.DATABASE.client.drop_database(config.DATABASE.session.name)
    await config.DATABASE.close()


@pytest.mark.parametrize('relative', [True, False])
async def test_file_fields_are_saved_under_media_root(engine: Path, relative: bool) -> None:
    media = engine / 'media' / 'uploads'
    config.MEDIA_ROOT = 'media/uploads' if relative else media
    first = await Document.insert_one(
        title='a', attachment=File(file_name='../../etc/passwd', content_type='text/plain', file=b'one')
    )
    second = await Document.insert_one(
        title='b', attachment=File(file_name='passwd', content_type='text/plain', file=b'two')
    )
    paths = [Path(first.attachment.save()), Path(second.attachment.save())]
    # Inside MEDIA_ROOT, under sanitised names, and never overwriting each other.
    assert [_parent(path) for path in paths] == [media.resolve()] * 2
    assert paths[0].name == 'passwd' and paths[1] != paths[0]
    assert [path.read_bytes() for path in paths] == [b'one', b'two']
    assert not (engine / 'passwd').exists()

    found = await Document.find_one(id=first.id)
    assert found.attachment.read() == b'one'
    found.attachment.close()
    # Storing a document again keeps its file where it is (no copy).
    await found.save()
    await Document.update_one({'id': second.id}, title='b2')
    assert len(list(media.iterdir())) == 2
    await found.update(attachment=File(file_name='.hidden', content_type='text/plain', file=b'three'))
    assert _parent(Path(found.attachment.file_name)) == media.resolve()
    assert not Path(found.attachment.file_name).name.startswith('.')
    assert len(list(media.iterdir())) == 3


# Upload directories reached through symlinks


def _outside_and_app(tmp_path: Path) -> tuple[Path, Path]:
    outside, app = tmp_path / 'outside', tmp_path / 'app'
    outside.mkdir()
    app.mkdir()
    return outside, app


@pytest.mark.parametrize('relative', [True, False], ids=['relative path', 'absolute path'])
@pytest.mark.parametrize('subdirectory', ['', 'nested/'])
def test_symlinked_upload_directory_pointing_outside_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, relative: bool, subdirectory: str
) -> None:
    outside, app = _outside_and_app(tmp_path)
    (app / 'uploads').symlink_to(outside, target_is_directory=True)
    monkeypatch.chdir(app)
    directory = f'uploads/{subdirectory}' if relative else f'{app}/uploads/{subdirectory}'
    file = File(file_name='note.txt', content_type='text/plain', file=b'x')
    with pytest.raises(ValueError, match=r'goes through the symlink .*uploads`, which points outside'):
        file.save(directory)
    assert list(outside.rglob('*')) == []


def test_relative_upload_path_with_a_symlinked_parent_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outside, app = _outside_and_app(tmp_path)
    (app / 'media').symlink_to(outside, target_is_directory=True)
    monkeypatch.chdir(app)
    with pytest.raises(ValueError, match='points outside'):
        File(file_name='a.txt', content_type='text/plain', file=b'x').save('media/avatars/2024/')
    assert list(outside.rglob('*')) == []


def test_absolute_symlinked_upload_directory_pointing_outside_is_refused(tmp_path: Path) -> None:
    outside, app = _outside_and_app(tmp_path)
    (app / 'uploads').symlink_to(outside, target_is_directory=True)
    with pytest.raises(ValueError, match='points outside'):
        File(file_name='a.txt', content_type='text/plain', file=b'x').save(f'{app}/uploads/')
    assert list(outside.iterdir()) == []


def test_symlinked_upload_directory_inside_its_own_tree_is_allowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, app = _outside_and_app(tmp_path)
    (app / 'storage').mkdir()
    (app / 'uploads').symlink_to(app / 'storage', target_is_directory=True)
    monkeypatch.chdir(app)
    saved = File(file_name='a.txt', content_type='text/plain', file=b'kept').save('uploads/')
    assert (app / 'storage' / 'a.txt').read_bytes() == b'kept'
    assert Path(saved) == Path('uploads/a.txt')


def test_a_symlink_at_the_upload_name_is_not_followed(tmp_path: Path) -> None:
    outside, app = _outside_and_app(tmp_path)
    secret = outside / 'secret.txt'
    secret.write_bytes(b'secret')
    (app / 'a.txt').symlink_to(secret)
    with pytest.raises(ValueError, match='would be saved outside'):
        File(file_name='a.txt', content_type='text/plain', file=b'overwritten').save(f'{app}/', overwrite=True)
    assert secret.read_bytes() == b'secret'


# Uploads named like server files: the content comes only from the request


class CoverIn(BaseModel):
    title: str
    cover: Image


class AttachmentIn(BaseModel):
    attachment: File


@pytest.fixture
def server_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Files an attacker may name: in the working directory, one level up, and by absolute path."""
    work = tmp_path / 'work'
    (work / 'media').mkdir(parents=True)
    monkeypatch.chdir(work)
    files = {'README.md': work / 'README.md', '../secret.txt': tmp_path / 'secret.txt'}
    files[str(tmp_path / 'abs.toml')] = tmp_path / 'abs.toml'
    for path in files.values():
        path.write_bytes(b'SERVER FILE ' + path.name.encode())
    return files


def _read(path: str) -> bytes:
    return Path(path).read_bytes()


def _upload_app() -> Any:
    from panther import Panther
    from panther.app import API
    from panther.request import Request

    @API(methods=['POST'], input_model=CoverIn)
    async def covers(request: Request) -> dict:
        cover: Image = request.validated_data.cover
        return {'name': cover.file_name, 'saved': _read(cover.save('media/')).hex()}

    @API(methods=['POST'], input_model=AttachmentIn)
    async def attachments(request: Request) -> dict:
        return {'saved': _read(request.validated_data.attachment.save('media/')).hex()}

    return Panther(__name__, configs=__name__, urls={'covers/': covers, 'attachments/': attachments})


@pytest.mark.parametrize('spooled', [False, True], ids=['in memory', 'spooled to disk'])
async def test_an_upload_named_like_a_server_file_keeps_its_own_content(
    server_files: dict[str, Path], spooled: bool
) -> None:
    from panther.test import APIClient

    content = PNG + bytes(2 * 1024 * 1024 if spooled else 10)
    client = APIClient(_upload_app())
    for name in [*server_files, 'pyproject.toml', 'does-not-exist.png']:
        res = await client.post('/covers/', payload={'title': 't'}, files={'cover': (name, content, 'image/png')})
        assert res.status_code == 200, (name, res.data)
        assert bytes.fromhex(res.data['saved']) == content
        # Not an image: the same answer whether a server file of that name exists or not (no oracle either).
        res = await client.post('/covers/', payload={'title': 't'}, files={'cover': (name, b'text', 'image/png')})
        assert (res.status_code, res.data) == (415, {'detail': f'`{Path(name).name}` is not a valid image'})
    assert all(path.read_bytes().startswith(b'SERVER FILE') for path in server_files.values())


async def test_a_file_name_without_content_never_becomes_a_file(server_files: dict[str, Path]) -> None:
    from panther.test import APIClient

    client = APIClient(_upload_app())
    for name in [*server_files, 'pyproject.toml']:
        for field, path in (('attachment', '/attachments/'), ('cover', '/covers/')):
            named = {field: {'file_name': name, 'content_type': 'image/png'}, 'title': 't'}
            res = await client.post(path, payload=named)
            assert res.status_code == 400
            assert res.data == {field: 'Value error, expected an uploaded file (multipart/form-data), not a file name'}
            res = await client.post(path, payload={field: name, 'title': 't'})
            assert res.status_code == 400
    assert os.listdir('media') == []


async def test_a_model_never_copies_a_server_file_named_by_data(database: Path) -> None:
    (database / 'secret.txt').write_bytes(b'server secret')
    config.MEDIA_ROOT = database / 'media'
    data = {'title': 't', 'attachment': {'file_name': 'secret.txt', 'content_type': 'text/plain'}}
    with pytest.raises(DatabaseError):
        await Document.insert_one(**data)  # e.g. `insert_one(**request.data)` with a JSON body
    assert not (database / 'media').exists()
    # The program itself may still attach a server file by constructing a `File`.
    document = await Document.insert_one(title='t', attachment=File(file_name='secret.txt', content_type='text/plain'))
    assert _read(document.attachment.file_name) == b'server secret'
