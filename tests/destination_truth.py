"""One comparison of any destination against the sandbox's ground truth, row for row, field for field.

It maps the sandbox's own records and field types to the destination layout with code of its
own (not the source's flattening), so a mistake in the source cannot agree with itself here.
Works for every destination dlt's datasets read: DuckDB, PostgreSQL, filesystem parquet. Give it
a pipeline (its dataset) or a `dlt.Dataset` (a reader that is not the pipeline that loaded).
Values are brought to one form whatever the destination returns (jsonb as a dict or json text,
numeric as Decimal, timestamps naive-in-UTC or aware), and nothing looser than that: a checkbox
must come back a bool, a date a date.

Destinations that only append (dlt's filesystem without a table format: merge falls back to
append) hold one row per load that saw a record. `latest_row_per_id=True` compares the newest
load's row of each id, the one a reader must pick; two rows of one id in one load still count as
duplicates. Rows the source marks retired (`_sg_retired` true) must be retired on the site.
"""

import datetime as dt
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import dlt

JSON_TYPES = {
    "serializable",
    "url",
    "tag_list",
    "addressing",
    "summary",
    "query",
    "pivot_column",
    "calculated",
}
NUMBER_TYPES = {"float", "currency"}
RETIRED_FLAG = "_sg_retired"
"""A row the source wrote for a record retired on the site (soft deletes) carries this column true."""
KNOWN_SCALAR_TYPES = {
    "text", "number", "float", "checkbox", "date", "date_time", "duration", "percent", "timecode",
    "currency", "list", "status_list", "image", "color", "uuid", "entity_type", "password", "footage",
}  # fmt: skip


def plural_slug(entity_type: str) -> str:
    """The table name rule, written out independently of the package's own."""
    out = ""
    for i, ch in enumerate(entity_type):
        if ch.isupper() and i and (entity_type[i - 1].islower() or entity_type[i - 1].isdigit()):
            out += "_"
        out += ch.lower()
    if out.endswith("y") and out[-2] not in "aeiou":
        return out[:-1] + "ies"
    if out.endswith(("s", "x", "z", "ch", "sh")):
        return out + "es"
    return out + "s"


def field_types(site: Any, entity_type: str) -> dict[str, str]:
    """{field: data_type} from the sandbox's schema, whatever wrapping it uses."""
    types: dict[str, str] = {}
    fields = site.fields(entity_type)
    items = fields.items() if isinstance(fields, dict) else ((f["name"], f) for f in fields)
    for name, spec in items:
        kind = spec.get("data_type") if isinstance(spec, dict) else getattr(spec, "data_type", None)
        if isinstance(kind, dict):
            kind = kind.get("value")
        types[name] = str(kind)
    return types


def column_kinds(kinds: dict[str, str]) -> dict[str, str]:
    """{destination column: data_type to compare it as}; entity links spread over three columns."""
    columns = {"id": "number"}
    for name, kind in kinds.items():
        if kind == "entity":
            columns.update({f"{name}__id": "number", f"{name}__type": "text", f"{name}__name": "text"})
        elif kind != "multi_entity":
            columns[name] = kind
    return columns


def _utc(value: Any) -> Any:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).replace(microsecond=0)
    return value


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def normalize(kind: str, value: Any) -> Any:
    """One value in comparable form, from either side."""
    if value is None:
        return None
    if kind == "date_time":
        return _utc(value)
    if kind == "date":
        return dt.date.fromisoformat(value) if isinstance(value, str) else value
    if kind in NUMBER_TYPES:
        return float(value) if isinstance(value, (str, Decimal, int, float)) else value
    if kind in JSON_TYPES or kind not in KNOWN_SCALAR_TYPES:
        return _json(value)
    if kind == "checkbox":
        return value if isinstance(value, bool) else f"not a bool: {value!r}"
    return value


def _same(kind: str, a: Any, b: Any) -> bool:
    if kind in NUMBER_TYPES and isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)
    return bool(a == b)


