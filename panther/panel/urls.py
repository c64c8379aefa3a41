"""The panel's routes; mount them with `{'admin/': panther.panel.urls.url_routing}`."""

from __future__ import annotations

from panther.panel.views import (
    BulkDeleteView,
    CreateView,
    DeleteView,
    DetailView,
    FileView,
    HomeView,
    LoginView,
    LogoutView,
    StaticView,
    TableView,
)

__all__ = ['url_routing']

url_routing = {
    '': HomeView,
    'login/': LoginView,
    'logout/': LogoutView,
    'static/<name>/': StaticView,
    '<index>/': TableView,
    '<index>/create/': CreateView,
    '<index>/delete/': BulkDeleteView,
    '<index>/<document_id>/': DetailView,
    '<index>/<document_id>/delete/': DeleteView,
    '<index>/<document_id>/files/<field>/': FileView,
}
