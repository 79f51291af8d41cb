"""One `_search` answer of one entity type -> Arrow tables, straight from the response bytes.

Why: going through dicts (a parsed page, `RecordFlattener`, dlt's relational normalizer) costs
several times what reading the bytes costs. Here the bytes are decoded once by msgspec into typed
structs made for the entity type (only the fields of its schema; `links`, `type` and unknown keys
are skipped without building anything), and every column is built as one typed Arrow array. That
decode is stricter than `pa.array` over parsed dicts (which turns 1.5 into 1 in an int64 column and
True into 1.0 in a double one) and keeps free-form fields as the exact JSON text the site sent.

The root table (one row per record, named like the entity's table):
- `id` (int64), then every field of the schema in the schema's order, then the constant marks
  (`_sg_retired`...), then `_dlt_load_id` when a load id is given;
- types as `schema.COLUMN_TYPES` says: text -> string; number, duration, percent, timecode ->
  int64; float (sent as a JSON string, "25.0", or a number) -> float64; currency ->
  decimal128(38, 9), dlt's default decimal (today's DECIMAL(38,9) / numeric(38,9) columns);
  checkbox -> bool; date -> date32; date_time -> timestamp[us, UTC];
- json types (serializable, url, tag_list, addressing, jsonb) -> the value's JSON text as the site
  sent it, in a string column that the `json` hint of `column_hints()` loads as JSON / jsonb;
  a JSON null is a SQL NULL, not the text "null";
- computed types (summary, query, pivot_column, calculated) and types this package does not know
  -> a string as it is, any other value as its JSON text (`0`, `true`, `{"a":1}`);
- an entity link -> `<field>__id` (int64), `<field>__type`, `<field>__name`, all null when empty.

A link table per multi-entity field (`link_table_name`, e.g. `versions__playlists`), top-level,
not a dlt nested table (dlt 1.31 cannot write one from Arrow):
- `parent_id` (int64): the ShotGrid id of the record the list belongs to;
- `list_idx` (int64): the link's position in the list, from 0;
- `id`, `type`, `name`: the linked record;
- `_sg_link_marker` (bool): true on a marker row, false on a link.
Loaded with `link_table_hints()`: merge with strategy `delete-insert`, `merge_key` `parent_id`,
primary key (`parent_id`, `list_idx`), `_sg_link_marker` the `hard_delete` column. A delete-insert
merge first deletes every destination row whose `parent_id` is among the staged rows', then
inserts the staged rows that are not hard deletes; so the links of a record in the load replace
all its old links. A record whose list is now empty has no link row to carry its id: it gets one
marker row (`list_idx` -1, link columns null, `_sg_link_marker` true) that clears its old links
and is never inserted. `convert(markers=False)` leaves them out: for a table that holds nothing
yet (a first load) and for destinations that only append and ignore `hard_delete` (dlt's
filesystem; use `link_table_hints(markers=False)` there). `link_markers(ids)` gives marker rows
alone, to clear the links of records deleted for good (`deletes="hard"`).

Giving the tables to dlt (`dlt_items`): every table is yielded as a table variant with its own
hints (`root_table_hints`, `link_table_hints`); the resource itself carries only the name, the
write disposition and the primary key, because a variant starts as a copy of the resource's
hints and resource-level `columns` would land in every link table. `_dlt_load_id` is stamped by
`convert(load_id=dlt.current.load_package_state()["load_id"])`, read in the resource's own body
(dlt's extract thread; the reader's threads have no load package); no `_dlt_id` is made: nothing
joins on it (links join on `parent_id`) and merges on `id` and `parent_id` do not need it.

`Page` also carries what keyset paging needs (`row_count`, `first_id`, `last_id`) and `links.next`,
so the reader never parses the body a second time.

Anything that does not fit its declared type raises `ShotgunResponseError` naming the entity
type, the record id and the field: never a silent null. The fast path only learns that something
failed; `_Explainer` then reads the body again as plain JSON to name the culprit.
"""

import datetime as dt
import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from itertools import chain, repeat
from operator import attrgetter
from typing import Any

import dlt
import msgspec
import pyarrow as pa
import pyarrow.compute as pc
from dlt.common.arithmetics import DEFAULT_NUMERIC_PRECISION, DEFAULT_NUMERIC_SCALE
from dlt.common.schema.typing import TColumnSchema

from .errors import ShotgunResponseError
from .schema import COLUMN_TYPES, ENTITY, LINK_COLUMNS, MULTI_ENTITY, EntitySchema

COMPUTED_TYPES = frozenset({"summary", "query", "pivot_column", "calculated"})
"""Types computed on the server, of any shape: a string loads as it is, anything else as JSON text."""

