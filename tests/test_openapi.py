"""panther.openapi: the OpenAPI 3.1 document built from endpoint declarations, its pages and its routes."""

from __future__ import annotations

import importlib
import logging
import re
import sys
import types
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate
from pydantic import BaseModel

from panther import Panther, status
from panther.app import API, GenericAPI
from panther.authentications import CookieJWTAuthentication, QueryParamJWTAuthentication
from panther.configs import config
from panther.db import Model
from panther.events import Event
from panther.exceptions import AuthenticationAPIError, NotFoundAPIError
from panther.file_handler import File, Image
from panther.generics import CreateAPI, DeleteAPI, ListAPI, RetrieveAPI, UpdateAPI
from panther.openapi import OutputSchema
from panther.openapi.urls import url_routing as docs_urls
from panther.openapi.utils import EndpointParser, OpenAPIGenerator
from panther.pagination import Pagination
from panther.permissions import IsAuthenticated
from panther.request import Request
from panther.response import FileResponse, HTMLResponse, Response, TemplateResponse
from panther.serializer import ModelSerializer
from panther.test import APIClient
from panther.throttling import Throttle
from panther.websocket import GenericWebsocket
from tests import _openapi_models_a as models_a
from tests import _openapi_models_b as models_b

REPO_ROOT = Path(__file__).resolve().parent.parent


def app_with(monkeypatch: pytest.MonkeyPatch, urls: dict[str, Any], **settings: Any) -> Panther:
    """An app whose configuration module holds `settings` and whose routes are `urls` (with the docs mounted)."""
    module = types.ModuleType(f'tests._openapi_configs_{uuid.uuid4().hex}')
    module.__dict__.update({'SECRET_KEY': 'openapi-tests-secret-key-0123456789-abcdef', **settings})
    monkeypatch.setitem(sys.modules, module.__name__, module)
    return Panther(__name__, configs=module.__name__, urls={**urls, 'docs/': docs_urls})


def document(monkeypatch: pytest.MonkeyPatch, urls: dict[str, Any], **settings: Any) -> dict[str, Any]:
    app_with(monkeypatch, urls, **settings)
    spec = OpenAPIGenerator.generate_openapi_spec()
    validate(spec)
    return spec


def schema_of(spec: dict[str, Any], reference: dict[str, Any]) -> dict[str, Any]:
    return spec['components']['schemas'][reference['$ref'].rsplit('/', 1)[-1]]


# --- models and endpoints used below ---------------------------------------------------------------------------------


class ItemIn(BaseModel):
    name: str
    count: int = 0


class ItemOut(BaseModel):
    id: int
    name: str


class Book(Model):
    title: str
    pages: int = 0
    available: bool = True


class BookSerializer(ModelSerializer):
    class Config:
        model = Book
        fields = ['title', 'pages', 'available']


class Upload(BaseModel):
    title: str
    cover: Image
    attachment: File | None = None


class Node(BaseModel):
    name: str
    children: list[Node] = []


class Tagged(BaseModel):
    tags: list[str]


@API(methods=['POST'], input_model=ItemIn, output_model=ItemOut)
async def create_item(request: Request) -> Response:
    """Create an item.

    The name must be unique.
    """
    return Response(data={'id': 1, 'name': request.validated_data.name}, status_code=status.HTTP_201_CREATED)


class ItemAPI(GenericAPI):
    """Items by id."""

    output_model = ItemOut

    async def get(self, item_id: int) -> dict[str, Any]:
        """Read one item."""
        if item_id != 1:
            raise NotFoundAPIError
        return {'id': item_id, 'name': 'one'}

    async def delete(self, item_id: int) -> Response:
        return Response(status_code=status.HTTP_204_NO_CONTENT)


@API(methods=['GET'])
async def by_uuid(key: uuid.UUID, flag: bool) -> dict[str, str]:
    return {'key': str(key)}


@API(methods=['GET'])
async def by_name(name) -> dict[str, str]:  # an unannotated path variable is a string
    return {'name': name}


class BookListAPI(ListAPI, CreateAPI):
    input_model = BookSerializer
    output_model = ItemOut
    pagination = Pagination
    search_fields = ['title']
    filter_fields = ['available', 'pages', 'title']
    sort_fields = ['title', 'pages']


