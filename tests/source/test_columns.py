"""`shotgun_source.columns` against the sandbox's ground truth over real HTTP, and against the
recorded real answers.

The expected values are built here from the sandbox's own records and field types with rules
written out independently of the converter (as tests/destination_truth.py does for tables), so a
mistake in the converter cannot agree with itself.
"""

import datetime as dt
import json
import math
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import dlt
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import requests
import yaml
from destination_truth import field_types, plural_slug

from shotgun_source.columns import PageConverter, batched, dlt_items, link_table_hints, root_table_hints
from shotgun_source.deletes import live_row_marks, retirement_columns
from shotgun_source.errors import ShotgunResponseError
from shotgun_source.records import RecordFlattener
from shotgun_source.sandbox import Sandbox
from shotgun_source.schema import EntitySchema

SEARCH = "application/vnd+shotgun.api3_array+json"
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's loader where installed: the recordings take seconds to read in pure Python."""
ARROW_TYPES = {
    "number": "int64",
    "duration": "int64",
    "percent": "int64",
    "timecode": "int64",
    "float": "double",
    "currency": "decimal128(38, 9)",
    "checkbox": "bool",
    "date": "date32[day]",
    "date_time": "timestamp[us, tz=UTC]",
}
"""Arrow type per ShotGrid data type; every other type is a string column."""
JSON_TEXT_TYPES = {"serializable", "url", "tag_list", "addressing", "jsonb"}
"""Held as the value's JSON text."""
STRING_TYPES = {
    "text", "list", "status_list", "image", "color", "uuid", "entity_type", "password", "footage",
}  # fmt: skip
"""Held as the string itself; every type not named in these sets holds a string as it is and any
other value as its JSON text (summary, query, pivot_column, calculated, types unknown to us)."""


class SearchClient:
    """Plain `requests` against the sandbox: a token, the field schema, raw `_search` pages."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.url = sandbox.url
        self.session = requests.Session()
        answer = self.session.post(
            f"{self.url}/api/v1/auth/access_token",
            data={
                "grant_type": "client_credentials",
                "client_id": sandbox.script_name,
                "client_secret": sandbox.script_key,
            },
            timeout=30,
        )
        answer.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"

    def schema(self, entity_type: str) -> EntitySchema:
        answer = self.session.get(f"{self.url}/api/v1/schema/{entity_type}/fields", timeout=30)
        answer.raise_for_status()
        return EntitySchema.from_fields_response(entity_type, answer.json()["data"])

    def pages(
        self, entity_type: str, fields: Any = "*", filters: list[Any] | None = None, page_size: int = 2000
    ) -> Iterator[bytes]:
        """Every page of a keyset read (sorted by id, `id greater_than` the last one seen)."""
        after = 0
        for _ in range(1000):
            body = {
                "filters": [*(filters or []), ["id", "greater_than", after]],
                "fields": fields,
                "sort": "id",
                "page": {"number": 1, "size": page_size},
                "options": {"include_archived_projects": True},
            }
            answer = self.session.post(
                f"{self.url}/api/v1/entity/{entity_type}/_search",
                data=orjson.dumps(body),
                headers={"Content-Type": SEARCH},
                timeout=60,
            )
            answer.raise_for_status()
            yield answer.content
            data = orjson.loads(answer.content)["data"]
            if len(data) < page_size:
                return
            after = data[-1]["id"]
        raise AssertionError("more than 1000 pages")


@pytest.fixture(scope="module")
def shared_client(shared_sandbox: Sandbox) -> SearchClient:
    return SearchClient(shared_sandbox)


def converted(client: SearchClient, entity_type: str, **read: Any) -> tuple[pa.Table, dict[str, pa.Table]]:
    """Every page of a type converted, roots and link tables each concatenated."""
    schema = client.schema(entity_type)
    converter = PageConverter(schema, live_row_marks("soft"), retirement_columns("soft"))
    pages = [converter.convert(body) for body in client.pages(entity_type, **read)]
    roots = pa.concat_tables([p.root for p in pages])
    links = {
        name: pa.concat_tables([p.links[name] for p in pages]) for name in converter.link_tables.values()
    }
    return roots, links


# the expected form, from ground truth -------------------------------------------------------------
def _utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC).replace(microsecond=0)


def value_matches(kind: str, expected: Any, got: Any) -> bool:
    """`got` (a converted cell, as `to_pylist` gives it) holds the site's `expected` exactly."""
    if expected is None:
        return got is None
    if got is None:
        return False
    if kind == "date_time":
        return isinstance(got, dt.datetime) and got.tzinfo is not None and got == _utc(expected)
    if kind == "date":
        return type(got) is dt.date and got == expected
    if kind == "float":
        return type(got) is float and math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-6)
    if kind == "currency":
        return (
            isinstance(got, Decimal)
            and got.as_tuple().exponent == -9
            and math.isclose(float(got), expected, rel_tol=1e-12, abs_tol=1e-6)
        )
    if kind in ("number", "duration", "percent", "timecode"):
        return type(got) is int and got == expected
    if kind == "checkbox":
        return type(got) is bool and got is expected
    if kind in STRING_TYPES:
        return type(got) is str and got == expected
    if kind in JSON_TEXT_TYPES:
        return type(got) is str and json.loads(got) == expected
    # computed and unknown types: a string as it is, anything else as JSON text
    if isinstance(expected, str):
        return got == expected
    return type(got) is str and json.loads(got) == expected and type(json.loads(got)) is type(expected)


