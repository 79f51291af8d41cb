"""Crash soak: SIGKILL the pipeline script at random points, rerun, and count what was lost; then
overlapping starts of one pipeline, PostgreSQL stopped in the middle of runs, and runs while the
site changes between their page requests.

    python bench/soak.py                          # 20 kills, 6 overlaps, 8 PostgreSQL stops, 6 churns
    python bench/soak.py --faults on --kills 30   # with 429s, 5xx bursts, dropped bodies, 3 s tokens
    python bench/soak.py --faults both            # one row without faults, one with
    python bench/soak.py --kills 8 --overlaps 6 --restarts 8   # about five minutes
    python bench/soak.py --kills 0 --overlaps 0 --restarts 0 --churn 8 --seed 3   # churn only

A sandbox site runs in this process; the script users run (`pipelines/shotgun_pipeline.py`) runs
as a subprocess against it, loading DuckDB. Each round changes the site (updates, creations, a
retirement), starts the script, kills it with SIGKILL a seeded-random delay into a seeded-random
phase (extract, normalize or load, told apart by dlt's log; see tests/reliability/crash.py),
reruns it to completion and compares the destination with the site row for row
(tests/destination_truth.py). The first round's kill hits the first load, about a quarter of the
others a full reload (`--refresh`), the rest incremental runs.

Overlapping starts: two runs of one pipeline started a seeded-random 0.5 to 2 s apart, the way two
schedulers (or a slow hourly run and the next one) overlap; the first round is a first load. The
second run waits for the first (or, every third round, started 0.5 to 1 s after the first, gives up
after 0.5 s with exit status 3).
The two read with different page sizes, so the site's request log shows whether any page of the
second came while the first was reading ("interleaved", must be 0).

PostgreSQL stops: the same rounds into a throwaway PostgreSQL server (tests/postgres_server.py),
stopped in turn once the load step has loaded its first job, once normalize has handed the package
to the load step, at a seeded-random page of the site's answers, or before a run; the run must
exit 1 with one line (or 0 when it finished before the server stopped), and after the server is
started again a rerun must leave the destination equal to the site.

Churn (`--churn N`, 0 skips it): N runs into one DuckDB file (the first a first load, the others
incremental) while the site changes under them: the sandbox's `before_request` hook, on every k-th
search request (k seeded, 2 to 5), makes one seeded change in its server thread before answering,
so later pages see it: a live record retired, a retired one revived, a record others link to
renamed (a Shot's or Asset's `code`, a Task's `content`, a Project's `name`), a record created
(a Version or Task linked to a Shot), or one updated. Then the hook is removed and a quiet rerun
follows. Each round prints its changes by kind and what the destination holds wrong after the
churned run (for information: changes made after their page was read must wait for the next run)
and after the quiet rerun (the verdict): rows lost, duplicated, stale, retired on the site but live
in DuckDB ("retired live", also counted in stale), and rows whose link names (`<link>__name`, or
multi-entity link rows) differ from the site's ("stale names", also counted in stale).

Prints one table row per fault setting for the kills (runs, kills by the phase they landed in) and
one per scenario for the overlaps and the stops, each with rows lost (live on the site, missing),
duplicated (extra rows with the same id, or the same parent and list index in child tables) and
stale (present with values the site no longer has, or not flagged retired); then the totals.
Exits 1 if any row was lost, duplicated or stale (retired live, stale names), or any run ended
unlike it must.
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import dlt  # noqa: E402
from destination_truth import compare_entity, destination_tables, expected_tables, field_types  # noqa: E402
from postgres_server import PostgresServer, running_postgres, server_is_up, start_server, stop_server  # noqa: E402
from reliability.crash import PHASES, run_and_act_when, run_and_kill  # noqa: E402
from reliability.helpers import CliDir, duplicate_keys, key_columns, page_times  # noqa: E402

from shotgun_source.sandbox import Sandbox  # noqa: E402

ENTITIES = ["Project", "Shot", "Task", "Asset", "Version"]
KILL_PHASES = ("extract", "normalize", "load")
STOP_POINTS = ("while loading", "as the load step starts", "while reading", "before the run")
"""Where the PostgreSQL rounds stop the server, in turn (the page or the delay is seeded-random)."""
VALUE_LINE = re.compile(r"^\w+ (\d+)[ .]")
LINK_LINE = re.compile(r"^\w+\.\w+ links differ")
FAULTS_ON = "429 5% (Retry-After 1 s), 503 bursts, 3% dropped, 3 s tokens"
CHURN_KINDS = ("retire", "revive", "rename", "create", "update")
RENAMED = {"Shot": "code", "Asset": "code", "Task": "content", "Project": "name"}
"""Types other types link to, and the field their links' names come from (the sandbox's rule)."""
RETIRED_TYPES = ("Shot", "Task", "Asset", "Version")
"""The types churn retires records of (not Project: the site has a handful)."""
RETRY_ENV = {
    "RUNTIME__REQUEST_MAX_ATTEMPTS": "10",
    "RUNTIME__REQUEST_BACKOFF_FACTOR": "0.1",
    "RUNTIME__REQUEST_MAX_RETRY_DELAY": "2",
}


@dataclass
class Tally:
    faults: str
    runs: int = 0
    kills: Counter[str] = field(default_factory=Counter)
    lost: int = 0
    duplicated: int = 0
    stale: int = 0
    failed_reruns: int = 0
    reloads: int = 0
    seconds: float = 0.0


@dataclass
class ScenarioTally:
    """One scenario's rounds: how the runs ended, and what the destination lost."""

    scenario: str
    rounds: int = 0
    runs: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    interleaved: int | None = None
    unexpected: int = 0
    lost: int = 0
    duplicated: int = 0
    stale: int = 0
    retired_live: int | None = None
    stale_names: int | None = None
    seconds: float = 0.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kills", type=int, default=20, help="killed runs per fault setting (default 20)")
    p.add_argument("--faults", choices=("off", "on", "both"), default="off", help="fault settings to soak")
    p.add_argument("--overlaps", type=int, default=6, help="rounds of two overlapping starts (default 6)")
    p.add_argument("--restarts", type=int, default=8, help="rounds with PostgreSQL stopped (default 8)")
    p.add_argument(
        "--churn", type=int, default=6, help="runs while the site changes between their pages (default 6)"
    )
    p.add_argument(
        "--overlap-latency", type=float, default=0.1, help="seconds per request in the overlap rounds (0.1)"
    )
    p.add_argument("--seed", type=int, default=1, help="seed of the kill points and site changes")
    p.add_argument("--scale", type=float, default=1.0, help="sandbox size (1: a few thousand rows)")
    p.add_argument("--latency", type=float, default=0.02, help="seconds per request (default 0.02)")
    p.add_argument("--page-size", type=int, default=100, help="rows per request (default 100)")
    p.add_argument("--workdir", type=Path, help="keep run directories here (default: a temp dir, removed)")
    p.add_argument("--verbose", action="store_true", help="print the stderr of failed reruns")
    return p.parse_args(argv)


