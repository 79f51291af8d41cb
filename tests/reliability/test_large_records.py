"""Big answers: one record with an 8 MB text field, and a page of 5000 records of about 2 KB each.
Both load exactly, and the script's memory stays within a generous bound of a plain run's.

The script runs as users run it (DuckDB, page size 5000) in a child process of its own, so the
kernel's peak resident size of that process (`wait4`'s ru_maxrss) is the run's own. The figures
are printed (`pytest -s`); the bound is loose on purpose (a loaded 2-core machine must not fail
it), and catches what matters: memory that grows with the size of a page or a field many times
over, or with the number of rows.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

import duckdb
from destination_truth import assert_destination_matches_site

from reliability.helpers import CLI_TIMEOUT, CliDir, duplicate_keys

HUGE_TEXT_BYTES = 8 * 1024 * 1024
ROWS_ON_ONE_PAGE = 5000
ROW_TEXT_BYTES = 2048
ENTITIES = ["Shot", "Version"]
ARGS = ("--entities", ",".join(ENTITIES), "--page-size", "5000")
EXTRA_MB_ALLOWED = 400.0
"""Peak RSS a run with the big data may add to a plain run of the same site. The data is about
10 MB of Versions on one page and 8 MB in one field; the copies a run makes of them (JSON text,
parsed values, Arrow buffers, the parquet file, DuckDB's load) measured about 150 MB here."""


def text_of(size: int, seed: int) -> str:
    """Printable text of `size` bytes, different per seed (no compression shortcut in any layer)."""
    words = [f"w{seed}x{n:x}" for n in range(64)]
    out: list[str] = []
    length = 0
    n = 0
    while length < size:
        word = words[(n * 7 + seed) % len(words)]
        out.append(word)
        length += len(word) + 1
        n += 1
    return " ".join(out)[:size]


def run_measured(cli: CliDir, site_env: dict[str, str], *args: str) -> tuple[int, str, str, float, float]:
    """The script in a child process: exit status, stdout, stderr, peak RSS in MB, seconds."""
    out_path, err_path = cli.cwd / "stdout.txt", cli.cwd / "stderr.txt"
    started = time.monotonic()
    with out_path.open("w") as out, err_path.open("w") as err:
        process = subprocess.Popen(
            cli.command(*args), cwd=cli.cwd, env=cli.env(site_env), stdout=out, stderr=err
        )
        deadline = started + CLI_TIMEOUT
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                process.kill()
                pid, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.05)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - started
    return process.returncode, out_path.read_text(), err_path.read_text(), usage.ru_maxrss / 1024, seconds


def test_an_8_mb_text_field_and_a_page_of_5000_2_kb_records_load_with_memory_bounded(
    sandbox: Any, tmp_path: Path
) -> None:
    plain = CliDir(tmp_path / "plain")
    status, out, err, plain_mb, plain_s = run_measured(plain, sandbox.env(), *ARGS)
    assert status == 0, err[-3000:]

    site = sandbox.site
    huge_shot = site.records("Shot")[0]["id"]
    site.update("Shot", huge_shot, {"description": text_of(HUGE_TEXT_BYTES, 1)})
    project = site.records("Shot")[0]["project"]
    for n in range(ROWS_ON_ONE_PAGE):
        site.create(
            "Version",
            {"code": f"big_page_{n:04d}", "project": project, "description": text_of(ROW_TEXT_BYTES, n)},
        )

    big = CliDir(tmp_path / "big")
    sandbox.clear_requests()
    status, out, err, big_mb, big_s = run_measured(big, sandbox.env(), *ARGS)
    biggest_page = max(r.rows for r in sandbox.requests if r.kind == "search" and r.entity_type == "Version")
    print(
        f"\npeak RSS of the script, page size 5000: plain site {plain_mb:.0f} MB ({plain_s:.1f} s);"
        f" with an 8 MB text field and {ROWS_ON_ONE_PAGE} more Versions of 2 KB {big_mb:.0f} MB"
        f" ({big_s:.1f} s): {big_mb - plain_mb:+.0f} MB (bound +{EXTRA_MB_ALLOWED:.0f} MB)"
    )
    assert status == 0, err[-3000:]
    assert biggest_page == ROWS_ON_ONE_PAGE, f"the largest Version page had {biggest_page} rows"
    assert big_mb - plain_mb < EXTRA_MB_ALLOWED, f"{big_mb:.0f} MB against {plain_mb:.0f} MB for a plain run"

    with duckdb.connect(str(big.database), read_only=True) as con:
        (length, equal) = con.execute(
            "select length(description), description = ? from shotgun.shots where id = ?",
            [text_of(HUGE_TEXT_BYTES, 1), huge_shot],
        ).fetchone() or (None, None)
        (count,) = con.execute(
            "select count(*) from shotgun.versions where code like 'big_page_%'"
        ).fetchone() or (0,)
    assert (length, equal) == (HUGE_TEXT_BYTES, True)
    assert count == ROWS_ON_ONE_PAGE
    assert not duplicate_keys(big.database)
    assert_destination_matches_site(big.attach(), site, ENTITIES)