def assert_matches_site(site: Any, entity_type: str, roots: pa.Table, links: dict[str, pa.Table]) -> None:
    kinds = field_types(site, entity_type)
    records = {r["id"]: r for r in site.records(entity_type)}
    rows = {row["id"]: row for row in roots.to_pylist()}
    assert sorted(rows) == sorted(records), f"{entity_type}: ids differ"
    assert len(rows) == roots.num_rows, f"{entity_type}: duplicated ids"
    problems: list[str] = []
    for name, kind in kinds.items():
        if name == "id" or kind == "multi_entity":
            continue
        if kind == "entity":
            assert [roots.schema.field(f"{name}__{p}").type for p in ("id", "type", "name")] == [
                pa.int64(),
                pa.string(),
                pa.string(),
            ]
            for record_id, record in records.items():
                link, row = record.get(name), rows[record_id]
                want = (link["id"], link["type"], link.get("name")) if link else (None, None, None)
                got = (row[f"{name}__id"], row[f"{name}__type"], row[f"{name}__name"])
                if got != want:
                    problems.append(f"{entity_type} {record_id}.{name}: site {want} != converted {got}")
            continue
        assert str(roots.schema.field(name).type) == ARROW_TYPES.get(kind, "string"), f"{entity_type}.{name}"
        for record_id, record in records.items():
            if not value_matches(kind, record.get(name), rows[record_id][name]):
                problems.append(
                    f"{entity_type} {record_id}.{name} ({kind}): site {record.get(name)!r}"
                    f" != converted {rows[record_id][name]!r}"
                )
    for name, kind in kinds.items():
        if kind != "multi_entity":
            continue
        table = links[f"{plural_slug(entity_type)}__{name}"]
        got_links = sorted(
            (r["parent_id"], r["list_idx"], r["id"], r["type"], r["name"])
            for r in table.to_pylist()
            if not r["_sg_link_marker"]
        )
        want_links = sorted(
            (i, position, link["id"], link["type"], link.get("name"))
            for i, record in records.items()
            for position, link in enumerate(record.get(name) or [])
        )
        if got_links != want_links:
            problems.append(
                f"{entity_type}.{name}: links differ, e.g. {sorted(set(got_links) ^ set(want_links))[:3]}"
            )
        markers = [r for r in table.to_pylist() if r["_sg_link_marker"]]
        assert all(r["list_idx"] == -1 and r["id"] is None for r in markers)
        assert sorted(r["parent_id"] for r in markers) == sorted(
            i for i, r in records.items() if not r.get(name)
        )
    assert not problems, "\n".join(problems[:10])


