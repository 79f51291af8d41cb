"""The request pipeline: log, apply faults, route, turn exceptions into envelopes.

Order for a data request: `down` -> latency (slept here, in the handler thread and outside
the site lock, so concurrent requests overlap like on a real server) -> `before_request`
hook -> error burst -> rate limit -> redirect -> the endpoint -> corruption -> dropped
connection -> trickled body. The token endpoint only sees `down`, latency and its own error burst; the
`/_sandbox/` admin routes see no faults at all.
"""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import orjson

from .errors import ApiError, error_envelope
from .faults import Faults
from .messages import Request, Response, error_response, html_response, json_response
from .requestlog import RequestLog, RequestRecord, redact_headers, redact_params
from .routes import DATA_KINDS, Route, Router, classify
from .site import Site

_FAULT_TITLES = {429: "Too Many Requests", 500: "Shotgun Server Error"}


def _fault(status: int, html: bool, retry_after: int | None = None) -> Response:
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    if html:
        resp = html_response(
            status, f"{status} {phrase}", "The site is temporarily unavailable. Please try again."
        )
    else:
        resp = json_response(status, error_envelope(status, 103, _FAULT_TITLES.get(status, phrase)))
    if retry_after is not None:
        resp.headers["Retry-After"] = str(retry_after)
    return resp


def _corrupt(resp: Response, kind: str) -> Response:
    if kind == "not_json":
        return html_response(200, "Flow Production Tracking", "Please sign in to continue.")
    if kind == "truncated_json":
        return Response(200, resp.body[: max(1, len(resp.body) // 2)], rows=resp.rows)
    if kind == "no_data":
        links = orjson.loads(resp.body).get("links", {})
        return json_response(200, {"links": links})
    return resp


class App:
    """One sandbox's request handling, shared by every connection thread."""

    def __init__(
        self,
        site: Site,
        router: Router,
        faults: Faults,
        log: RequestLog,
        admin: Callable[[Request], Response],
        verbose: bool = False,
    ) -> None:
        self.site = site
        self.router = router
        self.faults = faults
        self.log = log
        self.admin = admin
        self.verbose = verbose

    def handle(self, req: Request) -> Response:
        route = classify(req, self.site)
        record = self._record(req, route)
        self.log.add(record)
        started = time.perf_counter()
        try:
            resp = self._run(req, route, record)
        except ApiError as exc:
            resp = error_response(exc)
        except Exception:  # a bug or a failing test hook: answer like the real server's 500
            traceback.print_exc(file=sys.stderr)
            resp = json_response(500, error_envelope(500, 0, "Shotgun Server Error"))
        record.status = resp.status
        record.rows = resp.rows
        record.duration = time.perf_counter() - started
        self.log.finished(record, len(resp.body))
        if self.verbose:
            took = f"{record.duration * 1000:.0f} ms"
            print(
                f"{req.method} {req.path} -> {resp.status} ({resp.rows} rows, {took})",
                file=sys.stderr,
                flush=True,
            )
        return resp

    def _record(self, req: Request, route: Route) -> RequestRecord:
        query = req.query
        body: Any = req.body or None
        if route.kind == "token":
            query = redact_params(query)
            if req.body:
                from urllib.parse import parse_qsl

                body = redact_params(
                    dict(parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True))
                )
        elif req.body and "json" in req.media_type():
            try:
                body = orjson.loads(req.body)
            except orjson.JSONDecodeError:
                body = req.body
        return RequestRecord(
            method=req.method,
            path=req.path,
            query=dict(query),
            body=body,
            status=0,
            entity_type=route.entity_type,
            kind=route.kind,
            time=time.time(),
            headers=redact_headers(req.headers),
        )

    def _run(self, req: Request, route: Route, record: RequestRecord) -> Response:
        if route.kind == "admin":
            return self.admin(req)
        f = self.faults
        if f.down:
            return _fault(503, True)
        if f.latency > 0:
            time.sleep(f.latency)
        if route.kind == "token":
            status = f.take_token_error()
            if status is not None:
                return _fault(status, False, f.retry_after if status == 429 else None)
            return self.router.dispatch(req, route, token_lifetime=f.token_lifetime)
        if route.kind not in DATA_KINDS:
            return self.router.dispatch(req, route, token_lifetime=f.token_lifetime)
        hook = f.before_request
        if hook is not None:
            hook(record)
        burst = f.take_error()
        if burst is not None:
            return _fault(burst[0], burst[1], f.retry_after if burst[0] == 429 else None)
        if f.roll(f.rate_limit_share):
            return _fault(429, False, f.retry_after)
        target = f.take_redirect()
        if target is not None:
            return Response(302, b"", content_type=None, headers={"Location": target})
        corruption = f.peek_corruption() if route.kind in ("read", "search") else None
        resp = self.router.dispatch(
            req,
            route,
            token_lifetime=f.token_lifetime,
            forbidden_status=f.forbidden_status,
            next_link_host=f.next_link_host,
            drop_updated_at=corruption == "no_updated_at",
        )
        if corruption is not None and resp.status == 200:
            f.take_corruption()
            resp = _corrupt(resp, corruption)
        if f.roll(f.drop_share):
            resp.drop = True
        resp.trickle = f.take_trickle()
        return resp
