"""One comparison of any destination against the sandbox's ground truth, row for row, field for field.

It maps the sandbox's own records and field types to the destination layout with code of its
own (not the source's flattening), so a mistake in the source cannot agree with itself here.
Works for every destination `pipeline.dataset()` can read: DuckDB, PostgreSQL, filesystem parquet.
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
        return bool(value)
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


def _read(pipeline: dlt.Pipeline, table: str) -> list[dict[str, Any]]:
    return list(pipeline.dataset()[table].arrow().to_pylist())


def destination_tables(pipeline: dlt.Pipeline, entity_type: str, kinds: dict[str, str]) -> Tables:
    """The same layout read back from the destination."""
    table = plural_slug(entity_type)
    out = Tables()
    dlt_id_to_id: dict[str, int] = {}
    existing = set(pipeline.default_schema.tables)
    for row in _read(pipeline, table):
        if row["id"] in out.root:
            out.duplicates.append(row["id"])
        dlt_id_to_id[row["_dlt_id"]] = row["id"]
        values: dict[str, Any] = {"id": row["id"]}
        for name, kind in kinds.items():
            if kind == "entity":
                for part in ("id", "type", "name"):
                    values[f"{name}__{part}"] = row.get(f"{name}__{part}")
            elif kind != "multi_entity":
                values[name] = normalize(kind, row.get(name))
        out.root[row["id"]] = values
    for name, kind in kinds.items():
        child = f"{table}__{name}"
        if kind != "multi_entity" or child not in existing:
            continue
        rows = out.links.setdefault(name, [])
        for link in _read(pipeline, child):
            parent = dlt_id_to_id.get(link["_dlt_parent_id"])
            assert parent is not None, f"orphan row in {child}: {link}"
            rows.append((parent, link["_dlt_list_idx"], link["id"], link["type"], link.get("name")))
    return out


@dataclass
class Comparison:
    entity_type: str
    compared: int
    missing: list[int]
    extra: list[int]
    different: list[str]
    duplicates: list[int]

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
    pipeline: dlt.Pipeline, site: Any, entity_type: str, allow_extra: Iterable[int] = ()
) -> Comparison:
    kinds = field_types(site, entity_type)
    expected = expected_tables(site, entity_type)
    actual = destination_tables(pipeline, entity_type, kinds)
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
    return Comparison(entity_type, len(expected.root), missing, extra, different, actual.duplicates)


def assert_destination_matches_site(
    pipeline: dlt.Pipeline, site: Any, entity_types: Iterable[str], allow_extra: Iterable[int] = ()
) -> dict[str, int]:
    """Every live record of each type is in the destination exactly once with the site's values.

    Returns the number of rows compared per entity type (for closing notes and benchmarks).
    """
    problems: list[str] = []
    counts: dict[str, int] = {}
    allowed = set(allow_extra)
    for entity_type in entity_types:
        result = compare_entity(pipeline, site, entity_type, allowed)
        counts[entity_type] = result.compared
        problems.extend(result.problems())
    assert not problems, "destination differs from the site:\n  " + "\n  ".join(problems)
    return counts
