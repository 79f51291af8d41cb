"""Two copies of one record in one load: the copy that reflects the site's latest state wins.

A run reads a record twice when it changes while the run reads: once by its window read, once again
because the event log names it (retired, revived, or linking a renamed record). Each test makes that
order explicit with the sandbox's request hook (`Choreography`: one request waits, in the sandbox's
handler thread, until another was answered, then the site changes), on DuckDB, PostgreSQL and parquet
files. The change is stamped 30 s in the past, as a change committed late is: its event falls inside
the run's event-log window although it happened after the window read.

Every destination must hold the newest copy after the run and after a quiet rerun, and a load holds
one row per record (parquet files, which only append, keep every row they are given).
"""

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from destination_truth import assert_destination_matches_site, destination_tables, field_types
from warehouse_testing import Warehouse

HOOK_WAIT_SECONDS = 20.0
LATE_SECONDS = 30


def is_window_read(request: Any, entity_type: str) -> bool:
    """An entity type's `updated_at` window read (not a read of ids the event log named)."""
    if request.kind != "search" or request.entity_type != entity_type or not isinstance(request.body, dict):
        return False
    filters = request.body.get("filters")
    return isinstance(filters, list) and any(
        isinstance(f, list) and f[:2] == ["updated_at", "between"] for f in filters
    )


def is_event_log_read(request: Any) -> bool:
    return request.kind == "search" and request.entity_type == "EventLogEntry"


class Choreography:
    """A sandbox `before_request` hook: the first request matching `then` waits until a request
    matching `first` has been answered, runs `change` on the site, and goes on. `played` says
    whether it happened in that order (a test asserts it, so it cannot pass by luck)."""

    def __init__(
        self, first: Callable[[Any], bool], then: Callable[[Any], bool], change: Callable[[], None]
    ) -> None:
        self.first, self.then, self.change = first, then, change
        self._lock = threading.Lock()
        self._first_request: Any = None
        self._done = False
        self.played = False

    def __call__(self, request: Any) -> None:
        with self._lock:
            if self._first_request is None and self.first(request):
                self._first_request = request
                return
            if self._done or not self.then(request):
                return
            self._done = True
        deadline = time.monotonic() + HOOK_WAIT_SECONDS
        while time.monotonic() < deadline:
            answered = self._first_request is not None and self._first_request.status != 0
            if answered:
                break
            time.sleep(0.01)
        self.played = self._first_request is not None and self._first_request.status != 0
        self.change()


def late(site: Any, change: Callable[[], Any]) -> None:
    """Make a change stamped LATE_SECONDS ago (a transaction that commits late)."""
    site.advance_clock(-LATE_SECONDS)
    try:
        change()
    finally:
        site.advance_clock(LATE_SECONDS)


def _load(warehouse: Warehouse, pipeline: Any, source: Any) -> None:
    warehouse.run(pipeline, source)


def _rows_per_load(pipeline: Any, table: str) -> dict[tuple[int, str], int]:
    """How many rows each (id, load) has in `table`: the same-load duplicates files would keep."""
    counts: dict[tuple[int, str], int] = {}
    for entity_id, load_id in pipeline.dataset()[table].select("id", "_dlt_load_id").fetchall():
        counts[(entity_id, load_id)] = counts.get((entity_id, load_id), 0) + 1
    return counts


def _assert_one_row_per_record_per_load(pipeline: Any, table: str) -> None:
    doubled = {key: n for key, n in _rows_per_load(pipeline, table).items() if n > 1}
    assert not doubled, f"{table}: records written more than once in one load: {doubled}"


def _tables(warehouse: Warehouse, pipeline: Any, site: Any) -> Any:
    """The destination's Versions as the truth helper reads them (the newest load's row per id on
    parquet files)."""
    return destination_tables(pipeline, "Version", field_types(site, "Version"), warehouse.latest_row_per_id)


def _matches_site(warehouse: Warehouse, pipeline: Any, site: Any) -> None:
    """Row for row equal to the site, and no record twice in one load (files keep every row)."""
    latest = warehouse.latest_row_per_id
    assert_destination_matches_site(pipeline, site, ["Version"], latest_row_per_id=latest)
    _assert_one_row_per_record_per_load(pipeline, "versions")


