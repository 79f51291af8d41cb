"""`python bench/_postgres.py`: a throwaway PostgreSQL server for `bench/speed.py`, in a child.

Starts one with the tests' own helper (tests/postgres_server.py: the installed server binaries, an
unprivileged user, a free loopback port), prints its DSN as one line, and stops it when stdin
closes (the benchmark ends or dies). A child, so the benchmark's own process stays small.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from postgres_server import running_postgres  # noqa: E402

if __name__ == "__main__":
    with running_postgres() as server:
        print(server.dsn, flush=True)
        sys.stdin.read()  # until the parent closes it
