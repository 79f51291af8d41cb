"""Faults of a live site over real HTTP into real DuckDB files: every run ends equal to the site.

Each test turns on one kind of fault in the sandbox, runs the source to completion, and compares
the destination with the site row for row and field for field (`destination_truth`).
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any

from destination_truth import assert_destination_matches_site

from reliability.helpers import CliDir, make_pipeline, run_source

TWO = ["Shot", "Version"]
FIVE = ["Project", "Shot", "Task", "Asset", "Version"]


def _same_request(a: Any, b: Any) -> bool:
    return (a.method, a.path, a.query, a.body) == (b.method, b.path, b.query, b.body)


def _retries_of(log: list[Any], status: Callable[[int], bool]) -> list[tuple[Any, Any]]:
    """(failed request, the next identical request) for every answer whose status matches.

    Keyset pages are unique within a run (each asks for ids above a different last id), so the
    next identical request is the retry of the failed one.
    """
    pairs = []
    for i, failed in enumerate(log):
        if failed.kind == "token" or not status(failed.status):
            continue
        retry = next((r for r in log[i + 1 :] if _same_request(r, failed)), None)
        pairs.append((failed, retry))
    return pairs


def test_429_on_a_third_of_requests_completes_and_honours_retry_after(
    sandbox: Any, tmp_path: Path, retry_settings: Any
) -> None:
    retry_settings(attempts=10, backoff=0.1)
    sandbox.faults.rate_limit_share = 1 / 3
    sandbox.faults.retry_after = 1
    pipeline = make_pipeline(tmp_path)
    run_source(pipeline, sandbox, entities=TWO, page_size=250)
    log = sandbox.requests
    sandbox.faults.reset()

    pairs = _retries_of(log, lambda status: status == 429)
    data_requests = [r for r in log if r.kind != "token"]
    assert len(pairs) >= max(2, len(data_requests) // 6), (len(pairs), len(data_requests))
    for failed, retry in pairs:
        assert retry is not None, f"the 429 on {failed.method} {failed.path} was never retried"
        waited = retry.time - failed.time
        assert waited >= 0.95, f"retried {failed.path} {waited:.2f} s after a 429 with Retry-After: 1"
    assert_destination_matches_site(pipeline, sandbox.site, TWO)


def test_5xx_bursts_and_html_maintenance_pages_are_retried(
    sandbox: Any, tmp_path: Path, retry_settings: Any
) -> None:
    retry_settings(attempts=6, backoff=0.05)
    faults = sandbox.faults
    faults.error_burst(2, status=500)  # the schema reads before paging
    faults.error_burst(2, status=503, html=True)
    searches = {"n": 0}

    def burst_while_paging(request: Any) -> None:
        if request.kind == "search":
            searches["n"] += 1
            if searches["n"] == 3:
                faults.error_burst(3, status=502)
            if searches["n"] == 8:
                faults.error_burst(4, status=503, html=True)

    faults.before_request = burst_while_paging
    pipeline = make_pipeline(tmp_path)
    run_source(pipeline, sandbox, entities=TWO, page_size=100)
    log = sandbox.requests
    faults.reset()

    statuses = [r.status for r in log]
    assert statuses.count(500) == 2 and statuses.count(502) == 3 and statuses.count(503) == 6, statuses
    assert all(retry is not None for _, retry in _retries_of(log, lambda status: status >= 500))
    assert_destination_matches_site(pipeline, sandbox.site, TWO)


def test_connections_dropped_mid_body_are_retried(sandbox: Any, tmp_path: Path, retry_settings: Any) -> None:
    retry_settings(attempts=10, backoff=0.05)
    sandbox.faults.drop_share = 0.25
    pipeline = make_pipeline(tmp_path)
    run_source(pipeline, sandbox, entities=TWO, page_size=100)
    log = sandbox.requests
    sandbox.faults.reset()

    searches = [r for r in log if r.kind == "search"]
    repeated = sum(1 for i, r in enumerate(searches) if any(_same_request(r, s) for s in searches[:i]))
    assert repeated >= 2, f"only {repeated} of {len(searches)} searches were re-sent; were any dropped?"
    assert_destination_matches_site(pipeline, sandbox.site, TWO)


def test_all_tokens_revoked_again_and_again_mid_run(
    sandbox: Any, tmp_path: Path, retry_settings: Any
) -> None:
    """Access and refresh tokens alike stop working, two or three times in one run, between pages.

    A revocation waits until every request refused after the last one has been re-sent: revoking
    again while a request re-sends its page with the token just renewed is no site's behaviour
    (the client renews once per request, by design). One request in flight at a time, so the
    site's log tells exactly whether a refused request has been re-sent yet (with several, a 401
    being answered is not yet in the log when the next page's hook looks); tokens shared by
    parallel reads are tested in tests/source/test_auth.py.
    """
    retry_settings()
    pages: set[tuple[str, str]] = set()
    revocations = {"n": 0, "next_at": 5}

    def renewal_in_flight() -> bool:
        log = sandbox.requests
        refused = {i for i, r in enumerate(log) if r.status == 401 and r.kind != "token"}
        return any(not any(_same_request(log[i], later) for later in log[i + 1 :]) for i in refused)

    def revoke_now_and_then(request: Any) -> None:
        if request.kind != "search":
            return
        page = (request.path, repr(request.body))
        if page in pages:
            return
        pages.add(page)
        if len(pages) >= revocations["next_at"] and revocations["n"] < 3 and not renewal_in_flight():
            sandbox.faults.revoke_all_tokens()
            revocations["n"] += 1
            revocations["next_at"] = len(pages) + 5

    sandbox.faults.before_request = revoke_now_and_then
    pipeline = make_pipeline(tmp_path)
    run_source(pipeline, sandbox, entities=TWO, page_size=25, max_concurrent_requests=1)
    log = sandbox.requests
    sandbox.faults.reset()

    assert revocations["n"] >= 2, f"{revocations['n']} revocation(s) in {len(pages)} pages"
    assert sum(1 for r in log if r.status == 401) >= 3
    assert sum(1 for r in log if r.kind == "token" and r.status == 200) >= 1 + revocations["n"]
    assert_destination_matches_site(pipeline, sandbox.site, TWO)


def test_one_second_tokens_over_a_run_of_several_seconds(
    sandbox: Any, tmp_path: Path, retry_settings: Any
) -> None:
    retry_settings()
    sandbox.faults.token_lifetime = 1
    sandbox.faults.latency = 0.25
    pipeline = make_pipeline(tmp_path)
    # two requests in flight at most, so the run lasts several token lifetimes
    run_source(pipeline, sandbox, entities=TWO, page_size=50, max_concurrent_requests=2)
    log = sandbox.requests
    sandbox.faults.reset()

    data = [r for r in log if r.kind != "token"]
    span = data[-1].time - data[0].time
    tokens = sum(1 for r in log if r.kind == "token" and r.status == 200)
    assert span >= 3, f"the run spanned only {span:.1f} s, too short to outlive several tokens"
    assert tokens >= span / 1.5, f"{tokens} tokens over {span:.1f} s of 1 s tokens"
    assert_destination_matches_site(pipeline, sandbox.site, TWO)


def test_records_updated_created_and_retired_between_page_requests(
    sandbox: Any, tmp_path: Path, retry_settings: Any
) -> None:
    """Every other page request of each type changes that type: ahead of the reader and behind it.

    The first run may miss what changed after it started (the window is fixed at its start) but
    never a record that stayed put; a second run on a quiet site brings everything, once, and
    flags the retired records (soft deletes, the default).
    """
    retry_settings()
    site = sandbox.site
    types = ["Shot", "Task", "Version"]
    # fields that are not a display name: a renamed record changes its links' `__name` elsewhere
    changed_field = {"Shot": "description", "Task": "est_in_mins", "Version": "description"}
    originals = {t: site.records(t) for t in types}
    pages = dict.fromkeys(types, 0)
    touched: set[tuple[str, int]] = set()
    retired: set[int] = set()
    created: list[int] = []

    def mutate(request: Any) -> None:
        entity_type = request.entity_type
        if request.kind != "search" or entity_type not in pages:
            return
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
        new = site.create(entity_type, {"project": ahead["project"]})
        created.append(new["id"])

    sandbox.faults.before_request = mutate
    pipeline = make_pipeline(tmp_path)
    run_source(pipeline, sandbox, entities=types, page_size=60)
    sandbox.faults.before_request = None
    assert all(n >= 4 for n in pages.values()), pages
    assert len(touched) >= 10 and len(retired) >= 5 and len(created) >= 5

    with pipeline.sql_client() as client:
        for entity_type, table in (("Shot", "shots"), ("Task", "tasks"), ("Version", "versions")):
            loaded = {row[0] for row in client.execute_sql(f"select id from {table}") or []}
            steady = {r["id"] for r in originals[entity_type]} - {i for t, i in touched if t == entity_type}
            missing = sorted(steady - retired - loaded)
            assert not missing, f"{entity_type}: records that never changed are missing: {missing[:5]}"

    run_source(pipeline, sandbox, entities=types, page_size=60)
    assert_destination_matches_site(pipeline, site, types)


def test_renaming_a_linked_record_reaches_the_rows_that_link_it(
    sandbox: Any, tmp_path: Path, retry_settings: Any
) -> None:
    """A Task renamed between runs: Versions that link it show its new name after the next run.

    ShotGrid does not touch a Version's `updated_at` when the Task it links is renamed, so an
    incremental read on `updated_at` never re-reads those Versions; their `sg_task__name`
    column keeps the old name for good (until a `--refresh`).
    """
    retry_settings()
    site = sandbox.site
    types = ["Task", "Version"]
    pipeline = make_pipeline(tmp_path)
    run_source(pipeline, sandbox, entities=types)
    linked = next(v for v in site.records("Version") if v.get("sg_task"))
    site.update("Task", linked["sg_task"]["id"], {"content": "renamed between runs"})
    run_source(pipeline, sandbox, entities=types)
    assert_destination_matches_site(pipeline, site, types)


def test_a_first_load_just_after_renames_and_retirements_loads_the_site(
    sandbox: Any, tmp_path: Path, retry_settings: Any
) -> None:
    """A rename inside a first run's lookback, with a row retired long before linking the renamed record: the
    script's first run has no schema and no destination rows yet, and must not look for retired
    rows there (it failed with dlt's SchemaNotFoundError, found by bench/soak.py's churn)."""
    site = sandbox.site
    version = next(v for v in site.records("Version") if v.get("sg_task"))
    site.retire("Version", version["id"])
    site.advance_clock(3600)  # retired long before the run, out of its lookback
    site.update("Task", version["sg_task"]["id"], {"content": "renamed just before the first load"})
    site.advance_clock(5)  # both inside the first run's window, which its event-log read covers
    cli = CliDir(tmp_path / "cli")
    run = cli.run(sandbox.env(), "--page-size", "100")
    assert run.returncode == 0, run.stderr[-3000:]
    assert_destination_matches_site(cli.attach(), site, FIVE)


def test_renaming_a_record_reaches_retired_rows_that_link_it_and_keeps_their_retirement_time(
    sandbox: Any, tmp_path: Path, retry_settings: Any
) -> None:
    """A retired Version keeps its row (soft deletes) and its links: when the Task and Project it
    links are renamed, its `sg_task__name` and `project__name` follow, and `_sg_retired_at` stays the
    time it was retired (found by bench/soak.py's churn: retired rows kept the old names)."""
    retry_settings()
    site = sandbox.site
    types = ["Task", "Version"]
    pipeline = make_pipeline(tmp_path)
    run_source(pipeline, sandbox, entities=types)
    version = next(v for v in site.records("Version") if v.get("sg_task") and v.get("project"))
    site.retire("Version", version["id"])
    run_source(pipeline, sandbox, entities=types)

    def retired_row() -> tuple[Any, ...]:
        with pipeline.sql_client() as client:
            rows = client.execute_sql(
                "SELECT _sg_retired, _sg_retired_at, sg_task__name, project__name"
                " FROM versions WHERE id = %s",
                version["id"],
            )
        assert rows and len(rows) == 1, rows
        return tuple(rows[0])

    flagged, retired_at, _, _ = retired_row()
    assert flagged is True and retired_at is not None
    site.advance_clock(120)
    site.update("Task", version["sg_task"]["id"], {"content": "task renamed after the retirement"})
    site.update("Project", version["project"]["id"], {"name": "project renamed after the retirement"})
    run_source(pipeline, sandbox, entities=types)
    assert retired_row() == (
        True,
        retired_at,
        "task renamed after the retirement",
        "project renamed after the retirement",
    )
    assert_destination_matches_site(pipeline, site, types)
