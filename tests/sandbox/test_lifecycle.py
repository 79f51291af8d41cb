"""Starting and stopping: sockets and threads really go away, many sandboxes in a row."""

from __future__ import annotations

import socket
import threading

import pytest
import requests

from shotgun_source.sandbox import Sandbox


def sandbox_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("sandbox-")]


def test_stop_closes_the_socket_and_open_connections() -> None:
    before = len(sandbox_threads())
    sb = Sandbox(seed=1, scale=0.1).start()
    url, port = sb.url, sb.port
    session = requests.Session()  # keeps its connection open (keep-alive)
    assert session.get(f"{url}/api/v1", timeout=5).status_code == 200
    token = session.post(
        f"{url}/api/v1/auth/access_token",
        data={
            "grant_type": "client_credentials",
            "client_id": sb.script_name,
            "client_secret": sb.script_key,
        },
        timeout=5,
    ).json()["access_token"]
    page = session.post(  # a full keyset page starts a background prefetch of the next one
        f"{url}/api/v1/entity/Version/_search",
        json={"filters": [["id", "greater_than", 0]], "page": {"size": 10}},
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/vnd+shotgun.api3_array+json",
        },
        timeout=5,
    )
    assert len(page.json()["data"]) == 10
    assert len(sandbox_threads()) > before
    sb.stop()
    assert not sb.running
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
    with pytest.raises(requests.exceptions.ConnectionError):
        session.get(f"{url}/api/v1", timeout=5)
    assert len(sandbox_threads()) == before


def test_many_sandboxes_in_a_row_and_data_before_start() -> None:
    before = len(sandbox_threads())
    for seed in range(5):
        sb = Sandbox(seed=seed, scale=0.1)
        assert sb.site.records("Project")  # the studio exists before the server starts
        with pytest.raises(RuntimeError):
            _ = sb.url
        with sb:
            port = sb.port
            assert requests.get(f"{sb.url}/api/v1", timeout=5).status_code == 200
        # each one's socket is closed before the next starts
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            pass
        with pytest.raises(RuntimeError):
            _ = sb.url
    assert len(sandbox_threads()) == before


def test_env_matches_the_credentials(shared_sandbox: Sandbox) -> None:
    env = shared_sandbox.env()
    assert env == {
        "SOURCES__SHOTGUN__SITE_URL": shared_sandbox.url,
        "SOURCES__SHOTGUN__CREDENTIALS__CLIENT_ID": shared_sandbox.script_name,
        "SOURCES__SHOTGUN__CREDENTIALS__CLIENT_SECRET": shared_sandbox.script_key,
    }
    assert shared_sandbox.url.startswith("http://127.0.0.1:")
