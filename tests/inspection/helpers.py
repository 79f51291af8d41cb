"""Running the pipeline script and dlt's CLI the way users do, and reading what they leave."""

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "pipelines" / "shotgun_pipeline.py"
REPORT_SCRIPT = REPO / "pipelines" / "studio_report.py"
BIN = Path(sys.executable).parent
"""The environment's executables (`dlt`, `marimo`): dlt starts `marimo` by name, from PATH."""


def clean_env(cwd: Path, **extra: str) -> dict[str, str]:
    """The environment a user's shell would have, with dlt's data dir inside `cwd` (no state leaks
    between tests) and no ShotGrid, destination or retry settings from the outside."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "DESTINATION__", "RUNTIME__"))
    }
    env.update(
        DLT_DATA_DIR=str(cwd / "dlt_data"),
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        PYTHONUNBUFFERED="1",
        RUNTIME__DLTHUB_TELEMETRY="false",
    )
    env.update(extra)
    return env


def run_script(
    cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120, script: Path = SCRIPT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(script), *args],
        cwd=cwd,
        env=clean_env(cwd, **(env or {})),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


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


def summary_rows(stdout: str) -> dict[str, int]:
    """`table -> rows` from the summary's table lines."""
    return {m[1]: int(m[2].replace(",", "")) for m in re.finditer(r"^  (\w+)\s+([\d,]+)$", stdout, re.M)}


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


def table_counts(database: Path, dataset: str = "shotgun") -> dict[str, int]:
    with duckdb.connect(str(database), read_only=True) as con:
        tables = [
            t
            for (t,) in con.execute(
                "select table_name from information_schema.tables where table_schema = ?", [dataset]
            ).fetchall()
            if not t.startswith("_dlt")
        ]
        return {t: int(con.execute(f'select count(*) from {dataset}."{t}"').fetchall()[0][0]) for t in tables}


def query(database: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(database), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def script_module() -> Any:
    """pipelines/shotgun_pipeline.py as a module, for running its `main()` in this process: the same
    code as the command line (whose exit status is `main()`'s return value), without a second
    Python start for each of many quick checks."""
    import importlib.util

    name = "shotgun_pipeline_script"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, SCRIPT)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


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
