"""The paginators over real HTTP: links.next keeps parameters and body and stops on a short page;
keyset paging survives records leaving the result set mid-read, where page numbers lose rows, in
the paginator and in the source's own window read."""

from typing import Any

import pytest
from destination_truth import assert_destination_matches_site
from dlt.sources.helpers.rest_client import RESTClient
from shotgun_testing import script_auth

from shotgun_source import ShotgunKeysetPaginator, ShotgunLinksPaginator, ShotgunResponseError
from shotgun_source.settings import SEARCH_CONTENT_TYPE


def _client(sandbox: Any) -> RESTClient:
    return RESTClient(
        base_url=f"{sandbox.url}/api/v1", auth=script_auth(sandbox).bind(sandbox.url), data_selector="data"
    )


def test_links_next_keeps_query_parameters_and_stops_on_short_page(sandbox: Any) -> None:
    live = {r["id"]: r for r in sandbox.site.records("Shot")}
    sandbox.clear_requests()
    pages = list(
        _client(sandbox).paginate(
            "entity/Shot",
            params={"fields": "code,sg_status_list"},
            paginator=ShotgunLinksPaginator(page_size=7),
        )
    )
    ids = [record["id"] for page in pages for record in page]
    assert sorted(ids) == sorted(live) and len(ids) == len(set(ids))
    for page in pages:
        for record in page:
            assert set(record["attributes"]) == {"code", "sg_status_list"}
            assert record["attributes"]["code"] == live[record["id"]]["code"]
    reads = [r for r in sandbox.requests if r.kind == "read"]
    expected_requests = len(live) // 7 + 1  # the last page is short (or empty)
    assert len(reads) == expected_requests
    assert all(r.query.get("fields") == "code,sg_status_list" for r in reads)


def test_links_next_keeps_the_search_body(sandbox: Any) -> None:
    project_id = sandbox.site.records("Project")[0]["id"]
    want = {
        r["id"] for r in sandbox.site.records("Shot") if r.get("project") and r["project"]["id"] == project_id
    }
    body = {"filters": [["project", "is", {"type": "Project", "id": project_id}]], "fields": ["code"]}
    sandbox.clear_requests()
    pages = _client(sandbox).paginate(
        "entity/Shot/_search",
        method="POST",
        json=body,
        headers={"Content-Type": SEARCH_CONTENT_TYPE},
        paginator=ShotgunLinksPaginator(page_size=5),
    )
    got = [record["id"] for page in pages for record in page]
    assert sorted(got) == sorted(want) and len(want) > 10
    searches = [r for r in sandbox.requests if r.kind == "search"]
    assert len(searches) > 2 and all("filters" in str(r.body) for r in searches)


def test_a_next_link_to_another_host_is_refused(sandbox: Any) -> None:
    sandbox.faults.next_link_host = "http://127.0.0.2:9"
    with pytest.raises(ShotgunResponseError, match="another host"):
        list(_client(sandbox).paginate("entity/Shot", paginator=ShotgunLinksPaginator(page_size=5)))


def _read_all_while_retiring(sandbox: Any, paginator: Any, method: str) -> tuple[set[int], set[int]]:
    """Page Versions by id while the second page request retires a record already read."""
    site = sandbox.site
    first_ids = [r["id"] for r in site.records("Version")][:10]
    pages_seen = {"n": 0}

    def retire_one_already_read(request: Any) -> None:
        if request.entity_type == "Version" and request.kind in ("read", "search"):
            pages_seen["n"] += 1
            if pages_seen["n"] == 2:
                site.retire("Version", first_ids[0])

    sandbox.faults.before_request = retire_one_already_read
    client = _client(sandbox)
    if method == "GET":
        pages = client.paginate(
            "entity/Version", params={"fields": "code", "sort": "id"}, paginator=paginator
        )
    else:
        pages = client.paginate(
            "entity/Version/_search",
            method="POST",
            json={"filters": [], "fields": ["code"]},
            headers={"Content-Type": SEARCH_CONTENT_TYPE},
            paginator=paginator,
        )
    got = {record["id"] for page in pages for record in page}
    sandbox.faults.before_request = None
    live_unchanged = {r["id"] for r in site.records("Version")}
    return got, live_unchanged


