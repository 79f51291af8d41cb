"""The floor of a load: download and parse the same `_search` pages, and do nothing else.

Plain `requests` + `orjson`, keyset reads as the product makes them (`updated_at` window, sorted
by id, `id greater_than` the last id seen, `fields` `*`, same page size), over every entity type:
either one request after another on one thread, or with the product's concurrency (each type's
ids above its first page split into ranges of about one page, read on a shared thread pool).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import threading
import time
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import orjson
import requests
from _procs import token_answer

SEARCH_CONTENT_TYPE = "application/vnd+shotgun.api3_array+json"


@dataclass
class RawRead:
    rows: int = 0
    pages: int = 0
    bytes: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    """CPU of this process (every thread) during the read."""
    sandbox_cpu_seconds: float = 0.0

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


class RawReader:
    def __init__(self, env: dict[str, str], page_size: int) -> None:
        self.url = env["SOURCES__SHOTGUN__SITE_URL"]
        self.page_size = page_size
        self._local = threading.local()
        self._lock = threading.Lock()
        with requests.Session() as session:
            answer = token_answer(session, env)
        self.token = str(answer.json()["access_token"])
        now = parsedate_to_datetime(answer.headers["Date"]).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.window = ["updated_at", "between", ["1970-01-01T00:00:00Z", now]]
        self.result = RawRead()

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.headers.update(
                {"Authorization": f"Bearer {self.token}", "Content-Type": SEARCH_CONTENT_TYPE}
            )
        return session

    def _search(self, entity_type: str, filters: list[Any], **extra: Any) -> list[dict[str, Any]]:
        body = {
            "filters": [self.window, *filters],
            "fields": "*",
            "sort": "id",
            "page": {"number": 1, "size": self.page_size},
            "options": {"include_archived_projects": True},
            **extra,
        }
        answer = self._session().post(
            f"{self.url}/api/v1/entity/{entity_type}/_search", data=orjson.dumps(body), timeout=300
        )
        answer.raise_for_status()
        data: list[dict[str, Any]] = orjson.loads(answer.content)["data"]
        with self._lock:
            self.result.pages += 1
            self.result.bytes += len(answer.content)
        return data

    def _keyset(self, entity_type: str, after: int, upto: int | None) -> list[dict[str, Any]]:
        """Pages of ids in (after, upto]; returns the first page (the planner needs it)."""
        first: list[dict[str, Any]] | None = None
        bound = [] if upto is None else [["id", "less_than", upto + 1]]
        while True:
            page = self._search(entity_type, [["id", "greater_than", after], *bound])
            with self._lock:
                self.result.rows += len(page)
            if first is None:
                first = page
            if len(page) < self.page_size:
                return first
            after = int(page[-1]["id"])

    def _plan(self, entity_type: str) -> list[tuple[int, int | None]]:
        """First page, then the highest id; the ids above the first page in ranges of ~a page."""
        first = self._search(entity_type, [["id", "greater_than", 0]])
        with self._lock:
            self.result.rows += len(first)
        if len(first) < self.page_size:
            return []
        top = self._search(entity_type, [], sort="-id", page={"number": 1, "size": 1})
        last_id, max_id = int(first[-1]["id"]), int(top[0]["id"])
        density = len(first) / max(1, last_id - int(first[0]["id"]) + 1)
        count = max(1, math.ceil((max_id - last_id) * density / self.page_size))
        step = max(1, math.ceil((max_id - last_id) / count))
        bounds = [last_id + step * i for i in range(count)]
        return [(lo, lo + step if i < count - 1 else None) for i, lo in enumerate(bounds)]

    def read(self, entity_types: Iterable[str], concurrency: int) -> RawRead:
        self.result = RawRead()
        started, cpu = time.perf_counter(), time.process_time()
        if concurrency <= 1:
            for entity_type in entity_types:
                self._keyset(entity_type, 0, None)
        else:
            with ThreadPoolExecutor(max_workers=concurrency) as pool:
                plans = {t: pool.submit(self._plan, t) for t in entity_types}
                reads: list[Future[Any]] = []
                for entity_type, plan in plans.items():
                    reads += [pool.submit(self._keyset, entity_type, lo, hi) for lo, hi in plan.result()]
                for done in reads:
                    done.result()
        self.result.seconds = time.perf_counter() - started
        self.result.cpu_seconds = time.process_time() - cpu
        return self.result


def main() -> int:
    """`python bench/_raw.py PAGE_SIZE CONCURRENCY TYPE,...` with the sandbox's exports in the
    environment: one read, its figures as a JSON line (run as a child, so the parent stays small)."""
    reader = RawReader(dict(os.environ), int(sys.argv[1]))
    result = reader.read(sys.argv[3].split(","), int(sys.argv[2]))
    print(json.dumps(dataclasses.asdict(result)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
