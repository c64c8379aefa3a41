"""Mount with `{'docs/': url_routing}`: `/docs/scalar/`, `/docs/swagger/`, `/docs/redoc/`, `/docs/rapidoc/`,
`/docs/spotlight/`, the document at `/docs/openapi.json` and links to all of them at `/docs/`."""

from panther.openapi.views import (
    DocsIndex,
    OpenAPIJSON,
    RapiDocOpenAPI,
    RedocOpenAPI,
    ScalarOpenAPI,
    SpotlightOpenAPI,
    SwaggerOpenAPI,
)

__all__ = ['url_routing']

url_routing = {
    '': DocsIndex,
    'scalar/': ScalarOpenAPI,
    'swagger/': SwaggerOpenAPI,
    'redoc/': RedocOpenAPI,
    'rapidoc/': RapiDocOpenAPI,
    'spotlight/': SpotlightOpenAPI,
    'openapi.json': OpenAPIJSON,
}
