"""Generic CRUD endpoints: `RetrieveAPI`, `ListAPI`, `CreateAPI`, `UpdateAPI`, `DeleteAPI`.

Implement `get_instance` (retrieve/update/delete) or `get_query` (list). Filters from the query string are
converted to the model's field types; `?search=` is a case-insensitive "contains" over `search_fields` with the
user's text escaped (never a raw pattern); documents that fail validation are a 400, nothing is written.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from panther import status
from panther._internal.views import GenericAPI
from panther.db._documents import DocumentError, ProtectedError, plan_for
from panther.db.cursor import BaseCursor, deferred_reads
from panther.db.models import Model
from panther.exceptions import APIError, BadRequestAPIError, DatabaseError
from panther.pagination import Pagination
from panther.request import Request
from panther.response import Response

__all__ = ['CreateAPI', 'DeleteAPI', 'ListAPI', 'RetrieveAPI', 'UpdateAPI']

logger = logging.getLogger('panther')

# Longer search terms are cut: a term is matched against every search field of every document.
MAX_SEARCH_LENGTH = 200
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _not_implemented(owner: object, method: str) -> APIError:
    logger.error(f'`{type(owner).__name__}.{method}()` is not implemented.')
    return APIError(status_code=status.HTTP_501_NOT_IMPLEMENTED)


def _field_errors(error: ValidationError) -> dict[str, str]:
    return {'.'.join(str(part) for part in item['loc']): item['msg'] for item in error.errors(include_url=False)}


def _write_error(model: type[BaseModel], data: dict[str, Any], error: DatabaseError) -> APIError:
    """A 400 naming the fields the database refused (a value a unique field already holds, a document that does not
    validate), `{"username": "already exists"}`."""
    if isinstance(error, DocumentError) and error.fields:
        return APIError(detail=dict(error.fields), status_code=status.HTTP_400_BAD_REQUEST)
    # Other refusals are re-validated with the input model to name the fields one by one when possible.
    try:
        model.model_validate(data)
    except ValidationError as validation:
        return APIError(detail=_field_errors(validation), status_code=status.HTTP_400_BAD_REQUEST)
    return BadRequestAPIError(detail=str(error))


def _values(validated: BaseModel, *, sent_only: bool = False) -> dict[str, Any]:
    # Attributes rather than `model_dump()`: related documents and files stay objects instead of dicts.
    names = [name for name in type(validated).model_fields if not sent_only or name in validated.model_fields_set]
    return {name: getattr(validated, name) for name in names}


def _serializer_model(api: GenericAPI, request: Request) -> tuple[BaseModel, type[Model]]:
    validated = request.validated_data
    model = getattr(validated, 'model', None)
    if not (isinstance(validated, BaseModel) and isinstance(model, type) and issubclass(model, Model)):
        logger.error(f'`{type(api).__name__}.input_model` should be a `ModelSerializer` of a `Model`.')
        raise APIError(status_code=status.HTTP_500_INTERNAL_SERVER_ERROR)
    return validated, model


@lru_cache(maxsize=512)
def _adapter(model: type[BaseModel], field: str) -> TypeAdapter[Any] | None:
    info = model.model_fields.get(field)
    if info is None or info.annotation is None or field == 'id':
        return None
    return TypeAdapter(info.annotation)


def _convert_filter(model: type[BaseModel], field: str, value: str) -> Any:
    """A query-string value as the field's type (`'12'` → 12, `'true'` → True, ISO text → datetime, …)."""
    adapter = _adapter(model, field)
    if adapter is None:
        return value
    try:
        converted = adapter.validate_strings(value)
    except ValidationError:
        # Related documents are filtered by id, list fields by one of their items: the text as given.
        if field in plan_for(model).nodes or _schema_type(adapter) in ('list', 'set', 'tuple', 'dict'):
            return value
        raise BadRequestAPIError(detail=f'`{field}` filter: `{value}` is not a valid value.') from None
    if type(converted) is int and not INT64_MIN <= converted <= INT64_MAX:
        # Databases store 64-bit integers; a larger one would fail in the driver (a 500) instead of matching nothing.
        raise BadRequestAPIError(detail=f'`{field}` filter: `{value}` is out of range.')
    return converted


def _schema_type(adapter: TypeAdapter[Any]) -> str:
    schema = adapter.core_schema
    while schema.get('type') in ('nullable', 'default'):
        schema = schema['schema']
    return str(schema.get('type'))


