"""The generated rest_api config over real HTTP into DuckDB: `rest_api_source(shotgun_rest_api_config(...))`
ends equal to the site (the truth helper, dlt's child tables), incrementally, with the column types
of the fast source, and loses nothing when records change between its page requests."""

import copy
import time
from collections.abc import Callable
from typing import Any

import dlt
import pytest
from destination_truth import assert_destination_matches_site, expected_row_counts, plural_slug
from dlt.sources.rest_api import rest_api_source
from shotgun_testing import rest_api_config_for

FIVE = ["Project", "Shot", "Task", "Asset", "Version"]
SOURCE_NAME = "shotgun_rest"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def run_config(pipeline: dlt.Pipeline, config: Any) -> None:
    pipeline.run(rest_api_source(config, name=SOURCE_NAME))


def cursor_of(pipeline: dlt.Pipeline, table: str, cursor: str = "updated_at") -> Any:
    resources = pipeline.state["sources"][SOURCE_NAME]["resources"]
    return resources[table]["incremental"][cursor]["last_value"]


def searches(sandbox: Any, entity_type: str) -> list[Any]:
    return [r for r in sandbox.requests if r.kind == "search" and r.entity_type == entity_type]


def test_first_load_equals_the_site_by_keyset_pages_in_a_fixed_window(
    sandbox: Any, make_pipeline: Callable[..., dlt.Pipeline]
) -> None:
    sandbox.clear_requests()
    config = rest_api_config_for(sandbox, page_size=100)
    pipeline = make_pipeline("rest_first")
    run_config(pipeline, config)
    counts = assert_destination_matches_site(pipeline, sandbox.site, FIVE)
    assert counts["Version"] > 1000 and counts["Task"] > 1000

    tokens = [r for r in sandbox.requests if r.kind == "token"]
    assert len(tokens) == 1, "the schema reads and every resource share one token"
    for entity_type in FIVE:
        bodies = [r.body for r in searches(sandbox, entity_type)]
        assert len(bodies) == counts[entity_type] // 100 + 1, entity_type  # the last page is short
        ends = set()
        for body in bodies:
            window, keyset = body["filters"]
            assert window[:2] == ["updated_at", "between"] and window[2][0] == "1970-01-01T00:00:00Z"
            ends.add(window[2][1])
            assert keyset[:2] == ["id", "greater_than"] and body["sort"] == "id"
            assert body["options"] == {"include_archived_projects": True} and body["fields"] == "*"
        assert len(ends) == 1, f"{entity_type}: the window end moved while paging: {ends}"
        assert cursor_of(pipeline, plural_slug(entity_type)) <= ends.pop()


def test_both_forms_ask_the_site_the_same(
    sandbox: Any, make_pipeline: Callable[..., dlt.Pipeline], source_for: Any
) -> None:
    """One read definition: the fast source's first page request and the config's are the same
    request (path, content type, body) but for the window's bounds."""
    fields = {"Shot": ["code", "sg_status_list", "assets", "project"]}

    def first_search() -> Any:
        request = next(r for r in sandbox.requests if r.kind == "search" and r.entity_type == "Shot")
        body = copy.deepcopy(request.body)
        body["filters"][0][2] = ["start", "end"]
        return request.path, request.headers.get("content-type"), body

    sandbox.clear_requests()
    fast = source_for(sandbox, entities=["Shot"], fields=fields, page_size=50, deletes="ignore")
    make_pipeline("fast_request").run(fast)
    fast_request = first_search()
    sandbox.clear_requests()
    run_config(
        make_pipeline("rest_request"),
        rest_api_config_for(sandbox, entities=["Shot"], fields=fields, page_size=50),
    )
    assert first_search() == fast_request
    path, content_type, body = fast_request
    assert path == "/api/v1/entity/Shot/_search" and content_type == "application/vnd+shotgun.api3_array+json"
    assert body["fields"] == sorted({*fields["Shot"], "id", "updated_at", "created_at"})


