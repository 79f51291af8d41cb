"""The tests' own installer of Debian packages (tests/system_packages.py), on simulated machines: a PATH
with stand-in `apt-get` and `sudo` scripts that log how they were called (real processes, nothing
patched), or with no apt-get at all; and the dashboard test, run as a user would on a machine where
Chromium cannot be installed, must fail with the message rather than skip."""

import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from system_packages import Installer, SystemPackage, SystemPackageError
from timing import assert_fast

REPO = Path(__file__).resolve().parents[1]

# A stand-in apt-get: logs each call, `install` fails until `update` ran (missing package lists)
# unless $FAKE_DIR/lists exists; a successful install creates the package's "binary".
FAKE_APT_GET = """#!/bin/sh
d="{fake_dir}"
echo "FRONTEND=$DEBIAN_FRONTEND $*" >> "$d/calls"
case " $* " in
  *" update"*) [ -e "$d/update-fails" ] && {{ echo "E: The repository is not signed."; exit 100; }}
               touch "$d/lists"; echo "Reading package lists..."; exit 0 ;;
  *" install "*) [ -e "$d/hang" ] && {{ sleep 300 & echo $! > "$d/child-pid"; wait; }}
                 [ -e "$d/lists" ] || {{ echo "E: Unable to locate package demo-tool"; exit 100; }}
                 [ -e "$d/install-nothing" ] || touch "$d/demo-tool"; echo "Setting up demo-tool"; exit 0 ;;
esac
exit 1
"""


