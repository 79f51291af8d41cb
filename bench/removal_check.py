"""Removal check: take each guarantee out of the product once and see a test fail.

    python bench/removal_check.py                 # every removal, after one baseline run
    python bench/removal_check.py --list          # the removals and the tests each must fail
    python bench/removal_check.py --only lookback-window --only keyset-window
    python bench/removal_check.py --no-baseline   # skip the run of the unchanged copy

Each removal is a small textual edit of the product, matched on a snippet distinctive enough to
occur once in its file. For each, the current checkout (the files git tracks or would track,
uncommitted changes included) is copied into a fresh temporary folder, the edit is made there
(never in the working tree), and the tests named for it run in that copy with this project's
virtual environment (`PYTHONPATH` points at the copy, so the tests and the scripts they start
import the edited package). One line per removal:

    PASS  a named test failed: the guarantee is watched
    MISS  every named test passed without the guarantee: nothing notices its absence
    N/A   the snippet is no longer in the file (the code moved): the removal must be written again
    BAD   the tests fail in the unchanged copy too, or did not run: the result proves nothing

First, unless `--no-baseline`, every named test runs once in an unchanged copy: a test that fails
there cannot show anything by failing later. Exits 0 only when every removal is PASS.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SKIP_IN_COPY = (  # outside git: what is never copied
    ".git",
    ".venv",
    "__pycache__",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    "*.egg-info",
    "*.duckdb",
    "*.duckdb.wal",
    "_storage",
    "dlt_data",
    "shotgun_data",
    "build",
    "dist",
)
RUN_TIMEOUT = 900.0
"""Seconds one removal's tests may take; a removal that makes a test hang shows as a timeout."""


@dataclass(frozen=True)
class Edit:
    """Replace `old` (which must occur exactly once in `path`) with `new`."""

    path: str
    old: str
    new: str


@dataclass(frozen=True)
class Removal:
    name: str
    guarantee: str
    edits: tuple[Edit, ...]
    tests: tuple[str, ...]
    """pytest node ids (files, `file::test`, `file::test[param]`) of which at least one must fail."""