PARENT_ID = "parent_id"
LIST_IDX = "list_idx"
LINK_MARKER = "_sg_link_marker"
MARKER_LIST_IDX = -1
LOAD_ID = "_dlt_load_id"

TIMESTAMP = pa.timestamp("us", tz="UTC")
DECIMAL = pa.decimal128(DEFAULT_NUMERIC_PRECISION, DEFAULT_NUMERIC_SCALE)
ARROW_TYPES: dict[str, pa.DataType] = {
    "text": pa.string(),
    "bigint": pa.int64(),
    "double": pa.float64(),
    "decimal": DECIMAL,
    "bool": pa.bool_(),
    "date": pa.date32(),
    "timestamp": TIMESTAMP,
    "json": pa.string(),
}
"""dlt data type -> the Arrow type its column is built as (microseconds: dlt's default precision)."""

INT64_RANGE = (-(2**63), 2**63 - 1)
_QUANTUM = Decimal(1).scaleb(-DEFAULT_NUMERIC_SCALE)
_NULL = msgspec.Raw(b"null")
_MISSING_FIELD = re.compile(r"^Object missing required field `([^`]+)` - at `\$\.data\[\d+\]\.attributes`$")


def link_table_name(schema: EntitySchema, field_name: str) -> str:
    """`versions__playlists`: the entity's table, two underscores, the multi-entity field."""
    return f"{schema.table_name}__{field_name}"


LINK_TABLE_COLUMNS: dict[str, TColumnSchema] = {
    PARENT_ID: {
        "data_type": "bigint",
        "nullable": False,
        "description": "ShotGrid id of the record whose list this link is in",
    },
    LIST_IDX: {"data_type": "bigint", "nullable": False, "description": "Position in the list, from 0"},
    **{part: {**hint, "nullable": True} for part, hint in LINK_COLUMNS.items()},
}


def link_table_hints(schema: EntitySchema, markers: bool = True) -> dict[str, dict[str, Any]]:
    """`dlt.mark.make_hints(**hints)` arguments per link table, keyed by table name.

    `markers=True` (DuckDB, PostgreSQL and other SQL destinations): delete-insert merge on the
    parent's id, so each load replaces the links of the records it carries. `markers=False` for
    destinations that only append (no merge key, no `hard_delete` column): use it with
    `convert(..., markers=False)`.
    """
    hints: dict[str, dict[str, Any]] = {}
    for name in schema.fields_of_type(MULTI_ENTITY):
        columns: dict[str, TColumnSchema] = {c: {"name": c, **h} for c, h in LINK_TABLE_COLUMNS.items()}
        table = link_table_name(schema, name)
        if markers:
            columns[LINK_MARKER] = {
                "name": LINK_MARKER,
                "data_type": "bool",
                "nullable": True,
                "hard_delete": True,
                "description": "True on a row that only clears the record's old links; never stored",
            }
            hints[table] = {
                "table_name": table,
                "write_disposition": {"disposition": "merge", "strategy": "delete-insert"},
                "primary_key": [PARENT_ID, LIST_IDX],
                "merge_key": PARENT_ID,
                "columns": columns,
            }
        else:
            hints[table] = {"table_name": table, "write_disposition": "append", "columns": columns}
    return hints


def root_table_hints(
    schema: EntitySchema, mark_columns: dict[str, TColumnSchema] | None = None
) -> dict[str, Any]:
    """`dlt.mark.make_hints(**hints)` arguments for the root table: its name and column hints.

    Give them to each root table (`dlt_items`) rather than to `dlt.resource(columns=...)`: a table
    variant starts as a copy of the resource's hints, so resource-level columns would land in
    every link table as empty columns.
    """
    return {"table_name": schema.table_name, "columns": {**schema.column_hints(), **(mark_columns or {})}}


