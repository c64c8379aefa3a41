"""Builds the OpenAPI 3.1 document from the routing table and what each endpoint declares."""

from __future__ import annotations

import enum
import inspect
import logging
import re
import types
import typing
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from http import HTTPStatus
from typing import Any
from uuid import UUID

from pydantic import BaseModel

from panther import status
from panther.openapi._endpoints import EndpointInfo, OperationInfo, describe_endpoint
from panther.openapi._parser import EndpointParser
from panther.openapi._schemas import SchemaRegistry

logger = logging.getLogger('panther')

OPENAPI_VERSION = '3.1.0'
INFO = {
    'title': 'Panther API',
    'version': '1.0.0',
    'description': 'Auto-generated OpenAPI documentation for Panther project.',
}
BODY_METHODS = frozenset({'POST', 'PUT', 'PATCH'})
READ_BODY_METHODS = frozenset({'POST', 'PUT', 'PATCH', 'DELETE'})
_VARIABLE = re.compile(r'<([^>]+)>')

_PATH_TYPES: dict[Any, dict[str, Any]] = {
    int: {'type': 'integer'},
    float: {'type': 'number'},
    bool: {'type': 'boolean'},
    UUID: {'type': 'string', 'format': 'uuid'},
    Decimal: {'type': 'number'},
}
# Field types a form (url-encoded or multipart) can carry as one text value.
_FORM_SCALARS = (str, int, float, bool, Decimal, UUID, datetime, date, time, timedelta)

_TEXT_SCHEMA = {'type': 'object', 'properties': {'detail': {'type': 'string'}}}
ERROR_SCHEMAS: dict[str, Any] = {
    'Error': {
        **_TEXT_SCHEMA,
        'description': 'An error: `{"detail": "<reason>"}`.',
    },
    'ValidationError': {
        'type': 'object',
        'additionalProperties': {'type': 'string'},
        'description': (
            'A refused request: one message per invalid field keyed by its dotted location '
            '(`{"title": "Field required"}`), or `{"detail": "<reason>"}`.'
        ),
    },
}
_RATE_LIMIT_HEADERS = {
    'RateLimit-Limit': 'Requests allowed in the window.',
    'RateLimit-Remaining': 'Requests left in the window.',
    'RateLimit-Reset': 'Seconds until the window ends.',
}


def _header(description: str) -> dict[str, Any]:
    return {'description': description, 'schema': {'type': 'string'}}


def _error(description: str, schema: str = 'Error', headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        'description': description,
        'content': {'application/json': {'schema': {'$ref': f'#/components/schemas/{schema}'}}},
    }
    if headers:
        response['headers'] = headers
    return response


ERROR_RESPONSES: dict[int, tuple[str, dict[str, Any]]] = {
    400: ('BadRequest', _error('Invalid input (body, path variable or query parameter).', 'ValidationError')),
    401: (
        'Unauthorized',
        _error(
            'The credentials are invalid, expired or revoked (the reason is in `WWW-Authenticate`).',
            headers={'WWW-Authenticate': _header('The authentication scheme and the reason.')},
        ),
    ),
    403: ('Forbidden', _error('A permission refused the request.')),
    404: ('NotFound', _error('Nothing exists at this path.')),
    405: ('MethodNotAllowed', _error('The path does not accept this method (`Allow` lists the ones it does).')),
    409: ('Conflict', _error('Another document still refers to this one (its reference protects it).')),
    413: ('PayloadTooLarge', _error('The body is larger than `MAX_BODY_SIZE`.')),
    422: ('UnprocessableEntity', _error('The body has a `Content-Type` that is not supported.')),
    429: (
        'TooManyRequests',
        _error(
            'Too many requests: wait `Retry-After` seconds.',
            headers={
                **{name: _header(text) for name, text in _RATE_LIMIT_HEADERS.items()},
                'Retry-After': _header('Seconds to wait before the next request.'),
            },
        ),
    ),
}

# Errors a generic handler answers with besides the pipeline's.
_GENERIC_ERRORS = {('panther.generics', 'DeleteAPI.delete'): (409,)}
# `(module, qualified name)` of the generic handlers → the status code they answer with.
_GENERIC_STATUS = {
    ('panther.generics', 'CreateAPI.post'): status.HTTP_201_CREATED,
    ('panther.generics', 'DeleteAPI.delete'): status.HTTP_204_NO_CONTENT,
}


