"""Cover images: checked by their content (not by the name or type the client claims), stored under a random name.

The client chooses the file name and the `Content-Type` of an upload, so neither is trusted: the first bytes
decide the format, only raster formats browsers display are accepted (no SVG: it can carry scripts), and the
file is written as `<random id>.<extension of the detected format>` inside `config.UPLOAD_DIR`.
"""

import asyncio
import logging
import secrets
from pathlib import Path

from panther import status
from panther.configs import config
from panther.exceptions import APIError
from panther.file_handler import File, Image

logger = logging.getLogger('panther')

MAX_COVER_SIZE = 4 * 1024 * 1024

# (first bytes, content type, extension); WebP is `RIFF<size>WEBP`, checked separately.
_SIGNATURES = (
    (b'\x89PNG\r\n\x1a\n', 'image/png', '.png'),
    (b'\xff\xd8\xff', 'image/jpeg', '.jpg'),
    (b'GIF87a', 'image/gif', '.gif'),
    (b'GIF89a', 'image/gif', '.gif'),
)


def _unsupported(detail: str) -> APIError:
    return APIError(detail=detail, status_code=status.HTTP_415_UNSUPPORTED_MEDIA_TYPE)


def detect_format(head: bytes) -> tuple[str, str] | None:
    """(content type, extension) of a PNG, JPEG, GIF or WebP file from its first bytes; None for anything else."""
    for signature, content_type, extension in _SIGNATURES:
        if head.startswith(signature):
            return content_type, extension
    if head[:4] == b'RIFF' and head[8:12] == b'WEBP':
        return 'image/webp', '.webp'
    return None


def as_cover(upload: object) -> Image | None:
    """The uploaded file as an `Image` whose type is the detected one; 415 for anything but PNG/JPEG/GIF/WebP.

    An empty file part (a form whose file input was left empty) means "no cover".
    """
    if upload is None:
        return None
    if not isinstance(upload, File):
        raise _unsupported('Send the cover as a file in a multipart/form-data request.')
    if upload.size == 0:
        return None
    # `Image` itself refuses a non-image `Content-Type` with 415; the content check below catches the rest. The
    # stand-in gets empty content: an `Image` made from a name alone would read the server file of that name.
    Image(file_name=upload.file_name, content_type=upload.content_type, file=b'')
    data = upload.read()
    if len(data) > MAX_COVER_SIZE:
        raise APIError(
            detail=f'The cover is larger than {MAX_COVER_SIZE // (1024 * 1024)} MiB.',
            status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    detected = detect_format(data[:16])
    if detected is None:
        raise _unsupported('The cover must be a PNG, JPEG, GIF or WebP image.')
    content_type, extension = detected
    return Image(file_name=f'{secrets.token_hex(16)}{extension}', content_type=content_type, file=data)


async def save_cover(cover: Image) -> Image:
    """Write the cover into the upload directory (in a worker thread); the model then stores the saved path."""
    directory: Path = config.UPLOAD_DIR
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    await asyncio.to_thread(cover.save, directory / cover.file_name)
    return cover


def cover_path(cover: File | None) -> Path | None:
    """The stored file of a cover, or None when there is none or it is not inside the upload directory."""
    if cover is None or not cover.file_name:
        return None
    path = Path(cover.file_name).resolve()
    if not path.is_relative_to(config.UPLOAD_DIR) or not path.is_file():
        return None
    return path


async def delete_cover(cover: File | None) -> None:
    path = cover_path(cover)
    if path is not None:
        try:
            await asyncio.to_thread(path.unlink, missing_ok=True)
        except OSError as exc:
            # The post change is already stored; a leftover file is only wasted space.
            logger.warning(f'Could not delete the cover {path}: {exc}')