class JsonHintNotices(logging.Filter):
    """Drops two of dlt's warnings about this package's Arrow tables, which only say what is meant.

    - "several column hints were different", for every Arrow table with a json column, once per
      page: the column is a string of JSON text and its hint says json (the destination loads it as
      JSON / jsonb). The converter's tests hold every other column's Arrow type to its hint.
    - "ArrowToInsertValuesWriter ... will degrade performance", once per table on PostgreSQL when
      a run of the user's own asks for insert statements (`load()` copies csv files instead:
      `load_settings.ARROW_LOADER_FILE_FORMATS`).
    Other resources and tables keep both."""

    PATTERNS = (
        re.compile(
            r"^In resource: ([^,\s]+),? when merging arrow schema with dlt schema, several column hints"
        ),
        re.compile(r"^For data items in `([^`]+)` yielded as arrow and job file format insert_values native"),
    )

    def __init__(self) -> None:
        super().__init__()
        self.resources: set[str] = set()
        """Resource names; their tables are named like them (`shots`, `shots__assets`, ...)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        for pattern in self.PATTERNS:
            match = pattern.match(message)
            if match is not None:
                return not self.ours(match.group(1))
        return True

    def ours(self, name: str) -> bool:
        return any(name == r or name.startswith((f"{r}__", f"{r}_field_changes")) for r in self.resources)


JSON_HINT_NOTICES = JsonHintNotices()
logging.getLogger("dlt").addFilter(JSON_HINT_NOTICES)


def quiet_json_hint_notices(resource_name: str) -> None:
    """Stop dlt's json-hint warning for one of this package's resources (see `JsonHintNotices`)."""
    JSON_HINT_NOTICES.resources.add(resource_name)


def marker_rows(table: pa.Table) -> int:
    """How many of a link table's rows are markers (they clear old links and are never stored)."""
    if LINK_MARKER not in table.column_names or not table.num_rows:
        return 0
    return int(pc.sum(table.column(LINK_MARKER)).as_py() or 0)


def dlt_items(page: "Page", root_hints: dict[str, Any], link_hints: dict[str, dict[str, Any]]) -> list[Any]:
    """What a resource yields for one page: every table that has rows, marked with its hints as
    a table variant (`dlt.mark.with_hints(..., create_table_variant=True)`).

    Empty tables are left out: a variant first created from an empty Arrow table broke dlt
    1.31's parquet writer ("Schema at index 1 was different"). dlt logs "several column hints
    were different" for every Arrow table with a json column (the `json` hint on a string column
    holding JSON text is meant), once per page: filter that line if the log matters.
    """
    items = []
    for name, table in page.tables():
        hints = root_hints if name is None else link_hints[name]
        if table.num_rows:
            items.append(dlt.mark.with_hints(table, dlt.mark.make_hints(**hints), create_table_variant=True))
    return items


@dataclass(frozen=True)
class Page:
    """One converted `_search` answer."""

    root: pa.Table
    links: dict[str, pa.Table]
    """Link table name -> its rows from this page (possibly none)."""
    first_id: int | None
    last_id: int | None
    """Ids of the first and the last record as sent (keyset paging goes on after `last_id`)."""
    next_link: str | None = None
    """`links.next` as sent (ShotGrid sends one on every page, even the last)."""

    @property
    def row_count(self) -> int:
        return int(self.root.num_rows)

    def tables(self) -> Iterable[tuple[str | None, pa.Table]]:
        """(None, root), then (link table name, rows) for each link table."""
        yield None, self.root
        yield from self.links.items()

    def without(self, ids: set[int]) -> "Page":
        """The page less some records (and their link rows); the paging facts stay as read."""
        if not ids:
            return self
        value_set = pa.array(sorted(ids), pa.int64())
        root = self.root.filter(pc.invert(pc.is_in(self.root.column("id"), value_set=value_set)))
        links = {
            name: table.filter(pc.invert(pc.is_in(table.column(PARENT_ID), value_set=value_set)))
            for name, table in self.links.items()
        }
        return Page(root, links, self.first_id, self.last_id, self.next_link)

    def newest(self, column: str) -> dt.datetime | None:
        """The latest value of a timestamp column (the cursor) among the page's records."""
        if not self.root.num_rows:
            return None
        value: dt.datetime | None = pc.max(self.root.column(column)).as_py()
        return value

    @staticmethod
    def joined(pages: Sequence["Page"]) -> "Page":
        """Several pages of one converter as one: each table's rows in page order (Arrow only
        links the pages' chunks, nothing is copied); the paging facts are the first's and last's."""
        if len(pages) == 1:
            return pages[0]
        names = dict.fromkeys(name for page in pages for name in page.links)
        links = {
            name: pa.concat_tables([page.links[name] for page in pages if name in page.links])
            for name in names
        }
        root = pa.concat_tables([page.root for page in pages])
        return Page(root, links, pages[0].first_id, pages[-1].last_id, pages[-1].next_link)


ROWS_PER_ITEM = 10_000
"""Records gathered into one dlt item per table. dlt 1.31's extract computes and checks each Arrow
item's table schema anew (a few ms however small the item): 2000-row pages of a five-type full load
cost it about 1.3 s of the interpreter's time, held by the GIL the readers' threads need. Five such
pages are 10,000 records, a few MB of Arrow buffers held at a time."""