# the tests -------------------------------------------------------------------------------------
def test_every_entity_type_converts_to_the_sites_values(
    shared_sandbox: Sandbox, shared_client: SearchClient
) -> None:
    site = shared_sandbox.site
    kinds_seen: set[str] = set()
    for entity_type in site.entity_types():
        roots, links = converted(shared_client, entity_type)
        assert_matches_site(site, entity_type, roots, links)
        kinds_seen |= set(field_types(site, entity_type).values())
    # the sandbox's types; the ones it lacks are added in the next test
    assert {
        "float",
        "currency",
        "date",
        "date_time",
        "checkbox",
        "serializable",
        "url",
        "tag_list",
    } <= kinds_seen
    assert {"pivot_column", "timecode", "percent", "duration", "entity", "multi_entity"} <= kinds_seen


def test_types_the_sandbox_lacks_and_computed_values_of_any_shape(sandbox: Sandbox) -> None:
    site = sandbox.site
    added = {
        "sg_entity_type": ("entity_type", "Shot"),
        "sg_password": ("password", "*******"),
        "sg_addressing": ("addressing", [{"type": "HumanUser", "id": 19, "name": "Sandbox Admin"}]),
        "sg_jsonb": ("jsonb", {"a": [1, 2.5, None, True], "b": 'é "quoted"', "c": {}}),
        "sg_summary_count": ("summary", 3),
        "sg_summary_text": ("summary", "3 notes"),
        "sg_summary_hash": ("summary", {"count": 3, "ids": [1, 2]}),
        "sg_query": ("query", 12.5),
        "sg_calculated": ("calculated", False),
        "sg_mystery": ("mystery_type_from_the_future", [1, "two"]),
        "sg_mystery_empty": ("mystery_type_from_the_future", None),
    }
    for name, (kind, default) in added.items():
        site.add_field("CustomEntity01", name, kind, default_value=default)
    roots, links = converted(SearchClient(sandbox), "CustomEntity01")
    assert_matches_site(site, "CustomEntity01", roots, links)
    first = roots.slice(0, 1).to_pylist()[0]
    assert first["sg_summary_count"] == "3"
    assert first["sg_summary_text"] == "3 notes"
    assert first["sg_calculated"] == "false"
    assert first["sg_mystery_empty"] is None  # JSON null is SQL NULL, not the text "null"


def test_empty_links_are_null_in_all_three_columns(
    shared_sandbox: Sandbox, shared_client: SearchClient
) -> None:
    roots, _ = converted(shared_client, "CustomEntity01")
    empty = [r for r in shared_sandbox.site.records("CustomEntity01") if r["sg_shot"] is None]
    assert empty, "the sandbox has no CustomEntity01 without sg_shot"
    rows = {r["id"]: r for r in roots.to_pylist()}
    for record in empty:
        row = rows[record["id"]]
        assert (row["sg_shot__id"], row["sg_shot__type"], row["sg_shot__name"]) == (None, None, None)


def test_emptied_and_shrunk_lists(sandbox: Sandbox) -> None:
    site = sandbox.site
    with_lists = [r for r in site.records("Version") if len(r["playlists"]) >= 2]
    emptied, shrunk = with_lists[0], with_lists[1]
    site.update("Version", emptied["id"], {"playlists": []})
    kept = shrunk["playlists"][1]
    site.update("Version", shrunk["id"], {"playlists": [{"type": kept["type"], "id": kept["id"]}]})
    client = SearchClient(sandbox)
    converter = PageConverter(client.schema("Version"))
    ids = [emptied["id"], shrunk["id"]]
    (body,) = client.pages("Version", filters=[["id", "in", ids]])
    page = converter.convert(body)
    links = page.links["versions__playlists"].to_pylist()
    assert [(r["parent_id"], r["list_idx"], r["id"], r["_sg_link_marker"]) for r in links] == [
        (shrunk["id"], 0, kept["id"], False),
        (emptied["id"], -1, None, True),
    ]
    marker = links[1]
    assert marker["type"] is None and marker["name"] is None
    unmarked = converter.convert(body, markers=False).links["versions__playlists"]
    assert unmarked.to_pylist() == [{k: v for k, v in links[0].items() if k != "_sg_link_marker"}]
    hints = link_table_hints(converter.schema)["versions__playlists"]
    assert hints["merge_key"] == "parent_id" and hints["primary_key"] == ["parent_id", "list_idx"]
    assert hints["columns"]["_sg_link_marker"]["hard_delete"] is True
    assert hints["write_disposition"] == {"disposition": "merge", "strategy": "delete-insert"}
    assert set(hints["columns"]) == set(unmarked.column_names) | {"_sg_link_marker"}


