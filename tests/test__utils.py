from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from panther._utils import (
    detect_mime_type,
    import_class,
    is_function_async,
    read_multipart_form_data,
    sanitize_filename,
)

BOUNDARY = '--------------------------201301649688174364392792'

# --- import_class / is_function_async -------------------------------------------------------------------------


def test_import_class() -> None:
    assert import_class('pathlib.Path') is Path
    assert import_class('panther._utils.import_class') is import_class


def test_import_class_errors() -> None:
    with pytest.raises(ModuleNotFoundError, match="No module named 'fake'"):
        import_class('fake.Thing')
    with pytest.raises(AttributeError):
        import_class('pathlib.NoSuchName')


def test_is_function_async() -> None:
    async def coroutine_function() -> None:
        return None

    def plain_function() -> None:
        return None

    class Endpoint:
        async def get(self) -> None:
            return None

        def post(self) -> None:
            return None

    assert is_function_async(coroutine_function) is True
    assert is_function_async(plain_function) is False
    assert is_function_async(Endpoint().get) is True
    assert is_function_async(Endpoint().post) is False
    assert is_function_async(functools.partial(coroutine_function)) is True
    assert is_function_async(functools.partial(plain_function)) is False

    class AsyncCallable:
        async def __call__(self) -> None:
            return None

    assert is_function_async(AsyncCallable()) is True
    assert is_function_async(Endpoint) is False


# --- detect_mime_type -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ('name', 'expected'),
    [
        ('index.html', 'text/html'),
        ('style.css', 'text/css'),
        ('data.json', 'application/json'),
        ('photo.png', 'image/png'),
        ('photo.JPG', 'image/jpeg'),
        ('doc.pdf', 'application/pdf'),
    ],
)
def test_detect_mime_type_by_extension(tmp_path: Path, name: str, expected: str) -> None:
    # The file does not even need to exist: the extension decides first.
    assert detect_mime_type(tmp_path / name) == expected
    assert detect_mime_type(str(tmp_path / name)) == expected


@pytest.mark.parametrize(
    ('header', 'expected'),
    [
        (b'\x89PNG\r\n\x1a\n' + b'\x00' * 8, 'image/png'),
        (b'%PDF-1.7\n', 'application/pdf'),
        (b'PK\x03\x04\x14\x00', 'application/zip'),
        (b'\xff\xd8\xff\xe0\x00\x10JFIF', 'image/jpeg'),
        (b'GIF87a\x01\x00', 'image/gif'),
        (b'GIF89a\x01\x00', 'image/gif'),
        (b'BM\x36\x00\x00\x00', 'image/bmp'),
        (b'\x00\x00\x01\x00\x01\x00', 'image/x-icon'),
        (b'II*\x00\x08\x00', 'image/tiff'),
        (b'MM\x00*\x00\x00', 'image/tiff'),
        (b'\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00', 'video/mp4'),
    ],
)
def test_detect_mime_type_by_magic_number(tmp_path: Path, header: bytes, expected: str) -> None:
    path = tmp_path / 'no_extension'
    path.write_bytes(header + b'rest of the file')
    assert detect_mime_type(path) == expected


@pytest.mark.parametrize(
    ('extension', 'expected'),
    [
        ('yaml', 'text/yaml'),
        ('yml', 'text/yaml'),
        ('map', 'application/json'),
        ('toml', 'application/toml'),
        ('go', 'text/x-go'),
        ('vue', 'text/x-vue'),
    ],
)
def test_detect_mime_type_builtin_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extension: str, expected: str
) -> None:
    # The platform's MIME database varies between systems; with it out of the way the built-in table answers.
    monkeypatch.setattr('mimetypes.guess_type', lambda *_args, **_kwargs: (None, None))
    path = tmp_path / f'file.{extension}'
    path.write_text('plain content', encoding='utf-8')
    assert detect_mime_type(path) == expected


@pytest.mark.parametrize(
    ('extension', 'expected'),
    [('md', 'text/markdown'), ('woff2', 'font/woff2'), ('py', 'text/x-python'), ('yaml', 'text/yaml')],
)
def test_detect_mime_type_spec_examples(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extension: str, expected: str
) -> None:
    monkeypatch.setattr('mimetypes.guess_type', lambda *_args, **_kwargs: (None, None))
    assert detect_mime_type(tmp_path / f'x.{extension}') == expected