def batched(pages: Iterable[Page], max_rows: int = ROWS_PER_ITEM) -> Iterator[Page]:
    """The pages joined (`Page.joined`) into pages of at least `max_rows` records, the last smaller;
    a page is never split. The pages must come from one converter (one schema per table)."""
    held: list[Page] = []
    rows = 0
    for page in pages:
        held.append(page)
        rows += page.row_count
        if rows >= max_rows:
            yield Page.joined(held)
            held, rows = [], 0
    if held:
        yield Page.joined(held)


@dataclass(frozen=True)
class _Column:
    """One attribute field: its name on the wire and in the table, and how it converts."""

    name: str
    kind: str
    role: str
    """str, int, float, decimal, bool, date, timestamp, json, any."""
    arrow_type: pa.DataType
    key: str = field(default="")
    """Attribute of the decoded struct holding it (field names need not be identifiers)."""


_ROLES = {
    "text": "str",
    "bigint": "int",
    "double": "float",
    "decimal": "decimal",
    "bool": "bool",
    "date": "date",
    "timestamp": "timestamp",
    "json": "json",
}
_WIRE_TYPES: dict[str, Any] = {
    "str": str | None,
    "int": int | None,
    "float": str | float | None,
    "decimal": str | float | None,
    "bool": bool | None,
    "date": str | None,
    "timestamp": str | None,
    "json": msgspec.Raw,
    "any": msgspec.Raw,
}
"""How msgspec decodes each role: strictly, so a value of the wrong JSON type fails the decode."""


def _column_for(name: str, kind: str) -> _Column:
    known = COLUMN_TYPES.get(kind)
    if known is None or kind in COMPUTED_TYPES:
        return _Column(name, kind, "any", pa.string())
    data_type = str(known["data_type"])
    return _Column(name, kind, _ROLES[data_type], ARROW_TYPES[data_type])


def arrow_type_of(column: TColumnSchema) -> pa.DataType:
    """The Arrow type for a dlt column hint (the marks columns of `deletes.retirement_columns`)."""
    return ARROW_TYPES[str(column.get("data_type"))]


class _Fallback(Exception):
    """The fast path could not build a column; `_Explainer` finds out why."""


