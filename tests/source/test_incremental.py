"""Incremental loads over real HTTP into real DuckDB files: first load, reruns, changes, faults."""

import time
from typing import Any

import dlt
import pytest
from destination_truth import assert_destination_matches_site, newest_change
from shotgun_testing import cursor_of

FIVE = ["Project", "Shot", "Task", "Asset", "Version"]
TABLES = ["projects", "shots", "tasks", "assets", "versions"]


def _data_snapshot(pipeline: dlt.Pipeline) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows without dlt's bookkeeping columns, sorted, for before/after equality."""
    snapshot = {}
    for table in pipeline.default_schema.data_tables():
        name = table["name"]
        columns = sorted(c for c in table["columns"] if not c.startswith("_dlt"))
        rows = pipeline.dataset()[name].select(*columns).fetchall() if columns else []
        snapshot[name] = sorted(map(tuple, rows), key=repr)
    return snapshot


def _search_requests(sandbox: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for request in sandbox.requests:
        if request.kind == "search":
            counts[request.entity_type] = counts.get(request.entity_type, 0) + 1
    return counts


def test_first_load_has_every_row_with_values_and_types(
    sandbox: Any, source_for: Any, make_pipeline: Any
) -> None:
    pipeline = make_pipeline()
    pipeline.run(source_for(sandbox))
    counts = assert_destination_matches_site(pipeline, sandbox.site, FIVE)
    assert all(counts[t] > 0 for t in FIVE), counts
    with pipeline.sql_client() as client:
        types = {
            (table, column): kind
            for table, column, kind in client.execute_sql(
                "select table_name, column_name, data_type from information_schema.columns"
                " where table_schema = 'shotgun'"
            )
        }
    assert types[("versions", "id")] == "BIGINT"
    assert types[("versions", "updated_at")] == "TIMESTAMP WITH TIME ZONE"
    assert types[("versions", "sg_uploaded_movie_frame_rate")] == "DOUBLE"
    assert types[("versions", "entity__id")] == "BIGINT"
    assert types[("versions", "entity__type")] == "VARCHAR"
    assert types[("tasks__task_assignees", "id")] == "BIGINT"
    assert types[("shots", "project__name")] == "VARCHAR"
    # each cursor is the newest change the run read: the site's newest live record of its type
    assert {table: cursor_of(pipeline, table) for table in TABLES} == {
        table: newest_change(sandbox.site, entity_type)
        for table, entity_type in zip(TABLES, FIVE, strict=True)
    }


def test_rerun_without_changes_leaves_destination_unchanged_with_one_search_each(
    sandbox: Any, source_for: Any, make_pipeline: Any
) -> None:
    pipeline = make_pipeline()
    pipeline.run(source_for(sandbox))
    before = _data_snapshot(pipeline)
    sandbox.clear_requests()
    pipeline.run(source_for(sandbox))
    searches = _search_requests(sandbox)
    # one entity read per resource, and one event-log read per type for retirements (soft deletes)
    event_reads = searches.pop("EventLogEntry", 0)
    assert set(searches) <= set(FIVE) and all(n <= 1 for n in searches.values()), searches
    assert event_reads <= len(FIVE)
    assert _data_snapshot(pipeline) == before


def test_records_created_and_updated_between_runs_arrive_once(
    sandbox: Any, source_for: Any, make_pipeline: Any
) -> None:
    pipeline = make_pipeline()
    pipeline.run(source_for(sandbox))
    site = sandbox.site
    shot = site.records("Shot")[0]
    version = site.records("Version")[-1]
    task = site.records("Task")[5]
    site.create("Shot", {"code": "new_shot_between_runs", "project": shot["project"]})
    site.update("Version", version["id"], {"description": "updated between runs"})
    site.update("Task", task["id"], {"content": "renamed task"})
    pipeline.run(source_for(sandbox))
    assert_destination_matches_site(pipeline, site, FIVE)


def test_two_second_tokens_with_429s_complete(
    sandbox: Any, source_for: Any, make_pipeline: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dlt's retry re-sends the same prepared request (old token) after Retry-After; we must cope."""
    # a third of the answers are 429s: with dlt's 5 attempts, one of a few hundred requests would
    # run out of them now and then (0.3**5 each); the test is of tokens under 429s, not of luck
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_ATTEMPTS", "12")
    sandbox.faults.token_lifetime = 2
    sandbox.faults.rate_limit_share = 0.3
    sandbox.faults.retry_after = 1
    sandbox.faults.latency = 0.05
    pipeline = make_pipeline()
    pipeline.run(source_for(sandbox, page_size=200))
    token_requests = sum(1 for r in sandbox.requests if r.kind == "token")
    rate_limited = sum(1 for r in sandbox.requests if r.status == 429)
    sandbox.faults.reset()
    assert rate_limited > 0 and token_requests > 1, (rate_limited, token_requests)
    assert_destination_matches_site(pipeline, sandbox.site, FIVE)


def test_a_source_object_run_again_reads_up_to_the_new_run(
    sandbox: Any, source_for: Any, make_pipeline: Any
) -> None:
    """Long-lived processes (Dagster, a scheduler loop) build the source once and run it often."""
    source = source_for(sandbox, entities=["Shot"])
    pipeline = make_pipeline()
    pipeline.run(source)
    shot = sandbox.site.records("Shot")[0]
    time.sleep(1.1)  # a later second on the site's clock than the first run's window end
    sandbox.site.update("Shot", shot["id"], {"description": "changed after the source was built"})
    # the window ends at the site's clock as estimated from the first run's token answer (half a
    # second either way): let the change be a whole second old when the second run starts
    time.sleep(1.5)
    pipeline.run(source)
    assert_destination_matches_site(pipeline, sandbox.site, ["Shot"])