@dataclass
class Tables:
    """An entity's root rows by id and its multi-entity link rows per field."""

    root: dict[int, dict[str, Any]] = field(default_factory=dict)
    links: dict[str, list[tuple[int, int, int, str, str | None]]] = field(default_factory=dict)
    duplicates: list[int] = field(default_factory=list)
    retired: dict[int, dict[str, Any]] = field(default_factory=dict)
    """Rows the destination keeps flagged `_sg_retired` (soft deletes), by id; not in `root`."""
    superseded: int = 0
    """Root rows of an append-only destination that a newer load's row of the same id replaces."""
    orphans: list[tuple[str, int]] = field(default_factory=list)
    """Link rows whose parent record is not in the destination (link tables joined on ShotGrid ids)."""
    stored_markers: list[tuple[str, int]] = field(default_factory=list)
    """Marker rows (which only clear old links) that the destination kept: never right on a merge."""
    deleted: set[int] = field(default_factory=set)
    """Hard deletes on a destination that only appends: the newest row of the id is a marker (only
    `id` and `_sg_retired` true, nothing else); the record must not be live on the site."""


def expected_tables(site: Any, entity_type: str, records: Iterable[dict[str, Any]] | None = None) -> Tables:
    """The destination layout of the site's live records of one type."""
    kinds = field_types(site, entity_type)
    out = Tables()
    for record in records if records is not None else site.records(entity_type):
        row: dict[str, Any] = {}
        for name, kind in kinds.items():
            value = record.get(name)
            if kind == "entity":
                row[f"{name}__id"] = value["id"] if value else None
                row[f"{name}__type"] = value["type"] if value else None
                row[f"{name}__name"] = value.get("name") if value else None
            elif kind == "multi_entity":
                links = out.links.setdefault(name, [])
                for idx, link in enumerate(value or []):
                    links.append((record["id"], idx, link["id"], link["type"], link.get("name")))
            else:
                row[name] = normalize(kind, value)
        row["id"] = record["id"]
        out.root[record["id"]] = row
    return out


def retired_since(site: Any, entity_type: str, start: Any) -> set[int]:
    """Records of one type that the site retired at or after `start` (by their retirement events in
    the event log) and that are retired still: what a load reading the event log from `start` flags."""
    since = _utc(start)
    named = {
        event["meta"]["entity_id"]
        for event in site.records("EventLogEntry")
        if event["event_type"] == f"Shotgun_{entity_type}_Retirement" and _utc(event["created_at"]) >= since
    }
    return named & {record["id"] for record in site.records(entity_type, retired=True)}


HISTORY_DAYS = 30
"""How far back a first run reads field history by default (the source's `history_since`)."""


def status_fields(site: Any, entity_type: str) -> list[str]:
    """The fields the source keeps history of by default: the type's status lists."""
    return sorted(name for name, kind in field_types(site, entity_type).items() if kind == "status_list")


def history_counts(site: Any, entity_types: Iterable[str], start: Any, end: Any) -> dict[str, int]:
    """Rows of `<table>_field_changes` a run reading history over [start, end] brings: one per change
    event of a type's status fields created in it (tables with none are not made)."""
    low, high = _utc(start), _utc(end)
    counts: dict[str, int] = {}
    events = site.records("EventLogEntry")
    for entity_type in entity_types:
        fields = set(status_fields(site, entity_type))
        if not fields or "updated_at" not in field_types(site, entity_type):
            continue
        n = sum(
            1
            for event in events
            if event["event_type"] == f"Shotgun_{entity_type}_Change"
            and event["attribute_name"] in fields
            and low <= _utc(event["created_at"]) <= high
        )
        if n:
            counts[f"{plural_slug(entity_type)}_field_changes"] = n
    return counts


