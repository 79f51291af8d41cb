"""`python -m shotgun_source.sandbox`: serve a sandbox site until SIGINT/SIGTERM.

stdout gets only `export NAME=value` lines, so `eval "$(python -m shotgun_source.sandbox &)"`
style scripts and subprocess readers can pick the site up; everything else goes to stderr.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading
import time
from types import FrameType

from .sandbox import Sandbox


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m shotgun_source.sandbox",
        description="Serve a generated ShotGrid-compatible site on loopback.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port to bind; 0 picks a free one (default 8080)")
    p.add_argument("--seed", type=int, default=1, help="data seed (default 1)")
    p.add_argument("--scale", type=float, default=1.0, help="studio size; 1 is a few thousand rows")
    p.add_argument("--versions", type=int, default=None, help="override the number of Versions")
    p.add_argument("--latency", type=float, default=0.0, help="seconds slept per request")
    p.add_argument("--token-lifetime", type=float, default=600, help="access token lifetime in seconds")
    p.add_argument("--quiet", action="store_true", help="do not log requests to stderr")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    sb = Sandbox(
        seed=args.seed,
        scale=args.scale,
        versions=args.versions,
        host=args.host,
        port=args.port,
        latency=args.latency,
        token_lifetime=args.token_lifetime,
        verbose=not args.quiet,
    )
    built = time.perf_counter() - started
    sb.start()
    for name, value in sb.env().items():
        print(f"export {name}={shlex.quote(value)}")
    sys.stdout.flush()
    if not args.quiet:
        rows = sum(sb.site.counts().values())
        print(
            f"sandbox: {rows} rows built in {built:.1f} s, serving {sb.url} "
            f"(password login: {sb.login}); stop with Ctrl-C",
            file=sys.stderr,
            flush=True,
        )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    while not stop.wait(0.5):
        pass
    sb.stop()
    if not args.quiet:
        print("sandbox: stopped", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
