"""Routes of the notes app, mounted under `/` by core/urls.py."""

from examples.canonical.app.apis import (
    NoteDetailAPI,
    NoteListAPI,
    health,
    login,
    logout,
    me,
    refresh,
    sign_up,
    stats,
)
from examples.canonical.app.pages import home
from examples.canonical.app.websockets import NoteFeedWebsocket

url_routing = {
    '': home,
    'auth/': {
        'signup/': sign_up,
        'login/': login,
        'refresh/': refresh,
        'logout/': logout,
        'me/': me,
    },
    'notes/': NoteListAPI,
    'notes/<note_id>/': NoteDetailAPI,
    'stats/': stats,
    'health/': health,
    'ws/notes/': NoteFeedWebsocket,
}