REMOVALS: tuple[Removal, ...] = (
    Removal(
        "lookback-window",
        "each run re-reads lookback_seconds before its cursor (rows committed late)",
        (
            Edit(
                "shotgun_source/reads.py",
                '"lag": overlap_seconds(lookback_seconds),',
                '"lag": overlap_seconds(0),',
            ),
        ),
        ("tests/source/test_lookback.py::test_writes_committed_late_are_loaded_by_the_next_run",),
    ),
    Removal(
        "lookback-event-log",
        "the event log is read from lookback_seconds before where the last run stopped",
        (
            Edit(
                "shotgun_source/resources.py",
                "start = shift(since, overlap_seconds(self.settings.lookback_seconds))",
                "start = shift(since, overlap_seconds(0))",
            ),
        ),
        ("tests/source/test_lookback.py::test_writes_committed_late_are_loaded_by_the_next_run",),
    ),
    Removal(
        "overlap-last-second",
        "every run re-reads at least the last second before its cursor, even with lookback 0",
        (
            Edit(
                "shotgun_source/reads.py",
                "return max(lookback_seconds, MIN_OVERLAP_SECONDS)",
                "return lookback_seconds",
            ),
        ),
        (
            "tests/source/test_lookback.py::"
            "test_with_lookback_0_a_change_in_the_second_before_the_cursor_is_read_by_the_next_run",
        ),
    ),
    Removal(
        "keyset-window",
        "window pages are read by key (id above the last seen), not by page number",
        (
            Edit(
                "shotgun_source/session.py",
                "after = next_keyset_cursor(after, page.last_id)",
                'body["page"]["number"] += 1',
            ),
        ),
        ("tests/source/test_paginator.py::test_the_window_read_loses_nothing_while_records_it_read_retire",),
    ),
    Removal(
        "keyset-paginator",
        "the keyset paginator (event-log reads, rest_api configs) pages by key, not by page number",
        (
            Edit(
                "shotgun_source/paginator.py",
                "        set_keyset_cursor(cast(dict[str, Any], request.json), self.last_id)",
                '        cast(dict[str, Any], request.json)["page"]["number"] += 1',
            ),
        ),
        ("tests/source/test_paginator.py::test_keyset_paging_loses_nothing_when_one_leaves_mid_read",),
    ),
    Removal(
        "token-refresh-ahead",
        "a token is renewed before it expires, not after a 401",
        (
            Edit(
                "shotgun_source/auth.py",
                "return token is None or token != self.access_token or time.monotonic() >= state.expires_at"
                " - margin",
                "return token is None or token != self.access_token",
            ),
        ),
        ("tests/source/test_auth.py::test_tokens_are_renewed_before_they_expire",),
    ),
    Removal(
        "token-renewal-on-401",
        "a request answered 401 gets one new token and is sent again",
        (
            Edit(
                "shotgun_source/auth.py",
                'if status == 401 and not getattr(request, "_shotgun_retried", False):',
                'if False and status == 401 and not getattr(request, "_shotgun_retried", False):',
            ),
        ),
        ("tests/source/test_auth.py::test_tokens_revoked_mid_run_are_renewed_once",),
    ),
    Removal(
        "one-token-lock",
        "parallel reads share one token: renewals happen under one lock",
        (Edit("shotgun_source/auth.py", "with self._state.lock:", "with threading.Lock():"),),
        (
            "tests/source/test_auth.py::test_threads_asking_at_once_fetch_one_token",
            "tests/source/test_auth.py::test_parallel_resources_share_one_token",
        ),
    ),
    Removal(
        "one-token-second-look",
        "a thread that waited for the lock uses the token another thread just fetched",
        (
            Edit(
                "shotgun_source/auth.py",
                "if self.access_token != stale and not self._expiring(self.access_token):",
                "if False:",
            ),
        ),
        ("tests/source/test_auth.py::test_threads_asking_at_once_fetch_one_token",),
    ),
    Removal(
        "same-run-order",
        "a record the event log names is left out of the window read and read once after it",
        (
            Edit(
                "shotgun_source/resources.py",
                "yield page.without(later)",
                "yield page",
            ),
        ),
        ("tests/warehouses/test_same_load_order.py",),
    ),
    Removal(
        "soft-deletes",
        "a retired record's row stays, flagged _sg_retired (deletes = soft)",
        (
            Edit(
                "shotgun_source/deletes.py",
                'if not gone or self.mode == "ignore":',
                'if not gone or self.mode in ("ignore", "soft"):',
            ),
        ),
        ("tests/source/test_deletes.py::test_retired_and_revived_records[soft]",),
    ),
    Removal(
        "hard-deletes",
        "a retired record's row and link rows are deleted (deletes = hard)",
        (
            Edit(
                "shotgun_source/deletes.py",
                "            yield stamp.deleted(gone)\n            return",
                "            return",
            ),
        ),
        ("tests/source/test_deletes.py::test_retired_and_revived_records[hard]",),
    ),
    Removal(
        "revivals",
        "a revived record's row is live again",
        (
            Edit(
                "shotgun_source/deletes.py",
                "for page in self._by_ids(wanted, retired=False, convert=stamp.live):\n"
                '            live.update(page.root.column("id").to_pylist())\n'
                "            yield page",
                "for page in self._by_ids(wanted, retired=False, convert=stamp.live):\n"
                '            live.update(page.root.column("id").to_pylist())',
            ),
        ),
        ("tests/source/test_deletes.py::test_retired_and_revived_records[soft]",),
    ),
    Removal(
        "rename-link-names",
        "rows linking to a renamed record are read again (their <link>__name)",
        (Edit("shotgun_source/resources.py", "if plan.changes.renamed:", "if False:"),),
        ("tests/reliability/test_faults.py::test_renaming_a_linked_record_reaches_the_rows_that_link_it",),
    ),
    Removal(
        "private-destination-schema",
        "destination reads from resource threads use their own copy of the stored schema, one at a time",
        (
            Edit(
                "shotgun_source/deletes.py",
                "        return pipeline.schemas.load_schema(name)",
                "        return pipeline.default_schema",
            ),
            Edit("shotgun_source/deletes.py", "    with _DESTINATION_READS:\n", "    if True:\n"),
        ),
        (
            "tests/source/test_deletes.py::"
            "test_destination_reads_from_parallel_resource_threads_see_every_table",
        ),
    ),
    Removal(
        "rename-retired-rows",
        "retired rows linking to a renamed record are read again too, keeping their _sg_retired_at",
        (
            Edit(
                "shotgun_source/resources.py",
                "        if not plan.retired_linking_ids:\n            return",
                "        return",
            ),
        ),
        (
            "tests/reliability/test_faults.py::"
            "test_renaming_a_record_reaches_retired_rows_that_link_it_and_keeps_their_retirement_time",
        ),
    ),
    Removal(
        "duckdb-memory-cap",
        "load() caps DuckDB's memory and lets go of its insertion order while it loads",
        (
            Edit(
                "shotgun_source/load_settings.py",
                "        tune_duckdb_loads(destination),\n",
                "",
            ),
        ),
        ("tests/source/test_load_settings.py::test_load_applies_them_to_a_pipeline_of_the_users_own",),
    ),
    Removal(
        "parquet-for-duckdb",
        "load() hands DuckDB parquet load files, whatever the source yields",
        (
            Edit(
                "shotgun_source/load_settings.py",
                '    if destination in PARQUET_DESTINATIONS:\n        return "parquet"\n',
                "",
            ),
        ),
        ("tests/source/test_load_settings.py::test_load_hands_duckdb_parquet_files_from_a_source_of_rows",),
    ),
    Removal(
        "load-file-format",
        "load() passes its file format per destination to dlt (dlt's defaults differ for rows)",
        (
            Edit(
                "shotgun_source/run.py",
                'options: dict[str, Any] = {"loader_file_format": loader_file_format(pipeline, arrow_items)}',
                "options: dict[str, Any] = {}",
            ),
        ),
        ("tests/source/test_load_settings.py::test_load_hands_duckdb_parquet_files_from_a_source_of_rows",),
    ),
    Removal(
        "copy-keeping-empty-text",
        "PostgreSQL's csv files load with the COPY job that keeps an empty text apart from NULL",
        (
            Edit(
                "shotgun_source/postgres_copy.py",
                "        if type(job) is PostgresCsvCopyJob:\n"
                "            return CopyKeepingEmptyText(file_path)\n",
                "",
            ),
        ),
        (
            "tests/source/test_load_settings.py::test_load_copies_csv_files_into_postgres_and_an_empty_text_stays_empty",
            "tests/warehouses/test_warehouse_scenarios.py::test_records_created_and_updated_between_runs_arrive[postgres]",
        ),
    ),
    Removal(
        "uncompressed-postgres-files",
        "load() writes PostgreSQL's csv files without gzip",
        (
            Edit(
                "shotgun_source/load_settings.py",
                'UNCOMPRESSED_FILES = frozenset({"postgres"})',
                "UNCOMPRESSED_FILES = frozenset()",
            ),
        ),
        (
            "tests/source/test_load_settings.py::test_load_copies_csv_files_into_postgres_and_an_empty_text_stays_empty",
        ),
    ),
    Removal(
        "mend-first-load-kill",
        "a first load killed after its schema update was recorded gets its staging tables on the rerun",
        (Edit("shotgun_source/recovery.py", "if not jobs and not schema_changed:", "if not jobs:"),),
        (
            "tests/reliability/test_crash_points.py::test_sigkill_at_a_commit_point_then_a_rerun_mends"
            "[first load: schema update applied, no copy job started yet]",
        ),
    ),
    Removal(
        "refresh",
        "--refresh (load(refresh=True)) drops the source's tables and cursors and reads the site again",
        (Edit("shotgun_source/run.py", 'options["refresh"] = "drop_sources"', "pass"),),
        ("tests/test_pipeline_cli.py::test_refresh_reads_the_whole_site_again",),
    ),
    Removal(
        "secret-grant-in-body",
        "the script key goes in the token request's form body, never its query string (logged)",
        (Edit("shotgun_source/auth.py", "                data=data,\n", "                params=data,\n"),),
        ("tests/reliability/test_secrets.py::test_no_secret_in_any_log_trace_package_state_or_table",),
    ),
    Removal(
        "secret-typed-secret",
        "the script key is a secret value to dlt (kept out of traces and config dumps)",
        (
            Edit(
                "shotgun_source/auth.py",
                "    client_secret: TSecretStrValue | None = None",
                "    client_secret: str | None = None",
            ),
        ),
        ("tests/reliability/test_secrets.py::test_no_secret_in_any_log_trace_package_state_or_table",),
    ),
    Removal(
        "token-stays-home",
        "the bearer token is sent to the configured site only",
        (
            Edit(
                "shotgun_source/auth.py",
                'if not same_origin(request.url or "", site):',
                "if False:",
            ),
        ),
        (
            "tests/source/test_auth.py::test_token_is_not_sent_to_another_host",
            "tests/source/test_rest_api_names.py::test_a_link_to_another_origin_gets_no_token",
        ),
    ),
)