def test_fields_selection_gives_only_those_columns(
    shared_sandbox: Sandbox, shared_client: SearchClient
) -> None:
    schema = shared_client.schema("Version").only(
        ["code", "project", "playlists", "sg_uploaded_movie_frame_rate"]
    )
    converter = PageConverter(schema)
    bodies = list(shared_client.pages("Version", fields=sorted(schema.field_types)))
    pages = [converter.convert(body) for body in bodies]
    roots = pa.concat_tables([p.root for p in pages])
    assert roots.column_names == [
        "id",
        "created_at",
        "updated_at",
        "project__id",
        "project__type",
        "project__name",
        "code",
        "sg_uploaded_movie_frame_rate",
    ]
    records = {r["id"]: r for r in shared_sandbox.site.records("Version")}
    for row in roots.to_pylist():
        record = records[row["id"]]
        assert row["code"] == record["code"]
        assert value_matches(
            "float", record["sg_uploaded_movie_frame_rate"], row["sg_uploaded_movie_frame_rate"]
        )
        assert row["project__id"] == (record["project"] or {}).get("id")
    links = pa.concat_tables([p.links["versions__playlists"] for p in pages])
    real_links = links.filter(pc.invert(links.column("_sg_link_marker")))
    assert real_links.num_rows == sum(len(r["playlists"]) for r in records.values())


def test_paging_facts_come_without_a_second_parse(shared_client: SearchClient) -> None:
    converter = PageConverter(shared_client.schema("Task"))
    bodies = list(shared_client.pages("Task", page_size=500))
    assert len(bodies) >= 2
    for body in bodies:
        data = orjson.loads(body)
        page = converter.convert(body)
        assert page.row_count == len(data["data"])
        assert page.first_id == (data["data"][0]["id"] if data["data"] else None)
        assert page.last_id == (data["data"][-1]["id"] if data["data"] else None)
        assert page.next_link == data["links"]["next"]


def test_pages_join_into_items_of_at_least_so_many_records_in_the_order_read(
    shared_client: SearchClient,
) -> None:
    converter = PageConverter(shared_client.schema("Task"))
    bodies = list(shared_client.pages("Task", page_size=100))
    assert len(bodies) >= 5
    sent_ids = [record["id"] for body in bodies for record in orjson.loads(body)["data"]]
    pages = [converter.convert(body) for body in bodies]
    assert any(table.num_rows for page in pages for table in page.links.values()), "Task has no links"

    joined = list(batched(iter(pages), max_rows=250))

    assert 1 < len(joined) < len(pages)
    assert all(page.row_count >= 250 for page in joined[:-1])
    assert all(page.row_count - 100 < 250 for page in joined)  # a page more than needed, never
    assert [i for page in joined for i in page.root.column("id").to_pylist()] == sent_ids
    assert (joined[0].first_id, joined[-1].last_id) == (sent_ids[0], sent_ids[-1])
    assert joined[-1].next_link == orjson.loads(bodies[-1])["links"]["next"]
    assert {page.root.schema for page in joined} == {pages[0].root.schema}
    for name in converter.link_tables.values():
        rows = [row for page in pages for row in page.links[name].to_pylist()]
        assert [row for page in joined for row in page.links[name].to_pylist()] == rows, name


# bad answers -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def version_page(shared_client: SearchClient) -> tuple[PageConverter, dict[str, Any]]:
    converter = PageConverter(shared_client.schema("Version"))
    body = next(shared_client.pages("Version", page_size=50))
    return converter, orjson.loads(body)


