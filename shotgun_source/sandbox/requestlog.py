"""What the sandbox was asked: one RequestRecord per HTTP request, plus running counters.

Tests assert on client behaviour through this log (how many pages, which grant, whether a
retry happened), so secrets in token requests are redacted before they are stored.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

REDACTED = "***"
_SECRET_PARAMS = frozenset({"client_secret", "password", "refresh_token", "session_token"})


@dataclass
class RequestRecord:
    """One request as the sandbox saw it; `status` and `rows` are filled once answered."""

    method: str
    path: str
    query: dict[str, str]
    body: Any  # parsed JSON, a redacted form dict for token requests, raw bytes, or None
    status: int
    entity_type: str | None
    kind: str  # token|info|read|search|summarize|schema|write|preferences|admin|other
    time: float
    headers: dict[str, str] = field(default_factory=dict)
    rows: int = 0
    duration: float = 0.0


def redact_params(params: dict[str, str]) -> dict[str, str]:
    return {k: (REDACTED if k in _SECRET_PARAMS else v) for k, v in params.items()}


def redact_headers(headers: dict[str, str]) -> dict[str, str]:
    out = dict(headers)
    if "authorization" in out:
        scheme = out["authorization"].split(" ", 1)[0]
        out["authorization"] = f"{scheme} {REDACTED}"
    return out


class RequestLog:
    """Bounded list of records plus counters by kind, entity type and status."""

    def __init__(self, max_records: int = 100_000) -> None:
        self._lock = threading.Lock()
        self._records: deque[RequestRecord] = deque(maxlen=max_records)
        self.reset_stats()

    def add(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def finished(self, record: RequestRecord, bytes_sent: int) -> None:
        with self._lock:
            self._by_kind[record.kind] += 1
            if record.entity_type:
                self._by_entity[record.entity_type] += 1
            self._by_status[str(record.status)] += 1
            self._rows += record.rows
            self._bytes += bytes_sent
            self._total += 1

    def snapshot(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def reset_stats(self) -> None:
        with self._lock:
            self._by_kind: Counter[str] = Counter()
            self._by_entity: Counter[str] = Counter()
            self._by_status: Counter[str] = Counter()
            self._rows = 0
            self._bytes = 0
            self._total = 0

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": self._total,
                "by_kind": dict(self._by_kind),
                "by_entity": dict(self._by_entity),
                "by_status": dict(self._by_status),
                "rows_served": self._rows,
                "bytes_sent": self._bytes,
            }