def test_detect_mime_type_magic_beats_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr('mimetypes.guess_type', lambda *_args, **_kwargs: (None, None))
    path = tmp_path / 'actually_png.txt'
    path.write_bytes(b'\x89PNG\r\n\x1a\n')
    assert detect_mime_type(path) == 'image/png'


def test_detect_mime_type_fallback(tmp_path: Path) -> None:
    path = tmp_path / 'unknown.zzzunknown'
    path.write_bytes(b'nothing recognisable here')
    assert detect_mime_type(path) == 'application/octet-stream'
    assert detect_mime_type(tmp_path / 'missing_without_extension') == 'application/octet-stream'


# --- sanitize_filename ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ('raw', 'expected'),
    [
        ('hello.txt', 'hello.txt'),
        ('../../etc/passwd', 'passwd'),
        ('..\\..\\windows\\system.ini', 'system.ini'),
        ('/absolute/path/file.png', 'file.png'),
        ('C:\\Users\\ali\\photo.jpg', 'photo.jpg'),
        ('C:photo.jpg', 'photo.jpg'),
        ('..', 'file'),
        ('...', 'file'),
        ('', 'file'),
        ('dir/', 'file'),
        ('.hidden', 'hidden'),
        ('a..b.txt', 'a.b.txt'),
        ('evil\x00.txt', 'evil.txt'),
        ('line\r\nbreak.txt', 'linebreak.txt'),
        ('tab\tname\x7f.txt', 'tabname.txt'),
        ('  spaced.txt  ', 'spaced.txt'),
        ('résumé ñ.pdf', 'résumé ñ.pdf'),
    ],
)
def test_sanitize_filename(raw: str, expected: str) -> None:
    assert sanitize_filename(raw) == expected


def test_sanitize_filename_caps_length_keeping_extension() -> None:
    name = sanitize_filename('a' * 400 + '.txt')
    assert name.endswith('.txt')
    assert len(name.encode('utf-8')) == 255
    multibyte = sanitize_filename('ж' * 300 + '.png')
    assert multibyte.endswith('.png')
    assert len(multibyte.encode('utf-8')) <= 255


@given(st.text())
def test_sanitize_filename_is_always_one_safe_component(raw: str) -> None:
    name = sanitize_filename(raw)
    assert name
    assert '/' not in name
    assert '\\' not in name
    assert '..' not in name
    assert not name.startswith('.')
    assert not any(ord(char) < 32 or ord(char) == 127 for char in name)
    assert len(name.encode('utf-8')) <= 255


# --- read_multipart_form_data ---------------------------------------------------------------------------------


def _crlf_body(*parts: str) -> bytes:
    lines: list[str] = []
    for part in parts:
        lines.append(f'--{BOUNDARY}')
        lines.append(part)
    lines.append(f'--{BOUNDARY}--')
    return ('\r\n'.join(lines) + '\r\n').encode()


def _field(name: str, value: str) -> str:
    return f'Content-Disposition: form-data; name="{name}"\r\n\r\n{value}'


def _file_attrs(obj: Any) -> tuple[str, str, bytes]:
    return obj.file_name, obj.content_type, obj.file


def test_multipart_text_fields() -> None:
    body = _crlf_body(_field('name', 'Ali Rn'), _field('age', '25'))
    assert read_multipart_form_data(BOUNDARY, body) == {'name': 'Ali Rn', 'age': '25'}


def test_multipart_boundary_as_bytes() -> None:
    body = _crlf_body(_field('name', 'Ali Rn'))
    assert read_multipart_form_data(BOUNDARY.encode(), body) == {'name': 'Ali Rn'}


