"""The root routing table (`URLs` in configs.py points here). Nested dicts mount other apps' tables."""

from examples.canonical.app.urls import url_routing as notes_urls

url_routing = {
    '': notes_urls,
}
