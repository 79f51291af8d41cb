"""POST _search: both filter syntaxes, operators against ground truth, errors, paging, summarize."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import requests

from shotgun_source.sandbox import Sandbox

from .helpers import ARRAY, HASH, Client, error, iso


@pytest.fixture(scope="module")
def client(shared_sandbox: Sandbox) -> Client:
    return Client(shared_sandbox)


@pytest.fixture(scope="module")
def versions(shared_sandbox: Sandbox) -> list[dict[str, Any]]:
    return shared_sandbox.site.records("Version")


def ids(rows: list[dict[str, Any]]) -> list[int]:
    return [r["id"] for r in rows]


def test_datetime_operators_are_strict_and_between_inclusive(
    client: Client, versions: list[dict[str, Any]]
) -> None:
    t = sorted({v["updated_at"] for v in versions})[len(versions) // 3]
    assert sum(v["updated_at"] == t for v in versions) >= 1
    gt = client.ids("Version", [["updated_at", "greater_than", iso(t)]])
    assert gt == ids([v for v in versions if v["updated_at"] > t])
    lt = client.ids("Version", [["updated_at", "less_than", iso(t)]])
    assert lt == ids([v for v in versions if v["updated_at"] < t])
    hi = t + dt.timedelta(days=3)
    between = client.ids("Version", [["updated_at", "between", [iso(t), iso(hi)]]])
    assert between == ids([v for v in versions if t <= v["updated_at"] <= hi])
    outside = client.ids("Version", [["updated_at", "not_between", [iso(t), iso(hi)]]])
    assert outside == ids([v for v in versions if not t <= v["updated_at"] <= hi])
    same = client.ids("Version", [["updated_at", "is", iso(t)]])
    assert same == ids([v for v in versions if v["updated_at"] == t])


def test_datetime_value_spellings(client: Client, versions: list[dict[str, Any]]) -> None:
    t = versions[10]["created_at"]
    expected = ids([v for v in versions if v["created_at"] > t])
    for spelling in (iso(t), t.strftime("%Y-%m-%dT%H:%M:%S+00:00"), t.strftime("%Y-%m-%dT%H:%M:%S"),
                     (t + dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S+02:00")):  # fmt: skip
        assert client.ids("Version", [["created_at", "greater_than", spelling]]) == expected, spelling


def test_number_and_id_operators(client: Client, versions: list[dict[str, Any]]) -> None:
    mid = versions[len(versions) // 2]["id"]
    assert client.ids("Version", [["id", "greater_than", mid]]) == ids([v for v in versions if v["id"] > mid])
    assert client.ids("Version", [["id", "less_than", str(mid)]]) == ids(
        [v for v in versions if v["id"] < mid]
    )
    assert client.ids("Version", [["id", "between", [mid, mid + 5]]]) == ids(
        [v for v in versions if mid <= v["id"] <= mid + 5]
    )
    frames = client.ids("Version", [["frame_count", "greater_than", 150]])
    assert frames == ids([v for v in versions if v["frame_count"] is not None and v["frame_count"] > 150])
    nulls = client.ids("Version", [["frame_count", "is", None]])
    assert nulls == ids([v for v in versions if v["frame_count"] is None]) and nulls
    picked = [versions[3]["id"], versions[1]["id"]]
    assert client.ids("Version", [["id", "in", picked]]) == sorted(picked)
    assert len(client.ids("Version", [["id", "not_in", picked]])) == len(versions) - 2
    rate = client.ids("Version", [["sg_uploaded_movie_frame_rate", "is", 24]])
    assert rate == ids([v for v in versions if v["sg_uploaded_movie_frame_rate"] == 24.0])


def test_text_operators_ignore_case(client: Client, versions: list[dict[str, Any]]) -> None:
    code = versions[0]["code"]
    part = code.split("_")[0]
    assert client.ids("Version", [["code", "contains", part.upper()]]) == ids(
        [v for v in versions if part.lower() in v["code"].lower()]
    )
    assert client.ids("Version", [["code", "starts_with", part.lower()]]) == ids(
        [v for v in versions if v["code"].lower().startswith(part.lower())]
    )
    assert client.ids("Version", [["code", "ends_with", "_V001"]]) == ids(
        [v for v in versions if v["code"].lower().endswith("_v001")]
    )
    none = client.ids("Version", [["description", "not_contains", "cache"]])
    assert none == ids(
        [v for v in versions if v["description"] is None or "cache" not in v["description"].lower()]
    )
    assert client.ids("Version", [["code", "is", code.upper()]]) == ids(
        [v for v in versions if v["code"] == code]
    )
    assert client.ids("Version", [["sg_status_list", "in", ["apr", "na"]]]) == ids(
        [v for v in versions if v["sg_status_list"] in ("apr", "na")]
    )
    assert client.ids("Version", [["sg_status_list", "is_not", "rev"]]) == ids(
        [v for v in versions if v["sg_status_list"] != "rev"]
    )


def test_entity_operators(client: Client, versions: list[dict[str, Any]]) -> None:
    shot = next(v["entity"] for v in versions if v["entity"]["type"] == "Shot")
    ref = {"type": "Shot", "id": shot["id"]}
    assert client.ids("Version", [["entity", "is", ref]]) == ids(
        [v for v in versions if v["entity"]["id"] == shot["id"] and v["entity"]["type"] == "Shot"]
    )
    assert client.ids("Version", [["entity", "type_is", "Asset"]]) == ids(
        [v for v in versions if v["entity"]["type"] == "Asset"]
    )
    assert client.ids("Version", [["entity", "type_is_not", "Asset"]]) == ids(
        [v for v in versions if v["entity"]["type"] != "Asset"]
    )
    assert client.ids("Version", [["entity", "name_contains", shot["name"][:5].lower()]]) == ids(
        [v for v in versions if shot["name"][:5].lower() in v["entity"]["name"].lower()]
    )
    assert client.ids("Version", [["entity", "name_is", shot["name"]]]) == ids(
        [v for v in versions if v["entity"]["name"] == shot["name"]]
    )
    assert client.ids("Version", [["entity", "in", [ref, {"type": "Asset", "id": 1}]]]) == client.ids(
        "Version", [["entity", "is", ref]]
    )
    assert client.ids("Version", [["entity.Shot.code", "is", shot["name"]]]) == ids(
        [v for v in versions if v["entity"]["type"] == "Shot" and v["entity"]["name"] == shot["name"]]
    )
    r = client.search("Version", [["entity", "in", [{"id": shot["id"]}]]])
    assert r.status_code == 400 and "invalid/missing entity hash string 'type'" in error(r)["title"]


def test_multi_entity_operators(client: Client, shared_sandbox: Sandbox) -> None:
    tasks = shared_sandbox.site.records("Task")
    person = next(t["task_assignees"][0] for t in tasks if t["task_assignees"])
    ref = {"type": "HumanUser", "id": person["id"]}

    def has(t: dict[str, Any]) -> bool:
        return any(a["id"] == person["id"] for a in t["task_assignees"])

    assert client.ids("Task", [["task_assignees", "is", ref]]) == ids([t for t in tasks if has(t)])
    assert client.ids("Task", [["task_assignees", "is_not", ref]]) == ids([t for t in tasks if not has(t)])
    assert client.ids("Task", [["task_assignees", "in", [ref]]]) == ids([t for t in tasks if has(t)])
    assert client.ids("Task", [["task_assignees", "not_in", [ref]]]) == ids([t for t in tasks if not has(t)])
    assert client.ids("Task", [["task_assignees", "is", None]]) == ids(
        [t for t in tasks if not t["task_assignees"]]
    )


def test_other_types(client: Client, shared_sandbox: Sandbox) -> None:
    rows = shared_sandbox.site.records("CustomEntity01")
    assert client.ids("CustomEntity01", [["sg_approved", "is", True]]) == ids(
        [r for r in rows if r["sg_approved"]]
    )
    day = next(r["sg_due_date"] for r in rows if r["sg_due_date"])
    assert client.ids("CustomEntity01", [["sg_due_date", "greater_than", day.isoformat()]]) == ids(
        [r for r in rows if r["sg_due_date"] and r["sg_due_date"] > day]
    )
    assert client.ids("CustomEntity01", [["sg_keywords", "is", "night"]]) == ids(
        [r for r in rows if "night" in r["sg_keywords"]]
    )
    assert client.ids("CustomEntity01", [["image", "is", None]]) == ids(
        [r for r in rows if r["image"] is None]
    )
    budget = client.ids("CustomEntity01", [["sg_budget", "between", [1000, 100000]]])
    assert budget == ids([r for r in rows if r["sg_budget"] is not None and 1000 <= r["sg_budget"] <= 100000])


def test_in_last_and_in_next(sandbox: Sandbox) -> None:
    client = Client(sandbox)
    versions = sandbox.site.records("Version")
    now = dt.datetime.fromtimestamp(sandbox.site.now(), dt.UTC)
    recent = client.ids("Version", [["updated_at", "in_last", [3, "DAY"]]])
    assert recent == ids([v for v in versions if now - dt.timedelta(days=3) <= v["updated_at"] <= now])
    assert client.ids("Version", [["updated_at", "in_next", [1, "DAY"]]]) == ids(
        [v for v in versions if v["updated_at"] >= now]
    )
    assert client.search("Version", [["updated_at", "in_last", [3, "day"]]]).status_code == 400


def test_hash_filters_nest_and_or(client: Client, versions: list[dict[str, Any]]) -> None:
    a, b, c = versions[1]["id"], versions[2]["id"], versions[3]["id"]
    either = {"logical_operator": "or", "conditions": [["id", "is", a], ["id", "is", b]]}
    assert client.ids("Version", either, HASH) == [a, b]
    both = {"logical_operator": "and", "conditions": [["id", "is", a], ["id", "is", b]]}
    assert client.ids("Version", both, HASH) == []
    nested = {"logical_operator": "and", "conditions": [["id", "less_than", c], either]}
    assert client.ids("Version", nested, HASH) == [a, b]
    deep = {
        "logical_operator": "or",
        "conditions": [{"logical_operator": "and", "conditions": [["id", "is", c]]}, either],
    }
    assert client.ids("Version", deep, HASH) == [a, b, c]
    everything = client.ids("Version", {"logical_operator": "and", "conditions": []}, HASH)
    assert everything == ids(versions)


@pytest.mark.parametrize(
    ("content_type", "filters", "title"),
    [
        (HASH, {"logical_operator": "AND", "conditions": []}, "Invalid logical operator: AND"),
        (HASH, {"conditions": []}, 'Missing logical operator: {"conditions"=>[]}'),
        (HASH, {"logical_operator": "or"}, 'Missing conditions parameter: {"logical_operator"=>"or"}'),
        (HASH, [["id", "is", 1]], 'Query is not an Hash: [["id", "is", 1]]'),
        (
            ARRAY,
            {"logical_operator": "or", "conditions": []},
            'Query is not an Array: {"logical_operator"=>"or", "conditions"=>[]}',
        ),
        (ARRAY, [["id", "is", 1, "or"]], 'Invalid condition: ["id", "is", 1, "or"]'),
    ],
)
def test_malformed_filters(client: Client, content_type: str, filters: Any, title: str) -> None:
    r = client.search("Version", filters, content_type)
    assert r.status_code == 400 and error(r)["title"] == title


def test_unknown_field_relation_and_unfilterable(client: Client) -> None:
    r = client.search("Version", [["not_a_field", "is", "x"]])
    err = error(r)
    assert r.status_code == 400 and err["code"] == 103
    assert err["title"] == "API read() Version.not_a_field doesn't exist."
    value = '{"path"=>"not_a_field", "relation"=>"is", "values"=>["x"]}'
    assert err["source"] == {"Version.not_a_field": f" does not exist. Value: {value}"}
    r = client.search("Version", [["code", "bogus_relation", "x"]])
    assert r.status_code == 400
    assert (
        error(r)["title"]
        == "API read() Version.code's 'text' data type doesn't support 'bogus_relation' 'relation'."
    )
    relations = '["contains", "not_contains", "is", "is_not", "starts_with", "ends_with", "in", "not_in"]'
    assert f"Valid relations: {relations}" in error(r)["source"]["Version.code"]
    r = client.search("Version", [["sg_uploaded_movie", "is", None]])
    assert r.status_code == 400 and error(r)["title"].endswith("'url' data type cannot be used in a filter.")


def test_content_type_must_be_a_vendor_type(client: Client, shared_sandbox: Sandbox) -> None:
    for ctype in ("application/json", "text/plain"):
        r = client.search("Version", [], ctype)
        assert r.status_code == 415 and error(r)["title"] == f"Unsupported Content-Type '{ctype}'"
        assert "api3_array" in error(r)["source"]["content_type"]
    r = client.session.post(
        f"{shared_sandbox.url}/api/v1/entity/Version/_search", data=b"{", headers={"Content-Type": ARRAY}
    )
    assert r.status_code == 400


def test_vendor_types_as_accept_are_406(client: Client, shared_sandbox: Sandbox) -> None:
    r = client.session.get(f"{shared_sandbox.url}/api/v1/entity/Version", headers={"Accept": ARRAY})
    assert r.status_code == 406 and r.content == b""


def test_in_calendar_relations(sandbox: Sandbox) -> None:
    client = Client(sandbox)
    versions = sandbox.site.records("Version")
    today = dt.datetime.fromtimestamp(sandbox.site.now(), dt.UTC).date()
    expected = ids([v for v in versions if v["updated_at"].date() == today])
    assert expected and client.ids("Version", [["updated_at", "in_calendar_day", 0]]) == expected
    last = today.replace(day=1) - dt.timedelta(days=1)
    expected = [
        v["id"]
        for v in versions
        if v["sg_submitted_date"]
        and (v["sg_submitted_date"].year, v["sg_submitted_date"].month) == (last.year, last.month)
    ]
    assert expected and client.ids("Version", [["sg_submitted_date", "in_calendar_month", -1]]) == expected


def test_search_paging_links_and_query_params(client: Client, versions: list[dict[str, Any]]) -> None:
    r = client.search("Version", [], fields="code", page={"size": 10, "number": 2})
    body = r.json()
    assert [d["id"] for d in body["data"]] == ids(versions[10:20])
    assert body["links"] == {
        "self": "/api/v1/entity/Version/_search",
        "next": "/api/v1/entity/Version/_search?page%5Bnumber%5D=3&page%5Bsize%5D=10",
        "prev": "/api/v1/entity/Version/_search?page%5Bnumber%5D=1&page%5Bsize%5D=10",
    }
    # page and fields in the query string (node client style); the body wins when both are given
    r = client.search("Version", [], params={"page[size]": "5", "page[number]": "2", "fields": "code"})
    assert [d["id"] for d in r.json()["data"]] == ids(versions[5:10])
    assert set(r.json()["data"][0]["attributes"]) == {"code"}
    r = client.search("Version", [], params={"page[size]": "5"}, page={"size": 3}, fields="id")
    assert len(r.json()["data"]) == 3
    empty = client.search("Version", [["id", "less_than", 0]], fields="id").json()
    assert (
        empty["data"] == []
        and empty["links"]["next"] == "/api/v1/entity/Version/_search?page%5Bnumber%5D=2&page%5Bsize%5D=500"
    )
    assert client.search("Version", [], sort=[{"field_name": "id"}]).status_code == 400


def test_keyset_read_returns_every_row_once(client: Client, versions: list[dict[str, Any]]) -> None:
    last, seen = 0, []
    window = ["2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z"]
    for _ in range(50):
        r = client.search(
            "Version",
            [["updated_at", "between", window], ["id", "greater_than", last]],
            fields="*",
            sort="id",
            page={"size": 250},
        )
        data = r.json()["data"]
        seen += [d["id"] for d in data]
        if len(data) < 250:
            break
        last = data[-1]["id"]
    assert seen == ids(versions)


def test_search_options_return_only(client: Client, shared_sandbox: Sandbox) -> None:
    retired = shared_sandbox.site.records("Version", retired=True)
    got = client.ids("Version", [], options={"return_only": "retired"})
    assert got == ids(retired) and got


def test_summarize(client: Client, shared_sandbox: Sandbox) -> None:
    shots = shared_sandbox.site.records("Shot")
    pid = shots[0]["project"]["id"]
    body = {
        "filters": {"logical_operator": "and", "conditions": [["project.Project.id", "is", pid]]},
        "summary_fields": [
            {"type": "record_count", "field": "id"},
            {"type": "maximum", "field": "sg_cut_duration"},
        ],
    }
    url = f"{shared_sandbox.url}/api/v1/entity/Shot/_summarize"
    r = client.session.post(url, json=body, headers={"Content-Type": HASH})
    mine = [s for s in shots if s["project"]["id"] == pid]
    assert r.json() == {
        "data": {
            "summaries": {
                "id": len(mine),
                "sg_cut_duration": max(s["sg_cut_duration"] for s in mine if s["sg_cut_duration"]),
            },
            "groups": [],
        }
    }
    grouped = client.session.post(
        url,
        json={**body, "grouping": [{"field": "sg_status_list", "type": "exact"}]},
        headers={"Content-Type": HASH},
    ).json()["data"]["groups"]
    assert {g["group_value"]: g["summaries"]["id"] for g in grouped} == {
        st: sum(1 for s in mine if s["sg_status_list"] == st) for st in {s["sg_status_list"] for s in mine}
    }
    bad = client.session.post(
        url, json={"summary_fields": [{"field": "id", "type": "nope"}]}, headers={"Content-Type": HASH}
    )
    assert bad.status_code == 400 and error(bad)["title"] == "Request Parameters invalid."
    assert "record_count, count, sum" in error(bad)["source"]["summary_fields"]["0"]["type"][0]
    r = requests.post(
        url, json=body, headers={"Content-Type": "application/json", **client.session.headers}, timeout=10
    )
    assert r.status_code == 415