@pytest.mark.parametrize("mode", ["soft", "hard"])
def test_a_retirement_after_the_window_read_beats_the_live_copy(
    sandbox: Any, source_for: Any, warehouse: Warehouse, mode: str
) -> None:
    site = sandbox.site
    target = site.records("Version")[17]["id"]
    play = Choreography(
        first=lambda r: is_window_read(r, "Version"),
        then=is_event_log_read,
        change=lambda: late(site, lambda: site.retire("Version", target)),
    )
    sandbox.faults.before_request = play
    pipeline = warehouse.pipeline()
    _load(warehouse, pipeline, source_for(sandbox, entities=["Version"], deletes=mode, page_size=5000))
    sandbox.faults.before_request = None
    assert play.played, "the retirement did not land between the window read and the event-log read"

    def check() -> None:
        tables = _tables(warehouse, pipeline, site)
        assert target not in tables.root
        if mode == "soft":
            assert target in tables.retired
        _matches_site(warehouse, pipeline, site)

    check()  # the newest copy is what the run that read both loaded
    site.advance_clock(5)
    _load(warehouse, pipeline, source_for(sandbox, entities=["Version"], deletes=mode, page_size=5000))
    check()  # and a quiet rerun keeps it


def test_a_rename_after_the_window_read_reaches_the_linking_row(
    sandbox: Any, source_for: Any, warehouse: Warehouse
) -> None:
    site = sandbox.site
    version = next(v for v in site.records("Version") if v.get("sg_task"))
    task_id = version["sg_task"]["id"]
    pipeline = warehouse.pipeline()
    _load(warehouse, pipeline, source_for(sandbox, entities=["Version"]))
    site.advance_clock(5)
    site.update("Version", version["id"], {"description": "touched, so the next window reads it"})
    play = Choreography(
        first=lambda r: is_window_read(r, "Version"),
        then=is_event_log_read,
        change=lambda: late(site, lambda: site.update("Task", task_id, {"content": "renamed mid-run"})),
    )
    sandbox.faults.before_request = play
    _load(warehouse, pipeline, source_for(sandbox, entities=["Version"]))
    sandbox.faults.before_request = None
    assert play.played, "the rename did not land between the window read and the event-log read"

    def check() -> None:
        assert _tables(warehouse, pipeline, site).root[version["id"]]["sg_task__name"] == "renamed mid-run"
        _matches_site(warehouse, pipeline, site)

    check()
    site.advance_clock(5)
    _load(warehouse, pipeline, source_for(sandbox, entities=["Version"]))
    check()


def test_a_revival_before_the_window_read_beats_the_retirement(
    sandbox: Any, source_for: Any, warehouse: Warehouse
) -> None:
    """Retired before the run, revived (and edited) after the run read the retirement event but before
    its window read: the live copy is the newest; a delete marker must not win (hard deletes)."""
    site = sandbox.site
    target = site.records("Version")[23]["id"]
    pipeline = warehouse.pipeline()
    _load(warehouse, pipeline, source_for(sandbox, entities=["Version"], deletes="hard"))
    site.advance_clock(5)
    site.retire("Version", target)

    def revive_and_edit() -> None:
        site.revive("Version", target)
        site.update("Version", target, {"description": "back, and edited"})

    play = Choreography(
        first=is_event_log_read,
        then=lambda r: is_window_read(r, "Version"),
        change=lambda: late(site, revive_and_edit),
    )
    sandbox.faults.before_request = play
    _load(warehouse, pipeline, source_for(sandbox, entities=["Version"], deletes="hard"))
    sandbox.faults.before_request = None
    assert play.played, "the revival did not land between the event-log read and the window read"
    assert target in _tables(warehouse, pipeline, site).root
    _matches_site(warehouse, pipeline, site)
    site.advance_clock(5)
    _load(warehouse, pipeline, source_for(sandbox, entities=["Version"], deletes="hard"))
    assert target in _tables(warehouse, pipeline, site).root
    _matches_site(warehouse, pipeline, site)
