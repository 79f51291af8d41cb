"""The site's schema changes under a pipeline: a field deleted between the schema read and the page
reads, an entity type removed between two runs. Each run either goes on without what is gone and
says so in its summary, or stops at once with one clear message; never a crash deep in dlt.

The script runs as users run it, against a sandbox in this process; the deletions happen through
the sandbox (`Site.remove_field` from a hook on the first page request, `disable_entity_type`).
What the server does with a field it no longer has (ShotGrid REST reference, section 2): `fields`
"*" returns the fields the type has now, and an unknown name in a `fields` list is dropped at 200.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest
from destination_truth import assert_destination_matches_site

from reliability.helpers import FAST, CliDir, duplicate_keys

ENTITIES = ["Project", "Shot", "Task", "Asset", "Version"]
ARGS = ("--page-size", "100")
DELETED = "description"
EXPLICIT_FIELDS = '[sources.shotgun.fields]\nShot = ["code", "description", "sg_status_list"]\n'


def selected_shot_columns(database: Path) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(database), read_only=True) as con:
        return sorted(con.execute("select id, code, sg_status_list from shotgun.shots").fetchall())


def notes(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("Note: ")]


def delete_on_the_first_shot_page(sandbox: Any) -> list[bool]:
    """Remove Shot.description when the first Shot page is asked for, before it is answered."""
    done: list[bool] = []

    def trip(request: Any) -> None:
        if request.kind == "search" and request.entity_type == "Shot" and not done:
            done.append(True)
            sandbox.site.remove_field("Shot", DELETED)

    sandbox.faults.before_request = trip
    return done


@pytest.mark.parametrize("fields", ["every field", "a fields list"])
def test_a_field_deleted_while_the_run_reads_is_noted_and_the_run_goes_on(
    sandbox: Any, tmp_path: Path, fields: str
) -> None:
    cli = CliDir(tmp_path / "run")
    if fields == "a fields list":
        config = cli.cwd / ".dlt" / "config.toml"
        config.write_text(config.read_text() + "\n" + EXPLICIT_FIELDS)
    first = cli.run(sandbox.env(), *ARGS)
    assert first.returncode == 0, first.stderr[-3000:]
    assert not notes(first.stdout), "a run on an unchanged site noted a change: " + "\n".join(
        notes(first.stdout)
    )

    sandbox.site.mutate("Shot", 0.5, seed=4)
    deleted = delete_on_the_first_shot_page(sandbox)
    during = cli.run(sandbox.env(), *ARGS)
    sandbox.faults.before_request = None
    assert deleted, "the run read no Shot page"
    assert during.returncode == 0, during.stderr[-3000:]
    said = notes(during.stdout)
    assert len(said) == 1 and said[0].startswith(f"Note: Shot.{DELETED} was deleted on the site while"), said
    assert "the rows read after that hold no value for it" in said[0], said
    assert (
        "Traceback" not in during.stderr and f"Shot.{DELETED} was deleted" in during.stderr
    )  # dlt's log too
    assert not duplicate_keys(cli.database)
    if fields == "every field":
        assert_destination_matches_site(cli.attach(), sandbox.site, ENTITIES)  # the site's fields now
    else:
        assert selected_shot_columns(cli.database) == sorted(
            (shot["id"], shot["code"], shot["sg_status_list"]) for shot in sandbox.site.records("Shot")
        )

    after = cli.run(sandbox.env(), *ARGS, timeout=FAST * 4)
    if fields == "every field":  # the schema no longer names it: nothing to say
        assert after.returncode == 0 and not notes(after.stdout), after.stdout + after.stderr[-2000:]
    else:  # the setting names a field the site does not have: fix the setting first
        assert after.returncode == 2, after.stderr
        lines = after.stderr.strip().splitlines()
        assert lines[0].startswith(
            f"error: `fields` for Shot names unknown field(s): {DELETED}. Valid fields: "
        )
        assert "Traceback" not in after.stderr


def test_an_entity_type_removed_between_runs_stops_a_run_that_names_it_and_is_noted_by_one_that_reads_all(
    sandbox: Any, tmp_path: Path
) -> None:
    named = CliDir(tmp_path / "named")
    everything = CliDir(tmp_path / "all")
    some = ("--entities", "Shot,CustomEntity01", *ARGS)
    every = ("--entities", "all", *ARGS)
    assert named.run(sandbox.env(), *some).returncode == 0
    first_all = everything.run(sandbox.env(), *every)
    assert first_all.returncode == 0, first_all.stderr[-3000:]
    assert "custom_entity01s" in first_all.stdout and not notes(first_all.stdout)

    sandbox.site.disable_entity_type("CustomEntity01")
    sandbox.site.mutate("Shot", 0.2, seed=8)

    stopped = named.run(sandbox.env(), *some)
    assert stopped.returncode == 2, stopped.stderr
    line = stopped.stderr.strip()
    assert line.startswith("error: Unknown ShotGrid entity type(s): CustomEntity01."), line
    assert "Fix `entities`" in line and "Traceback" not in line and len(line.splitlines()) == 1, line

    goes_on = everything.run(sandbox.env(), *every)
    assert goes_on.returncode == 0, goes_on.stderr[-3000:]
    said = notes(goes_on.stdout)
    assert len(said) == 1, said
    assert said[0].startswith(
        "Note: table custom_entity01s was loaded by earlier runs, but its entity type is no"
    )
    assert "this run did not read it" in said[0], said
    live = [t for t in sandbox.site.entity_types() if t != "EventLogEntry"]
    assert_destination_matches_site(everything.attach(), sandbox.site, live)

    # leaving types out is a choice, not a change on the site: only the type that is gone is noted
    narrowed = everything.run(sandbox.env(), "--entities", "Shot", *ARGS)
    assert narrowed.returncode == 0, narrowed.stderr[-3000:]
    assert [note.split(" was loaded")[0] for note in notes(narrowed.stdout)] == [
        "Note: table custom_entity01s"
    ]
