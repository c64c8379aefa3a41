"""Rendering the panel's pages: the package's own autoescaped Jinja templates, the security headers, error pages
and the CSRF cookie."""

from __future__ import annotations

import datetime as dt
import enum
from pathlib import Path
from typing import Any

import jinja2

from panther.file_handler import File
from panther.panel.authentications import panel_root
from panther.panel.registry import label_of
from panther.panel.security import CSRF_COOKIE, CSRF_FIELD, SECURITY_HEADERS, csrf_token
from panther.response import Cookie, HTMLResponse, Response

__all__ = ['TEMPLATES_DIR', 'finish_page', 'render']

TEMPLATES_DIR = Path(__file__).resolve().parent / 'templates'
CELL_LENGTH = 80

_environment: jinja2.Environment | None = None


def cell(value: Any) -> str:
    """A value as one short line of a list's cell."""
    from panther.db import Model
    from panther.panel.forms import to_local

    if value is None:
        return '—'
    if isinstance(value, bool):
        return 'Yes' if value else 'No'
    if isinstance(value, Model):
        return label_of(value)
    if isinstance(value, File):
        return Path(value.file_name).name
    if isinstance(value, dt.datetime):
        return to_local(value).isoformat(sep=' ', timespec='minutes')
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, (list, tuple, set)):
        text = ', '.join(cell(item) for item in value)
    else:
        text = str(value)
    return text if len(text) <= CELL_LENGTH else f'{text[: CELL_LENGTH - 1]}…'


def environment() -> jinja2.Environment:
    global _environment
    if _environment is None:
        _environment = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
            autoescape=True,  # every value is escaped, whatever the template's name
            trim_blocks=True,
            lstrip_blocks=True,
        )
        _environment.filters['cell'] = cell
    return _environment


def render(request: Any, name: str, context: dict[str, Any] | None = None, status_code: int = 200) -> HTMLResponse:
    values = {
        'root': panel_root(request),
        'csrf_field': CSRF_FIELD,
        'csrf_token': csrf_token(request),
        'user': request.user,
        **(context or {}),
    }
    body = environment().get_template(name).render(values)
    return HTMLResponse(data=body, status_code=status_code)


def _wants_json(request: Any) -> bool:
    accept = request.headers.get('accept') or ''
    return 'application/json' in accept and 'text/html' not in accept


def _error_page(request: Any, response: Response) -> Response:
    data = response.data if isinstance(response.data, dict) else {}
    detail = data.get('detail') if 'detail' in data else data or 'Error'
    if not isinstance(detail, str):
        detail = (
            '; '.join(f'{key}: {value}' for key, value in detail.items()) if isinstance(detail, dict) else str(detail)
        )
    page = render(request, 'error.html', {'status': response.status_code, 'detail': detail}, response.status_code)
    for name, value in (response._headers or {}).items():
        if name.lower() not in ('content-type', 'content-length'):
            page.headers[name] = value
    return page


def finish_page(request: Any, response: Response) -> Response:
    """Every panel answer: a JSON error becomes an HTML page (unless the client asked for JSON), security headers
    are added and a new CSRF nonce is stored in its cookie."""
    if (
        response.status_code >= 400
        and response.content_type.startswith('application/json')
        and type(response) is Response
        and not _wants_json(request)
    ):
        response = _error_page(request, response)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)  # a view may tighten them (file downloads are sandboxed)
    nonce = request.__dict__.get('panel_new_csrf_nonce')
    if nonce is not None:
        cookie = Cookie(
            key=CSRF_COOKIE, value=nonce, httponly=True, samesite='strict', secure=request.scheme == 'https'
        ).to_header()
        response.cookies = [*(response.cookies or []), cookie]
    return response
