"""rest_api configs written as plain data name ShotgunAuth and the paginators; the token stays on the
config's origin; the links paginator in its place; the generated config extended with a user's reads.

All over real HTTP against the sandbox, into DuckDB files."""

import tomllib
from collections import Counter
from collections.abc import Callable, Iterator
from copy import deepcopy
from typing import Any, get_args

import dlt
import pytest
from dlt.pipeline.exceptions import PipelineStepFailed
from dlt.sources.rest_api import rest_api_source
from dlt.sources.rest_api.typing import AuthType, PaginatorType
from local_servers import EMPTY_PAGE_OF_RECORDS, Request, one_answer_server
from shotgun_testing import rest_api_config_for, script_auth

from shotgun_source import ShotgunConfigError, ShotgunLinksPaginator, shotgun_rest_api_config
from shotgun_source.rest_api_config import register_rest_api_names
from shotgun_source.settings import SEARCH_CONTENT_TYPE

PLAIN_CONFIG = """
[client]
base_url = "{site}/api/v1/"
auth = {auth}

[[resources]]
name = "event_log_entries"
primary_key = "id"
write_disposition = "merge"
[resources.endpoint]
path = "entity/EventLogEntry/_search"
method = "POST"
paginator = "shotgun_keyset"
data_selector = "data"
headers = {{ "Content-Type" = "application/vnd+shotgun.api3_array+json" }}
json = {{ filters = [], fields = ["event_type", "created_at"] }}

[[resources]]
name = "notes"
primary_key = "id"
[resources.endpoint]
path = "entity/Note"
paginator = "shotgun_links"
data_selector = "data"
params = {{ fields = "subject", sort = "id" }}
"""
"""A rest_api config as a user writes it in a file: the auth and both paginators by name."""


def ids(pipeline: dlt.Pipeline, table: str) -> list[int]:
    return [row[0] for row in pipeline.dataset()[table].select("id").fetchall()]


@pytest.fixture
def other_host() -> Iterator[tuple[str, list[Request]]]:
    """Another origin on loopback: answers an empty page to anything and records what it got."""
    with one_answer_server(EMPTY_PAGE_OF_RECORDS, "application/json") as server:
        yield server


def test_registering_the_names_again_changes_nothing() -> None:
    register_rest_api_names()
    register_rest_api_names()
    assert get_args(AuthType).count("shotgun") == 1
    assert get_args(PaginatorType).count("shotgun_keyset") == 1
    assert get_args(PaginatorType).count("shotgun_links") == 1


@pytest.mark.parametrize("auth_form", ["name", "script", "login"])
def test_a_config_written_as_plain_data_names_the_auth_and_the_paginators(
    sandbox: Any, make_pipeline: Callable[..., dlt.Pipeline], monkeypatch: pytest.MonkeyPatch, auth_form: str
) -> None:
    """`auth = "shotgun"` reads the credentials where the source does (`[sources.shotgun.credentials]`,
    for a rest_api source named shotgun); `{type = "shotgun", ...}` carries them inline."""
    if auth_form == "name":
        auth = '"shotgun"'
        monkeypatch.setenv("SOURCES__SHOTGUN__CREDENTIALS__CLIENT_ID", sandbox.script_name)
        monkeypatch.setenv("SOURCES__SHOTGUN__CREDENTIALS__CLIENT_SECRET", sandbox.script_key)
    elif auth_form == "script":
        script = f'client_id = "{sandbox.script_name}", client_secret = "{sandbox.script_key}"'
        auth = f'{{ type = "shotgun", {script} }}'
    else:
        auth = f'{{ type = "shotgun", username = "{sandbox.login}", password = "{sandbox.password}" }}'
    config = tomllib.loads(PLAIN_CONFIG.format(site=sandbox.url, auth=auth))
    sandbox.clear_requests()
    pipeline = make_pipeline(f"plain_{auth_form}")
    pipeline.run(rest_api_source(config, name="shotgun"))

    events = ids(pipeline, "event_log_entries")
    assert sorted(events) == sorted(r["id"] for r in sandbox.site.records("EventLogEntry"))
    assert len(events) == len(set(events)) > 4000
    assert sorted(ids(pipeline, "notes")) == sorted(r["id"] for r in sandbox.site.records("Note"))
    event_pages = [r.body for r in sandbox.requests if r.kind == "search"]
    assert len(event_pages) == len(events) // 2000 + 1  # keyset pages of the default 2000 rows
    assert all(
        body["sort"] == "id" and body["filters"][-1][:2] == ["id", "greater_than"] for body in event_pages
    )
    assert [r.query.get("page[size]") for r in sandbox.requests if r.kind == "read"] == ["2000"]
    assert all(r.headers.get("authorization") == "Bearer ***" for r in sandbox.requests if r.kind != "token")
    grants = [str(r.body) for r in sandbox.requests if r.kind == "token"]
    # rest_api builds an auth named in the config for each resource: one token each
    assert len(grants) == 2 and all(("password" in grant) == (auth_form == "login") for grant in grants)


