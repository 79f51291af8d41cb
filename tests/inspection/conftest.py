"""One demo load for the inspection tests that only read what it left (dlt's CLI, the dashboard,
the summary, the studio report): `python pipelines/shotgun_pipeline.py --demo`, as a user runs it.
And `chromium`, the browser the dashboard test drives, installed when missing."""

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from system_packages import require

from inspection.browser import CHROMIUM
from inspection.helpers import run_script


@dataclass(frozen=True)
class DemoRun:
    cwd: Path
    stdout: str
    stderr: str
    seconds: float

    @property
    def database(self) -> Path:
        return self.cwd / "shotgun_demo.duckdb"


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRun]:
    cwd = tmp_path_factory.mktemp("demo")
    started = time.monotonic()
    result = run_script(cwd, "--demo")
    assert result.returncode == 0, result.stderr
    yield DemoRun(cwd, result.stdout, result.stderr, time.monotonic() - started)


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium, installed with apt-get before the first test that asks for it when missing
    (so the install is not timed as part of that test); fails, never skips, when it cannot be."""
    return require(CHROMIUM)
