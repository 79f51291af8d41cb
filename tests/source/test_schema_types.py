"""Every entity type, typed from the site's own schema: custom entities, "all", each data type's
column type, all-null columns, descriptions, unknown types, schema changes, the event log."""

import logging
from typing import Any

import dlt
import pytest
from destination_truth import assert_destination_matches_site, plural_slug

from shotgun_source import ShotgunConfigError

EXPECTED_DUCKDB_TYPES = {
    # field of CustomEntity01 -> the DuckDB column type its ShotGrid data type must land as
    "code": "VARCHAR",  # text
    "sg_count": "BIGINT",  # number
    "sg_ratio": "DOUBLE",  # float, sent as a string
    "sg_unused_float": "DOUBLE",  # float, null in every row
    "sg_budget": "DECIMAL(38,9)",  # currency
    "sg_approved": "BOOLEAN",  # checkbox
    "sg_due_date": "DATE",  # date
    "sg_delivered_at": "TIMESTAMP WITH TIME ZONE",  # date_time
    "sg_duration": "BIGINT",  # duration, minutes
    "sg_progress": "BIGINT",  # percent
    "sg_timecode": "BIGINT",  # timecode, milliseconds
    "sg_category": "VARCHAR",  # list
    "sg_status_list": "VARCHAR",  # status_list
    "sg_settings": "JSON",  # serializable
    "sg_link": "JSON",  # url
    "image": "VARCHAR",  # image
    "sg_keywords": "JSON",  # tag_list
    "sg_color": "VARCHAR",  # color
    "sg_uuid": "VARCHAR",  # uuid
    "sg_footage": "VARCHAR",  # footage
    "step_0": "VARCHAR",  # pivot_column, computed on the server
    "sg_shot__id": "BIGINT",  # entity link
    "sg_shot__type": "VARCHAR",
    "sg_shot__name": "VARCHAR",
}


def _column_types(pipeline: dlt.Pipeline, table: str) -> dict[str, str]:
    with pipeline.sql_client() as client:
        return dict(
            client.execute_sql(
                "select column_name, data_type from information_schema.columns"
                " where table_schema = %s and table_name = %s",
                pipeline.dataset_name,
                table,
            )
        )


def test_custom_entity_every_data_type_lands_typed(sandbox: Any, source_for: Any, make_pipeline: Any) -> None:
    site = sandbox.site
    kinds = {name: spec["data_type"] for name, spec in site.fields("CustomEntity01").items()}
    covered = {kinds[name.split("__")[0]] for name in EXPECTED_DUCKDB_TYPES}
    assert covered >= {
        "text", "number", "float", "currency", "checkbox", "date", "date_time", "duration", "percent",
        "timecode", "list", "status_list", "serializable", "url", "image", "tag_list", "color", "uuid",
        "entity",
    }  # fmt: skip
    assert all(site.records("CustomEntity01")[i].get("sg_unused_float") is None for i in range(5))

    pipeline = make_pipeline()
    pipeline.run(source_for(sandbox, entities=["CustomEntity01"]))
    types = _column_types(pipeline, "custom_entity01s")
    for column, expected in EXPECTED_DUCKDB_TYPES.items():
        assert types.get(column) == expected, (column, types.get(column), expected)
    assert _column_types(pipeline, "custom_entity01s__sg_assets")["id"] == "BIGINT"
    assert_destination_matches_site(pipeline, site, ["CustomEntity01"])


def test_column_descriptions_come_from_the_schema(sandbox: Any, source_for: Any, make_pipeline: Any) -> None:
    pipeline = make_pipeline()
    pipeline.run(source_for(sandbox, entities=["CustomEntity01"]))
    columns = pipeline.default_schema.get_table("custom_entity01s")["columns"]
    for name, spec in sandbox.site.fields("CustomEntity01").items():
        if spec["data_type"] in ("multi_entity", "entity") or not spec.get("name"):
            continue
        assert spec["name"] in columns[name].get("description", ""), name


def test_all_loads_every_readable_entity_type(sandbox: Any, source_for: Any, make_pipeline: Any) -> None:
    site = sandbox.site
    pipeline = make_pipeline()
    pipeline.run(source_for(sandbox, entities="all"))
    types = site.entity_types()
    assert {"EventLogEntry", "CustomEntity01", "HumanUser", "PublishedFile", "TimeLog", "Note"} <= set(types)
    tables = {t["name"] for t in pipeline.default_schema.data_tables()}
    assert {plural_slug(t) for t in types} <= tables
    assert {"event_log_entries", "custom_entity01s", "human_users", "published_files", "time_logs"} <= tables
    counts = assert_destination_matches_site(pipeline, site, types)
    print("compared rows per entity type:", counts)


