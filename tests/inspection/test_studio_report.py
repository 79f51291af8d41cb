"""pipelines/studio_report.py on a demo load: the pictures hold the numbers SQL gives."""

import csv
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import UTC, timedelta
from pathlib import Path

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
