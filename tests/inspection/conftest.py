"""One demo load for the inspection tests that only read what it left (dlt's CLI, the dashboard,
the summary, the studio report): `python pipelines/shotgun_pipeline.py --demo`, as a user runs it.
And `chromium`, the browser the dashboard test drives, installed when missing."""

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dlt
import pytest
from demo_site import demo_site
from system_packages import require

from inspection.browser import CHROMIUM
from inspection.helpers import run_script
from shotgun_source.sandbox import Site


@dataclass(frozen=True)
class DemoRun:
    cwd: Path
    stdout: str
    stderr: str
    seconds: float
    started: float
    """When the run started and ended (Unix times): the demo's site was built in between."""
    finished: float

    @property
    def database(self) -> Path:
        return self.cwd / "shotgun_demo.duckdb"

    def site(self) -> Site:
        """The site the demo served, built again here (`tests/demo_site.py`)."""
        return demo_site(self.database, self.started, self.finished)

    def pipeline(self) -> dlt.Pipeline:
        return dlt.attach(
            pipeline_name="shotgun_demo",
            pipelines_dir=str(self.cwd / "dlt_data" / "pipelines"),
            destination=dlt.destinations.duckdb(str(self.database)),
            dataset_name="shotgun",
        )


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRun]:
    cwd = tmp_path_factory.mktemp("demo")
    started, clock = time.time(), time.monotonic()
    result = run_script(cwd, "--demo")
    assert result.returncode == 0, result.stderr
    yield DemoRun(cwd, result.stdout, result.stderr, time.monotonic() - clock, started, time.time())


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium, installed with apt-get before the first test that asks for it when missing
    (so the install is not timed as part of that test); fails, never skips, when it cannot be."""
    return require(CHROMIUM)
