"""`python -m shotgun_source.sandbox`: eval-able exports on stdout, serves, stops on SIGTERM."""

from __future__ import annotations

import shlex
import subprocess
import sys

import requests


def test_cli_prints_exports_serves_and_stops() -> None:
    cmd = [sys.executable, "-m", "shotgun_source.sandbox", "--port", "0", "--seed", "4", "--scale", "0.2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(3)]
        env = {}
        for line in lines:
            assert line.startswith("export "), lines
            name, _, value = line.strip().removeprefix("export ").partition("=")
            env[name] = shlex.split(value)[0]
        assert set(env) == {
            "SOURCES__SHOTGUN__SITE_URL",
            "SOURCES__SHOTGUN__CREDENTIALS__CLIENT_ID",
            "SOURCES__SHOTGUN__CREDENTIALS__CLIENT_SECRET",
        }
        url = env["SOURCES__SHOTGUN__SITE_URL"]
        assert url.startswith("http://127.0.0.1:") and not url.endswith(":0")
        token = requests.post(
            f"{url}/api/v1/auth/access_token",
            data={
                "grant_type": "client_credentials",
                "client_id": env["SOURCES__SHOTGUN__CREDENTIALS__CLIENT_ID"],
                "client_secret": env["SOURCES__SHOTGUN__CREDENTIALS__CLIENT_SECRET"],
            },
            timeout=10,
        ).json()["access_token"]
        r = requests.get(
            f"{url}/api/v1/entity/projects", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        assert r.status_code == 200 and r.json()["data"]
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert out == ""  # nothing but the exports on stdout
    assert "GET /api/v1/entity/projects -> 200" in err and "stopped" in err


def test_cli_help_lists_the_flags() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "shotgun_source.sandbox", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    for flag in ("--port", "--seed", "--scale", "--latency", "--token-lifetime", "--versions", "--quiet"):
        assert flag in out
