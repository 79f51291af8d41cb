"""Speed benchmark of shotgun_source: ours against the dlt built-in recipe and the latency bound.

    python bench/speed.py                              # the comparison, ~200k rows, 100 ms per request
    python bench/speed.py --quick                      # smoke run on a small site
    python bench/speed.py --page-sizes 500,2000,5000   # only: ours' full load at each page size
    python bench/speed.py --memory                     # only: peak RSS at 100k and 1M Versions

Prints figures; it is not a test. The sandbox site runs as a subprocess
(`python -m shotgun_source.sandbox --port 0 --seed 1 --scale S --latency L --quiet`) and every load
runs in a child of its own with a fresh working dir and `DLT_DATA_DIR`, so `os.wait4` gives each
load's own peak RSS. Loads:

- ours: `pipelines/shotgun_pipeline.py --page-size N` (the product's CLI) into DuckDB, the five
  default entity types; then 1% of each type's rows changed (`POST /_sandbox/mutate`, seed 7) and
  an incremental run.
- the recipe (`bench/_recipe.py`): dlt's `rest_api_source` with the built-in
  `OAuth2ClientCredentials` and one `PageNumberPaginator` per resource, GET `entity/{type}`
  (`fields=*`, 500 rows a page), merge on `id`, client-side incremental on `attributes.updated_at`,
  into DuckDB as parquet; the same two runs on a sandbox restarted with the same seed and scale
  (same records; timestamps anchored at its start), and the same 1% mutation.
- the bound: (a) ours' data pages x latency / `max_concurrent_requests`; (b) downloading and
  parsing the same keyset pages with `requests` + `orjson` at latency 0 (`bench/_raw.py`), on one
  thread and with ours' concurrency; and ours once more at latency 0.

Both loaders run with `RUNTIME__DLTHUB_TELEMETRY=false` and `RUNTIME__LOG_LEVEL=WARNING` (what the
repository's `.dlt/config.toml` sets). "others" is the CPU (in cores) that processes other than
the load and the sandbox used during a run: a run with much of it was measured on a busy machine.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _procs import ChildRun, Sandbox, process_rss_mb, run_child  # noqa: E402
from _raw import RawRead  # noqa: E402
from _venv import product_python  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def _load_settings() -> ModuleType:
    """`shotgun_source/settings.py` by path: importing the package would import dlt, and this
    process must stay small (a child's `ru_maxrss` counts its parent's RSS at the fork)."""
    spec = importlib.util.spec_from_file_location(
        "_shotgun_settings", REPO / "shotgun_source" / "settings.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_settings = _load_settings()
DEFAULT_ENTITIES: tuple[str, ...] = _settings.DEFAULT_ENTITIES
DEFAULT_MAX_CONCURRENT_REQUESTS: int = _settings.DEFAULT_MAX_CONCURRENT_REQUESTS
DEFAULT_PAGE_SIZE: int = _settings.DEFAULT_PAGE_SIZE
CLI = REPO / "pipelines" / "shotgun_pipeline.py"
RECIPE = REPO / "bench" / "_recipe.py"
RAW = REPO / "bench" / "_raw.py"
TRACE = REPO / "bench" / "_trace.py"
DLT_FLOOR = REPO / "bench" / "_dlt_floor.py"
OURS_PIPELINE = "shotgun_pipeline"
DEFAULT_SCALE = 67.0  # 203,948 rows in the five default types (seed 1)
QUICK_SCALE = 2.0
MUTATE_SHARE = 0.01
MUTATE_SEED = 7
RECIPE_PAGE_SIZE = 500
DATA_KINDS = ("read", "search", "summarize")
BUSY_CORES = 0.3
"""A run during which other processes used more CPU than this (in cores) is flagged."""
CHILD_ENV = {"RUNTIME__DLTHUB_TELEMETRY": "false", "RUNTIME__LOG_LEVEL": "WARNING"}


@dataclass
class Load:
    """One load as measured: the child, the sandbox's request counts, rows and dlt's step times."""

    label: str
    child: ChildRun
    requests: dict[str, int]
    rows: dict[str, int]
    steps: dict[str, float] = field(default_factory=dict)
    in_run: float | None = None
    step_peaks: dict[str, float] = field(default_factory=dict)
    """Highest sampled RSS (MB) during each dlt step."""

    @property
    def root_rows(self) -> int:
        """Rows of the entity tables (child tables of multi-entity links not counted)."""
        return sum(n for table, n in self.rows.items() if "__" not in table)

    @property
    def child_rows(self) -> int:
        return sum(n for table, n in self.rows.items() if "__" in table)

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    @property
    def rows_per_second(self) -> float:
        return self.root_rows / self.child.wall if self.child.wall else 0.0


def request_counts(stats: dict[str, Any]) -> dict[str, int]:
    by_kind: dict[str, int] = stats["by_kind"]
    counts = {
        "data": sum(by_kind.get(k, 0) for k in DATA_KINDS),
        "token": by_kind.get("token", 0),
        "schema": by_kind.get("schema", 0),
    }
    counts["other"] = sum(by_kind.values()) - by_kind.get("admin", 0) - sum(counts.values())
    return counts


LOADS_PYTHON: list[str] = [sys.executable]
"""The interpreter every load runs in (`--python`; default the product's own environment)."""
OURS_ENV: dict[str, str] = {}
"""Extra environment for ours' runs (`--ours-env`), to try a dlt or source setting."""
OURS_LAUNCH: list[str] = []
"""A launcher in front of ours' CLI (`--ours-gc-threshold`), empty to run the CLI as it is."""
LAUNCHER = REPO / "bench" / "_launch.py"


def child_env(sandbox: Sandbox, workdir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "DESTINATION__"))}
    return {**env, **CHILD_ENV, **(extra or {}), **sandbox.env, "DLT_DATA_DIR": str(workdir / "dlt")}