def test_an_auth_nobody_bound_binds_to_the_base_url_origin(
    sandbox: Any, make_pipeline: Callable[..., dlt.Pipeline]
) -> None:
    auth = script_auth(sandbox)
    assert auth.site_url is None
    config = tomllib.loads(PLAIN_CONFIG.format(site=sandbox.url, auth='"shotgun"'))
    config["client"]["auth"] = auth
    make_pipeline("plain_instance").run(rest_api_source(config, name="shotgun_own"))
    assert auth.site_url == sandbox.url and auth.token_requests == 1


def test_an_auth_bound_again_to_another_site_starts_over(
    sandbox: Any, other_host: tuple[str, list[Request]]
) -> None:
    """Copies share one token state; binding it to another site must not carry the first site's
    token (or refresh token) there: the state starts over."""
    url, _seen = other_host
    auth = script_auth(sandbox).bind(sandbox.url)
    copy = deepcopy(auth)  # as dlt copies a config
    assert auth.current_token() and copy.token_requests == 1
    auth.bind(url)
    assert auth.access_token is None and auth.token_requests == 0 and auth.site_url == url
    assert copy.site_url == sandbox.url and copy.current_token()  # the copy stays with its site


def test_an_auth_without_credentials_says_which_are_missing(
    sandbox: Any, make_pipeline: Callable[..., dlt.Pipeline]
) -> None:
    config = tomllib.loads(PLAIN_CONFIG.format(site=sandbox.url, auth='"shotgun"'))
    with pytest.raises(PipelineStepFailed) as failed:
        make_pipeline("plain_no_credentials").run(rest_api_source(config, name="shotgun_nobody"))
    assert isinstance(failed.value.__cause__.__cause__, ShotgunConfigError)  # type: ignore[union-attr]
    assert "credentials are not configured" in str(failed.value)
    assert not [r for r in sandbox.requests if r.kind == "token"]


def _plain_shots_config(sandbox: Any, paginator: Any) -> Any:
    return {
        "client": {"base_url": f"{sandbox.url}/api/v1/", "auth": script_auth(sandbox)},
        "resources": [
            {
                "name": "shots",
                "endpoint": {
                    "path": "entity/Shot",
                    "params": {"fields": "code", "page[size]": 50},
                    "paginator": paginator,
                    "data_selector": "data",
                },
            }
        ],
    }


def test_a_link_to_another_origin_gets_no_token(
    sandbox: Any, make_pipeline: Callable[..., dlt.Pipeline], other_host: tuple[str, list[Request]]
) -> None:
    """dlt's own json_link paginator follows any link; the auth signs requests to its origin only."""
    url, seen = other_host
    sandbox.faults.next_link_host = url
    pipeline = make_pipeline("link_elsewhere")
    pipeline.run(
        rest_api_source(_plain_shots_config(sandbox, {"type": "json_link", "next_url_path": "links.next"}))
    )
    sandbox.faults.reset()
    assert len(seen) == 1 and seen[0].path.startswith("/api/v1/entity/Shot?")
    assert seen[0].authorization is None, "the bearer token went to another origin"
    assert len(ids(pipeline, "shots")) == 50  # the sandbox's first page, signed
    assert [r.headers.get("authorization") for r in sandbox.requests if r.kind == "read"] == ["Bearer ***"]


def test_a_redirect_to_another_origin_gets_no_token(
    sandbox: Any, make_pipeline: Callable[..., dlt.Pipeline], other_host: tuple[str, list[Request]]
) -> None:
    url, seen = other_host
    sandbox.faults.redirect_next_to = f"{url}/api/v1/entity/Shot"
    make_pipeline("redirect_elsewhere").run(rest_api_source(_plain_shots_config(sandbox, "shotgun_links")))
    sandbox.faults.reset()
    assert len(seen) == 1 and seen[0].authorization is None, "the bearer token followed the redirect"


def test_the_generated_config_refuses_a_redirect_to_another_origin(
    sandbox: Any, make_pipeline: Callable[..., dlt.Pipeline], other_host: tuple[str, list[Request]]
) -> None:
    url, seen = other_host
    config = rest_api_config_for(sandbox, entities=["Shot"])
    sandbox.faults.redirect_next_to = f"{url}/api/v1/entity/Shot/_search"
    with pytest.raises(PipelineStepFailed, match="redirected away from the site"):
        make_pipeline("generated_redirect").run(rest_api_source(config, name="shotgun_rest"))
    sandbox.faults.reset()
    assert seen == []


