"""`File` and `Image`: uploaded or on-disk files, usable as request fields and as model fields.

A `File` holds its bytes in memory (uploads) or refers to a path on disk (opened lazily). In a `Model`, a
file field is written with `save()` on insert/update and stored as the saved path.
"""

from __future__ import annotations

import io
import os
import shutil
from contextvars import ContextVar
from pathlib import Path
from typing import IO, Any, ClassVar

from pydantic import BaseModel, ModelWrapValidatorHandler, PrivateAttr, field_validator, model_validator

from panther import status
from panther.exceptions import APIError

__all__ = ['File', 'Image']

# True while `File(...)` itself runs: only the constructor may make a file that refers to a path on disk.
_CONSTRUCTING: ContextVar[bool] = ContextVar('panther_file_constructing', default=False)
# True while an upload is converted to a subclass: its content is attached after validation, so the content
# check must wait for it instead of looking for a file of that name on disk.
_CONVERTING: ContextVar[bool] = ContextVar('panther_file_converting', default=False)


class File(BaseModel):
    """An uploaded or on-disk file.

    Small uploads keep their bytes in `file`; uploads larger than `panther._internal.parsers.SPOOL_THRESHOLD` are
    kept in a temporary file (`file` is None): use `read()`, `size` and `save()` for both kinds.
    """

    file_name: str
    content_type: str
    file: bytes | None = None

    _buffer: IO[bytes] | None = PrivateAttr(default=None)
    _spool: IO[bytes] | None = PrivateAttr(default=None)
    _saved_path: str | None = PrivateAttr(default=None)
    _size: int | None = PrivateAttr(default=None)

    @classmethod
    def from_spool(cls, file_name: str, content_type: str, spool: IO[bytes]) -> File:
        """A file whose content is in `spool` (an open temporary file), without loading it into memory."""
        spool.seek(0, io.SEEK_END)
        size = spool.tell()
        spool.seek(0)
        instance = cls(file_name=file_name, content_type=content_type)
        instance._spool = spool
        instance._size = size
        instance._check_content()
        return instance

    def __init__(self, **data: Any) -> None:
        token = _CONSTRUCTING.set(True)
        try:
            super().__init__(**data)
        finally:
            _CONSTRUCTING.reset(token)

    @model_validator(mode='wrap')
    @classmethod
    def _from_other_file(cls, value: Any, handler: ModelWrapValidatorHandler[File]) -> File:
        # A parsed upload is a plain `File`; a field typed `Image` (or another subclass) re-validates it.
        if isinstance(value, File) and not isinstance(value, cls):
            token = _CONVERTING.set(True)
            try:
                converted = handler(
                    {'file_name': value.file_name, 'content_type': value.content_type, 'file': value.file}
                )
            finally:
                _CONVERTING.reset(token)
            converted._spool = value._spool
            converted._size = value._size
            converted._saved_path = value._saved_path
            converted._check_content()
            return converted
        if isinstance(value, dict) and value.get('file') is None and not _CONSTRUCTING.get():
            # Data (a JSON body, a form field, `insert_one(**request.data)`) names a file but carries no content:
            # accepting it would read or copy the server file of that name.
            raise ValueError('expected an uploaded file (multipart/form-data), not a file name')
        return handler(value)

    def _check_content(self) -> None:
        """Hook for subclasses that check the content itself (see `Image`)."""

    def head(self, size: int = 16) -> bytes:
        """The first `size` bytes, without moving the read position."""
        if self.file is not None:
            return self.file[:size]
        source = self._spool
        if source is None:
            if not self.file_name or not os.path.isfile(self.file_name):
                return b''
            with open(self.file_name, 'rb') as handle:
                return handle.read(size)
        position = source.tell()
        source.seek(0)
        data = source.read(size)
        source.seek(position)
        return data

    # ------------------------------------------------------------------------------------------ reading

    def _open(self) -> IO[bytes]:
        if self._buffer is None:
            if self._spool is not None:
                self._spool.seek(0)
                self._buffer = self._spool
            elif self.file is not None:
                self._buffer = io.BytesIO(self.file)
            elif self.file_name:
                self._buffer = open(self.file_name, 'rb')  # closed by __exit__ / close()
            else:
                raise ValueError('No file source to read from.')
        return self._buffer

    def __enter__(self) -> File:
        self._open()
        return self

    def __exit__(self, *args: object) -> None:
        self.close()

    def close(self) -> None:
        if self._buffer is not None:
            # The spooled upload stays open: it is the only copy of the content until the file is saved.
            if self._buffer is not self._spool:
                self._buffer.close()
            self._buffer = None

    def read(self, size: int = -1) -> bytes:
        return self._open().read(size)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._open().seek(offset, whence)

    def tell(self) -> int:
        return self._open().tell()

    def write(self, data: bytes) -> int:
        """Append to an in-memory file (disk-backed files are read-only)."""
        if self.file is None:
            raise OSError('Write is only supported for in-memory files.')
        buffer = self._open()
        buffer.seek(0, io.SEEK_END)
        written = buffer.write(data)
        self.file = self.file + data
        self._size = None
        return written

    @property
    def size(self) -> int:
        if self._size is None:
            if self.file is not None:
                self._size = len(self.file)
            elif self._spool is not None:
                position = self._spool.tell()
                self._size = self._spool.seek(0, io.SEEK_END)
                self._spool.seek(position)
            elif self.file_name and os.path.isfile(self.file_name):
                self._size = os.path.getsize(self.file_name)
            else:
                self._size = 0
        return self._size

    # ------------------------------------------------------------------------------------------- saving

    def _target(self, path: str | Path | None) -> Path:
        from panther._internal.files import sanitize_filename

        # The client chooses `file_name`; only its sanitised last component is ever used inside a directory.
        name = sanitize_filename(self.file_name)
        if path is None:
            directory, target = Path.cwd(), Path.cwd() / name
        elif str(path).endswith(('/', os.sep)):
            directory = Path(path)
            _refuse_outward_symlinks(directory)
            target = directory / name
        else:
            return Path(path)
        if os.path.commonpath([directory.resolve(), target.resolve()]) != str(directory.resolve()):
            raise ValueError(f'`{self.file_name}` would be saved outside `{directory}`.')
        return target

    @staticmethod
    def _free_name(target: Path) -> Path:
        from panther.utils import timezone_now

        stamp = timezone_now().strftime('%Y%m%d_%H%M%S')
        candidate = target.with_name(f'{target.stem}_{stamp}{target.suffix}')
        number = 1
        while candidate.exists():
            candidate = target.with_name(f'{target.stem}_{stamp}_{number}{target.suffix}')
            number += 1
        return candidate

    def save(self, path: str | Path | None = None, overwrite: bool = False) -> str:
        """Write the file and return its path; later calls return the first path whatever their arguments.

        `path` ending with `/` is a directory (the file keeps its sanitised name inside it), any other `path` is
        the file path, and no `path` means the sanitised name in the working directory. Without `overwrite` an
        existing target gets a `_<YYYYMMDD_HHMMSS>` (then `_<n>`) suffix instead of being replaced.
        """
        if self._saved_path is not None:
            return self._saved_path
        target = self._target(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        while True:
            if not overwrite and target.exists():
                target = self._free_name(target)
            try:
                # Exclusive creation closes the race between the existence check and the write.
                with open(target, 'wb' if overwrite else 'xb') as output:
                    if self.file is not None:
                        output.write(self.file)
                    elif self._spool is not None:
                        self._spool.seek(0)
                        shutil.copyfileobj(self._spool, output)
                    else:
                        with open(self.file_name, 'rb') as source:
                            shutil.copyfileobj(source, output)
                break
            except FileExistsError:
                continue
        self._saved_path = str(target)
        return self._saved_path

    def __str__(self) -> str:
        return f'{type(self).__name__}(file_name={self.file_name}, content_type={self.content_type})'

    def __repr__(self) -> str:
        return str(self)


def _refuse_outward_symlinks(directory: Path) -> None:
    """Refuse an upload directory reached through a symlink that leads out of the directory holding it.

    With `uploads -> /etc` (or `-> ../elsewhere`) client files would land outside the tree the code names; a link
    pointing further down its own tree is fine. The components checked are those below the working directory
    for a path inside it, else the directory itself (links above it belong to the deployment).
    """
    absolute = Path(os.path.abspath(directory))
    cwd = Path.cwd()
    anchor = cwd if absolute.is_relative_to(cwd) else absolute.parent
    current = anchor
    for part in absolute.relative_to(anchor).parts:
        holder = current.resolve()
        current = current / part
        if current.is_symlink() and not current.resolve().is_relative_to(holder):
            raise ValueError(
                f'The upload directory `{directory}` goes through the symlink `{current}`, '
                f'which points outside `{holder}`.'
            )


# First bytes of the raster formats browsers display.
_IMAGE_SIGNATURES: tuple[tuple[bytes, int], ...] = (
    (b'\x89PNG\r\n\x1a\n', 0),
    (b'\xff\xd8\xff', 0),
    (b'GIF87a', 0),
    (b'GIF89a', 0),
    (b'WEBP', 8),
    (b'BM', 0),
    (b'II*\x00', 0),
    (b'MM\x00*', 0),
    (b'\x00\x00\x01\x00', 0),
    (b'ftypavif', 4),
)


class Image(File):
    """A `File` whose `content_type` is `image/*` and whose content starts like an image (else a 415 error).

    SVG is refused unless a subclass sets `allow_svg = True`: an SVG document can carry scripts.
    """

    allow_svg: ClassVar[bool] = False

    @field_validator('content_type')
    @classmethod
    def _check_content_type(cls, value: str) -> str:
        if not value.startswith('image/') or (value.startswith('image/svg') and not cls.allow_svg):
            raise APIError(
                detail=f"{value} is not a valid image 'content_type'",
                status_code=status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            )
        return value

    @model_validator(mode='after')
    def _check_signature(self) -> Image:
        if not _CONVERTING.get():
            self._check_content()
        return self

    def _check_content(self) -> None:
        head = self.head(16)
        if not head or self.content_type.startswith('image/svg'):
            return
        if not any(head[offset : offset + len(signature)] == signature for signature, offset in _IMAGE_SIGNATURES):
            raise APIError(
                detail=f'`{self.file_name}` is not a valid image',
                status_code=status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            )