def expected_row_counts(
    site: Any,
    entity_types: Iterable[str],
    retired: dict[str, set[int]] | None = None,
    changed_since: dict[str, Any] | None = None,
    history: tuple[Any, Any] | None = None,
) -> dict[str, int]:
    """Rows per table of a destination equal to the site: each type's live records plus its
    `retired` ones (soft deletes keep their rows and links), and a link table per multi-entity field
    that holds any link (`<table>__<field>`, one row per link). With `changed_since` (a moment per
    type), only the live records changed at or after it: what an incremental run from there loads.
    With `history` ([start, end]), the field-history rows of status changes made in it."""
    entity_types = list(entity_types)
    counts: dict[str, int] = dict(history_counts(site, entity_types, *history)) if history else {}
    for entity_type in entity_types:
        kept = (retired or {}).get(entity_type, set())
        records = site.records(entity_type)
        if changed_since and entity_type in changed_since:
            start = _utc(changed_since[entity_type])
            records = [r for r in records if _utc(r["updated_at"]) >= start]
        records += [r for r in site.records(entity_type, retired=True) if r["id"] in kept]
        tables = expected_tables(site, entity_type, records)
        table = plural_slug(entity_type)
        counts[table] = len(tables.root)
        counts.update({f"{table}__{name}": len(rows) for name, rows in tables.links.items() if rows})
    return counts


def first_load_flags(
    site: Any, entity_types: Iterable[str], window_end: str, lookback_seconds: int
) -> dict[str, set[int]]:
    """The retired records a first load keeps, flagged, with soft deletes: a run reads the event log
    from where the last one stopped less the lookback, and a first run from its own window end
    (`window_end`, as ShotGrid writes it), so the ones retired within the lookback before it."""
    start = _utc(window_end) - dt.timedelta(seconds=lookback_seconds)
    return {entity_type: retired_since(site, entity_type, start) for entity_type in entity_types}


def newest_change(site: Any, entity_type: str) -> str:
    """The newest `updated_at` among the site's live records of one type, as ShotGrid writes it: the
    cursor a load that read every live record leaves."""
    newest = max(_utc(record["updated_at"]) for record in site.records(entity_type))
    return newest.strftime("%Y-%m-%dT%H:%M:%SZ")


Readable = dlt.Pipeline | dlt.Dataset
"""Where to read a destination: a pipeline's dataset, or a dataset opened by itself."""


def _dataset(where: Readable) -> dlt.Dataset:
    return where.dataset() if isinstance(where, dlt.Pipeline) else where


def _read(where: Readable, table: str) -> list[dict[str, Any]]:
    """Rows as the destination's own driver returns them. Not through arrow: it turns a json column
    of dicts into one struct with every key any row has, so `{"a": 1}` would come back as
    `{"a": 1, "b": None}` from PostgreSQL's jsonb."""
    relation = _dataset(where)[table]
    names = list(relation.columns)
    return [dict(zip(names, row, strict=True)) for row in relation.fetchall()]


def raw_row_count(where: Readable, table: str) -> int:
    """Rows the destination holds in `table`, every load's rows of an append-only destination included."""
    relation = _dataset(where)[table]
    return len(relation.select(next(iter(relation.columns))).fetchall())


def _newest_rows(rows: list[dict[str, Any]], out: Tables) -> list[dict[str, Any]]:
    """Per id, the row of the newest load; more rows of one id in that load are duplicates."""
    newest: dict[int, dict[str, Any]] = {}
    for row in rows:
        kept = newest.get(row["id"])
        if kept is None or row["_dlt_load_id"] > kept["_dlt_load_id"]:
            newest[row["id"]] = row
        elif row["_dlt_load_id"] == kept["_dlt_load_id"]:
            out.duplicates.append(row["id"])
    out.superseded = len(rows) - len(newest) - len(out.duplicates)
    return list(newest.values())


def _is_delete_marker(row: dict[str, Any]) -> bool:
    return all(value is None for name, value in row.items() if not name.startswith("_") and name != "id")


