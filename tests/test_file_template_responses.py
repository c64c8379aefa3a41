"""FileResponse (streaming, ranges, conditional requests, path safety) and TemplateResponse (escaping)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from panther import Panther
from panther.app import API
from panther.configs import config
from panther.response import FileResponse, TemplateResponse
from panther.test import APIClient

CONTENT = bytes(range(256)) * 1024  # 256 KiB: several chunks


@API()
async def serve(name: str):
    return FileResponse(name)


@API()
async def page(request):
    return TemplateResponse(name='page.html', context={'title': request.query_params.get('title', '')})


@API()
async def inline(request):
    return TemplateResponse(source='<p>{{ text }}</p>', context={'text': request.query_params.get('text', '')})


@API()
async def missing_template():
    return TemplateResponse(name='nope.html')


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> APIClient:
    (tmp_path / 'data.bin').write_bytes(CONTENT)
    (tmp_path / 'notes.md').write_text('# Notes\n')
    (tmp_path / 'page.html').write_text('<h1>{{ title }}</h1>')
    (tmp_path.parent / 'secret.txt').write_text('secret')
    app = Panther(
        str(tmp_path / 'main.py'),
        configs=__name__,
        urls={
            'files/<name>': serve,
            'page': page,
            'inline': inline,
            'missing': missing_template,
        },
    )
    assert config.BASE_DIR == tmp_path
    return APIClient(app)


async def test_file_is_streamed_whole(client: APIClient) -> None:
    res = await client.get('/files/data.bin')
    assert res.status_code == 200
    assert res.raw_body == CONTENT
    assert res.headers['Content-Length'] == str(len(CONTENT))
    assert res.headers['Accept-Ranges'] == 'bytes'
    assert res.headers['ETag'].startswith('"')
    assert 'Last-Modified' in res.headers


async def test_content_type_from_extension(client: APIClient) -> None:
    res = await client.get('/files/notes.md')
    assert res.headers['Content-Type'] == 'text/markdown'
    assert res.data == '# Notes\n'


async def test_head_sends_headers_only(client: APIClient) -> None:
    res = await client.head('/files/data.bin')
    assert res.status_code == 200
    assert res.raw_body == b''
    assert res.headers['Content-Length'] == str(len(CONTENT))


@pytest.mark.parametrize(
    ('header', 'start', 'end'),
    [
        ('bytes=0-9', 0, 9),
        ('bytes=100-', 100, len(CONTENT) - 1),
        ('bytes=-5', len(CONTENT) - 5, len(CONTENT) - 1),
        ('bytes=10-999999999', 10, len(CONTENT) - 1),
    ],
)
async def test_range_requests(client: APIClient, header: str, start: int, end: int) -> None:
    res = await client.get('/files/data.bin', headers={'Range': header})
    assert res.status_code == 206
    assert res.raw_body == CONTENT[start : end + 1]
    assert res.headers['Content-Range'] == f'bytes {start}-{end}/{len(CONTENT)}'
    assert res.headers['Content-Length'] == str(end - start + 1)


@pytest.mark.parametrize('header', ['bytes=999999999-', 'bytes=-0', 'bytes=20-10'])
async def test_unsatisfiable_range_is_416(client: APIClient, header: str) -> None:
    res = await client.get('/files/data.bin', headers={'Range': header})
    assert res.status_code == 416
    assert res.headers['Content-Range'] == f'bytes */{len(CONTENT)}'


async def test_malformed_range_is_ignored(client: APIClient) -> None:
    res = await client.get('/files/data.bin', headers={'Range': 'lines=1-2'})
    assert res.status_code == 200
    assert len(res.raw_body) == len(CONTENT)


async def test_conditional_requests_get_304(client: APIClient) -> None:
    first = await client.get('/files/data.bin')
    by_etag = await client.get('/files/data.bin', headers={'If-None-Match': first.headers['ETag']})
    assert by_etag.status_code == 304
    assert by_etag.raw_body == b''
    by_date = await client.get('/files/data.bin', headers={'If-Modified-Since': first.headers['Last-Modified']})
    assert by_date.status_code == 304
    other = await client.get('/files/data.bin', headers={'If-None-Match': '"other"'})
    assert other.status_code == 200


@pytest.mark.parametrize('name', ['missing.txt', '..%2Fsecret.txt', '..'])
async def test_missing_or_outside_files_are_404(client: APIClient, name: str) -> None:
    res = await client.get(f'/files/{name}')
    assert res.status_code == 404
    assert res.data == {'detail': 'Not Found'}


async def test_traversal_outside_base_dir_is_refused(tmp_path: Path) -> None:
    (tmp_path / 'inside').mkdir()
    (tmp_path / 'secret.txt').write_text('secret')
    config.BASE_DIR = tmp_path / 'inside'
    for path in ['../secret.txt', str(tmp_path / 'secret.txt')]:
        response = FileResponse(path)
        assert response.path is None
        assert response.status_code == 404


async def test_template_file_is_autoescaped(client: APIClient) -> None:
    res = await client.get('/page', query_params={'title': '<script>x</script>'})
    assert res.status_code == 200
    assert res.headers['Content-Type'] == 'text/html; charset=utf-8'
    assert res.data == '<h1>&lt;script&gt;x&lt;/script&gt;</h1>'


async def test_template_source_is_autoescaped(client: APIClient) -> None:
    res = await client.get('/inline', query_params={'text': '<b>hi</b>'})
    assert res.data == '<p>&lt;b&gt;hi&lt;/b&gt;</p>'


async def test_template_source_example_of_the_spec() -> None:
    response = TemplateResponse(
        source='<html><body><p>{{ content }}</p></body></html>', context={'content': 'Hello World'}
    )
    assert response.body == b'<html><body><p>Hello World</p></body></html>'


async def test_missing_template_is_500_with_one_error(client: APIClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        res = await client.get('/missing')
    assert res.status_code == 500
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert errors[0].startswith('`nope.html` Template Not Found.\n* Make sure `TEMPLATES_DIR`')


async def test_base_dir_names_another_directory(tmp_path: Path) -> None:
    uploads = tmp_path / 'uploads'
    uploads.mkdir()
    (uploads / 'cover.png').write_bytes(b'\x89PNG\r\n\x1a\n')
    (tmp_path / 'private.txt').write_text('no')
    config.BASE_DIR = tmp_path / 'elsewhere'
    assert FileResponse('cover.png', base_dir=uploads).path == uploads / 'cover.png'
    assert FileResponse('../private.txt', base_dir=uploads).status_code == 404


async def test_outside_base_dir_logs_a_warning_naming_both(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    media = tmp_path / 'media'
    media.mkdir()
    (media / 'cover.png').write_bytes(b'\x89PNG\r\n\x1a\n')
    config.BASE_DIR = tmp_path / 'app'
    with caplog.at_level(logging.WARNING, logger='panther'):
        response = FileResponse(str(media / 'cover.png'))
    assert response.status_code == 404
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert str(media / 'cover.png') in warnings[0]
    assert str(tmp_path / 'app') in warnings[0]
    assert 'base_dir=' in warnings[0]


async def test_missing_file_inside_base_dir_logs_nothing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config.BASE_DIR = tmp_path
    with caplog.at_level(logging.WARNING, logger='panther'):
        assert FileResponse('missing.txt').status_code == 404
        assert FileResponse('.').status_code == 404
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_media_root_served_with_base_dir(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    media = tmp_path / 'media'
    media.mkdir()
    (media / 'cover.png').write_bytes(b'\x89PNG\r\n\x1a\n')
    config.BASE_DIR = tmp_path / 'app'
    config.MEDIA_ROOT = media
    with caplog.at_level(logging.WARNING, logger='panther'):
        response = FileResponse(str(media / 'cover.png'), base_dir=config.MEDIA_ROOT)
    assert response.path == media / 'cover.png'
    assert caplog.records == []
