"""GET list/by-id reads: paging links, sort, fields, GET filters, options, value encodings."""

from __future__ import annotations

from typing import Any

import pytest

from shotgun_source.sandbox import Sandbox

from .helpers import Client, error, record, wire
from .shapes import record_problems


@pytest.fixture(scope="module")
def client(shared_sandbox: Sandbox) -> Client:
    return Client(shared_sandbox)


def live(sb: Sandbox, entity: str) -> list[dict[str, Any]]:
    return sb.site.records(entity)


def test_paging_links_next_always_prev_from_page_two(client: Client, shared_sandbox: Sandbox) -> None:
    r = client.get("/api/v1/entity/Shot", fields="code", **{"page[size]": "100"})
    body = r.json()
    assert r.status_code == 200 and len(body["data"]) == 100
    assert body["links"] == {
        "self": "/api/v1/entity/Shot?fields=code&page%5Bsize%5D=100",
        "next": "/api/v1/entity/Shot?fields=code&page%5Bnumber%5D=2&page%5Bsize%5D=100",
    }
    r = client.get("/api/v1/entity/shots", fields="*", **{"page[number]": "3", "page[size]": "100"})
    links = r.json()["links"]
    assert links["self"] == "/api/v1/entity/shots?fields=%2A&page%5Bnumber%5D=3&page%5Bsize%5D=100"
    assert links["prev"] == "/api/v1/entity/shots?fields=%2A&page%5Bnumber%5D=2&page%5Bsize%5D=100"
    assert links["next"] == "/api/v1/entity/shots?fields=%2A&page%5Bnumber%5D=4&page%5Bsize%5D=100"
    far = client.get("/api/v1/entity/Shot", fields="code", **{"page[number]": "999"}).json()
    assert far["data"] == [] and "page%5Bnumber%5D=1000" in far["links"]["next"]
    assert "meta" not in far


def test_pages_cover_every_live_row_once_in_id_order(client: Client, shared_sandbox: Sandbox) -> None:
    expected = [s["id"] for s in live(shared_sandbox, "Shot")]
    seen: list[int] = []
    for page in range(1, 20):
        data = client.get(
            "/api/v1/entity/Shot", fields="id", **{"page[number]": str(page), "page[size]": "70"}
        ).json()
        seen += [d["id"] for d in data["data"]]
        if len(data["data"]) < 70:
            break
    assert seen == expected


def test_default_page_size_is_500(client: Client, shared_sandbox: Sandbox) -> None:
    n = len(live(shared_sandbox, "Task"))
    assert n > 500
    body = client.get("/api/v1/entity/Task", fields="content").json()
    assert len(body["data"]) == 500 and "page%5Bsize%5D=500" in body["links"]["next"]


@pytest.mark.parametrize(
    ("size", "message"),
    [
        ("0", "size must be greater than 0"),
        ("-3", "size must be greater than 0"),
        ("5001", "size must be less than 5000"),
    ],
)
def test_page_size_bounds(client: Client, size: str, message: str) -> None:
    r = client.get("/api/v1/entity/Shot", **{"page[size]": size})
    assert r.status_code == 400
    err = error(r)
    assert err["code"] == 103 and err["title"] == "Request Parameters invalid."
    assert err["source"] == {"page": {"size": [message]}}


def test_page_size_5000_is_accepted(client: Client, shared_sandbox: Sandbox) -> None:
    r = client.get("/api/v1/entity/Task", fields="id", **{"page[size]": "5000"})
    assert r.status_code == 200 and len(r.json()["data"]) == len(live(shared_sandbox, "Task"))
    assert client.get("/api/v1/entity/Task", **{"page[number]": "0"}).status_code == 400


def test_sort_multi_key_descending_and_silent_drops(client: Client, shared_sandbox: Sandbox) -> None:
    shots = live(shared_sandbox, "Shot")
    body = client.get(
        "/api/v1/entity/Shot", fields="sg_status_list", sort="sg_status_list,-id", **{"page[size]": "500"}
    )
    got = [d["id"] for d in body.json()["data"]]
    assert got == [s["id"] for s in sorted(shots, key=lambda s: (s["sg_status_list"], -s["id"]))]
    body = client.get("/api/v1/entity/Shot", fields="id", sort="-updated_at", **{"page[size]": "500"})
    assert [d["id"] for d in body.json()["data"]] == [
        s["id"] for s in sorted(shots, key=lambda s: (-s["updated_at"].timestamp(), s["id"]))
    ]
    unknown = client.get("/api/v1/entity/Shot", fields="id", sort="no_such_field", **{"page[size]": "500"})
    assert [d["id"] for d in unknown.json()["data"]] == [s["id"] for s in shots]


