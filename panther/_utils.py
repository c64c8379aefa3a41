"""Helpers SPEC names in `panther._utils`; each lives in the `panther._internal` module of its concern."""

from __future__ import annotations

from panther._internal.files import detect_mime_type, sanitize_filename
from panther._internal.imports import import_class, is_function_async
from panther._internal.parsers import read_multipart_form_data

__all__ = [
    'detect_mime_type',
    'import_class',
    'is_function_async',
    'read_multipart_form_data',
    'sanitize_filename',
]