def fresh_dir(root: Path, name: str) -> Path:
    path = root / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def check(child: ChildRun, label: str) -> None:
    if child.returncode != 0:
        raise RuntimeError(
            f"{label} failed with exit status {child.returncode}:\n"
            f"{child.stdout[-2000:]}\n{child.stderr[-4000:]}"
        )


SUMMARY_ROW = re.compile(r"^\s+([a-z0-9_]+)\s+([\d,]+)$")
SUMMARY_TIME = re.compile(r"^Loaded pipeline .*, in ([\d.]+) s\b")


def run_ours(
    sandbox: Sandbox,
    label: str,
    workdir: Path,
    page_size: int,
    entities: str | None = None,
    postgres: str | None = None,
) -> Load:
    """The product's CLI, as a user runs it, in `workdir` (reuse it for an incremental run); into
    DuckDB, or PostgreSQL at the DSN `postgres`."""
    command = [LOADS_PYTHON[0], *OURS_LAUNCH, str(CLI), "--page-size", str(page_size)]
    if entities:
        command += ["--entities", entities]
    extra = dict(OURS_ENV)
    if postgres:
        command += ["--destination", "postgres", "--dataset", f"ours_{workdir.name}"]
        extra["DESTINATION__POSTGRES__CREDENTIALS"] = postgres
    sandbox.reset_stats()
    child = run_child(command, child_env(sandbox, workdir, extra), workdir, sandbox)
    check(child, label)
    rows, in_run, in_table = {}, None, False
    for line in child.stdout.splitlines():  # "Loaded ... in 4.5 s", then "table rows" and its rows
        if (took := SUMMARY_TIME.search(line)) is not None:
            in_run = float(took.group(1))
        elif line.split() == ["table", "rows"]:
            in_table = True
        elif in_table and (row := SUMMARY_ROW.match(line)) is not None:
            rows[row.group(1)] = int(row.group(2).replace(",", ""))
        else:
            in_table = False
    requests = request_counts(sandbox.stats())
    trace = subprocess.run(
        [LOADS_PYTHON[0], str(TRACE), str(workdir / "dlt" / "pipelines"), OURS_PIPELINE],
        capture_output=True,
        text=True,
        check=True,
    )
    steps_spans = json.loads(trace.stdout.strip().splitlines()[-1])
    peaks = {k: child.rss.peak_between(*span) for k, span in steps_spans["spans"].items()}
    return Load(label, child, requests, rows, steps_spans["steps"], in_run, peaks)


