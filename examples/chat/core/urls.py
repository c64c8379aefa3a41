"""The root routing table (`URLs` in configs.py points here)."""

from examples.chat.app.urls import url_routing as chat_urls
from panther.openapi.urls import url_routing as docs_urls

url_routing = {
    '': chat_urls,
    'docs/': docs_urls,  # /docs/scalar/, /docs/swagger/, … and /docs/openapi.json
}
