"""Field history over real HTTP into DuckDB: changes between runs arrive once each and in order,
events the site commits late arrive on a later run, a first run backfills from `history_since`
(paged by id), a field added later is backfilled, values keep their type, the off switch costs
nothing, and bad settings are refused before anything is read."""

import datetime as dt
from typing import Any

import pytest
from history_testing import history_rows, site_changes, utc
from shotgun_testing import script_auth

from shotgun_source import ShotgunConfigError, ShotgunPermissionError
from shotgun_source.errors import find_shotgun_error
from shotgun_source.history import BEGINNING

STATUS = {"sg_status_list"}
TABLE = "shots_field_changes"


def event_log_searches(sandbox: Any) -> list[Any]:
    return [r for r in sandbox.requests if r.kind == "search" and r.entity_type == "EventLogEntry"]


def change(site: Any, shot_id: int, status: str, user: dict[str, Any] | None = None, wait: int = 60) -> None:
    """One status change, `wait` seconds of site time after the previous one."""
    site.advance_clock(wait)
    site.update("Shot", shot_id, {"sg_status_list": status}, user=user)


def window_end(sandbox: Any) -> dt.datetime:
    """About where a run that starts now ends its window (the site's clock, whole seconds)."""
    return dt.datetime.fromtimestamp(sandbox.site.now(), dt.UTC)


def read_from(pipeline: Any, field: str = "sg_status_list", table: str = "shots") -> dt.datetime:
    """Where the pipeline says the field's history starts (`history_read` in the resource state)."""
    start = pipeline.state["sources"]["shotgun"]["resources"][table]["history_read"][field][0]
    return dt.datetime.strptime(start, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)


def about(moment: dt.datetime, expected: dt.datetime) -> bool:
    return abs((moment - expected).total_seconds()) <= 5


def test_status_changes_between_runs_arrive_once_each_in_order(
    sandbox: Any, source_for: Any, make_pipeline: Any
) -> None:
    site = sandbox.site
    pipeline = make_pipeline()
    started = window_end(sandbox)
    pipeline.run(source_for(sandbox, entities=["Shot"]))
    backfilled = history_rows(pipeline)
    month_ago = read_from(pipeline)
    assert about(month_ago, started - dt.timedelta(days=30))  # the default history_since
    expected = site_changes(site, "Shot", STATUS, since=month_ago)
    assert backfilled and [r["event_id"] for r in backfilled] == [e["id"] for e in expected]

    shots = site.records("Shot")
    one = next(s for s in shots if s["sg_status_list"] not in ("ip", "fin"))
    two = next(s for s in shots if s["sg_status_list"] not in ("rdy", "ip") and s["id"] != one["id"])
    first, second = one["id"], two["id"]
    artist = {"type": "HumanUser", "id": site.records("HumanUser")[5]["id"]}
    made = []
    for shot_id, status in [(first, "ip"), (second, "rdy"), (first, "rev"), (first, "fin"), (second, "ip")]:
        change(site, shot_id, status, user=artist)
        made.append((shot_id, status))
    site.advance_clock(5)
    pipeline.run(source_for(sandbox, entities=["Shot"]))

    rows = history_rows(pipeline)
    new_rows = rows[len(backfilled) :]
    assert [(r["entity_id"], r["new_value"]) for r in new_rows] == made
    assert [r["old_value"] for r in new_rows] == [
        one["sg_status_list"],
        two["sg_status_list"],
        "ip",
        "rev",
        "rdy",
    ]
    assert all(r["user__id"] == artist["id"] for r in new_rows)
    times = [utc(r["changed_at"]) for r in new_rows]
    assert times == sorted(times) and len(set(times)) == len(times)  # a minute apart, in order
    assert [r["event_id"] for r in rows] == [e["id"] for e in site_changes(site, "Shot", STATUS, month_ago)]

    # a run with nothing new re-scans the lookback (the last changes) and writes none of it again
    site.advance_clock(5)
    sandbox.clear_requests()
    pipeline.run(source_for(sandbox, entities=["Shot"]))
    assert history_rows(pipeline) == rows
    assert TABLE not in pipeline.last_trace.last_normalize_info.row_counts
    assert len(event_log_searches(sandbox)) == 1  # riding on the one event-log read