@dataclass
class Outcome:
    removal: Removal
    verdict: str
    applied: str
    failed: list[str] = field(default_factory=list)
    ran: int = 0
    skipped: int = 0
    seconds: float = 0.0
    note: str = ""

    def line(self) -> str:
        failed = ", ".join(self.failed) if self.failed else "none"
        text = f"{self.verdict:<4}  {self.removal.name:<22} {self.applied:<16} failed: {failed}"
        text += f"  ({self.ran} ran, {self.skipped} skipped, {self.seconds:.0f} s)"
        return text + (f"  [{self.note}]" if self.note else "")


def checkout_files() -> list[str] | None:
    """The files a clone has plus work not yet committed (git's view); None outside git."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return listed.stdout.splitlines()


def scratch_copy(into: Path) -> Path:
    """The checkout as it is now (uncommitted work included), beside a link to ../shared."""
    repo = into / REPO.name
    files = checkout_files()
    if files is None:
        shutil.copytree(REPO, repo, ignore=shutil.ignore_patterns(*SKIP_IN_COPY), symlinks=True)
    for name in files or ():
        source = REPO / name
        if source.is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name)
    shared = REPO.parent / "shared"
    if shared.exists():
        (into / "shared").symlink_to(shared.resolve())
    return repo


def apply(repo: Path, edits: Iterable[Edit]) -> str | None:
    """Makes the edits in the copy; the reason when one does not apply (nothing is changed then)."""
    planned: list[tuple[Path, str]] = []
    texts: dict[Path, str] = {}
    for edit in edits:
        path = repo / edit.path
        if not path.exists():
            return f"{edit.path} is gone"
        text = texts.get(path, path.read_text())
        found = text.count(edit.old)
        if found != 1:
            return f"snippet found {found} times in {edit.path}"
        texts[path] = text.replace(edit.old, edit.new)
        planned.append((path, texts[path]))
    for path, text in planned:
        path.write_text(text)
    return None


def python() -> str:
    venv = REPO / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def environment(repo: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "DESTINATION__"))}
    env["PYTHONPATH"] = str(repo)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def check_imports_the_copy(repo: Path) -> None:
    """The editable install points at the checkout; the copy must win, or every verdict is void."""
    found = subprocess.run(
        [python(), "-c", "import shotgun_source; print(shotgun_source.__file__)"],
        cwd=repo,
        env=environment(repo),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not Path(found).resolve().is_relative_to(repo.resolve()):
        raise SystemExit(f"the scratch copy imports shotgun_source from {found}, not from {repo}")


@dataclass
class TestRun:
    failed: list[str]
    passed: list[str]
    skipped: list[str]
    returncode: int
    seconds: float
    output: str


def run_tests(repo: Path, tests: Sequence[str], report: Path) -> TestRun:
    """The tests in the copy, with the project's venv; which failed, passed and were skipped."""
    command = [python(), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", *tests]
    command += [f"--junitxml={report}"]
    started = time.monotonic()
    try:
        done = subprocess.run(
            command, cwd=repo, env=environment(repo), capture_output=True, text=True, timeout=RUN_TIMEOUT
        )
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return TestRun(
            [f"(timed out after {RUN_TIMEOUT:.0f} s)"], [], [], -1, time.monotonic() - started, out
        )
    failed, passed, skipped = [], [], []
    if report.exists():
        for case in ET.parse(report).getroot().iter("testcase"):
            name = f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}"
            if case.find("failure") is not None or case.find("error") is not None:
                failed.append(name)
            elif case.find("skipped") is not None:
                skipped.append(name)
            else:
                passed.append(name)
    return TestRun(
        failed, passed, skipped, done.returncode, time.monotonic() - started, done.stdout + done.stderr
    )


