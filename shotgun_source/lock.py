"""One run per pipeline at a time: an exclusive lock the operating system drops when the run ends.

Two runs of one pipeline move each other's load packages (dlt's working folder is not made for two
processes): a slow hourly run overlapped by the next one can fail in normalize, or merge a package
against the other run's schema. The lock is `flock` on a file beside the pipeline's working folder,
so a run killed with SIGKILL leaves no stale lock: the kernel releases it with the process. A second
run waits a bounded time (`lock_timeout_seconds`), then gives up with a message naming the holder.
Different pipelines (one per entity type, say) have different lock files and never wait on each other.

The lock is re-entrant within one thread (the command line takes it before it builds the dlt
pipeline, since `dlt.pipeline()` wipes a working folder that has no state file yet, and `load()`
takes it again); another thread of the same process waits like another process would.
"""

import fcntl
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import dlt
from dlt.common import logger
from dlt.common.pipeline import get_dlt_pipelines_dir

from .errors import ShotgunPipelineBusyError

POLL_SECONDS = 0.2
"""How often a waiting run tries the lock again."""
WAIT_NOTICE_MIN_TIMEOUT = 5.0
"""A run that may wait this long or longer says once that it waits; with a shorter timeout the
one line it gives up with (or nothing, when the lock frees in time) says enough."""
LOCK_SUFFIX = ".shotgun.lock"

_held = threading.local()
"""The lock files this thread holds, by path, with how deep it holds each."""


def lock_path(pipeline: dlt.Pipeline) -> Path:
    """`<pipelines_dir>/<pipeline_name>.shotgun.lock`: beside the working folder, not inside it, so
    dropping or wiping the working folder (dlt's `drop`, Airflow's `wipe_local_data`) cannot delete
    a lock another run holds."""
    return lock_path_for(pipeline.pipeline_name, pipeline.pipelines_dir)


def lock_path_for(pipeline_name: str, pipelines_dir: str | os.PathLike[str] | None = None) -> Path:
    """The lock file of a pipeline by name, in dlt's default pipelines dir unless given one."""
    return Path(pipelines_dir or get_dlt_pipelines_dir()) / f"{pipeline_name}{LOCK_SUFFIX}"


@contextmanager
def pipeline_lock(pipeline: dlt.Pipeline, timeout_seconds: float) -> Iterator[None]:
    """Hold the pipeline's lock for the block; wait up to `timeout_seconds` for another run."""
    with named_pipeline_lock(pipeline.pipeline_name, pipeline.pipelines_dir, timeout_seconds):
        yield


@contextmanager
def named_pipeline_lock(
    pipeline_name: str,
    pipelines_dir: str | os.PathLike[str] | None,
    timeout_seconds: float,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """`pipeline_lock` before the pipeline object exists (dlt's default pipelines dir if None).

    `on_wait` gets the one line a run that has to wait says (default: dlt's log, a warning)."""
    path = lock_path_for(pipeline_name, pipelines_dir)
    key = str(path.resolve())
    depths: dict[str, int] = _held.__dict__.setdefault("depths", {})
    if depths.get(key):
        depths[key] += 1  # this thread holds it already
        try:
            yield
        finally:
            depths[key] -= 1
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115  # held open for the whole block
    try:
        _acquire(handle, pipeline_name, path, timeout_seconds, on_wait or _log_warning)
        _write_holder(handle)
        depths[key] = 1
        try:
            yield
        finally:
            depths.pop(key, None)
    finally:
        handle.close()  # closing the descriptor releases the lock


def _log_warning(line: str) -> None:
    logger.warning(line)


def _acquire(
    handle: IO[str], pipeline_name: str, path: Path, timeout_seconds: float, say: Callable[[str], None]
) -> None:
    started = time.monotonic()
    deadline = started + max(0.0, timeout_seconds)
    said = False
    while True:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            if said:
                waited = time.monotonic() - started
                say(f"Pipeline {pipeline_name} is free again after {waited:.1f} s; this run goes on.")
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise ShotgunPipelineBusyError(_busy_message(pipeline_name, path, timeout_seconds)) from None
            if not said and timeout_seconds >= WAIT_NOTICE_MIN_TIMEOUT:
                # a run that waits says so once, so a scheduler's log shows why it is late
                say(
                    f"Pipeline {pipeline_name} is being loaded by another run ({_holder_text(path)});"
                    f" waiting up to {timeout_seconds:g} s for it to finish."
                )
                said = True
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


def _holder_text(path: Path) -> str:
    holder = read_holder(path)
    if not holder:
        return "another process"
    return f"pid {holder.get('pid')} on {holder.get('host')}, started {holder.get('started_at')}"


def _busy_message(pipeline_name: str, path: Path, timeout_seconds: float) -> str:
    return (
        f"Pipeline {pipeline_name} is being loaded by another run ({_holder_text(path)}); this run waited"
        f" {timeout_seconds:g} s and stopped without reading or loading anything. Let that run finish"
        " (runs that overlap would move each other's load packages), or stop it if it hangs; wait"
        " longer with lock_timeout_seconds (--lock-timeout). Lock file: "
        f"{path}"
    )
