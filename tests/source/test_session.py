"""The site session lends its `_search` clients per request: a handful, however many threads read.

Each client costs two resolutions of dlt's runtime configuration; one per reader thread made about
23 in a full load of the five default types (each id-range read has threads of its own).
"""

from typing import Any

from destination_truth import assert_destination_matches_site

from shotgun_source import load
from shotgun_source.site_changes import site_session_of

FIVE = ["Project", "Shot", "Task", "Asset", "Version"]
SLOTS = 2


def test_parallel_reads_share_a_few_clients(sandbox: Any, source_for: Any, make_pipeline: Any) -> None:
    sandbox.faults.latency = 0.02  # so the readers really overlap
    source = source_for(sandbox, entities=FIVE, page_size=50, max_concurrent_requests=SLOTS)
    pipeline = make_pipeline()
    load(pipeline, source)
    assert_destination_matches_site(pipeline, sandbox.site, FIVE)
    session = site_session_of(source)
    assert session is not None
    # in use at once: one per request in flight, and one per paging generator of the event log
    # (at most one per type) that holds its client between pages
    assert 1 <= session.clients.made <= SLOTS + len(FIVE), session.clients.made
