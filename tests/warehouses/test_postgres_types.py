"""Column types in the real PostgreSQL server: timestamps with time zone, numbers as numbers,
booleans, dates, json as jsonb; and the load goes through csv files copied by COPY (see the script)."""

from typing import Any

from destination_truth import assert_destination_matches_site
from postgres_server import PostgresServer
from warehouse_testing import TYPED, Warehouse

EXPECTED_TYPES = {
    # Version
    ("versions", "id"): "bigint",
    ("versions", "updated_at"): "timestamp with time zone",  # date_time
    ("versions", "sg_uploaded_movie_frame_rate"): "double precision",  # float
    ("versions", "sg_first_frame"): "bigint",  # number
    ("versions", "sg_submitted_date"): "date",  # date
    ("versions", "sg_client_approved"): "boolean",  # checkbox
    ("versions", "sg_uploaded_movie"): "jsonb",  # url
    ("versions", "sg_version_type"): "character varying",  # list
    ("versions", "sg_status_list"): "character varying",  # status_list
    ("versions", "image"): "character varying",  # image
    ("versions", "entity__id"): "bigint",  # entity link
    ("versions", "entity__type"): "character varying",
    ("versions", "entity__name"): "character varying",
    ("versions__playlists", "id"): "bigint",  # multi-entity link
    ("versions__playlists", "type"): "character varying",
    # CustomEntity01
    ("custom_entity01s", "sg_ratio"): "double precision",  # float
    ("custom_entity01s", "sg_unused_float"): "double precision",  # null in every row, typed all the same
    ("custom_entity01s", "sg_budget"): "numeric",  # currency
    ("custom_entity01s", "sg_count"): "bigint",  # number
    ("custom_entity01s", "sg_duration"): "bigint",  # duration, minutes
    ("custom_entity01s", "sg_progress"): "bigint",  # percent
    ("custom_entity01s", "sg_timecode"): "bigint",  # timecode, milliseconds
    ("custom_entity01s", "sg_approved"): "boolean",  # checkbox
    ("custom_entity01s", "sg_due_date"): "date",  # date
    ("custom_entity01s", "sg_delivered_at"): "timestamp with time zone",  # date_time
    ("custom_entity01s", "sg_settings"): "jsonb",  # serializable
    ("custom_entity01s", "sg_link"): "jsonb",  # url
    ("custom_entity01s", "sg_keywords"): "jsonb",  # tag_list
    ("custom_entity01s", "step_0"): "character varying",  # pivot_column: computed, kept as text
    ("custom_entity01s", "sg_color"): "character varying",  # color
    ("custom_entity01s", "sg_uuid"): "character varying",  # uuid
    ("custom_entity01s", "sg_footage"): "character varying",  # footage
    ("custom_entity01s", "sg_shot__id"): "bigint",
    ("custom_entity01s__sg_assets", "id"): "bigint",
}


def test_postgres_columns_have_the_types_of_their_shotgrid_fields(
    sandbox: Any, source_for: Any, tmp_path: Any, postgres_server: PostgresServer, postgres_dataset_name: str
) -> None:
    warehouse = Warehouse("postgres", tmp_path, postgres_dataset_name, postgres_server)
    pipeline = warehouse.pipeline()
    info = warehouse.run(pipeline, source_for(sandbox, entities=TYPED))

    counts = assert_destination_matches_site(pipeline, sandbox.site, TYPED)
    print(f"\npostgres {postgres_server.version}, rows compared: {counts}")
    with pipeline.sql_client() as client:
        # dlt normalizes the dataset name (t_x__1 -> t_x_1), so ask the client for the schema's name
        rows = client.execute_sql(
            "select table_name, column_name, data_type from information_schema.columns"
            " where table_schema = %s",
            client.dataset_name,
        )
        version = client.execute_sql("show server_version")[0][0]  # type: ignore[index]
    assert rows is not None
    types = {(table, column): kind for table, column, kind in rows}
    wrong = {key: (types.get(key), want) for key, want in EXPECTED_TYPES.items() if types.get(key) != want}
    assert not wrong, f"(got, expected) per column: {wrong}"
    assert version.startswith(postgres_server.version)

    # the script's choice for postgres: csv by COPY (its job keeps "" apart from NULL), no gzip
    formats = {
        job.job_file_info.file_format
        for package in info.load_packages
        for job in package.jobs["completed_jobs"]
        if not job.job_file_info.table_name.startswith("_dlt")
    }
    assert formats == {"csv", "sql"}, formats  # sql: the merge statements dlt runs after
    files = [job.file_path for package in info.load_packages for job in package.jobs["completed_jobs"]]
    assert not [f for f in files if ".csv" in f and f.endswith(".gz")], files
