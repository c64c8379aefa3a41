"""`Pagination`: `?limit=&skip=` for `ListAPI`, with `count` / `next` / `previous` in the response."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from panther.db.cursor import BaseCursor
from panther.exceptions import BadRequestAPIError

__all__ = ['Pagination']


class Pagination:
    """Reads `limit` (default 20, at most `MAX_LIMIT`) and `skip` (default 0) from the query parameters.

    Anything that is not a non-negative whole number is a 400 error (`limit` must also be at least 1); a `limit`
    above `MAX_LIMIT` is lowered to it, so one request can never ask for the whole collection. A number above
    `MAX_NUMBER` is a 400 too: databases store 64-bit integers, and `?skip=99999999999999999999` must not reach one.
    """

    DEFAULT_LIMIT = 20
    DEFAULT_SKIP = 0
    MAX_LIMIT = 100
    MAX_NUMBER = 1_000_000_000

    def __init__(self, query_params: Mapping[str, Any], cursor: BaseCursor) -> None:
        self.query_params = query_params
        self.cursor = cursor
        self.limit = self.get_limit()
        self.skip = self.get_skip()

    def _number(self, name: str, default: int, minimum: int) -> int:
        raw = self.query_params.get(name)
        if raw is None or raw == '':
            return default
        try:
            value = int(raw)
        except (TypeError, ValueError):
            raise BadRequestAPIError(detail=f'`{name}` should be a whole number, not `{raw}`.') from None
        if value < minimum:
            raise BadRequestAPIError(detail=f'`{name}` should be at least {minimum}.')
        if value > self.MAX_NUMBER:
            raise BadRequestAPIError(detail=f'`{name}` should be at most {self.MAX_NUMBER}.')
        return value

    def get_limit(self) -> int:
        return min(self._number('limit', self.DEFAULT_LIMIT, 1), self.MAX_LIMIT)

    def get_skip(self) -> int:
        return self._number('skip', self.DEFAULT_SKIP, 0)

    def _params(self, skip: int) -> str:
        # Search, filters and sort stay in the links, so following `next` keeps the same query.
        others = {key: value for key, value in self.query_params.items() if key not in ('limit', 'skip')}
        extra = f'&{urlencode(others)}' if others else ''
        return f'?limit={self.limit}&skip={skip}{extra}'

    def build_next_params(self) -> str:
        return self._params(self.skip + self.limit)

    def build_previous_params(self) -> str:
        return self._params(max(self.skip - self.limit, 0))

    def paginate(self) -> BaseCursor:
        return self.cursor.skip(self.skip).limit(self.limit)

    async def template(self, results: Any) -> dict[str, Any]:
        count = await self.cursor.cls.count(self.cursor.filter)
        return {
            'count': count,
            'next': self.build_next_params() if self.limit + self.skip < count else None,
            'previous': self.build_previous_params() if self.skip else None,
            'results': results,
        }
