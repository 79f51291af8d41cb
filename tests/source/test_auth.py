"""ShotgunAuth over real HTTP: one token for parallel resources, refresh on 401, user login, sudo,
and the bearer token never leaving the configured site."""

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from destination_truth import assert_destination_matches_site
from dlt.pipeline.exceptions import PipelineStepFailed
from dlt.sources.helpers.rest_client import RESTClient
from local_servers import EMPTY_PAGE_OF_RECORDS, Request, one_answer_server
from shotgun_testing import script_auth

from shotgun_source import ShotgunAuth, ShotgunAuthError, ShotgunResponseError
from shotgun_source.errors import find_shotgun_error

FIVE = ["Project", "Shot", "Task", "Asset", "Version"]


def _token_requests(sandbox: Any) -> int:
    return sum(1 for r in sandbox.requests if r.kind == "token")


@pytest.fixture
def other_host() -> Iterator[tuple[str, list[Request]]]:
    with one_answer_server(EMPTY_PAGE_OF_RECORDS, "application/json") as server:
        yield server


def test_parallel_resources_share_one_token(sandbox: Any, source_for: Any, make_pipeline: Any) -> None:
    sandbox.faults.latency = 0.02  # so the five resources really overlap
    sandbox.clear_requests()
    pipeline = make_pipeline()
    pipeline.run(source_for(sandbox))
    assert _token_requests(sandbox) == 1


def test_threads_asking_at_once_fetch_one_token(sandbox: Any) -> None:
    auth = script_auth(sandbox).bind(sandbox.url)
    sandbox.faults.latency = 0.2
    sandbox.clear_requests()
    tokens: list[str] = []
    threads = [threading.Thread(target=lambda: tokens.append(auth.current_token())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(tokens) == 8 and len(set(tokens)) == 1
    assert _token_requests(sandbox) == 1 == auth.token_requests


def test_tokens_are_renewed_before_they_expire(sandbox: Any, source_for: Any, make_pipeline: Any) -> None:
    """3 s tokens over a run of several seconds, one request at a time: each new token is asked for
    while the one before still lives (a quarter of the lifetime ahead), not after a request was
    refused with 401. Told from the gaps between the site's token answers: renewing only after
    expiry leaves gaps longer than the lifetime."""
    lifetime = 3.0
    sandbox.faults.token_lifetime = lifetime
    sandbox.faults.latency = 0.02
    sandbox.clear_requests()
    pipeline = make_pipeline()
    pipeline.run(source_for(sandbox, entities=["Shot", "Version"], page_size=15, max_concurrent_requests=1))
    log = sandbox.requests
    sandbox.faults.reset()
    issued = [r.time for r in log if r.kind == "token" and r.status == 200]
    gaps = [later - earlier for earlier, later in zip(issued, issued[1:], strict=False)]
    span = log[-1].time - log[0].time
    refused = sum(1 for r in log if r.status == 401)
    print(
        f"\n{len(issued)} tokens over {span:.1f} s, gaps {[round(g, 2) for g in gaps]} s, {refused} refused"
    )
    assert span > 1.2 * lifetime, f"the run lasted {span:.1f} s, too short to outlive a token"
    assert len(issued) >= 2, f"{len(issued)} tokens over {span:.1f} s of {lifetime:g} s tokens"
    assert all(gap < lifetime for gap in gaps), f"a token was renewed after it expired: gaps {gaps}"
    assert_destination_matches_site(pipeline, sandbox.site, ["Shot", "Version"])


def test_user_login_loads(sandbox: Any, source_for: Any, make_pipeline: Any) -> None:
    credentials = ShotgunAuth(username=sandbox.login, password=sandbox.password)
    pipeline = make_pipeline()
    pipeline.run(source_for(sandbox, credentials=credentials, entities=["Shot"]))
    assert_destination_matches_site(pipeline, sandbox.site, ["Shot"])
    grants = [r.body for r in sandbox.requests if r.kind == "token"]
    assert grants and all("password" in str(g) for g in grants)


def test_sudo_as_login(sandbox: Any, source_for: Any, make_pipeline: Any) -> None:
    pipeline = make_pipeline()
    credentials = script_auth(sandbox, sudo_as_login=sandbox.login)
    pipeline.run(source_for(sandbox, credentials=credentials, entities=["Project"]))
    assert_destination_matches_site(pipeline, sandbox.site, ["Project"])
    with pytest.raises(ShotgunAuthError, match="code 102"):
        source_for(sandbox, credentials=script_auth(sandbox, sudo_as_login="nobody.here"))


def test_tokens_revoked_mid_run_are_renewed_once(sandbox: Any, source_for: Any, make_pipeline: Any) -> None:
    calls = {"n": 0}

    def revoke_on_third_search(request: Any) -> None:
        if request.kind == "search":
            calls["n"] += 1
            if calls["n"] == 3:
                sandbox.faults.revoke_all_tokens()

    sandbox.faults.before_request = revoke_on_third_search
    pipeline = make_pipeline()
    pipeline.run(source_for(sandbox, page_size=300))
    sandbox.faults.before_request = None
    assert any(r.status == 401 for r in sandbox.requests)
    assert_destination_matches_site(pipeline, sandbox.site, FIVE)


def test_token_is_not_sent_to_another_host(sandbox: Any, other_host: tuple[str, list[Request]]) -> None:
    url, seen = other_host
    auth = script_auth(sandbox).bind(sandbox.url)
    client = RESTClient(base_url=url, auth=auth)
    client.get("/api/v1/entity/Shot")
    assert [request.authorization for request in seen] == [None]
    own = RESTClient(base_url=f"{sandbox.url}/api/v1", auth=auth).get(
        "entity/Shot", params={"fields": "code"}
    )
    assert own.status_code == 200


def test_redirect_away_from_the_site_is_refused(
    sandbox: Any, source_for: Any, make_pipeline: Any, other_host: tuple[str, list[Request]]
) -> None:
    url, seen = other_host
    source = source_for(sandbox, entities=["Shot"])
    sandbox.faults.redirect_next_to = f"{url}/elsewhere"
    with pytest.raises(PipelineStepFailed) as failed:
        make_pipeline().run(source)
    error = find_shotgun_error(failed.value)
    assert isinstance(error, ShotgunResponseError) and "redirected away" in str(error)
    assert all(request.authorization is None for request in seen)
