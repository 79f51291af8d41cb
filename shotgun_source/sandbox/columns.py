"""Column storage for one field of one table, compact enough for a million rows.

A row is a position; a table keeps one column per field. Numbers, dates and links sit in
typed arrays (8 bytes a row), texts in lists that share pooled strings, and large derived
values (URLs, upload dicts) are computed from the row on read unless written over. This
keeps a million Versions in a few hundred MB where a dict per row would need several GB.

Internal values (what `get` returns) are: int for number-like and date/date_time fields
(epoch seconds, days since 1970-01-01), float, bool, str, plain objects, and *packed links*
for entity fields: `(type_code << 40) | id` (see `pack_ref`), a tuple of those for multi
entity fields. None means null everywhere.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Iterable
from typing import Any

NULL_INT = -(2**63)
_ID_BITS = 40
_ID_MASK = (1 << _ID_BITS) - 1


def pack_ref(type_code: int, entity_id: int) -> int:
    """One int for a link, so a link column is a plain int64 array."""
    return (type_code << _ID_BITS) | entity_id


def ref_type_code(ref: int) -> int:
    return ref >> _ID_BITS


def ref_id(ref: int) -> int:
    return ref & _ID_MASK


class Column:
    """Base class: `get`/`set` one row, `append` one row at the end."""

    def get(self, row: int) -> Any:
        raise NotImplementedError

    def set(self, row: int, value: Any) -> None:
        raise NotImplementedError

    def append(self, value: Any) -> None:
        raise NotImplementedError


class IntColumn(Column):
    """int64 values with a sentinel for null."""

    def __init__(self, values: Iterable[int | None] = ()) -> None:
        self.data = array("q", (NULL_INT if v is None else v for v in values))

    def get(self, row: int) -> int | None:
        v = self.data[row]
        return None if v == NULL_INT else v

    def set(self, row: int, value: Any) -> None:
        self.data[row] = NULL_INT if value is None else int(value)

    def append(self, value: Any) -> None:
        self.data.append(NULL_INT if value is None else int(value))


class FloatColumn(Column):
    """float64 values with NaN for null."""

    def __init__(self, values: Iterable[float | None] = ()) -> None:
        self.data = array("d", (math.nan if v is None else v for v in values))

    def get(self, row: int) -> float | None:
        v = self.data[row]
        return None if v != v else v

    def set(self, row: int, value: Any) -> None:
        self.data[row] = math.nan if value is None else float(value)

    def append(self, value: Any) -> None:
        self.data.append(math.nan if value is None else float(value))


class BoolColumn(Column):
    """Checkbox values: never null, a missing value reads False."""

    def __init__(self, values: Iterable[bool | None] = ()) -> None:
        self.data = bytearray(1 if v else 0 for v in values)

    def get(self, row: int) -> bool:
        return self.data[row] == 1

    def set(self, row: int, value: Any) -> None:
        self.data[row] = 1 if value else 0

    def append(self, value: Any) -> None:
        self.data.append(1 if value else 0)


class ObjColumn(Column):
    """Any Python object per row (texts, dicts, tuples of packed links)."""

    def __init__(self, values: Iterable[Any] = ()) -> None:
        self.data: list[Any] = list(values)

    def get(self, row: int) -> Any:
        return self.data[row]

    def set(self, row: int, value: Any) -> None:
        self.data[row] = value

    def append(self, value: Any) -> None:
        self.data.append(value)


class RefColumn(Column):
    """Single entity links as packed ints, 0 for null."""

    def __init__(self, values: Iterable[int | None] = ()) -> None:
        self.data = array("q", (v or 0 for v in values))

    def get(self, row: int) -> int | None:
        return self.data[row] or None

    def set(self, row: int, value: Any) -> None:
        self.data[row] = value or 0

    def append(self, value: Any) -> None:
        self.data.append(value or 0)


class DerivedColumn(Column):
    """Values computed from the row number for the first `n_derived` rows, stored otherwise.

    Used for bulky values that are a pure function of the seed and the row (thumbnail URLs,
    upload dicts, the initial event log): nothing is stored until a row is written.
    """

    def __init__(self, fn: Callable[[int], Any], n_derived: int) -> None:
        self.fn = fn
        self.n_derived = n_derived
        self.overrides: dict[int, Any] = {}
        self.length = n_derived

    def get(self, row: int) -> Any:
        ov = self.overrides
        if ov and row in ov:
            return ov[row]
        if row < self.n_derived:
            return self.fn(row)
        return None

    def set(self, row: int, value: Any) -> None:
        self.overrides[row] = value

    def append(self, value: Any) -> None:
        self.overrides[self.length] = value
        self.length += 1


class NullColumn(Column):
    """A field the server computes and never returns a value for (pivot_column)."""

    def get(self, row: int) -> None:
        return None

    def set(self, row: int, value: Any) -> None:
        return None

    def append(self, value: Any) -> None:
        return None


def empty_column(data_type: str, n: int, default: Any = None) -> Column:
    """A column of `n` rows holding `default` (null unless given), for new rows and new fields."""
    from .schema import FLOAT_TYPES, INT_TYPES

    if data_type in INT_TYPES:
        col: Column = IntColumn()
        assert isinstance(col, IntColumn)
        col.data = array("q", [NULL_INT if default is None else int(default)]) * n
        return col
    if data_type in FLOAT_TYPES:
        fcol = FloatColumn()
        fcol.data = array("d", [math.nan if default is None else float(default)]) * n
        return fcol
    if data_type == "checkbox":
        bcol = BoolColumn()
        bcol.data = bytearray([1 if default else 0]) * n
        return bcol
    if data_type == "entity":
        rcol = RefColumn()
        rcol.data = array("q", [default or 0]) * n
        return rcol
    if data_type == "pivot_column":
        return NullColumn()
    return ObjColumn([default] * n)