def run_recipe(
    sandbox: Sandbox, label: str, workdir: Path, page_size: int, serial: bool, postgres: str | None = None
) -> Load:
    command = [LOADS_PYTHON[0], str(RECIPE), "--page-size", str(page_size)] + (["--serial"] if serial else [])
    extra: dict[str, str] = {}
    if postgres:
        command += ["--destination", "postgres"]
        extra["DESTINATION__POSTGRES__CREDENTIALS"] = postgres
    sandbox.reset_stats()
    child = run_child(command, child_env(sandbox, workdir, extra), workdir, sandbox)
    check(child, label)
    result = json.loads(child.stdout.strip().splitlines()[-1])
    steps = {k: v for k, v in result["steps"].items()}
    peaks = {k: child.rss.peak_between(*span) for k, span in result["spans"].items()}
    return Load(
        label, child, request_counts(sandbox.stats()), result["rows"], steps, result["elapsed"], peaks
    )


def mutate_all(sandbox: Sandbox, entity_types: Sequence[str]) -> int:
    return sum(sandbox.mutate(t, MUTATE_SHARE, MUTATE_SEED) for t in entity_types)


# ---- printing ---------------------------------------------------------------------------------
def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def print_loads(loads: Sequence[Load]) -> None:
    head = (
        f"{'run':<26} {'wall s':>7} {'in-run':>7} {'data':>5} {'token':>5} {'schema':>6} {'other':>5}"
        f" {'rows':>8} {'child':>8} {'rows/s':>7} {'peak MB':>7} {'cpu s':>6} {'sbx cpu':>7}"
        f" {'others':>6}  load 1/5/15"
    )
    print(head)
    print("-" * len(head))
    for load in loads:
        c, r = load.child, load.requests
        in_run = f"{load.in_run:7.1f}" if load.in_run is not None else f"{'':>7}"
        flag = "  busy!" if c.other_cores > BUSY_CORES else ""
        print(
            f"{load.label:<26} {c.wall:7.1f} {in_run} {r['data']:5d} {r['token']:5d} {r['schema']:6d}"
            f" {r['other']:5d} {load.root_rows:8,d} {load.child_rows:8,d} {load.rows_per_second:7,.0f}"
            f" {c.peak_rss_mb:7.0f} {c.cpu_seconds:6.1f} {c.sandbox_cpu_seconds:7.1f}"
            f" {c.other_cores:6.2f}  {c.loadavg[0]:.2f}/{c.loadavg[1]:.2f}/{c.loadavg[2]:.2f}{flag}"
        )
    print(
        "  wall: the child process from start to exit (interpreter start and imports included); in-run:"
        " the loader's own figure; data/token/schema/other: requests the sandbox answered; rows: entity"
        " rows loaded (root tables), child: rows of multi-entity link tables; cpu s: the load's CPU;"
        " sbx cpu: the sandbox's CPU during the run; others: cores used by other processes."
    )
    print()
    print(
        f"{'dlt steps':<26} {'extract':>8} {'normalize':>9} {'load':>7} {'run':>7}   peak MB in:"
        f" {'extract':>7} {'normalize':>9} {'load':>7}"
    )
    for load in loads:
        s, m = load.steps, load.step_peaks
        print(
            f"{load.label:<26} {s.get('extract', 0):7.1f}s {s.get('normalize', 0):8.1f}s"
            f" {s.get('load', 0):6.1f}s {s.get('run', 0):6.1f}s              {m.get('extract', 0):7.0f}"
            f" {m.get('normalize', 0):9.0f} {m.get('load', 0):7.0f}"
        )
    print("  (RSS sampled every 0.1 s; the peak column of the first table is the exact ru_maxrss)")
    print()


