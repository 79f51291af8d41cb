"""The filesystem destination: parquet files, and what they hold after reruns.

dlt 1.31 merges only into delta or iceberg tables; on plain parquet files `write_disposition=
"merge"` falls back to append. So the files keep one row per run that read a record, and a reader
takes the newest `_dlt_load_id` per id: the query below, which the README shows, does that.
"""

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from destination_truth import assert_destination_matches_site, raw_row_count
from warehouse_testing import Warehouse

ENTITIES = ["Shot", "Version"]
LATEST_VERSIONS = """
    select * from versions
    qualify row_number() over (partition by id order by _dlt_load_id desc) = 1
"""
LATEST_PLAYLIST_LINKS = """
    select l.parent_id as version_id, l.id as playlist_id from versions__playlists l
    join (
        select id, _dlt_load_id from versions
        qualify row_number() over (partition by id order by _dlt_load_id desc) = 1
    ) v on l.parent_id = v.id and l._dlt_load_id = v._dlt_load_id
"""
"""A record's links are the link rows loaded with its newest row (same `parent_id`, same load)."""


def test_filesystem_writes_parquet_and_appends_each_change(
    sandbox: Any, source_for: Any, tmp_path: Path
) -> None:
    warehouse = Warehouse("filesystem", tmp_path, "shotgun")
    pipeline = warehouse.pipeline()
    site = sandbox.site
    version_id = site.records("Version")[10]["id"]

    warehouse.run(pipeline, source_for(sandbox, entities=ENTITIES))
    first_rows = raw_row_count(pipeline, "versions")
    site.update("Version", version_id, {"description": "first change"})
    warehouse.run(pipeline, source_for(sandbox, entities=ENTITIES))
    site.update("Version", version_id, {"description": "second change"})
    warehouse.run(pipeline, source_for(sandbox, entities=ENTITIES))

    dataset_dir = tmp_path / "shotgun_data" / "shotgun"
    for table in pipeline.default_schema.data_table_names():
        files = sorted((dataset_dir / table).iterdir())
        assert files and all(f.suffix == ".parquet" for f in files), (table, [f.name for f in files])
        # real parquet, readable without dlt, holding every row the dataset reports
        assert sum(pq.read_metadata(f).num_rows for f in files) == raw_row_count(pipeline, table)

    # the changed record has one row per run that read it, newest last: nothing merged, nothing hidden
    history = pipeline.dataset()(
        f"select description, _dlt_load_id from versions where id = {version_id} order by _dlt_load_id"
    ).fetchall()
    assert [row[0] for row in history][1:] == ["first change", "second change"], history
    assert raw_row_count(pipeline, "versions") > first_rows

    # the newest row per id is the site's record, for every record
    counts = assert_destination_matches_site(pipeline, site, ENTITIES, latest_row_per_id=True)
    latest = pipeline.dataset()(LATEST_VERSIONS).fetchall()
    assert len(latest) == len({row[0] for row in pipeline.dataset()["versions"].select("id").fetchall()})
    names = list(pipeline.dataset()["versions"].columns)
    by_id = {row[names.index("id")]: row for row in latest}
    assert by_id[version_id][names.index("description")] == "second change"
    live = {v["id"]: v for v in site.records("Version")}
    links = sorted(row for row in pipeline.dataset()(LATEST_PLAYLIST_LINKS).fetchall() if row[0] in live)
    assert links == sorted((i, p["id"]) for i, v in live.items() for p in v["playlists"] or [])
    print(
        f"\nfilesystem: versions holds {raw_row_count(pipeline, 'versions')} rows for"
        f" {len(latest)} ids after 3 runs; compared {counts}"
    )