def test_multipart_value_with_inner_newlines() -> None:
    body = (
        f'--{BOUNDARY}\r\n'
        'Content-Disposition: form-data; name="name"\r\n'
        '\r\n'
        'My\r\nName\r\nIs\r\nAli\r\n\r\n'
        f'\r\n--{BOUNDARY}--\r\n'
    ).encode()
    # Only the line break that belongs to the delimiter is removed.
    assert read_multipart_form_data(BOUNDARY, body) == {'name': 'My\r\nName\r\nIs\r\nAli\r\n\r\n'}

    spec_example = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="name"\r\n\r\n'
        f'My\r\nName\r\nIs\r\nAli\r\n\r\n--{BOUNDARY}--\r\n'
    ).encode()
    assert read_multipart_form_data(BOUNDARY, spec_example) == {'name': 'My\r\nName\r\nIs\r\nAli\r\n'}


def test_multipart_file_part() -> None:
    body = _crlf_body(
        _field('name', 'Ali Rn'),
        'Content-Disposition: form-data; name="file"; filename="hello_world.txt"\r\n'
        'Content-Type: text/plain\r\n'
        '\r\n'
        'Hello World\n',
        _field('age', '25'),
    )
    result = read_multipart_form_data(BOUNDARY, body)
    assert result['name'] == 'Ali Rn'
    assert result['age'] == '25'
    assert _file_attrs(result['file']) == ('hello_world.txt', 'text/plain', b'Hello World\n')


def test_multipart_file_is_file_handler_file() -> None:
    file_handler = pytest.importorskip('panther.file_handler')
    body = _crlf_body('Content-Disposition: form-data; name="f"; filename="a.txt"\r\nContent-Type: text/plain\r\n\r\nx')
    assert isinstance(read_multipart_form_data(BOUNDARY, body)['f'], file_handler.File)


def test_multipart_binary_file_kept_byte_for_byte() -> None:
    payload = bytes(range(256)) + b'\r\n\n\r' + b'--' + BOUNDARY.encode()[:-1]
    head = (
        f'--{BOUNDARY}\r\n'
        'Content-Disposition: form-data; name="upload"; filename="blob.bin"\r\n'
        'Content-Type: application/octet-stream\r\n\r\n'
    ).encode()
    body = head + payload + f'\r\n--{BOUNDARY}--\r\n'.encode()
    result = read_multipart_form_data(BOUNDARY, body)
    assert _file_attrs(result['upload']) == ('blob.bin', 'application/octet-stream', payload)


def test_multipart_lf_line_endings() -> None:
    body = (
        f'--{BOUNDARY}\n'
        'Content-Disposition: form-data; name="name"\n'
        '\n'
        'Ali Rn\n'
        f'--{BOUNDARY}\n'
        'Content-Disposition: form-data; name="file"; filename="hello_world.txt"\n'
        'Content-Type: text/plain\n'
        '\n'
        'Hello World\n'
        '\n'
        f'--{BOUNDARY}\n'
        'Content-Disposition: form-data; name="multi"\n'
        '\n'
        'line one\nline two\n'
        f'--{BOUNDARY}--'
    ).encode()
    result = read_multipart_form_data(BOUNDARY, body)
    assert result['name'] == 'Ali Rn'
    assert result['multi'] == 'line one\nline two'
    assert _file_attrs(result['file']) == ('hello_world.txt', 'text/plain', b'Hello World\n')


def test_multipart_crlf_without_final_newline() -> None:
    body = _crlf_body(_field('name', 'Ali'), _field('age', '25'))[:-2]
    assert read_multipart_form_data(BOUNDARY, body) == {'name': 'Ali', 'age': '25'}


def test_multipart_repeated_names_last_wins() -> None:
    body = _crlf_body(_field('tag', 'first'), _field('tag', 'second'), _field('tag', 'third'))
    assert read_multipart_form_data(BOUNDARY, body) == {'tag': 'third'}


def test_multipart_unicode_names_and_values() -> None:
    body = _crlf_body(
        _field('名前', '山田'),
        'Content-Disposition: form-data; name="doc"; filename="報告書.txt"\r\n'
        'Content-Type: text/plain\r\n\r\nこんにちは',
    )
    result = read_multipart_form_data(BOUNDARY, body)
    assert result['名前'] == '山田'
    assert _file_attrs(result['doc']) == ('報告書.txt', 'text/plain', 'こんにちは'.encode())


def test_multipart_filename_is_sanitised() -> None:
    body = _crlf_body(
        'Content-Disposition: form-data; name="f"; filename="../../etc/passwd"\r\nContent-Type: text/plain\r\n\r\nx'
    )
    assert read_multipart_form_data(BOUNDARY, body)['f'].file_name == 'passwd'