def change_site(site: Any, rng: random.Random, round_no: int) -> None:
    """Some of every type updated, two Versions created, one retired, now and then one revived."""
    for entity_type in ENTITIES:
        site.mutate(entity_type, rng.uniform(0.02, 0.2), seed=rng.randrange(10**6))
    shot = rng.choice(site.records("Shot"))
    for n in range(2):
        site.create("Version", {"code": f"soak_{round_no}_{n}", "project": shot["project"]})
    site.retire("Version", rng.choice(site.records("Version"))["id"])
    retired = site.records("Version", retired=True)
    if retired and rng.random() < 0.3:
        site.revive("Version", rng.choice(retired)["id"])


def set_faults(sandbox: Sandbox, on: bool, latency: float) -> None:
    faults = sandbox.faults
    faults.reset()
    faults.latency = latency
    if on:
        faults.rate_limit_share = 0.05
        faults.retry_after = 1
        faults.drop_share = 0.03
        faults.token_lifetime = 3
        faults.error_burst(2, status=503, html=True)


def stale_link_parents(pipeline: Any, site: Any, entity_type: str) -> set[int]:
    """Ids whose multi-entity link rows differ from the site's."""
    want = expected_tables(site, entity_type)
    got = destination_tables(pipeline, entity_type, field_types(site, entity_type))
    stale: set[int] = set()
    for name, rows in want.links.items():
        by_parent: dict[int, set[tuple[Any, ...]]] = {}
        for row in rows:
            by_parent.setdefault(row[0], set()).add(row)
        got_by_parent: dict[int, set[tuple[Any, ...]]] = {}
        for row in got.links.get(name, []):
            got_by_parent.setdefault(row[0], set()).add(row)
        for parent in set(want.root) & set(got.root):
            if by_parent.get(parent, set()) != got_by_parent.get(parent, set()):
                stale.add(parent)
    return stale


def count_problems(cli: CliDir, site: Any) -> tuple[int, int, int, list[str]]:
    """(rows lost, rows duplicated, rows stale, a few examples) of the script's DuckDB file."""
    return count_pipeline_problems(cli.attach(), site, sum(duplicate_keys(cli.database).values()))