@pytest.mark.parametrize(
    ("sort", "message"),
    [("", "sort must be filled"), ("id desc", "sort list is not valid"), ("+id", "sort list is not valid")],
)
def test_invalid_sort_forms(client: Client, sort: str, message: str) -> None:
    r = client.get("/api/v1/entity/Shot", sort=sort)
    assert r.status_code == 400 and error(r)["source"] == {"sort": [message]}


def test_fields_selection(client: Client, shared_sandbox: Sandbox) -> None:
    rec = client.get("/api/v1/entity/Version", fields="code,no_such_field", **{"page[size]": "1"}).json()[
        "data"
    ][0]
    assert rec["attributes"] == {"code": live(shared_sandbox, "Version")[0]["code"]}
    assert rec["relationships"] == {} and rec["type"] == "Version" and isinstance(rec["id"], int)
    rec = client.get(
        "/api/v1/entity/Version", fields="entity,sg_task,frame_count", **{"page[size]": "1"}
    ).json()["data"][0]
    assert set(rec["attributes"]) == {"frame_count"} and set(rec["relationships"]) == {"entity", "sg_task"}
    rec = client.get(
        "/api/v1/entity/Version", fields="entity.Shot.code,sg_task.Task.content", **{"page[size]": "3"}
    )
    for data, truth in zip(rec.json()["data"], live(shared_sandbox, "Version"), strict=False):
        ent = truth["entity"]
        expected = record(shared_sandbox, "Shot", ent["id"])["code"] if ent["type"] == "Shot" else None
        assert data["attributes"]["entity.Shot.code"] == expected
        assert data["attributes"]["sg_task.Task.content"] == truth["sg_task"]["name"]


def test_every_field_matches_ground_truth(client: Client, shared_sandbox: Sandbox) -> None:
    """fields=* on CustomEntity01 (every data type) equals the truth, encoded as a live site does."""
    sb = shared_sandbox
    kinds = {k: v["data_type"] for k, v in sb.site.fields("CustomEntity01").items()}
    truth = {r["id"]: r for r in live(sb, "CustomEntity01")}
    data = client.get("/api/v1/entity/custom_entity01s", fields="*", **{"page[size]": "500"}).json()["data"]
    assert sorted(d["id"] for d in data) == sorted(truth)
    nulls: set[str] = set()
    for rec in data:
        assert record_problems(rec, kinds, "custom_entity01s") == []
        expected = truth[rec["id"]]
        for name, value in rec["attributes"].items():
            assert value == wire(kinds[name], expected[name]), (rec["id"], name)
            if value is None:
                nulls.add(name)
        for name, rel in rec["relationships"].items():
            want = expected[name]
            if kinds[name] == "multi_entity":
                assert rel["data"] == [{"id": w["id"], "name": w["name"], "type": w["type"]} for w in want]
            else:
                assert rel["data"] == (
                    None if want is None else {"id": want["id"], "name": want["name"], "type": want["type"]}
                )
    assert {"sg_ratio", "sg_due_date", "sg_delivered_at", "sg_count", "sg_settings", "sg_link"} <= nulls
    assert all(rec["attributes"]["sg_unused_float"] is None for rec in data)
    assert {kinds[k] for k in kinds} >= {
        "text", "number", "float", "checkbox", "date", "date_time", "duration", "percent", "timecode",
        "currency", "list", "status_list", "serializable", "url", "image", "tag_list", "color", "uuid",
        "entity", "multi_entity", "footage", "pivot_column",
    }  # fmt: skip


def test_get_filters(client: Client, shared_sandbox: Sandbox) -> None:
    versions = live(shared_sandbox, "Version")
    target = versions[5]
    body = client.get("/api/v1/entity/Version", fields="code", **{"filter[code]": target["code"]}).json()
    assert [d["id"] for d in body["data"]] == [v["id"] for v in versions if v["code"] == target["code"]]
    ids = f"{versions[1]['id']},{versions[3]['id']},{versions[7]['id']}"
    body = client.get("/api/v1/entity/Version", fields="id", **{"filter[id]": ids}).json()
    assert [d["id"] for d in body["data"]] == [versions[1]["id"], versions[3]["id"], versions[7]["id"]]
    pid = target["project"]["id"]
    body = client.get(
        "/api/v1/entity/Version",
        fields="id",
        **{"filter[project.Project.id]": str(pid), "page[size]": "5000"},
    )
    assert [d["id"] for d in body.json()["data"]] == [v["id"] for v in versions if v["project"]["id"] == pid]
    r = client.get("/api/v1/entity/Version", **{"filter[no_such_field]": "x"})
    assert r.status_code == 400 and error(r)["title"] == "API read() Version.no_such_field doesn't exist."


