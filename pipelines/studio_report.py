"""Pictures a studio asks for, drawn from a loaded ShotGrid copy in DuckDB.

    python pipelines/shotgun_pipeline.py --demo && python pipelines/studio_report.py
    python pipelines/studio_report.py --database shotgun_pipeline.duckdb --out report/

Writes into `--out` (default ./studio_report):
  shots_by_status.svg     shots per project, stacked by status (waiting, ready, in progress, ...)
  versions_per_week.svg   versions created per week (Monday to Sunday, UTC), stacked by project
  days_in_status.svg      median days shots spend in each status, per project, from the field
                          history (`shots_field_changes`; see the README's Field history)
  shots_by_status.csv, versions_per_week.csv, days_in_status.csv   the same numbers
  index.html              every picture and table on one page

Only live records count: rows the site retired (`_sg_retired`, see the README) are left out. The
SVG is written by hand (no plotting library to install); every bar carries its numbers in
`data-*` attributes and a tooltip.
"""

from __future__ import annotations

import argparse
import csv
import html
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb

DEFAULT_DATABASE = "shotgun_demo.duckdb"
DEFAULT_DATASET = "shotgun"
DEFAULT_OUT = "studio_report"

STATUS_ORDER = ("wtg", "rdy", "ip", "rev", "hld", "fin", "omt")
"""ShotGrid's default shot statuses in workflow order; a site's own statuses follow, sorted."""
STATUS_NAMES = {
    "wtg": "waiting to start",
    "rdy": "ready to start",
    "ip": "in progress",
    "rev": "pending review",
    "hld": "on hold",
    "fin": "final",
    "omt": "omitted",
}
PALETTE = (
    "#9aa5b1",
    "#4e79a7",
    "#f28e2b",
    "#edc948",
    "#b07aa1",
    "#59a14f",
    "#e15759",
    "#76b7b2",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)
NO_VALUE = "(none)"


@dataclass(frozen=True)
class Bar:
    """One stacked bar: its label and (series, count) segments from the bottom up."""

    label: str
    segments: list[tuple[str, int]]

    @property
    def total(self) -> int:
        return sum(n for _, n in self.segments)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="studio_report.py",
        description="Shots by status per project and versions per week, as SVG, CSV and one HTML page.",
    )
    parser.add_argument(
        "--database",
        default=DEFAULT_DATABASE,
        help=f"the DuckDB file a pipeline loaded (default: {DEFAULT_DATABASE}, what --demo leaves)",
    )
    parser.add_argument(
        "--dataset", default=DEFAULT_DATASET, help=f"dataset (schema) name (default: {DEFAULT_DATASET})"
    )
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"folder to write into (default: ./{DEFAULT_OUT})")
    return parser.parse_args(argv)


# -- queries ---------------------------------------------------------------------------------


def columns_of(con: duckdb.DuckDBPyConnection, dataset: str, table: str) -> set[str]:
    rows = con.execute(
        "select column_name from information_schema.columns where table_schema = ? and table_name = ?",
        [dataset, table],
    ).fetchall()
    return {name for (name,) in rows}


def live_filter(columns: set[str], *more: str) -> str:
    """`where` for rows still live on the site (soft-deleted rows carry `_sg_retired = true`)."""
    conditions = [*(["not coalesce(_sg_retired, false)"] if "_sg_retired" in columns else []), *more]
    return f"where {' and '.join(conditions)}" if conditions else ""


def require(columns: set[str], table: str, needed: Sequence[str], dataset: str) -> None:
    missing = [c for c in needed if c not in columns]
    if not columns:
        raise SystemExit(f"error: no table {dataset}.{table}: load it first (entities must include it).")
    if missing:
        raise SystemExit(
            f"error: {dataset}.{table} has no column(s) {', '.join(missing)}: load those fields."
        )


