"""The interpreter the benchmark's loads run in: a virtual environment with the product as a user
installs it (`pip install -e .`, no test or dashboard extras), made on first use in
`bench/.venv-product` and made again when pyproject.toml changes.

Why not the development environment: its extras (dlt[hub], ibis, marimo, Airflow, Dagster) are
imported by `import dlt` once installed (plugins, config providers) and cost a second or more at
every start, which a user's install does not pay; both loaders run in the same environment.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PRODUCT_VENV = REPO / "bench" / ".venv-product"
STAMP = PRODUCT_VENV / ".pyproject-sha256"


def product_python() -> Path:
    """`bench/.venv-product/bin/python`, made or refreshed first if needed (about a minute)."""
    wanted = hashlib.sha256((REPO / "pyproject.toml").read_bytes()).hexdigest()
    python = PRODUCT_VENV / "bin" / "python"
    if python.exists() and STAMP.exists() and STAMP.read_text().strip() == wanted:
        return python
    print(f"Making the product's environment in {PRODUCT_VENV} (pip install -e .) ...", flush=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(PRODUCT_VENV)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-e", str(REPO)],
        check=True,
        stdout=sys.stderr,
    )
    STAMP.write_text(wanted)
    return python
