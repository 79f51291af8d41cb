"""Secrets never reach logs, exceptions, traces, load packages, state or tables. (That the bearer
token goes to the configured site only is tested where requests are signed: tests/source/test_auth.py,
test_rest_api_names.py and test_paginator.py, with links and redirects to another host.)

The script runs as users run it, with every log at DEBUG (dlt's own via `RUNTIME__LOG_LEVEL`, and
the root logger, so urllib3 and requests log each request), once with a script key and once with
a user login, then fails three ways. Every output, `dlt pipeline ... trace` and `info`, and every
file under the run directory (gzip and parquet opened, the DuckDB file both as bytes and table by
table, the stored pipeline state decompressed) is searched for the key, the password and every
access and refresh token the sandbox issued, caught at the source.
"""

import gzip
import subprocess
import sys
import traceback
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest
from dlt.pipeline.exceptions import PipelineStepFailed
from dlt.pipeline.state_sync import decompress_state
from dlt.sources.rest_api import rest_api_source
from shotgun_testing import rest_api_config_for

from reliability.helpers import CLI_TIMEOUT, REPO, SCRIPT, CliDir, make_pipeline, run_source, script_auth

DEBUG_BOOTSTRAP = """
import logging, runpy, sys
logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
for name in ("urllib3", "requests", "dlt"):
    logging.getLogger(name).setLevel(logging.DEBUG)
script = sys.argv[1]
sys.argv = sys.argv[1:]
runpy.run_path(script, run_name="__main__")
"""
DEBUG_ENV = {"RUNTIME__LOG_LEVEL": "DEBUG", "RUNTIME__REQUEST_MAX_ATTEMPTS": "3"}
DEBUG_ENV["RUNTIME__REQUEST_BACKOFF_FACTOR"] = "0.1"


def capture_tokens(sandbox: Any) -> list[str]:
    """Every access and refresh token the sandbox hands out from now on (its own log redacts them)."""
    issued: list[str] = []
    issue = sandbox.tokens.issue

    def recording_issue(*args: Any, **kwargs: Any) -> dict[str, Any]:
        answer: dict[str, Any] = issue(*args, **kwargs)
        issued.extend(str(answer[k]) for k in ("access_token", "refresh_token") if answer.get(k))
        return answer

    sandbox.tokens.issue = recording_issue
    return issued


