"""The command line: `shotgun-pipeline` (and `python pipelines/shotgun_pipeline.py`, which calls it).

    shotgun-pipeline                          # site and credentials from .dlt/ or SOURCES__SHOTGUN__*
    shotgun-pipeline --demo                   # the bundled sandbox site, no set-up
    shotgun-pipeline --destination postgres --entities Shot,Version
    shotgun-pipeline --destination filesystem # parquet files under ./shotgun_data
    shotgun-pipeline --check                  # do the site and credentials work? loads nothing

Only arguments and printing live here: the run itself is `shotgun_source.load()`, the check
`shotgun_source.check_site()`, so a user's own pipeline or an orchestrator gets the same guarantees.

Exit status: 0 loaded; 1 the run failed and a rerun picks up from where it stopped (site or
destination down, network); 2 a setting or the credentials must be fixed first; 3 another run of
the same pipeline holds it. `--check` has one status per failure (`check.CHECK_EXIT`).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import dlt
from dlt.common.configuration import known_sections, with_config
from dlt.common.configuration.exceptions import (
    ConfigFieldMissingException,
    ConfigValueCannotBeCoercedException,
)
from dlt.common.runtime.collector import Collector

from .auth import ShotgunAuth
from .check import check_site
from .errors import (
    ShotgunAuthError,
    ShotgunConfigError,
    ShotgunPermissionError,
    ShotgunPipelineBusyError,
    explain_destination_failure,
    explain_failure,
    explain_missing_setting,
    explain_unreadable_setting,
    find_in_chain,
    find_shotgun_error,
)
from .lock import named_pipeline_lock
from .retry_log import quiet_transient_job_retries
from .run import configured_lock_timeout, load
from .settings import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

PIPELINE_NAME = "shotgun_pipeline"
DEMO_PIPELINE_NAME = "shotgun_demo"
DEFAULT_DESTINATION = "duckdb"
DEFAULT_DATASET = "shotgun"
DEFAULT_BUCKET_URL = "shotgun_data"
"""Where `--destination filesystem` writes when no bucket_url is configured (relative to the run dir)."""
MUST_FIX_FIRST = (ShotgunConfigError, ShotgunAuthError, ShotgunPermissionError)
"""Errors a rerun cannot mend: exit status 2."""
EXIT_LOADED, EXIT_RERUN, EXIT_FIX_FIRST, EXIT_BUSY = 0, 1, 2, 3
PROGRESS_CHOICES = ("auto", "none", "log", "tqdm", "enlighten", "alive_progress")
PROGRESS_PACKAGES = {"tqdm": "tqdm", "enlighten": "enlighten", "alive_progress": "alive-progress"}
"""The module each progress display imports, and the PyPI package that brings it."""
LOG_PROGRESS_PERIOD = 10.0
"""Seconds between two `--progress log` reports: a few lines every 10 s read well in a scheduler's log."""
DESTINATION_HELP = {
    "postgres": "Set [destination.postgres.credentials] (database, username, password, host, port) in"
    " .dlt/secrets.toml, or DESTINATION__POSTGRES__CREDENTIALS=postgresql://user:password@host:5432/database.",
    "filesystem": "Set [destination.filesystem] bucket_url (a folder, s3://, gs://, az://...) in"
    " .dlt/config.toml, or DESTINATION__FILESYSTEM__BUCKET_URL; cloud keys go under"
    " [destination.filesystem.credentials] in .dlt/secrets.toml.",
}
DEMO_QUERY = "select code, sg_status_list, project__name from shotgun.shots limit 5"
DEMO_NEXT_STEPS = "\n".join(
    [
        "Next steps:",
        "  dlt pipeline shotgun_demo show     dlt's dashboard in your browser: tables, row counts, SQL",
        f"""  python -c "import duckdb; duckdb.connect('shotgun_demo.duckdb').sql('{DEMO_QUERY}').show()\"""",
        "  python pipelines/studio_report.py  pictures: shots by status, versions per week, days in status",
        '  Your own site: set site_url and a script\'s name and key (README, "Loading your own site"),'
        " then run without --demo.",
    ]
)
"""What a newcomer can do after the demo: look at the data three ways, then load a real site."""


def parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Copy a ShotGrid site into DuckDB, PostgreSQL or any dlt destination, incrementally.",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="start the bundled sandbox ShotGrid site on 127.0.0.1 and load it (pipeline shotgun_demo,"
        " file shotgun_demo.duckdb); needs no site and no credentials",
    )
    parser.add_argument(
        "--destination",
        help="any dlt destination: duckdb (default), postgres, filesystem, bigquery, snowflake, ..."
        " (default: [pipelines.shotgun_pipeline] destination_type in .dlt/config.toml, else duckdb)",
    )
    parser.add_argument("--dataset", help="dataset (schema) name in the destination (default: shotgun)")
    parser.add_argument(
        "--entities",
        help='comma-separated entity types (Shot,Version) or table names (shots), or "all"'
        " (default: [sources.shotgun] entities, else Project,Shot,Task,Asset,Version)",
    )
    parser.add_argument(
        "--refresh",
        action="store_true",
        help="start over: drop this source's tables and cursors, then load everything again",
    )
    parser.add_argument(
        "--page-size", type=int, help=f"rows per request, 1..{MAX_PAGE_SIZE} (default: {DEFAULT_PAGE_SIZE})"
    )
    parser.add_argument("--pipeline-name", help=f"dlt pipeline name (default: {PIPELINE_NAME})")
    parser.add_argument(
        "--history",
        metavar="FIELDS",
        help="field history into <table>_field_changes: off, status (each type's status fields, the"
        " default), or Type.field names (Shot.sg_status_list,Shot.sg_cut_in), which replace the default"
        " for the types they name (default: [sources.shotgun] history_fields)",
    )
    parser.add_argument(
        "--history-since",
        metavar="WHEN",
        help='how far back a first run reads field history: "30 days" (the default), a date, or a UTC'
        " time (1970-01-01T00:00:00Z: the whole event log)",
    )
    parser.add_argument(
        "--lock-timeout",
        type=float,
        metavar="SECONDS",
        help="how long to wait while another run of the same pipeline holds it, then exit 3"
        " (default: [sources.shotgun] lock_timeout_seconds, else 60)",
    )
    parser.add_argument(
        "--progress",
        choices=PROGRESS_CHOICES,
        default="auto",
        help="progress while the run extracts, normalizes and loads, by dlt's own collectors: log"
        f" (a few lines on stderr every {LOG_PROGRESS_PERIOD:g} s), tqdm, enlighten, alive_progress"
        ' (pip install -e ".[progress]"), none; auto (default): tqdm on a terminal when installed,'
        " else log on a terminal, none when output goes to a file or a scheduler",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="check the site and credentials only: sign in, list the entity types, read one record of"
        " each type this pipeline loads, and exit (0 when all is well, 1-8 by what failed); loads"
        " nothing, creates no pipeline",
    )
    return parser


def parse_args(argv: Sequence[str] | None = None, prog: str | None = None) -> argparse.Namespace:
    return parser(prog).parse_args(argv)


@contextmanager
def demo_site() -> Iterator[dict[str, Any]]:
    """The bundled sandbox, serving on loopback for the length of the run."""
    from .sandbox import Sandbox  # only the demo needs the sandbox

    with Sandbox(seed=1, scale=1.0) as sandbox:
        print(f"Demo: sandbox ShotGrid site serving at {sandbox.url}", flush=True)
        yield {
            "site_url": sandbox.url,
            "credentials": ShotgunAuth(client_id=sandbox.script_name, client_secret=sandbox.script_key),
        }


@with_config(sections=(known_sections.SOURCES, "shotgun", "shotgun"))
def configured_credentials(credentials: ShotgunAuth = dlt.secrets.value) -> ShotgunAuth:
    return credentials


def make_destination(name: str) -> Any:
    """The destination by name; a filesystem without a configured bucket writes to ./shotgun_data."""
    if name == "filesystem" and not dlt.config.get("destination.filesystem.bucket_url"):
        return dlt.destinations.filesystem(bucket_url=DEFAULT_BUCKET_URL)
    return name


def destination_name(args: argparse.Namespace) -> str:
    if args.destination:
        return str(args.destination)
    if args.demo:
        return DEFAULT_DESTINATION
    key = f"pipelines.{args.pipeline_name or PIPELINE_NAME}.destination_type"
    configured: Any = dlt.config.get(key)
    return str(configured or DEFAULT_DESTINATION)


class ProgressUnavailable(Exception):
    """The chosen progress display needs a package that is not installed."""


def progress_collector(choice: str, on_terminal: bool | None = None) -> Collector | None:
    """dlt's collector for `--progress`; None shows no progress.

    `auto` shows progress only to a person: tqdm on a terminal where it is installed, else dlt's
    log lines; nothing when stderr is a file or a scheduler's log, where the summary says it all.
    """
    if on_terminal is None:
        on_terminal = sys.stderr.isatty()
    if choice == "auto":
        if not on_terminal:
            return None
        choice = "tqdm" if _importable("tqdm") else "log"
    if choice == "none":
        return None
    if choice == "log":
        # stderr keeps stdout for the summary; system stats only where psutil is there to read them
        return dlt.progress.log(
            log_period=LOG_PROGRESS_PERIOD, logger=sys.stderr, dump_system_stats=_importable("psutil")
        )
    package = PROGRESS_PACKAGES[choice]
    if not _importable(choice):
        raise ProgressUnavailable(
            f"--progress {choice} needs the {package} package, which is not installed."
            f' Install the progress extra (pip install -e ".[progress]") or pip install {package};'
            " --progress log needs nothing."
        )
    collectors: dict[str, Callable[[], Collector]] = {
        "tqdm": dlt.progress.tqdm,  # draws on stderr
        "enlighten": dlt.progress.enlighten,  # draws on the terminal (stdout); off when that is a file
        "alive_progress": lambda: dlt.progress.alive_progress(file=sys.stderr),
    }
    return collectors[choice]()