def fake_bin(tmp_path: Path, **scripts: str) -> Path:
    """A directory holding the given executables (name -> shell script), to use as the whole PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, body in scripts.items():
        script = bin_dir / name.replace("_", "-")
        script.write_text(body.format(fake_dir=tmp_path))
        script.chmod(0o755)
    return bin_dir


def demo_package(tmp_path: Path) -> SystemPackage:
    """A package whose "binary" is a file the stand-in apt-get creates."""
    binary = tmp_path / "demo-tool"
    return SystemPackage("demo-tool", "the demo tool", lambda: binary if binary.exists() else None)


def apt_calls(tmp_path: Path) -> list[str]:
    calls = tmp_path / "calls"
    return calls.read_text().splitlines() if calls.exists() else []


def test_a_package_already_there_runs_no_apt_get(tmp_path: Path) -> None:
    (tmp_path / "demo-tool").touch()
    installer = Installer(path=str(fake_bin(tmp_path, apt_get=FAKE_APT_GET)), is_root=True)
    assert installer.ensure(demo_package(tmp_path)) == tmp_path / "demo-tool"
    assert apt_calls(tmp_path) == []


def test_missing_package_is_installed_quietly_and_only_once(tmp_path: Path) -> None:
    (tmp_path / "lists").touch()
    installer = Installer(path=str(fake_bin(tmp_path, apt_get=FAKE_APT_GET)), is_root=True)
    package = demo_package(tmp_path)
    assert installer.ensure(package) == tmp_path / "demo-tool"
    assert installer.ensure(package) == tmp_path / "demo-tool"
    [call] = apt_calls(tmp_path)  # one install, no update, nothing the second time
    assert call.startswith("FRONTEND=noninteractive -y -q ")
    assert call.endswith(" install --no-install-recommends demo-tool")


def test_apt_get_update_runs_only_after_the_first_install_fails(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    installer = Installer(path=str(fake_bin(tmp_path, apt_get=FAKE_APT_GET)), is_root=True)
    with caplog.at_level(logging.INFO, logger="system_packages"):
        assert installer.ensure(demo_package(tmp_path)) == tmp_path / "demo-tool"
    actions = ["update" if call.endswith(" update") else "install" for call in apt_calls(tmp_path)]
    assert actions == ["install", "update", "install"]
    assert re.fullmatch(
        r"installed Debian package demo-tool with apt-get in \d+\.\d s \(after apt-get update\): .*demo-tool",
        caplog.messages[-1],
    )


def test_without_apt_get_the_message_names_the_package_the_reason_and_the_command(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    installer = Installer(path=str(empty), is_root=True)
    with pytest.raises(SystemPackageError) as failure:
        installer.ensure(demo_package(tmp_path))
    message = str(failure.value)
    assert "`demo-tool` (the demo tool) is not installed" in message
    assert "apt-get is not on PATH" in message
    assert "`sudo apt-get update && sudo apt-get install -y demo-tool`" in message


def test_not_root_and_no_sudo_says_so_and_runs_no_apt_get(tmp_path: Path) -> None:
    installer = Installer(path=str(fake_bin(tmp_path, apt_get=FAKE_APT_GET)), is_root=False)
    with pytest.raises(
        SystemPackageError, match=r"`demo-tool`.*not running as root, and sudo is not installed"
    ):
        installer.ensure(demo_package(tmp_path))
    assert apt_calls(tmp_path) == []


def test_not_root_and_sudo_wanting_a_password_says_so(tmp_path: Path) -> None:
    sudo = '#!/bin/sh\necho "sudo: a password is required" >&2\nexit 1\n'
    installer = Installer(path=str(fake_bin(tmp_path, apt_get=FAKE_APT_GET, sudo=sudo)), is_root=False)
    with pytest.raises(SystemPackageError) as failure:
        installer.ensure(demo_package(tmp_path))
    assert "not running as root, and sudo needs a password (sudo: a password is required)" in str(
        failure.value
    )
    assert "sudo apt-get install -y demo-tool" in str(failure.value)
    assert apt_calls(tmp_path) == []


def test_not_root_with_passwordless_sudo_installs_through_sudo_n(tmp_path: Path) -> None:
    # a stand-in sudo that logs its arguments and runs the command (`-n` dropped), as sudo -n would
    sudo = '#!/bin/sh\necho "$*" >> "{fake_dir}/sudo-calls"\n[ "$1" = -n ] && shift\nexec "$@"\n'
    (tmp_path / "lists").touch()
    installer = Installer(path=str(fake_bin(tmp_path, apt_get=FAKE_APT_GET, sudo=sudo)), is_root=False)
    assert installer.ensure(demo_package(tmp_path)) == tmp_path / "demo-tool"
    check, install = (tmp_path / "sudo-calls").read_text().splitlines()
    assert check == "-n true"
    assert install.startswith("-n env DEBIAN_FRONTEND=noninteractive ") and install.endswith(" demo-tool")


def test_apt_failure_fails_with_its_output_every_time_without_retrying(tmp_path: Path) -> None:
    (tmp_path / "update-fails").touch()
    installer = Installer(path=str(fake_bin(tmp_path, apt_get=FAKE_APT_GET)), is_root=True)
    package = demo_package(tmp_path)
    messages = []
    for _ in range(2):
        with pytest.raises(SystemPackageError) as failure:
            installer.ensure(package)
        messages.append(str(failure.value))
    assert messages[0] == messages[1]
    assert "could not install it: `apt-get update` failed" in messages[0]
    assert "E: Unable to locate package demo-tool" in messages[0]
    assert "E: The repository is not signed." in messages[0]
    assert "sudo apt-get install -y demo-tool" in messages[0]
    assert len(apt_calls(tmp_path)) == 2  # install, update; the second ensure asked apt nothing


def test_an_install_that_provides_nothing_fails(tmp_path: Path) -> None:
    (tmp_path / "lists").touch()
    (tmp_path / "install-nothing").touch()
    installer = Installer(path=str(fake_bin(tmp_path, apt_get=FAKE_APT_GET)), is_root=True)
    with pytest.raises(SystemPackageError, match="apt-get installed it, but .* still not found"):
        installer.ensure(demo_package(tmp_path))


def test_a_hung_apt_get_is_stopped_with_its_children_in_bounded_time(tmp_path: Path) -> None:
    (tmp_path / "hang").touch()
    installer = Installer(path=str(fake_bin(tmp_path, apt_get=FAKE_APT_GET)), is_root=True, timeout=1)
    started = time.monotonic()
    with pytest.raises(SystemPackageError, match=r"apt-get did not finish within 1 s and was stopped"):
        installer.ensure(demo_package(tmp_path))
    assert_fast(time.monotonic() - started, "a hung apt-get (1 s timeout) stopped")
    child = int((tmp_path / "child-pid").read_text())
    deadline = time.monotonic() + 30
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child), "apt-get's child process outlived the timeout"


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_dashboard_test_fails_not_skips_where_chromium_cannot_be_installed(tmp_path: Path) -> None:
    """The real fixture, in a pytest run whose PATH holds only the virtualenv: no chromium, no apt-get."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env["PATH"] = str(Path(sys.executable).parent)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "tests/inspection/test_dashboard.py"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert re.search(r"\b1 error\b", output) and "skipped" not in output, output[-3000:]
    assert "`chromium` (headless Chromium for the dashboard test) is not installed" in output
    assert "apt-get is not on PATH" in output and "sudo apt-get install -y chromium" in output
