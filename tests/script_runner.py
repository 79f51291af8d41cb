"""The pipeline script as users run it: a subprocess in a directory of the test's own with a clean
environment, or the same file loaded as a module for in-process checks. Shared by every test folder."""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "pipelines" / "shotgun_pipeline.py"
BIN = Path(sys.executable).parent
"""The environment's executables (`dlt`, `marimo`): dlt starts `marimo` by name, from PATH."""
OUTSIDE_SETTINGS = ("SOURCES__", "DESTINATION__", "RUNTIME__", "PIPELINES__", "DLT_")
"""Environment variables that would steer the script from outside the test."""


def clean_env(cwd: Path, **extra: str) -> dict[str, str]:
    """The environment a user's shell would have, with dlt's data dir inside `cwd` (no state leaks
    between tests) and no ShotGrid, destination, pipeline or retry settings from the outside."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(OUTSIDE_SETTINGS)}
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
    """`python <script> args...` in `cwd`, killed after `timeout` seconds."""
    return subprocess.run(
        [sys.executable, str(script), *args],
        cwd=cwd,
        env=clean_env(cwd, **(env or {})),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def script_module() -> ModuleType:
    """pipelines/shotgun_pipeline.py as a module (loaded once): its `main()` and its helpers in this
    process, the same code as the command line without a second Python start for each quick check."""
    name = "shotgun_pipeline_script"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, SCRIPT)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def summary_rows(stdout: str) -> dict[str, int]:
    """`table -> rows` from the table lines of the script's run summary."""
    return {m[1]: int(m[2].replace(",", "")) for m in re.finditer(r"^  (\w+)\s+([\d,]+)$", stdout, re.M)}