class PageConverter:
    """Converts `_search` answers of one entity type; thread-safe, build once per type and run."""

    def __init__(
        self,
        schema: EntitySchema,
        marks: dict[str, Any] | None = None,
        mark_columns: dict[str, TColumnSchema] | None = None,
    ) -> None:
        self.schema = schema
        self.entity_type = schema.entity_type
        self.columns: list[_Column] = []
        self.entity_links: list[str] = []
        self.multi_links: list[str] = []
        for name, kind in schema.field_types.items():
            if name == "id":
                continue
            if kind == ENTITY:
                self.entity_links.append(name)
            elif kind == MULTI_ENTITY:
                self.multi_links.append(name)
            else:
                self.columns.append(_column_for(name, kind))
        self.columns = [
            _Column(c.name, c.kind, c.role, c.arrow_type, f"a{i}") for i, c in enumerate(self.columns)
        ]
        self.link_tables = {name: link_table_name(schema, name) for name in self.multi_links}
        self.marks = dict(marks or {})
        types = mark_columns or {}
        self.mark_types = {name: arrow_type_of(types[name]) if name in types else None for name in self.marks}
        self._decoder = msgspec.json.Decoder(self._body_type())
        self._root_schema = self._make_root_schema()
        self._missing_lock = threading.Lock()
        self.missing: set[str] = set()
        """Fields of the schema that pages came without: deleted on the site since the schema read."""
        self.on_missing: Callable[[str, str], None] | None = None
        """Told (entity type, field) once for each field a page came without."""
        self._strict = self._strict_decoder()

    def _strict_decoder(self) -> msgspec.json.Decoder[Any]:
        """Like the plain decoder, but every attribute the schema names (less those known missing)
        is required: a page without one fails at its first record, cheaply, and says which."""
        return msgspec.json.Decoder(self._body_type(required={c.name for c in self.columns} - self.missing))

    # the decoded shape ---------------------------------------------------------------------
    def _body_type(self, required: set[str] | None = None) -> Any:
        link = msgspec.defstruct(
            "Link", [("id", int), ("type", str), ("name", str | None, None)], gc=False, frozen=True
        )
        one = msgspec.defstruct("EntityLink", [("data", link | None, None)], gc=False)
        many = msgspec.defstruct("MultiEntityLink", [("data", _list_of(link) | None, None)], gc=False)
        attributes = msgspec.defstruct(
            f"{self.entity_type}Attributes",
            [
                (c.key, _WIRE_TYPES[c.role])
                if required and c.name in required
                else (c.key, _WIRE_TYPES[c.role], _NULL if c.role in ("json", "any") else None)
                for c in self.columns
            ],
            rename={c.key: c.name for c in self.columns},
            kw_only=True,  # required and optional fields in the schema's order
            gc=False,
        )
        relation_fields = [(f"e{i}", one | None, None) for i, _ in enumerate(self.entity_links)]
        relation_fields += [(f"m{i}", many | None, None) for i, _ in enumerate(self.multi_links)]
        relation_names = {f"e{i}": n for i, n in enumerate(self.entity_links)}
        relation_names |= {f"m{i}": n for i, n in enumerate(self.multi_links)}
        relationships = msgspec.defstruct(
            f"{self.entity_type}Relationships", relation_fields, rename=relation_names, gc=False
        )
        self._no_relationships = relationships()
        record = msgspec.defstruct(
            f"{self.entity_type}Record",
            [("id", int), ("attributes", attributes), ("relationships", relationships | None, None)],
            gc=False,
        )
        links = msgspec.defstruct("PageLinks", [("next", str | None, None)], gc=False)
        return msgspec.defstruct(
            f"{self.entity_type}Page",
            [("data", _list_of(record)), ("links", links | None, None)],
            gc=False,
        )

    def _make_root_schema(self) -> pa.Schema:
        fields = [pa.field("id", pa.int64(), nullable=False)]
        by_name = {c.name: c for c in self.columns}
        for name, kind in self.schema.field_types.items():
            if name == "id" or kind == MULTI_ENTITY:
                continue
            if kind == ENTITY:
                fields += [
                    pa.field(f"{name}__id", pa.int64()),
                    pa.field(f"{name}__type", pa.string()),
                    pa.field(f"{name}__name", pa.string()),
                ]
            else:
                fields.append(pa.field(name, by_name[name].arrow_type))
        for name, arrow_type in self.mark_types.items():
            fields.append(pa.field(name, arrow_type or _constant_type(self.marks[name])))
        return pa.schema(fields)

    # converting ----------------------------------------------------------------------------
    def convert(
        self, body: bytes, *, load_id: str | None = None, markers: bool = True, merged: bool | None = None
    ) -> Page:
        """The answer's records as Arrow tables; raises `ShotgunResponseError` on anything that is
        not a ShotGrid `_search` answer of this type.

        `load_id`: stamped as `_dlt_load_id` on every row (dlt leaves Arrow rows without one).
        `markers`: add the marker rows that clear the old links of records whose list is empty.
        `merged` (default: as `markers`): the link tables merge, so their rows carry the marker
        column (false on a link); off for destinations that only append.
        """
        explainer = _Explainer(self, body)
        try:
            page = self._decode(body)
        except msgspec.ValidationError as exc:  # a DecodeError too: test it first
            raise explainer.explain(str(exc)) from None
        except msgspec.DecodeError:
            raise explainer.not_json() from None
        try:
            return self._build(page, load_id, markers, markers if merged is None else merged)
        except _Fallback as exc:
            raise explainer.explain(str(exc)) from None

    def _decode(self, body: bytes) -> Any:
        """Decode strictly; a field the page lacks is noted as missing and the page decoded again
        without it (the server leaves a field deleted since the schema read out of every record)."""
        for _ in range(len(self.columns) + 1):
            decoder = self._strict
            try:
                return decoder.decode(body)
            except msgspec.ValidationError as exc:
                match = _MISSING_FIELD.match(str(exc))
                if match is None:
                    raise
                with self._missing_lock:
                    if decoder is self._strict and match.group(1) not in self.missing:
                        self.missing.add(match.group(1))
                        self._strict = self._strict_decoder()
                        if self.on_missing is not None:
                            self.on_missing(self.entity_type, match.group(1))
        return self._decoder.decode(body)

    def _build(self, page: Any, load_id: str | None, markers: bool, merged: bool) -> Page:
        records = page.data
        count = len(records)
        ids_list: list[int] = list(map(attrgetter("id"), records))
        ids = _array(ids_list, pa.int64())
        arrays: dict[str, pa.Array] = {"id": ids}
        attributes = list(map(attrgetter("attributes"), records))
        for column in self.columns:
            arrays[column.name] = _build_column(column, list(map(attrgetter(column.key), attributes)))
        relationships = [
            self._no_relationships if r is None else r for r in map(attrgetter("relationships"), records)
        ]
        for i, name in enumerate(self.entity_links):
            links = [None if r is None else r.data for r in map(attrgetter(f"e{i}"), relationships)]
            arrays[f"{name}__id"] = _array([None if x is None else x.id for x in links], pa.int64())
            arrays[f"{name}__type"] = _array([None if x is None else x.type for x in links], pa.string())
            arrays[f"{name}__name"] = _array([None if x is None else x.name for x in links], pa.string())
        for name, value in self.marks.items():
            arrays[name] = _constant(value, self._root_schema.field(name).type, count)
        root = pa.Table.from_arrays([arrays[f.name] for f in self._root_schema], schema=self._root_schema)
        link_tables = {
            self.link_tables[name]: self._link_table(
                root,
                [None if r is None else r.data for r in map(attrgetter(f"m{i}"), relationships)],
                markers,
                merged,
            )
            for i, name in enumerate(self.multi_links)
        }
        self._check_cursor(root)
        if load_id is not None:
            root = _with_load_id(root, load_id)
            link_tables = {name: _with_load_id(t, load_id) for name, t in link_tables.items()}
        next_link = page.links.next if page.links is not None else None
        return Page(
            root,
            link_tables,
            ids_list[0] if ids_list else None,
            ids_list[-1] if ids_list else None,
            next_link,
        )

    def _link_table(self, root: pa.Table, lists: list[Any], markers: bool, merged: bool) -> pa.Table:
        lists = [() if items is None else items for items in lists]
        lengths = list(map(len, lists))
        flat = list(chain.from_iterable(lists))
        rows = pa.array(list(chain.from_iterable(map(repeat, range(len(lists)), lengths))), pa.int64())
        columns = [
            root.column("id").take(rows),
            _array(list(chain.from_iterable(map(range, lengths))), pa.int64()),
            _array(list(map(attrgetter("id"), flat)), pa.int64()),
            _array(list(map(attrgetter("type"), flat)), pa.string()),
            _array(list(map(attrgetter("name"), flat)), pa.string()),
        ]
        if merged:
            columns.append(pa.repeat(pa.scalar(False), len(flat)))
        table = pa.Table.from_arrays(columns, schema=self._link_schema(merged))
        empty = [row for row, length in enumerate(lengths) if not length]
        if not (markers and merged) or not empty:
            return table
        empty_rows = pa.array(empty, pa.int64())
        return pa.concat_tables([table, self._markers(root.column("id").take(empty_rows))])

    def _link_schema(self, markers: bool) -> pa.Schema:
        fields = [
            pa.field(PARENT_ID, pa.int64(), nullable=False),
            pa.field(LIST_IDX, pa.int64(), nullable=False),
            pa.field("id", pa.int64()),
            pa.field("type", pa.string()),
            pa.field("name", pa.string()),
        ]
        if markers:
            fields.append(pa.field(LINK_MARKER, pa.bool_()))
        return pa.schema(fields)

    def _markers(self, parent_ids: pa.Array) -> pa.Table:
        count = len(parent_ids)
        columns = [
            parent_ids,
            pa.repeat(pa.scalar(MARKER_LIST_IDX, pa.int64()), count),
            pa.nulls(count, pa.int64()),
            pa.nulls(count, pa.string()),
            pa.nulls(count, pa.string()),
        ]
        columns.append(pa.repeat(pa.scalar(True), count))
        return pa.Table.from_arrays(columns, schema=self._link_schema(markers=True))

    def deleted(self, ids: Sequence[int], flag: str, load_id: str | None = None) -> Page:
        """Delete markers for records gone from the site (`deletes="hard"`): root rows of the root
        table's own schema (a parquet file holds one schema per table) with only `id` and `flag`
        (dlt's `hard_delete` column) set, and markers clearing their link rows."""
        count = len(ids)
        arrays = [
            pa.array(list(ids), pa.int64())
            if f.name == "id"
            else pa.repeat(pa.scalar(True), count)
            if f.name == flag
            else pa.nulls(count, f.type)
            for f in self._root_schema
        ]
        root = pa.Table.from_arrays(arrays, schema=self._root_schema)
        if load_id is not None:
            root = _with_load_id(root, load_id)
        return Page(root, self.link_markers(ids, load_id), min(ids, default=None), max(ids, default=None))

    def link_markers(self, parent_ids: Sequence[int], load_id: str | None = None) -> dict[str, pa.Table]:
        """Marker rows only, per link table: they clear every link of these records (for records
        deleted for good, `deletes="hard"`)."""
        ids = pa.array(list(parent_ids), pa.int64())
        tables = {name: self._markers(ids) for name in self.link_tables.values()}
        if load_id is not None:
            tables = {name: _with_load_id(t, load_id) for name, t in tables.items()}
        return tables

    def _check_cursor(self, root: pa.Table) -> None:
        cursor = self.schema.cursor_field
        if not cursor or cursor not in root.column_names or not root.column(cursor).null_count:
            return
        missing = root.filter(pc.is_null(root.column(cursor))).column("id")[0].as_py()
        raise ShotgunResponseError(
            f"The site sent {self.entity_type} {missing} without `{cursor}`, the incremental cursor;"
            " the load stops so no cursor moves past unread rows."
        )


