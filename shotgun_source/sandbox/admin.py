"""`/_sandbox/` admin routes, for benchmarks and tests that run the sandbox in a subprocess.

Not part of ShotGrid. No authentication (the sandbox listens on loopback), never faulted.
- GET  /_sandbox/stats            request counts by kind, entity type and status
- POST /_sandbox/reset_stats
- POST /_sandbox/faults           JSON object of knob settings (see Faults.configure)
- POST /_sandbox/mutate           {"entity_type", "share", "seed"}: update that share of live rows
- GET  /_sandbox/truth/{Type}     ground truth rows (`?retired=true|false|all`)
"""

from __future__ import annotations

from typing import Any

import orjson

from .errors import ApiError
from .faults import Faults
from .messages import Request, Response, error_response, json_response
from .prefetch import PageCache
from .requestlog import RequestLog
from .site import Site


def _json_default(value: Any) -> Any:
    raise TypeError(f"cannot serialize {type(value).__name__}")


class Admin:
    def __init__(self, site: Site, faults: Faults, log: RequestLog, pages: PageCache) -> None:
        self.site = site
        self.faults = faults
        self.log = log
        self.pages = pages

    def __call__(self, req: Request) -> Response:
        try:
            return self._route(req)
        except ApiError as exc:
            return error_response(exc)
        except (ValueError, KeyError, TypeError) as exc:
            return error_response(ApiError(400, 103, f"Invalid admin request: {exc}", {}))

    def _route(self, req: Request) -> Response:
        parts = [p for p in req.path.split("/") if p][1:]
        if req.method == "GET" and parts == ["stats"]:
            stats = self.log.stats()
            stats["faults"] = self.faults.snapshot()
            stats["rows"] = self.site.counts()
            stats["prefetch"] = {"hits": self.pages.hits, "stale": self.pages.misses}
            return json_response(200, stats)
        if req.method == "POST" and parts == ["reset_stats"]:
            self.log.reset_stats()
            return json_response(200, {"ok": True})
        if req.method == "POST" and parts == ["faults"]:
            body = req.json_body()
            if not isinstance(body, dict):
                raise ValueError("expected a JSON object")
            self.faults.configure(body)
            return json_response(200, self.faults.snapshot())
        if req.method == "POST" and parts == ["mutate"]:
            body = req.json_body()
            ids = self.site.mutate(
                str(body["entity_type"]), float(body.get("share", 0.01)), int(body.get("seed", 0))
            )
            return json_response(200, {"updated": len(ids), "first_id": ids[0] if ids else None})
        if req.method == "GET" and len(parts) == 2 and parts[0] == "truth":
            flag = req.query.get("retired", "false").lower()
            retired = None if flag == "all" else flag == "true"
            rows = self.site.records(parts[1], retired=retired)
            return Response(200, orjson.dumps({"data": rows}, default=_json_default), rows=len(rows))
        raise ApiError(404, 103, "Not Found", None, f"No admin route {req.method} {req.path}")
