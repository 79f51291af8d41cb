"""One run per pipeline at a time: an exclusive lock the operating system drops when the run ends.

Two runs of one pipeline move each other's load packages (dlt's working folder is not made for two
processes): a slow hourly run overlapped by the next one can fail in normalize, or merge a package
against the other run's schema. The lock is `flock` on a file beside the pipeline's working folder,
so a run killed with SIGKILL leaves no stale lock: the kernel releases it with the process. A second
run waits a bounded time (`lock_timeout_seconds`), then gives up with a message naming the holder.
Different pipelines (one per entity type, say) have different lock files and never wait on each other.
"""

import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import dlt

from .errors import ShotgunPipelineBusyError

POLL_SECONDS = 0.2
"""How often a waiting run tries the lock again."""


def lock_path(pipeline: dlt.Pipeline) -> Path:
    """`<pipelines_dir>/<pipeline_name>.shotgun.lock`: beside the working folder, not inside it, so
    dropping or wiping the working folder (dlt's `drop`, Airflow's `wipe_local_data`) cannot delete
    a lock another run holds."""
    return Path(pipeline.pipelines_dir) / f"{pipeline.pipeline_name}.shotgun.lock"


@contextmanager
def pipeline_lock(pipeline: dlt.Pipeline, timeout_seconds: float) -> Iterator[None]:
    """Hold the pipeline's lock for the block; wait up to `timeout_seconds` for another run."""
    path = lock_path(pipeline)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115  # held open for the whole block
    try:
        _acquire(handle, pipeline.pipeline_name, path, timeout_seconds)
        _write_holder(handle)
        yield
    finally:
        handle.close()  # closing the descriptor releases the lock


def _acquire(handle: IO[str], pipeline_name: str, path: Path, timeout_seconds: float) -> None:
    deadline = time.monotonic() + max(0.0, timeout_seconds)
    while True:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise ShotgunPipelineBusyError(_busy_message(pipeline_name, path, timeout_seconds)) from None
            time.sleep(POLL_SECONDS)


def _write_holder(handle: IO[str]) -> None:
    """Who holds the lock, for the message a waiting run gives."""
    holder = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    handle.seek(0)
    handle.truncate()
    handle.write(json.dumps(holder))
    handle.flush()


def read_holder(path: Path) -> dict[str, Any]:
    """What the run holding the lock wrote about itself ({} when unreadable)."""
    try:
        holder = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


def _busy_message(pipeline_name: str, path: Path, timeout_seconds: float) -> str:
    holder = read_holder(path)
    who = (
        f"pid {holder.get('pid')} on {holder.get('host')}, started {holder.get('started_at')}"
        if holder
        else "another process"
    )
    return (
        f"Pipeline {pipeline_name} is being loaded by another run ({who}); this run waited"
        f" {timeout_seconds:g} s and stopped without reading or loading anything. Let that run finish"
        " (runs that overlap would move each other's load packages), or stop it if it hangs; wait"
        " longer with lock_timeout_seconds (--lock-timeout). Lock file: "
        f"{path}"
    )