def count_pipeline_problems(pipeline: Any, site: Any, duplicated: int) -> tuple[int, int, int, list[str]]:
    """(rows lost, rows duplicated, rows stale, a few examples) of any destination against the site."""
    lost = stale = 0
    examples: list[str] = []
    for entity_type in ENTITIES:
        result = compare_entity(pipeline, site, entity_type)
        ids = {int(m[1]) for line in result.different if (m := VALUE_LINE.match(line))}
        ids |= set(result.extra)
        if any(LINK_LINE.match(line) for line in result.different):
            ids |= stale_link_parents(pipeline, site, entity_type)
        lost += len(result.missing)
        stale += len(ids)
        examples.extend(result.problems()[:2])
    return lost, duplicated, stale, examples


def sql_duplicate_keys(pipeline: Any) -> int:
    """Rows that repeat a key in a SQL destination (what `duplicate_keys` counts in a DuckDB file)."""
    extra = 0
    with pipeline.sql_client() as client:
        for table in pipeline.default_schema.data_table_names(seen_data_only=True):
            key = key_columns(table)
            rows = client.execute_sql(
                f"select coalesce(sum(n - 1), 0) from (select count(*) as n from"
                f" {client.make_qualified_table_name(table)} group by {key}) as k where n > 1"
            )
            extra += int(rows[0][0]) if rows else 0
    return extra


