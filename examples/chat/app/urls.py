"""Routes of the chat, mounted under `/` by core/urls.py."""

from examples.chat.app.apis import index, login, refresh, script, sign_up
from examples.chat.app.websockets import ChatRoomWebsocket

url_routing = {
    '': index,
    'static/chat.js': script,
    'api/': {
        'signup/': sign_up,
        'login/': login,
        'refresh/': refresh,
    },
    'ws/rooms/<room>/': ChatRoomWebsocket,
}
