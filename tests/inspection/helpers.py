"""Running the pipeline script and dlt's CLI the way users do, and reading what they leave.

The script runners and `table_counts` live in tests/script_runner.py and tests/duckdb_tables.py;
they are imported here too, for the inspection tests' one import line."""

import re
import subprocess
from pathlib import Path
from typing import Any

import duckdb
from duckdb_tables import table_counts
from script_runner import BIN, REPO, SCRIPT, clean_env, run_script, script_module, summary_rows

REPORT_SCRIPT = REPO / "pipelines" / "studio_report.py"


__all__ = [
    "BIN",
    "REPORT_SCRIPT",
    "SCRIPT",
    "clean_env",
    "query",
    "run_dlt",
    "run_main",
    "run_script",
    "script_module",
    "summary_cursors",
    "summary_requests",
    "summary_rows",
    "table_counts",
]


def run_dlt(cwd: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """dlt's own command line, as `dlt ...` in the directory the pipeline ran in."""
    return subprocess.run(
        [str(BIN / "dlt"), *args],
        cwd=cwd,
        env=clean_env(cwd),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def summary_cursors(stdout: str) -> dict[tuple[str, str], str]:
    """`(resource, cursor) -> value` from the lines under `Cursors`."""
    section = stdout.split("\nCursors", 1)[1] if "\nCursors" in stdout else ""
    return {
        (m[1], m[2]): m[3]
        for m in re.finditer(r"^  (\w+)\s+(updated_at|created_at|events_read_to)\s+(\S+)$", section, re.M)
    }


def summary_requests(stdout: str) -> dict[str, int]:
    """The numbers of the `Requests:` line: total, per kind, retried, 429/5xx answers, failed connections."""
    line = next(line for line in stdout.splitlines() if line.startswith("Requests: "))
    m = re.match(
        r"Requests: ([\d,]+) to ShotGrid \((.*)\); retried ([\d,]+) \(([\d,]+) answers 429/5xx,"
        r" ([\d,]+) failed connections\)",
        line,
    )
    assert m, line

    def n(text: str) -> int:
        return int(text.replace(",", ""))

    kinds = {k: n(v) for k, v in re.findall(r"([a-z ]+?) ([\d,]+)(?:, |$)", m[2])}
    return {"total": n(m[1]), **kinds, "retried": n(m[3]), "answers_429_5xx": n(m[4]), "failed": n(m[5])}


def query(database: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(database), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def run_main(*argv: str) -> tuple[int, str, str]:
    """The script's `main(argv)` in this process: exit status, stdout, stderr.

    dlt's logger writes to the `sys.stderr` it finds when dlt first reads its settings; that is
    done here first, outside the capture, so dlt never keeps a capture stream that closes after
    this test (later tests' log lines would fail on it)."""
    import contextlib
    import io

    import dlt
    from dlt.common import logger

    dlt.current.run_context().runtime_config  # noqa: B018  # initializes dlt's logger, if not yet
    assert logger.is_logging()
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = script_module().main(list(argv))
        except SystemExit as exc:  # argparse's refusals
            status = exc.code if isinstance(exc.code, int) else 1
    return status, out.getvalue(), err.getvalue()
