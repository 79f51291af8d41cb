"""The lookback over real HTTP into DuckDB: what a site commits late, the next run still loads.

A real site stamps a write's `updated_at` (and its events' `created_at`) when its transaction
starts and shows it when the transaction commits. Here a write begins at t0, a second write
stamped t0 + 10 s commits at once, and run 1 reads the site: it sees the second write (its
cursor is now t0 + 10 s, newer than the late write's stamp) but not the late one. The late
write commits right after run 1, still stamped t0. Run 2 reads from its cursor minus the
lookback: with the default five minutes the window reaches back to t0 and the row loads; with
`lookback_seconds=0` it starts at t0 + 10 s and the row is lost for good, which the second
test asserts as the failure the lookback exists to prevent.

Every stamp is whole seconds apart (the site's clock is moved on, never slept on), so nothing
depends on where in a second a run starts: the late stamp is 10 s behind run 1's cursor and
run 1's window end, and 290 s inside the default lookback.

Whatever the lookback, a run re-reads the second before its cursor (the last test): the site's
clock is known to half a second, so a run's window may end a second ahead of the site.
"""

import datetime as dt
import time
from typing import Any

import dlt
import pytest
from destination_truth import assert_destination_matches_site, compare_entity
from shotgun_testing import cursor_of

from shotgun_source import ShotgunAuth, shotgun_source
from shotgun_source.sandbox import Sandbox

ENTITIES = ["Version"]
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
CHANGES = ["update", "create", "retire"]


def _source(sandbox: Sandbox, **options: Any) -> Any:
    credentials = ShotgunAuth(client_id=sandbox.script_name, client_secret=sandbox.script_key)
    return shotgun_source(site_url=sandbox.url, credentials=credentials, entities=ENTITIES, **options)


def _loaded(pipeline: dlt.Pipeline) -> dict[int, dict[str, Any]]:
    """The destination's Version rows by id: description, updated_at, retired flag."""
    rows = pipeline.dataset()["versions"].select("id", "description", "updated_at", "_sg_retired").fetchall()
    return {r[0]: {"description": r[1], "updated_at": r[2], "retired": bool(r[3])} for r in rows}


def _on_site(sandbox: Sandbox, version_id: int) -> dict[str, Any]:
    found = sandbox.site.get("Version", version_id)
    assert found is not None, version_id
    return found


def _two_runs_around_a_late_commit(
    sandbox: Sandbox, make_pipeline: Any, change: str, **options: Any
) -> tuple[dlt.Pipeline, int]:
    """Begin a late write, commit a newer one, run, commit the late one, run again.

    Returns the pipeline and the id of the record the late write changed.
    """
    site = sandbox.site
    target, other = site.records("Version")[10], site.records("Version")[20]
    if change == "update":
        late = site.begin_late_update("Version", target["id"], {"description": "committed late"})
    elif change == "create":
        values = {"code": "late_version", "description": "committed late", "project": target["project"]}
        late = site.begin_late_create("Version", values)
    else:
        late = site.begin_late_retire("Version", target["id"])
    site.advance_clock(10)
    site.update("Version", other["id"], {"description": "committed on time"})
    site.advance_clock(10)

    pipeline = make_pipeline()
    pipeline.run(_source(sandbox, **options))
    loaded = _loaded(pipeline)
    # run 1 saw the newer write and none of the late one
    newest_seen = max(row["updated_at"] for row in loaded.values())
    assert newest_seen == _on_site(sandbox, other["id"])["updated_at"] > late.stamped_at
    if change == "update":
        assert loaded[target["id"]]["description"] == target["description"]
    elif change == "create":
        assert late.entity_id not in loaded
    else:
        assert not loaded[target["id"]]["retired"]

    late.commit()  # after run 1 read the site, before run 2: stamped t0, 10 s behind the cursor
    pipeline.run(_source(sandbox, **options))
    return pipeline, late.entity_id


@pytest.mark.parametrize("change", CHANGES)
def test_writes_committed_late_are_loaded_by_the_next_run(
    sandbox: Sandbox, make_pipeline: Any, change: str
) -> None:
    pipeline, changed_id = _two_runs_around_a_late_commit(sandbox, make_pipeline, change)
    assert_destination_matches_site(pipeline, sandbox.site, ENTITIES)
    row = _loaded(pipeline)[changed_id]
    if change == "retire":
        assert row["retired"]  # soft deletes: the row stays, flagged
    else:
        assert row["description"] == _on_site(sandbox, changed_id)["description"] == "committed late"


