"""The panel's views (routes in `panther.panel.urls`). Model indexes follow `config.MODELS`."""

from __future__ import annotations

import enum
import logging
import math
import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from panther.app import GenericAPI
from panther.configs import config
from panther.db.models import BaseUser, DocumentError, ProtectedError
from panther.exceptions import (
    BadRequestAPIError,
    DatabaseError,
    MethodNotAllowedAPIError,
    NotFoundAPIError,
    PantherError,
)
from panther.file_handler import File
from panther.openapi import OutputSchema
from panther.panel.authentications import AdminCookieJWTAuthentication, panel_root
from panther.panel.forms import (
    FieldSpec,
    choice_of,
    fingerprint,
    form_specs,
    form_values,
    json_default,
    leaves,
    parse_form,
)
from panther.panel.middlewares import RedirectToSlashMiddleware, page_middleware
from panther.panel.pages import TEMPLATES_DIR, render
from panther.panel.permissions import IsAuthenticated
from panther.panel.registry import ModelAdmin, label_of, options_for
from panther.panel.security import CSRF_FIELD, is_staff
from panther.request import Request
from panther.response import Cookie, FileResponse, RedirectResponse, Response
from panther.throttling import Throttle
from panther.utils import timezone_now

__all__ = [
    'BulkDeleteView',
    'CreateView',
    'DeleteView',
    'DetailView',
    'FileView',
    'HomeView',
    'LoginView',
    'LogoutView',
    'StaticView',
    'TableView',
]

logger = logging.getLogger('panther')

VERSION_FIELD = '_version'
PICKER_LIMIT = 500
COLUMNS = 6
STALE_MESSAGE = (
    'This document was changed by someone else after you opened it, so your changes were not saved. '
    'The form below shows your input; reload the page to see the current version.'
)


async def anonymous(request: Request) -> None:
    """No authentication: the login page and the static files are public, whatever `config.AUTHENTICATION` is."""
    return None


class PanelView(GenericAPI):
    auth = AdminCookieJWTAuthentication
    permissions = [IsAuthenticated]
    output_schema = OutputSchema(exclude_in_docs=True)


def _view(depth: int, *, slash: bool = True) -> list[Any]:
    return [page_middleware(depth), RedirectToSlashMiddleware] if slash else [page_middleware(depth)]


# --- models and documents --------------------------------------------------------------------------------------


def model_at(index: str) -> tuple[int, type[Any], ModelAdmin]:
    """The model at `index` of `config.MODELS`; 404 for anything else (not a number, out of range, hidden)."""
    if not index.isdigit() or len(index) > 6:
        raise NotFoundAPIError(detail=f'There is no model at index {index!r}')
    number = int(index)
    if number >= len(config.MODELS):
        raise NotFoundAPIError(detail=f'There is no model at index {number}')
    model = config.MODELS[number]
    options = options_for(model)
    if options.hidden:
        raise NotFoundAPIError(detail=f'There is no model at index {number}')
    return number, model, options


async def document_of(model: type[Any], document_id: str) -> Any:
    """The stored document; 404 when there is none or the id is malformed (e.g. not an ObjectId)."""
    document = None
    if 0 < len(document_id) <= 64 and document_id.isprintable():
        try:
            document = await model.find_one(id=document_id)
        except (DatabaseError, ValueError, TypeError):
            document = None
    if document is None:
        raise NotFoundAPIError(detail=f'There is no {model.__name__} with id {document_id!r}')
    return document


def is_user_model(model: type[Any]) -> bool:
    return issubclass(model, BaseUser)


def public_dump(document: Any) -> dict[str, Any]:
    data: dict[str, Any] = document.model_dump(mode='json', fallback=json_default)
    if is_user_model(type(document)):
        data.pop('password', None)
    return data


async def picker_options(target: type[Any]) -> list[tuple[str, str]]:
    """`(id, label)` of the documents a reference input offers (the first `PICKER_LIMIT`)."""
    documents = await target.find().limit(PICKER_LIMIT)
    return [(str(document.id), f'{label_of(document)} · {document.id}') for document in documents]


