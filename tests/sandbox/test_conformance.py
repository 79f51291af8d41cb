"""Replay every recorded ShotGrid exchange against the sandbox and compare response shapes.

The cassettes (real sites, 2021) are read from ../shared/shotgrid-recordings at test time and
never copied. Recorded ids and values are mapped onto sandbox equivalents (Asset 1226 -> the
first sandbox Asset, Project 122 -> a sandbox project, 'Alice' -> that Asset's code, ids of
records a cassette creates -> the ids the sandbox gives them), then each response is compared
on what a client relies on: status, content type, top-level keys, record keys, value types
per field data type, relationship shapes, the exact `links` (after mapping), error envelopes.

Run with `-s` to see the replayed/matched counts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import requests
import yaml

from shotgun_source.sandbox import Sandbox

from .shapes import (
    HEX32,
    TOKEN_KEYS,
    error_problems,
    link_form_problems,
    rails_query,
    record_problems,
    split_link,
)

Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_cassettes(root: Path) -> list[tuple[str, list[dict[str, Any]]]]:
    out = []
    for path in sorted(root.rglob("*.yml")):
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=Loader)
        out.append((str(path.relative_to(root)), data["http_interactions"]))
    return out


def recorded_schema(cassettes: list[tuple[str, list[dict[str, Any]]]]) -> dict[str, Any]:
    """The Asset field schema a live site returned (from the fields_read cassette)."""
    for _, interactions in cassettes:
        for it in interactions:
            if urlsplit(it["request"]["uri"]).path.endswith("/schema/Asset/fields"):
                return json.loads(it["response"]["body"]["string"])["data"]
    raise AssertionError("no recorded Asset schema")


@pytest.fixture(scope="module")
def conformance_sandbox() -> Iterator[Sandbox]:
    """Its own sandbox: the replay creates, retires and revives Assets."""
    with Sandbox(seed=3, scale=1.0) as sb:
        yield sb


class Replay:
    """Sends recorded requests to the sandbox with ids and values mapped, compares answers."""

    def __init__(self, sb: Sandbox, recorded_fields: dict[str, Any]) -> None:
        self.sb = sb
        self.session = requests.Session()
        self.token: str | None = None
        self.recorded_types = {k: v["data_type"]["value"] for k, v in recorded_fields.items()}
        self.recorded_fields = recorded_fields
        self.sandbox_types = {k: v["data_type"] for k, v in sb.site.fields("Asset").items()}
        assets = sb.site.records("Asset")
        project = next(p for p in sb.site.records("Project") if not p["archived"])
        in_project = [a for a in assets if a["project"] and a["project"]["id"] == project["id"]]
        assert len(in_project) >= 3
        self.ids: dict[int, int] = {1226: assets[0]["id"], 1227: assets[1]["id"], 122: project["id"]}
        self.words: dict[str, str] = {"Alice": assets[0]["code"], "Test 1": in_project[0]["code"]}
        self.secrets = {
            "<SHOTGUN_SCRIPT_NAME>": sb.script_name,
            "<SCRIPT_NAME>": sb.script_name,
            "<SHOTGUN_SCRIPT_KEY>": sb.script_key,
            "<SCRIPT_KEY>": sb.script_key,
            "<USERNAME>": sb.login,
            "<PASSWORD>": sb.password,
        }

    # mapping ---------------------------------------------------------------------------
    def value(self, v: Any) -> Any:
        if isinstance(v, bool):
            return v
        if isinstance(v, int):
            return self.ids.get(v, v)
        if isinstance(v, str):
            if v in self.secrets:
                return self.secrets[v]
            if v in self.words:
                return self.words[v]
            if v.isdigit() and int(v) in self.ids:
                return str(self.ids[int(v)])
            return v
        if isinstance(v, list):
            return [self.value(x) for x in v]
        if isinstance(v, dict):
            return {k: (self.value(x) if k not in ("fields", "sort", "page") else x) for k, x in v.items()}
        return v

    def path(self, path: str) -> str:
        return "/".join(str(self.value(int(p))) if p.isdigit() else p for p in path.split("/"))

    def link(self, link: str) -> str:
        """A recorded link with ids/values mapped, re-encoded as the server does."""
        path, pairs = split_link(link)
        mapped = [(k, str(self.value(v))) for k, v in pairs]
        return self.path(path) + (f"?{rails_query(mapped)}" if mapped else "")

    # one exchange ----------------------------------------------------------------------
    def exchange(self, it: dict[str, Any]) -> list[str]:
        rq, rs = it["request"], it["response"]
        method = rq["method"].upper()
        parts = urlsplit(rq["uri"])
        pairs = [(k, str(self.value(v))) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
        url = self.sb.url + self.path(parts.path) + (f"?{urlencode(pairs)}" if pairs else "")
        headers = {"Accept": "application/json"}
        ctype = (rq.get("headers") or {}).get("Content-Type")
        if ctype:
            headers["Content-Type"] = ctype[0]
        is_token = parts.path.endswith("/auth/access_token")
        if not is_token and self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        body = rq["body"].get("string") or ""
        if body and not is_token:
            body = json.dumps(self.value(json.loads(body)))
        resp = self.session.request(method, url, data=body.encode(), headers=headers, allow_redirects=False)
        problems = self.compare(method, parts.path, dict(pairs), rq, rs, resp)
        if is_token and resp.status_code == 200:
            self.token = resp.json()["access_token"]
        if method == "POST" and resp.status_code == 201 and rs["status"]["code"] == 201:
            recorded_id = json.loads(rs["body"]["string"])["data"]["id"]
            self.ids[recorded_id] = resp.json()["data"]["id"]  # later requests use the new record
        return problems

    def compare(
        self, method: str, path: str, query: dict[str, str], rq: dict[str, Any], rs: dict[str, Any], resp: Any
    ) -> list[str]:
        status = rs["status"]["code"]
        if resp.status_code != status:
            return [f"status {resp.status_code} != {status}: {resp.text[:300]}"]
        problems = self.header_problems(rs, resp)
        text = rs["body"].get("string") or ""
        if not text:
            return problems + ([f"body {resp.content[:100]!r} where none recorded"] if resp.content else [])
        recorded, got = json.loads(text), resp.json()
        if isinstance(recorded, dict) and "errors" in recorded:
            return problems + self.error_diff(recorded, got, status)
        if not isinstance(got, dict) or set(got) != set(recorded):
            return problems + [f"top-level keys {sorted(got)} != {sorted(recorded)}"]
        if path.endswith("/auth/access_token"):
            return problems + self.token_diff(recorded, got)
        if path.rstrip("/") == "/api/v1":
            return problems + self.info_diff(recorded, got)
        if "/schema/" in path:
            return problems + self.schema_diff(path, recorded, got)
        if path.endswith("/_summarize"):
            return problems + self.summary_diff(recorded, got)
        if path.endswith("/preferences"):
            ok = isinstance(got["data"], dict) and got["links"] == recorded["links"]
            return problems + ([] if ok else [f"preferences {got!r:.200}"])
        return problems + self.entity_diff(method, path, query, rq, recorded, got)

    @staticmethod
    def header_problems(rs: dict[str, Any], resp: Any) -> list[str]:
        out = []
        recorded_ct = (rs["headers"].get("content-type") or [None])[0]
        if resp.headers.get("Content-Type") != recorded_ct:
            out.append(f"content-type {resp.headers.get('Content-Type')!r} != {recorded_ct!r}")
        for name in ("x-request-id", "cache-control", "date"):
            if name not in resp.headers:
                out.append(f"missing header {name}")
        if not HEX32.match(resp.headers.get("x-request-id", "")):
            out.append("x-request-id is not 32 hex digits")
        return out

    def error_diff(self, recorded: dict[str, Any], got: Any, status: int) -> list[str]:
        out = error_problems(got, status)
        if out:
            return out
        want, have = recorded["errors"][0], got["errors"][0]
        for key in ("code", "title", "source", "detail", "meta"):
            if have[key] != self.value(want[key]):
                out.append(f"error {key}: {have[key]!r} != {want[key]!r}")
        return out

    @staticmethod
    def token_diff(recorded: dict[str, Any], got: dict[str, Any]) -> list[str]:
        ok = (
            set(got) == TOKEN_KEYS
            and got["token_type"] == recorded["token_type"]
            and got["expires_in"] == recorded["expires_in"]
            and all(
                isinstance(got[k], str) and got[k].count(".") == 2 for k in ("access_token", "refresh_token")
            )
        )
        return [] if ok else [f"token answer {got!r:.200}"]

    @staticmethod
    def info_diff(recorded: dict[str, Any], got: dict[str, Any]) -> list[str]:
        want, have = recorded["data"], got["data"]
        if set(have) != set(want):
            return [f"server info keys {sorted(have)} != {sorted(want)}"]
        return [
            f"server info {k}: {type(have[k]).__name__}" for k in want if type(have[k]) is not type(want[k])
        ]

    def schema_diff(self, path: str, recorded: dict[str, Any], got: dict[str, Any]) -> list[str]:
        out = []
        if got["links"] != recorded["links"]:
            out.append(f"schema links {got['links']!r}")
        if not path.endswith("/fields"):
            if {k: set(v) for k, v in got["data"].items()} != {
                k: set(v) for k, v in recorded["data"].items()
            }:
                out.append(f"type schema {got['data']!r}")
            return out
        want_keys = {k for f in recorded["data"].values() for k in f}
        props_by_type: dict[str, set[str]] = {}
        for f in recorded["data"].values():
            props_by_type.setdefault(f["data_type"]["value"], set()).update(f["properties"])
        for name, field in got["data"].items():
            if set(field) != want_keys:
                out.append(f"field {name} keys {sorted(field)}")
                continue
            wrapped = [field[k] for k in field if k != "properties"] + list(field["properties"].values())
            if any(set(w) != {"value", "editable"} for w in wrapped):
                out.append(f"field {name} has an unwrapped property")
            dt = field["data_type"]["value"]
            if name in recorded["data"] and recorded["data"][name]["data_type"]["value"] != dt:
                out.append(f"field {name} is {dt}, recorded {recorded['data'][name]['data_type']['value']}")
            if dt in props_by_type and set(field["properties"]) != props_by_type[dt]:
                have, want = sorted(field["properties"]), sorted(props_by_type[dt])
                out.append(f"field {name} ({dt}) properties {have} != {want}")
        return out

    @staticmethod
    def summary_diff(recorded: dict[str, Any], got: dict[str, Any]) -> list[str]:
        want, have = recorded["data"], got["data"]
        ok = (
            set(have) == set(want)
            and set(have["summaries"]) == set(want["summaries"])
            and all(isinstance(v, int) for v in have["summaries"].values())
            and have["groups"] == want["groups"]
        )
        return [] if ok else [f"summary {got!r}"]

    def entity_diff(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        rq: dict[str, Any],
        recorded: dict[str, Any],
        got: dict[str, Any],
    ) -> list[str]:
        out: list[str] = []
        if "meta" in recorded:  # revive
            want = {**self.value(recorded), "links": {"self": self.link(recorded["links"]["self"])}}
            return [] if got == want else [f"revive answer {got!r} != {want!r}"]
        fields = query.get("fields")
        body = rq["body"].get("string") or ""
        if body and method == "POST" and path.endswith("/_search"):
            fields = json.loads(body).get("fields", fields)
        only = None if fields in (None, "*") else set(str(fields).split(","))
        created = method == "POST" and not path.endswith("/_search")
        want_records = recorded["data"] if isinstance(recorded["data"], list) else [recorded["data"]]
        have_records = got["data"] if isinstance(got["data"], list) else [got["data"]]
        for rec in want_records:  # the checker must accept what live sites send
            out += [
                f"recorded: {p}" for p in record_problems(rec, self.recorded_types, "assets", created, None)
            ]
        for rec in have_records:
            out += record_problems(rec, self.sandbox_types, "assets", created, only)
            if only is None and not created:
                full = set(self.sandbox_types) - {"id"}
                if set(rec["attributes"]) | set(rec["relationships"]) != full:
                    out.append("fields=* did not return every field")
            if only is not None and (rec["relationships"] == {}) != (want_records[0]["relationships"] == {}):
                out.append("relationships emptiness differs")
        if bool(want_records) != bool(have_records):
            out.append(f"{len(have_records)} records where {len(want_records)} were recorded")
        if created:
            if (
                "created_by" in want_records[0]["relationships"]
                and "created_by" not in have_records[0]["relationships"]
            ):
                out.append("create answer lacks created_by")
            return out
        if method == "PUT":
            if got["links"] != {} or got.get("status") != "successful":
                out.append(f"update answer {got['links']!r} {got.get('status')!r}")
            return out
        if isinstance(recorded["data"], list):
            page = int(query.get("page[number]", "1"))
            if method == "POST":
                page = int((json.loads(body).get("page") or {}).get("number", page))
            out += link_form_problems(got["links"], page)
        for name, link in recorded["links"].items():
            path_, pairs = split_link(link)
            if rails_query(pairs) != (urlsplit(link).query or ""):
                out.append(f"recorded link {name} is not Rails-encoded: {link}")
            if got["links"].get(name) != self.link(link):
                out.append(f"link {name}: {got['links'].get(name)!r} != {self.link(link)!r}")
        return out


def test_recorded_exchanges_conform(recordings_dir: Path, conformance_sandbox: Sandbox) -> None:
    cassettes = load_cassettes(recordings_dir)
    replay = Replay(conformance_sandbox, recorded_schema(cassettes))
    replayed = matched = 0
    failures = []
    for name, interactions in cassettes:
        replay.token = None
        for i, it in enumerate(interactions):
            problems = replay.exchange(it)
            replayed += 1
            if problems:
                failures.append(
                    f"{name}[{i}] {it['request']['method'].upper()} {it['request']['uri']}: {problems}"
                )
            else:
                matched += 1
    print(f"\nconformance: replayed {replayed} recorded exchanges from {len(cassettes)} cassettes", end="")
    print(f", {matched} matched")
    assert replayed >= 100
    assert not failures, "\n".join(failures)
