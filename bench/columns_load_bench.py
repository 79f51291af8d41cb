"""dlt 1.31 loading the Arrow tables of `shotgun_source.columns` vs today's dict rows.

    python bench/columns_load_bench.py                  # scale 5: Project, Shot, Task, Asset, Version
    python bench/columns_load_bench.py --scale 10 --only duckdb-arrow,postgres-arrow-csv

Pages are read from a sandbox first (seed 1; a few descriptions set to "" so empty strings can
be checked), so each run measures dlt and the conversion, not HTTP. Every scenario loads the same
pages into a fresh dataset, then changes the site (some rows updated, link lists emptied and
shrunk) and loads the changed records again as a merge. It prints extract / normalize / load
seconds of the first run, and checks after the second: rows per table equal the site's, link
rows equal the site's, empty strings still empty strings, `_dlt_load_id` the id of the load that
wrote the row, the type of a json column.

Scenarios: DuckDB (dicts as today: parquet; Arrow: parquet), PostgreSQL (dicts: insert_values;
Arrow: insert_values, csv, and parquet through ADBC when `adbc-driver-postgresql` is installed),
filesystem parquet (Arrow; no marker rows: it only appends).

`_dlt_load_id` is stamped by the resource from `dlt.current.load_package_state()["load_id"]`
inside dlt's extract thread pool (`parallelized=True`); the Arrow tables carry no `_dlt_id`.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dlt
import orjson
import requests

from shotgun_source.columns import PageConverter, dlt_items, link_table_hints, root_table_hints
from shotgun_source.deletes import live_row_marks, retirement_columns
from shotgun_source.records import RecordFlattener
from shotgun_source.sandbox import Sandbox
from shotgun_source.schema import MULTI_ENTITY, EntitySchema

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from postgres_server import running_postgres  # noqa: E402

TYPES = ("Project", "Shot", "Task", "Asset", "Version")
SEARCH = "application/vnd+shotgun.api3_array+json"
EMPTY_DESCRIPTIONS = 25
"""Versions whose description is set to "" on the site: each must load as "", not NULL."""


# the pages -------------------------------------------------------------------------------------
class Reader:
    """Plain requests: token, schema, every page of a type (optionally only some ids)."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.url = sandbox.url
        self.session = requests.Session()
        answer = self.session.post(
            f"{self.url}/api/v1/auth/access_token",
            data={
                "grant_type": "client_credentials",
                "client_id": sandbox.script_name,
                "client_secret": sandbox.script_key,
            },
            timeout=60,
        )
        answer.raise_for_status()
        self.session.headers.update(
            {"Authorization": f"Bearer {answer.json()['access_token']}", "Content-Type": SEARCH}
        )

    def schema(self, entity_type: str) -> EntitySchema:
        data = self.session.get(f"{self.url}/api/v1/schema/{entity_type}/fields", timeout=60).json()["data"]
        return EntitySchema.from_fields_response(entity_type, data)

    def pages(self, entity_type: str, ids: Sequence[int] | None = None, page_size: int = 2000) -> list[bytes]:
        bodies, after = [], 0
        filters: list[Any] = [["id", "in", list(ids)]] if ids is not None else []
        for _ in range(10_000):
            body = {
                "filters": [*filters, ["id", "greater_than", after]],
                "fields": "*",
                "sort": "id",
                "page": {"number": 1, "size": page_size},
                "options": {"include_archived_projects": True},
            }
            answer = self.session.post(
                f"{self.url}/api/v1/entity/{entity_type}/_search", data=orjson.dumps(body), timeout=300
            )
            answer.raise_for_status()
            data = orjson.loads(answer.content)["data"]
            if data:
                bodies.append(answer.content)
            if len(data) < page_size:
                return bodies
            after = data[-1]["id"]
        raise RuntimeError("too many pages")


@dataclass
class Site:
    """What the scenarios load and check against: pages before and after the changes, and truth."""

    schemas: dict[str, EntitySchema]
    first: dict[str, list[bytes]]
    second: dict[str, list[bytes]]
    rows: dict[str, int]
    links: dict[str, set[tuple[int, int, int]]]
    empty_descriptions: set[int]