@pytest.mark.parametrize("change", CHANGES)
def test_without_the_lookback_writes_committed_late_are_lost(
    sandbox: Sandbox, make_pipeline: Any, change: str
) -> None:
    """The failure the lookback prevents, asserted exactly: that one record is wrong, nothing else."""
    pipeline, changed_id = _two_runs_around_a_late_commit(sandbox, make_pipeline, change, lookback_seconds=0)
    comparison = compare_entity(pipeline, sandbox.site, "Version")
    if change == "update":  # the destination keeps the values from before the late write
        assert comparison.different and all(
            d.startswith(f"Version {changed_id}.") for d in comparison.different
        )
        assert {d.split(":")[0] for d in comparison.different} >= {f"Version {changed_id}.description"}
        assert (comparison.missing, comparison.extra) == ([], [])
    elif change == "create":  # the late record never arrives
        assert (comparison.missing, comparison.extra, comparison.different) == ([changed_id], [], [])
    else:  # the retired record stays live in the destination
        assert (comparison.missing, comparison.extra, comparison.different) == ([], [changed_id], [])
        assert not _loaded(pipeline)[changed_id]["retired"]
    with pytest.raises(AssertionError, match="destination differs from the site"):
        assert_destination_matches_site(pipeline, sandbox.site, ENTITIES)


def _window_end_of(body: Any) -> float | None:
    """The end of the `updated_at` window in a window page request's filters, as a Unix time."""
    for condition in body.get("filters") or [] if isinstance(body, dict) else []:
        if isinstance(condition, list) and condition[:2] == ["updated_at", "between"]:
            return dt.datetime.strptime(condition[2][1], TIME_FORMAT).replace(tzinfo=dt.UTC).timestamp()
    return None


def test_with_lookback_0_a_change_in_the_second_before_the_cursor_is_read_by_the_next_run(
    sandbox: Sandbox, make_pipeline: Any
) -> None:
    """The window ends at the site's now as the source knows it, from a Date header of whole seconds,
    so the site may still be in the second before it. Here, while run 1 pages, a record it has read
    changes in that second (W - 1), then a record ahead of the reader changes in second W, is read,
    and sets the cursor to W. Run 2 starts a second before its cursor even with `lookback_seconds=0`,
    so the first change is loaded; starting at the cursor would lose it for good."""
    site = sandbox.site
    versions = site.records("Version")
    behind, ahead = versions[5], versions[-1]
    pages = {"n": 0}
    window: dict[str, float] = {}

    def change_around_the_window_end(request: Any) -> None:
        end = _window_end_of(request.body) if request.entity_type == "Version" else None
        if request.kind != "search" or end is None:
            return
        pages["n"] += 1
        if pages["n"] == 2:  # the first page (with `behind`) is read, `ahead` is not
            window["end"] = end
            site.advance_clock(end - 0.5 - site.now_float())  # the site's clock in second W - 1
            site.update("Version", behind["id"], {"description": "changed a second before the cursor"})
            site.advance_clock(0.7)  # second W
            site.update("Version", ahead["id"], {"description": "changed in the window's last second"})
            site.advance_clock(5)

    sandbox.faults.before_request = change_around_the_window_end
    pipeline = make_pipeline()
    options = {"lookback_seconds": 0, "page_size": 100, "parallel_ranges": 1}
    pipeline.run(_source(sandbox, **options))
    sandbox.faults.before_request = None
    assert pages["n"] > 2, pages
    loaded = dict(pipeline.dataset()["versions"].select("id", "description").fetchall())
    assert loaded[ahead["id"]] == "changed in the window's last second"
    assert loaded[behind["id"]] == behind["description"], "run 1 was expected to have read it before"
    cursor = cursor_of(pipeline, "versions")
    assert cursor == time.strftime(TIME_FORMAT, time.gmtime(window["end"])), (cursor, window)
    assert _on_site(sandbox, behind["id"])["updated_at"].timestamp() == window["end"] - 1

    pipeline.run(_source(sandbox, **options))
    loaded = dict(pipeline.dataset()["versions"].select("id", "description").fetchall())
    assert loaded[behind["id"]] == "changed a second before the cursor"
    assert_destination_matches_site(pipeline, site, ENTITIES)