def run_debug(cli: CliDir, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The pipeline script with every logger at DEBUG."""
    return subprocess.run(
        [sys.executable, "-c", DEBUG_BOOTSTRAP, str(SCRIPT), *args],
        cwd=cli.cwd,
        env=cli.env(env, DEBUG_ENV),
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
    )


def run_dlt(cli: CliDir, *args: str) -> str:
    """`dlt pipeline <name> ...`, dlt's own inspection commands, on the script's working dir."""
    dlt_cli = Path(sys.executable).parent / "dlt"
    command = [str(dlt_cli), "--non-interactive", "-vv", "pipeline", "--pipelines-dir"]
    result = subprocess.run(
        [*command, str(cli.pipelines_dir), cli.pipeline_name, *args],
        cwd=cli.cwd,
        env=cli.env({}),
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
    )
    assert result.returncode == 0, f"dlt pipeline {' '.join(args)} failed: {result.stderr[-2000:]}"
    return result.stdout + result.stderr


def _duckdb_text(path: Path) -> str:
    """Every value of every table of every schema, as text; stored pipeline states decompressed."""
    parts: list[str] = []
    with duckdb.connect(str(path), read_only=True) as con:
        tables = con.execute("select table_schema, table_name from information_schema.tables").fetchall()
        for schema, table in tables:
            rows = con.execute(f'select * from "{schema}"."{table}"').fetchall()
            parts.append(repr(rows))
            if table == "_dlt_pipeline_state":
                for (state,) in con.execute(f'select "state" from "{schema}"."{table}"').fetchall():
                    parts.append(repr(decompress_state(state)))
    return "\n".join(parts)


def readable_contents(root: Path) -> Iterator[tuple[Path, str]]:
    """(file, text to search) for every file under `root`, opened the way its format needs."""
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        raw = path.read_bytes()
        yield path, raw.decode("latin-1")
        if path.suffix == ".gz":
            yield path, gzip.decompress(raw).decode("utf-8", "replace")
        elif path.suffix == ".parquet":
            yield path, repr(pq.read_table(path).to_pylist())
        elif path.suffix == ".duckdb":
            yield path, _duckdb_text(path)


def found(secrets: dict[str, str], text: str) -> list[str]:
    return [name for name, secret in secrets.items() if secret in text]


def test_no_secret_in_any_log_trace_package_state_or_table(sandbox: Any, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:12]
    key, password = f"scriptkey-{tag}-DoNotLeak", f"password-{tag}-DoNotLeak"
    wrong_key, wrong_password = f"wrongkey-{tag}-DoNotLeak", f"wrongpassword-{tag}-DoNotLeak"
    sandbox.site.add_script("leak_test_script", key)
    sandbox.site.passwords[sandbox.login] = password
    tokens = capture_tokens(sandbox)
    sandbox.faults.token_lifetime = 2  # several access tokens, refresh grants, a renewal on 401
    sandbox.faults.latency = 0.02
    site = {"SOURCES__SHOTGUN__SITE_URL": sandbox.url}
    script = {
        **site,
        "SOURCES__SHOTGUN__CREDENTIALS__CLIENT_ID": "leak_test_script",
        "SOURCES__SHOTGUN__CREDENTIALS__CLIENT_SECRET": key,
    }
    login = {
        **site,
        "SOURCES__SHOTGUN__CREDENTIALS__USERNAME": sandbox.login,
        "SOURCES__SHOTGUN__CREDENTIALS__PASSWORD": password,
    }
    args = ("--entities", "Shot,Version", "--page-size", "100")
    cli = CliDir(tmp_path / "run")
    outputs: list[tuple[str, str]] = []

    def step(what: str, env: dict[str, str], expect_ok: bool) -> None:
        result = run_debug(cli, env, *args)
        outputs.append((what, result.stdout + result.stderr))
        assert (result.returncode == 0) == expect_ok, f"{what}: {result.returncode} {result.stderr[-3000:]}"

    sandbox.faults.error_burst(2, status=503)  # retries are logged too
    step("load with a script key", script, True)
    revoked = {"done": False}

    def revoke_once(request: Any) -> None:
        if request.kind == "search" and not revoked["done"]:
            revoked["done"] = True
            sandbox.faults.revoke_all_tokens()

    sandbox.faults.before_request = revoke_once
    sandbox.site.mutate("Version", 0.3, seed=3)
    step("load with a user login", login, True)
    sandbox.faults.before_request = None
    step("wrong script key", {**script, "SOURCES__SHOTGUN__CREDENTIALS__CLIENT_SECRET": wrong_key}, False)
    step("wrong password", {**login, "SOURCES__SHOTGUN__CREDENTIALS__PASSWORD": wrong_password}, False)
    sandbox.site.mutate("Version", 0.3, seed=4)
    pages = {"n": 0}

    def down_on_second_page(request: Any) -> None:
        if request.kind == "search":
            pages["n"] += 1
            sandbox.faults.down = pages["n"] >= 2

    sandbox.faults.before_request = down_on_second_page
    step("site down while paging", script, False)  # leaves a trace with the failure in it
    sandbox.faults.reset()

    for command in ("trace", "info"):
        outputs.append((f"dlt pipeline {command}", run_dlt(cli, command)))
    assert "503" in outputs[-2][1], "the trace should show the failed run, exception text included"
    assert any("DEBUG" in text for _, text in outputs) and any("urllib3" in text for _, text in outputs)
    assert len(tokens) >= 6, f"only {len(tokens)} tokens issued: the runs did not exercise renewals"

    secrets = {"script key": key, "password": password, "wrong key": wrong_key}
    secrets["wrong password"] = wrong_password
    secrets.update({f"token {n}": token for n, token in enumerate(tokens)})
    leaks = [f"{name} in the output of: {what}" for what, text in outputs for name in found(secrets, text)]
    searched = 0
    for path, text in readable_contents(cli.cwd):
        searched += 1
        leaks.extend(f"{name} in {path.relative_to(cli.cwd)}" for name in found(secrets, text))
    assert searched > 20 and cli.database.exists()
    assert not leaks, "secrets leaked:\n" + "\n".join(sorted(set(leaks)))


def test_a_failed_run_s_exception_chain_holds_no_secret(sandbox: Any, tmp_path: Path) -> None:
    """Tokens refused on every page: the whole exception chain, as a traceback prints it, is clean."""
    key = f"scriptkey-{uuid.uuid4().hex[:12]}-DoNotLeak"
    sandbox.site.add_script("chain_test_script", key)
    tokens = capture_tokens(sandbox)

    def revoke_always(request: Any) -> None:
        if request.kind == "search":
            sandbox.faults.revoke_all_tokens()

    sandbox.faults.before_request = revoke_always
    pipeline = make_pipeline(tmp_path)
    credentials = script_auth(sandbox, client_id="chain_test_script", client_secret=key)
    with pytest.raises(PipelineStepFailed) as failed:
        run_source(pipeline, sandbox, credentials=credentials, entities=["Shot"])
    sandbox.faults.reset()
    chain = "".join(traceback.format_exception(failed.value))
    assert "bearer token" in chain and len(tokens) >= 2
    assert key not in chain and not [t for t in tokens if t in chain]
    trace = pipeline.last_trace.asstr(verbosity=2) if pipeline.last_trace else ""
    assert key not in trace and not [t for t in tokens if t in trace]


def test_the_rest_api_forms_keep_every_secret_out_of_traces_files_tables_and_failures(
    sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The generated rest_api config (an auth instance) and a config naming `"auth": "shotgun"`
    (credentials from the environment), with short-lived tokens, then a run whose tokens are refused:
    traces, the config's repr, the exception chain and every file under the run's folder are clean."""
    key = f"scriptkey-{uuid.uuid4().hex[:12]}-DoNotLeak"
    sandbox.site.add_script("rest_api_leak_script", key)
    tokens = capture_tokens(sandbox)
    sandbox.faults.token_lifetime = 2
    sandbox.faults.latency = 0.02
    credentials = {"client_id": "rest_api_leak_script", "client_secret": key}
    config = rest_api_config_for(
        sandbox, credentials=script_auth(sandbox, **credentials), entities=["Shot", "Version"], page_size=100
    )
    pipeline = make_pipeline(tmp_path, "rest_api_secrets")
    pipeline.run(rest_api_source(config, name="shotgun_rest"), loader_file_format="parquet")
    texts = [("generated config trace", pipeline.last_trace.asstr(verbosity=2)), ("config", repr(config))]

    monkeypatch.setenv("SOURCES__SHOTGUN__CREDENTIALS__CLIENT_ID", "rest_api_leak_script")
    monkeypatch.setenv("SOURCES__SHOTGUN__CREDENTIALS__CLIENT_SECRET", key)
    named = {
        "client": {"base_url": f"{sandbox.url}/api/v1/", "auth": "shotgun"},
        "resources": [
            {
                "name": "notes",
                "endpoint": {"path": "entity/Note", "paginator": "shotgun_links", "data_selector": "data"},
            }
        ],
    }
    pipeline.run(rest_api_source(named, name="shotgun"))
    texts.append(("named auth trace", pipeline.last_trace.asstr(verbosity=2)))

    def revoke_always(request: Any) -> None:
        if request.kind == "search":
            sandbox.faults.revoke_all_tokens()

    sandbox.faults.before_request = revoke_always
    with pytest.raises(PipelineStepFailed) as failed:
        pipeline.run(
            rest_api_source(
                rest_api_config_for(
                    sandbox, credentials=script_auth(sandbox, **credentials), entities=["Shot"]
                ),
                name="shotgun_rest",
            )
        )
    sandbox.faults.reset()
    chain = "".join(traceback.format_exception(failed.value))
    assert "bearer token" in chain
    texts += [("failure", chain), ("failed run trace", pipeline.last_trace.asstr(verbosity=2))]
    assert len(tokens) >= 4, f"only {len(tokens)} tokens issued: the runs did not renew"

    secrets = {"script key": key, **{f"token {n}": token for n, token in enumerate(tokens)}}
    leaks = [f"{name} in {what}" for what, text in texts for name in found(secrets, text)]
    searched = 0
    for path, text in readable_contents(tmp_path):
        searched += 1
        leaks.extend(f"{name} in {path.relative_to(tmp_path)}" for name in found(secrets, text))
    assert searched > 10
    assert not leaks, "secrets leaked:\n" + "\n".join(sorted(set(leaks)))


def test_secrets_toml_is_git_ignored() -> None:
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", ".dlt/secrets.toml"], cwd=REPO, capture_output=True, timeout=30
    )
    assert ignored.returncode == 0, "a .dlt/secrets.toml would be committed"
    example = subprocess.run(
        ["git", "check-ignore", "-q", ".dlt/secrets.toml.example"], cwd=REPO, capture_output=True, timeout=30
    )
    assert example.returncode == 1, "the example (no secrets in it) should stay in the repository"