def test_columns_have_the_fast_source_s_types(
    shared_sandbox: Any, make_pipeline: Callable[..., dlt.Pipeline], source_for: Any
) -> None:
    """Same root and link tables for the site's fields, each column of the same data type. The link
    tables differ in how they join their parent: dlt's child tables (`_dlt_parent_id`) in the
    rest_api load, the parent's ShotGrid id (`parent_id`, `list_idx`) in the fast source's."""
    rest = make_pipeline("rest_types")
    run_config(rest, rest_api_config_for(shared_sandbox))
    fast = make_pipeline("fast_types")
    fast.run(source_for(shared_sandbox, deletes="ignore"))
    rest_tables, fast_tables = rest.default_schema.tables, fast.default_schema.tables
    compared = 0
    for entity_type in FIVE:
        table = plural_slug(entity_type)
        children = [t for t in fast_tables if t.startswith(f"{table}__")]
        assert children and sorted(children) == sorted(t for t in rest_tables if t.startswith(f"{table}__"))
        for name in [table, *children]:
            fast_columns = {
                c: s
                for c, s in fast_tables[name]["columns"].items()
                if not c.startswith("_") and c not in ("parent_id", "list_idx")
            }
            rest_columns = rest_tables[name]["columns"]
            for column, hint in fast_columns.items():
                assert column in rest_columns, f"{name}.{column} missing from the rest_api load"
                got = (rest_columns[column].get("data_type"), rest_columns[column].get("timezone"))
                assert got == (hint.get("data_type"), hint.get("timezone")), f"{name}.{column}"
                compared += 1
    assert compared > 100


def test_changes_between_runs_load_incrementally_from_the_cursor_less_the_lookback(
    sandbox: Any, make_pipeline: Callable[..., dlt.Pipeline]
) -> None:
    pipeline = make_pipeline("rest_incremental")
    run_config(pipeline, rest_api_config_for(sandbox, page_size=200, lookback_seconds=120))
    cursors = {t: cursor_of(pipeline, plural_slug(t)) for t in FIVE}
    changed = sandbox.site.mutate("Version", 0.05, seed=7) + sandbox.site.mutate("Shot", 0.05, seed=8)
    project = sandbox.site.records("Project")[0]
    created = sandbox.site.create("Shot", {"code": "new between runs", "project": project})
    assert len(changed) > 50

    sandbox.clear_requests()
    run_config(pipeline, rest_api_config_for(sandbox, page_size=200, lookback_seconds=120))
    assert_destination_matches_site(pipeline, sandbox.site, FIVE)
    shots = {row[0] for row in pipeline.dataset()["shots"].select("id").fetchall()}
    assert created["id"] in shots
    for entity_type in FIVE:
        requests = searches(sandbox, entity_type)
        assert len(requests) == 1, f"{entity_type}: an incremental run of a few changes is one page"
        start = requests[0].body["filters"][0][2][0]
        expected = dlt.common.pendulum.parse(cursors[entity_type]).subtract(seconds=120)
        assert start == expected.strftime(TIME_FORMAT), entity_type
    # the second run loads the records changed since each cursor less the lookback, not the whole type
    loaded = pipeline.last_trace.last_normalize_info.row_counts
    since = {t: dlt.common.pendulum.parse(cursors[t]).subtract(seconds=120) for t in ("Shot", "Version")}
    expected = expected_row_counts(sandbox.site, ["Shot", "Version"], changed_since=since)
    assert (loaded["shots"], loaded["versions"]) == (expected["shots"], expected["versions"])
    assert expected["versions"] < len(sandbox.site.records("Version"))


