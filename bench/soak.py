"""Crash soak: SIGKILL the pipeline script at random points, rerun, and count what was lost.

    python bench/soak.py                          # 20 kills, no faults
    python bench/soak.py --faults on --kills 30   # with 429s, 5xx bursts, dropped bodies, 3 s tokens
    python bench/soak.py --faults both            # one row without faults, one with

A sandbox site runs in this process; the script users run (`pipelines/shotgun_pipeline.py`) runs
as a subprocess against it, loading DuckDB. Each round changes the site (updates, creations, a
retirement), starts the script, kills it with SIGKILL a seeded-random delay into a seeded-random
phase (extract, normalize or load, told apart by dlt's log; see tests/reliability/crash.py),
reruns it to completion and compares the destination with the site row for row
(tests/destination_truth.py). The first round's kill hits the first load, about a quarter of the
others a full reload (`--refresh`), the rest incremental runs.

Prints one table row per fault setting: runs, kills by the phase they landed in, and rows lost
(live on the site, missing), duplicated (extra rows with the same id, or the same parent and list
index in child tables) and stale (present with values the site no longer has, or not flagged
retired). Exits 1 if any row was lost, duplicated or stale.
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from destination_truth import compare_entity, destination_tables, expected_tables, field_types  # noqa: E402
from reliability.crash import PHASES, run_and_kill  # noqa: E402
from reliability.helpers import CliDir, duplicate_keys  # noqa: E402

from shotgun_source.sandbox import Sandbox  # noqa: E402

ENTITIES = ["Project", "Shot", "Task", "Asset", "Version"]
KILL_PHASES = ("extract", "normalize", "load")
VALUE_LINE = re.compile(r"^\w+ (\d+)[ .]")
LINK_LINE = re.compile(r"^\w+\.\w+ links differ")
FAULTS_ON = "429 5% (Retry-After 1 s), 503 bursts, 3% dropped, 3 s tokens"
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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kills", type=int, default=20, help="killed runs per fault setting (default 20)")
    p.add_argument("--faults", choices=("off", "on", "both"), default="off", help="fault settings to soak")
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
    """(rows lost, rows duplicated, rows stale, a few examples) of the destination against the site."""
    pipeline = cli.attach()
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
    duplicated = sum(duplicate_keys(cli.database).values())
    return lost, duplicated, stale, examples


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
                shutil.rmtree(cli.cwd)
                cli = CliDir(cli.cwd)
                cli.run(sandbox.env(), *flags, extra_env=RETRY_ENV)
                tally.runs += 1
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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = {"off": [False], "on": [True], "both": [False, True]}[args.faults]
    root = args.workdir or Path(tempfile.mkdtemp(prefix="shotgun_soak_"))
    root.mkdir(parents=True, exist_ok=True)
    tallies = []
    try:
        for faults_on in settings:
            print(
                f"soak: {args.kills} kills, faults {'on: ' + FAULTS_ON if faults_on else 'off'}", flush=True
            )
            tallies.append(soak(args, faults_on, root))
    finally:
        if args.workdir is None:
            shutil.rmtree(root, ignore_errors=True)
    print()
    print_table(tallies)
    bad = sum(t.lost + t.duplicated + t.stale + t.failed_reruns for t in tallies)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
