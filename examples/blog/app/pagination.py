"""Ten posts per page (`Pagination` keeps search, filters and sort in its `next` / `previous` links)."""

from panther.pagination import Pagination


class BlogPagination(Pagination):
    DEFAULT_LIMIT = 10
