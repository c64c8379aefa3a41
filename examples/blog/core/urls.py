"""The root routing table (`URLs` in configs.py points here)."""

from examples.blog.app.urls import url_routing as blog_urls
from panther.openapi.urls import url_routing as docs_urls

url_routing = {
    '': blog_urls,
    'docs/': docs_urls,  # /docs/scalar/, /docs/swagger/, … and /docs/openapi.json
}
