"""The root routing table (`URLs` in configs.py points here)."""

from examples.blog.app.urls import url_routing as blog_urls

url_routing = {
    '': blog_urls,
}
