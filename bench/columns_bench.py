"""Ways to turn ShotGrid `_search` pages into Arrow tables, on real sandbox pages.

    python bench/columns_bench.py                 # scale 5, up to 3 pages of 2000 per type
    python bench/columns_bench.py --scale 10 --pages 5 --repeat 5

Starts a sandbox (seed 1), reads pages of Version, Shot, Task, Asset, Project, EventLogEntry
(and CustomEntity01, which has every data type) with plain `requests`, keyset paging at page size
2000, keeps the raw bytes, then converts them with each method:

- `orjson`          orjson.loads only: what a plain client pays to parse (no columns at all)
- `orjson+columns`  orjson.loads, then one list comprehension and typed `pa.array` per column
- `orjson+struct`   orjson.loads, `pa.array(page, wire struct type)`, `pc.struct_field`, casts
- `pyarrow.json`    `pyarrow.json.read_json` on the bytes with an explicit schema; free-form
                    fields (serializable, url, summary...) cannot be read as JSON text: left out
- `duckdb`          `json_transform_strict` over the bytes, free-form fields as DuckDB JSON, to Arrow
- `msgspec`         `shotgun_source.columns.PageConverter`: typed msgspec structs, then columns

Prints rows/s per method and type (best of `--repeat`), the Arrow size of the result, whether each
method's tables equal msgspec's (which tests/source/test_columns.py checks against the sandbox's
ground truth), and whether it refuses values of the wrong JSON type (1.5 in a number field, 1 in
a checkbox, 5 in a text field) or stores something else silently.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json
import requests

from shotgun_source.columns import COMPUTED_TYPES, PageConverter
from shotgun_source.deletes import live_row_marks
from shotgun_source.sandbox import Sandbox
from shotgun_source.schema import COLUMN_TYPES, EntitySchema

TYPES = ("Version", "Shot", "Task", "Asset", "Project", "EventLogEntry", "CustomEntity01")
SEARCH = "application/vnd+shotgun.api3_array+json"
LINK = pa.struct([("id", pa.int64()), ("type", pa.string()), ("name", pa.string())])
CAST_ROLES = ("float", "decimal", "date", "timestamp")
Tables = tuple[pa.Table, dict[str, pa.Table]]


# the pages -------------------------------------------------------------------------------------
def fetch(sandbox: Sandbox, types: Sequence[str], max_pages: int, page_size: int) -> dict[str, Any]:
    """{type: (EntitySchema, [raw bodies])} read with plain requests, keyset by id."""
    session = requests.Session()
    answer = session.post(
        f"{sandbox.url}/api/v1/auth/access_token",
        data={
            "grant_type": "client_credentials",
            "client_id": sandbox.script_name,
            "client_secret": sandbox.script_key,
        },
        timeout=60,
    )
    answer.raise_for_status()
    session.headers.update(
        {"Authorization": f"Bearer {answer.json()['access_token']}", "Content-Type": SEARCH}
    )
    out: dict[str, Any] = {}
    for entity_type in types:
        fields = session.get(f"{sandbox.url}/api/v1/schema/{entity_type}/fields", timeout=60).json()["data"]
        schema = EntitySchema.from_fields_response(entity_type, fields)
        bodies: list[bytes] = []
        after = 0
        while len(bodies) < max_pages:
            body = {
                "filters": [["id", "greater_than", after]],
                "fields": "*",
                "sort": "id",
                "page": {"number": 1, "size": page_size},
                "options": {"include_archived_projects": True},
            }
            page = session.post(
                f"{sandbox.url}/api/v1/entity/{entity_type}/_search", data=orjson.dumps(body), timeout=300
            )
            page.raise_for_status()
            data = orjson.loads(page.content)["data"]
            if not data:
                break
            bodies.append(page.content)
            after = data[-1]["id"]
            if len(data) < page_size:
                break
        out[entity_type] = (schema, bodies)
    session.close()
    return out


# what every method needs to know about a type ------------------------------------------------------
class Plan:
    """The schema's fields by role, as the converter sees them (read from its own field list)."""

    def __init__(self, schema: EntitySchema) -> None:
        converter = PageConverter(schema)
        self.schema = schema
        self.columns = [(c.name, c.role, c.arrow_type) for c in converter.columns]
        self.entity_links = converter.entity_links
        self.multi_links = converter.multi_links
        self.link_tables = converter.link_tables


def _dumps(value: Any) -> bytes | None:
    return None if value is None else orjson.dumps(value)


