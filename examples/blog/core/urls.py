"""The root routing table (`URLs` in configs.py points here)."""

import examples.blog.app.admin  # noqa: F401  # how the models appear in the admin panel
from examples.blog.app.urls import url_routing as blog_urls
from panther.openapi.urls import url_routing as docs_urls
from panther.panel.urls import url_routing as admin_urls

url_routing = {
    '': blog_urls,
    'docs/': docs_urls,  # /docs/scalar/, /docs/swagger/, … and /docs/openapi.json
    'admin/': admin_urls,  # the admin panel, for users with `is_admin`
}
