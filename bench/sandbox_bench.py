"""How fast the sandbox serves, so client benchmarks know it is not what they measure.

    python bench/sandbox_bench.py                    # 100k Versions, full keyset read
    python bench/sandbox_bench.py --versions 300000
    python bench/sandbox_bench.py --million          # also: build 1M Versions, RSS, window queries

The sandbox runs as a subprocess (`python -m shotgun_source.sandbox --port 0`), as a client
benchmark would run it, so server and client each have their own interpreter. The client
reads every Version with POST `_search` keyset paging (fields=*, sort id, page size 5000,
`updated_at` window + `id greater_than`) from one thread with `requests`, and parses pages
with orjson so that client-side JSON parsing does not hide the server's speed.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from email.utils import parsedate_to_datetime
from typing import Any

import orjson
import requests
from _procs import Sandbox as SandboxProcess
from _procs import token_answer

ARRAY = "application/vnd+shotgun.api3_array+json"


def token(session: requests.Session, env: dict[str, str]) -> str:
    return str(token_answer(session, env, timeout=30).json()["access_token"])


def keyset_read(
    session: requests.Session, url: str, page_size: int, window: tuple[str, str]
) -> dict[str, Any]:
    """Read every Version in the updated_at window; returns counts and timings."""
    last_id, rows, pages, nbytes = 0, 0, 0, 0
    started = time.perf_counter()
    while True:
        body = {
            "filters": [["updated_at", "between", list(window)], ["id", "greater_than", last_id]],
            "fields": "*",
            "sort": "id",
            "page": {"size": page_size, "number": 1},
        }
        r = session.post(f"{url}/api/v1/entity/versions/_search", data=orjson.dumps(body), timeout=300)
        r.raise_for_status()
        data = orjson.loads(r.content)["data"]
        pages += 1
        rows += len(data)
        nbytes += len(r.content)
        if len(data) < page_size:
            break
        last_id = data[-1]["id"]
    elapsed = time.perf_counter() - started
    return {"rows": rows, "requests": pages, "bytes": nbytes, "seconds": elapsed}


def serve_bench(versions: int, page_size: int) -> None:
    t0 = time.perf_counter()
    sandbox = SandboxProcess(scale=1, latency=0, versions=versions)
    env = sandbox.env
    print(f"sandbox with {versions} Versions up in {time.perf_counter() - t0:.1f} s")
    try:
        url = env["SOURCES__SHOTGUN__SITE_URL"]
        session = requests.Session()
        session.headers.update({"Authorization": f"Bearer {token(session, env)}", "Content-Type": ARRAY})
        head = session.get(f"{url}/api/v1", timeout=30)
        now = parsedate_to_datetime(head.headers["Date"]).strftime("%Y-%m-%dT%H:%M:%SZ")
        for label in ("cold", "warm"):
            res = keyset_read(session, url, page_size, ("2000-01-01T00:00:00Z", now))
            mb = res["bytes"] / 1e6
            print(
                f"{label}: {res['rows']} rows in {res['requests']} requests, {res['seconds']:.2f} s -> "
                f"{res['rows'] / res['seconds']:,.0f} rows/s, {mb / res['seconds']:.1f} MB/s "
                f"({mb:.0f} MB, {res['bytes'] / max(1, res['rows']):.0f} B/row)"
            )
        stats = session.get(f"{url}/_sandbox/stats", timeout=30).json()
        print(f"server: {stats['prefetch']['hits']} pages served from the keyset prefetch")
        mutated = session.post(
            f"{url}/_sandbox/mutate", json={"entity_type": "Version", "share": 0.01, "seed": 7}
        )
        after = session.get(f"{url}/api/v1", timeout=30).headers["Date"]
        hi = parsedate_to_datetime(after).strftime("%Y-%m-%dT%H:%M:%SZ")
        res = keyset_read(session, url, page_size, (now, hi))
        print(
            f"incremental window after mutating {mutated.json()['updated']} rows: {res['rows']} rows "
            f"in {res['requests']} requests, {res['seconds'] * 1000:.0f} ms"
        )
    finally:
        sandbox.stop()


def render_rate(versions: int, page_size: int) -> None:
    """Server CPU alone: keyset pages through the request pipeline in-process, no HTTP, no prefetch."""
    from shotgun_source.sandbox import Sandbox
    from shotgun_source.sandbox.messages import Request
    from shotgun_source.sandbox.tokens import Grant

    sb = Sandbox(versions=versions, prefetch=False)
    token = sb.tokens.issue(Grant({"type": "ApiUser", "id": 88}, None, "api_key"), 600)["access_token"]
    headers = {"content-type": ARRAY, "authorization": f"Bearer {token}"}
    last, rows, nbytes, started = 0, 0, 0, time.perf_counter()
    while True:
        body = {
            "filters": [["id", "greater_than", last]],
            "fields": "*",
            "sort": "id",
            "page": {"size": page_size},
        }
        resp = sb.app.handle(
            Request("POST", "/api/v1/entity/versions/_search", "", {}, headers, orjson.dumps(body))
        )
        rows += resp.rows
        nbytes += len(resp.body)
        if resp.rows < page_size:
            break
        tail = resp.body[resp.body.rfind(b'"id":') + 5 :]  # the last record's id (no JSON parse: server only)
        last = int(tail[: tail.index(b",")])
    elapsed = time.perf_counter() - started
    rate, mbs = rows / elapsed, nbytes / 1e6 / elapsed
    print(f"server alone (in-process, no prefetch, no HTTP): {rate:,.0f} rows/s, {mbs:.0f} MB/s")


def rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def million_bench() -> None:
    from shotgun_source.sandbox.filters import parse_array
    from shotgun_source.sandbox.query import QuerySpec, execute
    from shotgun_source.sandbox.site import Site
    from shotgun_source.sandbox.values import format_datetime

    before = rss_mb()
    t0 = time.perf_counter()
    site = Site(seed=1, scale=1.0, versions=1_000_000)
    built = time.perf_counter() - t0
    counts = site.counts()
    print(
        f"built 1,000,000 Versions ({sum(counts.values()):,} rows incl. {counts['EventLogEntry']:,} events) "
        f"in {built:.1f} s; RSS {rss_mb():.0f} MB (was {before:.0f} MB)"
    )
    t0 = time.perf_counter()
    ids = site.mutate("Version", 0.01, 7)
    print(f"mutated {len(ids):,} Versions in {time.perf_counter() - t0:.2f} s")
    table = site.tables["Version"]
    window = [format_datetime(site.now() - 5), format_datetime(site.now())]
    last, rows, t0 = 0, 0, time.perf_counter()
    while True:
        spec = QuerySpec(
            parse_array([["updated_at", "between", window], ["id", "greater_than", last]]), [], 1, 5000
        )
        page = execute(site, table, spec)
        rows += len(page)
        if len(page) < 5000:
            break
        last = table.id_for_row(page[-1])
    took = (time.perf_counter() - t0) * 1000
    print(f"1% updated_at window over 1M Versions: {rows:,} rows selected in {took:.0f} ms")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--versions", type=int, default=100_000)
    p.add_argument("--page-size", type=int, default=5000)
    p.add_argument("--million", action="store_true", help="also build 1M Versions in-process and report RSS")
    args = p.parse_args()
    serve_bench(args.versions, args.page_size)
    render_rate(args.versions, args.page_size)
    if args.million:
        million_bench()
    return 0


if __name__ == "__main__":
    sys.exit(main())
