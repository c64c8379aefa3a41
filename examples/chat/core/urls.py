"""The root routing table (`URLs` in configs.py points here)."""

from examples.chat.app.urls import url_routing as chat_urls

url_routing = {
    '': chat_urls,
}
