"""File signatures, MIME types and safe upload file names."""

from __future__ import annotations

import mimetypes
import re
from pathlib import Path

__all__ = ['detect_mime_type', 'sanitize_filename']

_MAGIC_NUMBERS: tuple[tuple[bytes, str], ...] = (
    (b'\x89PNG\r\n\x1a\n', 'image/png'),
    (b'%PDF', 'application/pdf'),
    (b'PK\x03\x04', 'application/zip'),
    (b'\xff\xd8\xff', 'image/jpeg'),
    (b'GIF87a', 'image/gif'),
    (b'GIF89a', 'image/gif'),
    (b'BM', 'image/bmp'),
    (b'\x00\x00\x01\x00', 'image/x-icon'),
    (b'II*\x00', 'image/tiff'),
    (b'MM\x00*', 'image/tiff'),
)

# Used only when neither the platform's MIME database nor the magic numbers know the file; that database
# differs between systems (a minimal container may have no /etc/mime.types at all).
_EXTENSION_TYPES: dict[str, str] = {
    # text and web
    'html': 'text/html',
    'htm': 'text/html',
    'css': 'text/css',
    'csv': 'text/csv',
    'tsv': 'text/tab-separated-values',
    'txt': 'text/plain',
    'log': 'text/plain',
    'md': 'text/markdown',
    'markdown': 'text/markdown',
    'rst': 'text/x-rst',
    'xml': 'application/xml',
    'json': 'application/json',
    'jsonld': 'application/ld+json',
    'yml': 'text/yaml',
    'yaml': 'text/yaml',
    'toml': 'application/toml',
    'ini': 'text/plain',
    'js': 'text/javascript',
    'mjs': 'text/javascript',
    'cjs': 'text/javascript',
    'ts': 'text/typescript',
    'tsx': 'text/tsx',
    'jsx': 'text/jsx',
    'map': 'application/json',
    'wasm': 'application/wasm',
    # images
    'png': 'image/png',
    'jpg': 'image/jpeg',
    'jpeg': 'image/jpeg',
    'gif': 'image/gif',
    'bmp': 'image/bmp',
    'webp': 'image/webp',
    'svg': 'image/svg+xml',
    'ico': 'image/x-icon',
    'tif': 'image/tiff',
    'tiff': 'image/tiff',
    'avif': 'image/avif',
    'heic': 'image/heic',
    # fonts
    'woff': 'font/woff',
    'woff2': 'font/woff2',
    'ttf': 'font/ttf',
    'otf': 'font/otf',
    'eot': 'application/vnd.ms-fontobject',
    # audio
    'mp3': 'audio/mpeg',
    'wav': 'audio/wav',
    'ogg': 'audio/ogg',
    'oga': 'audio/ogg',
    'opus': 'audio/opus',
    'flac': 'audio/flac',
    'aac': 'audio/aac',
    'm4a': 'audio/mp4',
    'weba': 'audio/webm',
    # video
    'mp4': 'video/mp4',
    'm4v': 'video/mp4',
    'webm': 'video/webm',
    'ogv': 'video/ogg',
    'mov': 'video/quicktime',
    'avi': 'video/x-msvideo',
    'mkv': 'video/x-matroska',
    'mpeg': 'video/mpeg',
    # archives
    'zip': 'application/zip',
    'gz': 'application/gzip',
    'tgz': 'application/gzip',
    'bz2': 'application/x-bzip2',
    'xz': 'application/x-xz',
    'zst': 'application/zstd',
    'tar': 'application/x-tar',
    '7z': 'application/x-7z-compressed',
    'rar': 'application/vnd.rar',
    # documents
    'pdf': 'application/pdf',
    'rtf': 'application/rtf',
    'doc': 'application/msword',
    'docx': 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
    'xls': 'application/vnd.ms-excel',
    'xlsx': 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
    'ppt': 'application/vnd.ms-powerpoint',
    'pptx': 'application/vnd.openxmlformats-officedocument.presentationml.presentation',
    'odt': 'application/vnd.oasis.opendocument.text',
    'ods': 'application/vnd.oasis.opendocument.spreadsheet',
    'odp': 'application/vnd.oasis.opendocument.presentation',
    'epub': 'application/epub+zip',
    # source code
    'py': 'text/x-python',
    'pyi': 'text/x-python',
    'c': 'text/x-c',
    'h': 'text/x-c',
    'cpp': 'text/x-c++',
    'hpp': 'text/x-c++',
    'java': 'text/x-java',
    'kt': 'text/x-kotlin',
    'go': 'text/x-go',
    'rs': 'text/x-rust',
    'rb': 'text/x-ruby',
    'php': 'text/x-php',
    'swift': 'text/x-swift',
    'sh': 'text/x-shellscript',
    'bash': 'text/x-shellscript',
    'sql': 'application/sql',
    'scss': 'text/x-scss',
    'sass': 'text/x-sass',
    'less': 'text/x-less',
    'vue': 'text/x-vue',
}

_MAGIC_READ_SIZE = 16


def _sniff(path: str | Path) -> str | None:
    try:
        with open(path, 'rb') as file:
            header = file.read(_MAGIC_READ_SIZE)
    except OSError:
        return None
    for signature, mime_type in _MAGIC_NUMBERS:
        if header.startswith(signature):
            return mime_type
    if header[:4] == b'\x00\x00\x00\x18' and b'ftyp' in header:
        return 'video/mp4'
    return None


def detect_mime_type(file_path: str | Path, /) -> str:
    """Best guess for a file's MIME type: extension, then magic numbers, then a built-in table."""
    guessed, _ = mimetypes.guess_type(str(file_path))
    if guessed:
        return guessed
    sniffed = _sniff(file_path)
    if sniffed:
        return sniffed
    extension = Path(file_path).suffix.lstrip('.').lower()
    return _EXTENSION_TYPES.get(extension, 'application/octet-stream')


_CONTROL_CHARACTERS = re.compile(r'[\x00-\x1f\x7f]')
_DOT_RUNS = re.compile(r'\.{2,}')
_DRIVE_PREFIX = re.compile(r'^[A-Za-z]:')
_MAX_FILENAME_BYTES = 255
_FALLBACK_FILENAME = 'file'


def sanitize_filename(name: str, /) -> str:
    """Make a client-supplied file name safe to use as one path component.

    Keeps only the last path segment (either slash), drops NUL and control characters, collapses `..` and
    leading dots (no parent references, no hidden files), and caps the length at 255 UTF-8 bytes keeping the
    extension. A name with nothing usable left becomes `'file'`.
    """
    cleaned = _CONTROL_CHARACTERS.sub('', name)
    cleaned = cleaned.replace('\\', '/').rsplit('/', 1)[-1]
    cleaned = _DRIVE_PREFIX.sub('', cleaned)
    cleaned = _DOT_RUNS.sub('.', cleaned).strip().lstrip('.').strip()
    if not cleaned:
        return _FALLBACK_FILENAME

    if len(cleaned.encode('utf-8')) > _MAX_FILENAME_BYTES:
        stem, dot, suffix = cleaned.rpartition('.')
        if not dot or len(suffix.encode('utf-8')) > 32:
            stem, suffix = cleaned, ''
        room = _MAX_FILENAME_BYTES - len(suffix.encode('utf-8')) - (1 if suffix else 0)
        stem = stem.encode('utf-8')[:room].decode('utf-8', errors='ignore')
        cleaned = f'{stem}.{suffix}' if suffix else stem
    return cleaned
