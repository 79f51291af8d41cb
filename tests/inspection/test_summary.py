"""The run summary: rows per table as loaded, requests and retries as the site saw them, elapsed
time by step, and every cursor the run left."""

import datetime as dt
import re
from pathlib import Path
from typing import Any

import dlt
from destination_truth import assert_destination_matches_site, expected_row_counts, newest_change
from shotgun_testing import events_read_to, first_load_counts

from inspection.conftest import DemoRun
from inspection.helpers import (
    run_script,
    summary_cursors,
    summary_requests,
    summary_rows,
    table_counts,
)
from shotgun_source.settings import DEFAULT_LOOKBACK_SECONDS

FIVE = ("Project", "Shot", "Task", "Asset", "Version")
ENTITY_TABLES = ("projects", "shots", "tasks", "assets", "versions")
TWO = ["Shot", "Version"]
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def test_demo_summary_rows_elapsed_and_cursors_match_the_site(demo_run: DemoRun) -> None:
    out = demo_run.stdout
    site, pipeline = demo_run.site(), demo_run.pipeline()
    assert summary_rows(out) == table_counts(demo_run.database) == first_load_counts(site, pipeline, FIVE)

    loaded = re.search(
        r"^Loaded pipeline shotgun_demo into duckdb, dataset shotgun, in ([\d.]+) s"
        r" \(extract ([\d.]+) s, normalize ([\d.]+) s, load ([\d.]+) s\)$",
        out,
        re.M,
    )
    assert loaded, out
    total, *steps = map(float, loaded.groups())
    assert 0 < total <= demo_run.seconds and sum(steps) <= total + 0.3

    requests = summary_requests(out)
    assert requests["token"] >= 1 and requests["schema"] >= 1 + len(ENTITY_TABLES)
    assert requests["records"] >= len(ENTITY_TABLES) and requests["event log"] >= len(ENTITY_TABLES)
    assert requests["retried"] == requests["answers_429_5xx"] == requests["failed"] == 0

    cursors = summary_cursors(out)
    for entity_type, table in zip(FIVE, ENTITY_TABLES, strict=True):
        # the entity read's cursor is the newest change among the records it read: the live ones
        assert cursors[table, "updated_at"] == newest_change(site, entity_type), table
    event_reads = {
        resource: value for (resource, cursor), value in cursors.items() if cursor == "events_read_to"
    }
    assert len(event_reads) == len(ENTITY_TABLES), cursors  # one event-log reader per entity type
    assert all(ISO.match(value) for value in event_reads.values()), event_reads
    # the event log is read up to the run's start, after every record the run loaded changed
    assert min(event_reads.values()) >= max(cursors[t, "updated_at"] for t in ENTITY_TABLES)
    assert event_reads == {table: events_read_to(pipeline, table) for table in ENTITY_TABLES}


def site_requests(sandbox: Any) -> list[Any]:
    return [r for r in sandbox.requests if r.path.startswith("/api/v1")]


def test_requests_and_retries_are_what_the_site_answered(sandbox: Any, tmp_path: Path) -> None:
    """A configured run against a site that answers 503 three times: the summary counts every request
    the site received, by kind, and the three retried ones."""
    sandbox.clear_requests()
    sandbox.faults.error_burst(3, status=503)
    fast_retries = {"RUNTIME__REQUEST_BACKOFF_FACTOR": "0.05", "RUNTIME__REQUEST_MAX_RETRY_DELAY": "0.2"}
    result = run_script(tmp_path, "--entities", "Shot,Version", env={**sandbox.env(), **fast_retries})
    assert result.returncode == 0, result.stderr

    seen = site_requests(sandbox)
    counted = summary_requests(result.stdout)
    assert counted["total"] == len(seen), result.stdout
    assert counted["answers_429_5xx"] == sum(1 for r in seen if r.status == 503) == 3
    assert counted["retried"] == 3 and counted["failed"] == 0
    assert counted["token"] == sum(1 for r in seen if r.path.endswith("/auth/access_token"))
    assert counted["schema"] == sum(1 for r in seen if r.path.startswith("/api/v1/schema"))
    event_log = sum(1 for r in seen if r.path.startswith("/api/v1/entity/EventLogEntry/"))
    assert counted["event log"] == event_log >= 2
    assert counted["records"] == len(seen) - counted["token"] - counted["schema"] - event_log
    pipeline = dlt.attach(
        "shotgun_pipeline",
        pipelines_dir=str(tmp_path / "dlt_data" / "pipelines"),
        destination=dlt.destinations.duckdb(str(tmp_path / "shotgun_pipeline.duckdb")),
        dataset_name="shotgun",
    )
    assert_destination_matches_site(pipeline, sandbox.site, TWO)
    expected = first_load_counts(sandbox.site, pipeline, TWO)
    assert summary_rows(result.stdout) == table_counts(tmp_path / "shotgun_pipeline.duckdb") == expected

    # a second run with nothing changed on the site: it re-reads only the lookback window, with
    # fewer requests, and leaves the same cursors: the site's newest changes
    sandbox.clear_requests()
    again = run_script(tmp_path, "--entities", "Shot,Version", env=sandbox.env())
    assert again.returncode == 0, again.stderr
    assert summary_requests(again.stdout)["total"] == len(site_requests(sandbox)) < counted["total"]
    lookback = dt.timedelta(seconds=DEFAULT_LOOKBACK_SECONDS)
    newest = {t: newest_change(sandbox.site, t) for t in TWO}
    window = {
        t: dt.datetime.strptime(newest[t], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC) - lookback
        for t in TWO
    }
    assert summary_rows(again.stdout) == expected_row_counts(sandbox.site, TWO, changed_since=window)
    first, second = summary_cursors(result.stdout), summary_cursors(again.stdout)
    for entity_type, table in (("Shot", "shots"), ("Version", "versions")):
        assert second[table, "updated_at"] == first[table, "updated_at"] == newest[entity_type]
