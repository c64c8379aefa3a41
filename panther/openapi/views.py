"""The five documentation pages and the document itself. Each page embeds the document (escaped for HTML by
Jinja's `tojson`) and loads its UI from a public CDN at a pinned version, checked by Subresource Integrity."""

from __future__ import annotations

from typing import Any

from panther.app import GenericAPI
from panther.openapi import OutputSchema
from panther.openapi.utils import OpenAPIGenerator
from panther.request import Request
from panther.response import Response, TemplateResponse

__all__ = [
    'DocsIndex',
    'OpenAPIJSON',
    'RapiDocOpenAPI',
    'RedocOpenAPI',
    'ScalarOpenAPI',
    'SpotlightOpenAPI',
    'SwaggerOpenAPI',
]


class _DocsPage(GenericAPI):
    output_schema = OutputSchema(exclude_in_docs=True)
    template_name = ''

    async def get(self, *args: Any, **kwargs: Any) -> TemplateResponse:
        return TemplateResponse(name=self.template_name, context={'openapi': OpenAPIGenerator.cached_spec()})


class ScalarOpenAPI(_DocsPage):
    template_name = 'scalar.html'


class SwaggerOpenAPI(_DocsPage):
    template_name = 'swagger.html'


class RedocOpenAPI(_DocsPage):
    template_name = 'redoc.html'


class RapiDocOpenAPI(_DocsPage):
    template_name = 'rapidoc.html'


class SpotlightOpenAPI(_DocsPage):
    template_name = 'spotlight.html'


class OpenAPIJSON(GenericAPI):
    """The OpenAPI 3.1 document of this service."""

    output_schema = OutputSchema(exclude_in_docs=True)

    async def get(self, *args: Any, **kwargs: Any) -> Response:
        return Response(data=OpenAPIGenerator.cached_spec())


# A string, not a file: a template named like this one in the app's TEMPLATES_DIR would win over a file.
_INDEX = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>API documentation</title>
  <style>body { font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; }</style>
</head>
<body>
  <h1>{{ title }}</h1>
  <ul>
    <li><a href="{{ base }}/scalar/">Scalar</a></li>
    <li><a href="{{ base }}/swagger/">Swagger UI</a></li>
    <li><a href="{{ base }}/redoc/">ReDoc</a></li>
    <li><a href="{{ base }}/rapidoc/">RapiDoc</a></li>
    <li><a href="{{ base }}/spotlight/">Stoplight Elements</a></li>
    <li><a href="{{ base }}/openapi.json">openapi.json</a> (OpenAPI {{ version }})</li>
  </ul>
</body>
</html>"""


class DocsIndex(GenericAPI):
    """Links to the five pages and the document, wherever the routes are mounted."""

    output_schema = OutputSchema(exclude_in_docs=True)

    async def get(self, request: Request, *args: Any, **kwargs: Any) -> TemplateResponse:
        spec = OpenAPIGenerator.cached_spec()
        context = {'base': request.path.rstrip('/'), 'title': spec['info']['title'], 'version': spec['openapi']}
        return TemplateResponse(source=_INDEX, context=context)
