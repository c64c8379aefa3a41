"""The five documentation pages and the document itself. Each page embeds the document (escaped for HTML by
Jinja's `tojson`) and loads its UI from a public CDN at a pinned version, checked by Subresource Integrity."""

from __future__ import annotations

from typing import Any

from panther.app import GenericAPI
from panther.openapi import OutputSchema
from panther.openapi.utils import OpenAPIGenerator
from panther.response import Response, TemplateResponse

__all__ = ['OpenAPIJSON', 'RapiDocOpenAPI', 'RedocOpenAPI', 'ScalarOpenAPI', 'SpotlightOpenAPI', 'SwaggerOpenAPI']


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
