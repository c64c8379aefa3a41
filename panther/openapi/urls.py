"""Mount with `{'docs/': url_routing}`: `/docs/scalar/`, `/docs/swagger/`, `/docs/redoc/`, `/docs/rapidoc/`,
`/docs/spotlight/` and the document at `/docs/openapi.json`."""

from panther.openapi.views import (
    OpenAPIJSON,
    RapiDocOpenAPI,
    RedocOpenAPI,
    ScalarOpenAPI,
    SpotlightOpenAPI,
    SwaggerOpenAPI,
)

__all__ = ['url_routing']

url_routing = {
    'scalar/': ScalarOpenAPI,
    'swagger/': SwaggerOpenAPI,
    'redoc/': RedocOpenAPI,
    'rapidoc/': RapiDocOpenAPI,
    'spotlight/': SpotlightOpenAPI,
    'openapi.json': OpenAPIJSON,
}