def test_the_event_log_loads_incrementally_on_created_at(
    sandbox: Any, make_pipeline: Callable[..., dlt.Pipeline]
) -> None:
    """EventLogEntry has no `updated_at`: its window is on `created_at` (events never change).
    New events come from records created between the runs (updates would do too, but the sandbox
    rewrites the `user` of its generated events when the record they name is updated)."""
    pipeline = make_pipeline("rest_event_log")
    run_config(pipeline, rest_api_config_for(sandbox, entities=["EventLogEntry"], lookback_seconds=60))
    cursor = cursor_of(pipeline, "event_log_entries", "created_at")
    project = sandbox.site.records("Project")[0]
    for n in range(3):
        sandbox.site.create("Shot", {"code": f"new shot {n}", "project": project})
    sandbox.clear_requests()
    run_config(pipeline, rest_api_config_for(sandbox, entities=["EventLogEntry"], lookback_seconds=60))
    assert_destination_matches_site(pipeline, sandbox.site, ["EventLogEntry"])
    (request,) = searches(sandbox, "EventLogEntry")
    field, operator, (start, end) = request.body["filters"][0]
    assert (field, operator) == ("created_at", "between")
    assert start == dlt.common.pendulum.parse(cursor).subtract(seconds=60).strftime(TIME_FORMAT)
    window = (dlt.common.pendulum.parse(start), dlt.common.pendulum.parse(end))
    in_window = [
        e for e in sandbox.site.records("EventLogEntry") if window[0] <= e["created_at"] <= window[1]
    ]
    assert pipeline.last_trace.last_normalize_info.row_counts["event_log_entries"] == len(in_window) >= 3


