"""The JSON API under `/api/`: accounts (JWT in cookies), posts and comments with the generic views."""

import secrets
from datetime import timedelta
from typing import Any

from examples.blog.app.authentication import OptionalCookieJWTAuthentication
from examples.blog.app.covers import delete_cover, save_cover
from examples.blog.app.models import Comment, Post, User
from examples.blog.app.pagination import BlogPagination
from examples.blog.app.permissions import IsCommentOrPostAuthor, IsPostAuthorOrReadOnly, LoginRequiredForWrites
from examples.blog.app.queries import find_visible_post, has_tag, unique_slug, visible_posts
from examples.blog.app.serializers import (
    AuthorOut,
    CommentOut,
    CommentSerializer,
    LoginIn,
    PostOut,
    PostSerializer,
    SignUpIn,
)
from panther import status
from panther.app import API
from panther.authentications import RefreshCookieJWTAuthentication
from panther.configs import config
from panther.db.cursor import BaseCursor
from panther.db.models import DocumentError
from panther.exceptions import AuthenticationAPIError, BadRequestAPIError
from panther.generics import CreateAPI, DeleteAPI, ListAPI, RetrieveAPI, UpdateAPI
from panther.permissions import IsAuthenticated
from panther.request import Request
from panther.response import Cookie, Response
from panther.throttling import Throttle, client_ip_key
from panther.utils import timezone_now

# The refresh token is only ever needed by the account endpoints, so browsers send it nowhere else.
REFRESH_COOKIE_PATH = '/api/auth/'

# A stored-password value that matches no password: checking it costs as much as checking a real one.
_NO_SUCH_USER = User(username='', password='0' * 64)


# --- accounts --------------------------------------------------------------------------------------------------


def token_cookies(tokens: dict[str, str]) -> list[Cookie]:
    """The login cookies: JavaScript cannot read them (`httponly`) and browsers leave them off cross-site POSTs."""
    jwt_config = config.JWT_CONFIG
    secure = bool(config.COOKIE_SECURE)
    return [
        Cookie(
            key='access_token',
            value=tokens['access_token'],
            httponly=True,
            secure=secure,
            samesite='lax',
            max_age=int(jwt_config.life_time),
        ),
        Cookie(
            key='refresh_token',
            value=tokens['refresh_token'],
            httponly=True,
            secure=secure,
            samesite='lax',
            max_age=int(jwt_config.refresh_life_time),
            path=REFRESH_COOKIE_PATH,
        ),
    ]


def expired_cookies() -> list[Cookie]:
    secure = bool(config.COOKIE_SECURE)
    return [
        Cookie(key='access_token', value='', httponly=True, secure=secure, samesite='lax', max_age=0),
        Cookie(
            key='refresh_token',
            value='',
            httponly=True,
            secure=secure,
            samesite='lax',
            max_age=0,
            path=REFRESH_COOKIE_PATH,
        ),
    ]


# Signing up and logging in must work whatever cookies the browser still holds (an expired or revoked token from
# an earlier session), so these two read the cookie with `OptionalCookieJWTAuthentication`, which ignores bad ones.
@API(
    methods=['POST'],
    auth=OptionalCookieJWTAuthentication,
    input_model=SignUpIn,
    output_model=AuthorOut,
    # Per client address, whatever cookie is sent (see examples/canonical/app/apis.py).
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
    auth=OptionalCookieJWTAuthentication,
    input_model=LoginIn,
    throttling=Throttle(rate=5, duration=timedelta(minutes=1), key=client_ip_key),
)
async def login(request: Request) -> Response:
    data: LoginIn = request.validated_data
    user = await User.find_one(username=data.username.lower())
    if user is None:
        # Same work and the same answer as a wrong password, so nobody learns which usernames exist.
        await _NO_SUCH_USER.check_password(data.password)
        raise AuthenticationAPIError(detail='Invalid username or password')
    if not await user.check_password(data.password):
        raise AuthenticationAPIError(detail='Invalid username or password')
    tokens = await user.login()
    return Response(data={'id': str(user.id), 'username': user.username}, set_cookies=token_cookies(tokens))


@API(
    methods=['POST'],
    auth=RefreshCookieJWTAuthentication,
    permissions=[IsAuthenticated],
    throttling=Throttle(rate=30, duration=timedelta(minutes=1), key=client_ip_key),
)
async def refresh(request: Request) -> Response:
    # Spends the `refresh_token` cookie: its session (the old access token too) is revoked, new cookies are set.
    tokens = await request.user.refresh_tokens()
    return Response(data={'username': request.user.username}, set_cookies=token_cookies(tokens))


@API(methods=['POST'], permissions=[IsAuthenticated])
async def logout(request: Request) -> Response:
    # Revokes the session (both tokens) and asks the browser to forget the cookies.
    await request.user.logout()
    return Response(status_code=status.HTTP_204_NO_CONTENT, set_cookies=expired_cookies())


