"""HTML pages (Jinja templates in examples/blog/templates/, autoescaped), cover images and the Atom feed.

Pages use `OptionalCookieJWTAuthentication`: a logged-in author also sees their drafts, anyone else (including a
browser with an expired cookie) sees the published posts.
"""

from datetime import timedelta
from typing import Any

from examples.blog.app.authentication import OptionalCookieJWTAuthentication
from examples.blog.app.covers import cover_path
from examples.blog.app.models import Comment, Post
from examples.blog.app.queries import find_visible_post, has_tag, visible_posts
from panther.app import API
from panther.exceptions import BadRequestAPIError, NotFoundAPIError
from panther.request import Request
from panther.response import FileResponse, TemplateResponse
from panther.utils import absolute_url, timezone_now

PAGE_SIZE = 10
MAX_PAGE = 1_000_000
FEED_SIZE = 20
MAX_COMMENTS_SHOWN = 200
# The pages run no scripts at all: markup that slipped past escaping could still not execute anything.
PAGE_HEADERS = {
    'Content-Security-Policy': "default-src 'self'; img-src 'self' data:; style-src 'unsafe-inline'; script-src 'none'"
}


def _page_number(raw: str | None) -> int:
    # A page link that was edited by hand shows the first page instead of an error ...
    try:
        page = max(int(raw or 1), 1)
    except ValueError:
        return 1
    if page > MAX_PAGE:
        # ... but a number no database integer can hold is refused before it reaches the query (a 500 otherwise).
        raise BadRequestAPIError(detail=f'`page` should be at most {MAX_PAGE}.')
    return page


def _not_found(request: Request) -> TemplateResponse:
    return TemplateResponse(name='404.html', context={'user': request.user}, headers=PAGE_HEADERS, status_code=404)


@API(methods=['GET'], auth=OptionalCookieJWTAuthentication)
async def index(request: Request) -> TemplateResponse:
    """`/` and `/?tag=python&page=2`: the newest posts, ten per page."""
    tag = (request.query_params.get('tag') or '').strip().lower()
    page = _page_number(request.query_params.get('page'))
    query: dict[str, Any] = visible_posts(request.user)
    if tag:
        query = {'$and': [query, has_tag(tag)]}
    total = await Post.count(query)
    cursor = Post.find(query).sort('created_at', -1).skip((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)
    context = {
        'user': request.user,
        'posts': await cursor.to_list(),
        'tag': tag,
        'page': page,
        'has_next': page * PAGE_SIZE < total,
    }
    return TemplateResponse(name='index.html', context=context, headers=PAGE_HEADERS)


@API(methods=['GET'], auth=OptionalCookieJWTAuthentication)
async def post_page(request: Request, slug: str) -> TemplateResponse:
    """`/posts/<slug>/`: one post with its comments."""
    try:
        post = await find_visible_post(slug, request.user)
    except NotFoundAPIError:
        return _not_found(request)
    comments = await Comment.find(post=post).sort('created_at', 1).limit(MAX_COMMENTS_SHOWN).to_list()
    context = {'user': request.user, 'post': post, 'comments': comments, 'has_cover': cover_path(post.cover)}
    return TemplateResponse(name='post.html', context=context, headers=PAGE_HEADERS)


@API(methods=['GET'], auth=OptionalCookieJWTAuthentication)
async def cover(request: Request, slug: str) -> FileResponse:
    """`/posts/<slug>/cover/`: the cover image, streamed from the upload directory (Range, ETag and HEAD work)."""
    post = await find_visible_post(slug, request.user)
    path = cover_path(post.cover)
    if path is None:
        raise NotFoundAPIError(detail='This post has no cover')
    # The type comes from the extension, which was chosen from the file's content when it was uploaded.
    # `no-cache`: browsers keep the image but ask (cheaply, with the ETag) whether the author replaced it.
    return FileResponse(path, headers={'X-Content-Type-Options': 'nosniff', 'Cache-Control': 'no-cache'})


@API(methods=['GET'], auth=OptionalCookieJWTAuthentication, cache=timedelta(minutes=5))
async def feed(request: Request) -> TemplateResponse:
    """`/feed/`: an Atom feed of the latest published posts, rendered at most once per 5 minutes per client (and
    per `Host`: the cache key includes it)."""
    posts = await Post.find(published=True).sort('created_at', -1).limit(FEED_SIZE).to_list()
    # From the `BASE_URL` setting, not from the `Host` header a client can forge (see docs/security.md).
    base_url = absolute_url('', request).rstrip('/')
    context = {
        'posts': posts,
        'base_url': base_url,
        'updated': max((post.updated_at for post in posts), default=timezone_now()),
    }
    return TemplateResponse(
        name='feed.xml', context=context, headers={'Content-Type': 'application/atom+xml; charset=utf-8'}
    )