def test_records_changed_between_page_requests_are_not_lost(
    sandbox: Any, make_pipeline: Callable[..., dlt.Pipeline]
) -> None:
    """Every other page request of each type changes that type, ahead of the reader and behind it,
    retires one and creates one. Nothing that stayed put is missed; a second run on a quiet site
    brings every change (the generated config has no event-log reads: retired rows stay, allowed)."""
    site = sandbox.site
    types = ["Shot", "Task", "Version"]
    changed_field = {"Shot": "description", "Task": "est_in_mins", "Version": "description"}
    originals = {t: site.records(t) for t in types}
    pages = dict.fromkeys(types, 0)
    touched: set[tuple[str, int]] = set()
    retired: set[int] = set()

    window_ends: list[tuple[str, str]] = []

    def mutate(request: Any) -> None:
        entity_type = request.entity_type
        if request.kind != "search" or entity_type not in pages:
            return
        window_ends.append(
            (request.body["filters"][0][2][1], time.strftime(TIME_FORMAT, time.gmtime(site.now())))
        )
        pages[entity_type] += 1
        n = pages[entity_type]
        if n % 2:
            return
        records = originals[entity_type]
        ahead, behind = records[-(n * 7) % len(records)], records[(n * 3) % (len(records) // 4)]
        for record in (ahead, behind):
            if record["id"] not in retired:
                value = 15 * n if entity_type == "Task" else f"changed on page {n}"
                site.update(entity_type, record["id"], {changed_field[entity_type]: value})
                touched.add((entity_type, record["id"]))
        victim = records[len(records) // 2 + n]
        if victim["id"] not in retired:
            site.retire(entity_type, victim["id"])
            retired.add(victim["id"])
        site.create(entity_type, {"project": ahead["project"]})

    sandbox.faults.before_request = mutate
    pipeline = make_pipeline("rest_mid_read")
    run_config(pipeline, rest_api_config_for(sandbox, entities=types, page_size=60, lookback_seconds=0))
    sandbox.faults.before_request = None
    assert all(n >= 4 for n in pages.values()), pages
    ahead = [(end, now) for end, now in window_ends if end > now]
    assert not ahead, f"windows ending in the site's future (end, site's now): {ahead[:3]}"
    for entity_type in types:
        table = plural_slug(entity_type)
        loaded = {row[0] for row in pipeline.dataset()[table].select("id").fetchall()}
        steady = {r["id"] for r in originals[entity_type]} - {i for t, i in touched if t == entity_type}
        missing = sorted(steady - retired - loaded)
        assert not missing, f"{entity_type}: records that never changed are missing: {missing[:5]}"

    run_config(pipeline, rest_api_config_for(sandbox, entities=types, page_size=60, lookback_seconds=0))
    assert_destination_matches_site(pipeline, site, types, allow_extra=retired)


@pytest.mark.parametrize("window", ["fixed", "open"])
def test_the_fixed_window_end_keeps_a_record_changed_behind_the_reader(
    sandbox: Any, make_pipeline: Callable[..., dlt.Pipeline], window: str
) -> None:
    """Keyset paging alone is not enough: with no lookback, a record changed behind the reader and
    then one changed ahead of it (a later second) would carry the cursor past the first for good,
    were the window open-ended (the control case). The generated config's window ends when the run
    starts, so both changes wait for the next run."""
    site = sandbox.site
    versions = site.records("Version")
    behind, ahead = versions[5], versions[-5]
    pages = {"n": 0}

    def change(request: Any) -> None:
        if request.kind != "search" or request.entity_type != "Version":
            return
        pages["n"] += 1
        if pages["n"] in (2, 3):  # after the first page, which holds `behind`, was read
            site.advance_clock(2)  # each change in a second of its own
            record = behind if pages["n"] == 2 else ahead
            site.update("Version", record["id"], {"description": f"changed on page {pages['n']}"})

    def config() -> Any:
        """Built for each run, as a scheduled run does (a new token: the site's clock moved on)."""
        generated = rest_api_config_for(sandbox, entities=["Version"], page_size=100, lookback_seconds=0)
        if window == "open":
            incremental = generated["resources"][0]["endpoint"]["incremental"]
            incremental["convert"] = lambda start: [start, "2100-01-01T00:00:00Z"]
        return generated

    pipeline = make_pipeline(f"rest_{window}_window")
    sandbox.faults.before_request = change
    run_config(pipeline, config())
    sandbox.faults.before_request = None
    assert pages["n"] > 3
    run_config(pipeline, config())
    rows = dict(pipeline.dataset()["versions"].select("id", "description").fetchall())
    assert rows[ahead["id"]] == "changed on page 3"
    if window == "fixed":
        assert rows[behind["id"]] == "changed on page 2"
        assert_destination_matches_site(pipeline, site, ["Version"])
    else:
        assert rows[behind["id"]] != "changed on page 2", "the open window was expected to lose it"


def test_a_record_changed_twice_in_the_cursor_s_last_second_is_not_dropped_as_a_duplicate(
    sandbox: Any, make_pipeline: Callable[..., dlt.Pipeline]
) -> None:
    """`updated_at` has whole seconds. A record read at the window's last second and changed again
    in that second behind the reader is read by the next run with the same id and cursor value:
    dlt's incremental would drop it as a duplicate of the copy it loaded (with no lookback, dlt's
    boundary deduplication is on); the generated config leaves duplicates to the merge on `id`."""
    site = sandbox.site
    record = site.records("Version")[3]
    pages = {"n": 0}

    def at_window_end(request: Any) -> None:
        if request.kind != "search" or request.entity_type != "Version":
            return
        pages["n"] += 1
        if pages["n"] in (1, 2):
            window_end = dlt.common.pendulum.parse(request.body["filters"][0][2][1]).timestamp()
            site.advance_clock(window_end + 0.5 - site.now_float())  # the site's clock at that second
            site.update("Version", record["id"], {"description": f"version {pages['n']}"})
        if pages["n"] == 2:
            site.advance_clock(5)

    pipeline = make_pipeline("rest_same_second")
    sandbox.faults.before_request = at_window_end
    run_config(
        pipeline, rest_api_config_for(sandbox, entities=["Version"], page_size=100, lookback_seconds=0)
    )
    sandbox.faults.before_request = None
    assert pages["n"] > 2
    loaded = dict(pipeline.dataset()["versions"].select("id", "description").fetchall())
    assert loaded[record["id"]] == "version 1", "the first page was expected to hold the first change"
    stamped = site.get("Version", record["id"])["updated_at"]
    assert stamped.strftime(TIME_FORMAT) == cursor_of(pipeline, "versions")

    run_config(
        pipeline, rest_api_config_for(sandbox, entities=["Version"], page_size=100, lookback_seconds=0)
    )
    loaded = dict(pipeline.dataset()["versions"].select("id", "description").fetchall())
    assert loaded[record["id"]] == "version 2"
    assert_destination_matches_site(pipeline, site, ["Version"])