def shots_by_status(con: duckdb.DuckDBPyConnection, dataset: str) -> list[tuple[str, str, int]]:
    """(project, status, shots) for every pair with shots, live rows only."""
    columns = columns_of(con, dataset, "shots")
    require(columns, "shots", ["project__name", "sg_status_list"], dataset)
    rows = con.execute(
        f"""
        select coalesce(project__name, '{NO_VALUE}') as project,
               coalesce(sg_status_list, '{NO_VALUE}') as status,
               count(*) as shots
        from "{dataset}".shots {live_filter(columns)}
        group by project, status order by project, status
        """
    ).fetchall()
    return [(str(p), str(s), int(n)) for p, s, n in rows]


def versions_per_week(con: duckdb.DuckDBPyConnection, dataset: str) -> list[tuple[date, str, int]]:
    """(Monday of the week, project, versions created that week), by UTC, live rows only."""
    columns = columns_of(con, dataset, "versions")
    require(columns, "versions", ["created_at", "project__name"], dataset)
    rows = con.execute(
        f"""
        select cast(date_trunc('week', created_at at time zone 'UTC') as date) as week,
               coalesce(project__name, '{NO_VALUE}') as project,
               count(*) as versions
        from "{dataset}".versions {live_filter(columns, "created_at is not null")}
        group by week, project order by week, project
        """
    ).fetchall()
    return [(w, str(p), int(n)) for w, p, n in rows]


def days_in_status(
    con: duckdb.DuckDBPyConnection, dataset: str, as_of: datetime
) -> list[tuple[str, str, float, int]] | None:
    """(project, status, median days, intervals) over the live shots' status intervals; None when
    no field history was loaded.

    An interval runs from one change of `sg_status_list` to the shot's next one; the status a shot
    is in now counts its days up to `as_of`. Changes are read once per `event_id` (parquet files
    can hold one twice), and the project is the shot's own now."""
    changes = columns_of(con, dataset, "shots_field_changes")
    if not changes:
        return None
    require(
        changes, "shots_field_changes", ["event_id", "entity_id", "field", "new_value", "changed_at"], dataset
    )
    shots = columns_of(con, dataset, "shots")
    require(shots, "shots", ["project__name"], dataset)
    live = "not coalesce(s._sg_retired, false)" if "_sg_retired" in shots else "true"
    rows = con.execute(
        f"""
        with status_changes as (
            select entity_id, event_id, new_value as status, changed_at as started_at,
                   lead(changed_at) over (partition by entity_id order by changed_at, event_id) as ended_at
            from (select distinct on (event_id) * from "{dataset}".shots_field_changes) c
            where field = 'sg_status_list'
        )
        select coalesce(s.project__name, '{NO_VALUE}') as project,
               coalesce(i.status, '{NO_VALUE}') as status,
               median(extract(epoch from (coalesce(i.ended_at, ?::timestamptz) - i.started_at)) / 86400.0),
               count(*)
        from status_changes i join "{dataset}".shots s on s.id = i.entity_id
        where {live}
        group by project, status order by project, status
        """,
        [as_of],
    ).fetchall()
    return [(str(p), str(st), float(d), int(n)) for p, st, d, n in rows]


def status_order(statuses: set[str]) -> list[str]:
    known = [s for s in STATUS_ORDER if s in statuses]
    return known + sorted(statuses - set(known))


def status_label(status: str) -> str:
    name = STATUS_NAMES.get(status)
    return f"{status} ({name})" if name else status


# -- SVG -------------------------------------------------------------------------------------