def test_events_committed_late_arrive_on_a_later_run(
    sandbox: Any, source_for: Any, make_pipeline: Any
) -> None:
    """An event held back past a run (its id and created_at from the change, visible later) and a
    late-committed write; events with higher ids are visible before both, so a max-id cursor would
    skip them. Both arrive on the run after they commit, once."""
    site = sandbox.site
    pipeline = make_pipeline()
    pipeline.run(source_for(sandbox, entities=["Shot"]))
    backfilled = {r["event_id"] for r in history_rows(pipeline)}
    shots = [s for s in site.records("Shot") if s["sg_status_list"] not in ("hld", "omt", "fin")]
    held_shot, late_shot, plain_shot = shots[1]["id"], shots[2]["id"], shots[3]["id"]

    site.advance_clock(10)
    late = site.begin_late_update("Shot", late_shot, {"sg_status_list": "hld"})
    hold = site.hold_events()
    site.update("Shot", held_shot, {"sg_status_list": "omt"})
    hold.stop_catching()
    site.advance_clock(10)
    site.update("Shot", plain_shot, {"sg_status_list": "fin"})  # a higher id, visible at once
    site.advance_clock(5)
    pipeline.run(source_for(sandbox, entities=["Shot"]))
    seen = {r["entity_id"]: r for r in history_rows(pipeline) if r["event_id"] not in backfilled}
    assert seen[plain_shot]["new_value"] == "fin"
    assert held_shot not in seen and late_shot not in seen
    held_ids = hold.event_ids
    assert held_ids and max(held_ids) < seen[plain_shot]["event_id"]
    assert max(late.event_ids) < seen[plain_shot]["event_id"]

    hold.release()
    late.commit()
    site.advance_clock(5)
    pipeline.run(source_for(sandbox, entities=["Shot"]))
    rows = history_rows(pipeline)
    by_event = {r["event_id"]: r for r in rows}
    assert by_event[held_ids[0]]["entity_id"] == held_shot and by_event[held_ids[0]]["new_value"] == "omt"
    assert by_event[late.event_ids[0]]["entity_id"] == late_shot
    assert by_event[late.event_ids[0]]["new_value"] == "hld"
    assert len(rows) == len(by_event)  # nothing doubled
    since = utc(min(r["changed_at"] for r in rows))
    assert [r["event_id"] for r in rows] == [e["id"] for e in site_changes(site, "Shot", STATUS, since)]