def test_links_next_reads_an_append_only_list_whole_while_it_grows(
    sandbox: Any, make_pipeline: Callable[..., dlt.Pipeline]
) -> None:
    """The links paginator's place: the event log sorted by id only grows at its end while we page
    (records changing add events), so page numbers shift nothing and no event is skipped. Added
    to a generated config as a user's own resource."""
    site = sandbox.site
    before = {r["id"] for r in site.records("EventLogEntry")}
    shots = site.records("Shot")
    pages = {"n": 0}

    def change_a_shot(request: Any) -> None:
        if request.kind == "read" and request.entity_type == "EventLogEntry":
            pages["n"] += 1
            site.update("Shot", shots[pages["n"]]["id"], {"description": f"event on page {pages['n']}"})

    config = rest_api_config_for(sandbox, entities=["Shot"])
    config["resources"].append(
        {
            "name": "event_log",
            "primary_key": "id",
            "write_disposition": "merge",
            "endpoint": {
                "path": "entity/EventLogEntry",
                "params": {"fields": "event_type,created_at", "sort": "id"},
                "paginator": ShotgunLinksPaginator(page_size=500),
                "data_selector": "data",
            },
        }
    )
    sandbox.faults.before_request = change_a_shot
    pipeline = make_pipeline("append_only")
    pipeline.run(rest_api_source(config, name="shotgun_rest").with_resources("event_log"))
    sandbox.faults.before_request = None
    loaded = ids(pipeline, "event_log")
    assert pages["n"] >= len(before) // 500 and len(site.records("EventLogEntry")) > len(before)
    assert not sorted(before - set(loaded)), "an event that existed before the read was skipped"
    assert len(loaded) == len(set(loaded))


def test_the_generated_config_extended_with_a_summary_and_a_filtered_read(
    sandbox: Any, make_pipeline: Callable[..., dlt.Pipeline]
) -> None:
    site = sandbox.site
    project = max(
        site.records("Project"), key=lambda p: sum(1 for s in site.records("Shot") if s["project"] == p)
    )
    project_link = {"type": "Project", "id": project["id"]}
    config = rest_api_config_for(sandbox, entities=["Shot"])
    shots = next(r for r in config["resources"] if r["name"] == "shots")
    shots["endpoint"]["json"]["filters"].append(["project", "is", project_link])
    config["resources"].append(
        {
            "name": "shot_status_counts",
            "write_disposition": "replace",
            "endpoint": {
                "path": "entity/Shot/_summarize",
                "method": "POST",
                "headers": {"Content-Type": SEARCH_CONTENT_TYPE},
                "json": {
                    "filters": [],
                    "summary_fields": [{"field": "id", "type": "count"}],
                    "grouping": [{"field": "sg_status_list", "type": "exact", "direction": "asc"}],
                },
                "paginator": "single_page",
                "data_selector": "data.groups",
            },
        }
    )
    pipeline = make_pipeline("extended")
    pipeline.run(rest_api_source(config, name="shotgun_rest"))

    want = {s["id"]: s["code"] for s in site.records("Shot") if s["project"]["id"] == project["id"]}
    got = dict(pipeline.dataset()["shots"].select("id", "code").fetchall())
    assert got == want and 0 < len(want) < len(site.records("Shot"))
    counts = pipeline.dataset()["shot_status_counts"].select("group_name", "summaries__id").fetchall()
    assert dict(counts) == Counter(s["sg_status_list"] or "" for s in site.records("Shot"))


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"page_size": 0}, "page_size must be a whole number from 1 to 5000"),
        ({"lookback_seconds": -1}, "lookback_seconds must be a whole number of seconds"),
        ({"initial_updated_at": "yesterday"}, "initial_updated_at must look like"),
        ({"entities": ["Shott"]}, "Unknown ShotGrid entity type"),
        ({"entities": ["Shot"], "fields": {"Shot": ["cod"]}}, "unknown field"),
        ({"site_url": "http://studio.example.com"}, "plain http to another machine"),
    ],
)
def test_the_generator_refuses_bad_settings_saying_which(
    shared_sandbox: Any, setting: dict[str, Any], message: str
) -> None:
    arguments = {"site_url": shared_sandbox.url, "credentials": script_auth(shared_sandbox), **setting}
    with pytest.raises(ShotgunConfigError, match=message):
        shotgun_rest_api_config(**arguments)
