"""How the blog's models appear in the admin panel (mounted at /admin/ by core/urls.py).

Make the first staff user from a shell: `python -c "from panther.panel import create_admin; ..."` (see
README.md); the panel then lists every model with posts, authors and their covers editable there.
"""

from examples.blog.app.models import Comment, Post, User
from panther.panel import register

register(User, list_display=['username', 'is_admin', 'last_login', 'date_created'], search_fields=['username'])
# The slug is part of the post's address: typed when a post is created in the panel, never changed afterwards.
register(
    Post,
    list_display=['title', 'author', 'published', 'created_at'],
    search_fields=['title', 'body'],
    list_filter=['published', 'author'],
    readonly_fields=['slug', 'created_at'],
)
register(Comment, list_display=['post', 'author', 'body', 'created_at'], search_fields=['body'])