def _any(value: Any) -> str | bytes | None:
    return value if value is None or type(value) is str else orjson.dumps(value)


def _links_from_lists(ids: pa.Array, lists: pa.Array) -> pa.Table:
    """Link rows of a list<struct<id,type,name>> column (markers left out: not what is compared)."""
    flat = lists.flatten()
    parents = pc.list_parent_indices(lists)
    start = lists.offsets[0].as_py()
    positions = pc.subtract(
        pa.array(range(start, start + len(flat)), pa.int64()),
        pc.take(lists.offsets, parents).cast(pa.int64()),
    )
    return pa.table(
        {
            "parent_id": pc.take(ids, parents),
            "list_idx": positions,
            "id": pc.struct_field(flat, "id"),
            "type": pc.struct_field(flat, "type"),
            "name": pc.struct_field(flat, "name"),
        }
    )


# the methods -------------------------------------------------------------------------------------
def orjson_only(plan: Plan, body: bytes) -> Tables:
    orjson.loads(body)
    return pa.table({}), {}


def orjson_columns(plan: Plan, body: bytes) -> Tables:
    data = orjson.loads(body)["data"]
    ids = pa.array([r["id"] for r in data], pa.int64())
    attributes = [r["attributes"] for r in data]
    relationships = [r.get("relationships") or {} for r in data]
    cols: dict[str, pa.Array] = {"id": ids}
    for name, role, arrow_type in plan.columns:
        values = [a.get(name) for a in attributes]
        if role == "json":
            cols[name] = pa.array([_dumps(v) for v in values], pa.string())
        elif role == "any":
            cols[name] = pa.array([_any(v) for v in values], pa.string())
        elif role in CAST_ROLES:
            cols[name] = pa.array(values, pa.string()).cast(arrow_type)
        else:
            cols[name] = pa.array(values, arrow_type)
    for name in plan.entity_links:
        links = [(r.get(name) or {}).get("data") for r in relationships]
        cols[f"{name}__id"] = pa.array([x and x["id"] for x in links], pa.int64())
        cols[f"{name}__type"] = pa.array([x and x["type"] for x in links], pa.string())
        cols[f"{name}__name"] = pa.array([x and x.get("name") for x in links], pa.string())
    link_tables = {
        plan.link_tables[name]: _links_from_lists(
            ids, pa.array([(r.get(name) or {}).get("data") or [] for r in relationships], pa.list_(LINK))
        )
        for name in plan.multi_links
    }
    return pa.table(cols), link_tables


def wire_struct(plan: Plan) -> pa.DataType:
    attributes = [
        (name, pa.string() if role in CAST_ROLES else arrow_type)
        for name, role, arrow_type in plan.columns
        if role not in ("json", "any")
    ]
    relationships = [(n, pa.struct([("data", LINK)])) for n in plan.entity_links]
    relationships += [(n, pa.struct([("data", pa.list_(LINK))])) for n in plan.multi_links]
    fields = [("id", pa.int64()), ("attributes", pa.struct(attributes))]
    if relationships:
        fields.append(("relationships", pa.struct(relationships)))
    return pa.struct(fields)


def _from_wire(plan: Plan, records: pa.Array, data: list[Any] | None) -> Tables:
    ids = pc.struct_field(records, "id")
    cols: dict[str, pa.Array] = {"id": ids}
    attributes = None
    for name, role, arrow_type in plan.columns:
        if role in ("json", "any"):
            if data is None:
                continue  # pyarrow.json: no way to keep a free-form value as its JSON text
            attributes = attributes or [r["attributes"] for r in data]
            convert = _dumps if role == "json" else _any
            cols[name] = pa.array([convert(a.get(name)) for a in attributes], pa.string())
            continue
        column = pc.struct_field(records, ["attributes", name])
        cols[name] = column.cast(arrow_type) if role in CAST_ROLES else column
    for name in plan.entity_links:
        for part in ("id", "type", "name"):
            cols[f"{name}__{part}"] = pc.struct_field(records, ["relationships", name, "data", part])
    link_tables = {
        plan.link_tables[name]: _links_from_lists(
            ids, pc.struct_field(records, ["relationships", name, "data"])
        )
        for name in plan.multi_links
    }
    return pa.table(cols), link_tables


def orjson_struct(plan: Plan, body: bytes, wire: pa.DataType) -> Tables:
    data = orjson.loads(body)["data"]
    return _from_wire(plan, pa.array(data, wire), data)