def test_first_run_backfills_from_history_since_paged_by_id(
    sandbox: Any, source_for: Any, make_pipeline: Any
) -> None:
    site = sandbox.site
    everything = site_changes(site, "Shot", STATUS)
    page_size = 50
    assert len(everything) > 2 * page_size, "the backfill must page for this test to mean anything"
    # one thread: keyset pages one after another, the last one short
    sandbox.clear_requests()
    pipeline = make_pipeline()
    source = source_for(
        sandbox, entities=["Shot"], history_since=BEGINNING, page_size=page_size, parallel_ranges=1
    )
    pipeline.run(source)
    assert [r["event_id"] for r in history_rows(pipeline)] == [e["id"] for e in everything]
    searches = event_log_searches(sandbox)
    backfill = [r for r in searches if BEGINNING in str(r.body)]
    max_id_probes = [r for r in backfill if "'-id'" in str(r.body)]
    assert len(max_id_probes) == 1  # the id-range split asks for the highest id once
    keyset = [r for r in backfill if r not in max_id_probes]
    assert len(keyset) == len(everything) // page_size + 1
    assert len(searches) == len(backfill) + 1  # and the event-log read every run makes
    first_ids = [int(str(r.body).split("'greater_than', ")[1].split("]")[0]) for r in keyset[1:]]
    assert first_ids == sorted(first_ids)  # each page asks for ids above the last one read

    # several threads (id ranges in parallel where the first page's density says it pays): every event once
    sandbox.clear_requests()
    parallel = make_pipeline(name="parallel")
    parallel.run(
        source_for(
            sandbox, entities=["Shot"], history_since=BEGINNING, page_size=page_size, parallel_ranges=4
        )
    )
    assert sorted(r["event_id"] for r in history_rows(parallel)) == [e["id"] for e in everything]

    # a date: from its midnight, UTC
    since = everything[len(everything) // 2]["created_at"].date()
    dated = make_pipeline(name="dated")
    dated.run(source_for(sandbox, entities=["Shot"], history_since=since.isoformat()))
    midnight = dt.datetime.combine(since, dt.time(), dt.UTC)
    assert [r["event_id"] for r in history_rows(dated)] == [
        e["id"] for e in site_changes(site, "Shot", STATUS, midnight)
    ]


def test_a_field_added_later_is_backfilled_and_the_old_ones_are_not_read_again(
    sandbox: Any, source_for: Any, make_pipeline: Any
) -> None:
    site = sandbox.site
    shot = site.records("Shot")[7]["id"]
    site.update("Shot", shot, {"description": "a day before the first run"})
    site.advance_clock(86400)
    pipeline = make_pipeline()
    first_run = window_end(sandbox)
    pipeline.run(source_for(sandbox, entities=["Shot"]))
    site.advance_clock(30)
    site.update("Shot", shot, {"description": "first cut", "sg_status_list": "ip"})
    site.advance_clock(30)
    widened = {"Shot": ["sg_status_list", "description"]}
    sandbox.clear_requests()
    pipeline.run(source_for(sandbox, entities=["Shot"], history_fields=widened))

    fields = {"sg_status_list", "description"}
    assert about(read_from(pipeline, "description"), window_end(sandbox) - dt.timedelta(days=30))
    expected = [
        *site_changes(site, "Shot", STATUS, since=read_from(pipeline)),
        *site_changes(site, "Shot", {"description"}, since=read_from(pipeline, "description")),
    ]
    expected.sort(key=lambda e: e["id"])
    assert [r["event_id"] for r in history_rows(pipeline)] == [e["id"] for e in expected]
    described = [e for e in expected if e["attribute_name"] == "description"]
    assert len(described) == 2 and described[0]["entity"]["id"] == shot
    assert described[0]["created_at"] < first_run - dt.timedelta(hours=1)  # behind any lookback
    searches = event_log_searches(sandbox)
    assert len(searches) == 2, [r.body for r in searches]  # the event-log read, one backfill of description
    assert "'description'" in str(searches[1].body) and "'sg_status_list'" not in str(searches[1].body)
    state = pipeline.state["sources"]["shotgun"]["resources"]["shots"]["history_read"]
    assert set(state) == fields and state["description"][1] == state["sg_status_list"][1]  # read up to here
    assert state["description"][0] > state["sg_status_list"][0]  # from 30 days before the run that added it


def test_history_switched_off_for_a_while_catches_up_and_an_earlier_since_reads_further_back(
    sandbox: Any, source_for: Any, make_pipeline: Any
) -> None:
    site = sandbox.site
    pipeline = make_pipeline()
    started = window_end(sandbox)
    pipeline.run(source_for(sandbox, entities=["Shot"], history_since="2 days"))
    since = read_from(pipeline)
    assert about(since, started - dt.timedelta(days=2))
    shots = [s for s in site.records("Shot") if s["sg_status_list"] != "omt"]
    site.advance_clock(3600)
    site.update("Shot", shots[0]["id"], {"sg_status_list": "omt"})
    site.advance_clock(3600)
    pipeline.run(source_for(sandbox, entities=["Shot"], history_fields=False))  # the change goes unseen
    site.advance_clock(3600)
    site.update("Shot", shots[1]["id"], {"sg_status_list": "omt"})
    site.advance_clock(3600)
    sandbox.clear_requests()
    pipeline.run(source_for(sandbox, entities=["Shot"], history_since="2 days"))
    assert [r["event_id"] for r in history_rows(pipeline)] == [
        e["id"] for e in site_changes(site, "Shot", STATUS, since)
    ]
    assert len(event_log_searches(sandbox)) == 2  # the event-log read, and the catch-up since switched off

    pipeline.run(source_for(sandbox, entities=["Shot"], history_since="1970-01-01T00:00:00Z"))
    assert read_from(pipeline) == dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    rows = history_rows(pipeline)
    assert [r["event_id"] for r in rows] == [e["id"] for e in site_changes(site, "Shot", STATUS)]
    assert len(rows) > len({e["id"] for e in site_changes(site, "Shot", STATUS, since)})


def test_values_keep_their_type(sandbox: Any, source_for: Any, make_pipeline: Any) -> None:
    site = sandbox.site
    fields = ["sg_status_list", "sg_cut_in", "sg_sequence", "description", "assets", "sg_cut_duration"]
    pipeline = make_pipeline()
    pipeline.run(source_for(sandbox, entities=["Shot"], history_fields={"Shot": fields}))
    shot = next(s for s in site.records("Shot") if s["sg_sequence"] and s["assets"])
    other_sequence = next(s for s in site.records("Sequence") if s["id"] != shot["sg_sequence"]["id"])
    site.advance_clock(10)
    site.update(
        "Shot",
        shot["id"],
        {
            "sg_cut_in": 1017,
            "sg_sequence": {"type": "Sequence", "id": other_sequence["id"]},
            "description": "new words",
            "assets": [],
        },
    )
    site.advance_clock(5)
    pipeline.run(source_for(sandbox, entities=["Shot"], history_fields={"Shot": fields}))
    with pipeline.sql_client() as client:
        rows = client.execute_sql(
            f"select field, data_type, old_value, new_value, old_number, new_number, old_id, old_type,"
            f" old_name, new_id, new_name, old_json, new_json from {TABLE}"
            " where entity_id = %s and changed_at >= %s order by event_id",
            shot["id"],
            window_end(sandbox) - dt.timedelta(seconds=30),
        )
    by_field = {row[0]: row[1:] for row in rows}
    assert set(by_field) == {"sg_cut_in", "sg_sequence", "description", "assets"}
    cut_in = by_field["sg_cut_in"]
    assert cut_in[:5] == ("number", str(shot["sg_cut_in"]), "1017", float(shot["sg_cut_in"]), 1017.0)
    sequence = by_field["sg_sequence"]
    assert sequence[0] == "entity" and sequence[5:10] == (
        shot["sg_sequence"]["id"],
        "Sequence",
        shot["sg_sequence"]["name"],
        other_sequence["id"],
        other_sequence["code"],
    )
    assert sequence[1:3] == (shot["sg_sequence"]["name"], other_sequence["code"])  # a link's text: its name
    assert by_field["description"][:3] == ("text", shot["description"], "new words")
    assert by_field["description"][3:] == (None,) * 9
    assets = by_field["assets"]
    assert assets[0] == "multi_entity" and assets[3:10] == (None,) * 7
    old_assets, new_assets = (value if isinstance(value, list) else _json(value) for value in assets[10:12])
    assert [a["id"] for a in old_assets] == [a["id"] for a in shot["assets"]] and new_assets == []


def _json(value: Any) -> Any:
    import json

    return json.loads(value)


def test_history_off_costs_no_request_and_makes_no_table(
    sandbox: Any, source_for: Any, make_pipeline: Any
) -> None:
    def first_and_quiet_run(name: str, **options: Any) -> tuple[Any, int, int]:
        pipeline = make_pipeline(name=name)
        sandbox.clear_requests()
        pipeline.run(source_for(sandbox, entities=["Shot", "Version"], **options))
        first = len(event_log_searches(sandbox))
        sandbox.site.advance_clock(5)
        sandbox.clear_requests()
        pipeline.run(source_for(sandbox, entities=["Shot", "Version"], **options))
        return pipeline, first, len(event_log_searches(sandbox))

    on, on_first, on_quiet = first_and_quiet_run("on")
    off, off_first, off_quiet = first_and_quiet_run("off", history_fields=False)
    also_off, *also_counts = first_and_quiet_run("off_word", history_fields="off")
    assert on_quiet == off_quiet == 2  # one event-log read per type, history or not
    assert on_first == off_first + 2  # the first run's backfill, one page per type here
    assert also_counts == [off_first, off_quiet]
    assert {"shots_field_changes", "versions_field_changes"} <= set(on.default_schema.tables)
    for pipeline in (off, also_off):
        assert not [t for t in pipeline.default_schema.tables if t.endswith("_field_changes")]
        assert "history_read" not in pipeline.state["sources"]["shotgun"]["resources"]["shots"]

    # no event-log read at all (deletes ignored, renames not followed): no history unless asked for
    quiet, quiet_first, quiet_again = first_and_quiet_run(
        "no_log", deletes="ignore", refresh_link_names=False
    )
    assert quiet_first == quiet_again == 0
    assert not [t for t in quiet.default_schema.tables if t.endswith("_field_changes")]
    asked, asked_first, asked_quiet = first_and_quiet_run(
        "asked", deletes="ignore", refresh_link_names=False, history_fields="Shot.sg_status_list"
    )
    assert (asked_first, asked_quiet) == (1, 1)  # the backfill, then the event-log read
    assert "shots_field_changes" in asked.default_schema.tables
    assert "versions_field_changes" not in asked.default_schema.tables


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"history_fields": {"Shot": ["sg_no_such_field"]}}, "unknown field(s): sg_no_such_field"),
        ({"history_fields": {"Playlist": ["code"]}}, "'Playlist', which is not among the loaded entities"),
        ({"history_fields": "Shot"}, "must name a type and a field, like Shot.sg_status_list"),
        ({"history_fields": "{not json"}, "not valid JSON"),
        ({"history_fields": 7}, "history_fields must be false"),
        ({"history_since": "last tuesday"}, "history_since must be a UTC time like 2024-01-31T00:00:00Z"),
        ({"history_since": "2024-13-01"}, "history_since must be"),
    ],
)
def test_bad_history_settings_are_refused_naming_the_fix(
    shared_sandbox: Any, source_for: Any, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ShotgunConfigError) as refused:
        source_for(shared_sandbox, entities=["Shot"], **options)
    assert message in str(refused.value)


