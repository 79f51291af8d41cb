"""`--check`: signs in, lists the entity types, reads one record of each loaded type and exits, in
seconds, with one exit status per failure; it never loads anything or creates a pipeline."""

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from local_servers import HTML_PAGE, closed_port, one_answer_server
from timing import assert_fast

from inspection.helpers import clean_env, run_main, run_script


def check(cwd: Path, env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """`python pipelines/shotgun_pipeline.py --check` in `cwd`: exit status, stdout, stderr."""
    started = time.monotonic()
    result = run_script(cwd, "--check", *args, env=env, timeout=60)
    assert_fast(time.monotonic() - started, "python pipelines/shotgun_pipeline.py --check")
    assert_nothing_created(cwd)
    return result.returncode, result.stdout, result.stderr


@pytest.fixture
def check_here(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., tuple[int, str, str]]:
    """The script's `main(["--check", ...])` in this process, with `env` as the only ShotGrid
    settings and tmp_path as the working directory: exit status, stdout, stderr."""

    def run(env: dict[str, str], *args: str) -> tuple[int, str, str]:
        for key in list(os.environ):
            if key.startswith(("SOURCES__", "RUNTIME__REQUEST")):
                monkeypatch.delenv(key)
        for key, value in clean_env(tmp_path, **env).items():
            if key.startswith(("SOURCES__", "DLT_DATA_DIR")):
                monkeypatch.setenv(key, value)
        monkeypatch.chdir(tmp_path)
        started = time.monotonic()
        status, out, err = run_main("--check", *args)
        assert_fast(time.monotonic() - started, f"--check in this process (exit {status})")
        assert_nothing_created(tmp_path)
        return status, out, err

    return run


def assert_nothing_created(cwd: Path) -> None:
    assert not (cwd / "dlt_data" / "pipelines").exists(), "a check must not create a pipeline"
    assert not list(cwd.glob("*.duckdb")), "a check must not load anything"


@pytest.fixture(scope="module")
def web_server() -> Iterator[str]:
    """`127.0.0.1:port` of a plain http server that answers every request with an HTML page."""
    with one_answer_server(HTML_PAGE, "text/html") as (url, _):
        yield url.removeprefix("http://")


def test_check_lists_the_entity_types_and_reads_each_loaded_type(sandbox: Any, tmp_path: Path) -> None:
    sandbox.clear_requests()
    status, out, err = check(tmp_path, sandbox.env())
    assert status == 0, err
    assert f"Checking ShotGrid site {sandbox.url} as script {sandbox.script_name}" in out
    types = sandbox.site.entity_types()
    assert f"schema      {len(types)} entity types: {', '.join(sorted(types))}" in out
    assert "one record of each: Project, Shot, Task, Asset, Version, EventLogEntry" in out
    assert "OK: the site and the credentials work" in out and "Nothing was loaded." in out
    # one token, the type list, and one single-record read per type: nothing paged
    requests = [r for r in sandbox.requests if r.path.startswith("/api/v1")]
    searches = [r for r in requests if r.path.endswith("/_search")]
    assert len(searches) == 6 and all(r.rows <= 1 for r in searches)
    assert len(requests) == 2 + len(searches)


def test_check_honours_entities_from_the_flag_and_the_settings(
    shared_sandbox: Any, check_here: Callable[..., tuple[int, str, str]]
) -> None:
    status, out, err = check_here(shared_sandbox.env(), "--entities", "shots,CustomEntity01")
    assert status == 0, err
    assert "one record of each: Shot, CustomEntity01, EventLogEntry" in out
    env = {
        **shared_sandbox.env(),
        "SOURCES__SHOTGUN__ENTITIES": '["Note"]',
        "SOURCES__SHOTGUN__DELETES": "ignore",
    }
    status, out, err = check_here(env)
    assert status == 0, err
    assert "one record of each: Note\n" in out


FAILURES = {
    # name: (settings, exit status, words the message must hold)
    "bad site URL": (
        {"SOURCES__SHOTGUN__SITE_URL": "ftp://studio.example.com"},
        2,
        ["check failed (setting)", "not an http(s) address", "SOURCES__SHOTGUN__SITE_URL"],
    ),
    "plain http to another machine": (
        {"SOURCES__SHOTGUN__SITE_URL": "http://studio.example.com"},
        2,
        ["check failed (setting)", "plain http"],
    ),
    "unknown entity type": (
        {"SOURCES__SHOTGUN__ENTITIES": '["Shot", "Shoot"]'},
        2,
        ["check failed (setting)", "Unknown ShotGrid entity type(s): Shoot", "These credentials can read"],
    ),
    "entities not a list": (
        {"SOURCES__SHOTGUN__ENTITIES": "Shot,Version"},
        2,
        ["check failed (setting)", "`entities`", "as JSON"],
    ),
    "no credentials": (
        {"SOURCES__SHOTGUN__CREDENTIALS__CLIENT_ID": "", "SOURCES__SHOTGUN__CREDENTIALS__CLIENT_SECRET": ""},
        2,
        ["check failed (setting)", "credentials are not configured"],
    ),
    "DNS": (
        {"SOURCES__SHOTGUN__SITE_URL": "https://no-such-studio.invalid"},
        3,
        ["check failed (dns)", "no-such-studio.invalid does not resolve", "spelled right"],
    ),
    "refused": (
        {"SOURCES__SHOTGUN__SITE_URL": "http://127.0.0.1:{closed_port}"},
        4,
        ["check failed (refused)", "refused the connection on port {closed_port}"],
    ),
    "TLS": (
        {"SOURCES__SHOTGUN__SITE_URL": "https://{web_server}"},
        5,
        ["check failed (connection)", "TLS handshake failed"],
    ),
    "not ShotGrid": (
        {"SOURCES__SHOTGUN__SITE_URL": "http://{web_server}"},
        6,
        ["check failed (not shotgrid)", "does not answer like a ShotGrid site", "Check the site URL"],
    ),
    "bad credentials": (
        {"SOURCES__SHOTGUN__CREDENTIALS__CLIENT_SECRET": "not-the-key"},
        7,
        ["check failed (credentials)", "refused the script key", "code 102", "CLIENT_SECRET"],
    ),
}


@pytest.mark.parametrize("failure", list(FAILURES))
def test_check_failure_has_its_own_status_and_says_what_to_fix(
    failure: str, shared_sandbox: Any, web_server: str, check_here: Callable[..., tuple[int, str, str]]
) -> None:
    settings, expected_status, words = FAILURES[failure]
    values = {"closed_port": str(closed_port()), "web_server": web_server}
    env = {**shared_sandbox.env(), **{k: v.format(**values) for k, v in settings.items()}}
    status, out, err = check_here(env)
    assert status == expected_status, out + err
    for word in words:
        assert word.format(**values) in err, (word, err)
    assert "not-the-key" not in out + err
    assert "Traceback" not in err


def test_check_without_a_site_url_names_the_setting(tmp_path: Path) -> None:
    status, _, err = check(tmp_path, {})
    assert status == 2
    assert (
        "check failed (setting): missing setting(s) site_url" in err and "SOURCES__SHOTGUN__SITE_URL" in err
    )


def test_wrong_key_exits_7_from_the_command_line(shared_sandbox: Any, tmp_path: Path) -> None:
    env = {**shared_sandbox.env(), "SOURCES__SHOTGUN__CREDENTIALS__CLIENT_SECRET": "not-the-key"}
    status, out, err = check(tmp_path, env)
    assert status == 7 and "refused the script key" in err
    assert "not-the-key" not in out + err


def test_check_names_the_types_the_credentials_may_not_read(
    sandbox: Any, check_here: Callable[..., tuple[int, str, str]]
) -> None:
    sandbox.site.add_script("limited_loader", "limited-key", denied_entity_types=["Version", "EventLogEntry"])
    env = {
        **sandbox.env(),
        "SOURCES__SHOTGUN__CREDENTIALS__CLIENT_ID": "limited_loader",
        "SOURCES__SHOTGUN__CREDENTIALS__CLIENT_SECRET": "limited-key",
    }
    status, out, err = check_here(env)
    assert status == 8, out + err
    assert "check failed (permission)" in err
    assert "may not read Version, EventLogEntry, which this pipeline loads" in err
    assert 'set deletes = "ignore"' in err and "code 104" in err
    assert "one record of each: Project, Shot, Task, Asset" in out


def test_check_of_a_site_that_is_down_says_run_later(
    sandbox: Any, check_here: Callable[..., tuple[int, str, str]]
) -> None:
    sandbox.faults.down = True
    sandbox.clear_requests()
    status, _, err = check_here(sandbox.env())
    assert status == 1
    assert "check failed (unavailable)" in err and "Run again later" in err
    # a check tries each request twice, not with a run's patient retries
    assert [r.status for r in sandbox.requests if r.kind == "token"] == [503, 503]