def _spoiled(page: dict[str, Any], index: int, change: Any) -> bytes:
    copy = json.loads(json.dumps(page))
    change(copy["data"][index])
    return json.dumps(copy).encode()


def _set(section: str, name: str, value: Any) -> Any:
    return lambda record: record[section].__setitem__(name, value)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (
            _set("attributes", "sg_uploaded_movie_frame_rate", "fast"),
            ["sg_uploaded_movie_frame_rate", "'fast'"],
        ),
        (_set("attributes", "created_at", "2026-13-45T00:00:00Z"), ["created_at", "2026-13-45T00:00:00Z"]),
        (_set("attributes", "created_at", "yesterday"), ["created_at", "ISO 8601"]),
        (_set("attributes", "sg_submitted_date", "2026-02-30"), ["sg_submitted_date", "date"]),
        (_set("attributes", "sg_first_frame", 1.5), ["sg_first_frame", "1.5", "whole number"]),
        (_set("attributes", "sg_first_frame", 2**70), ["sg_first_frame", "64-bit"]),
        (_set("attributes", "sg_client_approved", "yes"), ["sg_client_approved", "true or false"]),
        (_set("attributes", "code", 5), ["`code` = 5", "not a string"]),
        (_set("relationships", "project", {"data": {"id": "63", "type": "Project"}}), ["`project`", "link"]),
        (
            _set("relationships", "playlists", {"data": {"id": 1, "type": "Playlist"}}),
            ["`playlists`", "list"],
        ),
        (_set("relationships", "playlists", {"data": [None]}), ["`playlists`", "None"]),
    ],
)
def test_a_value_that_does_not_fit_names_type_record_and_field(
    version_page: tuple[PageConverter, dict[str, Any]], change: Any, words: list[str]
) -> None:
    converter, page = version_page
    record_id = page["data"][7]["id"]
    with pytest.raises(ShotgunResponseError) as caught:
        converter.convert(_spoiled(page, 7, change))
    message = str(caught.value)
    assert f"Version {record_id}" in message
    for word in words:
        assert word in message


@pytest.mark.parametrize("budget", ["lots", "1e40", "NaN", True])
def test_a_currency_that_decimal_38_9_cannot_hold_is_refused(
    shared_client: SearchClient, budget: Any
) -> None:
    converter = PageConverter(shared_client.schema("CustomEntity01"))
    page = orjson.loads(next(shared_client.pages("CustomEntity01", page_size=20)))
    record_id = page["data"][4]["id"]
    with pytest.raises(ShotgunResponseError) as caught:
        converter.convert(_spoiled(page, 4, _set("attributes", "sg_budget", budget)))
    assert f"CustomEntity01 {record_id}" in str(caught.value) and "`sg_budget`" in str(caught.value)


def test_a_currency_with_more_decimals_than_the_scale_is_rounded(shared_client: SearchClient) -> None:
    converter = PageConverter(shared_client.schema("CustomEntity01"))
    page = orjson.loads(next(shared_client.pages("CustomEntity01", page_size=20)))
    root = converter.convert(_spoiled(page, 4, _set("attributes", "sg_budget", "12.0000000004999"))).root
    assert root.column("sg_budget")[4].as_py() == Decimal("12.000000000")


