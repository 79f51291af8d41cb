"""SIGKILL for the pipeline script at a chosen point of a chosen phase, and where it really died.

The phase comes from dlt's own log lines (INFO): the first `Bind incremental` or request starts
extract, `Running file normalizing` starts normalize, `Running file loading` starts load, and the
script's summary on stdout means it finished. A kill is sent `delay` seconds after the target
phase began; the phase recorded is the one the log showed at that moment (a short phase can end
within the delay, so the kill lands in a later one: callers count by the recorded phase).
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

PHASES = ("setup", "extract", "normalize", "load", "finished")
_MARKERS = (
    ("Running file loading", "load"),
    ("Running file normalizing", "normalize"),
    ("Bind incremental", "extract"),
    ("Making POST request", "extract"),
)
_DONE = "Loaded pipeline"


@dataclass
class Kill:
    """One run that was to be killed: where and how it ended."""

    target: str
    delay: float
    phase: str  # what the log showed when the kill was sent; "finished" if it ended first
    returncode: int
    seconds: float
    stdout: str = ""
    stderr: str = ""
    phases_seen: list[str] = field(default_factory=list)

    @property
    def killed(self) -> bool:
        return self.returncode == -signal.SIGKILL


class _PhaseWatch:
    """Reads the child's stdout and stderr as they come, tracking the furthest phase reached."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.index = 0
        self.seen = [PHASES[0]]
        self.out: list[str] = []
        self.err: list[str] = []
        self._lock = threading.Lock()
        assert process.stdout is not None and process.stderr is not None
        self._threads = [
            threading.Thread(target=self._read, args=(process.stdout, self.out), daemon=True),
            threading.Thread(target=self._read, args=(process.stderr, self.err), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    @property
    def phase(self) -> str:
        return PHASES[self.index]

    def _advance(self, phase: str) -> None:
        with self._lock:
            index = PHASES.index(phase)
            if index > self.index:
                self.index = index
                self.seen.append(phase)

    def _read(self, stream: IO[str], sink: list[str]) -> None:
        for line in stream:
            sink.append(line)
            if line.startswith(_DONE):
                self._advance("finished")
                continue
            for marker, phase in _MARKERS:
                if marker in line:
                    self._advance(phase)
                    break

    def join(self) -> None:
        for thread in self._threads:
            thread.join(timeout=10)


def run_and_kill(
    command: list[str],
    cwd: Path,
    env: dict[str, str],
    target: str,
    delay: float,
    timeout: float = 120.0,
) -> Kill:
    """Start `command`, wait for `target` phase, wait `delay` s more, then SIGKILL it if still running."""
    if target not in PHASES[1:4]:
        raise ValueError(f"target must be one of {PHASES[1:4]}, got {target!r}")
    started = time.monotonic()
    deadline = started + timeout
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env={**env, "RUNTIME__LOG_LEVEL": "INFO"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watch = _PhaseWatch(process)
    phase = "finished"
    try:
        wanted = PHASES.index(target)
        while watch.index < wanted and process.poll() is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{command} did not reach {target} within {timeout} s")
            time.sleep(0.002)
        kill_at = time.monotonic() + delay
        while time.monotonic() < kill_at and process.poll() is None:
            time.sleep(0.002)
        if process.poll() is None:
            phase = watch.phase
            os.kill(process.pid, signal.SIGKILL)
        returncode = process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        watch.join()
    if returncode != -signal.SIGKILL:
        phase = "finished"
    return Kill(
        target=target,
        delay=delay,
        phase=phase,
        returncode=returncode,
        seconds=time.monotonic() - started,
        stdout="".join(watch.out),
        stderr="".join(watch.err),
        phases_seen=list(watch.seen),
    )


@dataclass
class Interrupted:
    """A run something was done to while it ran (`run_and_act_when`): whether it was, and how it ended."""

    acted: bool
    returncode: int
    stdout: str
    stderr: str
    seconds: float


def run_and_act_when(
    command: list[str],
    cwd: Path,
    env: dict[str, str],
    condition: Callable[[], bool],
    action: Callable[[], None],
    timeout: float = 120.0,
    freeze: bool = False,
) -> Interrupted:
    """Start `command`, call `action` as soon as `condition()` holds (polled every 2 ms) while it
    runs, and wait for it to end. Its log stays at the user's level, so stderr is what users see.

    With `freeze` the child is stopped (SIGSTOP) while `action` runs and continued after it, so
    an action that takes a while (stopping a server) lands where the condition held, not where
    the child got to meanwhile: on a busy 2-core machine that was the end of the load step."""
    started = time.monotonic()
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    watch = _PhaseWatch(process)
    acted = False
    try:
        while process.poll() is None and time.monotonic() - started < timeout:
            if condition():
                if freeze:
                    os.kill(process.pid, signal.SIGSTOP)
                try:
                    action()
                finally:
                    if freeze:
                        os.kill(process.pid, signal.SIGCONT)
                acted = True
                break
            time.sleep(0.002)
        returncode = process.wait(timeout=max(1.0, timeout - (time.monotonic() - started)))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        watch.join()
    return Interrupted(acted, returncode, "".join(watch.out), "".join(watch.err), time.monotonic() - started)
