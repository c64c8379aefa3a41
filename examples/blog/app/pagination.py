"""Pagination whose `next` / `previous` links keep the other query parameters (search, filters, sort)."""

from urllib.parse import urlencode

from panther.pagination import Pagination


class BlogPagination(Pagination):
    DEFAULT_LIMIT = 10

    def _link(self, skip: int) -> str:
        params = {key: value for key, value in self.query_params.items() if key not in ('limit', 'skip')}
        return '?' + urlencode({**params, 'limit': self.limit, 'skip': skip})

    def build_next_params(self) -> str:
        return self._link(self.skip + self.limit)

    def build_previous_params(self) -> str:
        return self._link(max(self.skip - self.limit, 0))