def pyarrow_json(plan: Plan, body: bytes, wire: pa.DataType) -> Tables:
    table = pa_json.read_json(
        io.BytesIO(body),
        read_options=pa_json.ReadOptions(block_size=len(body) + 1, use_threads=False),
        parse_options=pa_json.ParseOptions(
            explicit_schema=pa.schema([("data", pa.list_(wire))]), unexpected_field_behavior="ignore"
        ),
    )
    return _from_wire(plan, table.column("data").combine_chunks().flatten(), None)


DUCKDB_TYPES = {
    "str": "VARCHAR",
    "int": "BIGINT",
    "float": "DOUBLE",
    "decimal": "DECIMAL(38,9)",
    "bool": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMPTZ",
    "json": "JSON",
    "any": "VARCHAR",
}


def duckdb_query(plan: Plan) -> str:
    link = {"id": "BIGINT", "type": "VARCHAR", "name": "VARCHAR"}
    record = {
        "id": "BIGINT",
        "attributes": {name: DUCKDB_TYPES[role] for name, role, _ in plan.columns},
        "relationships": {
            **{n: {"data": link} for n in plan.entity_links},
            **{n: {"data": [link]} for n in plan.multi_links},
        },
    }
    select = ["r.id AS id"] + [f'r.attributes."{n}" AS "{n}"' for n, _, _ in plan.columns]
    for n in plan.entity_links:
        select += [f'r.relationships."{n}".data.{p} AS "{n}__{p}"' for p in ("id", "type", "name")]
    select += [f'r.relationships."{n}".data AS "__links__{n}"' for n in plan.multi_links]
    structure = json.dumps({"data": [record]}).replace("'", "''")
    return (
        f"SELECT {', '.join(select)} FROM"
        f" (SELECT unnest(json_transform_strict($1::VARCHAR, '{structure}').data) AS r)"
    )


_duckdb: duckdb.DuckDBPyConnection | None = None


def duckdb_transform(plan: Plan, body: bytes, query: str) -> Tables:
    global _duckdb
    if _duckdb is None:
        _duckdb = duckdb.connect(config={"threads": 1})
        _duckdb.execute("SET TimeZone = 'UTC'")
    result = _duckdb.execute(query, [body.decode()]).arrow()
    table = result.read_all() if hasattr(result, "read_all") else result
    ids = table.column("id").combine_chunks()
    link_tables = {
        plan.link_tables[n]: _links_from_lists(ids, table.column(f"__links__{n}").combine_chunks())
        for n in plan.multi_links
    }
    table = table.drop_columns([f"__links__{n}" for n in plan.multi_links])
    return table, link_tables


def msgspec_converter(plan: Plan, body: bytes, converter: PageConverter) -> Tables:
    page = converter.convert(body, markers=False)
    return page.root, page.links


Method = tuple[str, Callable[[Plan], Callable[[bytes], Tables]]]
METHODS: list[Method] = [
    ("orjson", lambda plan: lambda body: orjson_only(plan, body)),
    ("orjson+columns", lambda plan: lambda body: orjson_columns(plan, body)),
    (
        "orjson+struct",
        lambda plan: (lambda wire: lambda body: orjson_struct(plan, body, wire))(wire_struct(plan)),
    ),
    (
        "pyarrow.json",
        lambda plan: (lambda wire: lambda body: pyarrow_json(plan, body, wire))(wire_struct(plan)),
    ),
    ("duckdb", lambda plan: (lambda q: lambda body: duckdb_transform(plan, body, q))(duckdb_query(plan))),
    (
        "msgspec",
        lambda plan: (lambda c: lambda body: msgspec_converter(plan, body, c))(
            PageConverter(plan.schema, live_row_marks("ignore"))
        ),
    ),
]


# comparing -----------------------------------------------------------------------------------------
def _comparable(kind: str, values: list[Any]) -> list[Any]:
    if (
        kind in COMPUTED_TYPES
        or COLUMN_TYPES.get(kind, {}).get("data_type") == "json"
        or kind not in COLUMN_TYPES
    ):
        out = []
        for v in values:
            try:
                out.append(None if v is None else json.loads(v))
            except ValueError:
                out.append(v)  # a plain string of a computed field
        return out
    if kind == "date_time":
        return [None if v is None else v.timestamp() for v in values]
    return values


