"""HTTP endpoints: `@API()` functions for single actions, `panther.generics` classes for note CRUD."""

import logging
from datetime import datetime, timedelta
from typing import Any

from examples.canonical.app.models import Note, User
from examples.canonical.app.permissions import IsNoteOwner
from examples.canonical.app.serializers import (
    LoginIn,
    NoteOut,
    NoteSerializer,
    SignUpIn,
    UserOut,
)
from examples.canonical.app.websockets import notify_user
from panther import status
from panther.app import API
from panther.authentications import RefreshJWTAuthentication
from panther.db.connections import redis
from panther.db.cursor import BaseCursor
from panther.db.models import DocumentError
from panther.exceptions import AuthenticationAPIError, BadRequestAPIError
from panther.generics import CreateAPI, DeleteAPI, ListAPI, RetrieveAPI, UpdateAPI
from panther.pagination import Pagination
from panther.permissions import IsAuthenticated
from panther.request import Request
from panther.response import Response
from panther.throttling import Throttle, client_ip_key
from panther.utils import timezone_now

logger = logging.getLogger('panther')

# Set by the start-up hook in main.py.
started_at: dict[str, datetime] = {}

# A stored-password value that matches no password: checking it costs as much as checking a real one.
_NO_SUCH_USER = User(username='', password='0' * 64)


# --- accounts --------------------------------------------------------------------------------------------------

# Endpoints that authenticate someone are limited per client address (`client_ip_key`), whatever token the request
# carries: with the default key (the user), every account an attacker holds would add 5 guesses a minute.
# Login is also limited per target account, so guesses spread over many addresses still hit a wall.
LOGIN_PER_ADDRESS = Throttle(rate=5, duration=timedelta(minutes=1), key=client_ip_key)
LOGIN_PER_USERNAME = Throttle(
    rate=10,
    duration=timedelta(minutes=1),
    key=lambda request: f'login-username:{request.validated_data.username.lower()}',
)


@API(
    methods=['POST'],
    input_model=SignUpIn,
    output_model=UserOut,
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
    return Response(data=user, status_code=status.HTTP_201_CREATED)  # shaped by `output_model`


@API(methods=['POST'], input_model=LoginIn, throttling=LOGIN_PER_ADDRESS)
async def login(request: Request) -> dict[str, str]:
    data: LoginIn = request.validated_data
    await LOGIN_PER_USERNAME.check_and_increment(request)  # 429 past 10 guesses a minute at one account
    user = await User.find_one(username=data.username.lower())
    if user is None:
        # Same work and the same answer as a wrong password, so the response tells nobody which usernames exist.
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
    # `Authorization: Bearer <refresh token>`. The token is spent: its session (old access token included)
    # is revoked and a new pair is returned.
    return await request.user.refresh_tokens()


@API(methods=['POST'], permissions=[IsAuthenticated])
async def logout(request: Request) -> Response:
    # Revokes the session of the access token: it and its refresh token stop working.
    await request.user.logout()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@API(methods=['GET'], permissions=[IsAuthenticated], output_model=UserOut)
async def me(request: Request) -> User:
    return request.user


# --- notes -----------------------------------------------------------------------------------------------------


class NoteListAPI(ListAPI, CreateAPI):
    """`GET /notes/` lists the caller's notes; `POST /notes/` creates one."""

    permissions = [IsAuthenticated]
    input_model = NoteSerializer  # validates POST bodies only
    output_model = NoteOut
    pagination = Pagination  # ?limit=&skip=  ->  {count, next, previous, results}
    search_fields = ['title', 'body']  # ?search=  (case-insensitive "contains" on any of them)
    filter_fields = ['pinned']  # ?pinned=true  (converted to the field's type)
    sort_fields = ['title', 'created_at', 'pinned']  # ?sort=-pinned,title

    async def get_query(self, request: Request, **kwargs: Any) -> BaseCursor:
        # Every query starts from the caller's own notes; filters and search narrow it further.
        return (await Note.find(owner=request.user)).sort('created_at', -1)

    async def perform_create(self, request: Request, data: dict[str, Any], **kwargs: Any) -> Note:
        # The owner comes from the token, never from the body; the feed hears about the note once it is stored.
        note = await super().perform_create(request, {**data, 'owner': request.user}, **kwargs)
        message = {'type': 'note.created', 'note': NoteOut(**note.model_dump()).model_dump()}
        await notify_user(str(request.user.id), message)
        return note


class NoteDetailAPI(RetrieveAPI, UpdateAPI, DeleteAPI):
    """`GET`, `PUT`, `PATCH` and `DELETE /notes/<note_id>/`, for the note's owner only."""

    permissions = [IsAuthenticated, IsNoteOwner]
    input_model = NoteSerializer  # PUT writes every field; PATCH validates and writes only the fields sent
    output_model = NoteOut

    async def get_instance(self, request: Request, **kwargs: Any) -> Note:
        return await Note.find_one_or_raise(id=kwargs['note_id'])


# --- public ----------------------------------------------------------------------------------------------------


@API(methods=['GET'], cache=timedelta(seconds=30))
async def stats() -> dict[str, Any]:
    # Counting is a scan; the cached answer is replayed for 30 seconds (per client) without calling this.
    return {'users': await User.count(), 'notes': await Note.count(), 'generated_at': timezone_now()}


async def _database_status() -> str:
    try:
        await User.first()
    except Exception as exc:
        logger.error(f'Health check: the database is not available: {exc}')
        return 'unavailable'
    return 'ok'


async def _redis_status() -> str:
    if not redis.is_connected:
        return 'not configured'  # cache, throttling and logged-out tokens live in this process
    try:
        await redis.ping()
    except Exception as exc:
        logger.error(f'Health check: Redis is not available: {exc}')
        return 'unavailable'
    return 'ok'


@API(methods=['GET'])
async def health() -> Response:
    checks = {'database': await _database_status(), 'redis': await _redis_status()}
    if 'unavailable' in checks.values():
        return Response(data={'status': 'unavailable', **checks}, status_code=status.HTTP_503_SERVICE_UNAVAILABLE)
    return Response(data={'status': 'ok', **checks, 'started_at': started_at.get('time')})