class BookDetailAPI(RetrieveAPI, UpdateAPI, DeleteAPI):
    input_model = BookSerializer


class PlainListAPI(ListAPI):
    pass


@API(methods=['POST'], input_model=Upload)
async def upload(request: Request) -> dict[str, str]:
    return {'title': request.validated_data.title}


@API(methods=['POST'], input_model=Tagged)
async def tagged(request: Request) -> dict[str, list[str]]:
    return {'tags': request.validated_data.tags}


@API(methods=['GET'], output_model=Node)
async def tree() -> dict[str, Any]:
    return {'name': 'root', 'children': [{'name': 'leaf'}]}


@API(methods=['GET'], output_model=models_a.Profile)
async def profile_a() -> dict[str, Any]:
    return {'a': 1}


@API(methods=['GET'], output_model=models_b.Profile)
async def profile_b() -> dict[str, Any]:
    return {'b': 'x'}


@API(methods=['GET'], permissions=[IsAuthenticated], throttling=Throttle(rate=3, duration=timedelta(minutes=1)))
async def guarded() -> dict[str, str]:
    return {'detail': 'ok'}


@API(methods=['GET'], output_schema=OutputSchema(model=ItemOut, status_code=202, tags=['jobs'], deprecated=True))
async def legacy() -> Response:
    return Response(data={'id': 1, 'name': 'x'}, status_code=202)


@API(methods=['GET'], output_schema=OutputSchema(exclude_in_docs=True))
async def hidden() -> dict[str, str]:
    return {}


@API(methods=['GET'])
async def page() -> HTMLResponse:
    return HTMLResponse('<p>hi</p>')


@API(methods=['GET'])
async def undeclared():
    return {'detail': 'hello', 'count': 3}


@API(methods=['GET'], auth=CookieJWTAuthentication)
async def cookie_protected() -> dict[str, str]:
    return {}


@API(methods=['GET'], auth=QueryParamJWTAuthentication)
async def query_protected() -> dict[str, str]:
    return {}


class FeedWebsocket(GenericWebsocket):
    """Live feed of new items."""

    permissions = [IsAuthenticated]

    async def connect(self, room: str) -> None:
        await self.accept()


# --- the document ----------------------------------------------------------------------------------------------------