def test_history_of_the_event_log_itself_is_refused(shared_sandbox: Any, source_for: Any) -> None:
    with pytest.raises(ShotgunConfigError) as refused:
        source_for(
            shared_sandbox, entities=["EventLogEntry"], history_fields={"EventLogEntry": ["description"]}
        )
    assert "never change" in str(refused.value)


def test_history_settings_from_the_environment(
    shared_sandbox: Any, source_for: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As environment variables carry them: JSON, or Type.field names, or a word."""
    monkeypatch.setenv(
        "SOURCES__SHOTGUN__HISTORY_FIELDS", '{"Shot": ["sg_status_list", "code"], "Version": []}'
    )
    monkeypatch.setenv("SOURCES__SHOTGUN__HISTORY_SINCE", "7 days")
    source = source_for(shared_sandbox, entities=["Shot", "Version", "Task"])
    histories = {name: getattr(r, "history_fields", None) for name, r in source.resources.items()}
    assert histories == {"shots": ["sg_status_list", "code"], "versions": None, "tasks": ["sg_status_list"]}


def test_without_event_log_access_history_says_what_to_do(
    sandbox: Any, source_for: Any, make_pipeline: Any
) -> None:
    sandbox.site.add_script("no_events", "no-events-key-123", denied_entity_types=["EventLogEntry"])
    credentials = script_auth(sandbox, client_id="no_events", client_secret="no-events-key-123")
    source = source_for(
        sandbox,
        credentials=credentials,
        entities=["Shot"],
        deletes="ignore",
        refresh_link_names=False,
        history_fields=True,
    )
    with pytest.raises(Exception) as failed:
        make_pipeline().run(source)
    error = find_shotgun_error(failed.value)
    assert isinstance(error, ShotgunPermissionError) and "history_fields = false" in str(error)