def prepare(scale: float) -> Site:
    with Sandbox(seed=1, scale=scale) as sandbox:
        site = sandbox.site
        empty = {r["id"] for r in site.records("Version")[:EMPTY_DESCRIPTIONS]}
        for version_id in empty:
            site.update("Version", version_id, {"description": ""})
        reader = Reader(sandbox)
        schemas = {t: reader.schema(t) for t in TYPES}
        first = {t: reader.pages(t) for t in TYPES}
        changed: dict[str, set[int]] = {t: set(site.mutate(t, 0.05, seed=7)) for t in TYPES}
        with_lists = [r for r in site.records("Version") if len(r["playlists"]) >= 2][:40]
        for i, record in enumerate(with_lists):
            keep = [] if i % 2 else [{"type": "Playlist", "id": record["playlists"][-1]["id"]}]
            site.update("Version", record["id"], {"playlists": keep})
            changed["Version"].add(record["id"])
        second = {t: reader.pages(t, sorted(ids)) if ids else [] for t, ids in changed.items()}
        links = {}
        for entity_type, schema in schemas.items():
            for name in schema.fields_of_type(MULTI_ENTITY):
                links[f"{schema.table_name}__{name}"] = {
                    (r["id"], i, link["id"])
                    for r in site.records(entity_type)
                    for i, link in enumerate(r[name] or [])
                }
        rows = {schemas[t].table_name: len(site.records(t)) for t in TYPES}
        empty_now = {r["id"] for r in site.records("Version") if r["description"] == ""}
        return Site(schemas, first, second, rows, links, empty_now)


# resources -------------------------------------------------------------------------------------
def arrow_reader(
    bodies: list[bytes],
    converter: PageConverter,
    root: dict[str, Any],
    links: dict[str, dict[str, Any]],
    markers: bool,
) -> Callable[[], Iterator[Any]]:
    def read() -> Iterator[Any]:
        load_id = dlt.current.load_package_state()["load_id"]
        for body in bodies:
            yield from dlt_items(converter.convert(body, load_id=load_id, markers=markers), root, links)

    return read


def dict_reader(
    bodies: list[bytes], flatten: RecordFlattener
) -> Callable[[], Iterator[list[dict[str, Any]]]]:
    def read() -> Iterator[list[dict[str, Any]]]:
        for body in bodies:
            yield [flatten(record) for record in orjson.loads(body)["data"]]

    return read


def arrow_resources(
    site: Site, pages: dict[str, list[bytes]], markers: bool, file_format: str | None
) -> list[Any]:
    resources = []
    for entity_type, schema in site.schemas.items():
        marks = retirement_columns("soft")
        converter = PageConverter(schema, live_row_marks("soft"), marks)
        root = root_table_hints(schema, marks)
        links = link_table_hints(schema, markers=markers)
        if file_format:
            root = {**root, "file_format": file_format}
            links = {name: {**h, "file_format": file_format} for name, h in links.items()}

        read = arrow_reader(pages[entity_type], converter, root, links, markers)
        resources.append(
            dlt.resource(
                read, name=schema.table_name, primary_key="id", write_disposition="merge", parallelized=True
            )
        )
    return resources


def dict_resources(site: Site, pages: dict[str, list[bytes]]) -> list[Any]:
    """Today's path: a parsed page, RecordFlattener per record, dlt's relational normalizer."""
    resources = []
    for entity_type, schema in site.schemas.items():
        flatten = RecordFlattener(schema, marks=live_row_marks("soft"))

        read = dict_reader(pages[entity_type], flatten)
        resources.append(
            dlt.resource(
                read,
                name=schema.table_name,
                primary_key="id",
                write_disposition="merge",
                columns={**schema.column_hints(), **retirement_columns("soft")},
                nested_hints=schema.nested_hints(),
                max_table_nesting=1,
                parallelized=True,
            )
        )
    return resources


# scenarios --------------------------------------------------------------------------------------
@dataclass
class Scenario:
    name: str
    destination: Callable[[Path], Any]
    items: str  # "arrow" or "dicts"
    loader_file_format: str | None = None
    file_format: str | None = None
    markers: bool = True
    append_only: bool = False