@pytest.fixture
def spec(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    urls = {
        'items/': create_item,
        'items/<item_id>/': ItemAPI,
        'keys/<key>/<flag>/': by_uuid,
        'names/<name>/': by_name,
        'books/': BookListAPI,
        'books/<book_id>/': BookDetailAPI,
        'plain/': PlainListAPI,
        'upload/': upload,
        'tagged/': tagged,
        'tree/': tree,
        'guarded/': guarded,
        'legacy/': legacy,
        'hidden/': hidden,
        'page/': page,
        'undeclared/': undeclared,
        'ws/<room>/': FeedWebsocket,
    }
    return document(monkeypatch, urls, AUTHENTICATION='panther.authentications.JWTAuthentication')


def test_document_is_openapi_3_1(spec: dict[str, Any]) -> None:
    assert spec['openapi'] == '3.1.0'
    assert spec['info']['title'] == 'Panther API'
    assert '/docs/openapi.json' in spec['paths']
    assert spec['paths']['/docs/openapi.json'] == {}  # the docs themselves are excluded


def test_path_variables_have_their_converted_types(spec: dict[str, Any]) -> None:
    item = spec['paths']['/items/{item_id}/']['get']
    assert item['parameters'] == [{'name': 'item_id', 'in': 'path', 'required': True, 'schema': {'type': 'integer'}}]
    keys = {p['name']: p['schema'] for p in spec['paths']['/keys/{key}/{flag}/']['get']['parameters']}
    assert keys == {'key': {'type': 'string', 'format': 'uuid'}, 'flag': {'type': 'boolean'}}
    assert spec['paths']['/names/{name}/']['get']['parameters'][0]['schema'] == {'type': 'string'}
    # A value that does not convert is a 400, an unknown id a 404.
    assert set(item['responses']) >= {'200', '400', '404'}


def test_list_api_documents_pagination_search_filters_and_sort(spec: dict[str, Any]) -> None:
    operation = spec['paths']['/books/']['get']
    parameters = {p['name']: p for p in operation['parameters']}
    assert list(parameters) == ['limit', 'skip', 'search', 'available', 'pages', 'title', 'sort']
    assert all(p['in'] == 'query' for p in parameters.values())
    assert parameters['limit']['schema'] == {'type': 'integer', 'minimum': 1, 'default': 20}
    assert parameters['skip']['schema'] == {'type': 'integer', 'minimum': 0, 'default': 0}
    # Filters are typed from the serializer's model.
    assert parameters['available']['schema'] == {'type': 'boolean'}
    assert parameters['pages']['schema'] == {'type': 'integer'}
    assert parameters['title']['schema'] == {'type': 'string'}
    assert 'title, pages' in parameters['sort']['description']
    page = operation['responses']['200']['content']['application/json']['schema']
    assert page['required'] == ['count', 'next', 'previous', 'results']
    assert page['properties']['results'] == {'type': 'array', 'items': {'$ref': '#/components/schemas/ItemOut'}}
    # POST on the same class reads no query parameters and answers 201 (CreateAPI).
    assert 'parameters' not in spec['paths']['/books/']['post']
    assert '201' in spec['paths']['/books/']['post']['responses']
    plain = spec['paths']['/plain/']['get']
    assert 'parameters' not in plain
    assert plain['responses']['200']['content']['application/json']['schema'] == {'type': 'array', 'items': {}}


def test_generic_detail_views_document_their_status_codes(spec: dict[str, Any]) -> None:
    detail = spec['paths']['/books/{book_id}/']
    assert set(detail) == {'get', 'put', 'patch', 'delete'}
    assert '204' in detail['delete']['responses']
    # A document another one protects (`on_delete` PROTECT) is not deleted: 409.
    assert detail['delete']['responses']['409'] == {'$ref': '#/components/responses/Conflict'}
    assert 'content' not in detail['delete']['responses']['204']
    # PATCH validates only the fields sent: its body is the all-optional model.
    patch_body = schema_of(spec, detail['patch']['requestBody']['content']['application/json']['schema'])
    assert 'required' not in patch_body
    put_body = schema_of(spec, detail['put']['requestBody']['content']['application/json']['schema'])
    assert put_body['required'] == ['title']


def test_input_model_is_the_request_body_in_json_and_forms(spec: dict[str, Any]) -> None:
    body = spec['paths']['/items/']['post']['requestBody']
    assert body['required'] is True
    assert set(body['content']) == {'application/json', 'application/x-www-form-urlencoded', 'multipart/form-data'}
    assert body['content']['application/json']['schema'] == {'$ref': '#/components/schemas/ItemIn'}
    # A list field cannot be sent as one form value: JSON only.
    assert set(spec['paths']['/tagged/']['post']['requestBody']['content']) == {'application/json'}


def test_file_fields_are_binary_in_a_multipart_body(spec: dict[str, Any]) -> None:
    content = spec['paths']['/upload/']['post']['requestBody']['content']
    assert set(content) == {'multipart/form-data'}
    properties = schema_of(spec, content['multipart/form-data']['schema'])['properties']
    binary = {'type': 'string', 'format': 'binary', 'contentMediaType': 'application/octet-stream'}
    assert schema_of(spec, properties['cover']) == binary
    attachment = [schema_of(spec, item) for item in properties['attachment']['anyOf'] if '$ref' in item]
    assert attachment == [binary]


def test_output_model_per_status_code(spec: dict[str, Any]) -> None:
    created = spec['paths']['/items/']['post']['responses']
    # The status code comes from the source (`status_code=status.HTTP_201_CREATED`), the body from output_model.
    assert created['201']['content']['application/json']['schema'] == {'$ref': '#/components/schemas/ItemOut'}
    assert '200' not in created
    legacy_operation = spec['paths']['/legacy/']['get']
    assert legacy_operation['responses']['202']['content']['application/json']['schema'] == {
        '$ref': '#/components/schemas/ItemOut'
    }
    assert legacy_operation['tags'] == ['jobs']
    assert legacy_operation['deprecated'] is True
    assert spec['paths']['/hidden/'] == {}


def test_return_annotation_and_source_analysis_fallback(spec: dict[str, Any]) -> None:
    by_uuid_schema = spec['paths']['/keys/{key}/{flag}/']['get']['responses']['200']['content']['application/json']
    assert by_uuid_schema['schema'] == {'type': 'object', 'additionalProperties': {'type': 'string'}}
    page_response = spec['paths']['/page/']['get']['responses']['200']
    assert page_response['content'] == {'text/html': {'schema': {'type': 'string'}}}
    # Nothing declared: the literal the function returns.
    fallback = spec['paths']['/undeclared/']['get']['responses']['200']['content']['application/json']['schema']
    assert fallback == {'type': 'object', 'properties': {'detail': {'default': 'hello'}, 'count': {'default': 3}}}


def test_error_responses_are_the_ones_the_pipeline_produces(spec: dict[str, Any]) -> None:
    paths = spec['paths']
    create = paths['/items/']['post']['responses']
    assert set(create) == {'201', '400', '401', '413', '422'}  # no permissions, no throttling, no path variable
    assert create['400'] == {'$ref': '#/components/responses/BadRequest'}
    bad_request = spec['components']['responses']['BadRequest']['content']['application/json']['schema']
    assert spec['components']['schemas'][bad_request['$ref'].rsplit('/', 1)[-1]]['additionalProperties'] == {
        'type': 'string'
    }
    guarded_responses = paths['/guarded/']['get']['responses']
    assert set(guarded_responses) == {'200', '401', '403', '429'}
    too_many = spec['components']['responses']['TooManyRequests']
    assert {'RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset', 'Retry-After'} <= set(too_many['headers'])
    assert set(guarded_responses['200']['headers']) == {'RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset'}
    assert 'MethodNotAllowed' in spec['components']['responses']
    assert 'PayloadTooLarge' in spec['components']['responses']


def test_no_authentication_means_no_401_and_no_security(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = document(monkeypatch, {'items/': create_item})
    operation = spec['paths']['/items/']['post']
    assert '401' not in operation['responses']
    assert 'security' not in operation
    assert 'securitySchemes' not in spec['components']


def test_security_schemes_follow_the_configured_authentication(spec: dict[str, Any]) -> None:
    assert spec['components']['securitySchemes']['BearerAuth'] == {
        'type': 'http',
        'scheme': 'bearer',
        'bearerFormat': 'JWT',
        'description': '`Authorization: Bearer <access token>`.',
    }
    # Anonymous requests are served unless a permission is declared.
    assert spec['paths']['/items/']['post']['security'] == [{'BearerAuth': []}, {}]
    assert spec['paths']['/guarded/']['get']['security'] == [{'BearerAuth': []}]


def test_cookie_and_query_parameter_authentication(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = document(monkeypatch, {'cookie/': cookie_protected, 'query/': query_protected})
    schemes = spec['components']['securitySchemes']
    assert schemes['CookieAuth']['type'] == 'apiKey'
    assert (schemes['CookieAuth']['in'], schemes['CookieAuth']['name']) == ('cookie', 'access_token')
    assert (schemes['QueryAuth']['in'], schemes['QueryAuth']['name']) == ('query', 'authorization')
    assert spec['paths']['/cookie/']['get']['security'] == [{'CookieAuth': []}, {}]
    assert spec['paths']['/query/']['get']['security'] == [{'QueryAuth': []}, {}]


def test_tags_summaries_and_descriptions(spec: dict[str, Any]) -> None:
    create = spec['paths']['/items/']['post']
    assert create['summary'] == 'Create an item.'
    assert create['description'] == 'The name must be unique.'
    assert create['tags'] == ['items']
    assert create['operationId'] == 'create_item_post'
    read = spec['paths']['/items/{item_id}/']['get']
    assert read['summary'] == 'Read one item.'
    assert spec['paths']['/items/{item_id}/']['delete']['summary'] == 'Items by id.'  # the class docstring
    assert spec['paths']['/tree/']['get']['summary'] == 'Tree'
    guarded_description = spec['paths']['/guarded/']['get']['description']
    assert '- Permissions: IsAuthenticated' in guarded_description
    assert '- Throttling: 3 per 0:01:00' in guarded_description
    operation_ids = [op['operationId'] for item in spec['paths'].values() for op in item.values()]
    assert len(operation_ids) == len(set(operation_ids))


def test_websocket_routes_are_listed_as_an_extension(spec: dict[str, Any]) -> None:
    assert '/ws/{room}/' not in spec['paths']
    feed = spec['x-websockets']['/ws/{room}/']
    assert feed['endpoint'] == 'FeedWebsocket'
    assert feed['summary'] == 'Live feed of new items.'
    assert feed['parameters'][0]['name'] == 'room'
    assert feed['permissions'] == ['IsAuthenticated']


def test_models_are_components_once_each(spec: dict[str, Any]) -> None:
    schemas = spec['components']['schemas']
    assert 'ItemOut' in schemas and 'ItemIn' in schemas
    text = str(spec['paths'])
    assert text.count("'$ref': '#/components/schemas/ItemOut'") >= 3
    assert not any(name.startswith('ItemOut') and name != 'ItemOut' for name in schemas)


def test_recursive_models(spec: dict[str, Any]) -> None:
    node = spec['components']['schemas']['Node']
    assert node['properties']['children']['items'] == {'$ref': '#/components/schemas/Node'}


def test_models_with_the_same_name_from_two_modules_stay_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = document(monkeypatch, {'a/': profile_a, 'b/': profile_b})
    first = spec['paths']['/a/']['get']['responses']['200']['content']['application/json']['schema']
    second = spec['paths']['/b/']['get']['responses']['200']['content']['application/json']['schema']
    assert first != second
    assert schema_of(spec, first)['properties'] == {'a': {'title': 'A', 'type': 'integer'}}
    assert schema_of(spec, second)['properties'] == {'b': {'title': 'B', 'type': 'string'}}


class Opaque:
    """A type pydantic validates (arbitrary types) but cannot describe."""


class OpaqueIn(BaseModel):
    model_config = {'arbitrary_types_allowed': True}
    value: Opaque


@API(methods=['POST'], input_model=OpaqueIn)
async def opaque(request: Request) -> dict[str, str]:
    return {}


def test_undescribable_types_are_empty_schemas_with_one_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger='panther'):
        app_with(monkeypatch, {'opaque/': opaque, 'items/': create_item})
        spec = OpenAPIGenerator.generate_openapi_spec()
        OpenAPIGenerator.generate_openapi_spec()  # cached: no second warning
    validate(spec)
    assert spec['paths']['/opaque/']['post']['requestBody']['content']['application/json']['schema'] == {}
    assert 'ItemIn' in spec['components']['schemas']  # the rest of the document is intact
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert 'OpaqueIn' in warnings[0] and '`opaque` (POST /opaque/)' in warnings[0]


def test_document_is_cached_and_rebuilt_for_new_routes(monkeypatch: pytest.MonkeyPatch) -> None:
    app_with(monkeypatch, {'items/': create_item})
    first = OpenAPIGenerator.cached_spec()
    assert OpenAPIGenerator.cached_spec() is first
    copy = OpenAPIGenerator.generate_openapi_spec()
    assert copy == first and copy is not first
    copy['paths'].clear()
    assert OpenAPIGenerator.cached_spec()['paths']  # callers cannot change the cached document
    app_with(monkeypatch, {'tree/': tree})
    assert set(OpenAPIGenerator.cached_spec()['paths']) - {p for p in first['paths'] if p.startswith('/docs')} == {
        '/tree/'
    }


@API(methods=['GET'])
async def article(slug: str) -> HTMLResponse:
    if slug != 'known':
        return HTMLResponse('<h1>Not found</h1>', status_code=404)
    return HTMLResponse('<h1>Known</h1>')


@API(methods=['GET'])
async def download() -> FileResponse:
    return FileResponse('report.csv')


@API(methods=['GET'])
async def atom_feed() -> TemplateResponse:
    return TemplateResponse(source='<feed/>', headers={'Content-Type': 'application/atom+xml; charset=utf-8'})


def test_pages_files_and_feeds_document_what_they_send(monkeypatch: pytest.MonkeyPatch) -> None:
    # Found by fuzzing the blog and chat examples: each of these answered with an undocumented Content-Type.
    spec = document(monkeypatch, {'articles/<slug>/': article, 'download/': download, 'feed/': atom_feed})
    not_found = spec['paths']['/articles/{slug}/']['get']['responses']['404']
    assert set(not_found['content']) == {'application/json', 'text/html'}  # the router's JSON, the page's HTML
    assert spec['paths']['/download/']['get']['responses']['200']['content'] == {'*/*': {'schema': {'type': 'string'}}}
    feed_content = spec['paths']['/feed/']['get']['responses']['200']['content']
    assert feed_content == {'application/atom+xml': {'schema': {'type': 'string'}}}


@API(methods=['GET'])
async def ready() -> Response:
    if len('x') > 1:
        return Response(data={'status': 'unavailable'}, status_code=status.HTTP_503_SERVICE_UNAVAILABLE)
    return Response(data={'status': 'ok'})


@API(methods=['POST'])
async def check_code(request: Request) -> dict[str, str]:
    if request.data != {'code': 'right'}:
        raise AuthenticationAPIError(detail='Wrong code')
    return {'detail': 'ok'}


def test_status_codes_found_in_the_source_are_documented(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = document(monkeypatch, {'ready/': ready, 'check/': check_code})
    ready_responses = spec['paths']['/ready/']['get']['responses']
    assert set(ready_responses) == {'200', '503'}
    assert ready_responses['503']['description'] == 'Service Unavailable'
    # No authentication is configured, but the handler raises a 401 itself.
    assert spec['paths']['/check/']['post']['responses']['401'] == {'$ref': '#/components/responses/Unauthorized'}


# --- served document and pages ---------------------------------------------------------------------------------------

PAGES = {
    'scalar': 'Scalar API Reference',
    'swagger': 'Swagger UI',
    'redoc': 'ReDoc API Reference',
    'rapidoc': 'RapiDoc Inline JSON',
    'spotlight': 'Stoplight Elements with CSS',
}


@API(methods=['GET'])
async def sneaky() -> dict[str, str]:
    """</script><script>alert("pwned")</script> & <b>bold</b>"""
    return {}


async def test_document_is_served_at_openapi_json(monkeypatch: pytest.MonkeyPatch) -> None:
    async with APIClient(app_with(monkeypatch, {'items/': create_item})) as client:
        response = await client.get('/docs/openapi.json')
    assert response.status_code == 200
    assert response.headers['Content-Type'].startswith('application/json')
    assert response.data['openapi'] == '3.1.0'
    assert '/items/' in response.data['paths']


async def test_docs_index_links_the_pages_where_mounted(monkeypatch: pytest.MonkeyPatch) -> None:
    app = app_with(monkeypatch, {'api/': {'v1/': {'items/': create_item, 'reference/': docs_urls}}})
    async with APIClient(app) as client:
        response = await client.get('/api/v1/reference/')
        without_slash = await client.get('/api/v1/reference')
    assert response.status_code == 200
    assert response.headers['Content-Type'] == 'text/html; charset=utf-8'
    for name in PAGES:
        assert f'href="/api/v1/reference/{name}/"' in response.data
    assert 'href="/api/v1/reference/openapi.json"' in response.data
    assert without_slash.data == response.data


@pytest.mark.parametrize(('name', 'title'), list(PAGES.items()))
async def test_the_five_pages_render_with_the_document_escaped(
    monkeypatch: pytest.MonkeyPatch, name: str, title: str
) -> None:
    async with APIClient(app_with(monkeypatch, {'sneaky/': sneaky})) as client:
        response = await client.get(f'/docs/{name}/')
    assert response.status_code == 200
    assert response.headers['Content-Type'] == 'text/html; charset=utf-8'
    html = response.data
    assert f'<title>{title}</title>' in html
    assert 'alert' in html  # the docstring is in the page …
    assert '</script><script>alert' not in html  # … but cannot end the script element
    assert '<b>bold</b>' not in html
    assert '\\u003c/script\\u003e' in html
    assert 'integrity="sha384-' in html
    assert not html.endswith('\n')


def test_page_assets_are_pinned_versions_with_integrity() -> None:
    templates = REPO_ROOT / 'panther' / 'openapi' / 'templates'
    pinned = re.compile(r'^https://cdn\.jsdelivr\.net/npm/(@[\w-]+/)?[\w-]+@\d+\.\d+\.\d+/')
    for name in PAGES:
        text = (templates / f'{name}.html').read_text()
        tags = re.findall(r'<(?:script|link)[^>]*(?:src|href)="https://[^>]*>', text)
        assert tags, name
        for tag in tags:
            url = re.search(r'(?:src|href)="([^"]+)"', tag)
            assert url is not None and pinned.match(url.group(1)), tag
            assert 'integrity="sha384-' in tag and 'crossorigin="anonymous"' in tag, tag


def test_a_5x_app_mounting_the_openapi_routes_starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = """
from panther import Panther
from panther.app import API
from panther.openapi import OutputSchema
from panther.openapi.urls import url_routing as openapi_url_routing


@API(output_schema=OutputSchema(status_code=200))
async def hello_world():
    return {'detail': 'Hello World'}


url_routing = {'': hello_world, 'docs/': openapi_url_routing}
app = Panther(__name__, configs=__name__, urls=url_routing)
"""
    (tmp_path / 'legacy_app.py').write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module('legacy_app')
    try:
        assert config.FLAT_URLS['docs/swagger/'].__name__ == 'SwaggerOpenAPI'
        spec = OpenAPIGenerator.generate_openapi_spec()
        validate(spec)
        assert set(spec['paths']['/']) == {'post', 'get', 'put', 'patch', 'delete'}
        assert spec['paths']['/']['get']['responses']['200']['content']['application/json']['schema'] == {
            'type': 'object',
            'properties': {'detail': {'default': 'Hello World'}},
        }
        assert module.app is not None
    finally:
        sys.modules.pop('legacy_app', None)


# --- the example apps ------------------------------------------------------------------------------------------------


@pytest.fixture
def clean_events() -> Iterator[None]:
    Event.clear()
    yield
    Event.clear()


@pytest.mark.parametrize('example', ['canonical', 'blog', 'chat'])
async def test_example_documents_are_valid(
    example: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_events: None
) -> None:
    for variable in ('MONGODB_URL', 'REDIS_HOST'):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv('PANTHER_DB_PATH', str(tmp_path / 'canonical.pdb'))
    monkeypatch.setenv('BLOG_DB_PATH', str(tmp_path / 'blog.pdb'))
    monkeypatch.setenv('CHAT_DB_PATH', str(tmp_path / 'chat.pdb'))
    monkeypatch.setenv('BLOG_UPLOAD_DIR', str(tmp_path / 'uploads'))
    for name in (f'examples.{example}.core.configs', f'examples.{example}.main'):
        module = sys.modules.get(name)
        app = (importlib.reload(module) if module else importlib.import_module(name)).__dict__.get('app')
    async with APIClient(app) as client:
        spec = (await client.get('/docs/openapi.json')).data
        home = await client.get('/')
    validate(spec)
    assert spec['openapi'] == '3.1.0'
    assert home.status_code == 200
    assert home.headers['Content-Type'] == 'text/html; charset=utf-8'
    assert 'href="/docs/scalar/"' in home.data


async def test_canonical_root_page_links_docs_health_and_the_feed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_events: None
) -> None:
    monkeypatch.setenv('PANTHER_DB_PATH', str(tmp_path / 'canonical.pdb'))
    for name in ('examples.canonical.core.configs', 'examples.canonical.main'):
        module = sys.modules.get(name)
        app = (importlib.reload(module) if module else importlib.import_module(name)).__dict__.get('app')
    async with APIClient(app) as client:
        home = await client.get('/', headers={'Host': '<script>x</script>'})
        spec = (await client.get('/docs/openapi.json')).data
    for link in (
        '/docs/swagger/',
        '/docs/redoc/',
        '/docs/rapidoc/',
        '/docs/spotlight/',
        '/docs/openapi.json',
        '/health/',
    ):
        assert f'href="{link}"' in home.data
    assert '/ws/notes/?authorization=' in home.data
    assert '<script>x</script>' not in home.data  # the Host header is escaped
    assert spec['x-websockets']['/ws/notes/']['security'] == [{'QueryAuth': []}]
    notes = spec['paths']['/notes/']['get']
    assert [p['name'] for p in notes['parameters']] == ['limit', 'skip', 'search', 'pinned', 'sort']
    assert notes['security'] == [{'BearerAuth': []}]
    assert spec['paths']['/auth/refresh/']['post']['security'] == [{'RefreshBearerAuth': []}]


# --- EndpointParser (SPEC §24.4) -------------------------------------------------------------------------------------


def returns_dict():
    return {'detail': 'ok', 'computed': len('x')}


def returns_variable():
    data = {'detail': 'ok'}
    return data


def returns_list():
    x = ['1', '2']
    return x


def returns_tuple():
    x = (6, 9)
    return x


def returns_constant():
    x = True
    return x


def returns_response():
    return Response(data={'detail': 'created'}, status_code=201)


def returns_positional_response():
    return Response({}, 207)


def returns_status_constant():
    return Response(data={'detail': 'x'}, status_code=status.HTTP_207_MULTI_STATUS)


def returns_status_variable():
    code = status.HTTP_202_ACCEPTED
    return Response(data={'a': 1}, status_code=code)


def returns_response_variable():
    r = Response(data={'detail': 'Hello'}, status_code=207)
    return r


def returns_model():
    return ItemOut(name='Ali', children=['A', 'B'])


def last_return_wins():
    if len('x'):
        return {'never': 'seen'}
    return {'detail': 'last'}


def returns_page():
    return HTMLResponse('<p>x</p>', headers={'Content-Type': 'application/atom+xml'})


class ParsedAPI(GenericAPI):
    async def post(self) -> Response:
        return Response(data={'created': True}, status_code=201)


@pytest.mark.parametrize(
    ('function', 'status_code', 'data'),
    [
        (returns_dict, 200, {'detail': 'ok', 'computed': None}),
        (returns_variable, 200, {'detail': 'ok'}),
        (returns_list, 200, ['1', '2']),
        (returns_tuple, 200, [6, 9]),
        (returns_constant, 200, True),
        (returns_response, 201, {'detail': 'created'}),
        (returns_positional_response, 207, {}),
        (returns_status_constant, 207, {'detail': 'x'}),
        (returns_status_variable, 202, {'a': 1}),
        (returns_response_variable, 207, {'detail': 'Hello'}),
        (returns_model, 200, {'name': 'Ali', 'children': ['A', 'B']}),
    ],
)
def test_endpoint_parser_forms(function: Any, status_code: int, data: Any) -> None:
    parser = EndpointParser(function, 'get')
    assert parser.endpoint_name == function.__name__
    assert parser.status_code == status_code
    assert parser.response_data == data


def test_endpoint_parser_reads_the_class_method_and_content_type() -> None:
    parser = EndpointParser(ParsedAPI, 'post')
    assert (parser.endpoint_name, parser.status_code, parser.response_data) == ('ParsedAPI', 201, {'created': True})
    assert EndpointParser(ParsedAPI, 'get').status_code == 200  # no such method: the defaults
    assert EndpointParser(ParsedAPI, 'post').status_codes == {201}
    assert EndpointParser(last_return_wins).status_codes == {200}
    page_parser = EndpointParser(returns_page)
    assert (page_parser.response_class, page_parser.content_type) == ('HTMLResponse', 'application/atom+xml')


def test_endpoint_parser_never_raises_on_unknown_code() -> None:
    # Only top-level returns are read; nested ones keep the defaults.
    assert EndpointParser(last_return_wins).response_data == {'detail': 'last'}
    assert EndpointParser(len).response_data == {}  # no Python source
    assert EndpointParser(lambda: {'x': 1}).status_code == 200
