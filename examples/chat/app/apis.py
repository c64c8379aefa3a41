"""The HTTP side: sign up, log in (get the token for the WebSocket), refresh, and the chat page."""

from datetime import timedelta

from examples.chat.app.models import User
from examples.chat.app.serializers import MAX_MESSAGE_LENGTH, LoginIn, SignUpIn, UserOut
from panther import status
from panther.app import API
from panther.authentications import RefreshJWTAuthentication
from panther.configs import config
from panther.db.models import DocumentError
from panther.exceptions import AuthenticationAPIError, BadRequestAPIError
from panther.permissions import IsAuthenticated
from panther.request import Request
from panther.response import FileResponse, Response, TemplateResponse
from panther.throttling import Throttle, client_ip_key

# A stored-password value that matches no password: checking it costs as much as checking a real one.
_NO_SUCH_USER = User(username='', password='0' * 64)

# The page loads its script from /static/chat.js and talks to this host only; nothing inline may run.
PAGE_HEADERS = {
    # img-src data: lets the page's empty icon (<link rel="icon" href="data:,">) stand in for a /favicon.ico.
    'Content-Security-Policy': (
        "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'unsafe-inline'; base-uri 'none'"
    )
}


@API(
    methods=['POST'],
    input_model=SignUpIn,
    output_model=UserOut,
    # Per client address, whatever token is sent (see examples/canonical/app/apis.py).
    throttling=Throttle(rate=20, duration=timedelta(hours=1), key=client_ip_key),
)
async def sign_up(request: Request) -> Response:
    data: SignUpIn = request.validated_data
    # A quick answer for the usual case; the unique index on `username` is what guarantees it (see models.py).
    if await User.exists(username=data.username):
        raise BadRequestAPIError(detail={'username': 'This username is taken.'})
    try:
        user = await User.insert_one(username=data.username)
    except DocumentError as error:
        if 'username' not in error.fields:
            raise
        # Another sign-up took the name between the check above and this insert.
        raise BadRequestAPIError(detail={'username': 'This username is taken.'}) from None
    await user.set_password(data.password)  # scrypt runs in a worker thread
    return Response(data=user, status_code=status.HTTP_201_CREATED)


@API(
    methods=['POST'],
    input_model=LoginIn,
    throttling=Throttle(rate=5, duration=timedelta(minutes=1), key=client_ip_key),
)
async def login(request: Request) -> dict[str, str]:
    data: LoginIn = request.validated_data
    user = await User.find_one(username=data.username.lower())
    if user is None:
        # Same work and the same answer as a wrong password, so nobody learns which usernames exist.
        await _NO_SUCH_USER.check_password(data.password)
        raise AuthenticationAPIError(detail='Invalid username or password')
    if not await user.check_password(data.password):
        raise AuthenticationAPIError(detail='Invalid username or password')
    return await user.login()  # {'access_token': ..., 'refresh_token': ...}


@API(
    methods=['POST'],
    auth=RefreshJWTAuthentication,
    permissions=[IsAuthenticated],
    throttling=Throttle(rate=30, duration=timedelta(minutes=1), key=client_ip_key),
)
async def refresh(request: Request) -> dict[str, str]:
    # `Authorization: Bearer <refresh token>`: spends it and returns a new pair. The page does this before each
    # (re)connection, because the access token in the WebSocket URL lives only 15 minutes.
    return await request.user.refresh_tokens()


@API(methods=['GET'])
async def index() -> TemplateResponse:
    context = {'max_length': MAX_MESSAGE_LENGTH, 'default_room': 'general'}
    return TemplateResponse(name='index.html', context=context, headers=PAGE_HEADERS)


@API(methods=['GET'])
async def script() -> FileResponse:
    # Served from the example's `static/` directory (below the working directory, as FileResponse requires).
    return FileResponse(config.STATIC_DIR / 'chat.js', headers={'X-Content-Type-Options': 'nosniff'})
