"""`File` and `Image`: uploaded or on-disk files, usable as request fields and as model fields.

A `File` holds its bytes in memory (uploads) or refers to a path on disk (opened lazily). In a `Model`, a
file field is written with `save()` on insert/update and stored as the saved path.
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path
from typing import IO

from pydantic import BaseModel, PrivateAttr, field_validator

from panther import status
from panther.exceptions import APIError

__all__ = ['File', 'Image']


class File(BaseModel):
    file_name: str
    content_type: str
    file: bytes | None = None

    _buffer: IO[bytes] | None = PrivateAttr(default=None)
    _saved_path: str | None = PrivateAttr(default=None)
    _size: int | None = PrivateAttr(default=None)

    # ------------------------------------------------------------------------------------------ reading

    def _open(self) -> IO[bytes]:
        if self._buffer is None:
            if self.file is not None:
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
            elif self.file_name and os.path.isfile(self.file_name):
                self._size = os.path.getsize(self.file_name)
            else:
                self._size = 0
        return self._size

    # ------------------------------------------------------------------------------------------- saving

    def _target(self, path: str | Path | None) -> Path:
        from panther._utils import sanitize_filename

        # The client chooses `file_name`; only its sanitised last component is ever used inside a directory.
        name = sanitize_filename(self.file_name)
        if path is None:
            directory, target = Path.cwd(), Path.cwd() / name
        elif str(path).endswith(('/', os.sep)):
            directory = Path(path)
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


class Image(File):
    """A `File` whose `content_type` is `image/*` (anything else is a 415 error)."""

    @field_validator('content_type')
    @classmethod
    def _check_content_type(cls, value: str) -> str:
        if not value.startswith('image/'):
            raise APIError(
                detail=f"{value} is not a valid image 'content_type'",
                status_code=status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            )
        return value