def _combine(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    if not extra:
        return base
    if not base:
        return extra
    if set(base) & set(extra):
        return {'$and': [base, extra]}
    return {**base, **extra}


class RetrieveAPI(GenericAPI):
    async def get_instance(self, request: Request, **kwargs: Any) -> Model:
        raise _not_implemented(self, 'get_instance')

    async def get(self, request: Request, **kwargs: Any) -> Response:
        instance = await self.get_instance(request=request, **kwargs)
        return Response(data=instance, status_code=status.HTTP_200_OK)


class ListAPI(GenericAPI):
    sort_fields: list[str] = []
    search_fields: list[str] = []
    filter_fields: list[str] = []
    pagination: type[Pagination] | None = None

    async def get_query(self, request: Request, **kwargs: Any) -> BaseCursor:
        raise _not_implemented(self, 'get_query')

    def process_filters(self, query_params: dict[str, str], cursor: BaseCursor) -> dict[str, Any]:
        filters = {}
        for field in self.filter_fields:
            if field in query_params:
                filters[field] = _convert_filter(cursor.cls, field, query_params[field])
        return filters

    def process_search(self, query_params: dict[str, str]) -> dict[str, Any]:
        term = query_params.get('search', '')
        if not self.search_fields or not term:
            return {}
        pattern = re.escape(term[:MAX_SEARCH_LENGTH])
        return {'$or': [{field: {'$regex': pattern, '$options': 'i'}} for field in self.search_fields]}

    def process_sort(self, query_params: dict[str, str]) -> list[tuple[str, int]]:
        order = []
        for item in query_params.get('sort', '').split(','):
            name = item.strip()
            direction = 1
            if name.startswith('-'):
                name, direction = name[1:], -1
            if name and name in self.sort_fields:
                order.append((name, direction))
        return order

    async def get(self, request: Request, **kwargs: Any) -> Response:
        # `return await Model.find()` in `get_query` must not read the whole collection: only the page is read.
        with deferred_reads():
            cursor = await self.get_query(request=request, **kwargs)
        if not isinstance(cursor, BaseCursor):
            logger.error(f'`{type(self).__name__}.get_query()` should return a cursor (e.g. `await Model.find()`).')
            raise APIError(status_code=status.HTTP_501_NOT_IMPLEMENTED)
        query_params = request.query_params
        extra = _combine(self.process_filters(query_params, cursor), self.process_search(query_params))
        if extra:
            previous_sort = cursor._sort
            cursor = cursor.cls.find(_combine(dict(cursor.filter), extra))
            if previous_sort:
                cursor.sort(previous_sort)
        if order := self.process_sort(query_params):
            cursor.sort(order)
        pagination = None
        if self.pagination is not None:
            pagination = self.pagination(query_params=query_params, cursor=cursor)
            cursor = pagination.paginate()
        return Response(data=cursor, pagination=pagination, status_code=status.HTTP_200_OK)


class CreateAPI(GenericAPI):
    async def perform_create(self, request: Request, data: dict[str, Any], **kwargs: Any) -> Model:
        """Insert the validated `data`. Override to add server-side fields (e.g. the owner) or to act after it:

        async def perform_create(self, request, data, **kwargs):
            note = await super().perform_create(request, {**data, 'owner': request.user}, **kwargs)
            await notify(note)
            return note
        """
        _, model = _serializer_model(self, request)
        return await model.insert_one(data)

    async def post(self, request: Request, **kwargs: Any) -> Response:
        validated, model = _serializer_model(self, request)
        data = _values(validated)
        try:
            instance = await self.perform_create(request, data, **kwargs)
        except DatabaseError as error:
            raise _write_error(model, data, error) from None
        return Response(data=instance, status_code=status.HTTP_201_CREATED)


class UpdateAPI(GenericAPI):
    # PATCH validates only the fields the client sent (the input model's fields all become optional).
    partial_patch = True

    async def get_instance(self, request: Request, **kwargs: Any) -> Model:
        raise _not_implemented(self, 'get_instance')

    async def perform_update(self, instance: Model, request: Request, data: dict[str, Any], **kwargs: Any) -> None:
        """Write the validated `data` to `instance`. Override to add server-side fields or to act after it."""
        await instance.update(data)

    async def _update(self, request: Request, kwargs: dict[str, Any], partial: bool) -> Response:
        instance = await self.get_instance(request=request, **kwargs)
        validated, model = _serializer_model(self, request)
        data = _values(validated, sent_only=partial)
        data.pop('id', None)
        try:
            await self.perform_update(instance, request, data, **kwargs)
        except DatabaseError as error:
            current = {name: getattr(instance, name) for name in type(instance).model_fields if name != 'id'}
            raise _write_error(model, current | data, error) from None
        return Response(data=instance, status_code=status.HTTP_200_OK)

    async def put(self, request: Request, **kwargs: Any) -> Response:
        return await self._update(request, kwargs, partial=False)

    async def patch(self, request: Request, **kwargs: Any) -> Response:
        """Partial update: only the fields present in the request body are written (not serializer defaults)."""
        return await self._update(request, kwargs, partial=True)


class DeleteAPI(GenericAPI):
    async def get_instance(self, request: Request, **kwargs: Any) -> Model:
        raise _not_implemented(self, 'get_instance')

    async def pre_delete(self, instance: Model, request: Request, **kwargs: Any) -> None:
        """Runs before the document is deleted."""

    async def post_delete(self, instance: Model, request: Request, **kwargs: Any) -> None:
        """Runs after the document is deleted."""

    async def delete(self, request: Request, **kwargs: Any) -> Response:
        instance = await self.get_instance(request=request, **kwargs)
        await self.pre_delete(instance, request=request, **kwargs)
        try:
            await instance.delete()
        except ProtectedError as error:
            # Other documents still refer to it through a protecting reference: nothing was deleted.
            raise APIError(detail=str(error), status_code=status.HTTP_409_CONFLICT) from None
        await self.post_delete(instance, request=request, **kwargs)
        return Response(status_code=status.HTTP_204_NO_CONTENT)