def destination_tables(
    where: Readable, entity_type: str, kinds: dict[str, str], latest_row_per_id: bool = False
) -> Tables:
    """The same layout read back from the destination (the newest load's row per id when asked)."""
    table = plural_slug(entity_type)
    out = Tables()
    rows = _read(where, table)
    every_dlt_id = {row.get("_dlt_id") for row in rows}
    if latest_row_per_id:
        rows = _newest_rows(rows, out)
    dlt_id_to_id: dict[str, int] = {}
    for row in rows:
        if row["id"] in out.root or row["id"] in out.retired:
            out.duplicates.append(row["id"])
        if "_dlt_id" in row:
            dlt_id_to_id[row["_dlt_id"]] = row["id"]
        values: dict[str, Any] = {"id": row["id"]}
        for name, kind in kinds.items():
            if kind == "entity":
                for part in ("id", "type", "name"):
                    values[f"{name}__{part}"] = row.get(f"{name}__{part}")
            elif kind != "multi_entity":
                values[name] = normalize(kind, row.get(name))
        if row.get(RETIRED_FLAG) and latest_row_per_id and _is_delete_marker(row):
            out.deleted.add(row["id"])
        elif row.get(RETIRED_FLAG):
            out.retired[row["id"]] = values
        else:
            out.root[row["id"]] = values
    existing = _dataset(where).schema.tables
    # the newest load of each record (on append-only destinations, its links are that load's)
    load_of = {row["id"]: row.get("_dlt_load_id") for row in rows}
    for name, kind in kinds.items():
        child = f"{table}__{name}"
        if kind != "multi_entity" or child not in existing:
            continue
        links = out.links.setdefault(name, [])
        if "parent_id" in existing[child]["columns"]:
            # link tables of their own, joined on the parent's ShotGrid id
            for link in _read(where, child):
                if link.get("_sg_link_marker"):
                    out.stored_markers.append((child, link["parent_id"]))
                    continue
                if latest_row_per_id and link.get("_dlt_load_id") != load_of.get(link["parent_id"]):
                    continue  # a link of an older load of the record (files keep every load's rows)
                if link["parent_id"] not in load_of:
                    out.orphans.append((child, link["parent_id"]))
                    continue
                links.append(
                    (link["parent_id"], link["list_idx"], link["id"], link["type"], link.get("name"))
                )
            continue
        # dlt's own child tables (the declarative rest_api config), joined on dlt's row ids
        for link in _read(where, child):
            parent = dlt_id_to_id.get(link["_dlt_parent_id"])
            if parent is None:
                # only an append-only destination keeps child rows of superseded root rows
                assert link["_dlt_parent_id"] in every_dlt_id, f"orphan row in {child}: {link}"
                continue
            links.append((parent, link["_dlt_list_idx"], link["id"], link["type"], link.get("name")))
    return out


@dataclass
class Comparison:
    entity_type: str
    compared: int
    missing: list[int]
    extra: list[int]
    different: list[str]
    duplicates: list[int]
    superseded: int = 0
    """Rows an append-only destination holds besides the newest per id (with `latest_row_per_id`)."""

    def problems(self) -> list[str]:
        out = []
        if self.missing:
            out.append(f"{self.entity_type}: {len(self.missing)} missing ids, e.g. {self.missing[:5]}")
        if self.extra:
            out.append(f"{self.entity_type}: {len(self.extra)} unexpected ids, e.g. {self.extra[:5]}")
        if self.duplicates:
            out.append(f"{self.entity_type}: duplicated ids {self.duplicates[:5]}")
        out.extend(self.different[:10])
        return out