def _chart_frame(
    title: str,
    width: int,
    height: int,
    plot: tuple[int, int, int, int],
    y_max: int,
    step: int,
    root_attributes: str = "",
    y_label: str | None = None,
) -> list[str]:
    """What every chart here starts with: the `<svg>` root, its title, the y grid with its ticks and
    both axes; `plot` is (left, top, width, height) of the plotting area."""
    left, top, plot_w, plot_h = plot
    scale = plot_h / y_max
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}"'
        f' viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif" font-size="12"'
        f"{root_attributes}>",
        f"<title>{esc(title)}</title>",
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="{left}" y="28" font-size="16" font-weight="bold">{esc(title)}</text>',
    ]
    for tick in range(0, y_max + 1, step):
        y = top + plot_h - tick * scale
        out.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e4e7eb"/>')
        out.append(f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end" fill="#52606d">{tick:,}</text>')
    axes = (
        f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + plot_h}" stroke="#52606d"/>'
        f'<line x1="{left}" x2="{left + plot_w}" y1="{top + plot_h}" y2="{top + plot_h}" stroke="#52606d"/>'
    )
    if y_label is not None:
        axes += (
            f'<text x="14" y="{top + plot_h / 2:.0f}" transform="rotate(-90 14 {top + plot_h / 2:.0f})"'
            f' text-anchor="middle" fill="#52606d">{esc(y_label)}</text>'
        )
    out.append(axes)
    return out


def _legend(
    x: int, top: int, series: Sequence[str], colors: dict[str, str], labels: dict[str, str]
) -> list[str]:
    """A colour swatch and a label per series, one under the other."""
    out = []
    for j, name in enumerate(series):
        y = top + j * 20
        out.append(f'<rect x="{x}" y="{y}" width="12" height="12" fill="{colors[name]}"/>')
        out.append(f'<text x="{x + 18}" y="{y + 10}">{esc(labels.get(name, name))}</text>')
    return out


