"""The source's parsing against real ShotGrid answers (the recorded cassettes), loaded into DuckDB.

The sandbox is built to look like these recordings; this test checks the client against the
recordings themselves, so a sandbox mistake cannot hide a parser mistake.
"""

import json
from pathlib import Path
from typing import Any

import dlt
import pytest
import yaml
from requests import PreparedRequest, Response

from shotgun_source.records import RecordFlattener
from shotgun_source.responses import ResponseChecker
from shotgun_source.schema import EntitySchema


def _recorded_exchanges(recordings_dir: Path) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    exchanges = []
    for path in sorted(recordings_dir.rglob("*.yml")):
        for interaction in yaml.safe_load(path.read_text())["http_interactions"]:
            exchanges.append((interaction["request"], interaction["response"]))
    return exchanges


def _as_response(request: dict[str, Any], recorded: dict[str, Any]) -> Response:
    """A requests.Response holding the recorded bytes, as the check hook receives it."""
    response = Response()
    response.status_code = recorded["status"]["code"]
    response._content = (recorded["body"].get("string") or "").encode()
    response.headers.update({k: v[0] for k, v in recorded["headers"].items()})
    response.url = request["uri"]
    prepared = PreparedRequest()
    prepared.prepare(method=request["method"].upper(), url=request["uri"])
    response.request = prepared
    return response


def _asset_schema(exchanges: list[tuple[dict[str, Any], dict[str, Any]]]) -> EntitySchema:
    for request, recorded in exchanges:
        if request["uri"].endswith("/schema/Asset/fields"):
            fields = json.loads(recorded["body"]["string"])["data"]
            return EntitySchema.from_fields_response("Asset", fields)
    pytest.skip("the recordings hold no Asset field schema")


def _recorded_asset_pages(exchanges: list[tuple[dict[str, Any], dict[str, Any]]]) -> list[Response]:
    pages = []
    for request, recorded in exchanges:
        uri = request["uri"].split("?", 1)[0]
        is_list = uri.endswith("/entity/Asset") and request["method"] == "get"
        is_search = uri.endswith("/entity/Asset/_search")
        if (is_list or is_search) and recorded["status"]["code"] == 200:
            pages.append(_as_response(request, recorded))
    return pages


def test_every_recorded_entity_page_flattens_and_loads_typed(recordings_dir: Path, tmp_path: Path) -> None:
    exchanges = _recorded_exchanges(recordings_dir)
    schema = _asset_schema(exchanges)
    pages = _recorded_asset_pages(exchanges)
    assert len(pages) >= 20, "expected the recorded Asset reads"

    check = ResponseChecker("https://pasind3-prod.shotgunstudio.com")
    flatten = RecordFlattener(schema)
    rows: dict[int, dict[str, Any]] = {}
    for page in pages:
        check(page)  # raises on anything that is not the REST envelope
        for record in page.json()["data"]:
            if "updated_at" not in record["attributes"]:
                continue  # a recorded read of a few fields; the source always asks for its cursor
            expected_links = {name: link["data"] for name, link in record["relationships"].items()}
            attributes = dict(record["attributes"])
            row = flatten(json.loads(json.dumps(record)))
            assert row["id"] == record["id"]
            for name, value in attributes.items():
                assert row[name] == value
            for name, data in expected_links.items():
                assert row.get(name) == data
            rows[row["id"]] = row
    assert rows, "no full Asset record in the recordings"

    pipeline = dlt.pipeline(
        "recorded_assets",
        destination=dlt.destinations.duckdb(str(tmp_path / "recordings.duckdb")),
        pipelines_dir=str(tmp_path / "pipelines"),
        dataset_name="rec",
    )
    resource = dlt.resource(
        list(rows.values()),
        name="assets",
        primary_key="id",
        write_disposition="merge",
        columns=schema.column_hints(),
        nested_hints=schema.nested_hints(),
        max_table_nesting=1,
    )
    pipeline.run(resource)
    with pipeline.sql_client() as client:
        types = dict(
            client.execute_sql(
                "select column_name, data_type from information_schema.columns"
                " where table_schema = 'rec' and table_name = 'assets'"
            )
        )
        assert types["id"] == "BIGINT"
        assert types["created_at"] == "TIMESTAMP WITH TIME ZONE"
        assert types["sg_keep"] == "BOOLEAN"
        assert types["project__id"] == "BIGINT" and types["project__name"] == "VARCHAR"
        assert types["code"] == "VARCHAR"
        # an all-null entity link still gets its typed columns
        assert types["updated_by__id"] == "BIGINT"
        count = client.execute_sql("select count(*) from rec.assets")[0][0]
        assert count == len(rows)
        alice = client.execute_sql(
            "select code, project__id, project__type from rec.assets where code = 'Alice'"
        )
        assert alice and alice[0][1] is not None and alice[0][2] == "Project"
        linked_shots = client.execute_sql("select count(*) from rec.assets__shots")[0][0]
        expected_shots = sum(len(r.get("shots") or []) for r in rows.values())
        assert linked_shots == expected_shots > 0