@API(methods=['GET'], permissions=[IsAuthenticated], output_model=AuthorOut)
async def me(request: Request) -> User:
    return request.user


# --- posts -----------------------------------------------------------------------------------------------------


class PostListAPI(ListAPI, CreateAPI):
    """`GET /api/posts/` lists the posts the caller may see; `POST /api/posts/` creates one (logged in)."""

    permissions = [LoginRequiredForWrites]
    input_model = PostSerializer  # validates POST bodies only
    output_model = PostOut
    pagination = BlogPagination  # ?limit=&skip=  ->  {count, next, previous, results}
    search_fields = ['title', 'body']  # ?search=  (case-insensitive "contains" on any of them)
    filter_fields = ['published', 'author']  # ?published=false  ?author=<user id>
    sort_fields = ['created_at', 'updated_at', 'title']  # ?sort=-created_at,title

    async def get_query(self, request: Request, **kwargs: Any) -> BaseCursor:
        query = visible_posts(request.user)
        if tag := request.query_params.get('tag'):  # ?tag=python
            query = {'$and': [query, has_tag(tag.lower())]}
        return (await Post.find(query)).sort('created_at', -1)

    async def perform_create(self, request: Request, data: dict[str, Any], **kwargs: Any) -> Post:
        # The slug is made from the title and the author is the logged-in user (never taken from the body).
        cover = data['cover']
        if cover is not None:
            await save_cover(cover)  # into config.UPLOAD_DIR; the document stores the saved path
        fields = {**data, 'slug': await unique_slug(data['title']), 'author': request.user}
        try:
            post = await super().perform_create(request, fields, **kwargs)
        except Exception:
            await delete_cover(cover)  # nothing refers to the file
            raise
        # Two posts with the same title created at the same moment may both have picked the slug: move away.
        if await Post.count(slug=post.slug) > 1:
            await post.update(slug=f'{post.slug}-{secrets.token_hex(3)}')
        return post


class PostDetailAPI(RetrieveAPI, UpdateAPI, DeleteAPI):
    """`GET /api/posts/<slug>/` for anyone who may see the post; `PUT`, `PATCH`, `DELETE` for its author only.

    PUT writes every field (a PUT without `cover` removes the cover); PATCH validates and writes only the fields
    that were sent (`{"cover": null}` removes the cover).
    """

    permissions = [IsPostAuthorOrReadOnly]
    input_model = PostSerializer
    output_model = PostOut

    async def get_instance(self, request: Request, **kwargs: Any) -> Post:
        return await find_visible_post(kwargs['slug'], request.user)

    async def perform_update(self, instance: Post, request: Request, data: dict[str, Any], **kwargs: Any) -> None:
        # The new cover file is written before the document refers to it, the replaced one removed afterwards.
        replaces_cover = 'cover' in data
        old_cover, new_cover = instance.cover, data.get('cover')
        if new_cover is not None:
            await save_cover(new_cover)
        try:
            await super().perform_update(instance, request, {**data, 'updated_at': timezone_now()}, **kwargs)
        except Exception:
            await delete_cover(new_cover)
            raise
        if replaces_cover:
            await delete_cover(old_cover)

    async def post_delete(self, instance: Post, request: Request, **kwargs: Any) -> None:
        # Runs after the post is deleted: its comments and its cover file go with it.
        await Comment.delete_many(post=instance)
        await delete_cover(instance.cover)


# --- comments --------------------------------------------------------------------------------------------------


class CommentListAPI(ListAPI, CreateAPI):
    """`GET /api/posts/<slug>/comments/` (oldest first) and `POST` a comment (logged in)."""

    permissions = [LoginRequiredForWrites]
    input_model = CommentSerializer
    output_model = CommentOut
    pagination = BlogPagination
    sort_fields = ['created_at']

    async def get_query(self, request: Request, **kwargs: Any) -> BaseCursor:
        post = await find_visible_post(kwargs['slug'], request.user)
        return (await Comment.find(post=post)).sort('created_at', 1)

    async def perform_create(self, request: Request, data: dict[str, Any], **kwargs: Any) -> Comment:
        # The post comes from the URL (404 unless the caller may see it), the author from the cookie.
        post = await find_visible_post(kwargs['slug'], request.user)
        return await super().perform_create(request, {**data, 'post': post, 'author': request.user}, **kwargs)


class CommentDetailAPI(DeleteAPI):
    """`DELETE /api/comments/<comment_id>/`: by the comment's author or the post's author."""

    permissions = [IsCommentOrPostAuthor]

    async def get_instance(self, request: Request, **kwargs: Any) -> Comment:
        return await Comment.find_one_or_raise(id=kwargs['comment_id'])
