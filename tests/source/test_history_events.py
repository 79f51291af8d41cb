"""Event-log pages -> field-history rows, on the bytes a site sends (a narrow unit test: the HTTP
path, the sandbox's truth and the destinations are `test_history.py`'s and the warehouses').

The decode skips what the table does not need (`links`, extra keys) and must still tell a key the
site left out from one it sent as null, read a real site's multi-entity change (`added` /
`removed` instead of `old_value` / `new_value`), treat the event-log read's dicts exactly as the
history read's bytes, and refuse a page that is not ShotGrid's with a message that says so."""

import datetime as dt
import json
from typing import Any

import pytest

from shotgun_source import ShotgunResponseError
from shotgun_source.history import HistoryConverter, change_events, event_page
from shotgun_source.schema import EntitySchema

LINKS = {"self": "/api/v1/entity/event_log_entries/1/relationships/user", "related": "/api/v1/x/1"}


def event(event_id: int, meta: dict[str, Any], **relationships: Any) -> dict[str, Any]:
    """A Change event as a site's `_search` answer holds it, `links` included."""
    return {
        "type": "EventLogEntry",
        "attributes": {
            "event_type": "Shotgun_Shot_Change",
            "attribute_name": meta.get("attribute_name"),
            "created_at": "2026-06-21T11:43:55Z",
            "meta": {"type": "attribute_change", "entity_type": "Shot", **meta},
        },
        "relationships": {
            name: {"data": data, "links": LINKS} for name, data in {"entity": None, **relationships}.items()
        },
        "id": event_id,
        "links": {"self": f"/api/v1/entity/event_log_entries/{event_id}"},
    }


EVENTS = [
    event(
        11,
        {
            "attribute_name": "sg_status_list",
            "entity_id": 7,
            "field_data_type": "status_list",
            "old_value": "rdy",
            "new_value": "ip",
            "in_create": False,
        },
        user={"id": 3, "type": "HumanUser", "name": "Björn Tanaka"},
        project={"id": 5, "type": "Project", "name": "Harbor Lights"},
    ),
    # a real site's multi-entity change: what was added and removed, no old_value / new_value
    event(
        12,
        {
            "attribute_name": "assets",
            "entity_id": 7,
            "field_data_type": "multi_entity",
            "added": [{"type": "Asset", "id": 40, "name": "Tree"}],
            "removed": [],
        },
    ),
    # a change made on creation: the old value is sent as null, the new one is a number
    event(
        13,
        {
            "attribute_name": "sg_cut_in",
            "entity_id": 8,
            "field_data_type": "number",
            "old_value": None,
            "new_value": 1017,
            "in_create": True,
        },
        user=None,
    ),
    # no entity id in `meta`: the entity link says which record
    event(
        14,
        {"attribute_name": "description", "field_data_type": "text", "old_value": "a", "new_value": "b"},
        entity={"id": 9, "type": "Shot", "name": "SH010"},
    ),
]


def page_bytes(events: list[dict[str, Any]]) -> bytes:
    return json.dumps({"data": events, "links": {"self": "/x", "next": "/y"}}).encode()


def converter() -> HistoryConverter:
    fields = {"sg_status_list": "status_list", "assets": "multi_entity", "sg_cut_in": "number"}
    schema = EntitySchema("Shot", {"id": "number", "updated_at": "date_time", **fields})
    return HistoryConverter(schema, {**fields, "description": "text"})


def test_a_page_of_change_events_becomes_typed_rows() -> None:
    page = event_page(page_bytes(EVENTS))
    assert (page.row_count, page.first_id, page.last_id) == (4, 11, 14)
    rows = {row["event_id"]: row for row in converter().table(page.events, None).to_pylist()}
    status, assets, cut_in, description = rows[11], rows[12], rows[13], rows[14]
    assert (status["entity_id"], status["field"], status["old_value"], status["new_value"]) == (
        7,
        "sg_status_list",
        "rdy",
        "ip",
    )
    assert status["changed_at"] == dt.datetime(2026, 6, 21, 11, 43, 55, tzinfo=dt.UTC)
    assert (status["user__id"], status["user__name"], status["project__id"]) == (3, "Björn Tanaka", 5)
    assert status["in_create"] is False
    assert assets["old_value"] is None and json.loads(assets["new_json"]) == {
        "added": [{"type": "Asset", "id": 40, "name": "Tree"}],
        "removed": [],
    }
    assert cut_in["old_value"] is None and cut_in["old_number"] is None
    assert (cut_in["new_value"], cut_in["new_number"], cut_in["in_create"]) == ("1017", 1017.0, True)
    assert cut_in["user__id"] is None
    assert (description["entity_id"], description["old_value"], description["new_value"]) == (9, "a", "b")


def test_the_event_log_reads_dicts_convert_as_the_history_reads_bytes() -> None:
    from_bytes = converter().table(event_page(page_bytes(EVENTS)).events, "load-1")
    from_dicts = converter().table(change_events(EVENTS), "load-1")
    assert from_dicts.equals(from_bytes) and from_dicts.num_rows == 4


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"<html>Maintenance</html>", "is not JSON"),
        (b'{"errors": [{"status": 500}]}', "has no `data` list"),
        (b"[1, 2]", "has no `data` list"),
        (b'{"data": {"id": 1}}', "has no `data` list"),
        (b'{"data": [1]}', "does not have ShotGrid's shape"),
        (page_bytes([{**EVENTS[0], "id": "eleven"}]), "does not have ShotGrid's shape"),
        (page_bytes([{**EVENTS[0], "relationships": {"user": "Björn"}}]), "does not have ShotGrid's shape"),
    ],
)
def test_a_page_that_is_not_a_shotgrid_event_page_is_refused_saying_so(body: bytes, says: str) -> None:
    with pytest.raises(ShotgunResponseError, match=f"An event-log page .*{says}"):
        event_page(body)