def test_a_missing_cursor_stops_the_load(version_page: tuple[PageConverter, dict[str, Any]]) -> None:
    converter, page = version_page
    record_id = page["data"][3]["id"]
    with pytest.raises(ShotgunResponseError, match=f"Version {record_id} without `updated_at`"):
        converter.convert(_spoiled(page, 3, _set("attributes", "updated_at", None)))


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda record: record.pop("id"), ["without `id` or `attributes`"]),
        (lambda record: record.pop("attributes"), ["without `id` or `attributes`"]),
        (lambda record: record.__setitem__("attributes", None), ["without `id` or `attributes`"]),
    ],
)
def test_a_record_of_another_shape_is_refused(
    version_page: tuple[PageConverter, dict[str, Any]], change: Any, words: list[str]
) -> None:
    converter, page = version_page
    with pytest.raises(ShotgunResponseError) as caught:
        converter.convert(_spoiled(page, 2, change))
    assert "Version" in str(caught.value)
    for word in words:
        assert word in str(caught.value)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"<html><body>Down for maintenance</body></html>", ["not JSON", "Down for maintenance"]),
        (b'{"data": [{"id": 1,', ["not JSON"]),
        (b'{"errors": []}', ["without `data`"]),
        (b'{"data": {"id": 1}}', ["without `data`"]),
        (b"[]", ["without `data`"]),
    ],
)
def test_an_answer_that_is_not_a_search_envelope_is_refused(
    version_page: tuple[PageConverter, dict[str, Any]], body: bytes, words: list[str]
) -> None:
    converter, _ = version_page
    with pytest.raises(ShotgunResponseError) as caught:
        converter.convert(body)
    assert "Version" in str(caught.value)
    for word in words:
        assert word in str(caught.value)


def test_unusual_but_valid_values_convert(version_page: tuple[PageConverter, dict[str, Any]]) -> None:
    """A float sent as a number, an empty page: not the site's usual form, still right."""
    converter, page = version_page
    root = converter.convert(_spoiled(page, 1, _set("attributes", "sg_uploaded_movie_frame_rate", 24))).root
    assert root.column("sg_uploaded_movie_frame_rate")[1].as_py() == 24.0
    empty = converter.convert(b'{"data": [], "links": {"self": "/x"}}')
    assert empty.row_count == 0 and empty.last_id is None
    assert empty.root.schema == root.schema


# the recorded real answers -----------------------------------------------------------------------
def _recorded_asset_answers(recordings_dir: Path) -> tuple[dict[str, Any], list[bytes]]:
    fields: dict[str, Any] | None = None
    answers = []
    for path in sorted(recordings_dir.rglob("*.yml")):
        for interaction in yaml.load(path.read_text(), Loader=SAFE_LOADER)["http_interactions"]:
            request, response = interaction["request"], interaction["response"]
            uri = request["uri"].split("?", 1)[0]
            body = (response["body"].get("string") or "").encode()
            if uri.endswith("/schema/Asset/fields"):
                fields = json.loads(body)["data"]
            ok = response["status"]["code"] == 200
            listing = uri.endswith("/entity/Asset") and request["method"] == "get"
            if ok and (listing or uri.endswith("/entity/Asset/_search")):
                answers.append(body)
    if fields is None:
        pytest.skip("the recordings hold no Asset field schema")
    return fields, answers


def test_recorded_answers_convert_like_today(recordings_dir: Path) -> None:
    fields, answers = _recorded_asset_answers(recordings_dir)
    full = EntitySchema.from_fields_response("Asset", fields)
    assert len(answers) >= 20, "expected the recorded Asset reads"
    converted_rows = 0
    for body in answers:
        data = json.loads(body)["data"]
        if not data:
            continue
        # the fields each answer carries: what its request asked for (a default set without `fields`)
        sent = {"id", *data[0]["attributes"], *(data[0].get("relationships") or {})}
        schema = EntitySchema("Asset", {k: v for k, v in full.field_types.items() if k in sent})
        page = PageConverter(schema).convert(body)
        rows = page.root.to_pylist()
        links = {
            name: page.links[f"assets__{name}"].to_pylist()
            for name, kind in schema.field_types.items()
            if kind == "multi_entity"
        }
        flatten = RecordFlattener(schema)
        for record, row in zip(data, rows, strict=True):
            today = flatten(json.loads(json.dumps(record)))
            assert row["id"] == today["id"]
            for name, kind in schema.field_types.items():
                if name == "id":
                    continue
                if kind == "entity":
                    link = today.get(name)
                    want = (link["id"], link["type"], link.get("name")) if link else (None, None, None)
                    assert (row[f"{name}__id"], row[f"{name}__type"], row[f"{name}__name"]) == want
                elif kind == "multi_entity":
                    got = [
                        (r["list_idx"], r["id"], r["type"], r["name"])
                        for r in links[name]
                        if r["parent_id"] == row["id"]
                    ]
                    want_links = [
                        (i, x["id"], x["type"], x.get("name")) for i, x in enumerate(today.get(name) or [])
                    ]
                    assert [g for g in got if g[0] >= 0] == want_links
                    assert [g for g in got if g[0] < 0] == ([] if want_links else [(-1, None, None, None)])
                else:
                    value = today.get(name)  # as records.py leaves it: floats numbers, the rest as sent
                    if kind == "date_time" and value is not None:
                        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
                    elif kind == "date" and value is not None:
                        value = dt.date.fromisoformat(value)
                    elif kind == "currency" and value is not None:
                        value = float(value)
                    assert value_matches(kind, value, row[name]), (
                        f"Asset {row['id']}.{name}: {value!r} != {row[name]!r}"
                    )
            converted_rows += 1
    assert converted_rows >= 20


