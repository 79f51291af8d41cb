"""Filters: parse the three request spellings and compile them to a row predicate.

Spellings: `api3_array` bodies (a list of `[path, relation, value]`, AND-ed),
`api3_hash` bodies (`{"logical_operator": "and"|"or", "conditions": [...]}`, nested) and
GET `filter[path]=value` (equality, a comma list meaning `in`). Errors use the server's
wording, because clients surface them verbatim.

Besides the predicate, compiling returns *hints*: bounds on `id` and on the table's
timestamp index field taken from top-level AND conditions, which `query.py` uses to
visit only candidate rows. The predicate still checks every condition, so hints only
ever narrow the scan, never change the answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from . import errors
from .columns import pack_ref, ref_id, ref_type_code
from .errors import ApiError, ruby_inspect
from .schema import FieldDef
from .values import EPOCH_DATE, InvalidValue, parse_date, parse_datetime

if TYPE_CHECKING:
    from .site import Site
    from .table import Table

Pred = Callable[[int], bool]

_DATE_RELATIONS = (
    "is",
    "is_not",
    "greater_than",
    "less_than",
    "in_last",
    "not_in_last",
    "in_next",
    "not_in_next",
    "in_calendar_day",
    "in_calendar_week",
    "in_calendar_month",
    "in_calendar_year",
    "between",
    "not_between",
    "in",
    "not_in",
)
_NUMBER_RELATIONS = ("is", "is_not", "less_than", "greater_than", "between", "not_between", "in", "not_in")
_MEASURE_RELATIONS = ("is", "is_not", "less_than", "greater_than", "between", "in", "not_in")
_TEXT_RELATIONS = ("contains", "not_contains", "is", "is_not", "starts_with", "ends_with", "in", "not_in")
RELATIONS: dict[str, tuple[str, ...]] = {
    "date": _DATE_RELATIONS,
    "date_time": _DATE_RELATIONS,
    "number": _NUMBER_RELATIONS,
    "currency": _NUMBER_RELATIONS,
    "float": _MEASURE_RELATIONS,
    "percent": _MEASURE_RELATIONS,
    "duration": _MEASURE_RELATIONS,
    "timecode": _MEASURE_RELATIONS,
    "text": _TEXT_RELATIONS,
    "footage": _TEXT_RELATIONS,
    "entity": (
        "is",
        "is_not",
        "type_is",
        "type_is_not",
        "name_contains",
        "name_not_contains",
        "name_is",
        "in",
        "not_in",
    ),
    "multi_entity": (
        "is",
        "is_not",
        "type_is",
        "type_is_not",
        "name_contains",
        "name_not_contains",
        "in",
        "not_in",
    ),
    "list": ("is", "is_not", "in", "not_in"),
    "status_list": ("is", "is_not", "in", "not_in"),
    "uuid": ("is", "is_not", "in", "not_in"),
    "color": ("is", "is_not", "in", "not_in"),
    "checkbox": ("is", "is_not"),
    "image": ("is", "is_not"),
    "tag_list": ("is", "is_not", "name_contains", "name_not_contains", "name_id"),
}
UNFILTERABLE = frozenset(
    {"password", "serializable", "summary", "url", "pivot_column", "calculated", "jsonb"}
)
_UNIT_SECONDS = {"HOUR": 3600, "DAY": 86400, "WEEK": 7 * 86400, "MONTH": 30 * 86400, "YEAR": 365 * 86400}


# ---- parsed form ------------------------------------------------------------------
@dataclass
class Condition:
    path: str
    relation: str
    value: Any


@dataclass
class Group:
    op: str  # "and" | "or"
    items: list[Condition | Group] = field(default_factory=list)


def _condition(raw: Any) -> Condition:
    if (
        not isinstance(raw, list)
        or len(raw) != 3
        or not isinstance(raw[0], str)
        or not isinstance(raw[1], str)
    ):
        raise errors.bad_request(f"Invalid condition: {ruby_inspect(raw)}")
    return Condition(raw[0], raw[1], raw[2])


def parse_array(filters: Any) -> Group:
    """`application/vnd+shotgun.api3_array+json`: a flat list of triples, AND-ed."""
    if filters is None:
        return Group("and")
    if not isinstance(filters, list):
        raise errors.bad_request(f"Query is not an Array: {ruby_inspect(filters)}")
    items: list[Condition | Group] = []
    for raw in filters:
        if not isinstance(raw, list) or (raw and isinstance(raw[0], list)):
            expected = "Invalid filter. Expected array of basic condition arrays but received"
            raise errors.bad_request(f"{expected}: {ruby_inspect(filters)}")
        items.append(_condition(raw))
    return Group("and", items)


def parse_hash(filters: Any, depth: int = 0) -> Group:
    """`application/vnd+shotgun.api3_hash+json`: and/or groups of triples, nested."""
    if filters is None and depth == 0:
        return Group("and")
    if not isinstance(filters, dict):
        raise errors.bad_request(f"Query is not an Hash: {ruby_inspect(filters)}")
    if "logical_operator" not in filters:
        raise errors.bad_request(f"Missing logical operator: {ruby_inspect(filters)}")
    op = filters["logical_operator"]
    if op not in ("and", "or"):
        raise errors.bad_request(f"Invalid logical operator: {op}")
    if "conditions" not in filters:
        raise errors.bad_request(f"Missing conditions parameter: {ruby_inspect(filters)}")
    conditions = filters["conditions"]
    if not isinstance(conditions, list):
        raise errors.bad_request(f"Invalid conditions: {ruby_inspect(conditions)}")
    if depth > 265:
        raise ApiError(500, 0, "Shotgun Server Error", None)
    items: list[Condition | Group] = []
    for raw in conditions:
        items.append(parse_hash(raw, depth + 1) if isinstance(raw, dict) else _condition(raw))
    return Group(op, items)


def parse_get_filters(query: dict[str, str]) -> Group:
    """GET `filter[path]=value`: equality, and a comma list is `in`."""
    items: list[Condition | Group] = []
    for key, value in query.items():
        if key.startswith("filter[") and key.endswith("]"):
            path = key[len("filter[") : -1]
            parts = value.split(",")
            items.append(Condition(path, "in", parts) if len(parts) > 1 else Condition(path, "is", value))
    return Group("and", items)


# ---- field access -----------------------------------------------------------------
@dataclass
class Accessor:
    """How to read one (possibly dotted) path from a row of the queried table."""

    path: str
    fd: FieldDef
    get: Callable[[int], Any]
    multi: bool = False  # the first hop is a multi_entity: `get` returns a list of values


def resolve_path(site: Site, table: Table, path: str) -> Accessor | None:
    """`field` or `link.Type.field` -> Accessor; None when any part does not exist."""
    if "." not in path:
        fd = table.fields.get(path)
        if fd is None:
            return None
        if path == "id":
            base = table.id_base
            return Accessor(path, fd, lambda r: base + r)
        return Accessor(path, fd, table.columns[path].get)
    parts = path.split(".")
    if len(parts) != 3:
        return None
    link_name, type_name, target_field = parts
    link_fd = table.fields.get(link_name)
    target = site.tables.get(type_name)
    if link_fd is None or link_fd.data_type not in ("entity", "multi_entity") or target is None:
        return None
    tfd = target.fields.get(target_field)
    if tfd is None:
        return None
    link_get = table.columns[link_name].get
    code, tbase = target.type_code, target.id_base

    def read(ref: int) -> Any:
        if ref_type_code(ref) != code:
            return None
        trow = ref_id(ref) - tbase
        if not 0 <= trow < target.n:
            return None
        return target.get(target_field, trow)

    if link_fd.data_type == "multi_entity":
        return Accessor(path, tfd, lambda r: [read(x) for x in (link_get(r) or ())], multi=True)
    return Accessor(path, tfd, lambda r: read(v) if (v := link_get(r)) else None)


# ---- compiled form ----------------------------------------------------------------
@dataclass
class Compiled:
    """A predicate over rows plus index hints (inclusive bounds, None = open)."""

    pred: Pred | None = None
    id_lo: int | None = None
    id_hi: int | None = None
    id_set: set[int] | None = None
    ts_lo: int | None = None
    ts_hi: int | None = None


def _condition_dict(c: Condition) -> dict[str, Any]:
    values = c.value if isinstance(c.value, list) else [c.value]
    return {"path": c.path, "relation": c.relation, "values": values}


class FilterCompiler:
    """Compiles one request's filter tree against one table."""

    def __init__(self, site: Site, table: Table, verb: str = "read") -> None:
        self.site = site
        self.table = table
        self.verb = verb
        self.now = site.now()

    def compile(self, group: Group) -> Compiled:
        out = Compiled()
        out.pred = self._group(group)
        if group.op == "and" or len(group.items) == 1:
            for item in group.items:
                if isinstance(item, Condition):
                    self._hint(item, out)
        return out

    # structure ----------------------------------------------------------------------
    def _group(self, group: Group) -> Pred | None:
        preds = [p for p in (self._item(i) for i in group.items) if p is not None]
        if not group.items:
            return None
        if group.op == "and":
            if not preds:
                return None
            if len(preds) == 1:
                return preds[0]
            if len(preds) == 2:
                a, b = preds
                return lambda r: a(r) and b(r)
            return lambda r: all(p(r) for p in preds)
        if len(preds) < len(group.items):  # an OR with an always-true member
            return None
        return lambda r: any(p(r) for p in preds)

    def _item(self, item: Condition | Group) -> Pred | None:
        if isinstance(item, Group):
            return self._group(item)
        return self._condition(item)

    # one condition ------------------------------------------------------------------
    def _error(self, c: Condition, acc_fd: FieldDef | None, problem: str) -> ApiError:
        key = f"{self.table.name}.{c.path}"
        if acc_fd is None:
            return errors.unknown_field(self.verb, self.table.name, c.path, _condition_dict(c))
        return ApiError(
            400,
            103,
            f"API {self.verb}() {key}'s '{acc_fd.data_type}' data type {problem}",
            {key: f" data type {problem} Value: {ruby_inspect(_condition_dict(c))}"},
        )

    def _condition(self, c: Condition) -> Pred | None:
        acc = resolve_path(self.site, self.table, c.path)
        if acc is None:
            raise self._error(c, None, "")
        dt = acc.fd.data_type
        if dt in UNFILTERABLE:
            raise self._error(c, acc.fd, "cannot be used in a filter.")
        valid = RELATIONS.get(dt, _TEXT_RELATIONS)
        if c.relation not in valid:
            listed = "[" + ", ".join(f'"{v}"' for v in valid) + "]"
            err = self._error(c, acc.fd, f"doesn't support '{c.relation}' 'relation'.")
            key = f"{self.table.name}.{c.path}"
            err.source = {key: f"{err.source[key]}\nValid relations: {listed}"}
            raise err
        try:
            test = self._value_test(acc.fd, c)
        except InvalidValue as exc:
            raise errors.bad_request(f"API {self.verb}() {self.table.name}.{c.path} {exc}") from exc
        get = acc.get
        if acc.multi and acc.fd.data_type not in ("multi_entity",):
            return lambda r: any(test(v) for v in get(r))
        return lambda r: test(get(r))

    # value tests --------------------------------------------------------------------
    def _value_test(self, fd: FieldDef, c: Condition) -> Callable[[Any], bool]:
        dt, rel, value = fd.data_type, c.relation, c.value
        if dt == "entity":
            return self._entity_test(fd, rel, value)
        if dt == "multi_entity":
            return self._multi_test(fd, rel, value)
        if dt == "tag_list":
            return self._tags_test(rel, value)
        if dt in ("date", "date_time"):
            return self._time_test(dt, rel, value)
        norm, norm_row = self._normalizers(fd)
        if rel in ("is", "is_not"):
            target = None if value is None else norm(value)
            if target is None:
                test: Callable[[Any], bool] = lambda v: v is None  # noqa: E731
            else:
                test = lambda v: v is not None and norm_row(v) == target  # noqa: E731
            return test if rel == "is" else (lambda v: not test(v))
        if rel in ("in", "not_in"):
            values = value if isinstance(value, list) else [value]
            wanted = {norm(x) for x in values if x is not None}
            has_null = any(x is None for x in values)

            def member(v: Any) -> bool:
                return has_null if v is None else norm_row(v) in wanted

            return member if rel == "in" else (lambda v: not member(v))
        if rel in ("greater_than", "less_than"):
            bound = norm(value)
            if rel == "greater_than":
                return lambda v: v is not None and v > bound
            return lambda v: v is not None and v < bound
        if rel in ("between", "not_between"):
            lo, hi = self._pair(value, norm)
            inside: Callable[[Any], bool] = lambda v: v is not None and lo <= v <= hi  # noqa: E731
            return inside if rel == "between" else (lambda v: v is not None and not inside(v))
        if rel in ("contains", "not_contains", "starts_with", "ends_with"):
            needle = str(value).casefold()
            if rel == "contains":
                return lambda v: v is not None and needle in v.casefold()
            if rel == "not_contains":
                return lambda v: v is None or needle not in v.casefold()
            if rel == "starts_with":
                return lambda v: v is not None and v.casefold().startswith(needle)
            return lambda v: v is not None and v.casefold().endswith(needle)
        raise InvalidValue(f"relation {rel!r} is not supported by the sandbox")

    @staticmethod
    def _normalizers(fd: FieldDef) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
        """(filter value -> comparable, stored value -> comparable); texts ignore case."""
        dt = fd.data_type
        if dt in ("number", "duration", "percent", "timecode"):
            return _to_int, _identity
        if dt in ("float", "currency"):
            return _to_float, _identity
        if dt == "checkbox":
            return _to_bool, bool
        if dt == "text":
            return _fold_str, _fold
        return _to_str, _identity

    @staticmethod
    def _pair(value: Any, norm: Callable[[Any], Any]) -> tuple[Any, Any]:
        if not isinstance(value, list) or len(value) != 2:
            raise InvalidValue(f"expects a 2-element array: {ruby_inspect(value)}")
        return norm(value[0]), norm(value[1])

    def _time_test(self, dt: str, rel: str, value: Any) -> Callable[[Any], bool]:
        parse = parse_datetime if dt == "date_time" else parse_date
        now = self.now
        if rel in ("in_last", "not_in_last", "in_next", "not_in_next"):
            if (
                not isinstance(value, list)
                or len(value) != 2
                or not isinstance(value[0], int)
                or value[1] not in _UNIT_SECONDS
            ):
                raise InvalidValue(f"expects a 2-element array: {ruby_inspect(value)}")
            span = value[0] * _UNIT_SECONDS[value[1]]
            lo, hi = (now - span, now) if rel.endswith("last") else (now, now + span)
            if dt == "date":
                lo, hi = lo // 86400, hi // 86400
            inside: Callable[[Any], bool] = lambda v: v is not None and lo <= v <= hi  # noqa: E731
            return inside if rel.startswith("in_") else (lambda v: v is not None and not inside(v))
        if rel.startswith("in_calendar_"):
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidValue(f"expects an integer offset: {ruby_inspect(value)}")
            lo, hi = _calendar_range(rel.removeprefix("in_calendar_"), value, now)
            if dt == "date":
                lo, hi = lo // 86400, hi // 86400
            return lambda v: v is not None and lo <= v <= hi
        if rel in ("is", "is_not"):
            target = None if value is None else parse(value)
            test = (lambda v: v is None) if target is None else (lambda v: v == target)
            return test if rel == "is" else (lambda v: not test(v))
        if rel in ("in", "not_in"):
            values = value if isinstance(value, list) else [value]
            wanted = {parse(x) for x in values if x is not None}
            has_null = any(x is None for x in values)

            def member(v: Any) -> bool:
                return has_null if v is None else v in wanted

            return member if rel == "in" else (lambda v: not member(v))
        if rel == "greater_than":
            b = parse(value)
            return lambda v: v is not None and v > b
        if rel == "less_than":
            b = parse(value)
            return lambda v: v is not None and v < b
        lo, hi = self._pair(value, parse)
        between: Callable[[Any], bool] = lambda v: v is not None and lo <= v <= hi  # noqa: E731
        return between if rel == "between" else (lambda v: v is not None and not between(v))

    def _ref(self, fd: FieldDef, value: Any) -> int:
        if not isinstance(value, dict) or "type" not in value:
            raise InvalidValue(
                f"invalid/missing entity hash string 'type': {ruby_inspect(value)} "
                f"Valid entity types: {ruby_inspect(list(self.site.tables))}"
            )
        if "id" not in value:
            raise InvalidValue(f"invalid/missing entity hash string 'id': {ruby_inspect(value)}")
        table = self.site.tables.get(value["type"])
        if table is None:
            return -1  # a type the site lacks matches nothing
        return pack_ref(table.type_code, _to_int(value["id"]))

    def _type_code(self, value: Any) -> int:
        table = self.site.tables.get(value) if isinstance(value, str) else None
        return -1 if table is None else table.type_code

    def _name(self, ref: int) -> str:
        name = self.site.link(ref)["name"]
        return "" if name is None else str(name).casefold()

    def _entity_test(self, fd: FieldDef, rel: str, value: Any) -> Callable[[Any], bool]:
        if rel in ("is", "is_not"):
            target = None if value is None else self._ref(fd, value)
            test = (lambda v: v is None) if target is None else (lambda v: v == target)
            return test if rel == "is" else (lambda v: not test(v))
        if rel in ("in", "not_in"):
            values = value if isinstance(value, list) else [value]
            wanted = {self._ref(fd, x) for x in values if x is not None}
            has_null = any(x is None for x in values)

            def member(v: Any) -> bool:
                return has_null if v is None else v in wanted

            return member if rel == "in" else (lambda v: not member(v))
        if rel in ("type_is", "type_is_not"):
            code = self._type_code(value)
            return (
                (lambda v: v is not None and ref_type_code(v) == code)
                if rel == "type_is"
                else (lambda v: v is None or ref_type_code(v) != code)
            )
        needle = "" if value is None else str(value).casefold()
        if rel == "name_is":
            return lambda v: v is not None and self._name(v) == needle
        if rel == "name_contains":
            return lambda v: v is not None and needle in self._name(v)
        return lambda v: v is None or needle not in self._name(v)

    def _multi_test(self, fd: FieldDef, rel: str, value: Any) -> Callable[[Any], bool]:
        if rel in ("is", "is_not"):
            if value is None:
                empty: Callable[[Any], bool] = lambda v: not v  # noqa: E731
                return empty if rel == "is" else (lambda v: bool(v))
            target = self._ref(fd, value)
            has: Callable[[Any], bool] = lambda v: bool(v) and target in v  # noqa: E731
            return has if rel == "is" else (lambda v: not has(v))
        if rel in ("in", "not_in"):
            values = value if isinstance(value, list) else [value]
            wanted = {self._ref(fd, x) for x in values if x is not None}
            overlap: Callable[[Any], bool] = lambda v: bool(v) and any(x in wanted for x in v)  # noqa: E731
            return overlap if rel == "in" else (lambda v: not overlap(v))
        if rel in ("type_is", "type_is_not"):
            code = self._type_code(value)
            any_type: Callable[[Any], bool] = lambda v: bool(v) and any(ref_type_code(x) == code for x in v)  # noqa: E731
            return any_type if rel == "type_is" else (lambda v: not any_type(v))
        needle = "" if value is None else str(value).casefold()
        named: Callable[[Any], bool] = lambda v: bool(v) and any(needle in self._name(x) for x in v)  # noqa: E731
        return named if rel == "name_contains" else (lambda v: not named(v))

    @staticmethod
    def _tags_test(rel: str, value: Any) -> Callable[[Any], bool]:
        if rel in ("is", "name_id"):
            return lambda v: (not v) if value is None else (bool(v) and value in v)
        if rel == "is_not":
            return lambda v: bool(v) if value is None else (not v or value not in v)
        needle = str(value).casefold()
        contains: Callable[[Any], bool] = lambda v: bool(v) and any(needle in t.casefold() for t in v)  # noqa: E731
        return contains if rel == "name_contains" else (lambda v: not contains(v))

    # hints --------------------------------------------------------------------------
    def _hint(self, c: Condition, out: Compiled) -> None:
        try:
            if c.path == "id":
                self._id_hint(c, out)
            elif c.path == self.table.index_field:
                self._ts_hint(c, out)
        except (InvalidValue, TypeError, ValueError):
            return

    def _id_hint(self, c: Condition, out: Compiled) -> None:
        rel, v = c.relation, c.value
        if rel == "is" and v is not None:
            out.id_set = _intersect(out.id_set, {_to_int(v)})
        elif rel == "in":
            out.id_set = _intersect(
                out.id_set, {_to_int(x) for x in (v if isinstance(v, list) else [v]) if x is not None}
            )
        elif rel == "greater_than":
            out.id_lo = _max(out.id_lo, _to_int(v) + 1)
        elif rel == "less_than":
            out.id_hi = _min(out.id_hi, _to_int(v) - 1)
        elif rel == "between" and isinstance(v, list) and len(v) == 2:
            out.id_lo = _max(out.id_lo, _to_int(v[0]))
            out.id_hi = _min(out.id_hi, _to_int(v[1]))

    def _ts_hint(self, c: Condition, out: Compiled) -> None:
        rel, v = c.relation, c.value
        if rel == "is" and v is not None:
            t = parse_datetime(v)
            out.ts_lo, out.ts_hi = _max(out.ts_lo, t), _min(out.ts_hi, t)
        elif rel == "greater_than":
            out.ts_lo = _max(out.ts_lo, parse_datetime(v) + 1)
        elif rel == "less_than":
            out.ts_hi = _min(out.ts_hi, parse_datetime(v) - 1)
        elif rel == "between" and isinstance(v, list) and len(v) == 2:
            out.ts_lo = _max(out.ts_lo, parse_datetime(v[0]))
            out.ts_hi = _min(out.ts_hi, parse_datetime(v[1]))


