"""The root routing table (`URLs` in configs.py points here). Nested dicts mount other apps' tables."""

from examples.canonical.app.urls import url_routing as notes_urls
from panther.openapi.urls import url_routing as docs_urls

url_routing = {
    '': notes_urls,
    'docs/': docs_urls,  # /docs/scalar/, /docs/swagger/, /docs/redoc/, … and /docs/openapi.json
}