def _list_of(item: Any) -> Any:
    """`list[item]` for a struct type made at run time (which type checkers cannot see)."""
    return list.__class_getitem__(item)


def _array(values: list[Any], arrow_type: pa.DataType) -> pa.Array:
    try:
        return pa.array(values, arrow_type)
    except (pa.ArrowException, OverflowError, TypeError, ValueError) as exc:
        raise _Fallback(f"{type(exc).__name__}: {exc}") from None


def _build_column(column: _Column, values: list[Any]) -> pa.Array:
    role = column.role
    if role == "json":
        return _array([None if v == _NULL else bytes(v) for v in values], pa.string())
    if role == "any":
        return _array([_any_text(v) for v in values], pa.string())
    if role in ("str", "int", "bool"):
        return _array(values, column.arrow_type)
    if role == "float":
        try:
            return pc.cast(pa.array(values, pa.string()), pa.float64())
        except pa.ArrowTypeError:  # numbers among the strings
            return _array([_float(v) for v in values], pa.float64())
        except pa.ArrowInvalid as exc:
            raise _Fallback(str(exc)) from None
    if role == "decimal":
        try:
            return pc.cast(pa.array(values, pa.string()), DECIMAL)
        except (pa.ArrowTypeError, pa.ArrowInvalid):  # numbers, or more decimals than the scale
            return _array([_decimal(v) for v in values], DECIMAL)
    try:  # date, timestamp: Arrow's ISO 8601 parser (a timestamp needs its zone, `Z`)
        return pc.cast(pa.array(values, pa.string()), column.arrow_type)
    except (pa.ArrowTypeError, pa.ArrowInvalid) as exc:
        raise _Fallback(str(exc)) from None