def check_removal(removal: Removal, baseline_failed: set[str], verbose: bool) -> Outcome:
    with tempfile.TemporaryDirectory(prefix=f"removal-{removal.name}-") as tmp:
        repo = scratch_copy(Path(tmp))
        reason = apply(repo, removal.edits)
        if reason:
            return Outcome(removal, "N/A", "does not apply", note=reason)
        check_imports_the_copy(repo)
        run = run_tests(repo, removal.tests, Path(tmp) / "report.xml")
    if verbose:
        print(run.output[-6000:])
    ran = len(run.failed) + len(run.passed)
    verdict = "PASS" if run.failed else "MISS"
    outcome = Outcome(removal, verdict, "applied", run.failed, ran, len(run.skipped), run.seconds)
    already = sorted(set(run.failed) & baseline_failed)
    if already:
        outcome.verdict, outcome.note = "BAD", f"failing without the removal too: {', '.join(already)}"
    elif not run.failed and not run.passed:
        outcome.verdict, outcome.note = "BAD", f"no test ran (pytest exit {run.returncode})"
    elif run.skipped and not run.failed:
        outcome.note = "some tests skipped"
    return outcome


def baseline(removals: Sequence[Removal]) -> tuple[set[str], TestRun]:
    """Every named test once, in an unchanged copy: the ones that fail there prove nothing later."""
    with tempfile.TemporaryDirectory(prefix="removal-baseline-") as tmp:
        repo = scratch_copy(Path(tmp))
        check_imports_the_copy(repo)
        tests = sorted({test for removal in removals for test in removal.tests})
        run = run_tests(repo, tests, Path(tmp) / "baseline.xml")
        return set(run.failed), run


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", metavar="NAME", help="run only this removal (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the removals and their tests, run nothing")
    parser.add_argument("--no-baseline", action="store_true", help="skip the run of the unchanged copy")
    parser.add_argument("--verbose", action="store_true", help="print the end of each pytest output")
    parser.add_argument(
        "--tests",
        nargs="+",
        metavar="NODE",
        help="run these tests instead of each removal's own (to find out which tests notice one)",
    )
    args = parser.parse_args(argv)

    names = {r.name for r in REMOVALS}
    unknown = sorted(set(args.only or ()) - names)
    if unknown:
        parser.error(f"unknown removal(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
    chosen = [r for r in REMOVALS if not args.only or r.name in args.only]
    if args.tests:
        chosen = [dataclasses.replace(r, tests=tuple(args.tests)) for r in chosen]
    if args.list:
        for r in chosen:
            print(f"{r.name}: {r.guarantee}\n    {' '.join(r.tests)}")
        return 0

    started = time.monotonic()
    baseline_failed: set[str] = set()
    if not args.no_baseline:
        baseline_failed, run = baseline(chosen)
        print(
            f"baseline (unchanged copy): {len(run.passed)} passed, {len(run.failed)} failed,"
            f" {len(run.skipped)} skipped in {run.seconds:.0f} s"
            + (f"; failing: {', '.join(sorted(baseline_failed))}" if baseline_failed else ""),
            flush=True,
        )
        if args.verbose and run.failed:
            print(run.output)
    outcomes = []
    for removal in chosen:
        outcome = check_removal(removal, baseline_failed, args.verbose)
        outcomes.append(outcome)
        print(outcome.line(), flush=True)
    passed = sum(o.verdict == "PASS" for o in outcomes)
    print(f"{passed} of {len(outcomes)} removals noticed by a test, in {time.monotonic() - started:.0f} s")
    return 0 if passed == len(outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
