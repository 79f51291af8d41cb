"""The schema reads before paging take two round trips, not three, when the names are the site's own.

Judged by the sandbox's request log, not by a clock: a field-schema request that reached the site
before the type list's answer left it was sent without waiting for that answer. Latency makes the
list's answer take a second, so a read sent after it cannot look concurrent by accident.
"""

from typing import Any

import pytest
from destination_truth import assert_destination_matches_site
from shotgun_testing import script_auth

from shotgun_source import ShotgunConfigError, load, shotgun_source
from shotgun_source.sandbox import RequestRecord

LATENCY = 1.0


def schema_requests(sandbox: Any) -> tuple[RequestRecord, dict[str, list[RequestRecord]]]:
    """The type-list request and the field-schema requests by entity type (answered or refused)."""
    records = [r for r in sandbox.requests if r.path.startswith("/api/v1/schema")]
    (listed,) = [r for r in records if r.path.rstrip("/") == "/api/v1/schema"]
    fields: dict[str, list[RequestRecord]] = {}
    for record in records:
        if record.path.endswith("/fields"):
            fields.setdefault(record.path.split("/")[4], []).append(record)
    return listed, fields


def answered_at(record: RequestRecord) -> float:
    return record.time + record.duration


def test_field_schemas_are_read_with_the_type_list_and_a_failed_guess_after_it(
    sandbox: Any, make_pipeline: Any
) -> None:
    sandbox.faults.latency = LATENCY
    source = shotgun_source(
        site_url=sandbox.url, credentials=script_auth(sandbox), entities=["Shot", "versions", "asset"]
    )
    assert sorted(source.resources) == ["assets", "shots", "versions"]
    listed, fields = schema_requests(sandbox)
    # a type's name and its slug are both taken in the path: asked for while the list was on its way
    for guess in ("Shot", "versions"):
        (record,) = fields[guess]
        assert record.status == 200
        assert record.time < answered_at(listed), f"the schema of {guess} waited for the type list"
    assert "Version" not in fields, "Version's schema was read twice"
    # "asset" (another case) is refused in a path; the list resolves it, and Asset is read after it
    assert [r.status for r in fields["asset"]] == [404]
    (asset,) = fields["Asset"]
    assert asset.status == 200 and asset.time >= answered_at(listed)
    # the schemas read by guess are the right types': the load equals the site, column for column
    sandbox.faults.latency = 0
    pipeline = make_pipeline()
    load(pipeline, source)
    assert_destination_matches_site(pipeline, sandbox.site, ["Shot", "Version", "Asset"])


def test_an_unknown_name_still_fails_naming_the_types_the_site_has(sandbox: Any) -> None:
    with pytest.raises(ShotgunConfigError, match=r"Unknown ShotGrid entity type\(s\): Shoot\b.*Shot"):
        shotgun_source(site_url=sandbox.url, credentials=script_auth(sandbox), entities=["Shot", "Shoot"])