def read_raw(
    sandbox: Sandbox, root: Path, page_size: int, types: Sequence[str], concurrency: int, tag: str = ""
) -> RawRead:
    """`bench/_raw.py` in a child (the parent stays small): rows, pages, seconds, and CPU on each side."""
    workdir = fresh_dir(root, f"raw-{concurrency}{tag}")
    command = [LOADS_PYTHON[0], str(RAW), str(page_size), str(concurrency), ",".join(types)]
    child = run_child(command, child_env(sandbox, workdir), workdir, sandbox)
    check(child, "raw download")
    raw = RawRead(**json.loads(child.stdout.strip().splitlines()[-1]))
    raw.sandbox_cpu_seconds = child.sandbox_cpu_seconds
    return raw


def print_raw(label: str, raw: RawRead) -> None:
    print(
        f"  {label:<12} {raw.rows:8,d} rows, {raw.pages:4d} pages, {raw.bytes / 1e6:4.0f} MB"
        f" in {raw.seconds:5.1f} s = {raw.rows_per_second:7,.0f} rows/s; client CPU {raw.cpu_seconds:5.1f} s,"
        f" sandbox CPU {raw.sandbox_cpu_seconds:5.1f} s"
    )


# ---- sections ---------------------------------------------------------------------------------
@contextmanager
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL server (bench/_postgres.py, the tests' helper, in a child): its DSN."""
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "bench" / "_postgres.py")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        dsn = proc.stdout.readline().strip()
        if not dsn.startswith("postgresql://"):
            raise RuntimeError(f"no PostgreSQL server came up: {dsn!r}")
        yield dsn
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        proc.wait(timeout=60)


