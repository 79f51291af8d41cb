"""Late commits over real HTTP: writes stamped when they begin, visible only once committed.

A real site stamps a transaction's rows and events when it starts and shows them when it
commits, so readers meet older stamps (and lower event ids) after newer ones. These tests
read through `_search`, GET, `_summarize` and links, as a client would.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import requests

from shotgun_source.sandbox import Sandbox
from shotgun_source.sandbox.errors import ApiError

from .helpers import HASH, Client, error, iso, record


def admin(sb: Sandbox, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, f"{sb.url}/_sandbox/{path}", timeout=30, **kwargs)


def attributes(client: Client, entity: str, entity_id: int, fields: str = "*") -> dict[str, Any]:
    """One record as `_search` answers it (attributes and relationships), or {} when unseen."""
    r = client.search(entity, [["id", "is", entity_id]], fields=fields)
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    return {**data[0]["attributes"], **data[0].get("relationships", {})} if data else {}


def visible_events(client: Client, after: int) -> list[int]:
    return client.ids("EventLogEntry", [["id", "greater_than", after]])


def event_head(client: Client) -> int:
    return client.ids("EventLogEntry", [], sort="-id", page={"size": 1})[0]


def count(client: Client, entity: str, conditions: list[Any]) -> int:
    body = {
        "filters": {"logical_operator": "and", "conditions": conditions},
        "summary_fields": [{"type": "record_count", "field": "id"}],
    }
    r = client.session.post(
        f"{client.sb.url}/api/v1/entity/{entity}/_summarize", json=body, headers={"Content-Type": HASH}
    )
    assert r.status_code == 200, r.text
    return int(r.json()["data"]["summaries"]["id"])


def test_late_update_is_invisible_until_committed_then_carries_its_early_stamp(sandbox: Sandbox) -> None:
    client, site = Client(sandbox), sandbox.site
    late_version, other = site.records("Version")[3], site.records("Version")[4]
    head = event_head(client)

    late = site.begin_late_update("Version", late_version["id"], {"description": "committed late"})
    assert late.entity_id == late_version["id"] and len(late.event_ids) == 1 and late.event_ids[0] > head
    site.advance_clock(10)
    site.update("Version", other["id"], {"description": "committed on time"})

    # meanwhile: the later write is visible at once, the late one nowhere
    seen = attributes(client, "Version", late_version["id"])
    assert seen["description"] == late_version["description"]
    assert seen["updated_at"] == iso(late_version["updated_at"])
    assert attributes(client, "Version", other["id"])["description"] == "committed on time"
    assert client.ids("Version", [["description", "is", "committed late"]]) == []
    assert count(client, "Version", [["description", "is", "committed late"]]) == 0
    one = client.get(f"/api/v1/entity/Version/{late_version['id']}", fields="description").json()
    assert one["data"]["attributes"]["description"] == late_version["description"]
    assert record(sandbox, "Version", late_version["id"])["description"] == late_version["description"]
    on_time_events = visible_events(client, head)
    assert (
        on_time_events and late.event_ids[0] not in on_time_events and min(on_time_events) > late.event_ids[0]
    )
    assert client.get(f"/api/v1/entity/EventLogEntry/{late.event_ids[0]}").status_code == 404

    committed = late.commit()
    assert committed["description"] == "committed late" and committed["updated_at"] == late.stamped_at
    seen = attributes(client, "Version", late_version["id"])
    assert seen["description"] == "committed late" and seen["updated_at"] == iso(late.stamped_at)
    assert iso(late.stamped_at) < attributes(client, "Version", other["id"])["updated_at"]
    assert count(client, "Version", [["description", "is", "committed late"]]) == 1
    assert visible_events(client, head) == [*late.event_ids, *on_time_events]
    event = attributes(client, "EventLogEntry", late.event_ids[0], "created_at,meta,attribute_name")
    assert event["created_at"] == iso(late.stamped_at) and event["attribute_name"] == "description"
    assert event["meta"]["old_value"] == late_version["description"]
    assert event["meta"]["new_value"] == "committed late"


def test_link_names_follow_a_late_rename_only_once_committed(sandbox: Sandbox) -> None:
    client, site = Client(sandbox), sandbox.site
    version = next(v for v in site.records("Version") if v["entity"] and v["entity"]["type"] == "Shot")
    shot = version["entity"]
    with site.begin_late_update("Shot", shot["id"], {"code": "renamed_late"}) as late:
        assert (
            attributes(client, "Version", version["id"], "entity")["entity"]["data"]["name"] == shot["name"]
        )
        assert client.ids("Version", [["entity.Shot.code", "is", "renamed_late"]]) == []
    assert late.state == "committed"  # the block ended normally
    assert attributes(client, "Version", version["id"], "entity")["entity"]["data"]["name"] == "renamed_late"
    assert version["id"] in client.ids("Version", [["entity.Shot.code", "is", "renamed_late"]])


def test_late_create_takes_its_id_now_and_appears_at_commit(sandbox: Sandbox) -> None:
    client, site = Client(sandbox), sandbox.site
    project = site.records("Project")[0]
    late = site.begin_late_create(
        "Shot", {"code": "late_shot", "project": {"type": "Project", "id": project["id"]}}
    )
    site.advance_clock(5)
    on_time = site.create(
        "Shot", {"code": "on_time_shot", "project": {"type": "Project", "id": project["id"]}}
    )
    assert on_time["id"] == late.entity_id + 1  # ids are taken in begin order
    assert client.ids("Shot", [["id", "greater_than", late.entity_id - 1]]) == [on_time["id"]]
    assert client.get(f"/api/v1/entity/Shot/{late.entity_id}").status_code == 404
    assert count(client, "Shot", [["code", "is", "late_shot"]]) == 0
    assert site.get("Shot", late.entity_id) is None
    new_events = [e for e in site.records("EventLogEntry") if e["event_type"] == "Shotgun_Shot_New"]
    assert new_events[-1]["entity"]["id"] == on_time["id"] and new_events[-1]["id"] > late.event_ids[0]

    late.commit()
    assert client.ids("Shot", [["id", "greater_than", late.entity_id - 1]]) == [late.entity_id, on_time["id"]]
    seen = attributes(client, "Shot", late.entity_id)
    assert seen["code"] == "late_shot"
    assert seen["created_at"] == seen["updated_at"] == iso(late.stamped_at) < iso(on_time["created_at"])
    event = attributes(client, "EventLogEntry", late.event_ids[0], "event_type,created_at,entity")
    assert event["event_type"] == "Shotgun_Shot_New" and event["created_at"] == iso(late.stamped_at)
    assert event["entity"]["data"]["id"] == late.entity_id


def test_late_retirement_leaves_the_record_live_until_committed(sandbox: Sandbox) -> None:
    client, site = Client(sandbox), sandbox.site
    shot = site.records("Shot")[2]
    head = event_head(client)
    late = site.begin_late_retire("Shot", shot["id"])
    site.advance_clock(5)
    assert attributes(client, "Shot", shot["id"])["code"] == shot["code"]
    assert visible_events(client, head) == []
    late.commit()
    assert attributes(client, "Shot", shot["id"]) == {}
    assert shot["id"] in client.ids("Shot", [], options={"return_only": "retired"})
    assert record(sandbox, "Shot", shot["id"])["updated_at"] == shot["updated_at"]  # retiring keeps it
    assert visible_events(client, head) == late.event_ids
    event = attributes(client, "EventLogEntry", late.event_ids[0], "event_type,created_at")
    assert event == {"event_type": "Shotgun_Shot_Retirement", "created_at": iso(late.stamped_at)}


def test_a_record_under_a_late_write_refuses_other_writes_until_it_ends(sandbox: Sandbox) -> None:
    client, site = Client(sandbox), sandbox.site
    asset = site.records("Asset")[0]
    late = site.begin_late_update("Asset", asset["id"], {"description": "late"})
    r = client.session.put(f"{sandbox.url}/api/v1/entity/Asset/{asset['id']}", json={"description": "x"})
    assert r.status_code == 409 and "late write" in error(r)["title"]
    assert client.session.delete(f"{sandbox.url}/api/v1/entity/Asset/{asset['id']}").status_code == 409
    with pytest.raises(ApiError, match="commit or roll it back"):
        site.update("Asset", asset["id"], {"description": "y"})
    with pytest.raises(ApiError, match="locked"):
        site.begin_late_retire("Asset", asset["id"])
    assert asset["id"] not in site.mutate("Asset", 1.0, seed=3)  # mutate passes the locked record over
    late.rollback()
    with pytest.raises(ValueError, match="rolled back already"):
        late.commit()
    assert record(sandbox, "Asset", asset["id"])["description"] != "late"
    site.update("Asset", asset["id"], {"description": "after the rollback"})
    assert attributes(client, "Asset", asset["id"])["description"] == "after the rollback"
    with pytest.raises(ValueError, match="EventLogEntry"):
        site.begin_late_create("EventLogEntry", {})


def test_rolled_back_writes_leave_gaps_in_the_ids(sandbox: Sandbox) -> None:
    client, site = Client(sandbox), sandbox.site
    head = event_head(client)
    project = {"type": "Project", "id": site.records("Project")[0]["id"]}
    with (
        pytest.raises(RuntimeError),
        site.begin_late_create("Asset", {"code": "never", "project": project}) as late,
    ):
        raise RuntimeError("the transaction fails")
    assert late.state == "rolled back"
    after = site.create("Asset", {"code": "after", "project": project})
    assert after["id"] == late.entity_id + 1 and site.get("Asset", late.entity_id) is None
    assert client.get(f"/api/v1/entity/Asset/{late.entity_id}").status_code == 404
    events = visible_events(client, head)
    assert late.event_ids[0] not in events and min(events) > late.event_ids[0]


def test_held_events_keep_their_early_ids_and_created_at(sandbox: Sandbox) -> None:
    client, site = Client(sandbox), sandbox.site
    first, second = site.records("Shot")[:2]
    head = event_head(client)
    hold = site.hold_events()
    site.update("Shot", first["id"], {"description": "event held"})
    assert attributes(client, "Shot", first["id"])["description"] == "event held"  # the record at once
    assert visible_events(client, head) == []
    with pytest.raises(ValueError, match="still catching"):
        site.hold_events()
    hold.stop_catching()
    site.advance_clock(10)
    site.update("Shot", second["id"], {"description": "event on time"})
    on_time = visible_events(client, head)
    assert len(on_time) == 1 and len(hold.event_ids) == 1 and hold.event_ids[0] < on_time[0]

    assert hold.release() == hold.event_ids
    assert visible_events(client, head) == [*hold.event_ids, *on_time]
    held = attributes(client, "EventLogEntry", hold.event_ids[0], "created_at,meta")
    later = attributes(client, "EventLogEntry", on_time[0], "created_at")
    assert held["created_at"] == attributes(client, "Shot", first["id"])["updated_at"] < later["created_at"]
    assert held["meta"]["entity_id"] == first["id"] and held["meta"]["new_value"] == "event held"

    with site.hold_events() as again:  # the block form releases at its end
        site.retire("Shot", second["id"])
        assert again.event_ids and not set(again.event_ids) & set(visible_events(client, head))
    assert set(again.event_ids) <= set(visible_events(client, head))


@pytest.mark.parametrize("action", ["update", "retire"])
def test_a_commit_outdates_the_prefetched_next_page(sandbox: Sandbox, action: str) -> None:
    client, site = Client(sandbox), sandbox.site
    target = site.records("Version")[150]
    if action == "update":
        late = site.begin_late_update("Version", target["id"], {"description": "committed after page 1"})
    else:
        late = site.begin_late_retire("Version", target["id"])
    cache = sandbox.app.router.pages
    first = client.search("Version", [["id", "greater_than", 0]], fields="description", page={"size": 100})
    next(iter(cache._pages.values())).result(timeout=10)  # page 2 is rendered, before the commit
    late.commit()
    after = first.json()["data"][-1]["id"]
    second = client.search(
        "Version", [["id", "greater_than", after]], fields="description", page={"size": 100}
    ).json()["data"]
    by_id = {d["id"]: d["attributes"] for d in second}
    if action == "update":
        assert by_id[target["id"]]["description"] == "committed after page 1"
    else:
        assert target["id"] not in by_id
    assert cache.misses == 1 and cache.hits == 0


def test_late_writes_over_the_admin_api(sandbox: Sandbox) -> None:
    client, site = Client(sandbox), sandbox.site
    version = site.records("Version")[7]
    head = event_head(client)
    r = admin(
        sandbox,
        "POST",
        "late_writes",
        json={
            "action": "update",
            "entity_type": "Version",
            "id": version["id"],
            "changes": {"description": "x"},
        },
    )
    assert r.status_code == 200, r.text
    begun = r.json()
    assert begun["action"] == "update" and begun["id"] == version["id"] and begun["state"] == "open"
    stamped = dt.datetime.strptime(begun["stamped_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    assert abs((stamped - dt.datetime.now(dt.UTC)).total_seconds()) < 5
    assert admin(sandbox, "GET", "late_writes").json()["data"] == [begun]
    assert attributes(client, "Version", version["id"])["description"] == version["description"]
    assert visible_events(client, head) == []

    r = admin(sandbox, "POST", f"late_writes/{begun['handle']}/commit")
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["state"] == "committed" and done["record"]["description"] == "x"
    assert done["record"]["updated_at"].startswith(begun["stamped_at"][:19])
    assert attributes(client, "Version", version["id"])["updated_at"] == begun["stamped_at"]
    assert visible_events(client, head) == begun["event_ids"]
    assert admin(sandbox, "GET", "late_writes").json()["data"] == []
    again = admin(sandbox, "POST", f"late_writes/{begun['handle']}/commit")
    assert again.status_code == 400 and "committed already" in error(again)["title"]

    project = {"type": "Project", "id": site.records("Project")[0]["id"]}
    create = {
        "action": "create",
        "entity_type": "Asset",
        "changes": {"code": "admin_late", "project": project},
    }
    created = admin(sandbox, "POST", "late_writes", json=create).json()
    assert client.get(f"/api/v1/entity/Asset/{created['id']}").status_code == 404
    assert (
        admin(sandbox, "POST", f"late_writes/{created['handle']}/rollback").json()["state"] == "rolled back"
    )
    retire = admin(sandbox, "POST", "late_writes", json={"action": "retire", "entity_type": "Asset", "id": 1})
    assert retire.status_code == 404 and error(retire)["code"] == 104
    assert (
        admin(sandbox, "POST", "late_writes", json={"action": "delete", "entity_type": "Asset"}).status_code
        == 400
    )
    assert admin(sandbox, "POST", "late_writes/999/commit").status_code == 404


def test_event_holds_over_the_admin_api(sandbox: Sandbox) -> None:
    client, site = Client(sandbox), sandbox.site
    first, second = site.records("Task")[:2]
    head = event_head(client)
    hold = admin(sandbox, "POST", "event_holds").json()
    assert hold == {"hold": hold["hold"], "catching": True, "released": False, "event_ids": []}
    put = client.session.put(f"{sandbox.url}/api/v1/entity/Task/{first['id']}", json={"content": "held"})
    assert put.status_code == 200
    assert admin(sandbox, "POST", "event_holds").status_code == 400  # one catches at a time
    stopped = admin(sandbox, "POST", f"event_holds/{hold['hold']}/stop_catching").json()
    assert stopped["catching"] is False and len(stopped["event_ids"]) == 1
    client.session.put(f"{sandbox.url}/api/v1/entity/Task/{second['id']}", json={"content": "on time"})
    on_time = visible_events(client, head)
    assert len(on_time) == 1 and on_time[0] > stopped["event_ids"][0]
    assert admin(sandbox, "GET", "event_holds").json()["data"] == [stopped]
    released = admin(sandbox, "POST", f"event_holds/{hold['hold']}/release").json()
    assert released["released"] is True and released["event_ids"] == stopped["event_ids"]
    assert visible_events(client, head) == [*stopped["event_ids"], *on_time]
    assert admin(sandbox, "GET", "event_holds").json()["data"] == []
    assert admin(sandbox, "POST", f"event_holds/{hold['hold']}/release").status_code == 400
