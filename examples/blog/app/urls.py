"""Routes of the blog, mounted under `/` by core/urls.py."""

from examples.blog.app.apis import (
    CommentDetailAPI,
    CommentListAPI,
    PostDetailAPI,
    PostListAPI,
    login,
    logout,
    me,
    refresh,
    sign_up,
)
from examples.blog.app.pages import cover, feed, index, post_page

api_urls = {
    'auth/': {
        'signup/': sign_up,
        'login/': login,
        'refresh/': refresh,
        'logout/': logout,
        'me/': me,
    },
    'posts/': PostListAPI,
    'posts/<slug>/': PostDetailAPI,
    'posts/<slug>/comments/': CommentListAPI,
    'comments/<comment_id>/': CommentDetailAPI,
}

url_routing = {
    '': index,
    'posts/<slug>/': post_page,
    'posts/<slug>/cover/': cover,
    'feed/': feed,
    'api/': api_urls,
}