def test_unknown_entity_type_is_404_code_103(client: Client) -> None:
    r = client.get("/api/v1/entity/Spaceship")
    assert r.status_code == 404
    assert error(r) | {"id": "-"} == {
        "id": "-",
        "status": 404,
        "code": 103,
        "title": "Not Found",
        "source": None,
        "detail": "Entity type 'Spaceship' does not exist.",
        "meta": None,
    }
    assert client.get("/api/v1/no/such/route").status_code == 404


def test_read_by_id(client: Client, shared_sandbox: Sandbox) -> None:
    v = live(shared_sandbox, "Version")[2]
    r = client.get(f"/api/v1/entity/Version/{v['id']}", fields="code,user")
    body = r.json()
    assert r.status_code == 200 and set(body) == {"data", "links"}
    assert body["links"] == {"self": f"/api/v1/entity/Version/{v['id']}?fields=code%2Cuser"}
    assert body["data"]["attributes"] == {"code": v["code"]}
    assert body["data"]["relationships"]["user"]["data"]["id"] == v["user"]["id"]
    missing = client.get("/api/v1/entity/Version/999999")
    assert missing.status_code == 404
    assert error(missing)["code"] == 104 and error(missing)["detail"] == "Version: 999999 not found"


def test_retired_rows_need_return_only_retired(client: Client, shared_sandbox: Sandbox) -> None:
    retired = shared_sandbox.site.records("Shot", retired=True)
    assert retired, "the studio starts with some retired rows"
    rid = retired[0]["id"]
    assert client.get(f"/api/v1/entity/Shot/{rid}").status_code == 404
    r = client.get(f"/api/v1/entity/Shot/{rid}", **{"options[return_only]": "retired"})
    assert r.status_code == 200 and r.json()["data"]["id"] == rid
    listed = client.get(
        "/api/v1/entity/Shot", fields="id", **{"options[return_only]": "retired", "page[size]": "500"}
    )
    assert [d["id"] for d in listed.json()["data"]] == [s["id"] for s in retired]
    active = client.get("/api/v1/entity/Shot", fields="id", **{"page[size]": "500"}).json()["data"]
    assert rid not in {d["id"] for d in active}
    assert client.get("/api/v1/entity/Shot", **{"options[return_only]": "both"}).status_code == 400


def test_include_archived_projects(client: Client, shared_sandbox: Sandbox) -> None:
    projects = live(shared_sandbox, "Project")
    archived = {p["id"] for p in projects if p["archived"]}
    assert archived
    shots = live(shared_sandbox, "Shot")
    body = client.get(
        "/api/v1/entity/Shot",
        fields="id",
        **{"options[include_archived_projects]": "false", "page[size]": "500"},
    )
    assert [d["id"] for d in body.json()["data"]] == [
        s["id"] for s in shots if s["project"]["id"] not in archived
    ]
    body = client.get("/api/v1/entity/Shot", fields="id", **{"page[size]": "500"})
    assert len(body.json()["data"]) == len(shots)


def test_headers(client: Client) -> None:
    r = client.get("/api/v1/entity/Project", fields="name")
    assert r.headers["Content-Type"] == "application/json; charset=utf-8"
    assert r.headers["Cache-Control"] == "private, max-age=0, must-revalidate"
    assert r.headers["ETag"].startswith('W/"') and len(r.headers["X-Request-Id"]) == 32
    assert r.headers["Date"].endswith("GMT")


def test_date_header_follows_the_site_clock(sandbox: Sandbox) -> None:
    from email.utils import parsedate_to_datetime

    client = Client(sandbox)
    before = parsedate_to_datetime(client.get("/api/v1").headers["Date"])
    sandbox.site.advance_clock(3600)
    after = parsedate_to_datetime(client.get("/api/v1").headers["Date"])
    assert 3590 <= (after - before).total_seconds() <= 3700


def test_keep_alive_reuses_one_connection(sandbox: Sandbox) -> None:
    client = Client(sandbox)
    for _ in range(3):
        assert client.get("/api/v1/entity/Project", fields="name").status_code == 200
    server = sandbox._server
    assert server is not None and len(server._active) == 1  # token + 3 reads on one connection
