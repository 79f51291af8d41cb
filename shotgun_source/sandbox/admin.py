"""`/_sandbox/` admin routes, for benchmarks and tests that run the sandbox in a subprocess.

Not part of ShotGrid. No authentication (the sandbox listens on loopback), never faulted.
- GET  /_sandbox/stats            request counts by kind, entity type and status
- POST /_sandbox/reset_stats
- POST /_sandbox/faults           JSON object of knob settings (see Faults.configure)
- POST /_sandbox/mutate           {"entity_type", "share", "seed"}: update that share of live rows
- GET  /_sandbox/truth/{Type}     ground truth rows (`?retired=true|false|all`)

Late commits (see late.py); a handle is the number the begin call answers:
- POST /_sandbox/late_writes      {"action": "create"|"update"|"retire", "entity_type", "id"
                                  (update, retire), "changes" (create, update), "user"?}: begin
                                  one; answers {"handle", "action", "entity_type", "id",
                                  "stamped_at", "event_ids", "state": "open"}
- GET  /_sandbox/late_writes      {"data": [the open ones]}
- POST /_sandbox/late_writes/{handle}/commit     the same, "state": "committed", and "record"
                                                 (its ground truth after the commit)
- POST /_sandbox/late_writes/{handle}/rollback   the same, "state": "rolled back"
- POST /_sandbox/event_holds      start catching events: {"hold", "catching": true,
                                  "released": false, "event_ids": []}
- GET  /_sandbox/event_holds      {"data": [the holds not released yet]}
- POST /_sandbox/event_holds/{hold}/stop_catching   later events are visible at once
- POST /_sandbox/event_holds/{hold}/release         publish the caught events
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
        if parts and parts[0] == "late_writes":
            return self._late_writes(req, parts[1:])
        if parts and parts[0] == "event_holds":
            return self._event_holds(req, parts[1:])
        if req.method == "GET" and len(parts) == 2 and parts[0] == "truth":
            flag = req.query.get("retired", "false").lower()
            retired = None if flag == "all" else flag == "true"
            rows = self.site.records(parts[1], retired=retired)
            return Response(200, orjson.dumps({"data": rows}, default=_json_default), rows=len(rows))
        raise _no_route(req)

    def _late_writes(self, req: Request, parts: list[str]) -> Response:
        site = self.site
        if req.method == "GET" and not parts:
            return json_response(200, {"data": [w.describe() for w in site.late.open_writes()]})
        if req.method == "POST" and not parts:
            body = req.json_body()
            if not isinstance(body, dict):
                raise ValueError("expected a JSON object")
            action, entity_type, user = body.get("action"), str(body["entity_type"]), body.get("user")
            if action == "create":
                write = site.begin_late_create(entity_type, dict(body.get("changes") or {}), user=user)
            elif action == "update":
                write = site.begin_late_update(entity_type, int(body["id"]), dict(body["changes"]), user=user)
            elif action == "retire":
                write = site.begin_late_retire(entity_type, int(body["id"]), user=user)
            else:
                raise ValueError(f'"action" must be one of "create", "update", "retire", got {action!r}')
            return json_response(200, write.describe())
        if req.method == "POST" and len(parts) == 2 and parts[1] in ("commit", "rollback"):
            write = site.late.write(int(parts[0]))
            if parts[1] == "commit":
                record = write.commit()
                body = orjson.dumps({**write.describe(), "record": record}, default=_json_default)
                return Response(200, body, rows=1)
            write.rollback()
            return json_response(200, write.describe())
        raise _no_route(req)

    def _event_holds(self, req: Request, parts: list[str]) -> Response:
        site = self.site
        if req.method == "GET" and not parts:
            return json_response(200, {"data": [h.describe() for h in site.late.unreleased_holds()]})
        if req.method == "POST" and not parts:
            return json_response(200, site.hold_events().describe())
        if req.method == "POST" and len(parts) == 2 and parts[1] in ("stop_catching", "release"):
            hold = site.late.hold(int(parts[0]))
            if parts[1] == "release":
                hold.release()
            else:
                hold.stop_catching()
            return json_response(200, hold.describe())
        raise _no_route(req)


def _no_route(req: Request) -> ApiError:
    return ApiError(404, 103, "Not Found", None, f"No admin route {req.method} {req.path}")
