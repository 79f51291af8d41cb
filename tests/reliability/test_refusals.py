"""Bad input the existing tests (tests/source/test_bad_input.py) leave out, and what users see.

In process: permission denied (ShotGrid's 400 code 104, and 403), a wrong script name. Through the
script users run: each bad input ends in one `error:` line that names the problem and the fix,
within seconds, with no traceback and without the script key.
"""

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dlt.pipeline.exceptions import PipelineStepFailed
from local_servers import SIGN_IN_PAGE, closed_port, one_answer_server
from timing import assert_fast

from reliability.helpers import CliDir, make_pipeline, run_source, script_auth
from shotgun_source import ShotgunAuthError, ShotgunPermissionError, shotgun_source
from shotgun_source.errors import find_shotgun_error

DENIED_SCRIPT = ("no_versions_script", "key-of-the-script-without-versions-0042")


@pytest.mark.parametrize("status", [400, 403])
def test_permission_denied_names_the_entity_type_and_the_fix(
    sandbox: Any, tmp_path: Path, status: int
) -> None:
    name, key = DENIED_SCRIPT
    sandbox.site.add_script(name, key, denied_entity_types=["Version"])
    sandbox.faults.forbidden_status = status
    started = time.monotonic()
    with pytest.raises(PipelineStepFailed) as failed:
        run_source(
            make_pipeline(tmp_path),
            sandbox,
            credentials=script_auth(sandbox, client_id=name, client_secret=key),
            entities=["Shot", "Version"],
        )
    took = time.monotonic() - started
    error = find_shotgun_error(failed.value)
    assert isinstance(error, ShotgunPermissionError), repr(failed.value)
    message = str(error)
    assert "Version" in message and "permission" in message and "`entities`" in message, message
    assert f"HTTP {status}" in message and "code 104" in message, message
    assert key not in str(failed.value)
    assert_fast(took, f"a refusal with HTTP {status} failing the run")
    refused = [r for r in sandbox.requests if r.entity_type == "Version" and r.status == status]
    denied = [(r.path, repr(r.body)) for r in refused]
    assert denied and len(set(denied)) == len(denied), "a refusal is final: it must not be retried"


def test_wrong_script_name_names_the_setting(sandbox: Any) -> None:
    started = time.monotonic()
    with pytest.raises(ShotgunAuthError) as failed:
        shotgun_source(site_url=sandbox.url, credentials=script_auth(sandbox, client_id="sandbox_scirpt"))
    message = str(failed.value)
    assert_fast(time.monotonic() - started, "a wrong script name refused")
    assert "refused the script key" in message and "sandbox_scirpt" in message, message
    assert "client_id" in message and sandbox.script_key not in message


@pytest.fixture
def not_shotgrid() -> Iterator[str]:
    """A sign-in page where the site should be."""
    with one_answer_server(SIGN_IN_PAGE, "text/html") as (url, _):
        yield url


CASES: dict[str, tuple[dict[str, str], tuple[str, ...], int | None, tuple[str, ...]]] = {
    # case: (settings over the sandbox's, flags, exit status (None: any failure), words in the message)
    "wrong script name": (
        {"SOURCES__SHOTGUN__CREDENTIALS__CLIENT_ID": "sandbox_scirpt"},
        (),
        2,
        ("refused the script key", "client_id"),
    ),
    "wrong login": (
        {
            "SOURCES__SHOTGUN__CREDENTIALS__CLIENT_ID": "",
            "SOURCES__SHOTGUN__CREDENTIALS__CLIENT_SECRET": "",
            "SOURCES__SHOTGUN__CREDENTIALS__USERNAME": "{login}",
            "SOURCES__SHOTGUN__CREDENTIALS__PASSWORD": "not-the-password-8812",
        },
        (),
        2,
        ("refused the user login", "password"),
    ),
    "permission denied": (
        {
            "SOURCES__SHOTGUN__CREDENTIALS__CLIENT_ID": DENIED_SCRIPT[0],
            "SOURCES__SHOTGUN__CREDENTIALS__CLIENT_SECRET": DENIED_SCRIPT[1],
        },
        ("--entities", "Shot,Version"),
        2,
        ("Version", "permission", "entities"),
    ),
    "unknown entity type": ({}, ("--entities", "Shot,Spaceship"), 2, ("Spaceship", "entities", "Version")),
    "DNS failure": (
        {"SOURCES__SHOTGUN__SITE_URL": "https://no-such-studio.invalid"},
        (),
        None,
        ("does not resolve", "SOURCES__SHOTGUN__SITE_URL"),
    ),
    "connection refused": (
        {"SOURCES__SHOTGUN__SITE_URL": "http://127.0.0.1:{closed_port}"},
        (),
        None,
        ("connection was refused", "SOURCES__SHOTGUN__SITE_URL"),
    ),
    "plain http to another host": (
        {"SOURCES__SHOTGUN__SITE_URL": "http://studio.shotgrid.autodesk.com"},
        (),
        2,
        ("plain http to another machine", "https://"),
    ),
    "not a ShotGrid site": (
        {"SOURCES__SHOTGUN__SITE_URL": "{not_shotgrid}"},
        (),
        None,
        ("does not answer like a ShotGrid site", "site URL"),
    ),
    "negative lookback": (
        {"SOURCES__SHOTGUN__LOOKBACK_SECONDS": "-5"},
        (),
        2,
        ("lookback_seconds must be", "SOURCES__SHOTGUN__LOOKBACK_SECONDS"),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_script_says_what_is_wrong_and_what_to_do(
    sandbox: Any, tmp_path: Path, not_shotgrid: str, case: str
) -> None:
    settings, flags, status, words = CASES[case]
    sandbox.site.add_script(*DENIED_SCRIPT, denied_entity_types=["Version"])
    fill = {"login": sandbox.login, "closed_port": str(closed_port()), "not_shotgrid": not_shotgrid}
    env = {**sandbox.env(), **{k: v.format(**fill) for k, v in settings.items()}}
    env = {k: v for k, v in env.items() if v}
    started = time.monotonic()
    result = CliDir(tmp_path / "run").run(env, *flags, timeout=60)
    took = time.monotonic() - started
    said = result.stderr.strip()
    assert result.returncode == status if status is not None else result.returncode in (1, 2), (
        result.returncode,
        said,
    )
    assert said.startswith("error: ") and "Traceback" not in said, said
    assert all(word in said for word in words), (words, said)
    assert sandbox.script_key not in result.stdout + said and DENIED_SCRIPT[1] not in said
    assert_fast(took, f"the script refusing {case}")
