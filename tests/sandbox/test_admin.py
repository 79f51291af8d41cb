"""The /_sandbox/ admin API used by benchmarks that run the sandbox in a subprocess."""

from __future__ import annotations

import datetime as dt

import requests

from shotgun_source.sandbox import Sandbox

from .helpers import Client


def admin(sb: Sandbox, method: str, path: str, **kwargs: object) -> requests.Response:
    return requests.request(method, f"{sb.url}/_sandbox/{path}", timeout=30, **kwargs)  # type: ignore[arg-type]


def test_stats_and_reset(sandbox: Sandbox) -> None:
    client = Client(sandbox)
    client.get("/api/v1/entity/Shot", fields="code", **{"page[size]": "10"})
    client.search("Version", [], fields="id", page={"size": 7})
    client.get("/api/v1/entity/Nope")
    stats = admin(sandbox, "GET", "stats").json()
    assert (
        stats["by_kind"]["token"] == 1 and stats["by_kind"]["read"] == 2 and stats["by_kind"]["search"] == 1
    )
    assert stats["by_entity"] == {"Shot": 1, "Version": 1}
    assert stats["by_status"]["404"] == 1 and stats["rows_served"] == 17
    assert stats["rows"]["Version"] == len(sandbox.site.records("Version", retired=None))
    assert admin(sandbox, "POST", "reset_stats").status_code == 200
    stats = admin(sandbox, "GET", "stats").json()
    assert stats["requests"] == 1 and stats["by_kind"] == {"admin": 1}  # the stats call itself


def test_faults_over_http(sandbox: Sandbox) -> None:
    client = Client(sandbox)
    r = admin(sandbox, "POST", "faults", json={"rate_limit_share": 1.0, "retry_after": 3})
    assert r.status_code == 200 and r.json()["rate_limit_share"] == 1.0
    assert client.get("/api/v1/entity/Shot").status_code == 429
    admin(sandbox, "POST", "faults", json={"reset": True, "error_burst": {"count": 1, "status": 500}})
    assert client.get("/api/v1/entity/Shot").status_code == 500
    assert client.get("/api/v1/entity/Shot").status_code == 200
    admin(sandbox, "POST", "faults", json={"revoke_all_tokens": True})
    assert client.get("/api/v1/entity/Shot").status_code == 401
    r = admin(sandbox, "POST", "faults", json={"trickle_next": {"count": 2, "interval": 0.01}, "trickle": 0})
    assert r.status_code == 200 and r.json()["pending_trickles"] == 2 and r.json()["trickle"] == 0
    assert admin(sandbox, "POST", "faults", json={"no_such_knob": 1}).status_code == 400


def test_mutate_bumps_updated_at(sandbox: Sandbox) -> None:
    before = {v["id"]: v for v in sandbox.site.records("Version")}
    sandbox.site.advance_clock(2)
    r = admin(sandbox, "POST", "mutate", json={"entity_type": "Version", "share": 0.05, "seed": 7})
    assert r.status_code == 200
    n = r.json()["updated"]
    assert n == round(len(before) * 0.05)
    after = sandbox.site.records("Version")
    bumped = [v for v in after if v["updated_at"] > before[v["id"]]["updated_at"]]
    assert len(bumped) == n
    assert all(v["sg_status_list"] != before[v["id"]]["sg_status_list"] for v in bumped)
    now = dt.datetime.fromtimestamp(sandbox.site.now(), dt.UTC)
    assert all(abs((v["updated_at"] - now).total_seconds()) < 5 for v in bumped)
    again = admin(sandbox, "POST", "mutate", json={"entity_type": "Version", "share": 0.05, "seed": 7}).json()
    assert again["first_id"] == r.json()["first_id"]  # same seed, same rows


def test_truth(shared_sandbox: Sandbox) -> None:
    r = admin(shared_sandbox, "GET", "truth/Project")
    rows = r.json()["data"]
    truth = shared_sandbox.site.records("Project")
    assert [row["id"] for row in rows] == [p["id"] for p in truth]
    assert rows[0]["name"] == truth[0]["name"]
    assert dt.datetime.fromisoformat(rows[0]["created_at"]) == truth[0]["created_at"]
    retired = admin(shared_sandbox, "GET", "truth/Shot", params={"retired": "true"}).json()["data"]
    assert [s["id"] for s in retired] == [s["id"] for s in shared_sandbox.site.records("Shot", retired=True)]
    assert admin(shared_sandbox, "GET", "truth/Nope").status_code == 404
    assert admin(shared_sandbox, "GET", "nothing").status_code == 404
