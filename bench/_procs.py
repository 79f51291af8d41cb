"""Subprocesses for `bench/speed.py`: the sandbox site, and one load per child with its peak RSS.

Every load runs in a child of its own so that `os.wait4` reports that load's own peak RSS
(`ru_maxrss`) and CPU time; the sandbox runs in another, so its CPU is not the load's. CPU used
by everybody else on the machine during a run (other engineers' tests) is the machine's busy
time from `/proc/stat` minus the load's and the sandbox's: a run with much of it is suspect.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

CLK_TCK = os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds all cores have spent busy since boot (user, nice, system, irq, softirq, steal)."""
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def process_rss_mb(pid: int) -> float:
    """Resident set size of a live process now (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class RssSampler(threading.Thread):
    """Samples a process's RSS every `interval` seconds: (epoch time, MB) pairs, to tell which
    step of a load its peak falls in."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.samples: list[tuple[float, float]] = []
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            rss = process_rss_mb(self.pid)
            if rss:
                self.samples.append((time.time(), rss))

    def stop(self) -> None:
        self._halt.set()
        self.join()

    def peak_between(self, start: float, end: float) -> float:
        return max((mb for t, mb in self.samples if start <= t <= end), default=0.0)


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def token_answer(session: requests.Session, env: dict[str, str], timeout: float = 60) -> requests.Response:
    """The sandbox's answer to a client_credentials token request with the script name and key of
    its `export` lines (`env`); raises on an error status. The caller takes the token and, where it
    needs the site's clock, the `Date` header."""
    answer = session.post(
        f"{env['SOURCES__SHOTGUN__SITE_URL']}/api/v1/auth/access_token",
        data={
            "grant_type": "client_credentials",
            "client_id": env["SOURCES__SHOTGUN__CREDENTIALS__CLIENT_ID"],
            "client_secret": env["SOURCES__SHOTGUN__CREDENTIALS__CLIENT_SECRET"],
        },
        timeout=timeout,
    )
    answer.raise_for_status()
    return answer


class Sandbox:
    """`python -m shotgun_source.sandbox` in a subprocess, with its admin routes.

    Stopped by `stop()` (or the context manager), also when the benchmark fails.
    """

    def __init__(
        self,
        scale: float,
        latency: float,
        seed: int = 1,
        versions: int | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.scale = scale
        self.latency = latency
        self.seed = seed
        self.versions = versions
        self.command = [
            sys.executable,
            "-m",
            "shotgun_source.sandbox",
            "--port",
            "0",
            "--seed",
            str(seed),
            "--scale",
            f"{scale:g}",
            "--latency",
            f"{latency:g}",
            "--quiet",
        ]
        if versions is not None:
            self.command += ["--versions", str(versions)]
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - open for the sandbox's life
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            self.command, stdout=subprocess.PIPE, stderr=self._stderr, text=True, cwd=cwd
        )
        self.env: dict[str, str] = {}
        try:
            assert self.proc.stdout is not None
            while len(self.env) < 3:
                line = self.proc.stdout.readline()
                if not line:
                    raise RuntimeError(f"the sandbox exited before printing its exports: {self.stderr()}")
                if line.startswith("export "):
                    name, _, value = line.strip().removeprefix("export ").partition("=")
                    self.env[name] = value.strip("'")
        except BaseException:
            self.stop()
            raise
        self.build_seconds = time.perf_counter() - started
        self.url = self.env["SOURCES__SHOTGUN__SITE_URL"]
        self.session = requests.Session()

    def stderr(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace")[-2000:]

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.proc.pid)

    def _admin(self, method: str, route: str, body: dict[str, Any] | None = None) -> Any:
        response = self.session.request(method, f"{self.url}/_sandbox/{route}", json=body, timeout=600)
        response.raise_for_status()
        return response.json()

    def stats(self) -> dict[str, Any]:
        return dict(self._admin("GET", "stats"))

    def reset_stats(self) -> None:
        self._admin("POST", "reset_stats")

    def mutate(self, entity_type: str, share: float, seed: int) -> int:
        body = {"entity_type": entity_type, "share": share, "seed": seed}
        return int(self._admin("POST", "mutate", body)["updated"])

    def set_latency(self, latency: float) -> None:
        self._admin("POST", "faults", {"latency": latency})
        self.latency = latency

    def rows(self, entity_types: tuple[str, ...]) -> dict[str, int]:
        counts = self.stats()["rows"]
        return {t: int(counts.get(t, 0)) for t in entity_types}

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._stderr.close()
        self.session.close()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class ChildRun:
    """One finished child: wall time, exit status, peak RSS, CPU, output, and the machine around it."""

    command: list[str]
    wall: float
    returncode: int
    peak_rss_mb: float
    cpu_seconds: float
    sandbox_cpu_seconds: float
    other_cpu_seconds: float
    loadavg: tuple[float, float, float]
    stdout: str
    stderr: str
    rss: RssSampler

    @property
    def other_cores(self) -> float:
        """Cores' worth of CPU other processes used during the run (0: the machine was ours)."""
        return self.other_cpu_seconds / self.wall if self.wall > 0 else 0.0


def run_child(
    command: list[str], env: dict[str, str], cwd: Path, sandbox: Sandbox | None, timeout: float = 3600
) -> ChildRun:
    """Run a command to its end; `os.wait4` gives its own peak RSS and CPU time."""
    out_path, err_path = cwd / "_stdout.txt", cwd / "_stderr.txt"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        sandbox_cpu = sandbox.cpu_seconds() if sandbox else 0.0
        busy = machine_busy_seconds()
        started = time.perf_counter()
        proc = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=err)
        sampler = RssSampler(proc.pid)
        sampler.start()
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            timer.cancel()
            sampler.stop()
        wall = time.perf_counter() - started
        busy = machine_busy_seconds() - busy
        sandbox_cpu = (sandbox.cpu_seconds() if sandbox else 0.0) - sandbox_cpu
    proc.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    return ChildRun(
        command=command,
        wall=wall,
        returncode=proc.returncode,
        peak_rss_mb=usage.ru_maxrss / 1024,  # kilobytes on Linux
        cpu_seconds=cpu,
        sandbox_cpu_seconds=sandbox_cpu,
        other_cpu_seconds=max(0.0, busy - cpu - sandbox_cpu),
        loadavg=os.getloadavg(),
        stdout=out_path.read_text("utf-8", "replace"),
        stderr=err_path.read_text("utf-8", "replace"),
        rss=sampler,
    )