def comparison(args: argparse.Namespace, root: Path) -> list[tuple[str, bool]]:
    """Ours and the recipe, full then incremental, into DuckDB (and PostgreSQL); the plain client."""
    types = tuple(DEFAULT_ENTITIES)
    verdicts: list[tuple[str, bool]] = []
    loads: list[Load] = []
    print(f"Starting the sandbox: scale {args.scale:g}, latency {args.latency:g} s ...", flush=True)
    with Sandbox(args.scale, args.latency) as sandbox:
        sizes = sandbox.rows(types)
        print(
            f"Sandbox built in {sandbox.build_seconds:.1f} s: {sum(sizes.values()):,} rows in the five types"
            f" ({', '.join(f'{t} {n:,}' for t, n in sizes.items())}; counts include retired records)"
        )
        print(f"Latency {args.latency:g} s per request; page size {args.page_size} (ours)")
        print(flush=True)
        raw_latency = read_raw(sandbox, root, args.page_size, types, DEFAULT_MAX_CONCURRENT_REQUESTS, "-lat")
        print_raw(
            f"plain client, {DEFAULT_MAX_CONCURRENT_REQUESTS} threads, latency {args.latency:g}", raw_latency
        )
        ours_dir = fresh_dir(root, "ours")
        ours_full = run_ours(sandbox, "ours full", ours_dir, args.page_size)
        report(ours_full)
        mutated = mutate_all(sandbox, types)
        ours_incr = run_ours(sandbox, f"ours incremental ({mutated:,} chg)", ours_dir, args.page_size)
        report(ours_incr)
        loads += [ours_full, ours_incr]
    recipe_full = recipe_incr = None
    if not args.skip_recipe:
        print("Restarting the sandbox (same seed and scale) for the recipe ...", flush=True)
        sandbox = Sandbox(args.scale, args.latency)
    else:
        sandbox = Sandbox(args.scale, 0.0)
    with sandbox:
        if not args.skip_recipe:
            recipe_dir = fresh_dir(root, "recipe")
            recipe_full = run_recipe(
                sandbox, "recipe full", recipe_dir, args.recipe_page_size, args.recipe_serial
            )
            report(recipe_full)
            mutated = mutate_all(sandbox, types)
            recipe_incr = run_recipe(
                sandbox,
                f"recipe incremental ({mutated:,} chg)",
                recipe_dir,
                args.recipe_page_size,
                args.recipe_serial,
            )
            report(recipe_incr)
            loads += [recipe_full, recipe_incr]
            sandbox.set_latency(0.0)
        print("Latency 0: the plain client, then ours ...", flush=True)
        raw_single = read_raw(sandbox, root, args.page_size, types, 1)
        raw_parallel = read_raw(sandbox, root, args.page_size, types, DEFAULT_MAX_CONCURRENT_REQUESTS)
        ours_zero = run_ours(sandbox, "ours full, latency 0", fresh_dir(root, "ours0"), args.page_size)
        report(ours_zero)
        loads.append(ours_zero)
    pg_ours = pg_recipe = None
    if not args.skip_postgres:
        print("PostgreSQL: a throwaway server, ours and the recipe into it (fresh sandboxes) ...", flush=True)
        with postgres_server() as dsn:
            with Sandbox(args.scale, args.latency) as sandbox:
                pg_ours = run_ours(
                    sandbox, "ours full, PostgreSQL", fresh_dir(root, "ours-pg"), args.page_size, postgres=dsn
                )
                report(pg_ours)
            if not args.skip_recipe:
                with Sandbox(args.scale, args.latency) as sandbox:
                    pg_recipe = run_recipe(
                        sandbox,
                        "recipe full, PostgreSQL",
                        fresh_dir(root, "recipe-pg"),
                        args.recipe_page_size,
                        args.recipe_serial,
                        postgres=dsn,
                    )
                    report(pg_recipe)
        loads += [x for x in (pg_ours, pg_recipe) if x is not None]
    print()
    print("=" * 100)
    print_loads(loads)
    if recipe_full is not None:
        print(
            "The recipe loads DuckDB with loader_file_format='parquet', already better than dlt's default"
            " insert_values there, and PostgreSQL with dlt's default insert statements; resources"
            f" {'one after another' if args.recipe_serial else 'parallelized'}"
            f" (rest_api_source(parallelized={not args.recipe_serial})), {args.recipe_page_size} rows a page."
        )
        print()

    pages = ours_full.requests["data"]
    bound = pages * args.latency / DEFAULT_MAX_CONCURRENT_REQUESTS
    print("Bounds:")
    print(
        f"  latency: {pages} data pages of ours' full load x {args.latency:g} s"
        f" / {DEFAULT_MAX_CONCURRENT_REQUESTS} requests in flight = {bound:.1f} s"
    )
    print("  a plain client that only downloads and parses the same keyset pages (requests + orjson):")
    print_raw(f"latency {args.latency:g}, {DEFAULT_MAX_CONCURRENT_REQUESTS} thr", raw_latency)
    print_raw("latency 0, one thread", raw_single)
    print_raw(f"latency 0, {DEFAULT_MAX_CONCURRENT_REQUESTS} thr", raw_parallel)
    print()

    print("Targets:")

    def target(name: str, ok: bool, line: str) -> None:
        verdicts.append((name, ok))
        print(f"  {line}  {verdict(ok)}")

    plain = raw_latency.seconds
    ratio = ours_full.child.wall / plain if plain else float("inf")
    target(
        "full: ours <= the plain client",
        ratio <= 1.0,
        f"full load, ours / plain client (both at latency {args.latency:g}): {ours_full.child.wall:.1f} /"
        f" {plain:.1f} s = {ratio:.2f} (target <= 1.0; ours' wall includes its start, schema reads and"
        f" the load into DuckDB; vs the plain client at latency 0:"
        f" {ours_full.child.wall / min(raw_single.seconds, raw_parallel.seconds):.2f})",
    )
    if recipe_full is not None:
        speedup = recipe_full.child.wall / ours_full.child.wall
        target(
            "full: ours >=8x faster than the recipe",
            speedup >= 8,
            f"full load, recipe / ours wall: {recipe_full.child.wall:.1f} / {ours_full.child.wall:.1f} s"
            f" = {speedup:.1f}x faster (target >= 8x)",
        )
    if pg_ours is not None and pg_recipe is not None:
        speedup = pg_recipe.child.wall / pg_ours.child.wall
        target(
            "PostgreSQL: ours >=5x faster than the recipe",
            speedup >= 5,
            f"full load into PostgreSQL, recipe / ours wall: {pg_recipe.child.wall:.1f} /"
            f" {pg_ours.child.wall:.1f} s = {speedup:.1f}x faster (target >= 5x)",
        )
    if recipe_incr is not None:
        speedup = recipe_incr.child.wall / ours_incr.child.wall
        target(
            "incremental: ours >=20x faster than the recipe",
            speedup >= 20,
            f"incremental (1% changed), recipe / ours wall: {recipe_incr.child.wall:.1f} /"
            f" {ours_incr.child.wall:.1f} s = {speedup:.1f}x faster (target >= 20x; whole processes)",
        )
    steps = ours_incr.steps
    start_up = ours_incr.child.wall - (ours_incr.in_run or 0.0)
    print(
        f"  where ours' incremental run goes: start-up and exit {start_up:.1f} s (the interpreter and"
        f" imports), then {ours_incr.in_run or 0:.1f} s in the run: extract {steps.get('extract', 0):.1f} s"
        f" ({ours_incr.total_requests} requests, token and schema reads included), normalize"
        f" {steps.get('normalize', 0):.1f} s, load {steps.get('load', 0):.1f} s, the rest dlt's own"
        f" bookkeeping (state, trace) and the lock"
    )
    floor = dlt_floor(root, ours_incr)
    print(
        f"  dlt's own floor for such a run (bench/_dlt_floor.py: a new process merging"
        f" {floor.tables} tables of {floor.rows:,} Arrow rows into DuckDB, no site, no requests):"
        f" {floor.child.wall:.1f} s wall, of which import {floor.imported:.1f} s and pipeline.run"
        f" {floor.run:.1f} s (load step {floor.load:.1f} s); 20x the recipe's rerun would allow"
        + (f" {recipe_incr.child.wall / 20:.1f} s in all" if recipe_incr is not None else " (no recipe run)")
    )
    print()
    print("Sandbox check (is the site the bottleneck?):")
    for load in loads:
        c = load.child
        print(
            f"  {load.label:<34} sandbox CPU {c.sandbox_cpu_seconds:5.1f} s"
            f" = {c.sandbox_cpu_seconds / c.wall:4.0%} of one core over the run; the load's own CPU"
            f" {c.cpu_seconds:5.1f} s = {c.cpu_seconds / c.wall:4.0%}"
        )
    print()
    return verdicts


