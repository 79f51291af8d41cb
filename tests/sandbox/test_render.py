"""Every record of every type, read over HTTP with fields=*, equals the ground truth on the wire."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from shotgun_source.sandbox import Sandbox
from shotgun_source.sandbox.render import Renderer

from .helpers import Client, wire
from .shapes import record_problems


@pytest.fixture(scope="module")
def client(shared_sandbox: Sandbox) -> Client:
    return Client(shared_sandbox)


def link(value: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if value is None else {"id": value["id"], "name": value["name"], "type": value["type"]}


@pytest.mark.parametrize(
    "entity",
    ["HumanUser", "ApiUser", "Project", "Episode", "Sequence", "Shot", "Asset", "Task", "Version",
     "PublishedFile", "Note", "Playlist", "TimeLog", "CustomEntity01", "EventLogEntry"],
)  # fmt: skip
def test_every_record_on_the_wire(client: Client, shared_sandbox: Sandbox, entity: str) -> None:
    site = shared_sandbox.site
    kinds = {k: v["data_type"] for k, v in site.fields(entity).items()}
    slug = site.table(entity).slug  # type: ignore[union-attr]
    truth = {r["id"]: r for r in site.records(entity)}
    seen = 0
    for page in range(1, 10):
        r = client.get(
            f"/api/v1/entity/{entity}", fields="*", **{"page[size]": "5000", "page[number]": str(page)}
        )
        data = r.json()["data"]
        for rec in data:
            assert record_problems(rec, kinds, slug) == [], rec["id"]
            expected = truth[rec["id"]]
            assert set(rec["attributes"]) | set(rec["relationships"]) == set(kinds) - {"id"}
            for name, value in rec["attributes"].items():
                assert value == wire(kinds[name], expected[name]), (rec["id"], name)
            for name, rel in rec["relationships"].items():
                if kinds[name] == "multi_entity":
                    assert rel["data"] == [link(x) for x in expected[name]], (rec["id"], name)
                else:
                    assert rel["data"] == link(expected[name]), (rec["id"], name)
        seen += len(data)
        if len(data) < 5000:
            break
    assert seen == len(truth)


def test_fast_and_plain_renderers_agree(shared_sandbox: Sandbox) -> None:
    site = shared_sandbox.site
    for name, table in site.tables.items():
        for fields in (None, ["code", "project", "entity.Shot.code", "no_such_field"]):
            renderer = Renderer(site, table, fields)
            for row in range(0, table.n, max(1, table.n // 50)):
                assert orjson.loads(renderer.render_json(row)) == renderer.render(row), (name, row)


def test_prefetched_pages_never_go_stale(sandbox: Sandbox) -> None:
    client = Client(sandbox)
    versions = sandbox.site.records("Version")
    first = client.search(
        "Version", [["id", "greater_than", 0]], fields="description", page={"size": 100}
    ).json()["data"]
    last = first[-1]["id"]
    changed, retired = versions[120], versions[130]
    sandbox.site.update("Version", changed["id"], {"description": "changed while page 2 was prefetched"})
    sandbox.site.retire("Version", retired["id"])
    second = client.search(
        "Version", [["id", "greater_than", last]], fields="description", page={"size": 100}
    ).json()["data"]
    by_id = {d["id"]: d for d in second}
    assert by_id[changed["id"]]["attributes"]["description"] == "changed while page 2 was prefetched"
    assert retired["id"] not in by_id
    assert [d["id"] for d in second] == [v["id"] for v in versions[100:201] if v["id"] != retired["id"]]


def test_keyset_pages_are_prefetched(sandbox: Sandbox) -> None:
    client = Client(sandbox)
    cache = sandbox.app.router.pages
    first = client.search("Version", [["id", "greater_than", 0]], fields="code", page={"size": 100}).json()[
        "data"
    ]
    assert len(cache._pages) == 1  # the predicted next page is being rendered
    next(iter(cache._pages.values())).result(timeout=10)
    second = client.search(
        "Version", [["id", "greater_than", first[-1]["id"]]], fields="code", page={"size": 100}
    )
    assert [d["id"] for d in second.json()["data"]] == [
        v["id"] for v in sandbox.site.records("Version")[100:200]
    ]
    assert len(cache._pages) == 1  # served from the cache, and page 3 predicted in turn