def differences(plan: Plan, got: Tables, want: Tables) -> str:
    """'same', or which columns/tables differ or are missing (free-form values compared as JSON)."""
    kinds = {name: kind for name, kind in plan.schema.field_types.items()}
    missing, different = [], []
    for name in want[0].column_names:
        if name not in got[0].column_names:
            missing.append(name)
            continue
        kind = kinds.get(name.rsplit("__", 1)[0] if name not in kinds else name, "text")
        kind = "text" if kind == "entity" else kind
        a, b = got[0].column(name).to_pylist(), want[0].column(name).to_pylist()
        if _comparable(kind, a) != _comparable(kind, b):
            different.append(name)
    link_columns = ["parent_id", "list_idx", "id", "type", "name"]
    for name, table in want[1].items():
        other = got[1].get(name)
        if other is None or other.select(link_columns).to_pylist() != table.select(link_columns).to_pylist():
            different.append(name)
    if not missing and not different:
        return "same"
    parts = []
    if missing:
        parts.append(f"missing {','.join(missing)}")
    if different:
        parts.append(f"differ {','.join(different)}")
    return "; ".join(parts)


def traps(plan: Plan, body: bytes, run: Callable[[bytes], Tables]) -> str:
    """How a method treats values of the wrong JSON type: 'raises' or what it stores."""
    data = orjson.loads(body)
    by_role = {role: name for name, role, _ in reversed(plan.columns)}
    results = []
    for role, value in (("int", 1.5), ("bool", 1), ("str", 5)):
        name = by_role.get(role)
        if name is None:
            continue
        page = json.loads(json.dumps(data))
        page["data"][0]["attributes"][name] = value
        try:
            stored = run(orjson.dumps(page))[0].column(name)[0].as_py()
            results.append(f"{value!r}->{stored!r}")
        except Exception:
            results.append(f"{value!r}:raises")
    return " ".join(results)


# running ------------------------------------------------------------------------------------------
def measure(run: Callable[[bytes], Tables], bodies: list[bytes], repeat: int) -> tuple[float, Tables, int]:
    best, result, nbytes = float("inf"), (pa.table({}), {}), 0
    for _ in range(repeat):
        started = time.perf_counter()
        results = [run(body) for body in bodies]
        best = min(best, time.perf_counter() - started)
        result = results[-1]
        nbytes = sum(r[0].nbytes + sum(t.nbytes for t in r[1].values()) for r in results)
    return best, result, nbytes


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--scale", type=float, default=5.0, help="sandbox scale (default 5)")
    p.add_argument("--pages", type=int, default=3, help="pages of 2000 per type at most (default 3)")
    p.add_argument("--repeat", type=int, default=3, help="runs per method, best counts (default 3)")
    p.add_argument("--types", default=",".join(TYPES), help="comma-separated entity types")
    args = p.parse_args(argv)
    types = [t for t in args.types.split(",") if t]
    with Sandbox(seed=1, scale=args.scale) as sandbox:
        pages = fetch(sandbox, types, args.pages, 2000)
    print(
        f"sandbox seed 1 scale {args.scale:g}; page size 2000; best of {args.repeat};"
        f" pyarrow {pa.__version__},"
        f" duckdb {duckdb.__version__}"
    )
    totals: dict[str, list[float]] = {name: [0.0, 0.0] for name, _ in METHODS}
    for entity_type in types:
        schema, bodies = pages[entity_type]
        plan = Plan(schema)
        rows = sum(len(orjson.loads(b)["data"]) for b in bodies)
        mb = sum(map(len, bodies)) / 1e6
        print(f"\n{entity_type}: {rows} rows in {len(bodies)} pages, {mb:.1f} MB of JSON")
        runs = {name: make(plan) for name, make in METHODS}
        reference = runs["msgspec"](bodies[-1])
        for name, _ in METHODS:
            seconds, result, nbytes = measure(runs[name], bodies, args.repeat)
            totals[name][0] += rows
            totals[name][1] += seconds
            if name == "orjson":
                verdict, trapped = "(parse only)", ""
            else:
                verdict = differences(plan, result, reference)
                trapped = traps(plan, bodies[0], runs[name])
            print(
                f"  {name:15} {rows / seconds:9,.0f} rows/s  {seconds * 1000:7.1f} ms"
                f"  arrow {nbytes / 1e6:6.1f} MB  {verdict:<12.60} {trapped}"
            )
    print("\nall types")
    for name, (rows, seconds) in totals.items():
        print(f"  {name:15} {rows / seconds:9,.0f} rows/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
