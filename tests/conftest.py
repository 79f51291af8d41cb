"""Shared fixtures: a sandbox site per test, one shared read-only sandbox, the recordings, and one
throwaway PostgreSQL server for the session (`postgres_server`, `postgres_dataset_name`).

The tests that read the real recorded answers skip when ../shared is absent; the summary at the end
says how many ran (`recorded ShotGrid answers: N tests ran, M skipped`), so CI can tell (.ci/run)."""

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from postgres_server import postgres_dataset_name, postgres_server  # noqa: F401

from shotgun_source.sandbox import Sandbox, Site

# As .dlt/config.toml has it, for runs in folders without it (and this process): with the airflow
# extra installed, dlt would import Airflow into every run to read its Variables (seconds each, and
# a ~/airflow folder) and ask Airflow's API for each setting inside a task.
os.environ.setdefault("PROVIDERS__ENABLE_AIRFLOW_SECRETS", "false")

RECORDINGS = Path(__file__).resolve().parents[1].parent / "shared" / "shotgrid-recordings"
RECORDED_ANSWERS = "recorded ShotGrid answers"
"""How the summary line names the tests that read the recordings (the `recordings_dir` fixture)."""
READS_RECORDINGS = "reads_recordings"


@dataclass
class RecordingTests:
    """The collected tests that read the recordings, and what became of them."""

    nodeids: set[str] = field(default_factory=set)
    outcomes: Counter[str] = field(default_factory=Counter)
    skip_reasons: set[str] = field(default_factory=set)

    def record(self, report: pytest.TestReport) -> None:
        # under pytest-xdist the controller collects nothing itself: the worker marks the report
        if report.nodeid not in self.nodeids and (READS_RECORDINGS, True) not in report.user_properties:
            return
        if report.skipped:
            self.outcomes["skipped"] += 1
            if isinstance(report.longrepr, tuple):
                self.skip_reasons.add(str(report.longrepr[2]).removeprefix("Skipped: "))
        elif report.when == "call" or report.failed:  # a failed set-up did not skip either
            self.outcomes["ran"] += 1

    def summary(self) -> str:
        line = f"{RECORDED_ANSWERS}: {self.outcomes['ran']} tests ran, {self.outcomes['skipped']} skipped"
        return line + (f" ({'; '.join(sorted(self.skip_reasons))})" if self.skip_reasons else "")


RECORDING_TESTS = RecordingTests()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    RECORDING_TESTS.nodeids = {
        item.nodeid for item in items if "recordings_dir" in getattr(item, "fixturenames", ())
    }


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Marks the reports of the tests that read the recordings, for the controller's count."""
    outcome = yield
    if "recordings_dir" in getattr(item, "fixturenames", ()):
        outcome.get_result().user_properties.append((READS_RECORDINGS, True))  # type: ignore[attr-defined]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    RECORDING_TESTS.record(report)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if RECORDING_TESTS.nodeids or sum(RECORDING_TESTS.outcomes.values()):
        terminalreporter.write_line(RECORDING_TESTS.summary())


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A fresh sandbox (seed 1, scale 1) for one test; tests may mutate it and set faults."""
    with Sandbox(seed=1, scale=1.0) as sb:
        yield sb


@pytest.fixture(scope="session")
def shared_sandbox() -> Iterator[Sandbox]:
    """One sandbox for the whole session: read it, never change its data or faults."""
    with Sandbox(seed=1, scale=1.0) as sb:
        yield sb


@pytest.fixture(scope="session")
def recordings_dir() -> Path:
    """The real ShotGrid VCR cassettes next to the repository; skips when absent."""
    if not RECORDINGS.is_dir():
        pytest.skip(f"ShotGrid recordings not found at {RECORDINGS}")
    return RECORDINGS


@pytest.fixture(scope="session")
def shared_site(shared_sandbox: Sandbox) -> Site:
    """The shared sandbox's data API (read only)."""
    return shared_sandbox.site