def compare_entity(
    where: Readable,
    site: Any,
    entity_type: str,
    allow_extra: Iterable[int] = (),
    latest_row_per_id: bool = False,
) -> Comparison:
    kinds = field_types(site, entity_type)
    expected = expected_tables(site, entity_type)
    actual = destination_tables(where, entity_type, kinds, latest_row_per_id)
    missing = sorted(set(expected.root) - set(actual.root))
    extra = sorted(set(actual.root) - set(expected.root) - set(allow_extra))
    different: list[str] = []
    columns = column_kinds(kinds)
    for record_id in sorted(set(expected.root) & set(actual.root)):
        want, got = expected.root[record_id], actual.root[record_id]
        for column, value in want.items():
            if not _same(columns[column], value, got.get(column)):
                different.append(
                    f"{entity_type} {record_id}.{column}: site {value!r} != destination {got.get(column)!r}"
                )
    for name, rows in expected.links.items():
        live = set(expected.root)
        want_links = sorted(r for r in rows if r[0] in live)
        got_links = sorted(r for r in actual.links.get(name, []) if r[0] in live)
        if want_links != got_links:
            diff = sorted(set(want_links) ^ set(got_links))[:5]
            different.append(
                f"{entity_type}.{name} links differ ({len(want_links)} vs {len(got_links)}), e.g. {diff}"
            )
    for child, parent in actual.orphans[:5]:
        different.append(f"{child} holds links of {parent}, which is not in the destination")
    for child, parent in actual.stored_markers[:5]:
        different.append(f"{child} stored a marker row of {parent} (markers only clear old links)")
    for record_id in sorted(actual.deleted & set(expected.root)):
        different.append(f"{entity_type} {record_id} is deleted (a marker row) but is live on the site")
    if actual.retired:
        # soft deletes: a flagged row must be retired on the site and hold its values
        on_site = expected_tables(site, entity_type, site.records(entity_type, retired=True)).root
        for record_id, got in sorted(actual.retired.items()):
            retired_record = on_site.get(record_id)
            if retired_record is None:
                different.append(
                    f"{entity_type} {record_id} is flagged retired but is not retired on the site"
                )
                continue
            for column, value in retired_record.items():
                if not _same(columns[column], value, got.get(column)):
                    different.append(
                        f"{entity_type} {record_id} (retired).{column}: site {value!r}"
                        f" != destination {got.get(column)!r}"
                    )
    return Comparison(
        entity_type, len(expected.root), missing, extra, different, actual.duplicates, actual.superseded
    )


def assert_destination_matches_site(
    where: Readable,
    site: Any,
    entity_types: Iterable[str],
    allow_extra: Iterable[int] = (),
    latest_row_per_id: bool = False,
) -> dict[str, int]:
    """Every live record of each type is in the destination exactly once with the site's values.

    `allow_extra`: ids that may be there although not live (records retired after they loaded).
    `latest_row_per_id`: the destination only appends, so compare the newest load's row of each id.
    Rows flagged `_sg_retired` (soft deletes) must be retired on the site, with its values.

    Returns the number of rows compared per entity type (for closing notes and benchmarks).
    """
    problems: list[str] = []
    counts: dict[str, int] = {}
    allowed = set(allow_extra)
    for entity_type in entity_types:
        result = compare_entity(where, site, entity_type, allowed, latest_row_per_id)
        counts[entity_type] = result.compared
        problems.extend(result.problems())
    assert not problems, "destination differs from the site:\n  " + "\n  ".join(problems)
    return counts


Contents = dict[str, tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[int]]]


def destination_contents(
    where: Readable, site: Any, entity_types: Iterable[str], latest_row_per_id: bool = False
) -> Contents:
    """What the destination holds per entity type, without dlt's bookkeeping and in comparable form:
    (root rows, link rows, ids flagged retired), each sorted. Equal before and after a run that
    changed nothing, and between two destinations loaded from the same site."""
    out: Contents = {}
    for entity_type in entity_types:
        tables = destination_tables(where, entity_type, field_types(site, entity_type), latest_row_per_id)
        root = sorted((tuple(sorted(row.items())) for row in tables.root.values()), key=repr)
        links = sorted((name, *link) for name, rows in tables.links.items() for link in rows)
        out[entity_type] = (root, links, sorted(tables.retired))
    return out
