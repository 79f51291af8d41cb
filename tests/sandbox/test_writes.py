"""Writes over HTTP and through `sb.site`: timestamps, events, retire/revive, schema changes, scripts."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
import requests

from shotgun_source.sandbox import Sandbox

from .helpers import Client, error, iso, record


def events_for(sb: Sandbox, entity_type: str, entity_id: int) -> list[dict[str, Any]]:
    return [
        e
        for e in sb.site.records("EventLogEntry")
        if e["meta"]
        and e["meta"].get("entity_type") == entity_type
        and e["meta"].get("entity_id") == entity_id
    ]


def test_create_over_http(sandbox: Sandbox) -> None:
    client = Client(sandbox)
    project = sandbox.site.records("Project")[0]
    r = client.session.post(
        f"{sandbox.url}/api/v1/entity/Asset",
        json={
            "project": {"type": "Project", "id": project["id"]},
            "description": "new prop",
            "sg_asset_type": "Prop",
        },
    )
    assert r.status_code == 201
    data = r.json()["data"]
    assert set(r.json()) == {"data"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", data["attributes"]["created_at"])
    assert data["attributes"]["code"] == f"New Asset {data['id']}"
    assert data["attributes"]["sg_status_list"] == "wtg"
    assert "sg_outsource" not in data["attributes"]  # unset checkboxes are left out of create answers
    assert data["relationships"]["project"]["data"] == {
        "id": project["id"],
        "name": project["name"],
        "type": "Project",
    }
    assert data["relationships"]["created_by"]["data"]["type"] == "ApiUser"
    truth = sandbox.site.get("Asset", data["id"])
    assert (
        truth is not None
        and truth["description"] == "new prop"
        and truth["created_at"] == truth["updated_at"]
    )
    assert [e["event_type"] for e in events_for(sandbox, "Asset", data["id"])] == ["Shotgun_Asset_New"]
    read = client.get(f"/api/v1/entity/Asset/{data['id']}", fields="created_at").json()
    assert read["data"]["attributes"]["created_at"] == iso(truth["created_at"])


def test_create_errors(sandbox: Sandbox) -> None:
    client = Client(sandbox)
    url = f"{sandbox.url}/api/v1/entity/Asset"
    r = client.session.post(url, json={"not_existing_field": 1234})
    assert r.status_code == 400
    assert error(r) | {"id": "-"} == {
        "id": "-",
        "status": 400,
        "code": 103,
        "title": "API create() Asset.not_existing_field doesn't exist.",
        "source": {},
        "detail": None,
        "meta": None,
    }
    r = client.session.post(url, json={"created_at": "2020-01-01T00:00:00Z"})
    assert r.status_code == 400 and error(r)["code"] == 104
    r = client.session.post(url, json={"sg_status_list": "bogus"})
    assert r.status_code == 400
    r = client.session.post(url, json={"project": {"type": "Project", "id": 999999}})
    assert r.status_code == 400


def test_update_bumps_updated_at_and_writes_change_events(sandbox: Sandbox) -> None:
    shot = sandbox.site.records("Shot")[0]
    sandbox.site.advance_clock(5)
    client = Client(sandbox)
    r = client.session.put(
        f"{sandbox.url}/api/v1/entity/Shot/{shot['id']}", json={"sg_status_list": "fin", "sg_cut_in": 1009}
    )
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"data", "links", "status"} and body["links"] == {} and body["status"] == "successful"
    after = sandbox.site.get("Shot", shot["id"])
    assert after is not None
    assert after["updated_at"] > shot["updated_at"] and after["updated_at"].microsecond == 0
    assert abs(after["updated_at"].timestamp() - sandbox.site.now()) <= 2
    assert body["data"]["attributes"]["updated_at"] == iso(after["updated_at"])
    assert after["updated_by"]["type"] == "ApiUser"
    changes = [e for e in events_for(sandbox, "Shot", shot["id"]) if e["event_type"] == "Shotgun_Shot_Change"]
    latest = {e["attribute_name"]: e for e in changes[-2:]}
    assert latest["sg_status_list"]["meta"]["old_value"] == shot["sg_status_list"]
    assert latest["sg_status_list"]["meta"]["new_value"] == "fin"
    assert latest["sg_cut_in"]["meta"] == {
        "type": "attribute_change",
        "attribute_name": "sg_cut_in",
        "entity_type": "Shot",
        "entity_id": shot["id"],
        "field_data_type": "number",
        "old_value": shot["sg_cut_in"],
        "new_value": 1009,
        "in_create": False,
    }
    same = client.session.put(f"{sandbox.url}/api/v1/entity/Shot/{shot['id']}", json={})
    assert (
        same.status_code == 200 and record(sandbox, "Shot", shot["id"])["updated_at"] == after["updated_at"]
    )
    r = client.session.put(f"{sandbox.url}/api/v1/entity/Shot/999999", json={"description": "x"})
    assert (
        r.status_code == 404 and error(r)["detail"] == "Entity of type [Shot] with id=999999 does not exist."
    )


def test_site_update_through_the_data_api(sandbox: Sandbox) -> None:
    v = sandbox.site.records("Version")[0]
    sandbox.site.advance_clock(10)
    out = sandbox.site.update(
        "Version", v["id"], {"description": "via the data API", "sg_submitted_date": dt.date(2026, 1, 2)}
    )
    assert out["description"] == "via the data API" and out["sg_submitted_date"] == dt.date(2026, 1, 2)
    assert out["updated_at"] > v["updated_at"]
    assert isinstance(out["updated_at"], dt.datetime) and out["updated_at"].tzinfo is not None


def test_retire_keeps_updated_at_and_nulls_event_links(sandbox: Sandbox) -> None:
    client = Client(sandbox)
    asset = sandbox.site.records("Asset")[0]
    old_events = [e["id"] for e in events_for(sandbox, "Asset", asset["id"])]
    r = client.session.delete(f"{sandbox.url}/api/v1/entity/Asset/{asset['id']}")
    assert r.status_code == 204 and r.content == b"" and "Content-Type" not in r.headers
    again = client.session.delete(f"{sandbox.url}/api/v1/entity/Asset/{asset['id']}")
    assert again.status_code == 404 and error(again)["code"] == 104
    retired = sandbox.site.get("Asset", asset["id"])
    assert retired is not None and retired["updated_at"] == asset["updated_at"]
    assert sandbox.site.is_retired("Asset", asset["id"])
    assert asset["id"] not in client.ids("Asset")
    events = events_for(sandbox, "Asset", asset["id"])
    assert events[-1]["event_type"] == "Shotgun_Asset_Retirement"
    assert all(e["entity"] is None for e in events)  # link nulled while retired, meta keeps the id
    assert old_events == [e["id"] for e in events[:-1]]
    r = client.session.post(f"{sandbox.url}/api/v1/entity/Asset/{asset['id']}", params={"revive": "true"})
    assert r.json() == {
        "data": {"type": "Asset", "id": asset["id"]},
        "links": {"self": f"/api/v1/entity/Asset/{asset['id']}"},
        "meta": {"did_revive": True},
    }
    assert events_for(sandbox, "Asset", asset["id"])[-1]["event_type"] == "Shotgun_Asset_Revival"
    assert events_for(sandbox, "Asset", asset["id"])[0]["entity"]["id"] == asset["id"]
    again = client.session.post(f"{sandbox.url}/api/v1/entity/Asset/{asset['id']}", params={"revive": "true"})
    assert again.json()["meta"] == {"did_revive": False}
    missing = client.session.post(f"{sandbox.url}/api/v1/entity/Asset/999999", params={"revive": "true"})
    assert missing.status_code == 404


def test_event_log_covers_every_generated_row(shared_sandbox: Sandbox) -> None:
    sb = shared_sandbox
    events = sb.site.records("EventLogEntry")
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)
    assert all(a["created_at"] <= b["created_at"] for a, b in zip(events, events[1:], strict=False))
    new = {
        (e["meta"]["entity_type"], e["meta"]["entity_id"]) for e in events if e["event_type"].endswith("_New")
    }
    for entity in ("Shot", "Version", "HumanUser", "CustomEntity01"):
        rows = sb.site.records(entity, retired=None)
        assert {(entity, r["id"]) for r in rows} <= new
        changed = [r for r in rows if r["updated_at"] != r["created_at"]]
        change_ids = {e["meta"]["entity_id"] for e in events if e["event_type"] == f"Shotgun_{entity}_Change"}
        assert {r["id"] for r in changed} <= change_ids
    for r in sb.site.records("Shot", retired=True):
        evs = [
            e for e in events if e["meta"].get("entity_id") == r["id"] and e["meta"]["entity_type"] == "Shot"
        ]
        assert evs[-1]["event_type"] == "Shotgun_Shot_Retirement" and all(e["entity"] is None for e in evs)
    change = next(e for e in events if e["event_type"] == "Shotgun_Shot_Change")
    shot = sb.site.get("Shot", change["meta"]["entity_id"])
    assert (
        change["attribute_name"] == "sg_status_list"
        and change["meta"]["old_value"] != change["meta"]["new_value"]
    )
    assert shot is not None and change["meta"]["new_value"] == shot["sg_status_list"]


def test_writes_never_rewrite_the_generated_events(sandbox: Sandbox) -> None:
    """A generated record's old events keep the user, project and description they were written
    with when the record is renamed, moved to another project and changed by someone else: a real
    site never rewrites an event (field history reads `user` as who made the change)."""
    site = sandbox.site
    client = Client(sandbox)
    shot = next(s for s in site.records("Shot") if s["updated_at"] != s["created_at"])
    other_project = next(p for p in site.records("Project") if p["id"] != shot["project"]["id"])
    someone_else = next(
        u
        for u in site.records("HumanUser")
        if u["id"] not in (shot["created_by"]["id"], shot["updated_by"]["id"])
    )
    fields = ["event_type", "user", "project", "description", "meta"]

    def shot_events() -> list[dict[str, Any]]:
        filters = [["entity", "is", {"type": "Shot", "id": shot["id"]}]]
        r = client.search("EventLogEntry", filters, fields=fields, sort="id")
        assert r.status_code == 200, r.text
        return list(r.json()["data"])

    before = shot_events()
    kinds = [e["attributes"]["event_type"] for e in before]
    assert kinds == ["Shotgun_Shot_New", "Shotgun_Shot_Change"], kinds
    assert before[0]["relationships"]["user"]["data"]["id"] == shot["created_by"]["id"]
    assert before[1]["relationships"]["user"]["data"]["id"] == shot["updated_by"]["id"]
    assert before[1]["relationships"]["project"]["data"]["id"] == shot["project"]["id"]
    assert shot["code"] in before[0]["attributes"]["description"]

    site.advance_clock(5)
    site.update(
        "Shot",
        shot["id"],
        {"code": "renamed_shot", "project": {"type": "Project", "id": other_project["id"]}},
        user={"type": "HumanUser", "id": someone_else["id"]},
    )
    site.update(
        "Shot", shot["id"], {"sg_status_list": "omt"}, user={"type": "HumanUser", "id": someone_else["id"]}
    )

    after = shot_events()
    assert [e["id"] for e in after[: len(before)]] == [e["id"] for e in before]
    for old, new in zip(before, after, strict=False):  # a link's name is its record's name now, as ever
        assert new["relationships"]["project"]["data"]["id"] == old["relationships"]["project"]["data"]["id"]
        assert new["relationships"]["user"] == old["relationships"]["user"]
        assert new["attributes"]["description"] == old["attributes"]["description"]
    newer = after[len(before) :]
    assert [e["attributes"]["meta"]["attribute_name"] for e in newer] == ["code", "project", "sg_status_list"]
    assert all(e["relationships"]["user"]["data"]["id"] == someone_else["id"] for e in newer)
    assert all(e["relationships"]["project"]["data"]["id"] == other_project["id"] for e in newer[1:])


def test_late_committed_event_ids(sandbox: Sandbox) -> None:
    client = Client(sandbox)
    head = max(client.ids("EventLogEntry", [["id", "greater_than", 0]], page={"size": 5000}, sort="-id")[:1])
    reserved = sandbox.site.reserve_event_id()
    shot = sandbox.site.records("Shot")[1]
    sandbox.site.update("Shot", shot["id"], {"description": "after the reservation"})
    visible = client.ids("EventLogEntry", [["id", "greater_than", head]])
    assert reserved not in visible and visible and min(visible) > reserved
    assert client.get(f"/api/v1/entity/EventLogEntry/{reserved}").status_code == 404
    event = sandbox.site.commit_event(
        reserved,
        "Shotgun_Shot_Change",
        {"type": "Shot", "id": shot["id"]},
        {
            "type": "attribute_change",
            "attribute_name": "sg_status_list",
            "old_value": "wtg",
            "new_value": "ip",
        },
        attribute_name="sg_status_list",
    )
    assert event["id"] == reserved and event["entity"]["id"] == shot["id"]
    now_visible = client.ids("EventLogEntry", [["id", "greater_than", head]])
    assert now_visible[0] == reserved and now_visible[1:] == visible
    assert event["created_at"] <= record(sandbox, "EventLogEntry", visible[0])["created_at"]


def test_add_and_remove_fields(sandbox: Sandbox) -> None:
    client = Client(sandbox)
    plain = sandbox.site.add_field("Shot", "sg_vendor", "text", display_name="Vendor")
    assert plain["data_type"] == "text" and plain["name"] == "Vendor"
    sandbox.site.add_field("Shot", "sg_lens", "list", valid_values=["35mm", "50mm"])
    schema = client.get("/api/v1/schema/Shot/fields/sg_lens").json()["data"]
    assert schema["properties"]["valid_values"] == {"value": ["35mm", "50mm"], "editable": True}
    rec = client.get("/api/v1/entity/Shot", fields="*", **{"page[size]": "1"}).json()["data"][0]
    assert rec["attributes"]["sg_vendor"] is None and "sg_lens" in rec["attributes"]
    sandbox.site.update("Shot", rec["id"], {"sg_vendor": "Acme FX"})
    assert client.ids("Shot", [["sg_vendor", "is", "acme fx"]]) == [rec["id"]]
    sandbox.site.remove_field("Shot", "sg_vendor")
    assert "sg_vendor" not in client.get("/api/v1/schema/Shot/fields").json()["data"]
    rec = client.get("/api/v1/entity/Shot", fields="*", **{"page[size]": "1"}).json()["data"][0]
    assert "sg_vendor" not in rec["attributes"]
    r = client.search("Shot", [["sg_vendor", "is", "x"]])
    assert r.status_code == 400 and error(r)["code"] == 103
    with pytest.raises(Exception, match="system field"):
        sandbox.site.remove_field("Shot", "updated_at")
    history = [e for e in sandbox.site.records("EventLogEntry") if e["event_type"] == "Shotgun_Shot_Change"]
    sandbox.site.remove_field("Shot", "sg_status_list")  # the past does not change with the schema
    assert [
        e for e in sandbox.site.records("EventLogEntry") if e["event_type"] == "Shotgun_Shot_Change"
    ] == history


def test_a_disabled_entity_type_leaves_the_schema_and_answers_404(sandbox: Sandbox) -> None:
    client = Client(sandbox)
    before = client.get("/api/v1/entity/CustomEntity01", fields="id").json()["data"]
    sandbox.site.disable_entity_type("CustomEntity01")
    assert "CustomEntity01" not in client.get("/api/v1/schema").json()["data"]
    for path in (
        "/api/v1/entity/CustomEntity01",
        "/api/v1/entity/custom_entity01s",
        "/api/v1/schema/CustomEntity01/fields",
    ):
        r = client.get(path)
        assert r.status_code == 404 and error(r)["detail"].endswith("' does not exist."), path
    assert client.search("CustomEntity01", []).status_code == 404
    with pytest.raises(Exception, match="cannot be disabled"):
        sandbox.site.disable_entity_type("Project")
    sandbox.site.enable_entity_type("CustomEntity01")
    assert client.get("/api/v1/entity/CustomEntity01", fields="id").json()["data"] == before


def test_schema_endpoints(shared_sandbox: Sandbox) -> None:
    client = Client(shared_sandbox)
    everything = client.get("/api/v1/schema").json()
    assert set(everything["data"]) == set(shared_sandbox.site.entity_types())
    assert everything["data"]["CustomEntity01"] == {
        "name": {"value": "Deliverable", "editable": False},
        "visible": {"value": True, "editable": False},
    }
    one = client.get("/api/v1/schema/versions").json()
    assert one["links"] == {"self": "/api/v1/schema/versions"} and one["data"]["name"]["value"] == "Version"
    fields = client.get("/api/v1/schema/Version/fields").json()["data"]
    assert fields["sg_uploaded_movie_frame_rate"]["data_type"] == {"value": "float", "editable": False}
    assert fields["entity"]["properties"]["valid_types"]["value"] == ["Shot", "Asset"]
    assert fields["sg_status_list"]["properties"]["valid_values"]["value"] == ["rev", "vwd", "apr", "na"]
    assert set(fields) == set(shared_sandbox.site.fields("Version"))
    events = client.get("/api/v1/schema/EventLogEntry/fields").json()["data"]
    assert "updated_at" not in events and events["meta"]["data_type"]["value"] == "serializable"
    assert client.get("/api/v1/schema/Nope/fields").status_code == 404
    assert client.get("/api/v1/schema/Version/fields/nope").status_code == 400


def test_scripts_with_denied_types(sandbox: Sandbox) -> None:
    sandbox.site.add_script("limited", "limited-key", denied_entity_types=["Version"])
    client = Client(
        sandbox, grant_type="client_credentials", client_id="limited", client_secret="limited-key"
    )
    assert client.get("/api/v1/entity/Shot", fields="code").status_code == 200
    r = client.get("/api/v1/entity/Version", fields="code")
    assert r.status_code == 400 and error(r)["code"] == 104
    assert error(r)["title"].startswith("Entity of type Version can not be accessed by this user. Rule: ")
    assert client.search("Version", []).status_code == 400
    sandbox.faults.forbidden_status = 403
    r = client.get("/api/v1/entity/Version", fields="code")
    assert r.status_code == 403 and error(r)["status"] == 403 and error(r)["code"] == 104
    assert Client(sandbox).get("/api/v1/entity/Version", fields="code").status_code == 200
    assert (
        requests.get(
            f"{sandbox.url}/api/v1/schema/Version", headers=dict(client.session.headers), timeout=10
        ).status_code
        == 200
    )