def stacked_bars_svg(
    title: str,
    bars: Sequence[Bar],
    series: Sequence[str],
    series_labels: dict[str, str],
    unit: str,
    data_keys: tuple[str, str],
    bar_width: int = 56,
) -> str:
    """A stacked bar chart: one bar per label, one colour per series, a legend and a y axis.

    Every segment is a `<rect>` with `data-<key0>`, `data-<key1>` and `data-count`, and a `<title>`
    tooltip, so the numbers can be read back (and tested) from the file itself.
    """
    colors = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(series)}
    left, top, plot_h = 60, 50, 300
    gap = max(6, bar_width // 4)
    plot_w = max(1, len(bars)) * (bar_width + gap) + gap
    legend_w = 190
    width = left + plot_w + 20 + legend_w
    height = top + plot_h + 110
    peak = max([b.total for b in bars] + [1])
    step = nice_step(peak)
    y_max = step * -(-peak // step)
    scale = plot_h / y_max

    out = _chart_frame(title, width, height, (left, top, plot_w, plot_h), y_max, step)
    for i, bar in enumerate(bars):
        x = left + gap + i * (bar_width + gap)
        y = top + plot_h
        for name, count in bar.segments:
            h = count * scale
            y -= h
            tip = f"{bar.label}, {series_labels.get(name, name)}: {count:,} {unit}"
            out.append(
                f'<rect x="{x}" y="{y:.2f}" width="{bar_width}" height="{h:.2f}" fill="{colors[name]}"'
                f' data-{data_keys[0]}="{esc(bar.label)}" data-{data_keys[1]}="{esc(name)}"'
                f' data-count="{count}"><title>{esc(tip)}</title></rect>'
            )
        cx = x + bar_width / 2
        out.append(
            f'<text x="{cx:.1f}" y="{y - 5:.2f}" text-anchor="middle" font-weight="bold"'
            f' data-total="{bar.total}">{bar.total:,}</text>'
        )
        ly = top + plot_h + 14
        out.append(
            f'<text x="{cx:.1f}" y="{ly}" text-anchor="end" transform="rotate(-40 {cx:.1f} {ly})">'
            f"{esc(bar.label)}</text>"
        )
    # top to bottom, as the segments stack
    out += _legend(left + plot_w + 20, top, list(reversed(series)), colors, series_labels)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def grouped_bars_svg(
    title: str,
    groups: Sequence[tuple[str, Sequence[tuple[str, float, int]]]],
    series: Sequence[str],
    series_labels: dict[str, str],
    as_of: datetime,
    bar_width: int = 14,
) -> str:
    """Bars side by side: one group per label (a project), one bar per series (a status) whose height
    is its value (median days). Every bar is a `<rect>` with `data-project`, `data-status`,
    `data-days` (4 decimals) and `data-intervals`, and a tooltip; `data-as-of` on the root says
    until when the open intervals were counted."""
    colors = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(series)}
    left, top, plot_h, gap = 60, 50, 300, 18
    group_w = max(1, len(series)) * bar_width
    plot_w = max(1, len(groups)) * (group_w + gap) + gap
    legend_w = 190
    width = left + plot_w + 20 + legend_w
    height = top + plot_h + 110
    peak = max([value for _, bars in groups for _, value, _ in bars] + [1.0])
    step = nice_step(int(peak) + 1)
    y_max = step * -(-(int(peak) + 1) // step)
    scale = plot_h / y_max
    stamp = as_of.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    out = _chart_frame(
        title,
        width,
        height,
        (left, top, plot_w, plot_h),
        y_max,
        step,
        f' data-as-of="{stamp}"',
        "median days",
    )
    for i, (label, bars) in enumerate(groups):
        x0 = left + gap + i * (group_w + gap)
        values = {name: (value, count) for name, value, count in bars}
        for j, name in enumerate(series):
            if name not in values:
                continue
            value, count = values[name]
            h = value * scale
            x = x0 + j * bar_width
            tip = (
                f"{label}, {series_labels.get(name, name)}: median {value:.1f} days over {count:,} intervals"
            )
            out.append(
                f'<rect x="{x}" y="{top + plot_h - h:.2f}" width="{bar_width - 2}" height="{h:.2f}"'
                f' fill="{colors[name]}" data-project="{esc(label)}" data-status="{esc(name)}"'
                f' data-days="{value:.4f}" data-intervals="{count}"><title>{esc(tip)}</title></rect>'
            )
        cx = x0 + group_w / 2
        ly = top + plot_h + 14
        out.append(
            f'<text x="{cx:.1f}" y="{ly}" text-anchor="end" transform="rotate(-40 {cx:.1f} {ly})">'
            f"{esc(label)}</text>"
        )
    out += _legend(left + plot_w + 20, top, series, colors, series_labels)
    out.append(
        f'<text x="{left}" y="{height - 8}" fill="#52606d">A status a shot is still in counts its days'
        f" until {esc(stamp)}.</text>"
    )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def nice_step(peak: int) -> int:
    """A round tick step (1, 2, 5 x 10^n) giving about five gridlines up to `peak`."""
    raw = max(1.0, peak / 5)
    magnitude = 10 ** (len(str(int(raw))) - 1)
    for factor in (1, 2, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def esc(text: str) -> str:
    return html.escape(str(text), quote=True)


# -- the report ------------------------------------------------------------------------------


def shots_chart(rows: Sequence[tuple[str, str, int]]) -> str:
    statuses = status_order({s for _, s, _ in rows})
    projects = sorted({p for p, _, _ in rows})
    counts = {(p, s): n for p, s, n in rows}
    bars = [Bar(p, [(s, counts[p, s]) for s in statuses if (p, s) in counts]) for p in projects]
    labels = {s: status_label(s) for s in statuses}
    title = "Shots by status, per project"
    return stacked_bars_svg(title, bars, statuses, labels, "shots", ("project", "status"))


def versions_chart(rows: Sequence[tuple[date, str, int]]) -> str:
    projects = sorted({p for _, p, _ in rows})
    weeks = sorted({w for w, _, _ in rows})
    counts = {(w, p): n for w, p, n in rows}
    bars = [Bar(w.isoformat(), [(p, counts[w, p]) for p in projects if (w, p) in counts]) for w in weeks]
    return stacked_bars_svg(
        "Versions created per week (weeks start on Monday, UTC)",
        bars,
        projects,
        {p: p for p in projects},
        "versions",
        ("week", "project"),
        bar_width=26,
    )


def days_chart(rows: Sequence[tuple[str, str, float, int]], as_of: datetime) -> str:
    statuses = status_order({s for _, s, _, _ in rows})
    projects = sorted({p for p, _, _, _ in rows})
    groups = [(p, [(s, d, n) for q, s, d, n in rows if q == p]) for p in projects]
    labels = {s: status_label(s) for s in statuses}
    return grouped_bars_svg("Median days in each shot status, per project", groups, statuses, labels, as_of)


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def html_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{esc(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{esc(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_report(database: Path, dataset: str, out: Path, as_of: datetime | None = None) -> dict[str, Path]:
    """Query the file, write the pictures, tables and page; the paths written, by name. `as_of`
    (default now) ends the intervals of the statuses shots are still in."""
    if not database.is_file():
        raise SystemExit(
            f"error: {database} does not exist. Load one first (python pipelines/shotgun_pipeline.py --demo)"
            " or pass --database."
        )
    as_of = as_of or datetime.now(UTC).replace(microsecond=0)
    with duckdb.connect(str(database), read_only=True) as con:
        shots = shots_by_status(con, dataset)
        versions = versions_per_week(con, dataset)
        days = days_in_status(con, dataset, as_of)
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "shots_svg": out / "shots_by_status.svg",
        "versions_svg": out / "versions_per_week.svg",
        "shots_csv": out / "shots_by_status.csv",
        "versions_csv": out / "versions_per_week.csv",
        "index": out / "index.html",
    }
    days_section = (
        "<h2>Days in each shot status</h2>\n<p>No field history in this dataset (history_fields is off,"
        " or Shot was not loaded): see the README's Field history.</p>"
    )
    if days is not None:
        files["days_svg"] = out / "days_in_status.svg"
        files["days_csv"] = out / "days_in_status.csv"
        files["days_svg"].write_text(days_chart(days, as_of), encoding="utf-8")
        days_rows = [(p, s, f"{d:.4f}", n) for p, s, d, n in days]
        shown = [(p, s, f"{d:.1f}", n) for p, s, d, n in days]
        write_csv(files["days_csv"], ["project", "status", "median_days", "intervals"], days_rows)
        days_section = f"""<h2>Median days in each shot status, per project</h2>
<p>From each status change to the shot's next one; a status a shot is still in counts until
{esc(as_of.strftime("%Y-%m-%d %H:%M UTC"))}.</p>
<img src="{files["days_svg"].name}" alt="median days in each status per project">
{html_table(["project", "status", "median days", "intervals"], shown)}"""
    files["shots_svg"].write_text(shots_chart(shots), encoding="utf-8")
    files["versions_svg"].write_text(versions_chart(versions), encoding="utf-8")
    write_csv(files["shots_csv"], ["project", "status", "shots"], shots)
    versions_rows = [(w.isoformat(), p, n) for w, p, n in versions]
    write_csv(files["versions_csv"], ["week", "project", "versions"], versions_rows)
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Studio report: {esc(dataset)}</title>
<style>body{{font-family:Helvetica,Arial,sans-serif;margin:2em}}
table{{border-collapse:collapse;margin:1em 0 2em}}
td,th{{border:1px solid #cbd2d9;padding:2px 8px;text-align:left}}</style></head><body>
<h1>Studio report</h1>
<p>From {esc(database.name)}, dataset {esc(dataset)}: {sum(n for *_, n in shots):,} live shots,
{sum(n for *_, n in versions):,} live versions.</p>
<h2>Shots by status, per project</h2>
<img src="{files["shots_svg"].name}" alt="shots by status per project">
{html_table(["project", "status", "shots"], shots)}
<h2>Versions created per week</h2>
<img src="{files["versions_svg"].name}" alt="versions per week">
{html_table(["week", "project", "versions"], versions_rows)}
{days_section}
</body></html>
"""
    files["index"].write_text(page, encoding="utf-8")
    return files


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    files = write_report(Path(args.database), args.dataset, out)
    for path in files.values():
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
