"""The README's Declarative (rest_api) examples, as written there, against the sandbox: the Python
example as a script in a directory of its own, and the TOML config parsed and run."""

import re
import tomllib
from pathlib import Path
from typing import Any

import dlt
import pytest
from destination_truth import assert_destination_matches_site
from dlt.sources.rest_api import rest_api_source
from script_runner import REPO, run_script
from shotgun_testing import SETTLE_SECONDS


def readme_block(marker: str, language: str) -> str:
    readme = (REPO / "README.md").read_text()
    block = re.search(
        rf"<!-- {marker}:start -->\s*```{language}\n(.*?)```\s*<!-- {marker}:end -->", readme, re.S
    )
    assert block, f"README.md lost its {marker} block"
    return block.group(1)


def site_env(sandbox: Any) -> dict[str, str]:
    return {
        "SOURCES__SHOTGUN__SITE_URL": sandbox.url,
        "SOURCES__SHOTGUN__CREDENTIALS__CLIENT_ID": sandbox.script_name,
        "SOURCES__SHOTGUN__CREDENTIALS__CLIENT_SECRET": sandbox.script_key,
    }


def test_the_readme_python_example_loads_the_site(sandbox: Any, tmp_path: Path) -> None:
    script = tmp_path / "rest_api_example.py"
    script.write_text(readme_block("rest_api", "python"))
    sandbox.site.advance_clock(SETTLE_SECONDS)  # the window ends a second before the site's now
    result = run_script(tmp_path, env=site_env(sandbox), script=script)
    assert result.returncode == 0, result.stderr[-3000:]
    destination = dlt.destinations.duckdb(str(tmp_path / "shotgun_rest_api.duckdb"))
    dataset = dlt.dataset(destination, "shotgun_rest")
    counts = assert_destination_matches_site(dataset, sandbox.site, ["Shot", "Version"])
    assert counts["Version"] > 1000


def test_the_readme_toml_config_loads_with_the_names(
    shared_sandbox: Any, make_pipeline: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tomllib.loads(readme_block("rest_api_toml", "toml"))
    assert config["client"]["auth"] == "shotgun"
    config["client"]["base_url"] = f"{shared_sandbox.url}/api/v1/"
    for key, value in site_env(shared_sandbox).items():
        monkeypatch.setenv(key, value)
    pipeline = make_pipeline("readme_toml")
    pipeline.run(rest_api_source(config, name="shotgun"))
    site = shared_sandbox.site
    for table, entity_type in (("event_log_entries", "EventLogEntry"), ("notes", "Note")):
        loaded = [row[0] for row in pipeline.dataset()[table].select("id").fetchall()]
        assert sorted(loaded) == sorted(r["id"] for r in site.records(entity_type)), table