@dataclass
class Result:
    scenario: Scenario
    steps: dict[str, float] = field(default_factory=dict)
    checks: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    types: dict[tuple[str, str], str] = field(default_factory=dict)


class HintNoise(logging.Filter):
    """Counts (and hides) dlt's per-page warning about a json hint on an Arrow string column, and
    hides the filesystem destination's note that merge falls back to append (one per table)."""

    text = "several column hints were different"
    quiet = ("Falling back to `append`", "A ArrowToInsertValuesWriter writer is used")

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.text in message:
            self.count += 1
            return False
        return not any(q in message for q in self.quiet)


def step_seconds(pipeline: dlt.Pipeline) -> dict[str, float]:
    trace = pipeline.last_trace
    out = {}
    for step in trace.steps:
        if step.step in ("extract", "normalize", "load") and step.finished_at and step.started_at:
            out[step.step] = (step.finished_at - step.started_at).total_seconds()
    return out


def run_scenario(scenario: Scenario, site: Site, workdir: Path) -> Result:
    result = Result(scenario)
    pipeline = dlt.pipeline(
        f"bench_{scenario.name.replace('-', '_')}",
        destination=scenario.destination(workdir),
        pipelines_dir=str(workdir / "pipelines"),
        dataset_name=f"b_{scenario.name.replace('-', '_')}",
        dev_mode=True,
    )

    def resources(pages: dict[str, list[bytes]]) -> list[Any]:
        if scenario.items == "arrow":
            return arrow_resources(site, pages, scenario.markers, scenario.file_format)
        return dict_resources(site, pages)

    options = {"loader_file_format": scenario.loader_file_format} if scenario.loader_file_format else {}
    started = time.perf_counter()
    pipeline.run(resources(site.first), **options)
    result.steps = {"total": time.perf_counter() - started, **step_seconds(pipeline)}
    pipeline.run(resources({t: p for t, p in site.second.items() if p}), **options)
    check(pipeline, scenario, site, result)
    return result


def check(pipeline: dlt.Pipeline, scenario: Scenario, site: Site, result: Result) -> None:
    dataset = pipeline.dataset()
    loads = {row[0] for row in dataset["_dlt_loads"].select("load_id").fetchall()}
    for table, count in site.rows.items():
        relation = dataset[table]
        ids = [row[0] for row in relation.select("id").fetchall()]
        distinct = len(set(ids))
        ok = distinct == count if scenario.append_only else len(ids) == distinct == count
        if not ok:
            result.problems.append(f"{table}: {len(ids)} rows, {distinct} ids, site {count}")
        stamped = {row[0] for row in relation.select("_dlt_load_id").fetchall()}
        if not stamped <= loads:
            result.problems.append(f"{table}: _dlt_load_id not of a load: {sorted(stamped - loads)[:2]}")
    result.checks.append("rows")
    for table, want in site.links.items():
        if scenario.items == "arrow":
            rows = dataset[table].select("parent_id", "list_idx", "id").fetchall()
            if scenario.append_only:
                continue  # appended, not merged: the newest copy per parent is the reader's to pick
            got = {tuple(r) for r in rows}
            markers = dataset[table].select("_sg_link_marker").fetchall()
            if any(m[0] for m in markers):
                result.problems.append(f"{table}: marker rows stored")
        else:
            parents = dict(dataset[table.split("__")[0]].select("_dlt_id", "id").fetchall())
            rows = dataset[table].select("_dlt_parent_id", "_dlt_list_idx", "id").fetchall()
            got = {(parents[p], i, link) for p, i, link in rows if p in parents}
        if got != want:
            result.problems.append(f"{table}: links differ ({len(got)} vs site {len(want)})")
    result.checks.append(
        "links (appended)" if scenario.append_only and scenario.items == "arrow" else "links"
    )
    descriptions = dict(dataset["versions"].select("id", "description").fetchall())
    kept = sum(1 for i in site.empty_descriptions if descriptions.get(i) == "")
    if kept != len(site.empty_descriptions):
        result.problems.append(f'"" kept as "" in {kept} of {len(site.empty_descriptions)} descriptions')
    result.checks.append('""')
    result.types = column_types(pipeline, list(site.rows))
    kind = result.types.get(("versions", "sg_uploaded_movie"))
    result.checks.append(f"json column {kind or 'n/a'}")


