"""The site down for longer than the retry budget: a clear error, nothing half-loaded, a rerun mends.

Runs the script users run (`pipelines/shotgun_pipeline.py`) as a subprocess against a sandbox in
this process, with a small retry budget set the way users set it (`RUNTIME__*` variables).
"""

import time
from pathlib import Path
from typing import Any

from destination_truth import assert_destination_matches_site
from timing import FAIL_FAST_SECONDS

from reliability.helpers import FAST, CliDir, duplicate_keys

SMALL_RETRY_BUDGET = {
    "RUNTIME__REQUEST_MAX_ATTEMPTS": "3",
    "RUNTIME__REQUEST_BACKOFF_FACTOR": "0.1",
    "RUNTIME__REQUEST_MAX_RETRY_DELAY": "1",
}
ARGS = ("--entities", "Shot,Version", "--page-size", "100")
TYPES = ["Shot", "Version"]


def _go_down(sandbox: Any, when: str) -> None:
    """`down` from the first request on, from the first schema read or from the 2nd page; or every
    data answer cut off mid-body."""
    faults = sandbox.faults
    if when == "from the start":
        faults.down = True
        return
    if when == "cutting every answer off mid-body":
        faults.drop_share = 1.0
        return
    seen = {"n": 0}
    trigger_kind, trigger_n = ("schema", 1) if when == "during the schema reads" else ("search", 2)

    def trip(request: Any) -> None:
        if request.kind == trigger_kind:
            seen["n"] += 1
            if seen["n"] == trigger_n:
                faults.down = True

    faults.before_request = trip


def test_site_down_longer_than_the_retries_fails_clearly_and_a_rerun_mends(
    sandbox: Any, tmp_path: Path
) -> None:
    cli = CliDir(tmp_path / "run")
    site_env = sandbox.env()
    first = cli.run(site_env, *ARGS, extra_env=SMALL_RETRY_BUDGET)
    assert first.returncode == 0, first.stderr
    loaded, cursors = cli.snapshot(), cli.cursors()
    assert loaded["shots"] and cursors.get("shots")

    site = sandbox.site
    for shot in site.records("Shot")[:5]:
        site.update("Shot", shot["id"], {"description": "changed while the site was down"})
    site.create("Version", {"code": "created while the site was down", "project": shot["project"]})
    assert len(site.mutate("Version", 0.3, seed=7)) > 2 * int(ARGS[-1])  # so the next run pages

    problems: list[str] = []
    modes = {
        "from the start": "503",
        "during the schema reads": "503",
        "while paging": "503",
        "cutting every answer off mid-body": "connection",
    }
    for when, cause in modes.items():
        _go_down(sandbox, when)
        started = time.monotonic()
        failed = cli.run(site_env, *ARGS, extra_env=SMALL_RETRY_BUDGET)
        took = time.monotonic() - started
        sandbox.faults.reset()
        said = failed.stderr.strip()
        if failed.returncode != 1:
            problems.append(f"down {when}: exit status {failed.returncode}, not 1 (rerun later): {said}")
        if "Traceback" in said or not said.startswith("error: "):
            problems.append(f"down {when}: not one clear message but:\n{said[-1500:]}")
        elif cause not in said or "again later" not in said.lower():
            problems.append(f"down {when}: no word of the cause ({cause}) and a rerun: {said}")
        print(f"\ndown {when}: failing took {took:.2f} s")
        if took >= FAIL_FAST_SECONDS:
            problems.append(f"down {when}: failing took {took:.1f} s, over {FAIL_FAST_SECONDS:.0f} s")
        if cli.cursors() != cursors:
            problems.append(f"down {when}: a cursor moved: {cli.cursors()} != {cursors}")
        if cli.snapshot() != loaded:
            problems.append(f"down {when}: the destination changed")

    rerun = cli.run(site_env, *ARGS, extra_env=SMALL_RETRY_BUDGET)
    assert rerun.returncode == 0, rerun.stderr
    assert not duplicate_keys(cli.database)
    assert_destination_matches_site(cli.attach(), site, TYPES)
    assert not problems, "\n".join(problems)


TRICKLE_ENV = {**SMALL_RETRY_BUDGET, "RUNTIME__REQUEST_TIMEOUT": "2"}
"""Two seconds per answer, three tries: a trickled answer fails within about seven seconds."""


def _trickle_from_page(sandbox: Any, page: int, only_that_one: bool = False) -> None:
    """Every answer from the `page`-th page request on trickles a byte a second (or that one only)."""
    seen = {"n": 0}

    def trip(request: Any) -> None:
        if request.kind == "search":
            seen["n"] += 1
            if seen["n"] == page:
                if only_that_one:
                    sandbox.faults.trickle_next(1, interval=1.0)
                else:
                    sandbox.faults.trickle = 1.0

    sandbox.faults.before_request = trip


def test_a_site_that_trickles_its_answers_times_out_retries_and_fails_as_unavailable(
    sandbox: Any, tmp_path: Path
) -> None:
    """Headers at once, then a byte a second: every socket read gets its byte within dlt's
    request timeout, so only a deadline on the whole answer stops the run from hanging."""
    cli = CliDir(tmp_path / "run")
    site_env = sandbox.env()
    first = cli.run(site_env, *ARGS, extra_env=TRICKLE_ENV)
    assert first.returncode == 0, first.stderr
    loaded, cursors = cli.snapshot(), cli.cursors()
    site = sandbox.site
    for entity_type in TYPES:
        site.mutate(entity_type, 0.4, seed=3)

    problems: list[str] = []
    for when in ("from the schema reads on", "from the second page on"):
        if when == "from the second page on":
            _trickle_from_page(sandbox, 2)
        else:
            sandbox.faults.trickle = 1.0
        started = time.monotonic()
        failed = cli.run(site_env, *ARGS, extra_env=TRICKLE_ENV, timeout=60)
        took = time.monotonic() - started
        sandbox.faults.reset()
        said = failed.stderr.strip()
        if failed.returncode != 1:
            problems.append(f"trickling {when}: exit status {failed.returncode}, not 1: {said[-1500:]}")
        if "Traceback" in said or not said.startswith("error: ShotGrid did not answer in time"):
            problems.append(f"trickling {when}: not one clear message but:\n{said[-1500:]}")
        elif "unavailable" not in said or "again later" not in said:
            problems.append(f"trickling {when}: no word of the site unavailable and a rerun: {said}")
        if took > FAST:
            problems.append(f"trickling {when}: failing took {took:.1f} s")
        if cli.cursors() != cursors:
            problems.append(f"trickling {when}: a cursor moved: {cli.cursors()} != {cursors}")
        if cli.snapshot() != loaded:
            problems.append(f"trickling {when}: the destination changed")
    assert not problems, "\n".join(problems)

    # one trickled page: dlt's retry treats it like any timeout and the run goes on
    _trickle_from_page(sandbox, 1, only_that_one=True)
    rerun = cli.run(site_env, *ARGS, extra_env=TRICKLE_ENV)
    assert rerun.returncode == 0, rerun.stderr
    assert "1 failed connections" in rerun.stdout, rerun.stdout
    assert not duplicate_keys(cli.database)
    assert_destination_matches_site(cli.attach(), site, TYPES)
