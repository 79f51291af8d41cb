"""The README's two set-up commands, in a fresh virtual environment on a copy of the repository."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def setup_commands() -> list[str]:
    readme = (REPO / "README.md").read_text()
    block = re.search(r"<!-- setup:start -->\s*```bash\n(.*?)```\s*<!-- setup:end -->", readme, re.S)
    assert block, "README.md lost its set-up block"
    return [line.strip() for line in block.group(1).splitlines() if line.strip()]


def copy_of_repository(target: Path) -> Path:
    """The files a fresh clone has (tracked) plus work not yet committed, nothing generated."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    for name in listed:
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def test_readme_commands_work_in_a_fresh_virtualenv(tmp_path: Path) -> None:
    commands = setup_commands()
    assert len(commands) == 2
    install_and_demo, run_tests = commands
    assert "--demo" in install_and_demo and run_tests == "python -m pytest"

    repo = copy_of_repository(tmp_path / "repo")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("VIRTUAL_ENV", "PYTHONPATH") and not k.startswith("SOURCES__")
    }
    env.update(
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        VIRTUAL_ENV=str(venv),
        DLT_DATA_DIR=str(tmp_path / "dlt_data"),
        PIP_DISABLE_PIP_VERSION_CHECK="1",
    )

    first = subprocess.run(
        install_and_demo, shell=True, cwd=repo, env=env, capture_output=True, text=True, timeout=900
    )
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "Loaded pipeline shotgun_demo into duckdb" in first.stdout
    assert (repo / "shotgun_demo.duckdb").is_file()

    # the test command itself must find every test dependency in the fresh environment
    collected = subprocess.run(
        f"{run_tests} --collect-only -q",
        shell=True,
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert collected.returncode == 0, collected.stdout[-3000:] + collected.stderr[-3000:]
    assert re.search(r"\d+ tests collected", collected.stdout)
