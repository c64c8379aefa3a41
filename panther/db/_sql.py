"""Filters, sorts and updates of the embedded engine compiled to parameterised SQLite over `json_extract`.

`compile_where(model, query, doc)` gives a WHERE clause, its parameters and the fields worth an expression index;
`order_by(sort, doc)` the ORDER BY clause; `update_expression(...)` the new document of an UPDATE. Field names
are validated (never interpolated from values) and MongoDB's query semantics are followed: type brackets, lists
matching by any item, paths through lists of sub-documents.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import BaseModel

from panther.db._documents import ObjectId, encode_value
from panther.db._shapes import ANY, SCALAR, Shape, child, may_be_array, model_shape
from panther.exceptions import DatabaseError

if TYPE_CHECKING:
    from panther.db._sqlite import SQLiteStore

__all__ = ['Compiler', 'compile_where', 'json_path', 'order_by', 'update_expression']


_SEGMENT = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')
_paths: dict[str, tuple[tuple[str, str], ...]] = {}
_RANGE_OPERATORS = {'$gt': '>', '$gte': '>=', '$lt': '<', '$lte': '<='}
_PLAIN_SCALARS = frozenset({str, int, float, bool})
_LOGICAL = ('$and', '$or', '$nor')
_CONTAINERS = (Mapping, list, tuple, set, frozenset)
# The `kind` given to a predicate applied to a whole list (only list operands can equal it).
_WHOLE_LIST = "'array'"

# A predicate builder: `(value SQL, JSON type SQL or None, strict) → condition SQL`, appending its parameters.
# `strict` asks for the JSON type to be checked by equality too: list items and values of undeclared fields can be
# of any type, whereas a declared single-valued field keeps the plain (index-friendly) `value = ?`.
Predicate = Callable[[str, 'str | None', bool], str]
# Conditions on a field as a whole (`$exists`, `$size`, `$elemMatch`): `(document SQL, JSON path, shape) → SQL`.
FieldCondition = Callable[[str, str, Shape], str]


def _path_parts(field: str) -> tuple[tuple[str, str], ...]:
    """`'a.0.b'` → `(('a', '.a'), ('0', '[0]'), ('b', '.b'))`: segments and their JSON-path spelling."""
    parts = _paths.get(field)
    if parts is None:
        if not isinstance(field, str) or not field:
            raise DatabaseError(f'`{field!r}` is not a valid field name.')
        built = []
        for segment in field.split('.'):
            if _SEGMENT.match(segment):
                built.append((segment, '.' + segment))
            elif segment.isdigit():
                built.append((segment, f'[{int(segment)}]'))
            else:
                raise DatabaseError(f'`{field}` is not a valid field name for the embedded database.')
        parts = _paths[field] = tuple(built)
    return parts


def json_path(field: str) -> str:
    return '$' + ''.join(part for _, part in _path_parts(field))


def _to_json(value: Any) -> str:
    return orjson.dumps(encode_value(value, False)).decode()


def _scalar(value: Any) -> Any:
    encoded = encode_value(value, False)
    if isinstance(encoded, (dict, list)):
        raise DatabaseError(f'Cannot compare with {value!r} here.')
    return encoded


def _brackets(value: Any) -> str:
    """The JSON types a value compares with (MongoDB's type brackets: a number never matches a string)."""
    if isinstance(value, bool):
        return "('true', 'false')"
    if isinstance(value, (int, float)):
        return "('integer', 'real')"
    return "('text')"


def _never(value: str, kind: str | None, strict: bool) -> str:
    return '0'


# (model, document SQL, field) → `json_extract(…)` of a field that can only hold one value, or None.
_plain_columns: dict[tuple[Any, str, str], str | None] = {}
_PLAIN_COLUMNS_MAX = 4096


class Compiler:
    """Builds one WHERE clause; `indexable` collects fields filtered by equality or a range, which are worth an
    expression index.

    Lists follow MongoDB: a condition on a list field holds when it holds for the list or for any of its items
    (`tags='py'`), and a path through a list of sub-documents (`'comments.author'`) looks into each of them. The
    model's annotations tell which fields can hold a list; the others keep a plain comparison that an index serves.
    """

    __slots__ = ('aliases', 'doc', 'indexable', 'model', 'params')

    def __init__(self, doc: str, model: type[BaseModel] | None = None) -> None:
        self.doc = doc
        self.model = model
        self.params: list[Any] = []
        self.indexable: list[tuple[str, str]] = []
        self.aliases = 0

    def where(self, query: Mapping[str, Any], doc: str | None = None, shape: Shape = None) -> str:
        if not query:
            return '1'
        return ' AND '.join(self.clause(key, value, doc, shape) for key, value in query.items())

    def clause(self, key: str, value: Any, doc: str | None = None, shape: Shape = None) -> str:
        if key.startswith('$'):
            if key not in _LOGICAL:
                raise DatabaseError(f'`{key}` is not supported by the embedded database.')
            if not isinstance(value, list) or not value or not all(isinstance(item, Mapping) for item in value):
                raise DatabaseError(f'`{key}` needs a non-empty list of filters.')
            parts = [f'({self.where(item, doc, shape)})' for item in value]
            joined = (' AND ' if key == '$and' else ' OR ').join(parts)
            return f'NOT ({joined})' if key == '$nor' else f'({joined})'
        if doc is None:
            if key in ('_id', 'id'):
                if type(value) in _PLAIN_SCALARS:
                    # The usual lookup by id: nothing to encode and no operators.
                    self.params.append(value)
                    return '_id = ?'
                return self.id_clause(value)
            if type(value) in _PLAIN_SCALARS:
                # The usual `field=value` on a single-valued field: nothing to encode and no operators.
                column = self.plain_column(key)
                if column is not None:
                    self.indexable.append((key, column))
                    self.params.append(value)
                    return f'{column} = ?'
        if isinstance(value, Mapping) and value and all(isinstance(k, str) and k.startswith('$') for k in value):
            return ' AND '.join(self.operator(key, op, operand, value, doc, shape) for op, operand in value.items())
        indexable = value is not None and not isinstance(value, _CONTAINERS)
        return self.field(key, self.equal(value), doc, shape, index=indexable)

    # ------------------------------------------------------------------------------------------------ paths

    def root_shape(self) -> Shape:
        return model_shape(self.model) if self.model is not None else ('object', {})

    def plain_column(self, key: str) -> str | None:
        cache_key = (self.model, self.doc, key)
        try:
            return _plain_columns[cache_key]
        except KeyError:
            pass
        shape = self.root_shape()
        path = '$'
        column: str | None = None
        for segment, part in _path_parts(key):
            if path != '$' and may_be_array(shape) and not segment.isdigit():
                break
            path += part
            shape = child(shape, segment)
        else:
            if not may_be_array(shape):
                column = f"json_extract({self.doc}, '{path}')"
        if self.model is None or self.model.__pydantic_complete__:
            if len(_plain_columns) >= _PLAIN_COLUMNS_MAX:
                _plain_columns.clear()
            _plain_columns[cache_key] = column
        return column

    def alias(self) -> str:
        self.aliases += 1
        return f'j{self.aliases}'

    def field(
        self,
        key: str,
        predicate: Predicate,
        doc: str | None = None,
        shape: Shape = None,
        *,
        index: bool = False,
        whole: FieldCondition | None = None,
    ) -> str:
        """`predicate` applied to the value(s) at `key`, or `whole` applied to the field itself."""
        parts = _path_parts(key)
        if doc is None:
            return self.walk(self.doc, '$', self.root_shape(), parts, predicate, whole, key if index else None)
        return self.walk(doc, '$', shape, parts, predicate, whole, None)

    def walk(
        self,
        doc: str,
        path: str,
        shape: Shape,
        parts: tuple[tuple[str, str], ...],
        predicate: Predicate,
        whole: FieldCondition | None,
        index_key: str | None,
    ) -> str:
        for position, (segment, part) in enumerate(parts):
            if path != '$' and may_be_array(shape) and not segment.isdigit():
                # A field of a list's sub-documents: the condition holds if it holds in any of them. A value of
                # unknown shape may also be a sub-document itself.
                rest = parts[position:]
                direct = ''
                if shape == ANY:
                    direct = self.walk(doc, path, ('object', {}), rest, predicate, whole, None) + ' OR '
                items = shape[1] if isinstance(shape, tuple) else ANY
                alias = self.alias()
                inner = self.walk(f'{alias}.value', '$', items, rest, predicate, whole, None)
                each = (
                    f"(json_type({doc}, '{path}') = 'array' AND EXISTS (SELECT 1 FROM json_each({doc}, '{path}') AS "
                    f"{alias} WHERE CASE WHEN {alias}.type = 'object' THEN {inner} ELSE 0 END))"
                )
                return f'({direct}{each})'
            path += part
            shape = child(shape, segment)
        if whole is not None:
            return whole(doc, path, shape)
        value = f"json_extract({doc}, '{path}')"
        kind = f"json_type({doc}, '{path}')"
        if not may_be_array(shape):
            if index_key is not None:
                self.indexable.append((index_key, value))
            return predicate(value, kind, shape != SCALAR)
        alias = self.alias()
        whole_list = predicate(value, _WHOLE_LIST, True)
        item = predicate(f'{alias}.value', f'{alias}.type', True)
        single = predicate(value, kind, True)
        return (
            f"(CASE {kind} WHEN 'array' THEN ({whole_list} OR EXISTS (SELECT 1 FROM json_each({doc}, '{path}') AS "
            f'{alias} WHERE {item})) ELSE {single} END)'
        )

    # -------------------------------------------------------------------------------------------- operators

    def operator(self, key: str, op: str, operand: Any, spec: Mapping[str, Any], doc: str | None, shape: Shape) -> str:
        if op == '$options':
            return '1'
        if op in ('$ne', '$nin'):
            positive = self.predicate('$eq' if op == '$ne' else '$in', operand, spec)
            return f'NOT coalesce({self.field(key, positive, doc, shape)}, 0)'
        if op == '$exists':
            condition = self.field(key, _never, doc, shape, whole=self.exists)
            return condition if operand else f'NOT coalesce({condition}, 0)'
        if op == '$size':
            if isinstance(operand, bool) or not isinstance(operand, int) or operand < 0:
                raise DatabaseError('`$size` needs a non-negative integer.')
            return self.field(key, _never, doc, shape, whole=self.size(operand))
        if op == '$elemMatch':
            return self.field(key, _never, doc, shape, whole=self.elem_match(operand))
        if op == '$all':
            if not isinstance(operand, (list, tuple)):
                raise DatabaseError('`$all` needs a list.')
            if not operand:
                return '0'
            parts = []
            for item in operand:
                if isinstance(item, Mapping) and list(item) == ['$elemMatch']:
                    parts.append(self.field(key, _never, doc, shape, whole=self.elem_match(item['$elemMatch'])))
                else:
                    parts.append(self.field(key, self.equal(item), doc, shape))
            return f'({" AND ".join(parts)})'
        index = op in _RANGE_OPERATORS or (op == '$eq' and operand is not None and not isinstance(operand, _CONTAINERS))
        return self.field(key, self.predicate(op, operand, spec), doc, shape, index=index)

    def predicate(self, op: str, operand: Any, spec: Mapping[str, Any]) -> Predicate:
        """The condition of one operator on one value (a field's, or a list item's)."""
        params = self.params
        if op == '$eq':
            return self.equal(operand)
        if op in ('$ne', '$nin'):
            positive = self.predicate('$eq' if op == '$ne' else '$in', operand, spec)
            return lambda value, kind, strict: f'NOT coalesce({positive(value, kind, strict)}, 0)'
        if op in _RANGE_OPERATORS:
            bound = None if operand is None else _scalar(operand)
            if bound is None:
                return _never
            sign = _RANGE_OPERATORS[op]
            brackets = _brackets(bound)

            def compare(value: str, kind: str | None, strict: bool) -> str:
                if kind == _WHOLE_LIST:
                    return '0'
                params.append(bound)
                if kind is None:
                    return f'{value} {sign} ?'
                # SQLite searches an expression index by the comparison; the type check is then applied per row.
                return f'({kind} IN {brackets} AND {value} {sign} ?)'

            return compare
        if op == '$in':
            if not isinstance(operand, (list, tuple, set, frozenset)):
                raise DatabaseError('`$in` needs a list.')
            has_none = any(item is None for item in operand)
            scalars = [_scalar(item) for item in operand if item is not None and not isinstance(item, _CONTAINERS)]
            documents = [_to_json(item) for item in operand if isinstance(item, _CONTAINERS)]

            def among(value: str, kind: str | None, strict: bool) -> str:
                parts = []
                if kind != _WHOLE_LIST:
                    if scalars:
                        params.extend(scalars)
                        test = f'{value} IN ({", ".join("?" * len(scalars))})'
                        parts.append(f"({kind} NOT IN ('array', 'object') AND {test})" if strict and kind else test)
                    if has_none:
                        parts.append(f'{value} IS NULL')
                for text in documents:
                    params.append(text)
                    test = f'{value} = json(?)'
                    parts.append(f"({kind} IN ('array', 'object') AND {test})" if strict and kind else test)
                return f'({" OR ".join(parts)})' if parts else '0'

            return among
        if op == '$regex':
            if isinstance(operand, re.Pattern):
                pattern = operand.pattern
                flags = ''.join(flag for flag, bit in (('i', re.I), ('m', re.M), ('s', re.S)) if operand.flags & bit)
            elif isinstance(operand, str):
                pattern, flags = operand, ''
            else:
                raise DatabaseError('`$regex` needs a string.')
            options = spec.get('$options', '')
            if not isinstance(options, str):
                raise DatabaseError('`$options` needs a string.')

            def matches(value: str, kind: str | None, strict: bool) -> str:
                if kind == _WHOLE_LIST:
                    return '0'
                params.extend((pattern, flags + options))
                test = f'panther_regexp(?, ?, {value})'
                return f"({kind} = 'text' AND {test})" if strict and kind else test

            return matches
        if op == '$options':
            return lambda value, kind, strict: '1'
        raise DatabaseError(f'`{op}` is not supported by the embedded database.')

    def equal(self, operand: Any) -> Predicate:
        params = self.params
        if operand is None:
            return lambda value, kind, strict: '0' if kind == _WHOLE_LIST else f'{value} IS NULL'
        if isinstance(operand, _CONTAINERS):
            text = _to_json(operand)

            def same_document(value: str, kind: str | None, strict: bool) -> str:
                params.append(text)
                if strict and kind:
                    return f"({kind} IN ('array', 'object') AND {value} = json(?))"
                return f'{value} = json(?)'

            return same_document
        encoded = _scalar(operand)
        brackets = _brackets(encoded)

        def same_value(value: str, kind: str | None, strict: bool) -> str:
            if kind == _WHOLE_LIST:
                return '0'
            params.append(encoded)
            if strict and kind:
                return f'({kind} IN {brackets} AND {value} = ?)'
            return f'{value} = ?'

        return same_value

    # ------------------------------------------------------------------------------- whole-field conditions

    @staticmethod
    def exists(doc: str, path: str, shape: Shape) -> str:
        return f"json_type({doc}, '{path}') IS NOT NULL"

    def size(self, length: int) -> FieldCondition:
        def condition(doc: str, path: str, shape: Shape) -> str:
            self.params.append(length)
            return f"(json_type({doc}, '{path}') = 'array' AND json_array_length({doc}, '{path}') = ?)"

        return condition

    def elem_match(self, spec: Any) -> FieldCondition:
        """`$elemMatch`: one item of the list satisfies every condition (operators on the item, or a filter on the
        item as a sub-document)."""
        if not isinstance(spec, Mapping) or not spec:
            raise DatabaseError('`$elemMatch` needs a non-empty dict.')
        as_filter = any(not str(key).startswith('$') or key in _LOGICAL for key in spec)
        if not as_filter:
            for op in spec:
                if op not in _RANGE_OPERATORS and op not in ('$eq', '$ne', '$in', '$nin', '$regex', '$options'):
                    raise DatabaseError(f'`{op}` inside `$elemMatch` is not supported by the embedded database.')

        def condition(doc: str, path: str, shape: Shape) -> str:
            alias = self.alias()
            value, kind = f'{alias}.value', f'{alias}.type'
            if as_filter:
                items = shape[1] if isinstance(shape, tuple) and shape[0] == 'array' else ANY
                test = f"CASE WHEN {kind} = 'object' THEN ({self.where(spec, value, items)}) ELSE 0 END"
            else:
                tests = [self.predicate(op, operand, spec)(value, kind, True) for op, operand in spec.items()]
                test = ' AND '.join(tests)
            return (
                f"(json_type({doc}, '{path}') = 'array' AND EXISTS (SELECT 1 FROM json_each({doc}, '{path}') AS "
                f'{alias} WHERE {test}))'
            )

        return condition

    # ------------------------------------------------------------------------------------------------ the id

    def id_clause(self, value: Any) -> str:
        if isinstance(value, Mapping) and value and all(isinstance(k, str) and k.startswith('$') for k in value):
            return ' AND '.join(self.id_operator(op, operand, value) for op, operand in value.items())
        return self.id_equal(value)

    @staticmethod
    def _id_value(value: Any) -> Any:
        return str(value) if isinstance(value, ObjectId) else _scalar(value)

    def id_equal(self, value: Any, negate: bool = False) -> str:
        if value is None:
            return '_id IS NOT NULL' if negate else '_id IS NULL'
        self.params.append(self._id_value(value))
        return f'_id {"IS NOT" if negate else "="} ?'

    def id_operator(self, op: str, operand: Any, spec: Mapping[str, Any]) -> str:
        if op in ('$eq', '$ne'):
            return self.id_equal(operand, negate=op == '$ne')
        if op in _RANGE_OPERATORS:
            if operand is None:
                return '0'
            self.params.append(self._id_value(operand))
            return f'_id {_RANGE_OPERATORS[op]} ?'
        if op in ('$in', '$nin'):
            if not isinstance(operand, (list, tuple, set, frozenset)):
                raise DatabaseError(f'`{op}` needs a list.')
            values = [self._id_value(item) for item in operand if item is not None]
            self.params.extend(values)
            inside = f'_id IN ({", ".join("?" * len(values))})' if values else '0'
            return inside if op == '$in' else f'NOT {inside}'
        if op == '$exists':
            return '1' if operand else '0'
        if op in ('$regex', '$options'):
            return self.predicate(op, operand, spec)('_id', None, False)
        raise DatabaseError(f'`{op}` is not supported for the id by the embedded database.')


def compile_where(
    query: Mapping[str, Any], doc: str = 'data', model: type[BaseModel] | None = None
) -> tuple[str, list[Any], list[tuple[str, str]]]:
    """`(WHERE clause, parameters, indexable fields)` of a filter over the JSON document expression `doc`."""
    compiler = Compiler(doc, model)
    where = compiler.where(query)
    return where, compiler.params, compiler.indexable


def order_by(sort: list[tuple[str, int]], doc: str) -> tuple[str, list[tuple[str, str]]]:
    """The ORDER BY clause and the sorted fields worth an expression index (an index yields rows in key order,
    so a sorted page is read without sorting the whole result)."""
    if not sort:
        # No ORDER BY: rows come in rowid (insertion) order from a table scan, and in (key, rowid) order from an
        # index, whereas `ORDER BY rowid` would keep the planner from using an index for the filter.
        return '', []
    parts = []
    indexable = []
    for field, direction in sort:
        if field in ('id', '_id'):
            column = '_id'
        else:
            column = f"json_extract({doc}, '{json_path(field)}')"
            indexable.append((field, column))
        parts.append(f'{column} {"DESC" if direction == -1 else "ASC"}')
    parts.append('rowid ASC')
    return ' ORDER BY ' + ', '.join(parts), indexable


def update_expression(values: dict[str, Any], operators: dict[str, Any], store: SQLiteStore) -> tuple[str, list[Any]]:
    doc = 'panther_decrypt(data)' if store.encrypted else 'data'
    expression = doc
    params: list[Any] = []
    unknown = set(operators) - {'$unset', '$inc'}
    if unknown:
        raise DatabaseError(
            f'`{sorted(unknown)[0]}` is not supported by the embedded database (use `$set`, `$unset` or `$inc`).'
        )
    if values:
        pairs = ', '.join(f"'{json_path(key)}', json(?)" for key in values)
        expression = f'json_set({expression}, {pairs})'
        params.extend(orjson.dumps(value).decode() for value in values.values())
    increments = operators.get('$inc')
    if increments:
        if not isinstance(increments, Mapping):
            raise DatabaseError('`$inc` needs a dict.')
        for key, amount in increments.items():
            if isinstance(amount, bool) or not isinstance(amount, (int, float)):
                raise DatabaseError(f'`$inc` of `{key}` needs a number.')
            path = json_path(key)
            expression = f"json_set({expression}, '{path}', coalesce(json_extract({doc}, '{path}'), 0) + ?)"
            params.append(amount)
    removals = operators.get('$unset')
    if removals:
        keys = list(removals) if isinstance(removals, (Mapping, list)) else [removals]
        paths = ', '.join(f"'{json_path(key)}'" for key in keys)
        expression = f'json_remove({expression}, {paths})'
    if store.encrypted:
        expression = f'panther_encrypt({expression})'
    return expression, params