async def form_context(
    number: int, model: type[Any], options: ModelAdmin, values: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    # Read-only fields are typed once, when the document is created, and never changed afterwards.
    specs = form_specs(model, () if extra.get('creating') else options.readonly_fields)
    pickers: dict[str, list[tuple[str, str]]] = {}
    for spec in leaves(specs):
        if spec.kind in ('reference', 'references') and spec.name not in pickers:
            pickers[spec.name] = await picker_options(spec.target)
    return {
        'index': number,
        'model_name': model.__name__,
        'specs': specs,
        'values': values,
        'pickers': pickers,
        'errors': {},
        'is_user': is_user_model(model),
        **extra,
    }


def default_values(specs: list[FieldSpec], model: type[Any]) -> dict[str, Any]:
    defaults: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        if name != 'id' and not field.is_required():
            defaults[name] = field.get_default(call_default_factory=True)
    return form_values(specs, defaults)


# --- home ------------------------------------------------------------------------------------------------------


class HomeView(PanelView):
    middlewares = _view(0, slash=False)

    async def get(self, request: Request) -> Response:
        tables = []
        for number, model in enumerate(config.MODELS):
            if options_for(model).hidden:
                continue
            try:
                count: int | None = await model.count()
            except Exception as exc:  # one unreachable collection should not hide the others
                logger.error(f'Admin panel: counting {model.__name__} failed: {exc}')
                count = None
            tables.append({'index': number, 'name': model.__name__, 'module': model.__module__, 'count': count})
        return render(request, 'home.html', {'tables': tables})


# --- list ------------------------------------------------------------------------------------------------------


def _default_columns(specs: list[FieldSpec]) -> list[str]:
    return [spec.name for spec in specs if spec.kind != 'password'][:COLUMNS]


def _search_fields(specs: list[FieldSpec], options: ModelAdmin) -> list[str]:
    if options.search_fields is not None:
        return list(options.search_fields)
    return [spec.name for spec in specs if spec.kind in ('str', 'text')]


def _filter_fields(specs: list[FieldSpec], options: ModelAdmin) -> list[FieldSpec]:
    by_name = {spec.name: spec for spec in specs}
    if options.list_filter is not None:
        return [by_name[name] for name in options.list_filter if name in by_name]
    return [spec for spec in specs if spec.kind in ('bool', 'enum', 'reference')]


def _filter_value(spec: FieldSpec, raw: str) -> Any:
    """A filter's query value as the stored type; ValueError when it cannot be one."""
    kind = spec.kind
    if kind == 'bool':
        if raw.lower() not in ('true', 'false'):
            raise ValueError('expected true or false')
        return raw.lower() == 'true'
    if kind == 'int':
        number = int(raw)
        if not -(2**63) <= number < 2**63:
            raise ValueError('out of the range the databases store')
        return number
    if kind == 'float':
        return float(raw)
    if kind == 'enum':
        if raw not in {value for value, _ in spec.choices}:
            raise ValueError('not one of the choices')
        chosen = choice_of(spec, raw)
        return chosen.value if isinstance(chosen, enum.Enum) else chosen
    if kind in ('str', 'text', 'reference', 'date'):
        return raw
    raise ValueError('this field cannot be filtered')


class TableView(PanelView):
    middlewares = _view(1)

    async def get(self, request: Request, index: str) -> Response:
        number, model, options = model_at(index)
        specs = form_specs(model, options.readonly_fields)
        by_name = {spec.name: spec for spec in specs}
        params = request.query_params
        notices: list[str] = []

        conditions: list[dict[str, Any]] = []
        query = params.get('q', '').strip()[:200]
        searched = _search_fields(specs, options)
        if query and searched:
            pattern = re.escape(query)
            conditions.append({'$or': [{name: {'$regex': pattern, '$options': 'i'}} for name in searched]})
        active: dict[str, str] = {}
        for key, raw in params.items():
            name = key[2:] if key.startswith('f_') else None
            if name is None or raw == '':
                continue
            spec = by_name.get(name)
            if spec is None:
                notices.append(f'Unknown filter {name!r} was ignored.')
                continue
            try:
                conditions.append({name: _filter_value(spec, raw)})
                active[name] = raw
            except ValueError as exc:
                notices.append(f'Filter {name}={raw!r} was ignored: {exc}.')
        query_filter: dict[str, Any] = {}
        if len(conditions) == 1:
            query_filter = conditions[0]
        elif conditions:
            query_filter = {'$and': conditions}

        sort = params.get('sort', '')
        sort_field = sort.lstrip('-')
        if sort_field and sort_field != 'id' and sort_field not in model.model_fields:
            notices.append(f'Unknown sort column {sort_field!r} was ignored.')
            sort = sort_field = ''

        try:
            page = max(1, int(params.get('page', '1')))
        except ValueError:
            page = 1
        per_page = options.per_page
        try:
            total = await model.count(query_filter)
            page = min(page, max(1, math.ceil(total / per_page)))  # past the end: the last page
            cursor = model.find(query_filter)
            if sort_field:
                cursor = cursor.sort(sort_field, -1 if sort.startswith('-') else 1)
            documents = await cursor.skip((page - 1) * per_page).limit(per_page)
        except (DatabaseError, ValueError, TypeError) as exc:  # e.g. a registered search field that is not text
            notices.append(f'The query failed: {exc}')
            total, documents = 0, []

        columns = [name for name in (options.list_display or _default_columns(specs)) if by_name.get(name)]
        columns = [name for name in columns if by_name[name].kind != 'password']
        rows = [
            {'id': str(document.id), 'cells': [getattr(document, name, None) for name in columns]}
            for document in documents
        ]
        filters = []
        for spec in _filter_fields(specs, options):
            if spec.kind == 'bool':
                choices = [('true', 'Yes'), ('false', 'No')]
            elif spec.kind == 'reference':
                choices = await picker_options(spec.target)
            else:
                choices = spec.choices
            filters.append({'name': spec.name, 'label': spec.label, 'choices': choices, 'value': active.get(spec.name)})

        def link(**changes: Any) -> str:
            kept = {key: value for key, value in params.items() if value != ''}
            kept.update({key: str(value) for key, value in changes.items()})
            return '?' + urlencode({key: value for key, value in kept.items() if value != ''})

        pages = max(1, math.ceil(total / per_page))
        return render(
            request,
            'table.html',
            {
                'index': number,
                'model_name': model.__name__,
                'columns': columns,
                'labels': {name: by_name[name].label for name in columns},
                'rows': rows,
                'records': [public_dump(document) for document in documents],
                'fields': [{'name': spec.name, 'kind': spec.kind} for spec in specs],
                'total': total,
                'page': page,
                'pages': pages,
                'query': query,
                'searchable': bool(searched),
                'sort': sort,
                'filters': filters,
                'notices': notices,
                'link': link,
                'message': _message(params),
            },
        )


def _message(params: dict[str, str]) -> str | None:
    if 'saved' in params:
        return 'Saved.'
    if 'created' in params:
        return 'Created.'
    deleted = params.get('deleted')
    if deleted is not None and deleted.isdigit():
        return f'Deleted {deleted} document{"" if deleted == "1" else "s"}.'
    return None


# --- create / edit ---------------------------------------------------------------------------------------------


def _form_data(request: Request) -> dict[str, Any] | None:
    """The submitted HTML form, or None for a JSON body (the JSON API of SPEC §25)."""
    data = request.data
    if request.is_json():
        return None
    return data if isinstance(data, dict) else {}


def _json_body(request: Request) -> dict[str, Any]:
    data = request.data
    if not isinstance(data, dict):
        raise BadRequestAPIError(detail='The body should be a JSON object')
    return {key: value for key, value in data.items() if key not in (CSRF_FIELD, VERSION_FIELD)}


def _validation_detail(error: Any) -> dict[str, str]:
    from panther.request import validation_errors_to_detail

    return validation_errors_to_detail(error)


def _store_errors(exc: Exception) -> dict[str, list[str]]:
    return {'__all__': [str(getattr(exc, 'detail', None) or exc)]}


class CreateView(PanelView):
    middlewares = _view(2)

    async def get(self, request: Request, index: str) -> Response:
        number, model, options = model_at(index)
        specs = form_specs(model)
        context = await form_context(number, model, options, default_values(specs, model), creating=True)
        return render(request, 'create.html', context)

    async def post(self, request: Request, index: str) -> Response:
        number, model, options = model_at(index)
        form = _form_data(request)
        if form is None:
            return await self._create_from_json(request, model)
        specs = form_specs(model)
        result = await parse_form(model, specs, form)
        if not result.errors:
            try:
                document = await model.insert_one(result.document)
                if result.password is not None and is_user_model(model):
                    await document.set_password(result.password)
            except (DocumentError, DatabaseError, OverflowError) as exc:
                result.errors = _store_errors(exc)
            else:
                return RedirectResponse(f'{panel_root(request)}{number}/{document.id}/?created=1', status_code=302)
        context = await form_context(number, model, options, result.values, creating=True, errors=result.errors)
        return render(request, 'create.html', context, status_code=400)

    async def _create_from_json(self, request: Request, model: type[Any]) -> Response:
        from pydantic import ValidationError

        data = _json_body(request)
        password = data.pop('password', None) if is_user_model(model) else None
        try:
            document = model.model_validate(data)
        except ValidationError as error:
            return Response(data=_validation_detail(error), status_code=400)
        try:
            document = await model.insert_one(document)
        except (DocumentError, DatabaseError, OverflowError) as exc:
            return Response(data={'detail': str(exc)}, status_code=400)
        if isinstance(password, str) and password:
            await document.set_password(password)
        return Response(data=public_dump(document))


def _file_url(request: Request, number: int, document: Any) -> Any:
    base = f'{panel_root(request)}{number}/{document.id}/files/'
    return lambda name: f'{base}{name}/'


class DetailView(PanelView):
    middlewares = _view(2)

    async def get(self, request: Request, index: str, document_id: str) -> Response:
        number, model, options = model_at(index)
        document = await document_of(model, document_id)
        specs = form_specs(model, options.readonly_fields)
        context = await form_context(
            number,
            model,
            options,
            form_values(specs, document),
            document_id=str(document.id),
            file_url=_file_url(request, number, document),
            label=label_of(document),
            version=fingerprint(document),
            data=public_dump(document),
            message=_message(request.query_params),
        )
        return render(request, 'detail.html', context)

    async def post(self, request: Request, index: str, document_id: str) -> Response:
        """The edit form: refused (409) when the document changed since the form was loaded."""
        number, model, options = model_at(index)
        document = await document_of(model, document_id)
        form = _form_data(request)
        if form is None:
            raise MethodNotAllowedAPIError(detail='Send a form, or use PUT with a JSON body')
        specs = form_specs(model, options.readonly_fields)
        result = await parse_form(model, specs, form, existing=document)
        status_code = 400
        submitted_version = form.get(VERSION_FIELD)
        if submitted_version != fingerprint(document):
            result.errors = {**result.errors, '__all__': [STALE_MESSAGE]}
            status_code = 409
        elif not result.errors:
            try:
                await self._save(model, options, document, result.document, result.password)
            except (DocumentError, DatabaseError, OverflowError) as exc:
                result.errors = _store_errors(exc)
            else:
                return RedirectResponse(f'{panel_root(request)}{number}/{document.id}/?saved=1', status_code=302)
        values = {**form_values(specs, document), **result.values}
        context = await form_context(
            number,
            model,
            options,
            values,
            errors=result.errors,
            document_id=str(document.id),
            file_url=_file_url(request, number, document),
            label=label_of(document),
            version=submitted_version if status_code != 409 else fingerprint(document),
            data=public_dump(document),
        )
        return render(request, 'detail.html', context, status_code=status_code)

    @staticmethod
    async def _save(model: type[Any], options: ModelAdmin, document: Any, new: Any, password: str | None) -> None:
        changes = {
            name: getattr(new, name)
            for name in model.model_fields
            if name != 'id'
            and name not in options.readonly_fields
            and not (is_user_model(model) and name == 'password')
        }
        await model.update_one({'id': document.id}, changes)
        if password is not None and is_user_model(model):
            await document.reload()
            await document.set_password(password)

    async def put(self, request: Request, index: str, document_id: str) -> Response:
        from pydantic import ValidationError

        _, model, options = model_at(index)
        document = await document_of(model, document_id)
        body = request.data if isinstance(request.data, dict) else None
        if body is None:
            raise BadRequestAPIError(detail='The body should be a JSON object')
        version = body.get(VERSION_FIELD)
        if version is not None and version != fingerprint(document):
            return Response(data={'detail': STALE_MESSAGE}, status_code=409)
        data = _json_body(request)
        password = data.pop('password', None) if is_user_model(model) else None
        merged = {name: getattr(document, name) for name in model.model_fields if name != 'id'}
        merged.update({key: value for key, value in data.items() if key not in options.readonly_fields})
        try:
            new = model.model_validate(merged)
        except ValidationError as error:
            return Response(data=_validation_detail(error), status_code=400)
        try:
            await self._save(
                model, options, document, new, password if isinstance(password, str) and password else None
            )
        except (DocumentError, DatabaseError, OverflowError) as exc:
            return Response(data={'detail': str(exc)}, status_code=400)
        await document.reload()
        return Response(data=public_dump(document))

    async def delete(self, request: Request, index: str, document_id: str) -> Response:
        _, model, _ = model_at(index)
        document = await document_of(model, document_id)
        try:
            await document.delete()
        except ProtectedError as exc:
            return Response(data={'detail': str(exc)}, status_code=409)
        return Response(status_code=204)


# --- delete ----------------------------------------------------------------------------------------------------


class DeleteView(PanelView):
    middlewares = _view(3)

    async def get(self, request: Request, index: str, document_id: str) -> Response:
        number, model, _ = model_at(index)
        document = await document_of(model, document_id)
        items = [{'id': str(document.id), 'label': label_of(document)}]
        return render(request, 'delete.html', {'index': number, 'model_name': model.__name__, 'items': items})

    async def post(self, request: Request, index: str, document_id: str) -> Response:
        number, model, _ = model_at(index)
        document = await document_of(model, document_id)
        try:
            await document.delete()
        except ProtectedError as exc:
            items = [{'id': str(document.id), 'label': label_of(document)}]
            context = {'index': number, 'model_name': model.__name__, 'items': items, 'error': str(exc)}
            return render(request, 'delete.html', context, status_code=409)
        return RedirectResponse(f'{panel_root(request)}{number}/?deleted=1', status_code=302)


def _posted_ids(request: Request) -> list[str]:
    """Every `ids` value of an url-encoded form (the parsed `request.data` keeps only the last of them)."""
    from panther._internal.parsers import form_limits

    try:
        pairs = parse_qsl(request.body.decode('utf-8'), keep_blank_values=False, max_num_fields=form_limits()[1])
    except (UnicodeDecodeError, ValueError):
        return []
    return list(dict.fromkeys(value for key, value in pairs if key == 'ids'))


class BulkDeleteView(PanelView):
    """Deleting the documents ticked in the list: first a confirmation page, then (`confirm=yes`) the deletion."""

    middlewares = _view(2)

    async def post(self, request: Request, index: str) -> Response:
        number, model, _ = model_at(index)
        ids = _posted_ids(request)
        documents = []
        for document_id in ids:
            try:
                documents.append(await document_of(model, document_id))
            except NotFoundAPIError:
                continue  # already gone (another admin deleted it): nothing left to do for it
        items = [{'id': str(document.id), 'label': label_of(document)} for document in documents]
        context: dict[str, Any] = {'index': number, 'model_name': model.__name__, 'items': items, 'bulk': True}
        if not documents:
            context['error'] = 'No documents were selected.'
            return render(request, 'delete.html', context, status_code=400)
        data = request.data if isinstance(request.data, dict) else {}
        if data.get('confirm') != 'yes':
            return render(request, 'delete.html', context)
        deleted, refused = 0, []
        for document in documents:
            try:
                await document.delete()
                deleted += 1
            except ProtectedError as exc:
                refused.append(str(exc))
        if refused:
            context['error'] = f'Deleted {deleted}; not deleted: ' + ' '.join(refused)
            return render(request, 'delete.html', context, status_code=409)
        return RedirectResponse(f'{panel_root(request)}{number}/?deleted={deleted}', status_code=302)


# --- files -----------------------------------------------------------------------------------------------------


def _file_response(stored: str) -> FileResponse:
    # The stored path, as the model saved it (below MEDIA_ROOT or wherever the app's code wrote it).
    path = Path(os.path.abspath(stored))
    return FileResponse(path.name, base_dir=path.parent)


class FileView(PanelView):
    """A file field's content: images inline (for the preview), anything else as a download."""

    middlewares = _view(4)

    async def get(self, request: Request, index: str, document_id: str, field: str) -> Response:
        _, model, options = model_at(index)
        document = await document_of(model, document_id)
        specs = {spec.name: spec for spec in form_specs(model, options.readonly_fields)}
        spec = specs.get(field)
        value = getattr(document, field, None) if spec is not None and spec.kind == 'file' else None
        if not isinstance(value, File) or not value.file_name:
            raise NotFoundAPIError(detail=f'{model.__name__} {document_id} has no file in {field!r}')
        response = _file_response(value.file_name)
        if response.status_code == 404:
            raise NotFoundAPIError(detail=f'The file of {field!r} is missing on the server')
        content_type = str(response.headers.get('Content-Type', ''))
        if not content_type.startswith('image/') or content_type.startswith('image/svg'):
            response.headers['Content-Disposition'] = 'attachment'
        response.headers['Content-Security-Policy'] = "default-src 'none'; sandbox"
        return response


# --- static files ----------------------------------------------------------------------------------------------

_STATIC = {'panel.css': 'text/css; charset=utf-8', 'panel.js': 'text/javascript; charset=utf-8'}


class StaticView(GenericAPI):
    auth = anonymous
    output_schema = OutputSchema(exclude_in_docs=True)
    middlewares = _view(2, slash=False)

    async def get(self, request: Request, name: str) -> Response:
        content_type = _STATIC.get(name)
        if content_type is None:
            raise NotFoundAPIError(detail=f'No static file {name!r}')
        body = (TEMPLATES_DIR / 'static' / name).read_bytes()
        return Response(
            data=body,
            headers={'Content-Type': content_type, 'Cache-Control': 'public, max-age=3600'},
        )


# --- login / logout --------------------------------------------------------------------------------------------


def _safe_target(request: Request, target: str | None) -> str:
    """Where to go after logging in: only a path inside the panel (never another site)."""
    root = panel_root(request)
    if not target or not target.startswith(root) or target.startswith('//') or '\\' in target:
        return root
    return target


def _seconds(value: Any, fallback: int) -> int:
    if isinstance(value, timedelta):
        return int(value.total_seconds())
    if isinstance(value, (int, float)):
        return int(value)
    return fallback


# A well-formed stored password nobody has: an unknown username costs the same scrypt run as a wrong password,
# so the answer's timing does not tell which usernames exist.
_NO_USER_PASSWORD = '00' * 16 + '0' * 32


class LoginView(GenericAPI):
    auth = anonymous
    output_schema = OutputSchema(exclude_in_docs=True)
    middlewares = _view(1)
    # Guessing passwords: at most 30 login requests (page views included) per client and minute.
    throttling = Throttle(rate=30, duration=timedelta(minutes=1))

    async def get(self, request: Request) -> Response:
        params = request.query_params
        error = None
        if params.get('denied'):
            error = 'This account may not use the admin panel: sign in as a staff member.'
        context = {'redirect_to': _safe_target(request, params.get('redirect_to')), 'error': error}
        return render(request, 'login.html', context)

    async def post(self, request: Request) -> Response:
        data = request.data if isinstance(request.data, dict) else {}
        target = _safe_target(request, request.query_params.get('redirect_to') or data.get('redirect_to'))
        user_model: Any = config.USER_MODEL
        if user_model is None:
            raise PantherError('The admin panel needs `USER_MODEL` in the configuration')
        username, password = data.get('username'), data.get('password')
        user = None
        if isinstance(username, str) and isinstance(password, str) and username and len(username) <= 256:
            user = await user_model.find_one({getattr(user_model, 'USERNAME_FIELD', 'username'): username})
        context: dict[str, Any] = {'redirect_to': target, 'username': username if isinstance(username, str) else ''}
        if user is None:
            await user_model.model_construct(password=_NO_USER_PASSWORD).acheck_password(str(password))
        if user is None or not await user.acheck_password(password):
            context['error'] = 'Authentication Error: the username or the password is wrong.'
            return render(request, 'login.html', context, status_code=400)
        if not await is_staff(user):
            context['error'] = 'This account may not use the admin panel: sign in as a staff member.'
            return render(request, 'login.html', context, status_code=403)
        if 'last_login' in user_model.model_fields:
            await user.update(last_login=timezone_now())
        tokens = await AdminCookieJWTAuthentication.login(user)
        jwt_config = AdminCookieJWTAuthentication.jwt_config()
        secure = request.scheme == 'https'
        cookies = [
            Cookie(
                key='access_token',
                value=tokens['access_token'],
                max_age=_seconds(jwt_config.life_time, 900),
                httponly=True,
                secure=secure,
                samesite='lax',
            ),
            # Only the panel gets it: an app's own refresh cookie (at its own path) is left alone.
            Cookie(
                key='refresh_token',
                value=tokens['refresh_token'],
                max_age=_seconds(jwt_config.refresh_life_time, 86400),
                httponly=True,
                secure=secure,
                samesite='lax',
                path=panel_root(request),
            ),
        ]
        return RedirectResponse(target, status_code=302, set_cookies=cookies)


class LogoutView(PanelView):
    middlewares = _view(1)

    async def post(self, request: Request) -> Response:
        await AdminCookieJWTAuthentication.logout(request.user)
        secure = request.scheme == 'https'
        cookies = [
            Cookie(key=name, value='', max_age=0, httponly=True, secure=secure, samesite='lax', path=path)
            for name, path in (('access_token', '/'), ('refresh_token', panel_root(request)))
        ]
        return RedirectResponse(f'{panel_root(request)}login/', status_code=302, set_cookies=cookies)