def test_multipart_file_without_content_type() -> None:
    body = _crlf_body('Content-Disposition: form-data; name="f"; filename="data.bin"\r\n\r\n\x01\x02')
    assert _file_attrs(read_multipart_form_data(BOUNDARY, body)['f']) == (
        'data.bin',
        'application/octet-stream',
        b'\x01\x02',
    )


def test_multipart_empty_file_field() -> None:
    # What a browser sends for a file input left empty.
    body = _crlf_body(
        'Content-Disposition: form-data; name="f"; filename=""\r\nContent-Type: application/octet-stream\r\n\r\n'
    )
    assert _file_attrs(read_multipart_form_data(BOUNDARY, body)['f']) == ('file', 'application/octet-stream', b'')


def test_multipart_malformed_part_skipped_with_error(caplog: pytest.LogCaptureFixture) -> None:
    body = _crlf_body(
        'Content-Type: text/plain\r\n\r\nno disposition',
        'Content-Disposition: attachment; name="x"\r\n\r\nwrong disposition type',
        'Content-Disposition: form-data\r\n\r\nno name',
        _field('ok', 'yes'),
    )
    with caplog.at_level(logging.ERROR, logger='panther'):
        result = read_multipart_form_data(BOUNDARY, body)
    assert result == {'ok': 'yes'}
    errors = [record for record in caplog.records if record.levelno == logging.ERROR and record.name == 'panther']
    assert [record.getMessage() for record in errors] == ['Malformed part, skipping.'] * 3


def test_multipart_invalid_utf8_text_skipped(caplog: pytest.LogCaptureFixture) -> None:
    body = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="bad"\r\n\r\n'.encode()
        + b'\xff\xfe'
        + f'\r\n--{BOUNDARY}\r\n'.encode()
        + b'Content-Disposition: form-data; name="good"\r\n\r\nfine'
        + f'\r\n--{BOUNDARY}--\r\n'.encode()
    )
    with caplog.at_level(logging.ERROR, logger='panther'):
        assert read_multipart_form_data(BOUNDARY, body) == {'good': 'fine'}
    assert 'Malformed part, skipping.' in caplog.messages


def test_multipart_garbage_logs_unrecognized(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger='panther'):
        assert read_multipart_form_data(BOUNDARY, b'this is not multipart at all\r\n') == {}
    assert 'Unrecognized multipart format' in caplog.messages


def test_multipart_truncated_body_keeps_complete_parts(caplog: pytest.LogCaptureFixture) -> None:
    body = _crlf_body(_field('first', 'kept'), _field('second', 'cut short'))
    truncated = body[: body.index(b'cut short') + 3]
    with caplog.at_level(logging.ERROR, logger='panther'):
        assert read_multipart_form_data(BOUNDARY, truncated) == {'first': 'kept'}
    assert 'Malformed part, skipping.' in caplog.messages


@pytest.mark.parametrize('body', [b'', b'\r\n', b'--', f'--{BOUNDARY}--\r\n'.encode(), f'--{BOUNDARY}'.encode()])
def test_multipart_empty_or_minimal_bodies(body: bytes) -> None:
    assert read_multipart_form_data(BOUNDARY, body) == {}


def test_multipart_empty_boundary() -> None:
    assert read_multipart_form_data('', b'--\r\n') == {}


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=200)
@given(st.binary(max_size=400))
def test_multipart_never_crashes_on_random_bytes(body: bytes) -> None:
    assert isinstance(read_multipart_form_data('abc', body), dict)


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=200)
@given(
    st.lists(
        st.sampled_from(
            [
                b'--abc',
                b'--abc--',
                b'\r\n',
                b'\n',
                b'Content-Disposition: form-data; name="a"',
                b'Content-Disposition: form-data; name="f"; filename="x"',
                b'Content-Type: text/plain',
                b'value',
                b'\xff',
                b': ',
            ]
        ),
        max_size=30,
    )
)
def test_multipart_never_crashes_on_shuffled_structure(chunks: list[bytes]) -> None:
    assert isinstance(read_multipart_form_data('abc', b''.join(chunks)), dict)
