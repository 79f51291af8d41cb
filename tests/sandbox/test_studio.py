"""The generated studio: deterministic, scaled, spread over months, every type and slug present."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from shotgun_source.sandbox import Site

ANCHOR = 1_780_000_000


def test_same_seed_same_studio_different_seed_different() -> None:
    a, b = Site(seed=5, anchor=ANCHOR), Site(seed=5, anchor=ANCHOR)
    for entity in ("Version", "CustomEntity01", "EventLogEntry", "Task"):
        assert a.records(entity, retired=None) == b.records(entity, retired=None)
    c = Site(seed=6, anchor=ANCHOR)
    assert a.records("Version") != c.records("Version")


def test_types_and_slugs(shared_site: Site) -> None:
    slugs = {name: shared_site.table(name).slug for name in shared_site.entity_types()}  # type: ignore[union-attr]
    assert slugs == {
        "HumanUser": "human_users",
        "ApiUser": "api_users",
        "Project": "projects",
        "Episode": "episodes",
        "Sequence": "sequences",
        "Shot": "shots",
        "Asset": "assets",
        "Task": "tasks",
        "Version": "versions",
        "PublishedFile": "published_files",
        "Note": "notes",
        "Playlist": "playlists",
        "TimeLog": "time_logs",
        "CustomEntity01": "custom_entity01s",
        "EventLogEntry": "event_log_entries",
    }
    for name in shared_site.entity_types():
        fields = shared_site.fields(name)
        assert {"id", "created_at"} <= set(fields)
        if name != "EventLogEntry":
            assert {"updated_at", "created_by", "updated_by"} <= set(fields)
    assert shared_site.fields("Task")["task_assignees"]["properties"]["valid_types"] == ["HumanUser"]
    version = shared_site.fields("Version")
    assert version["entity"]["data_type"] == "entity" and version["playlists"]["data_type"] == "multi_entity"
    assert version["sg_uploaded_movie"]["data_type"] == "url" and version["image"]["data_type"] == "image"


def test_scale_one_is_a_few_thousand_rows_and_grows_linearly() -> None:
    one = Site(seed=1, scale=1.0, anchor=ANCHOR).counts()
    rows = sum(n for t, n in one.items() if t != "EventLogEntry")
    assert 3000 <= rows <= 10000
    two = Site(seed=1, scale=2.0, anchor=ANCHOR).counts()
    assert two["Version"] == 2 * one["Version"] and two["Shot"] == 2 * one["Shot"]
    override = Site(seed=1, scale=1.0, versions=50, anchor=ANCHOR).counts()
    assert override["Version"] == 50 and override["Shot"] == one["Shot"]


def test_timestamps_spread_tie_and_stay_before_the_anchor(shared_site: Site) -> None:
    anchor = dt.datetime.fromtimestamp(shared_site.anchor, dt.UTC)
    versions = shared_site.records("Version", retired=None)
    created = [v["created_at"] for v in versions]
    assert all(v["created_at"] <= v["updated_at"] <= anchor for v in versions)
    assert max(created) - min(created) > dt.timedelta(days=90)
    assert created == sorted(created)  # ids follow creation order
    assert sum(1 for v in versions if v["updated_at"] > v["created_at"]) > len(versions) // 4
    ties = Counter(v["updated_at"] for v in versions)
    assert max(ties.values()) >= 5  # bulk updates share a second
    assert all(v["updated_at"].microsecond == 0 for v in versions)


def test_links_resolve_and_names_are_live(shared_site: Site) -> None:
    version = shared_site.records("Version")[0]
    task = shared_site.get("Task", version["sg_task"]["id"])
    assert task is not None and version["sg_task"]["name"] == task["content"]
    assert version["entity"] == {**task["entity"]}
    assert version["project"]["id"] == task["project"]["id"]
    assert shared_site.records("ApiUser")[0]["firstname"] == "sandbox_script"


def test_link_names_follow_renames() -> None:
    site = Site(seed=2, scale=0.2, anchor=ANCHOR)
    version = site.records("Version")[0]
    kind, target = version["entity"]["type"], version["entity"]["id"]
    site.update(kind, target, {"code": "renamed_target"})
    assert site.get("Version", version["id"])["entity"]["name"] == "renamed_target"  # type: ignore[index]
    assert site.get("Version", version["id"])["updated_at"] == version["updated_at"]  # type: ignore[index]
