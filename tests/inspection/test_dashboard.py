"""`dlt pipeline shotgun_demo show` after a demo load: the dashboard serves, and a headless browser
sees the loaded tables and their row counts in it."""

import re
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from inspection.browser import open_page, png_pixel_variety, png_size, stop_group
from inspection.conftest import DemoRun
from inspection.helpers import BIN, clean_env, table_counts

START_TIMEOUT = 90
"""Seconds for marimo to start and print its URL (a few on an idle machine)."""
RENDER_TIMEOUT = 90
"""Seconds for the page to render the tables (its kernel runs the dashboard's cells first)."""
TABLES_PER_PAGE = 10
"""dlt's dashboard lists a schema's tables ten at a time (`10 / page`, then "Next page")."""


@contextmanager
def dashboard(cwd: Path, pipeline_name: str) -> Iterator[str]:
    """`dlt pipeline <name> show`, exactly as a user types it in the directory the pipeline ran in;
    the URL it serves at. `BROWSER=true` makes marimo's "open a browser" a no-op."""
    process = subprocess.Popen(
        [str(BIN / "dlt"), "pipeline", pipeline_name, "show"],
        cwd=cwd,
        env=clean_env(cwd, BROWSER="true"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    found = threading.Event()
    url: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            match = re.search(r"URL: (http://\S+)", line)
            if match and not url:
                url.append(match[1])
                found.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not found.wait(0.5):
            assert process.poll() is None, f"dlt pipeline show exited {process.returncode}: {''.join(lines)}"
            assert time.monotonic() < deadline, f"no dashboard URL within {START_TIMEOUT} s: {''.join(lines)}"
        yield url[0]
    finally:
        stop_group(process)


def _new_rows(text: str, pattern: dict[str, re.Pattern[str]], seen: dict[str, int]) -> bool:
    """The next page of the table list is there: a table with its row count not seen before."""
    return "row_count" in text and any(p.search(text) for table, p in pattern.items() if table not in seen)


def test_dashboard_shows_the_loaded_tables_and_their_row_counts(
    chromium: Path, demo_run: DemoRun, tmp_path: Path
) -> None:
    counts = table_counts(demo_run.database)
    assert {"shots", "versions", "tasks", "assets", "projects"} <= set(counts)
    with dashboard(demo_run.cwd, "shotgun_demo") as url:
        assert re.match(r"http://(localhost|127\.0\.0\.1):\d+", url), url  # loopback only
        with open_page(chromium, url) as page:
            first_page = sorted(counts)[:TABLES_PER_PAGE]  # the table list shows ten at a time
            text = page.wait_for_text(
                lambda t: "Pipeline shotgun_demo" in t and all(f" {table} " in t for table in first_page),
                RENDER_TIMEOUT,
            )
            assert "succeeded" in text
            page.wait_until_still()  # the cells have run, so the kernel hears the click
            # the table list gains a row_count column with what DuckDB holds, table by table
            pattern = {table: re.compile(rf" {table} ([\d,]+) ") for table in counts}
            text = page.click_until(
                "Load row counts",
                lambda t: "row_count" in t and all(pattern[table].search(t) for table in first_page),
                RENDER_TIMEOUT,
            )
            page.wait_until_still()  # so the screenshot shows what the text said
            png = page.screenshot()
            shown: dict[str, int] = {}
            for _ in range(-(-len(counts) // TABLES_PER_PAGE)):
                shown.update(
                    (table, int(m[1].replace(",", "")))
                    for table, p in pattern.items()
                    if table not in shown and (m := p.search(text))
                )
                if len(shown) == len(counts) or not page.click_labelled("Next page"):
                    break
                text = page.wait_for_text(
                    lambda t, seen=dict(shown): _new_rows(t, pattern, seen), RENDER_TIMEOUT
                )
            assert shown == counts
    (tmp_path / "dashboard.png").write_bytes(png)  # to look at when the test fails
    width, height = png_size(png)
    assert width >= 1000 and height >= 1000, (width, height)
    assert len(png) > 50_000 and png_pixel_variety(png) > 100, f"a blank page? {tmp_path / 'dashboard.png'}"