_decode_string = msgspec.json.Decoder(str)


def _any_text(raw: msgspec.Raw) -> str | bytes | None:
    text = bytes(raw)
    if text == b"null":
        return None
    if text[:1] == b'"':
        return _decode_string.decode(text)
    return text


def _float(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        raise _Fallback(f"not a number: {value!r}") from None


def _decimal(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        number = Decimal(value if isinstance(value, str) else repr(value))
        if not number.is_finite():
            raise InvalidOperation
        if number and number.adjusted() >= DEFAULT_NUMERIC_PRECISION - DEFAULT_NUMERIC_SCALE:
            raise _Fallback(f"too large for decimal({DEFAULT_NUMERIC_PRECISION}, {DEFAULT_NUMERIC_SCALE})")
        return number.quantize(_QUANTUM)
    except InvalidOperation:
        raise _Fallback(f"not a decimal number: {value!r}") from None


def _constant_type(value: Any) -> pa.DataType:
    if isinstance(value, bool):
        return pa.bool_()
    if isinstance(value, int):
        return pa.int64()
    if isinstance(value, dt.datetime):
        return TIMESTAMP
    return pa.string()


def _constant(value: Any, arrow_type: pa.DataType, count: int) -> pa.Array:
    if value is None:
        return pa.nulls(count, arrow_type)
    return pa.repeat(pa.scalar(value, arrow_type), count)


def _with_load_id(table: pa.Table, load_id: str) -> pa.Table:
    return table.append_column(
        pa.field(LOAD_ID, pa.string(), nullable=False), pa.repeat(pa.scalar(load_id), table.num_rows)
    )


# explaining a failure (slow, only after the fast path failed) ----------------------------------

RECORD_AT = re.compile(r"\$\.data\[(\d+)\]")
"""Where a msgspec error about a `_search` page points into one of its records (`$.data[3]...`)."""


class _Explainer:
    """Finds the record and field behind a failed conversion, by reading the body again as plain
    JSON and checking each value the way the fast path converts it."""

    def __init__(self, converter: PageConverter, body: bytes) -> None:
        self.converter = converter
        self.body = body
        self.entity_type = converter.entity_type

    def _preview(self, value: Any, limit: int = 80) -> str:
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else repr(value)
        text = " ".join(text.split())
        return text if len(text) <= limit else text[:limit] + "..."

    def not_json(self) -> ShotgunResponseError:
        return ShotgunResponseError(
            f"The site answered a {self.entity_type} search with a body that is not JSON"
            f" ({len(self.body)} bytes, starting {self._preview(self.body[:80])!r}). The site may be"
            " showing a maintenance or login page, or the site URL may point at another server."
        )

    def explain(self, failure: str) -> ShotgunResponseError:
        try:
            body = msgspec.json.decode(self.body)  # orjson refuses integers beyond 64 bits
        except msgspec.DecodeError:
            return self.not_json()
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            return ShotgunResponseError(
                f"The site answered a {self.entity_type} search with JSON without `data`"
                f" ({self._preview(self.body[:80])!r}); this is not the ShotGrid REST envelope."
            )
        records: list[Any] = body["data"]
        hinted = RECORD_AT.search(failure)
        order: Iterable[int] = range(len(records))
        if hinted and int(hinted.group(1)) < len(records):
            order = chain([int(hinted.group(1))], order)
        for index in order:
            problem = self._record_problem(records[index])
            if problem is not None:
                return problem
        return ShotgunResponseError(
            f"The site sent a {self.entity_type} page this source cannot convert ({failure})."
        )

    def _record_problem(self, record: Any) -> ShotgunResponseError | None:
        if (
            not isinstance(record, dict)
            or not _is_int(record.get("id"))
            or not isinstance(record.get("attributes"), dict)
        ):
            return ShotgunResponseError(
                f"The site sent a {self.entity_type} record without `id` or `attributes`:"
                f" {self._preview(record, 120)}. This is not the ShotGrid REST record shape."
            )
        record_id = record["id"]
        attributes = record["attributes"]
        for column in self.converter.columns:
            value = attributes.get(column.name)
            why = _value_problem(column, value)
            if why:
                return self._bad_value(record_id, column.name, column.kind, value, why)
        relationships = record.get("relationships")
        if relationships is None:
            return None
        if not isinstance(relationships, dict):
            return self._bad_value(record_id, "relationships", "object", relationships, "not an object")
        for name in self.converter.entity_links:
            why = _link_problem(relationships.get(name), many=False)
            if why:
                return self._bad_value(record_id, name, ENTITY, relationships.get(name), why)
        for name in self.converter.multi_links:
            why = _link_problem(relationships.get(name), many=True)
            if why:
                return self._bad_value(record_id, name, MULTI_ENTITY, relationships.get(name), why)
        return None

    def _bad_value(self, record_id: Any, name: str, kind: str, value: Any, why: str) -> ShotgunResponseError:
        return ShotgunResponseError(
            f"The site sent {self.entity_type} {record_id} with `{name}` = {self._preview(value)}, which"
            f" does not fit the field's ShotGrid type {kind}: {why}. The load stops rather than store"
            " a wrong or empty value; check the field's type in the site's schema (Fields admin page)."
        )


def _is_int(value: Any) -> bool:
    return type(value) is int and INT64_RANGE[0] <= value <= INT64_RANGE[1]


def _castable(value: str, arrow_type: pa.DataType) -> bool:
    try:
        pc.cast(pa.array([value], pa.string()), arrow_type)
        return True
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return False


_CHECKS: dict[str, Callable[[Any, pa.DataType], str | None]] = {
    "str": lambda v, _: None if isinstance(v, str) else "not a string",
    "int": lambda v, _: None if _is_int(v) else "not a whole number in the 64-bit range",
    "bool": lambda v, _: None if isinstance(v, bool) else "not true or false",
    "float": lambda v, t: (
        None
        if (isinstance(v, (int, float)) and not isinstance(v, bool))
        or (isinstance(v, str) and _castable(v, t))
        else "not a number"
    ),
    "decimal": lambda v, _: None if _decimal_ok(v) else "not a decimal number that decimal(38, 9) holds",
    "date": lambda v, t: None if isinstance(v, str) and _castable(v, t) else "not a date (YYYY-MM-DD)",
    "timestamp": lambda v, t: (
        None if isinstance(v, str) and _castable(v, t) else "not an ISO 8601 time with its zone (...Z)"
    ),
}


def _decimal_ok(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return False
    try:
        _decimal(value)
        return True
    except _Fallback:
        return False


def _value_problem(column: _Column, value: Any) -> str | None:
    if value is None or column.role in ("json", "any"):
        return None
    return _CHECKS[column.role](value, column.arrow_type)


def _link_problem(value: Any, many: bool) -> str | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        return "not a relationship object ({data: ...})"
    data = value.get("data")
    if data is None:
        return None
    items = data if many else [data]
    if many and not isinstance(data, list):
        return "`data` is not a list of links"
    for item in items:
        if not isinstance(item, dict) or not _is_int(item.get("id")) or not isinstance(item.get("type"), str):
            return f"{item!r} is not a link with an integer `id` and a `type`"
        if item.get("name") is not None and not isinstance(item.get("name"), str):
            return f"the link's `name` {item.get('name')!r} is not a string"
    return None
