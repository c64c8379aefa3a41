"""Query engines; `Query` is the set of query methods every `Model` has."""

from panther.db.queries.queries import Query

__all__ = ['Query']
