"""Bad input gets a clear error that names the problem and the fix, fast, and moves no cursor."""

import time
from collections.abc import Iterator
from typing import Any

import pytest
from destination_truth import newest_change
from dlt.pipeline.exceptions import PipelineStepFailed
from local_servers import HTML_PAGE, closed_port, one_answer_server
from shotgun_testing import cursor_of, script_auth
from timing import assert_fast

from shotgun_source import (
    ShotgunAuthError,
    ShotgunConfigError,
    ShotgunConnectionError,
    ShotgunResponseError,
    shotgun_source,
)
from shotgun_source.errors import find_shotgun_error


@pytest.fixture
def html_site() -> Iterator[str]:
    with one_answer_server(HTML_PAGE, "text/html") as (url, _):
        yield url


def _timed(fn: Any) -> tuple[BaseException, float]:
    started = time.monotonic()
    with pytest.raises(Exception) as caught:
        fn()
    return caught.value, time.monotonic() - started


def test_wrong_script_key_fails_fast_naming_the_fix(sandbox: Any) -> None:
    wrong = "not-the-key-0123456789"
    error, took = _timed(
        lambda: shotgun_source(site_url=sandbox.url, credentials=script_auth(sandbox, client_secret=wrong))
    )
    assert isinstance(error, ShotgunAuthError), error
    assert len([r for r in sandbox.requests if r.kind == "token"]) == 1, "a refused key was tried again"
    assert_fast(took, "a wrong script key refused")
    message = str(error)
    assert "refused the script key" in message and "client_secret" in message
    assert wrong not in message and sandbox.script_key not in message


def test_wrong_login_fails_fast(sandbox: Any) -> None:
    credentials = script_auth(
        sandbox, client_id=None, client_secret=None, username=sandbox.login, password="nope-nope"
    )
    error, took = _timed(lambda: shotgun_source(site_url=sandbox.url, credentials=credentials))
    assert isinstance(error, ShotgunAuthError) and "user login" in str(error)
    assert "nope-nope" not in str(error)
    assert_fast(took, "a wrong login refused")


def test_missing_credentials_name_the_settings(sandbox: Any) -> None:
    error, _ = _timed(
        lambda: shotgun_source(site_url=sandbox.url, credentials=script_auth(sandbox, client_secret=None))
    )
    assert isinstance(error, ShotgunConfigError)
    assert "client_secret is missing" in str(error) and "SOURCES__SHOTGUN__CREDENTIALS__CLIENT_SECRET" in str(
        error
    )


def test_unknown_entity_lists_the_valid_ones(sandbox: Any, source_for: Any) -> None:
    error, took = _timed(lambda: source_for(sandbox, entities=["Shot", "Spaceship"]))
    assert isinstance(error, ShotgunConfigError)
    assert_fast(took, "an unknown entity type refused")
    assert "Spaceship" in str(error) and "Version" in str(error) and "HumanUser" in str(error)


def test_closed_port_fails_fast(sandbox: Any) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    error, took = _timed(lambda: shotgun_source(site_url=url, credentials=script_auth(sandbox)))
    assert isinstance(error, ShotgunConnectionError)
    assert_fast(took, "a connection failure reported")
    assert "connection was refused" in str(error)


def test_unresolvable_host_fails_fast(sandbox: Any) -> None:
    url = "https://no-such-studio.invalid"
    error, took = _timed(lambda: shotgun_source(site_url=url, credentials=script_auth(sandbox)))
    assert isinstance(error, ShotgunConnectionError)
    assert_fast(took, "a connection failure reported")
    assert "does not resolve" in str(error) and "SOURCES__SHOTGUN__SITE_URL" in str(error)


def test_a_site_that_is_not_shotgrid(html_site: str, sandbox: Any) -> None:
    error, took = _timed(lambda: shotgun_source(site_url=html_site, credentials=script_auth(sandbox)))
    assert isinstance(error, ShotgunResponseError)
    assert_fast(took, "a site that is not ShotGrid refused")
    assert "does not answer like a ShotGrid site" in str(error)


@pytest.mark.parametrize(
    "url, fragment",
    [
        ("http://studio.shotgrid.autodesk.com", "plain http to another machine"),
        ("ftp://studio.shotgrid.autodesk.com", "not an http(s) address"),
        ("https://studio.shotgrid.autodesk.com/page/123", "has a path"),
        ("", "not set"),
    ],
)
def test_bad_site_urls_are_refused_before_any_request(sandbox: Any, url: str, fragment: str) -> None:
    sandbox.clear_requests()
    error, took = _timed(lambda: shotgun_source(site_url=url, credentials=script_auth(sandbox)))
    assert isinstance(error, ShotgunConfigError) and fragment in str(error)
    assert sandbox.requests == []
    assert_fast(took, f"a bad site URL refused ({fragment})")


@pytest.mark.parametrize(
    "settings, fragment",
    [
        ({"page_size": 0}, "page_size must be a whole number from 1 to 5000"),
        ({"page_size": 5001}, "page_size must be a whole number from 1 to 5000"),
        ({"lookback_seconds": -1}, "lookback_seconds must be"),
        ({"initial_updated_at": "yesterday"}, "initial_updated_at must look like"),
    ],
)
def test_invalid_settings_are_refused_before_any_request(
    sandbox: Any, source_for: Any, settings: dict[str, Any], fragment: str
) -> None:
    sandbox.clear_requests()
    error, _ = _timed(lambda: source_for(sandbox, **settings))
    assert isinstance(error, ShotgunConfigError) and fragment in str(error)
    assert sandbox.requests == []


SHOTS_ONLY: dict[str, Any] = {"entities": ["Shot"], "deletes": "ignore", "refresh_link_names": False}
"""No event-log read beside the Shot pages: the one corrupted answer is surely a Shot page, not an
EventLogEntry page that a parallel resource happened to ask for first."""


@pytest.mark.parametrize(
    "kind, fragment",
    [
        ("not_json", "body that is not JSON"),
        ("truncated_json", "body that is not JSON"),
        ("no_data", "without `data`"),
        ("no_updated_at", "without `updated_at`"),
    ],
)
def test_malformed_pages_fail_the_run_and_move_no_cursor(
    sandbox: Any, source_for: Any, make_pipeline: Any, kind: str, fragment: str
) -> None:
    pipeline = make_pipeline()
    pipeline.run(source_for(sandbox, **SHOTS_ONLY))
    cursor = cursor_of(pipeline, "shots")
    assert cursor == newest_change(sandbox.site, "Shot")
    shot = sandbox.site.records("Shot")[0]
    sandbox.site.update("Shot", shot["id"], {"description": "changed after the first run"})

    source = source_for(sandbox, **SHOTS_ONLY)
    sandbox.faults.corrupt_next(kind, count=1)
    started = time.monotonic()
    with pytest.raises(PipelineStepFailed) as failed:
        pipeline.run(source)
    assert_fast(time.monotonic() - started, f"a malformed page ({kind}) failing the run")
    assert fragment in str(find_shotgun_error(failed.value))
    assert cursor_of(pipeline, "shots") == cursor

    sandbox.faults.reset()
    pipeline.run(source_for(sandbox, **SHOTS_ONLY))
    with pipeline.sql_client() as client:
        rows = client.execute_sql("select description from shots where id = %s", shot["id"])
    assert rows == [("changed after the first run",)]