def column_types(pipeline: dlt.Pipeline, tables: list[str]) -> dict[tuple[str, str], str]:
    """(table, column) -> the destination's type name, for the root tables (SQL destinations)."""
    names = ", ".join(f"'{t}'" for t in tables)
    with pipeline.sql_client() as client:
        try:
            rows = client.execute_sql(
                "select table_name, column_name, data_type from information_schema.columns"
                f" where table_schema = '{pipeline.dataset_name}' and table_name in ({names})"
            )
        except Exception:
            return {}
    return {(t, c): str(d) for t, c, d in rows or []}


def type_differences(types: dict[tuple[str, str], str], today: dict[tuple[str, str], str]) -> str:
    """Root-table columns whose type differs from today's dict load (dlt's own columns left out)."""
    skip = ("_dlt_id", "_dlt_load_id")
    diff = sorted(
        f"{t}.{c} {today.get((t, c), '-')}->{types.get((t, c), '-')}"
        for t, c in set(types) | set(today)
        if c not in skip and types.get((t, c)) != today.get((t, c))
    )
    return "types as today" if not diff else f"types differ: {', '.join(diff[:6])}"


def scenarios(postgres: Any, adbc: bool) -> list[Scenario]:
    duckdb = lambda w: dlt.destinations.duckdb(str(w / "bench.duckdb"))  # noqa: E731
    out = [
        Scenario("duckdb-dicts", duckdb, "dicts", loader_file_format="parquet"),
        Scenario("duckdb-arrow", duckdb, "arrow"),
    ]
    if postgres is not None:
        pg = lambda w: dlt.destinations.postgres(credentials=postgres.dlt_credentials())  # noqa: E731
        out += [
            Scenario("postgres-dicts", pg, "dicts", loader_file_format="insert_values"),
            Scenario("postgres-arrow-insert", pg, "arrow", loader_file_format="insert_values"),
            Scenario("postgres-arrow-csv", pg, "arrow", loader_file_format="csv"),
        ]
        if adbc:
            out.append(Scenario("postgres-arrow-adbc", pg, "arrow", file_format="parquet"))
    out.append(
        Scenario(
            "filesystem-arrow",
            lambda w: dlt.destinations.filesystem(bucket_url=(w / "files").as_uri()),
            "arrow",
            loader_file_format="parquet",
            markers=False,
            append_only=True,
        )
    )
    return out


def has_adbc() -> bool:
    try:
        import adbc_driver_postgresql  # noqa: F401
    except ImportError:
        return False
    return True


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--scale", type=float, default=5.0)
    p.add_argument("--only", default="", help="comma-separated scenario names")
    args = p.parse_args(argv)
    noise = HintNoise()
    logging.getLogger("dlt").addFilter(noise)
    site = prepare(args.scale)
    total_rows = sum(site.rows.values())
    pages = sum(len(b) for b in site.first.values())
    print(f"sandbox scale {args.scale:g}: {total_rows} rows in {pages} pages of {', '.join(TYPES)}")
    workdir = Path(tempfile.mkdtemp(prefix="columns-load-"))
    try:
        with running_postgres() as postgres:
            wanted = {s for s in args.only.split(",") if s}
            today: dict[str, dict[tuple[str, str], str]] = {}
            for scenario in scenarios(postgres, has_adbc()):
                if wanted and scenario.name not in wanted:
                    continue
                before = noise.count
                result = run_scenario(scenario, site, workdir / scenario.name)
                family = scenario.name.split("-")[0]
                if scenario.items == "dicts":
                    today[family] = result.types
                elif result.types and family in today:
                    result.checks.append(type_differences(result.types, today[family]))
                s = result.steps
                print(
                    f"{scenario.name:22} {s['total']:6.2f} s  (extract {s.get('extract', 0):5.2f}"
                    f" / normalize {s.get('normalize', 0):5.2f} / load {s.get('load', 0):5.2f})"
                    f"  {total_rows / s['total']:8,.0f} rows/s  hint warnings {noise.count - before:3}"
                    f"  checks: {', '.join(result.checks)}"
                    + ("" if not result.problems else "\n    PROBLEMS: " + "; ".join(result.problems))
                )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