def test_one_converter_serves_several_threads(shared_client: SearchClient) -> None:
    """The reader converts pages of one type on several threads with one converter."""
    converter = PageConverter(shared_client.schema("Task"))
    bodies = list(shared_client.pages("Task", page_size=300))
    serial = [converter.convert(body).root for body in bodies]
    with ThreadPoolExecutor(max_workers=4) as pool:
        parallel = list(pool.map(lambda body: converter.convert(body).root, bodies * 3))
    assert all(table.equals(serial[i % len(bodies)]) for i, table in enumerate(parallel))


def test_link_tables_merge_to_the_sites_lists_in_duckdb(sandbox: Sandbox, make_pipeline: Any) -> None:
    """The hints as proposed, through dlt: emptied, shrunk and grown lists end as the site's."""
    client = SearchClient(sandbox)
    schema = client.schema("Version")
    marks = retirement_columns("soft")
    converter = PageConverter(schema, live_row_marks("soft"), marks)
    root_hints, link_hints = root_table_hints(schema, marks), link_table_hints(schema)

    def versions(ids: list[int] | None) -> Any:
        def read() -> Iterator[Any]:
            load_id = dlt.current.load_package_state()["load_id"]
            filters = [["id", "in", ids]] if ids is not None else None
            for body in client.pages("Version", filters=filters, page_size=500):
                yield from dlt_items(converter.convert(body, load_id=load_id), root_hints, link_hints)

        return dlt.resource(
            read, name="versions", primary_key="id", write_disposition="merge", parallelized=True
        )

    pipeline = make_pipeline("link_merge")
    pipeline.run(versions(None))
    site = sandbox.site
    lists = [r for r in site.records("Version") if len(r["playlists"]) >= 2][:3]
    bare = next(r for r in site.records("Version") if not r["playlists"])
    playlist = {"type": "Playlist", "id": lists[0]["playlists"][0]["id"]}
    site.update("Version", lists[0]["id"], {"playlists": []})
    site.update("Version", lists[1]["id"], {"playlists": [lists[1]["playlists"][-1]]})
    site.update("Version", lists[2]["id"], {"playlists": [*lists[2]["playlists"], playlist][::-1]})
    site.update("Version", bare["id"], {"playlists": [playlist]})
    pipeline.run(versions([r["id"] for r in [*lists, bare]]))

    dataset = pipeline.dataset()
    stored = (
        dataset["versions__playlists"].select("parent_id", "list_idx", "id", "_sg_link_marker").fetchall()
    )
    assert not [row for row in stored if row[3]], "marker rows must never be stored"
    want = sorted(
        (r["id"], i, link["id"]) for r in site.records("Version") for i, link in enumerate(r["playlists"])
    )
    assert sorted(tuple(row[:3]) for row in stored) == want
    ids = [row[0] for row in dataset["versions"].select("id").fetchall()]
    assert sorted(ids) == sorted(r["id"] for r in site.records("Version"))
    loads = {row[0] for row in dataset["_dlt_loads"].select("load_id").fetchall()}
    stamped = {row[0] for row in dataset["versions"].select("_dlt_load_id").fetchall()}
    assert len(loads) == 2 and stamped == loads  # every row carries the id of the load that wrote it
    assert "_dlt_id" not in dataset["versions"].columns
