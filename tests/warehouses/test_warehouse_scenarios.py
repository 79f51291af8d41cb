"""The end-to-end scenarios on every destination: first load, a rerun with no changes, changes
between runs, changes while a run pages. Real HTTP to the sandbox, a real PostgreSQL server, real
parquet files; each destination compared with the site by `destination_truth`.

Parquet files on the filesystem destination only append (dlt 1.31 merges only into delta or
iceberg tables), so there the tests read the newest load's row per id and say how many older
rows the files hold besides.
"""

from typing import Any

from destination_truth import (
    assert_destination_matches_site,
    destination_contents,
    newest_change,
    plural_slug,
    raw_row_count,
)
from shotgun_testing import cursor_of
from warehouse_testing import FIVE, Warehouse, loaded_rows, searches_per_reader

TABLES = ["projects", "shots", "tasks", "assets", "versions"]


def test_first_load_has_every_row_with_its_values(
    warehouse: Warehouse, sandbox: Any, source_for: Any
) -> None:
    pipeline = warehouse.pipeline()
    warehouse.run(pipeline, source_for(sandbox, entities=[*FIVE, "CustomEntity01"]))
    # merge or append, a first load holds each id once: no latest_row_per_id here
    counts = assert_destination_matches_site(pipeline, sandbox.site, [*FIVE, "CustomEntity01"])
    print(f"\n{warehouse.name} first load, rows compared with the site: {counts}")
    assert all(n > 0 for n in counts.values()), counts
    cursors = {table: cursor_of(pipeline, table) for table in TABLES}
    assert cursors == {plural_slug(t): newest_change(sandbox.site, t) for t in FIVE}


def test_rerun_without_changes_leaves_the_destination_as_it_was(
    warehouse: Warehouse, sandbox: Any, source_for: Any
) -> None:
    pipeline = warehouse.pipeline()
    warehouse.run(pipeline, source_for(sandbox))
    before = destination_contents(pipeline, sandbox.site, FIVE, warehouse.latest_row_per_id)
    rows_before = {table: raw_row_count(pipeline, table) for table in TABLES}
    sandbox.clear_requests()

    warehouse.run(pipeline, source_for(sandbox))

    searches = searches_per_reader(sandbox)
    assert all(n <= 1 for n in searches.values()), searches
    assert {key.split()[0] for key in searches} >= set(FIVE), searches
    assert destination_contents(pipeline, sandbox.site, FIVE, warehouse.latest_row_per_id) == before
    reread = loaded_rows(pipeline)  # the lookback window's rows, read again by design
    rows_after = {table: raw_row_count(pipeline, table) for table in TABLES}
    if warehouse.merges:
        assert rows_after == rows_before
    else:
        # the files gained every re-read row: the newest per id is what the table means
        assert rows_after == {t: rows_before[t] + reread.get(t, 0) for t in TABLES}
    print(f"\n{warehouse.name} rerun re-read {reread}; rows held {rows_before} -> {rows_after}")


def test_records_created_and_updated_between_runs_arrive(
    warehouse: Warehouse, sandbox: Any, source_for: Any
) -> None:
    entities = [*FIVE, "CustomEntity01"]
    pipeline = warehouse.pipeline()
    warehouse.run(pipeline, source_for(sandbox, entities=entities))
    site = sandbox.site
    shot = site.records("Shot")[0]
    version = site.records("Version")[-1]
    task = site.records("Task")[5]
    custom = site.records("CustomEntity01")[2]
    created = site.create("Shot", {"code": "new_shot_between_runs", "project": shot["project"]})
    # an empty text is not a missing one: it must come back "", not NULL
    site.update("Version", version["id"], {"description": "", "sg_client_approved": False})
    site.update("Task", task["id"], {"content": "renamed task"})
    site.update(
        "CustomEntity01",
        custom["id"],
        {"sg_budget": 1234.56, "sg_settings": {"codec": "h264", "burn_in": False}, "sg_keywords": ["x", "y"]},
    )

    warehouse.run(pipeline, source_for(sandbox, entities=entities))

    counts = assert_destination_matches_site(
        pipeline, site, entities, latest_row_per_id=warehouse.latest_row_per_id
    )
    assert counts["Shot"] == len(site.records("Shot"))
    new_ids = {row[0] for row in pipeline.dataset()["shots"].select("id").fetchall()}
    assert (created["id"] if isinstance(created, dict) else created) in new_ids


def test_changes_while_paging_lose_nothing(warehouse: Warehouse, sandbox: Any, source_for: Any) -> None:
    """Records updated, created and retired between two page requests of one run.

    After that run every record that was live and unchanged is there; after the next run every
    live record is there with its latest values (retired ones may linger).
    """
    site = sandbox.site
    versions = site.records("Version")
    ahead = versions[len(versions) // 2 :]  # not yet read when the mutation happens
    behind = versions[: len(versions) // 10]  # already read
    touched = {ahead[0]["id"], ahead[3]["id"], behind[1]["id"]}
    retired = ahead[5]["id"]
    pages = {"n": 0}

    def mutate(request: Any) -> None:
        if request.kind == "search" and request.entity_type == "Version":
            pages["n"] += 1
            if pages["n"] == 2:
                for version_id in sorted(touched):
                    site.update("Version", version_id, {"description": "changed while paging"})
                site.retire("Version", retired)
                site.create("Version", {"code": "created_while_paging", "project": versions[0]["project"]})

    unchanged = {v["id"] for v in versions} - touched - {retired}
    sandbox.faults.before_request = mutate
    pipeline = warehouse.pipeline()
    warehouse.run(pipeline, source_for(sandbox, entities=["Version"], page_size=100))
    sandbox.faults.before_request = None
    assert pages["n"] > 3, "the run must page several times for this test to mean anything"
    loaded = {row[0] for row in pipeline.dataset()["versions"].select("id").fetchall()}
    assert unchanged <= loaded, sorted(unchanged - loaded)[:5]

    warehouse.run(pipeline, source_for(sandbox, entities=["Version"], page_size=100))
    assert_destination_matches_site(
        pipeline, site, ["Version"], allow_extra={retired}, latest_row_per_id=warehouse.latest_row_per_id
    )
