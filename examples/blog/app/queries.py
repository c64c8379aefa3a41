"""Which posts a visitor may see, lookups by slug, and slugs themselves."""

import re
import unicodedata
from typing import Any

from examples.blog.app.models import Post, User
from panther.exceptions import NotFoundAPIError


def visible_posts(user: User | None) -> dict[str, Any]:
    """Filter: every published post, plus the drafts of `user`."""
    if user is None:
        return {'published': True}
    return {'$or': [{'published': True}, {'author': user}]}


async def find_visible_post(slug: str, user: User | None) -> Post:
    """The post with this slug if `user` may see it; 404 otherwise (a draft of someone else does not exist)."""
    post = await Post.find_one({'slug': slug, **visible_posts(user)})
    if post is None:
        raise NotFoundAPIError(detail='Post not found')
    return post


def has_tag(tag: str) -> dict[str, Any]:
    """Filter: posts whose `tags` list contains `tag`.

    MongoDB compares `{'tags': tag}` with each item of the list, but the embedded engine compares it with the whole
    list, so this asks for the tag as a whole item in a way both engines agree on: a regular expression that matches
    the item itself (MongoDB tests each item) or the item in quotes (the embedded engine tests the stored JSON text,
    `["python","web"]`). Stored tags never contain quotes (see `serializers.TAG`), and the user's text is escaped.
    """
    return {'tags': {'$regex': f'(^|"){re.escape(tag)}($|")'}}


def slugify(title: str) -> str:
    """`'Hello, Wörld!'` → `'hello-world'`: ASCII letters, digits and dashes, at most 80 characters."""
    ascii_text = unicodedata.normalize('NFKD', title).encode('ascii', 'ignore').decode()
    slug = re.sub(r'[^a-z0-9]+', '-', ascii_text.lower()).strip('-')
    return slug[:80].rstrip('-') or 'post'


async def unique_slug(title: str) -> str:
    """A slug for a new post that no stored post has yet: `hello`, then `hello-2`, `hello-3`, ..."""
    base = slugify(title)
    slug, number = base, 1
    while await Post.exists(slug=slug):
        number += 1
        slug = f'{base}-{number}'
    return slug