@dataclass
class Floor:
    """`bench/_dlt_floor.py`'s measured run: dlt alone loading as many tables as ours' run did."""

    tables: int
    rows: int
    child: ChildRun
    imported: float
    run: float
    load: float


def dlt_floor(root: Path, incremental: Load) -> Floor:
    """dlt alone, in a new process, merging as many tables (and about as many rows each) as ours'
    incremental run loaded: the part of that run no dlt source can avoid. A first run creates the
    tables; the second is measured."""
    tables = max(1, len(incremental.rows))
    rows = max(1, round(sum(incremental.rows.values()) / tables))
    workdir = fresh_dir(root, "dlt_floor")
    env = {**os.environ, **CHILD_ENV}
    command = [LOADS_PYTHON[0], str(DLT_FLOOR), str(workdir), str(tables), str(rows)]
    check(run_child(command, env, workdir, None), "dlt floor (first run)")
    child = run_child(command, env, workdir, None)
    check(child, "dlt floor")
    figures = json.loads(child.stdout.strip().splitlines()[-1])
    return Floor(tables, rows, child, figures["import"], figures["run"], figures["steps"].get("load", 0.0))


def report(load: Load) -> None:
    c = load.child
    print(
        f"  {load.label}: {c.wall:.1f} s, {load.total_requests} requests, {load.root_rows:,} rows,"
        f" peak {c.peak_rss_mb:.0f} MB, others {c.other_cores:.2f} cores, load {c.loadavg[0]:.2f}",
        flush=True,
    )