def test_schema_reads_cost_a_constant_number_of_requests(
    sandbox: Any, source_for: Any, make_pipeline: Any
) -> None:
    sandbox.clear_requests()
    make_pipeline().run(source_for(sandbox, entities=["Version", "Shot"], page_size=100))
    schema_requests = [r for r in sandbox.requests if r.kind == "schema"]
    searches = [r for r in sandbox.requests if r.kind == "search"]
    assert len(searches) > 10
    assert len(schema_requests) == 3  # the type list, then one field schema per type


def test_field_added_and_removed_between_runs(sandbox: Any, source_for: Any, make_pipeline: Any) -> None:
    site = sandbox.site
    pipeline = make_pipeline()
    pipeline.run(source_for(sandbox, entities=["Shot"]))
    assert "sg_lens_mm" not in _column_types(pipeline, "shots")

    site.add_field("Shot", "sg_lens_mm", "float", display_name="Lens (mm)")
    site.remove_field("Shot", "sg_cut_in")
    shots = site.records("Shot")
    site.update("Shot", shots[0]["id"], {"sg_lens_mm": 35.5})
    site.update("Shot", shots[1]["id"], {"description": "touched after sg_cut_in was removed"})
    pipeline.run(source_for(sandbox, entities=["Shot"]))

    types = _column_types(pipeline, "shots")
    assert types["sg_lens_mm"] == "DOUBLE"
    assert "Lens (mm)" in pipeline.default_schema.get_table("shots")["columns"]["sg_lens_mm"]["description"]
    with pipeline.sql_client() as client:
        lens, cut_in = client.execute_sql(
            "select (select sg_lens_mm from shots where id = %s),"
            " (select sg_cut_in from shots where id = %s)",
            shots[0]["id"],
            shots[1]["id"],
        )[0]
    assert lens == 35.5
    assert cut_in is None  # the removed field is no longer filled
    assert_destination_matches_site(pipeline, site, ["Shot"])


def test_unknown_data_type_loads_as_text_with_a_warning(
    sandbox: Any, source_for: Any, make_pipeline: Any, caplog: pytest.LogCaptureFixture
) -> None:
    site = sandbox.site
    site.add_field("Shot", "sg_hologram", "hologram")
    shot_id = site.records("Shot")[0]["id"]
    site.update("Shot", shot_id, {"sg_hologram": "rotating teapot"})
    pipeline = make_pipeline()
    with caplog.at_level(logging.WARNING):
        pipeline.run(source_for(sandbox, entities=["Shot"]))
    assert any("sg_hologram" in r.getMessage() and "hologram" in r.getMessage() for r in caplog.records)
    assert _column_types(pipeline, "shots")["sg_hologram"] == "VARCHAR"
    with pipeline.sql_client() as client:
        value = client.execute_sql("select sg_hologram from shots where id = %s", shot_id)[0][0]
    assert value == "rotating teapot"


def test_selected_fields_become_the_only_columns(sandbox: Any, source_for: Any, make_pipeline: Any) -> None:
    pipeline = make_pipeline()
    pipeline.run(source_for(sandbox, entities=["Shot"], fields={"Shot": ["code", "project"]}))
    columns = {c for c in _column_types(pipeline, "shots") if not c.startswith("_dlt")}
    assert columns == {
        *("id", "code", "project__id", "project__type", "project__name", "created_at", "updated_at"),
        *("_sg_retired", "_sg_retired_at"),  # soft deletes, the default
    }
    with pytest.raises(ShotgunConfigError, match="unknown field.*sg_cod"):
        source_for(sandbox, entities=["Shot"], fields={"Shot": ["sg_cod"]})


def test_late_committed_events_behind_the_head_are_not_skipped(
    sandbox: Any, source_for: Any, make_pipeline: Any
) -> None:
    """Event ids are handed out when a change starts and become visible when it commits."""
    site = sandbox.site
    late_id = site.reserve_event_id()
    for shot in site.records("Shot")[:3]:
        site.update("Shot", shot["id"], {"description": "committed on time"})
    pipeline = make_pipeline()
    pipeline.run(source_for(sandbox, entities=["EventLogEntry"]))
    loaded = {row[0] for row in pipeline.dataset()["event_log_entries"].select("id").fetchall()}
    assert late_id not in loaded and max(loaded) > late_id  # a max-id cursor would now skip it

    site.advance_clock(60)
    shot = site.records("Shot")[0]
    site.commit_event(late_id, "Shotgun_Shot_Change", {"type": "Shot", "id": shot["id"]}, {"new_value": "x"})
    pipeline.run(source_for(sandbox, entities=["EventLogEntry"]))
    loaded = {row[0] for row in pipeline.dataset()["event_log_entries"].select("id").fetchall()}
    assert late_id in loaded
    assert_destination_matches_site(pipeline, site, ["EventLogEntry"])