def quiet_disconnects(sandbox: Sandbox) -> None:
    """Killed clients break pipes mid-answer by design: do not print a traceback for each."""
    server: Any = sandbox._server  # the sandbox has no public hook for its socket server's errors
    default = server.handle_error

    def handle_error(request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            default(request, client_address)

    server.handle_error = handle_error


def soak(args: argparse.Namespace, faults_on: bool, root: Path) -> Tally:
    rng = random.Random(f"soak:{args.seed}:{faults_on}")
    tally = Tally(FAULTS_ON if faults_on else "none")
    started = time.monotonic()
    flags = ("--page-size", str(args.page_size))
    with Sandbox(seed=args.seed, scale=args.scale) as sandbox:
        quiet_disconnects(sandbox)
        # how long each phase lasts here, from one uninterrupted first load in a scratch directory
        set_faults(sandbox, faults_on, args.latency)
        probe = CliDir(root / f"probe_{faults_on}")
        whole = run_and_kill(
            probe.command(*flags), probe.cwd, probe.env(sandbox.env(), RETRY_ENV), "load", delay=3600
        )
        full = {"extract": 1.0, "normalize": 0.3, "load": 0.5, **phase_durations(whole.stderr)}
        print(f"  phases of a first load: {', '.join(f'{p} {s:.2f} s' for p, s in full.items())}")
        incremental = dict(full)
        cli = CliDir(root / ("faults" if faults_on else "quiet"))
        env = cli.env(sandbox.env(), RETRY_ENV)
        for round_no in range(args.kills):
            if round_no:
                change_site(sandbox.site, rng, round_no)
            set_faults(sandbox, faults_on, args.latency)
            # the first round kills the first load; a quarter of the others a full reload (--refresh)
            reload = round_no > 0 and rng.random() < 0.25
            durations = full if reload or round_no == 0 else incremental
            target = rng.choice(KILL_PHASES)
            delay = rng.uniform(0, 1.2 * durations[target])
            killed_flags = (*flags, "--refresh") if reload else flags
            kill = run_and_kill(cli.command(*killed_flags), cli.cwd, env, target, delay)
            tally.reloads += reload
            tally.runs += 1
            tally.kills[kill.phase] += 1
            rerun_ok = False
            for _ in range(3):  # a rerun under faults may itself run out of retries
                rerun = cli.run(sandbox.env(), *flags, extra_env={**RETRY_ENV, "RUNTIME__LOG_LEVEL": "INFO"})
                tally.runs += 1
                if rerun.returncode == 0:
                    rerun_ok = True
                    measured = phase_durations(rerun.stderr)
                    if len(measured) == len(KILL_PHASES):  # a whole run: aim the next kills by it
                        incremental = measured
                    break
                if args.verbose:
                    print(rerun.stderr[-2000:], file=sys.stderr)
            if not rerun_ok:
                tally.failed_reruns += 1
            lost, duplicated, stale, examples = count_problems(cli, sandbox.site)
            tally.lost += lost
            tally.duplicated += duplicated
            tally.stale += stale
            kind = "reload" if reload else "incremental" if round_no else "first load"
            print(
                f"  round {round_no:>2} ({kind}):"
                f" kill {delay:.2f} s into {target:<9} -> died in {kill.phase:<9}"
                f" rerun {'ok' if rerun_ok else 'FAILED'}; lost {lost}, duplicated {duplicated},"
                f" stale {stale}" + (f"  e.g. {examples[0][:150]}" if examples else ""),
                flush=True,
            )
            if lost or duplicated or stale:
                # start the next round from a clean copy, so each round's damage is its own
                cli = start_afresh(cli, sandbox.env(), flags, RETRY_ENV)
                tally.runs += 1
    tally.seconds = time.monotonic() - started
    return tally


def overlap_soak(args: argparse.Namespace, root: Path) -> ScenarioTally:
    """Two runs of one pipeline started 0.5-2 s apart, each round; the second waits or exits 3."""
    rng = random.Random(f"overlap:{args.seed}")
    tally = ScenarioTally("overlapping starts, 0.5-2 s apart", interleaved=0)
    started = time.monotonic()
    first_size, second_size = args.page_size, args.page_size + 1
    with Sandbox(seed=args.seed, scale=args.scale) as sandbox:
        quiet_disconnects(sandbox)
        sandbox.faults.latency = args.overlap_latency
        cli = CliDir(root / "overlap")
        env = cli.env(sandbox.env())
        for round_no in range(args.overlaps):
            if round_no:
                change_site(sandbox.site, rng, round_no)
            give_up = round_no % 3 == 2  # every third round the second run may wait only 0.5 s
            gap = rng.uniform(0.5, 1.0) if give_up else rng.uniform(0.5, 2.0)
            timeout = "0.5" if give_up else "120"
            sandbox.clear_requests()
            first = subprocess.Popen(
                cli.command("--page-size", str(first_size), "--lock-timeout", timeout),
                cwd=cli.cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
            time.sleep(gap)
            second = subprocess.Popen(
                cli.command("--page-size", str(second_size), "--lock-timeout", timeout),
                cwd=cli.cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
            _, first_err = first.communicate(timeout=600)
            _, second_err = second.communicate(timeout=600)
            tally.rounds += 1
            tally.runs += 2
            held = "is being loaded by another run" in second_err
            if first.returncode != 0:
                outcome = f"first exit {first.returncode}"
            elif second.returncode == 0:
                outcome = "waited, then loaded" if held else "loaded, no wait reported"
            elif second.returncode == 3 and held:
                outcome = "gave up (exit 3)"
            else:
                outcome = f"second exit {second.returncode}"
            tally.outcomes[outcome] += 1
            if outcome.startswith(("first exit", "second exit")):
                tally.unexpected += 1
                if args.verbose:
                    print((first_err + second_err)[-3000:], file=sys.stderr)
            firsts, seconds = page_times(sandbox, first_size), page_times(sandbox, second_size)
            interleaved = sum(1 for t in seconds if firsts and t < firsts[-1])
            tally.interleaved = (tally.interleaved or 0) + interleaved
            lost, duplicated, stale, examples = count_problems(cli, sandbox.site)
            tally.lost += lost
            tally.duplicated += duplicated
            tally.stale += stale
            print(
                f"  overlap {round_no:>2} ({'first load' if round_no == 0 else 'incremental'}, second"
                f" {gap:.2f} s later, lock timeout {timeout} s): {outcome}; interleaved pages {interleaved};"
                f" lost {lost}, duplicated {duplicated}, stale {stale}"
                + (f"  e.g. {examples[0][:150]}" if examples else ""),
                flush=True,
            )
            if lost or duplicated or stale:
                cli = start_afresh(cli, sandbox.env(), ())
    tally.seconds = time.monotonic() - started
    return tally


def start_afresh(
    cli: CliDir, site_env: dict[str, str], flags: tuple[str, ...], extra_env: dict[str, str] | None = None
) -> CliDir:
    """A clean directory loaded anew after a bad round, so each round's damage is its own."""
    shutil.rmtree(cli.cwd)
    fresh_dir = CliDir(cli.cwd)
    fresh = fresh_dir.run(site_env, *flags, extra_env=extra_env)
    if fresh.returncode != 0:
        print(f"    a fresh load after the bad round failed:\n{fresh.stderr[-3000:]}", file=sys.stderr)
    return fresh_dir


def normalized_package(cli: CliDir) -> bool:
    """Normalize has handed a package to the load step."""
    return any((cli.working_dir / "load" / "normalized").glob("*/new_jobs/*"))


def completed_jobs(cli: CliDir) -> bool:
    """The load step has loaded a first job of the pending package."""
    return any((cli.working_dir / "load" / "normalized").glob("*/completed_jobs/*"))


def restart_soak(args: argparse.Namespace, root: Path) -> ScenarioTally:
    """Rounds into PostgreSQL with the server stopped before a run, while it reads or while it
    loads; started again, a rerun must leave the destination equal to the site."""
    rng = random.Random(f"restart:{args.seed}")
    tally = ScenarioTally("PostgreSQL stopped, then started again")
    started = time.monotonic()
    with Sandbox(seed=args.seed, scale=args.scale) as sandbox, running_postgres(durable=True) as server:
        quiet_disconnects(sandbox)
        sandbox.faults.latency = args.latency
        dataset = "soak0"
        cli = CliDir(root / "postgres")
        site_env = {**sandbox.env(), "DESTINATION__POSTGRES__CREDENTIALS": server.dsn}

        def flags() -> tuple[str, ...]:
            return ("--destination", "postgres", "--dataset", dataset, "--page-size", str(args.page_size))

        first = cli.run(site_env, *flags())
        tally.runs += 1
        if first.returncode != 0:
            raise RuntimeError(f"the first load into PostgreSQL failed: {first.stderr[-2000:]}")
        for round_no in range(args.restarts):
            change_site(sandbox.site, rng, round_no + 1)
            when = STOP_POINTS[round_no % len(STOP_POINTS)]
            detail = stop_during_a_run(cli, sandbox, server, site_env, flags(), when, rng)
            tally.rounds += 1
            tally.runs += 1
            tally.outcomes[detail.outcome] += 1
            if detail.outcome.startswith("exit ") and detail.outcome != "exit 1, one line":
                tally.unexpected += 1
                if args.verbose:
                    print(detail.stderr[-3000:], file=sys.stderr)
            rerun_ok = False
            for _ in range(3):
                rerun = cli.run(site_env, *flags())
                tally.runs += 1
                if rerun.returncode == 0:
                    rerun_ok = True
                    break
                if args.verbose:
                    print(rerun.stderr[-3000:], file=sys.stderr)
            if not rerun_ok:
                tally.unexpected += 1
            pipeline = dlt.attach(
                cli.pipeline_name,
                pipelines_dir=str(cli.pipelines_dir),
                destination=dlt.destinations.postgres(server.dlt_credentials()),
                dataset_name=dataset,
            )
            lost, duplicated, stale, examples = count_pipeline_problems(
                pipeline, sandbox.site, sql_duplicate_keys(pipeline)
            )
            tally.lost += lost
            tally.duplicated += duplicated
            tally.stale += stale
            print(
                f"  restart {round_no:>2}: stopped {when}{detail.where} -> {detail.outcome};"
                f" rerun {'ok' if rerun_ok else 'FAILED'};"
                f" lost {lost}, duplicated {duplicated}, stale {stale}"
                + (f"  e.g. {examples[0][:150]}" if examples else ""),
                flush=True,
            )
            if lost or duplicated or stale:
                dataset = f"soak{round_no + 1}"
                cli = start_afresh(cli, site_env, flags())
    tally.seconds = time.monotonic() - started
    return tally


@dataclass
class Stop:
    outcome: str
    where: str
    stderr: str


def stop_during_a_run(
    cli: CliDir,
    sandbox: Sandbox,
    server: PostgresServer,
    site_env: dict[str, str],
    flags: tuple[str, ...],
    when: str,
    rng: random.Random,
) -> Stop:
    """One run with the server stopped `when`; the server is up again on return."""
    env = cli.env(site_env)
    where = ""
    try:
        if when == "before the run":
            stop_server(server)
            result = run_and_act_when(cli.command(*flags), cli.cwd, env, lambda: False, lambda: None)
        elif when == "while reading":
            page = rng.randint(1, 6)
            where = f" (page request {page})"
            seen = {"n": 0}

            def stop_at_page(request: Any) -> None:
                if request.kind == "search":
                    seen["n"] += 1
                    if seen["n"] == page:
                        stop_server(server)

            sandbox.faults.before_request = stop_at_page
            result = run_and_act_when(cli.command(*flags), cli.cwd, env, lambda: False, lambda: None)
        else:
            loading = when == "while loading"
            where = " (its first job loaded)" if loading else " (its package normalized)"
            ready = (lambda: completed_jobs(cli)) if loading else (lambda: normalized_package(cli))
            result = run_and_act_when(cli.command(*flags), cli.cwd, env, ready, lambda: stop_server(server))
    finally:
        sandbox.faults.before_request = None
        if not server_is_up(server):
            start_server(server)
    # libpq prints its own notice when it connects to a server that is shutting down
    lines = [
        line for line in result.stderr.strip().splitlines() if not line.startswith("WARNING:  terminating")
    ]
    if result.returncode == 0:
        outcome = "finished first"  # the stop came after the run had loaded everything
    elif result.returncode == 1 and len(lines) == 1 and lines[0].startswith("error: Could not "):
        outcome = "exit 1, one line"
    else:
        outcome = f"exit {result.returncode}, {len(lines)} lines"
    return Stop(outcome, where, result.stderr)


class Churn:
    """The `before_request` hook of a churn round: on every `every`-th search request, one seeded
    change of the site, made in the sandbox's server thread before the request is answered (so the
    page it answers, and every later one, sees it). Parallel reads call it from several threads."""

    def __init__(self, site: Any, rng: random.Random, every: int, tag: str) -> None:
        self.site = site
        self.rng = rng
        self.every = every
        self.tag = tag
        self.searches = 0
        self.done: Counter[str] = Counter()
        self.failed: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, request: Any) -> None:
        if request.kind != "search":
            return
        with self._lock:
            self.searches += 1
            if self.searches % self.every:
                return
            kind = self.rng.choice(CHURN_KINDS)
            try:
                self.done[self.change(kind)] += 1
            except Exception as exc:  # a hook that raises would fail the request, not the soak
                self.failed.append(f"{kind}: {exc!r}")

    def change(self, kind: str) -> str:
        """Make one change of `kind` (a revive with nothing retired retires instead); the kind made."""
        site, rng, n = self.site, self.rng, sum(self.done.values())
        if kind == "revive":
            retired = [(t, r["id"]) for t in RETIRED_TYPES for r in site.records(t, retired=True)]
            if retired:
                site.revive(*rng.choice(retired))
                return "revive"
            kind = "retire"
        if kind == "retire":
            entity_type = rng.choice(RETIRED_TYPES)
            site.retire(entity_type, rng.choice(site.records(entity_type))["id"])
        elif kind == "rename":
            entity_type = rng.choice(list(RENAMED))
            name_field = RENAMED[entity_type]
            record = rng.choice(site.records(entity_type))
            site.update(entity_type, record["id"], {name_field: f"{record[name_field]} ~{self.tag}.{n}"})
        elif kind == "create":
            shot = rng.choice(site.records("Shot"))
            links = {"project": shot["project"], "entity": {"type": "Shot", "id": shot["id"]}}
            if rng.random() < 0.5:
                site.create("Version", {"code": f"churn_{self.tag}_{n}", **links})
            else:
                site.create("Task", {"content": f"churn {self.tag} {n}", **links})
        else:
            site.mutate(rng.choice(ENTITIES), 1e-9, seed=rng.randrange(10**6))  # one record
        return kind


@dataclass
class ChurnCheck:
    """What a destination holds wrong against the site after a churn round's run."""

    lost: int
    duplicated: int
    stale: int
    retired_live: int
    stale_names: int
    examples: list[str]

    def bad(self) -> int:
        return self.lost + self.duplicated + self.stale + self.retired_live + self.stale_names

    def line(self) -> str:
        return (
            f"lost {self.lost}, duplicated {self.duplicated}, stale {self.stale},"
            f" retired live {self.retired_live}, stale names {self.stale_names}"
        )


def retired_live_ids(pipeline: Any, site: Any, entity_type: str) -> set[int]:
    """Ids retired on the site whose rows the destination keeps live (not flagged `_sg_retired`)."""
    got = destination_tables(pipeline, entity_type, field_types(site, entity_type))
    return set(got.root) & {r["id"] for r in site.records(entity_type, retired=True)}


def stale_name_ids(pipeline: Any, site: Any, entity_type: str) -> set[int]:
    """Ids whose link names differ from the site's: a `<link>__name` column of a row (live or
    flagged retired) unlike the linked record's name now, or multi-entity link rows unlike the
    site's (`stale_link_parents`)."""
    kinds = field_types(site, entity_type)
    names = [f"{name}__name" for name, kind in kinds.items() if kind == "entity"]
    if not names and "multi_entity" not in kinds.values():
        return set()
    want = expected_tables(site, entity_type, site.records(entity_type, retired=None)).root
    got = destination_tables(pipeline, entity_type, kinds)
    stale = {
        record_id
        for record_id, row in (got.root | got.retired).items()
        if record_id in want and any(row.get(c) != want[record_id][c] for c in names)
    }
    if "multi_entity" in kinds.values():
        stale |= stale_link_parents(pipeline, site, entity_type)
    return stale


def check_churn(cli: CliDir, site: Any) -> ChurnCheck:
    lost, duplicated, stale, examples = count_problems(cli, site)
    pipeline = cli.attach()
    retired_live = stale_names = 0
    for entity_type in ENTITIES:
        live = sorted(retired_live_ids(pipeline, site, entity_type))
        names = sorted(stale_name_ids(pipeline, site, entity_type))
        retired_live += len(live)
        stale_names += len(names)
        if live:
            examples.append(f"{entity_type} retired on the site but live in DuckDB: {live[:10]}")
        if names:
            examples.append(f"{entity_type} with stale link names: {names[:10]}")
    return ChurnCheck(lost, duplicated, stale, retired_live, stale_names, examples)


def churn_soak(args: argparse.Namespace, root: Path) -> ScenarioTally:
    """Runs while the site changes between their page requests, each followed by a quiet rerun that
    must leave the destination equal to the site; the first round is a first load."""
    tally = ScenarioTally("site changed between page requests", retired_live=0, stale_names=0)
    started = time.monotonic()
    flags = ("--page-size", str(args.page_size))
    with Sandbox(seed=args.seed, scale=args.scale) as sandbox:
        quiet_disconnects(sandbox)
        sandbox.faults.latency = args.latency
        cli = CliDir(root / "churn")
        for round_no in range(args.churn):
            rng = random.Random(f"churn:{args.seed}:{round_no}")
            churn = Churn(sandbox.site, rng, every=rng.randint(2, 5), tag=f"{args.seed}.{round_no}")
            first_load = not cli.database.exists()
            sandbox.faults.before_request = churn
            try:
                churned = cli.run(sandbox.env(), *flags)
            finally:
                sandbox.faults.before_request = None
            if churned.returncode != 0:
                print(f"    the churned run failed:\n{churned.stderr[-3000:]}", file=sys.stderr)
            during = check_churn(cli, sandbox.site) if churned.returncode == 0 else None
            quiet = cli.run(sandbox.env(), *flags)
            if quiet.returncode != 0:
                print(f"    the quiet rerun failed:\n{quiet.stderr[-3000:]}", file=sys.stderr)
            after = check_churn(cli, sandbox.site)
            tally.rounds += 1
            tally.runs += 2
            for name, run in (("churned run", churned), ("quiet rerun", quiet)):
                outcome = f"{name} exit {run.returncode}"
                tally.outcomes[outcome] += 1
                if run.returncode != 0:
                    tally.unexpected += 1
                    if args.verbose:
                        print(run.stderr[-3000:], file=sys.stderr)
            tally.lost += after.lost
            tally.duplicated += after.duplicated
            tally.stale += after.stale
            tally.retired_live = (tally.retired_live or 0) + after.retired_live
            tally.stale_names = (tally.stale_names or 0) + after.stale_names
            made = ", ".join(f"{kind} {churn.done[kind]}" for kind in CHURN_KINDS)
            print(
                f"  churn {round_no:>2} ({'first load' if first_load else 'incremental'}, a change every"
                f" {churn.every} searches of {churn.searches}): {sum(churn.done.values())} changes"
                f" ({made}){f', {len(churn.failed)} FAILED' if churn.failed else ''};"
                f" after the run ({'exit 0' if during else f'exit {churned.returncode}'})"
                f" {during.line() if during else '-'};"
                f" after a quiet rerun (exit {quiet.returncode}) {after.line()}"
                + (f"  e.g. {after.examples[0][:150]}" if after.examples else ""),
                flush=True,
            )
            for failure in churn.failed[:3]:
                print(f"    change failed: {failure[:200]}")
            if after.bad():
                for example in after.examples[:8]:
                    print(f"    {example[:300]}")
                for name, run in (("churned run", churned), ("quiet rerun", quiet)):
                    for line in [x for x in run.stderr.splitlines() if "WARNING" in x][:5]:
                        print(f"    {name} warned: {line[:300]}")
                cli = start_afresh(cli, sandbox.env(), flags)
    tally.seconds = time.monotonic() - started
    return tally


def phase_durations(log: str) -> dict[str, float]:
    """Seconds from each phase's first log line to the next phase's, from dlt's log timestamps
    (INFO); only the phases the log shows."""
    starts: dict[str, float] = {}
    last = 0.0
    markers = [
        ("Bind incremental", "extract"),
        ("Running file normalizing", "normalize"),
        ("Running file loading", "load"),
    ]
    for line in log.splitlines():
        stamp = re.match(r"\d{4}-\d\d-\d\d (\d\d):(\d\d):(\d\d),(\d{3})\|", line)
        if not stamp:
            continue
        h, m, s, ms = (int(x) for x in stamp.groups())
        last = h * 3600 + m * 60 + s + ms / 1000
        for marker, phase in markers:
            if marker in line and phase not in starts:
                starts[phase] = last
    order = [p for p in KILL_PHASES if p in starts]
    ends = [starts[p] for p in order[1:]] + [last]
    return {p: max(0.05, end - starts[p]) for p, end in zip(order, ends, strict=True)}


def print_table(tallies: list[Tally]) -> None:
    landed = list(PHASES)
    head = f"{'faults injected':<60} {'runs':>5} {'kills':>5}"
    head += "".join(f" {p:>9}" for p in landed)
    head += f" {'reloads':>7} {'lost':>5} {'dupl.':>6} {'stale':>6} {'secs':>5}"
    print(head)
    print("-" * len(head))
    for t in tallies:
        kills = sum(n for phase, n in t.kills.items() if phase != "finished")
        row = f"{t.faults:<60} {t.runs:>5} {kills:>5}"
        row += "".join(f" {t.kills.get(p, 0):>9}" for p in landed)
        row += f" {t.reloads:>7} {t.lost:>5} {t.duplicated:>6} {t.stale:>6} {t.seconds:>5.0f}"
        print(row)
    failed = sum(t.failed_reruns for t in tallies)
    if failed:
        print(f"{failed} rerun(s) did not complete in 3 tries")
    print(
        "kills: by the phase dlt's log showed when SIGKILL was sent ('finished': the run ended first);"
        " reloads: killed runs that were full reloads (--refresh)"
    )


def print_scenarios(tallies: list[ScenarioTally]) -> None:
    if not tallies:
        return
    head = f"{'scenario':<40} {'rounds':>6} {'runs':>5} {'interleaved':>11} {'unexpected':>10}"
    head += f" {'lost':>5} {'dupl.':>6} {'stale':>6} {'ret.live':>8} {'names':>5} {'secs':>5}"
    head += "  how the runs ended"
    print(head)
    print("-" * len(head))
    for t in tallies:
        interleaved = "-" if t.interleaved is None else str(t.interleaved)
        retired_live = "-" if t.retired_live is None else str(t.retired_live)
        names = "-" if t.stale_names is None else str(t.stale_names)
        ended = ", ".join(f"{name} {n}" for name, n in sorted(t.outcomes.items()))
        row = f"{t.scenario:<40} {t.rounds:>6} {t.runs:>5} {interleaved:>11} {t.unexpected:>10}"
        row += f" {t.lost:>5} {t.duplicated:>6} {t.stale:>6} {retired_live:>8} {names:>5}"
        row += f" {t.seconds:>5.0f}  {ended}"
        print(row)
    print(
        "interleaved: page requests of a second run that came while the first still read;"
        " unexpected: runs that ended other than they must (a second run exits 0 or 3, a run that"
        " loses PostgreSQL exits 1 with one line, every rerun 0, every churned run 0);"
        " ret.live: rows retired on the site but live in DuckDB, names: rows with stale link names"
        " (both also counted in stale; churn only, after the quiet rerun)"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = {"off": [False], "on": [True], "both": [False, True]}[args.faults]
    root = args.workdir or Path(tempfile.mkdtemp(prefix="shotgun_soak_"))
    root.mkdir(parents=True, exist_ok=True)
    tallies = []
    scenarios: list[ScenarioTally] = []
    try:
        for faults_on in settings if args.kills else []:
            print(
                f"soak: {args.kills} kills, faults {'on: ' + FAULTS_ON if faults_on else 'off'}", flush=True
            )
            tallies.append(soak(args, faults_on, root))
        if args.overlaps:
            print(f"soak: {args.overlaps} rounds of two overlapping starts", flush=True)
            scenarios.append(overlap_soak(args, root))
        if args.restarts:
            print(f"soak: {args.restarts} rounds with PostgreSQL stopped and started again", flush=True)
            scenarios.append(restart_soak(args, root))
        if args.churn:
            print(f"soak: {args.churn} runs while the site changes between their page requests", flush=True)
            scenarios.append(churn_soak(args, root))
    finally:
        if args.workdir is None:
            shutil.rmtree(root, ignore_errors=True)
    print()
    if tallies:
        print_table(tallies)
        print()
    print_scenarios(scenarios)
    lost = sum(t.lost for t in tallies) + sum(t.lost for t in scenarios)
    duplicated = sum(t.duplicated for t in tallies) + sum(t.duplicated for t in scenarios)
    stale = sum(t.stale for t in tallies) + sum(t.stale for t in scenarios)
    retired_live = sum(t.retired_live or 0 for t in scenarios)
    stale_names = sum(t.stale_names or 0 for t in scenarios)
    unexpected = sum(t.failed_reruns for t in tallies) + sum(
        t.unexpected + (t.interleaved or 0) for t in scenarios
    )
    print(
        f"\ntotal: {lost} lost, {duplicated} duplicated, {stale} stale"
        f" ({retired_live} retired live, {stale_names} stale link names); {unexpected} unexpected endings"
    )
    return 1 if lost + duplicated + stale + retired_live + stale_names + unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
