"""Debian packages the suite needs that pip cannot install (Chromium, the PostgreSQL server), installed
by the tests themselves with apt-get, so `python -m pytest` works on a fresh machine as the README says.

Why here and not in CI's script: the README's test command must work on its own. Why lazily: only a
test that needs a package installs it (`ensure_installed` is called from the fixture or helper that
hands the package to a test), so `pytest tests/sandbox` never runs apt-get. Each package is looked at
once per session; a failure is remembered too, so every test that needs the package fails with the
same message without asking apt again. A package that cannot be installed fails those tests, with
what is missing, why it could not be installed and the command to run by hand; it never skips them.

apt-get runs quietly (its output is kept for the error message), as root directly or else through
`sudo -n` (never a password prompt), `apt-get update` only when the first install fails (missing or
stale package lists), and every apt-get call is bounded in time. Each install logs one INFO line
with how long it took.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

APT_TIMEOUT_S = 600
"""Seconds one apt-get call (update, or one install) may take; Chromium's download is the longest."""
APT_LOCK_WAIT_S = 120
"""Seconds apt-get waits for another apt/dpkg run to release its lock before it gives up."""
SUDO_CHECK_TIMEOUT_S = 10
OUTPUT_TAIL_LINES = 25

logger = logging.getLogger(__name__)
"""One INFO line per install, with its time (`pytest --log-cli-level=INFO` shows it live)."""


class SystemPackageError(RuntimeError):
    """A Debian package the tests need is missing and could not be installed."""


@dataclass(frozen=True)
class SystemPackage:
    """A Debian package, what the tests need it for, and how to find what it provides once installed.

    `locate` returns the path the tests use (an executable, a bin dir), or None while it is missing.
    """

    name: str
    needed_for: str
    locate: Callable[[], Path | None]


@dataclass
class Installer:
    """Installs missing packages with apt-get, each at most once; remembers every outcome.

    `path` replaces $PATH when looking for apt-get and sudo, and `is_root` replaces the euid check
    (tests use both to simulate other machines); `timeout` bounds each apt-get call.
    """

    path: str | None = None
    is_root: bool | None = None
    timeout: float = APT_TIMEOUT_S
    _outcomes: dict[str, Path | SystemPackageError] = field(default_factory=dict, repr=False)

    def ensure(self, package: SystemPackage) -> Path:
        """What `package.locate()` finds, after installing the package if it was missing."""
        if package.name not in self._outcomes:
            try:
                self._outcomes[package.name] = self._locate_or_install(package)
            except SystemPackageError as error:
                self._outcomes[package.name] = error
        outcome = self._outcomes[package.name]
        if isinstance(outcome, SystemPackageError):
            raise SystemPackageError(*outcome.args)  # a new one each time: no tracebacks piling up
        return outcome

    def _locate_or_install(self, package: SystemPackage) -> Path:
        found = package.locate()
        if found is not None:
            return found
        apt_get = shutil.which("apt-get", path=self.path)
        if apt_get is None:
            raise self._error(package, "apt-get is not on PATH (not a Debian or Ubuntu machine?)")
        as_root = self._as_root(package)
        log: list[str] = []
        started = time.monotonic()
        updated = False
        if not self._apt(package, [*as_root, *self._apt_command(apt_get, "install", package)], log):
            if not self._apt(package, [*as_root, *self._apt_command(apt_get, "update")], log):
                raise self._error(package, "`apt-get update` failed", log)
            updated = True
            if not self._apt(package, [*as_root, *self._apt_command(apt_get, "install", package)], log):
                raise self._error(package, f"`apt-get install {package.name}` failed", log)
        found = package.locate()
        if found is None:
            raise self._error(
                package, "apt-get installed it, but what the tests need is still not found", log
            )
        logger.info(
            "installed Debian package %s with apt-get in %.1f s%s: %s",
            package.name,
            time.monotonic() - started,
            " (after apt-get update)" if updated else "",
            found,
        )
        return found

    def _as_root(self, package: SystemPackage) -> list[str]:
        """[] as root, `sudo -n` when passwordless sudo works, else the reason why neither does."""
        if self.is_root if self.is_root is not None else os.geteuid() == 0:
            return []
        sudo = shutil.which("sudo", path=self.path)
        if sudo is None:
            raise self._error(package, "not running as root, and sudo is not installed")
        try:
            check = subprocess.run(
                [sudo, "-n", "true"],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=SUDO_CHECK_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            raise self._error(
                package, f"not running as root, and `sudo -n true` hung for {SUDO_CHECK_TIMEOUT_S} s"
            ) from None
        if check.returncode != 0:
            said = check.stderr.strip() or f"exit status {check.returncode}"
            raise self._error(package, f"not running as root, and sudo needs a password ({said})")
        return [sudo, "-n"]

    @staticmethod
    def _apt_command(apt_get: str, action: str, package: SystemPackage | None = None) -> list[str]:
        command = ["env", "DEBIAN_FRONTEND=noninteractive", apt_get, "-y", "-q"]
        command += ["-o", f"DPkg::Lock::Timeout={APT_LOCK_WAIT_S}", action]
        if package is not None:
            command += ["--no-install-recommends", package.name]
        return command

    def _apt(self, package: SystemPackage, command: list[str], log: list[str]) -> bool:
        """Run one apt-get call, its output into `log`; whether it succeeded. A call that outlives
        `timeout` is stopped with its whole process group (dpkg, apt's download methods)."""
        log.append(f"$ {shlex.join(command)}")
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            output, _ = process.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            _stop_group(process)
            try:
                output, _ = process.communicate(timeout=5)
            except subprocess.TimeoutExpired:  # a process we could not stop still holds the pipe
                output = "(no output: apt-get's processes did not all stop)"
            log.append(output)
            why = f"apt-get did not finish within {self.timeout:g} s and was stopped"
            raise self._error(package, why, log) from None
        log.append(output)
        if process.returncode != 0:
            log.append(f"(exit status {process.returncode})")
        return process.returncode == 0

    @staticmethod
    def _error(package: SystemPackage, why: str, log: list[str] | None = None) -> SystemPackageError:
        message = (
            f"The Debian package `{package.name}` ({package.needed_for}) is not installed, and the tests "
            f"could not install it: {why}. Install it by hand: "
            f"`sudo apt-get update && sudo apt-get install -y {package.name}` (as root, without `sudo`; "
            "elsewhere with the system's package manager), then run the tests again."
        )
        if log:
            tail = "\n".join("\n".join(log).splitlines()[-OUTPUT_TAIL_LINES:])
            message += f"\n--- apt-get said ---\n{tail}"
        return SystemPackageError(message)


def _stop_group(process: subprocess.Popen[str], grace_s: float = 10) -> None:
    """SIGTERM the process group (apt-get lets dpkg finish the package it is on), SIGKILL after
    `grace_s`. Errors are ignored: under sudo the group's root processes may not be ours to signal."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(OSError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=grace_s)
            return
        except subprocess.TimeoutExpired:
            continue


_session = Installer()


def ensure_installed(package: SystemPackage) -> Path:
    """`package` for this test session: found, or installed once with apt-get, or a SystemPackageError
    (the same one for every later call) that says why not and what to run by hand."""
    return _session.ensure(package)


def require(package: SystemPackage) -> Path:
    """`ensure_installed` for fixtures: a package that cannot be installed fails the tests that need
    it with just the message (what, why, the command to run by hand), no traceback; never a skip."""
    try:
        return ensure_installed(package)
    except SystemPackageError as error:
        message = str(error)
    pytest.fail(message, pytrace=False)  # outside the except: no "during handling" repeat
