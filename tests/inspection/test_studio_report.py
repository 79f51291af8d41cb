"""pipelines/studio_report.py on a demo load: the pictures hold the numbers SQL gives."""

import csv
import shutil
import statistics
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from inspection.conftest import DemoRun
from inspection.helpers import REPORT_SCRIPT, query, run_script

SVG = "{http://www.w3.org/2000/svg}"


def bars(svg: Path, first: str, second: str) -> dict[tuple[str, str], int]:
    """`(data-<first>, data-<second>) -> data-count` of every bar segment in the picture."""
    root = ET.parse(svg).getroot()
    assert root.tag == f"{SVG}svg"
    return {
        (rect.attrib[f"data-{first}"], rect.attrib[f"data-{second}"]): int(rect.attrib["data-count"])
        for rect in root.iter(f"{SVG}rect")
        if "data-count" in rect.attrib
    }


def csv_rows(path: Path) -> dict[tuple[str, str], int]:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        next(reader)
        return {(a, b): int(n) for a, b, n in reader}


def test_report_draws_shots_by_status_and_versions_per_week(demo_run: DemoRun, tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = run_script(
        demo_run.cwd,
        "--database",
        str(demo_run.database),
        "--out",
        str(out),
        script=REPORT_SCRIPT,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    names = ["shots_by_status.svg", "versions_per_week.svg", "shots_by_status.csv", "versions_per_week.csv"]
    names += ["days_in_status.svg", "days_in_status.csv"]
    for name in [*names, "index.html"]:
        assert (out / name).is_file() and str(out / name) in result.stdout, name

    shots = {
        (project, status): n
        for project, status, n in query(
            demo_run.database,
            "select project__name, sg_status_list, count(*) from shotgun.shots"
            " where _sg_retired is distinct from true group by 1, 2",
        )
    }
    assert len(shots) >= 8 and sum(shots.values()) > 100
    assert bars(out / "shots_by_status.svg", "project", "status") == shots
    assert csv_rows(out / "shots_by_status.csv") == shots

    # the weeks counted here in Python, from each live version's creation time (UTC, weeks from Monday)
    weeks: Counter[tuple[str, str]] = Counter()
    for created_at, project in query(
        demo_run.database,
        "select created_at, project__name from shotgun.versions where _sg_retired is distinct from true",
    ):
        day = created_at.astimezone(UTC).date()
        weeks[(day - timedelta(days=day.weekday())).isoformat(), project] += 1
    assert len({week for week, _ in weeks}) >= 4
    assert bars(out / "versions_per_week.svg", "week", "project") == dict(weeks)
    assert csv_rows(out / "versions_per_week.csv") == dict(weeks)

    page = (out / "index.html").read_text(encoding="utf-8")
    assert f"{sum(shots.values()):,} live shots" in page and f"{sum(weeks.values()):,} live versions" in page
    assert '<img src="shots_by_status.svg"' in page and '<img src="versions_per_week.svg"' in page


def test_report_defaults_to_the_demo_file_and_explains_a_missing_one(
    demo_run: DemoRun, tmp_path: Path
) -> None:
    result = run_script(demo_run.cwd, script=REPORT_SCRIPT, timeout=60)
    assert result.returncode == 0, result.stderr
    assert (demo_run.cwd / "studio_report" / "shots_by_status.svg").is_file()

    missing = run_script(tmp_path, script=REPORT_SCRIPT, timeout=60)
    assert missing.returncode == 1
    assert "shotgun_demo.duckdb does not exist" in missing.stderr and "--demo" in missing.stderr


def test_report_draws_median_days_in_each_status_from_the_field_history(
    demo_run: DemoRun, tmp_path: Path
) -> None:
    """Each bar's median, recomputed here in Python from the raw history rows: per live shot, one
    interval from each status change to the next, the current status until the picture's as-of."""
    out = tmp_path / "report"
    result = run_script(
        demo_run.cwd, "--database", str(demo_run.database), "--out", str(out), script=REPORT_SCRIPT
    )
    assert result.returncode == 0, result.stderr
    root = ET.parse(out / "days_in_status.svg").getroot()
    as_of = datetime.strptime(root.attrib["data-as-of"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    drawn = {
        (rect.attrib["data-project"], rect.attrib["data-status"]): (
            float(rect.attrib["data-days"]),
            int(rect.attrib["data-intervals"]),
        )
        for rect in root.iter(f"{SVG}rect")
        if "data-days" in rect.attrib
    }

    projects = dict(
        query(
            demo_run.database,
            "select id, project__name from shotgun.shots where _sg_retired is distinct from true",
        )
    )
    changes: dict[int, list[tuple[datetime, int, str]]] = defaultdict(list)
    for entity_id, event_id, status, changed_at in query(
        demo_run.database,
        "select entity_id, event_id, new_value, changed_at from shotgun.shots_field_changes"
        " where field = 'sg_status_list'",
    ):
        changes[entity_id].append((changed_at.astimezone(UTC), event_id, status))
    days: dict[tuple[str, str], list[float]] = defaultdict(list)
    for entity_id, rows in changes.items():
        if entity_id not in projects:
            continue
        rows.sort()
        ends = [started for started, _, _ in rows[1:]] + [as_of]
        for (started, _, status), ended in zip(rows, ends, strict=True):
            days[projects[entity_id], status].append((ended - started).total_seconds() / 86400)
    expected = {key: (statistics.median(values), len(values)) for key, values in days.items()}
    assert len(expected) >= 8 and sum(n for _, n in expected.values()) > 50
    with (out / "days_in_status.csv").open(newline="", encoding="utf-8") as f:
        written = {(p, s): (float(d), int(n)) for p, s, d, n in list(csv.reader(f))[1:]}
    for found in (drawn, written):  # 4 decimals in the files
        assert set(found) == set(expected)
        for key, (median, count) in expected.items():
            assert abs(found[key][0] - median) < 1e-4 and found[key][1] == count, key
    page = (out / "index.html").read_text(encoding="utf-8")
    assert '<img src="days_in_status.svg"' in page


def test_report_without_field_history_says_so(demo_run: DemoRun, tmp_path: Path) -> None:
    database = tmp_path / "no_history.duckdb"
    shutil.copy(demo_run.database, database)
    with duckdb.connect(str(database)) as con:
        con.execute("drop table shotgun.shots_field_changes")
    out = tmp_path / "report"
    result = run_script(tmp_path, "--database", str(database), "--out", str(out), script=REPORT_SCRIPT)
    assert result.returncode == 0, result.stderr
    assert (out / "shots_by_status.svg").is_file() and not (out / "days_in_status.svg").exists()
    assert "No field history in this dataset" in (out / "index.html").read_text(encoding="utf-8")