def page_size_sweep(args: argparse.Namespace, root: Path) -> None:
    """Ours' full load at each page size, on one sandbox (each load in a fresh dir)."""
    sizes = [int(s) for s in args.page_sizes.split(",") if s.strip()]
    loads: list[tuple[int, Load]] = []
    print(f"Starting the sandbox: scale {args.scale:g}, latency {args.latency:g} s ...", flush=True)
    with Sandbox(args.scale, args.latency) as sandbox:
        counts = sandbox.rows(tuple(DEFAULT_ENTITIES))
        print(f"Sandbox: {sum(counts.values()):,} rows in the five types ({counts})", flush=True)
        for size in sizes:
            load = run_ours(sandbox, f"ours full, page {size}", fresh_dir(root, f"ours-{size}"), size)
            report(load)
            loads.append((size, load))
    print()
    print("=" * 100)
    print_loads([load for _, load in loads])
    print(
        f"{'page size':>9} {'wall s':>7} {'data pages':>10} {'bound s':>7} {'wall/bound':>10}"
        f" {'rows/s':>7} {'peak MB':>7}"
    )
    for size, load in loads:
        bound = load.requests["data"] * args.latency / DEFAULT_MAX_CONCURRENT_REQUESTS
        print(
            f"{size:9d} {load.child.wall:7.1f} {load.requests['data']:10d} {bound:7.1f}"
            f" {load.child.wall / bound if bound else float('inf'):10.1f} {load.rows_per_second:7,.0f}"
            f" {load.child.peak_rss_mb:7.0f}"
        )
    print()


def memory(args: argparse.Namespace, root: Path) -> list[tuple[str, bool]]:
    """Ours' full load of Versions only at a small and a 10x larger site: peak RSS and its growth."""
    small, large = (10_000, 100_000) if args.quick else (100_000, 1_000_000)
    loads: list[Load] = []
    for versions in (small, large):
        print(f"Starting the sandbox: {versions:,} Versions, latency {args.latency:g} s ...", flush=True)
        with Sandbox(1.0, args.latency, versions=versions) as sandbox:
            print(f"  built in {sandbox.build_seconds:.1f} s", flush=True)
            load = run_ours(
                sandbox,
                f"ours Versions, {versions:,}",
                fresh_dir(root, f"mem-{versions}"),
                args.page_size,
                "Version",
            )
            report(load)
            loads.append(load)
    print()
    print("=" * 100)
    print_loads(loads)
    low, high = loads[0].child.peak_rss_mb, loads[1].child.peak_rss_mb
    growth = high / low
    big = loads[1]
    print("Targets:")
    print(f"  peak RSS at {large:,} Versions: {high:.0f} MB (target <= 300 MB)  {verdict(high <= 300)}")
    print(
        f"  peak RSS {large:,} / {small:,} Versions: {high:.0f} / {low:.0f} MB = {growth:.2f}x"
        f" (target <= 1.2x)  {verdict(growth <= 1.2)}"
    )
    print(
        f"  {large:,} Versions: {big.child.wall:.1f} s wall, {big.rows_per_second:,.0f} rows/s"
        f" (extract {big.steps.get('extract', 0):.1f} s, normalize {big.steps.get('normalize', 0):.1f} s,"
        f" load {big.steps.get('load', 0):.1f} s)"
    )
    print()
    return [("memory: <=300 MB at the large site", high <= 300), ("memory: <=1.2x growth", growth <= 1.2)]