def test_page_numbers_lose_a_row_when_one_leaves_mid_read(sandbox: Any) -> None:
    got, live = _read_all_while_retiring(sandbox, ShotgunLinksPaginator(page_size=10), "GET")
    assert live - got, "page-number paging was expected to skip the row that moved up a page"


def test_keyset_paging_loses_nothing_when_one_leaves_mid_read(sandbox: Any) -> None:
    got, live = _read_all_while_retiring(sandbox, ShotgunKeysetPaginator(page_size=10), "POST")
    assert live <= got


def test_the_window_read_loses_nothing_while_records_it_read_retire(
    sandbox: Any, source_for: Any, make_pipeline: Any
) -> None:
    """The source's window read, page after page on one thread (`parallel_ranges=1`): before each
    page request from the third on, the lowest-id Version above the first page retires, a record
    the reader has read (ids ascend). Page numbers would shift every later record up a page and
    lose one per retirement; keyset pages lose none."""
    site = sandbox.site
    page_size = 100
    live_at_start = sorted(r["id"] for r in site.records("Version"))
    first_page_last = live_at_start[page_size - 1]
    window_pages = {"n": 0}
    retired: list[int] = []

    def retire_one_already_read(request: Any) -> None:
        body = request.body if isinstance(request.body, dict) else {}
        if request.kind != "search" or request.entity_type != "Version" or body.get("sort") != "id":
            return  # not a window page: the highest-id probe sorts by -id
        if "updated_at" not in repr(body.get("filters")):
            return  # a read by id, after the window
        window_pages["n"] += 1
        if window_pages["n"] >= 3:
            lowest = min(r["id"] for r in site.records("Version") if r["id"] > first_page_last)
            site.retire("Version", lowest)
            retired.append(lowest)

    sandbox.faults.before_request = retire_one_already_read
    pipeline = make_pipeline()
    pipeline.run(source_for(sandbox, entities=["Version"], page_size=page_size, parallel_ranges=1))
    sandbox.faults.before_request = None
    assert window_pages["n"] >= 10 and len(retired) >= 8, (window_pages, retired)

    loaded = {row[0] for row in pipeline.dataset()["versions"].select("id").fetchall()}
    lost = sorted(set(live_at_start) - set(retired) - loaded)
    assert not lost, f"{len(lost)} records that never changed are missing, e.g. {lost[:5]}"
    pipeline.run(source_for(sandbox, entities=["Version"], page_size=page_size, parallel_ranges=1))
    assert_destination_matches_site(pipeline, site, ["Version"])


def test_auth_and_links_paginator_plug_into_a_rest_api_config(sandbox: Any, make_pipeline: Any) -> None:
    """The pieces work in a user's own dlt rest_api config, as the README shows."""
    from dlt.sources.rest_api import rest_api_source

    auth = script_auth(sandbox)  # not bound: it binds itself to base_url's origin
    notes = rest_api_source(
        {
            "client": {"base_url": f"{sandbox.url}/api/v1/", "auth": auth},
            "resources": [
                {
                    "name": "notes",
                    "primary_key": "id",
                    "endpoint": {
                        "path": "entity/Note/_search",
                        "method": "POST",
                        "headers": {"Content-Type": SEARCH_CONTENT_TYPE},
                        "json": {"filters": [], "fields": ["subject", "content"]},
                        "paginator": ShotgunKeysetPaginator(page_size=50),
                        "data_selector": "data",
                    },
                }
            ],
        },
        name="shotgun_notes",
    )
    pipeline = make_pipeline(name="own_rest_api")
    pipeline.run(notes)
    loaded = {row[0] for row in pipeline.dataset()["notes"].select("id").fetchall()}
    assert loaded == {n["id"] for n in sandbox.site.records("Note")} and len(loaded) > 50
    assert auth.site_url == sandbox.url
    assert len([r for r in sandbox.requests if r.kind == "search"]) == len(loaded) // 50 + 1