def openapi_path(route: str) -> str:
    """`notes/<note_id>/` → `/notes/{note_id}/`; a last segment with a dot (`openapi.json`) has no slash."""
    path = '/' + _VARIABLE.sub(r'{\1}', route)
    if path != '/' and '.' in path.rstrip('/').rsplit('/', 1)[-1]:
        path = path.rstrip('/')
    return path


def _variables(route: str) -> list[str]:
    return [name.strip() for name in _VARIABLE.findall(route)]


def _split_doc(doc: str | None) -> tuple[str | None, str]:
    if not doc:
        return None, ''
    lines = inspect.cleandoc(doc).splitlines()
    return lines[0].strip() or None, '\n'.join(lines[1:]).strip()


def _names(values: tuple[Any, ...]) -> str:
    return ', '.join(getattr(value, '__name__', None) or type(value).__name__ for value in values)


def _is_list_api(target: Any) -> bool:
    from panther.generics import ListAPI

    return inspect.isclass(target) and issubclass(target, ListAPI)


def _serializer_model(input_model: Any) -> Any:
    """The `Model` a `ModelSerializer` writes to (its field types type the list filters)."""
    model = getattr(input_model, 'model', None)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _unwrap_optional(annotation: Any) -> Any:
    args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        if len(args) == 1:
            return args[0]
    return annotation


def _is_file(annotation: Any) -> bool:
    from panther.file_handler import File

    annotation = _unwrap_optional(annotation)
    return isinstance(annotation, type) and issubclass(annotation, File)


def _form_compatible(model: Any) -> bool:
    fields = getattr(model, 'model_fields', None)
    if not fields:
        return False
    for info in fields.values():
        annotation = _unwrap_optional(info.annotation)
        if _is_file(annotation):
            continue
        if typing.get_origin(annotation) is typing.Literal:
            continue
        if not (isinstance(annotation, type) and issubclass(annotation, (*_FORM_SCALARS, enum.Enum))):
            return False
    return True


def _has_file(model: Any) -> bool:
    fields = getattr(model, 'model_fields', None) or {}
    return any(_is_file(info.annotation) for info in fields.values())


def _return_annotation(handler: Any) -> Any:
    try:
        hints = typing.get_type_hints(handler)
    except Exception:
        hints = getattr(handler, '__annotations__', {}) or {}
    return hints.get('return', inspect.Signature.empty)