# ---- small helpers ----------------------------------------------------------------
def _identity(v: Any) -> Any:
    return v


def _fold(v: Any) -> Any:
    return v.casefold() if isinstance(v, str) else v


def _to_int(v: Any) -> int:
    if isinstance(v, bool):
        raise InvalidValue(f"expected an integer but got {ruby_inspect(v)}")
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str):
        try:
            return int(v.strip())
        except ValueError:
            pass
    raise InvalidValue(f"expected an integer but got {ruby_inspect(v)}")


def _to_float(v: Any) -> float:
    if isinstance(v, bool):
        raise InvalidValue(f"expected a number but got {ruby_inspect(v)}")
    try:
        return float(v)
    except (TypeError, ValueError) as exc:
        raise InvalidValue(f"expected a number but got {ruby_inspect(v)}") from exc


def _to_bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in ("true", "false"):
        return v.lower() == "true"
    raise InvalidValue(f"expected true or false but got {ruby_inspect(v)}")


def _to_str(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, int | float) and not isinstance(v, bool):
        return str(v)
    raise InvalidValue(f"expected a string but got {ruby_inspect(v)}")


def _fold_str(v: Any) -> str:
    return _to_str(v).casefold()


def _intersect(a: set[int] | None, b: set[int]) -> set[int]:
    return b if a is None else a & b


def _max(a: int | None, b: int) -> int:
    return b if a is None else max(a, b)


def _min(a: int | None, b: int) -> int:
    return b if a is None else min(a, b)


def _calendar_range(unit: str, offset: int, now: int) -> tuple[int, int]:
    """[start, end] epoch seconds of the calendar day/week/month/year `offset` units from now."""
    today = datetime.fromtimestamp(now, UTC).date()
    if unit == "day":
        start = today + timedelta(days=offset)
        end = start + timedelta(days=1)
    elif unit == "week":
        start = today - timedelta(days=today.weekday()) + timedelta(weeks=offset)
        end = start + timedelta(weeks=1)
    elif unit == "month":
        months = today.year * 12 + today.month - 1 + offset
        start = today.replace(year=months // 12, month=months % 12 + 1, day=1)
        nxt = months + 1
        end = start.replace(year=nxt // 12, month=nxt % 12 + 1)
    else:
        start = today.replace(year=today.year + offset, month=1, day=1)
        end = start.replace(year=start.year + 1)
    return (start - EPOCH_DATE).days * 86400, (end - EPOCH_DATE).days * 86400 - 1
