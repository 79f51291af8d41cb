"""Every fault knob over real HTTP, including determinism from the fault seed."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import requests

from shotgun_source.sandbox import RequestRecord, Sandbox

from .helpers import Client, error


def shots_page(client: Client, **params: Any) -> requests.Response:
    return client.get("/api/v1/entity/Shot", fields="code", **{"page[size]": "50", **params})


def test_latency_is_per_request_and_overlaps(sandbox: Sandbox) -> None:
    """Each request sleeps the latency, and requests in flight together sleep at the same time, as
    on a real server: told by when each woke (the `before_request` hook runs after the sleep), not
    by a time limit. One after another, four would wake a latency apart each."""
    client = Client(sandbox)
    latency = 1.0
    sandbox.faults.latency = latency
    started = time.perf_counter()
    assert shots_page(client).status_code == 200
    assert time.perf_counter() - started >= latency
    woke: list[float] = []
    sandbox.faults.before_request = lambda record: woke.append(time.monotonic())
    results: list[int] = []
    together = threading.Barrier(4)

    def one() -> None:
        c = Client.__new__(Client)
        c.sb, c.session = sandbox, requests.Session()
        c.session.headers.update(client.session.headers)
        together.wait(timeout=30)
        results.append(shots_page(c).status_code)

    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert results == [200] * 4
    spread = max(woke) - min(woke)
    print(f"\n4 requests of {latency:g} s latency sent together woke within {spread:.2f} s of each other")
    assert spread < 3 * latency, f"they woke {spread:.2f} s apart: slept one after another"


def test_rate_limit_share_answers_429_with_retry_after(sandbox: Sandbox) -> None:
    client = Client(sandbox)
    sandbox.faults.rate_limit_share = 1.0
    sandbox.faults.retry_after = 7
    r = shots_page(client)
    assert r.status_code == 429 and r.headers["Retry-After"] == "7"
    assert error(r)["status"] == 429 and error(r)["title"] == "Too Many Requests"
    sandbox.faults.rate_limit_share = 0.0
    assert shots_page(client).status_code == 200


def test_share_based_faults_are_deterministic_from_the_seed(sandbox: Sandbox) -> None:
    client = Client(sandbox)

    def pattern() -> list[int]:
        sandbox.faults.reset()
        sandbox.faults.rate_limit_share = 0.5
        return [shots_page(client).status_code for _ in range(16)]

    first, second = pattern(), pattern()
    assert first == second and 429 in first and 200 in first
    sandbox.faults.seed = 99
    assert pattern() != first


def test_error_burst(sandbox: Sandbox) -> None:
    client = Client(sandbox)
    sandbox.faults.error_burst(2, status=503)
    first = shots_page(client)
    assert first.status_code == 503 and first.headers["Content-Type"].startswith("application/json")
    assert error(first)["status"] == 503
    assert shots_page(client).status_code == 503
    assert shots_page(client).status_code == 200
    sandbox.faults.error_burst(1, status=502, html=True)
    page = shots_page(client)
    assert page.status_code == 502 and page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert page.text.lstrip().startswith("<!DOCTYPE html>")
    token = requests.post(
        f"{sandbox.url}/api/v1/auth/access_token",
        data={
            "grant_type": "client_credentials",
            "client_id": sandbox.script_name,
            "client_secret": sandbox.script_key,
        },
        timeout=10,
    )
    assert token.status_code == 200  # bursts are for data calls


def test_dropped_connections(sandbox: Sandbox) -> None:
    client = Client(sandbox)
    sandbox.faults.drop_share = 1.0
    with pytest.raises(
        (requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError)
    ) as caught:
        shots_page(client)
    assert "IncompleteRead" in str(caught.value) or isinstance(
        caught.value, requests.exceptions.ConnectionError
    )
    sandbox.faults.drop_share = 0.0
    assert shots_page(client).status_code == 200


def test_trickle_sends_the_headers_at_once_then_a_byte_per_interval(sandbox: Sandbox) -> None:
    """A socket read timeout of 1 s never fires on a body that comes a byte every 0.01 s, yet the
    body takes (bytes - 1) x 0.01 s; the counted form trickles only the next answers."""
    client = Client(sandbox)
    sandbox.faults.trickle_next(1, interval=0.01)
    started = time.perf_counter()
    with client.session.get(
        f"{sandbox.url}/api/v1/entity/Shot",
        params={"fields": "code", "page[size]": "1"},
        stream=True,
        timeout=(5, 1),
    ) as r:
        headers_after = time.perf_counter() - started
        assert r.status_code == 200 and int(r.headers["Content-Length"]) > 40
        first = next(r.raw.stream(1))
        body = first + r.raw.read()
    took = time.perf_counter() - started
    assert headers_after < 0.5 and body.startswith(b"{")
    assert took >= (len(body) - 1) * 0.01 * 0.9, f"{len(body)} bytes in {took:.2f} s"
    assert shots_page(client).status_code == 200  # counted: the next answer comes at once
    assert sandbox.faults.snapshot()["pending_trickles"] == 0

    # a read timeout shorter than the interval fires in the body: the headers come at once (well
    # inside 0.5 s, as above, even on a busy machine), the next byte only after 1 s
    sandbox.faults.trickle = 1.0
    closed = requests.Session()
    closed.headers.update(client.session.headers)
    with pytest.raises(requests.exceptions.ConnectionError, match="Read timed out"):
        closed.get(f"{sandbox.url}/api/v1/entity/Shot", params={"page[size]": "5"}, timeout=(5, 0.5))
    closed.close()
    sandbox.faults.reset()
    assert shots_page(client).status_code == 200


def test_down_answers_html_503_until_cleared(sandbox: Sandbox) -> None:
    client = Client(sandbox)
    sandbox.faults.down = True
    r = shots_page(client)
    assert r.status_code == 503 and r.headers["Content-Type"].startswith("text/html")
    assert requests.post(f"{sandbox.url}/api/v1/auth/access_token", timeout=10).status_code == 503
    assert requests.get(f"{sandbox.url}/_sandbox/stats", timeout=10).status_code == 200
    sandbox.faults.down = False
    assert shots_page(client).status_code == 200


def test_before_request_hook_mutates_between_pages(sandbox: Sandbox) -> None:
    client = Client(sandbox)
    shots = sandbox.site.records("Shot")
    target = shots[60]  # on page 2 of a 50-row keyset read
    calls: list[RequestRecord] = []

    def hook(record: RequestRecord) -> None:
        calls.append(record)
        if len(calls) == 2:
            sandbox.site.update("Shot", target["id"], {"description": "changed between pages"})

    sandbox.faults.before_request = hook
    first = client.search(
        "Shot", [["id", "greater_than", 0]], fields="description", page={"size": 50}
    ).json()["data"]
    last = first[-1]["id"]
    second = client.search(
        "Shot", [["id", "greater_than", last]], fields="description", page={"size": 50}
    ).json()["data"]
    row = next(d for d in second if d["id"] == target["id"])
    assert row["attributes"]["description"] == "changed between pages"  # never a stale prefetched page
    assert [c.kind for c in calls] == ["search", "search"] and calls[0].entity_type == "Shot"


def test_corrupt_next(sandbox: Sandbox) -> None:
    client = Client(sandbox)
    sandbox.faults.corrupt_next("not_json")
    r = shots_page(client)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    sandbox.faults.corrupt_next("truncated_json")
    r = shots_page(client)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    with pytest.raises(ValueError):
        r.json()
    sandbox.faults.corrupt_next("no_data")
    body = shots_page(client).json()
    assert "data" not in body and "links" in body
    sandbox.faults.corrupt_next("no_updated_at", count=2)
    for _ in range(2):
        rec = client.get("/api/v1/entity/Shot", fields="*", **{"page[size]": "2"}).json()["data"][0]
        assert "updated_at" not in rec["attributes"] and "created_at" in rec["attributes"]
    assert "updated_at" in client.get("/api/v1/entity/Shot", fields="*").json()["data"][0]["attributes"]
    with pytest.raises(ValueError):
        sandbox.faults.corrupt_next("gibberish")


def test_next_link_host_and_redirect(sandbox: Sandbox) -> None:
    client = Client(sandbox)
    sandbox.faults.next_link_host = "http://127.0.0.2:9"
    links = shots_page(client).json()["links"]
    assert links["next"].startswith("http://127.0.0.2:9/api/v1/entity/Shot?")
    assert links["self"].startswith("/api/v1/")
    sandbox.faults.next_link_host = None
    sandbox.faults.redirect_next_to = "http://127.0.0.2:9/elsewhere"
    r = client.session.get(f"{sandbox.url}/api/v1/entity/Shot", allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"] == "http://127.0.0.2:9/elsewhere"
    assert sandbox.faults.redirect_next_to is None  # one shot
    assert shots_page(client).status_code == 200


def test_reset_restores_defaults(sandbox: Sandbox) -> None:
    f = sandbox.faults
    f.latency, f.rate_limit_share, f.drop_share, f.down, f.token_lifetime = 1.0, 0.5, 0.5, True, 5
    f.error_burst(3)
    f.corrupt_next("no_data")
    f.trickle, _ = 1.0, f.trickle_next(2)
    f.reset()
    snap = f.snapshot()
    assert snap["latency"] == 0 and snap["rate_limit_share"] == 0 and snap["down"] is False
    assert snap["token_lifetime"] == 600 and snap["pending_errors"] == 0 and snap["pending_corruptions"] == []
    assert snap["trickle"] == 0 and snap["pending_trickles"] == 0
    client = Client(sandbox)
    assert shots_page(client).status_code == 200