class DocumentBuilder:
    def __init__(
        self, flat_urls: dict[str, Any], default_auth: Any, default_throttling: Any, websocket_auth: Any = None
    ) -> None:
        self.flat_urls = flat_urls
        self.default_auth = default_auth
        self.websocket_auth = websocket_auth
        self.default_throttling = default_throttling
        self.registry = SchemaRegistry()
        self.security_schemes: dict[str, Any] = {}
        self.used_errors: set[int] = {405}
        self.operation_ids: set[str] = set()

    # --- document ------------------------------------------------------------------------------------------

    def build(self) -> dict[str, Any]:
        paths: dict[str, Any] = {}
        websockets: dict[str, Any] = {}
        for route, value in self.flat_urls.items():
            try:
                info = describe_endpoint(value)
            except Exception as exc:
                logger.warning(f'OpenAPI: the endpoint at /{route} could not be read ({type(exc).__name__}: {exc}).')
                continue
            if info is None:
                continue
            path = openapi_path(route)
            if info.kind == 'websocket':
                websockets[path] = self._websocket(route, info)
                continue
            schema = info.output_schema
            if schema is not None and getattr(schema, 'exclude_in_docs', False):
                paths.setdefault(path, {})
                continue
            item = paths.setdefault(path, {})
            for operation in info.operations:
                try:
                    item[operation.method.lower()] = self._operation(route, info, operation)
                except Exception as exc:
                    # A declaration the generator does not understand must not take the docs (or the app) down.
                    logger.warning(
                        f'OpenAPI: `{info.name}` ({operation.method} /{route}) could not be documented '
                        f'({type(exc).__name__}: {exc}).'
                    )
                    item[operation.method.lower()] = {'responses': {'default': {'description': 'Undocumented'}}}
        component_schemas = {**self.registry.resolve(), **ERROR_SCHEMAS}
        components: dict[str, Any] = {
            'schemas': component_schemas,
            'responses': {ERROR_RESPONSES[code][0]: ERROR_RESPONSES[code][1] for code in sorted(self.used_errors)},
        }
        if self.security_schemes:
            components['securitySchemes'] = self.security_schemes
        document: dict[str, Any] = {
            'openapi': OPENAPI_VERSION,
            'info': dict(INFO),
            'paths': paths,
            'components': components,
        }
        if websockets:
            document['x-websockets'] = websockets
        return document

    # --- operations ----------------------------------------------------------------------------------------

    def _operation(self, route: str, info: EndpointInfo, operation: OperationInfo) -> dict[str, Any]:
        method = operation.method
        where = f'`{info.name}` ({method} /{route})'
        output_schema = info.output_schema
        summary, description = _split_doc(operation.handler.__doc__ if info.kind == 'class' else info.doc)
        if info.kind == 'class':
            class_summary, class_description = _split_doc(info.doc)
            summary = summary or class_summary
            description = description or class_description
        result: dict[str, Any] = {
            'tags': list(getattr(output_schema, 'tags', None) or [self._tag(route, info)]),
            'operationId': self._operation_id(f'{info.name}_{method.lower()}'),
        }
        result['summary'] = summary or _humanise(info.name)
        notes = self._notes(info)
        if description or notes:
            result['description'] = '\n\n'.join(part for part in (description, notes) if part)
        parameters = self._path_parameters(route, operation) + self._query_parameters(info, operation)
        if parameters:
            result['parameters'] = parameters
        if method in BODY_METHODS and operation.input_model is not None:
            result['requestBody'] = self._request_body(operation.input_model, where)
        result['responses'] = self._responses(route, info, operation, where)
        security = self._security(info)
        if security is not None:
            result['security'] = security
        if getattr(output_schema, 'deprecated', False):
            result['deprecated'] = True
        return result

    def _operation_id(self, base: str) -> str:
        candidate, number = base, 2
        while candidate in self.operation_ids:
            candidate = f'{base}_{number}'
            number += 1
        self.operation_ids.add(candidate)
        return candidate

    @staticmethod
    def _tag(route: str, info: EndpointInfo) -> str:
        for segment in route.split('/'):
            if segment and not segment.startswith('<'):
                return segment
        return info.name

    def _notes(self, info: EndpointInfo) -> str:
        lines = []
        if info.permissions:
            lines.append(f'- Permissions: {_names(info.permissions)}')
        throttle = self._throttle(info)
        if throttle is not None:
            lines.append(f'- Throttling: {throttle.rate} per {throttle.duration}')
        if info.cache:
            lines.append(f'- Cache: {info.cache}')
        if info.middlewares:
            lines.append(f'- Middlewares: {_names(info.middlewares)}')
        return '\n'.join(lines)

    def _throttle(self, info: EndpointInfo) -> Any:
        return info.throttling if info.throttling is not None else self.default_throttling

    def _auth(self, info: EndpointInfo) -> Any:
        return info.auth if info.auth is not None else self.default_auth

    # --- parameters ----------------------------------------------------------------------------------------

    @staticmethod
    def _path_parameters(route: str, operation: OperationInfo) -> list[dict[str, Any]]:
        return [
            {
                'name': name,
                'in': 'path',
                'required': True,
                'schema': dict(_PATH_TYPES.get(operation.path_types.get(name), {'type': 'string'})),
            }
            for name in _variables(route)
        ]

    def _query_parameters(self, info: EndpointInfo, operation: OperationInfo) -> list[dict[str, Any]]:
        if operation.method != 'GET' or not _is_list_api(info.target):
            return []
        view = info.target
        parameters: list[dict[str, Any]] = []
        pagination = getattr(view, 'pagination', None)
        if pagination is not None:
            most = getattr(pagination, 'MAX_LIMIT', None)
            limit: dict[str, Any] = {
                'type': 'integer',
                'minimum': 1,
                'default': getattr(pagination, 'DEFAULT_LIMIT', 20),
            }
            description = 'Page size.'
            if most is not None:
                description = f'Page size (larger values are lowered to {most}).'
            parameters.append({'name': 'limit', 'in': 'query', 'description': description, 'schema': limit})
            parameters.append(
                {
                    'name': 'skip',
                    'in': 'query',
                    'description': 'Items to skip.',
                    'schema': {'type': 'integer', 'minimum': 0, 'default': getattr(pagination, 'DEFAULT_SKIP', 0)},
                }
            )
        search_fields = list(getattr(view, 'search_fields', None) or [])
        if search_fields:
            parameters.append(
                {
                    'name': 'search',
                    'in': 'query',
                    'description': f'Case-insensitive text contained in any of: {", ".join(search_fields)}.',
                    'schema': {'type': 'string'},
                }
            )
        model = _serializer_model(operation.input_model or getattr(view, 'input_model', None))
        for field in getattr(view, 'filter_fields', None) or []:
            parameters.append(
                {
                    'name': field,
                    'in': 'query',
                    'description': f'Only items whose `{field}` equals this value.',
                    'schema': self._filter_schema(model, field),
                }
            )
        sort_fields = list(getattr(view, 'sort_fields', None) or [])
        if sort_fields:
            parameters.append(
                {
                    'name': 'sort',
                    'in': 'query',
                    'description': (
                        f'Comma-separated fields to sort by, `-` for descending; one of: {", ".join(sort_fields)}.'
                    ),
                    'schema': {'type': 'string'},
                }
            )
        return parameters

    @staticmethod
    def _filter_schema(model: Any, field: str) -> dict[str, Any]:
        fields = getattr(model, 'model_fields', None) or {}
        info = fields.get(field)
        if info is not None:
            annotation = _unwrap_optional(info.annotation)
            if annotation in _PATH_TYPES:
                return dict(_PATH_TYPES[annotation])
        return {'type': 'string'}

    # --- bodies --------------------------------------------------------------------------------------------

    def _request_body(self, input_model: Any, where: str) -> dict[str, Any]:
        schema = self.registry.schema_for(input_model, 'validation', where)
        has_file = _has_file(input_model)
        media_types = []
        if not has_file:
            media_types.append('application/json')
        if _form_compatible(input_model):
            if not has_file:
                media_types.append('application/x-www-form-urlencoded')
            media_types.append('multipart/form-data')
        if not media_types:
            # Files next to fields a form cannot carry: multipart is still how the files get there.
            media_types.append('multipart/form-data')
        return {'required': True, 'content': {media: {'schema': schema} for media in media_types}}

    # --- responses -----------------------------------------------------------------------------------------

    def _responses(self, route: str, info: EndpointInfo, operation: OperationInfo, where: str) -> dict[str, Any]:
        method = operation.method
        code, success = self._success(info, operation, where)
        throttle = self._throttle(info)
        if throttle is not None:
            success['headers'] = {name: _header(text) for name, text in _RATE_LIMIT_HEADERS.items()}
        responses: dict[str, Any] = {str(code): success}
        errors: list[int] = []
        parse_body = method in BODY_METHODS and operation.input_model is not None
        if parse_body or operation.path_types or (method == 'GET' and _is_list_api(info.target)):
            errors.append(400)
        if self._auth(info) is not None:
            errors.append(401)
        if info.permissions:
            errors.append(403)
        if _variables(route):
            errors.append(404)
        if method in READ_BODY_METHODS:
            errors.append(413)
        if parse_body:
            errors.append(422)
        if throttle is not None:
            errors.append(429)
        handler_key = (getattr(operation.handler, '__module__', ''), getattr(operation.handler, '__qualname__', ''))
        errors.extend(_GENERIC_ERRORS.get(handler_key, ()))
        page_media = [media for media in success.get('content', {}) if media != 'application/json']
        if getattr(operation.handler, '__module__', '') != 'panther.generics':
            for other in sorted(EndpointParser(info.target, method).status_codes - {code}):
                responses[str(other)] = self._found_in_source(other, success, page_media)
        for error in errors:
            if str(error) in responses:
                continue
            if error == 404 and page_media:
                # A page answers a missing item with its own page (HTML), the router with JSON.
                not_found = ERROR_RESPONSES[404][1]
                content = {**not_found['content'], **{media: {'schema': {'type': 'string'}} for media in page_media}}
                responses['404'] = {**not_found, 'content': content}
                continue
            self.used_errors.add(error)
            responses[str(error)] = {'$ref': f'#/components/responses/{ERROR_RESPONSES[error][0]}'}
        return responses

    def _found_in_source(self, code: int, success: dict[str, Any], page_media: list[str]) -> dict[str, Any]:
        """A status code only the source mentions (a `return Response(status_code=503)`, a `raise NotFoundAPIError`)."""
        if code in ERROR_RESPONSES:
            self.used_errors.add(code)
            reference = {'$ref': f'#/components/responses/{ERROR_RESPONSES[code][0]}'}
            if not page_media:
                return reference
            content = {**ERROR_RESPONSES[code][1]['content'], **{m: {'schema': {'type': 'string'}} for m in page_media}}
            return {**ERROR_RESPONSES[code][1], 'content': content}
        try:
            description = HTTPStatus(code).phrase
        except ValueError:
            description = f'Status {code}'
        if code == status.HTTP_204_NO_CONTENT or 300 <= code < 400:
            return {'description': description}
        media = page_media or ['application/json']
        return {'description': description, 'content': {m: {'schema': {}} for m in media}}

    def _success(self, info: EndpointInfo, operation: OperationInfo, where: str) -> tuple[int, dict[str, Any]]:
        handler = operation.handler
        output_schema = info.output_schema
        declared_code = getattr(output_schema, 'status_code', None)
        generic_code = _GENERIC_STATUS.get((getattr(handler, '__module__', ''), getattr(handler, '__qualname__', '')))
        parser: EndpointParser | None = None
        if declared_code is not None:
            code = int(declared_code)
        elif generic_code is not None:
            code = generic_code
        elif getattr(handler, '__module__', '') == 'panther.generics':
            code = status.HTTP_200_OK
        else:
            parser = EndpointParser(info.target, operation.method)
            code = parser.status_code
        description = 'Success' if code != status.HTTP_204_NO_CONTENT else 'No content'
        if code == status.HTTP_204_NO_CONTENT or 300 <= code < 400:
            return code, {'description': description}
        model = getattr(output_schema, 'model', None) or info.output_model
        is_list = operation.method == 'GET' and _is_list_api(info.target)
        if model is not None:
            schema = self.registry.schema_for(model, 'serialization', where)
            if is_list:
                schema = self._list_schema(info.target, schema)
            return code, {'description': description, 'content': {'application/json': {'schema': schema}}}
        if is_list:
            return code, {
                'description': description,
                'content': {'application/json': {'schema': self._list_schema(info.target, {})}},
            }
        annotation = _return_annotation(handler)
        media = self._media_of(annotation)
        if media is not None:
            parser = parser or EndpointParser(info.target, operation.method)
            if parser.content_type:
                media = parser.content_type.split(';', 1)[0].strip()
            return code, {'description': description, 'content': {media: {'schema': {'type': 'string'}}}}
        if self._describes_body(annotation):
            schema = self.registry.schema_for(annotation, 'serialization', where)
            return code, {'description': description, 'content': {'application/json': {'schema': schema}}}
        if parser is None and getattr(handler, '__module__', '') != 'panther.generics':
            parser = EndpointParser(info.target, operation.method)
        if parser is not None and parser.response_class is not None:
            import panther.response

            media = self._media_of(getattr(panther.response, parser.response_class, None))
            if media is not None:
                return code, {'description': description, 'content': {media: {'schema': {'type': 'string'}}}}
        schema = _inline_schema(parser.response_data) if parser is not None else {}
        return code, {'description': description, 'content': {'application/json': {'schema': schema}}}

    @staticmethod
    def _list_schema(view: Any, item: dict[str, Any]) -> dict[str, Any]:
        items = {'type': 'array', 'items': item}
        if getattr(view, 'pagination', None) is None:
            return items
        link = {'type': ['string', 'null'], 'description': 'Query string of the page, or null.'}
        return {
            'type': 'object',
            'properties': {'count': {'type': 'integer'}, 'next': link, 'previous': link, 'results': items},
            'required': ['count', 'next', 'previous', 'results'],
        }

    @staticmethod
    def _media_of(annotation: Any) -> str | None:
        """The media type of a `Response` subclass that is not JSON (HTML pages, files, event streams)."""
        from panther.response import FileResponse, Response

        if isinstance(annotation, type) and issubclass(annotation, FileResponse):
            # Guessed from the file name when the response is made.
            return '*/*'
        if isinstance(annotation, type) and issubclass(annotation, Response):
            content_type = getattr(annotation, 'content_type', 'application/json') or 'application/json'
            media = content_type.split(';', 1)[0].strip()
            return None if media == 'application/json' else media
        return None

    @staticmethod
    def _describes_body(annotation: Any) -> bool:
        from panther.response import Response

        if annotation in (inspect.Signature.empty, Any, None, type(None), object):
            return False
        if isinstance(annotation, str):
            return False
        return not (isinstance(annotation, type) and issubclass(annotation, Response))

    # --- security ------------------------------------------------------------------------------------------

    def _security(self, info: EndpointInfo) -> list[dict[str, list[str]]] | None:
        auth = self._auth(info)
        if auth is None:
            return None
        name = self._scheme(auth)
        if name is None:
            return None
        # Without a permission, a request without credentials is served as anonymous.
        return [{name: []}] if info.permissions else [{name: []}, {}]

    def _scheme(self, auth: Any) -> str | None:
        from panther.authentications import CookieJWTAuthentication, JWTAuthentication, QueryParamJWTAuthentication

        cls = auth if inspect.isclass(auth) else type(auth)
        if not (isinstance(cls, type) and issubclass(cls, JWTAuthentication)):
            return None
        refresh = getattr(cls, 'token_type', 'access') == 'refresh'
        prefix = 'Refresh' if refresh else ''
        token = 'refresh' if refresh else 'access'
        if issubclass(cls, CookieJWTAuthentication):
            name = f'{prefix}CookieAuth'
            scheme = {
                'type': 'apiKey',
                'in': 'cookie',
                'name': cls.cookie_name,
                'description': f'The {token} token in the `{cls.cookie_name}` cookie.',
            }
        elif issubclass(cls, QueryParamJWTAuthentication):
            name = f'{prefix}QueryAuth'
            scheme = {
                'type': 'apiKey',
                'in': 'query',
                'name': 'authorization',
                'description': f'The {token} token in the `authorization` query parameter.',
            }
        else:
            name = f'{prefix}BearerAuth'
            scheme = {
                'type': 'http',
                'scheme': 'bearer',
                'bearerFormat': 'JWT',
                'description': f'`Authorization: {cls.keyword} <{token} token>`.',
            }
        self.security_schemes[name] = scheme
        return name

    # --- websockets ----------------------------------------------------------------------------------------

    def _websocket(self, route: str, info: EndpointInfo) -> dict[str, Any]:
        summary, description = _split_doc(info.doc)
        entry: dict[str, Any] = {'endpoint': info.name}
        if summary:
            entry['summary'] = summary
        if description:
            entry['description'] = description
        operation = info.operations[0] if info.operations else None
        if operation is not None:
            parameters = self._path_parameters(route, operation)
            if parameters:
                entry['parameters'] = parameters
        auth = info.auth if info.auth is not None else self.websocket_auth
        if auth is not None:
            name = self._scheme(auth)
            if name is not None:
                entry['security'] = [{name: []}] if info.permissions else [{name: []}, {}]
        if info.permissions:
            entry['permissions'] = [getattr(p, '__name__', type(p).__name__) for p in info.permissions]
        return entry


def _humanise(name: str) -> str:
    """`sign_up` → `Sign up`, `NoteListAPI` → `Note list API`: a summary for endpoints without a docstring."""
    words = re.sub(r'(?<=[a-z0-9])(?=[A-Z])', ' ', name.replace('_', ' ')).split()
    text = ' '.join(word if word.isupper() else word.lower() for word in words)
    return text[:1].upper() + text[1:]


def _inline_schema(data: Any) -> dict[str, Any]:
    """What source analysis found: a dict's keys as properties with the literal values as defaults."""
    if isinstance(data, dict):
        if not data:
            return {}
        return {'type': 'object', 'properties': {str(key): _example(value) for key, value in data.items()}}
    return _example(data)


def _example(value: Any) -> dict[str, Any]:
    return {} if value is None else {'default': value}
