"""Request body parsers: multipart/form-data (streaming, with part and field limits) and their limits."""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from typing import Any

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from panther._internal.files import sanitize_filename
from panther.exceptions import BadRequestAPIError, PayloadTooLargeAPIError
from panther.file_handler import File

__all__ = [
    'DEFAULT_MAX_FORM_FIELDS',
    'DEFAULT_MAX_FORM_PARTS',
    'FORM_PARSE_SLICE',
    'SPOOL_THRESHOLD',
    'MultipartReader',
    'form_limits',
    'read_multipart_form_data',
    'too_many_fields',
    'too_many_parts',
]

logger = logging.getLogger('panther')


# Uploaded files larger than this are spooled to a temporary file instead of being kept in memory.
SPOOL_THRESHOLD = 1024 * 1024

# Defaults of the `MAX_FORM_PARTS` / `MAX_FORM_FIELDS` config keys. Each part costs parser callbacks and objects,
# so without a count limit a 10 MiB body of tiny parts keeps the process busy for seconds.
DEFAULT_MAX_FORM_PARTS = 1000
DEFAULT_MAX_FORM_FIELDS = 1000

# Form bodies are parsed at most this many bytes at a time, letting other requests run in between.
FORM_PARSE_SLICE = 32 * 1024


def form_limits() -> tuple[int, int]:
    """`(MAX_FORM_PARTS, MAX_FORM_FIELDS)` of the running configuration, or their defaults."""
    # Imported here: `configs` must not be loaded just because this module is.
    from panther.configs import config

    return int(config.MAX_FORM_PARTS or DEFAULT_MAX_FORM_PARTS), int(config.MAX_FORM_FIELDS or DEFAULT_MAX_FORM_FIELDS)


def too_many_parts(limit: int) -> PayloadTooLargeAPIError:
    return PayloadTooLargeAPIError(detail=f'Too many parts in the multipart form: at most {limit} (MAX_FORM_PARTS)')


def too_many_fields(limit: int) -> PayloadTooLargeAPIError:
    return PayloadTooLargeAPIError(detail=f'Too many fields in the form: at most {limit} (MAX_FORM_FIELDS)')


class _Spool(tempfile.SpooledTemporaryFile[bytes]):
    """A spooled upload that closes itself when the last `File` using it is gone."""

    def __del__(self) -> None:
        if not self.closed:
            self.close()


@dataclass
class _RawPart:
    headers: dict[str, str] = field(default_factory=dict)
    data: bytearray = field(default_factory=bytearray)
    spool: Any = None  # a SpooledTemporaryFile for file parts
    size: int = 0

    def is_file(self) -> bool:
        return 'filename=' in self.headers.get('content-disposition', '')

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.spool is not None:
            self.spool.write(chunk)
        elif self.is_file():
            self.spool = _Spool(max_size=SPOOL_THRESHOLD, mode='w+b')
            self.spool.write(chunk)
        else:
            self.data += chunk


class _PartCollector:
    """Callback target for python-multipart's streaming parser; turns each complete part into a field.

    Raises 413 as soon as the body has more parts than `max_parts` or more text fields than `max_fields`.
    """

    def __init__(self, max_parts: int, max_fields: int) -> None:
        # Parts are converted as soon as they end, so the work is spread over the slices of the body.
        self.fields: dict[str, Any] = {}
        self.current: _RawPart | None = None
        self.header_field = bytearray()
        self.header_value = bytearray()
        self.max_parts = max_parts
        self.max_fields = max_fields
        self.part_count = 0
        self.field_count = 0

    def on_part_begin(self) -> None:
        self.part_count += 1
        if self.part_count > self.max_parts:
            raise too_many_parts(self.max_parts)
        self.current = _RawPart()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        if self.current is not None:
            # latin-1 maps bytes one-to-one, so parameters can be recovered as the exact bytes sent.
            name = bytes(self.header_field).decode('latin-1').strip().lower()
            self.current.headers[name] = bytes(self.header_value).decode('latin-1').strip()
        self.header_field.clear()
        self.header_value.clear()

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.current is not None:
            self.current.write(data[start:end])

    def on_part_end(self) -> None:
        if self.current is not None:
            if not self.current.is_file():
                self.field_count += 1
                if self.field_count > self.max_fields:
                    raise too_many_fields(self.max_fields)
            _add_field(self.fields, self.current)
        self.current = None


def _decode_parameter(raw: bytes) -> str:
    # Browsers send non-ASCII names as raw UTF-8 inside the header; latin-1 never fails as a last resort.
    try:
        return raw.decode('utf-8')
    except UnicodeDecodeError:
        return raw.decode('latin-1')


def _read_line(body: bytes, start: int) -> tuple[bytes, int] | None:
    """Line starting at `start` without its line break, and the index after the break; None if unterminated."""
    end = body.find(b'\n', start)
    if end == -1:
        return None
    line = body[start:end]
    if line.endswith(b'\r'):
        line = line[:-1]
    return line, end + 1