def product_version() -> str:
    """The commit measured, and whether the product's files differ from it (others may be editing)."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
        return done.stdout.rstrip()  # porcelain lines start with a space where the index is clean

    changed = git("status", "--porcelain", "--", "shotgun_source", "pipelines", "pyproject.toml")
    return f"commit {git('rev-parse', '--short', 'HEAD').strip()}" + (
        f", with uncommitted changes in: {' '.join(line[3:] for line in changed.splitlines())}"
        if changed
        else ", clean"
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument(
        "--scale", type=float, default=None, help=f"sandbox size (default {DEFAULT_SCALE:g}: ~204k rows)"
    )
    p.add_argument(
        "--latency", type=float, default=0.1, help="seconds the sandbox sleeps per request (default 0.1)"
    )
    p.add_argument("--page-size", type=int, default=DEFAULT_PAGE_SIZE, help="ours' rows per request")
    p.add_argument("--page-sizes", help="only: ours' full load at each of these page sizes (500,2000,5000)")
    p.add_argument("--memory", action="store_true", help="only: peak RSS loading 100k and 1M Versions")
    p.add_argument("--skip-recipe", action="store_true", help="leave the dlt built-in recipe out")
    p.add_argument("--skip-postgres", action="store_true", help="leave the loads into PostgreSQL out")
    p.add_argument(
        "--python",
        default="product",
        help="the interpreter the loads run in: product (default: bench/.venv-product, the product as"
        " a user installs it), current (this one), or a path",
    )
    p.add_argument("--recipe-serial", action="store_true", help="the recipe's resources one after another")
    p.add_argument("--recipe-page-size", type=int, default=RECIPE_PAGE_SIZE, help=argparse.SUPPRESS)
    p.add_argument("--quick", action="store_true", help=f"small site (scale {QUICK_SCALE:g}) for a smoke run")
    p.add_argument("--keep", action="store_true", help="keep the working dirs (DuckDB files, dlt traces)")
    p.add_argument(
        "--ours-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an environment variable for ours' runs only, to try a setting (NORMALIZE__WORKERS=2)",
    )
    p.add_argument(
        "--ours-gc-threshold",
        metavar="T0:T1:T2",
        help="run ours' CLI after gc.set_threshold(T0, T1, T2) (bench/_launch.py), to measure the GC's share",
    )
    args = p.parse_args(argv)
    OURS_ENV.update(dict(item.split("=", 1) for item in args.ours_env))
    if args.ours_gc_threshold:
        OURS_LAUNCH[:] = [str(LAUNCHER), args.ours_gc_threshold]
    if args.scale is None:
        args.scale = QUICK_SCALE if args.quick else DEFAULT_SCALE
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    if args.python == "product":
        LOADS_PYTHON[0] = str(product_python())
    elif args.python != "current":
        LOADS_PYTHON[0] = args.python
    print(f"$ {shlex.join([Path(sys.executable).name, *sys.argv])}")
    print(f"product: {product_version()}; loads run in {LOADS_PYTHON[0]}")
    print(
        f"machine: {os.cpu_count()} cores, load average {'/'.join(f'{x:.2f}' for x in os.getloadavg())}"
        f"; max_concurrent_requests {DEFAULT_MAX_CONCURRENT_REQUESTS}"
        + (f"; ours run with {' '.join(f'{k}={v}' for k, v in OURS_ENV.items())}" if OURS_ENV else "")
        + (f"; ours after gc.set_threshold({args.ours_gc_threshold})" if OURS_LAUNCH else "")
    )
    root = Path(tempfile.mkdtemp(prefix="shotgun-speed-"))
    sections: list[Callable[[argparse.Namespace, Path], Any]] = []
    if args.page_sizes:
        sections.append(page_size_sweep)
    if args.memory:
        sections.append(memory)
    if not sections:
        sections.append(comparison)
    verdicts: list[tuple[str, bool]] = []
    try:
        for section in sections:
            verdicts += section(args, root) or []
    finally:
        if args.keep:
            print(f"working dirs kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    if verdicts:
        print("Summary: " + "; ".join(f"{name} {verdict(ok)}" for name, ok in verdicts))
    print(
        f"This process's RSS: {process_rss_mb(os.getpid()):.0f} MB (a child's ru_maxrss is at least"
        " its parent's RSS when it was started, so every peak above is the child's own above that)"
    )
    print(
        f"Benchmark took {time.perf_counter() - started:.0f} s;"
        f" load average now {'/'.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
