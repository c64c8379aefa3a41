"""Permissions: async callables that get the request and grant access only by returning a truthy value.

They run after authentication, so `request.user` is the logged-in author or `None`. A visitor without a (valid)
cookie who tries to write gets 401 (log in first), an author touching someone else's post gets 403.
"""

from examples.blog.app.models import Comment
from examples.blog.app.queries import find_visible_post
from panther.exceptions import AuthenticationAPIError
from panther.permissions import BasePermission
from panther.request import Request

READ_METHODS = frozenset({'GET', 'HEAD'})


def _require_login(request: Request) -> None:
    if request.user is None:
        # Raised instead of returning False: a refused permission is a 403, but the visitor has not logged in yet.
        raise AuthenticationAPIError(detail='Log in to do this')


class LoginRequiredForWrites(BasePermission):
    """Anyone may read; writing needs a logged-in author."""

    async def __call__(self, request: Request) -> bool:
        if request.method not in READ_METHODS:
            _require_login(request)
        return True


class IsPostAuthorOrReadOnly(BasePermission):
    """Anyone who can see the post may read it; only its author may change or delete it.

    An unknown slug, or someone else's draft, is a 404 (`find_visible_post`).
    """

    async def __call__(self, request: Request) -> bool:
        if request.method in READ_METHODS:
            return True
        _require_login(request)
        post = await find_visible_post(request.path_variables['slug'], request.user)
        return post.author.id == request.user.id


class IsCommentOrPostAuthor(BasePermission):
    """A comment may be deleted by whoever wrote it and by the author of the post it is on."""

    async def __call__(self, request: Request) -> bool:
        _require_login(request)
        comment = await Comment.find_one_or_raise(id=request.path_variables['comment_id'])
        return request.user.id in (comment.author.id, comment.post.author.id)
