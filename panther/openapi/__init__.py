"""OpenAPI 3.1 documentation: the document (`utils.OpenAPIGenerator`), five UI pages (`views`) and their routes
(`urls.url_routing`). `OutputSchema` describes an endpoint's response for the document only."""

from __future__ import annotations

from typing import Any

__all__ = ['OutputSchema']


class OutputSchema:
    """Documentation of an endpoint's successful response: `model` for the body and `status_code` for the status.

    `exclude_in_docs` leaves the endpoint out of the document, `tags` groups it, `deprecated` marks it so.
    """

    def __init__(
        self,
        model: Any = None,
        status_code: int | None = None,
        exclude_in_docs: bool = False,
        tags: list[str] | None = None,
        deprecated: bool = False,
    ) -> None:
        self.model = model
        self.status_code = status_code
        self.exclude_in_docs = exclude_in_docs
        self.tags = tags
        self.deprecated = deprecated
