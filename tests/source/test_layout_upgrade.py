"""A dataset loaded by shotgun_source 0.1 (multi-entity links as dlt child tables of the entity's
table, joined on `_dlt_id`) is refused with the one command that rebuilds it, and that command works.

The 0.1 layout is made here the way 0.1 made it: dlt's relational normalizer turning each record's
list of links into a child table (`shots__assets` with `_dlt_parent_id`, `_dlt_list_idx`)."""

from typing import Any

import dlt
import pytest
from destination_truth import assert_destination_matches_site
from shotgun_testing import script_auth

from shotgun_source import ShotgunConfigError, load


def _load_as_version_0_1(pipeline: dlt.Pipeline, site: Any) -> None:
    shots = [{**s, "assets": s.get("assets") or []} for s in site.records("Shot")]

    @dlt.source(name="shotgun")
    def old_source() -> Any:
        return dlt.resource(shots, name="shots", primary_key="id", write_disposition="merge")

    pipeline.run(old_source())
    tables = pipeline.default_schema.tables
    assert tables["shots__assets"]["parent"] == "shots" and "_dlt_id" in tables["shots"]["columns"]


def test_an_old_layout_is_refused_with_the_command_that_rebuilds_it(sandbox: Any, make_pipeline: Any) -> None:
    pipeline = make_pipeline()
    _load_as_version_0_1(pipeline, sandbox.site)
    options = {"site_url": sandbox.url, "credentials": script_auth(sandbox), "entities": ["Shot"]}
    with pytest.raises(ShotgunConfigError) as refused:
        load(pipeline, **options)
    message = str(refused.value)
    assert "shots__assets" in message and "--refresh" in message and "refresh=True" in message
    assert pipeline.default_schema.tables["shots__assets"].get("parent") == "shots"  # nothing changed

    report = load(pipeline, refresh=True, **options)
    assert report.rows["shots"] == len(sandbox.site.records("Shot"))
    assert "parent" not in pipeline.default_schema.tables["shots__assets"]
    assert_destination_matches_site(pipeline, sandbox.site, ["Shot"])
    load(pipeline, **options)  # and incremental runs go on from there
    assert_destination_matches_site(pipeline, sandbox.site, ["Shot"])