def _to_crlf(delimiter: bytes, body: bytes, max_parts: int) -> bytes:
    """Rewrite the structural line breaks (around delimiters, inside part headers) of a bare-LF body as CRLF.

    python-multipart follows RFC 7578, which requires CRLF; some clients and hand-written tests send LF.
    Part contents are left byte-for-byte untouched. More than `max_parts` parts raise 413 before the rest is read.
    """
    output = bytearray()
    position = 0
    search_from = 0
    first = True
    parts = 0
    while True:
        index = body.find(delimiter, search_from)
        if index == -1:
            output += body[position:]
            return bytes(output)
        if index > 0 and body[index - 1 : index] != b'\n':
            # Not at the start of a line, so these bytes are content, not a delimiter.
            search_from = index + 1
            continue

        if not first:
            content = body[position:index]
            content = content[:-2] if content.endswith(b'\r\n') else content[:-1]
            output += content + b'\r\n'
        first = False
        output += delimiter
        after = index + len(delimiter)
        if body[after : after + 2] == b'--':
            output += b'--\r\n'
            return bytes(output)
        parts += 1
        if parts > max_parts:
            raise too_many_parts(max_parts)

        boundary_line = _read_line(body, after)
        if boundary_line is None:
            output += body[after:]
            return bytes(output)
        output += boundary_line[0] + b'\r\n'
        position = boundary_line[1]
        while True:
            header_line = _read_line(body, position)
            if header_line is None:
                output += body[position:]
                return bytes(output)
            line, position = header_line
            output += line + b'\r\n'
            if not line:
                break
        search_from = position


class MultipartReader:
    """Incremental `multipart/form-data` parser: feed body chunks as they arrive, then `finish()`.

    Text parts become `str` (UTF-8), parts with a `filename` become `File` objects with a sanitised name; file
    contents above `SPOOL_THRESHOLD` bytes go to a temporary file. Repeated names keep the last value. Malformed
    parts are skipped with an ERROR log. More parts or text fields than the limits (default: the `MAX_FORM_PARTS` /
    `MAX_FORM_FIELDS` config keys) raise `PayloadTooLargeAPIError` (413) from `feed()`; a boundary that
    python-multipart refuses (longer than 256 characters) raises `BadRequestAPIError` (400) here.
    """

    def __init__(self, boundary: str | bytes, max_parts: int | None = None, max_fields: int | None = None) -> None:
        self.boundary = boundary.encode('latin-1') if isinstance(boundary, str) else boundary
        if max_parts is None or max_fields is None:
            default_parts, default_fields = form_limits()
            max_parts = default_parts if max_parts is None else max_parts
            max_fields = default_fields if max_fields is None else max_fields
        self.collector = _PartCollector(max_parts, max_fields)
        self.failed = False
        try:
            self.parser = MultipartParser(
                self.boundary,
                callbacks={
                    'on_part_begin': self.collector.on_part_begin,
                    'on_part_data': self.collector.on_part_data,
                    'on_part_end': self.collector.on_part_end,
                    'on_header_field': self.collector.on_header_field,
                    'on_header_value': self.collector.on_header_value,
                    'on_header_end': self.collector.on_header_end,
                },
            )
        except FormParserError as exc:
            raise BadRequestAPIError(detail=f'Invalid multipart boundary: {exc}') from None

    def feed(self, chunk: bytes) -> None:
        if self.failed:
            return
        try:
            self.parser.write(chunk)
        except FormParserError:
            self.failed = True

    def finish(self) -> dict[str, Any]:
        if not self.failed:
            try:
                self.parser.finalize()
            except FormParserError:
                self.failed = True
        if self.failed:
            logger.error('Unrecognized multipart format')
        if self.collector.current is not None:
            # The closing delimiter never came: the last part may be cut short, so it is not trusted.
            logger.error('Malformed part, skipping.')
        return self.collector.fields


def _add_field(fields: dict[str, Any], part: _RawPart) -> None:
    """Turn one complete part into `fields[name]`: a `str` for text, a `File` for a file part."""
    disposition, options = parse_options_header(part.headers.get('content-disposition'))
    name_bytes = options.get(b'name')
    if disposition != b'form-data' or name_bytes is None:
        logger.error('Malformed part, skipping.')
        return
    name = _decode_parameter(name_bytes)
    filename = options.get(b'filename')
    if filename is None:
        try:
            fields[name] = part.data.decode('utf-8')
        except UnicodeDecodeError:
            logger.error('Malformed part, skipping.')
        return
    file_name = sanitize_filename(_decode_parameter(filename))
    content_type = part.headers.get('content-type') or 'application/octet-stream'
    spool = part.spool
    if spool is not None and part.size > SPOOL_THRESHOLD:
        fields[name] = File.from_spool(file_name=file_name, content_type=content_type, spool=spool)
        return
    content = b''
    if spool is not None:
        spool.seek(0)
        content = spool.read()
        spool.close()
    fields[name] = File(file_name=file_name, content_type=content_type, file=content)


def read_multipart_form_data(boundary: str | bytes, body: bytes) -> dict[str, Any]:
    """Parse a whole `multipart/form-data` body into `{name: str | File}` (see `MultipartReader`).

    Bodies that use bare LF line breaks (hand-written ones) are accepted too.
    """
    boundary_bytes = boundary.encode('latin-1') if isinstance(boundary, str) else boundary
    if not boundary_bytes:
        logger.error('Unrecognized multipart format')
        return {}
    reader = MultipartReader(boundary_bytes)
    if not body.endswith(b'\r\n'):
        body = _to_crlf(b'--' + boundary_bytes, body, reader.collector.max_parts)
    reader.feed(body)
    return reader.finish()