def _importable(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def run(args: argparse.Namespace, progress: Collector | None = None) -> int:
    """Take the pipeline's lock, then build the pipeline the flags describe, load it, print the report.

    The lock comes before `dlt.pipeline()`: that call wipes a working folder with no state file
    yet, which is where another run's first load may be extracting (`load()` takes it again)."""
    pipeline_name = args.pipeline_name or (DEMO_PIPELINE_NAME if args.demo else PIPELINE_NAME)
    timeout = configured_lock_timeout() if args.lock_timeout is None else args.lock_timeout
    with (
        named_pipeline_lock(pipeline_name, None, timeout, on_wait=say_on_stderr),
        quiet_transient_job_retries(),
    ):
        return run_locked(args, pipeline_name, progress)


def say_on_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run_locked(args: argparse.Namespace, pipeline_name: str, progress: Collector | None) -> int:
    destination = destination_name(args)
    dataset = args.dataset or dlt.config.get(f"pipelines.{pipeline_name}.dataset_name") or DEFAULT_DATASET
    pipeline = dlt.pipeline(
        pipeline_name=pipeline_name,
        destination=make_destination(destination),
        dataset_name=dataset,
        progress=progress,  # type: ignore[arg-type]  # None: dlt's silent default
    )
    source_args: dict[str, Any] = {}
    if args.entities:
        source_args["entities"] = args.entities
    if args.page_size is not None:
        source_args["page_size"] = args.page_size
    if args.history is not None:
        source_args["history_fields"] = args.history
    if args.history_since is not None:
        source_args["history_since"] = args.history_since
    if args.demo:
        with demo_site() as site:
            # each demo's sandbox is new, so a demo always starts over
            report = load(
                pipeline, refresh=True, lock_timeout_seconds=args.lock_timeout, **site, **source_args
            )
    else:
        report = load(
            pipeline,
            refresh=args.refresh,
            lock_timeout_seconds=args.lock_timeout,
            credentials=configured_credentials(),  # resolved here, so a missing key is named at once
            **source_args,
        )
    print(report.render())
    if args.demo:
        print(DEMO_NEXT_STEPS)
    return EXIT_LOADED


def check(args: argparse.Namespace) -> int:
    """`--check`: print each line as it is found, then OK or what failed; exit by failure kind."""
    if args.demo:
        with demo_site() as site:
            result = check_site(site["site_url"], site["credentials"], args.entities, "soft", on_line=print)
    else:
        result = check_site(entities=args.entities or None, on_line=print)
    if result.ok:
        print(f"OK: {result.message}")
    else:
        print(f"error: check failed ({result.kind.replace('_', ' ')}): {result.message}", file=sys.stderr)
    return result.status


def explain_missing_destination_setting(args: argparse.Namespace, exc: ConfigFieldMissingException) -> str:
    """One short line instead of dlt's list of every place it looked."""
    destination = destination_name(args)
    fields = ", ".join(exc.fields)
    help_text = DESTINATION_HELP.get(
        destination,
        f"Put them under [destination.{destination}] in .dlt/secrets.toml, or in environment variables"
        f" DESTINATION__{destination.upper()}__..., as dlt's page for that destination shows.",
    )
    return f"the {destination} destination is missing setting(s) {fields} of {exc.spec_name}. {help_text}"


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """The command line's entry point; returns the exit status."""
    args = parse_args(argv, prog)
    try:
        progress = progress_collector(args.progress)
    except ProgressUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FIX_FIRST
    try:
        if args.check:
            return check(args)
        return run(args, progress)
    except ShotgunPipelineBusyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BUSY
    except ShotgunConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FIX_FIRST
    except ConfigFieldMissingException as exc:
        print(f"error: {explain_missing_setting(exc)}", file=sys.stderr)
        return EXIT_FIX_FIRST
    except Exception as exc:  # a failed run: say why in one message, not a traceback
        unreadable = find_in_chain(exc, ConfigValueCannotBeCoercedException)
        if unreadable is not None:
            print(f"error: {explain_unreadable_setting(unreadable)}", file=sys.stderr)
            return EXIT_FIX_FIRST
        missing = find_in_chain(exc, ConfigFieldMissingException)
        if missing is not None:
            # dlt found no destination credentials or bucket: a setting to fix, not a rerun
            print(f"error: {explain_missing_destination_setting(args, missing)}", file=sys.stderr)
            return EXIT_FIX_FIRST
        destination_down = explain_destination_failure(exc)
        if destination_down is not None:  # one line: it says what is kept and what to do
            print(f"error: {destination_down}", file=sys.stderr)
            return EXIT_RERUN
        cause = find_shotgun_error(exc)
        print(f"error: {explain_failure(exc)}", file=sys.stderr)
        print(
            "No cursor moves past data that is not loaded: rerun when fixed, it picks up from there.",
            file=sys.stderr,
        )
        return EXIT_FIX_FIRST if isinstance(cause, MUST_FIX_FIRST) else EXIT_RERUN


def console() -> None:
    """`shotgun-pipeline`, the console command pyproject.toml declares."""
    sys.exit(main())
