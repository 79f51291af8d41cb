"""Load a ShotGrid site into DuckDB (default), PostgreSQL or any dlt destination.

    python pipelines/shotgun_pipeline.py                    # site and credentials from .dlt/ or env
    python pipelines/shotgun_pipeline.py --demo             # the bundled sandbox site, no set-up
    python pipelines/shotgun_pipeline.py --destination postgres --entities Shot,Version
    python pipelines/shotgun_pipeline.py --destination filesystem   # parquet files under ./shotgun_data
    python pipelines/shotgun_pipeline.py --check            # do the site and credentials work? loads nothing
    python pipelines/shotgun_pipeline.py --progress log     # progress lines on stderr while it runs

Exit status: 0 loaded; 1 the run failed (nothing half-done is committed, rerun); 2 a setting or the
credentials must be fixed first. `--check` has one status per failure: see CHECK_EXIT below.
"""

from __future__ import annotations

import argparse
import importlib
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import dlt
import requests
from dlt.common.configuration import known_sections, resolve_configuration, with_config
from dlt.common.configuration.exceptions import (
    ConfigFieldMissingException,
    ConfigValueCannotBeCoercedException,
)
from dlt.common.configuration.specs import RuntimeConfiguration
from dlt.common.runtime.collector import Collector
from dlt.common.typing import TLoaderFileFormat
from dlt.sources.helpers.requests.retry import Client
from dlt.sources.helpers.rest_client import RESTClient

from shotgun_source import (
    ShotgunAPIError,
    ShotgunAuth,
    ShotgunAuthError,
    ShotgunConfigError,
    ShotgunConnectionError,
    ShotgunError,
    ShotgunPermissionError,
    ShotgunResponseError,
    ShotgunUnavailableError,
    shotgun_source,
)
from shotgun_source.errors import CREDENTIALS_HELP, SITE_URL_HELP, explain_failure, find_shotgun_error
from shotgun_source.recovery import recover_interrupted_run
from shotgun_source.responses import ResponseChecker
from shotgun_source.settings import (
    API_PREFIX,
    DEFAULT_ENTITIES,
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    SEARCH_CONTENT_TYPE,
)
from shotgun_source.site import ShotgunSite
from shotgun_source.site_url import normalize_site_url
from shotgun_source.transport import RequestStats

E = TypeVar("E", bound=BaseException)

PIPELINE_NAME = "shotgun_pipeline"
DEMO_PIPELINE_NAME = "shotgun_demo"
DEFAULT_DESTINATION = "duckdb"
DEFAULT_DATASET = "shotgun"
MUST_FIX_FIRST = (ShotgunConfigError, ShotgunAuthError, ShotgunPermissionError)
"""Errors a rerun cannot mend: exit status 2."""
PARQUET_DESTINATIONS = frozenset(
    {"duckdb", "motherduck", "filesystem", "bigquery", "snowflake", "databricks"}
)
"""Destinations that take parquet load files: DuckDB loads insert_values files with gigabytes of
memory where parquet costs megabytes, and warehouses load parquet fastest."""
LOADER_FILE_FORMATS: dict[str, TLoaderFileFormat] = {"postgres": "insert_values"}
"""PostgreSQL loads insert statements, not csv, although csv's COPY loads faster (a 33,595-row load:
1.0 s against 2.7 s): with dlt 1.31's csv files PostgreSQL reads an empty text value as NULL, and
dlt counts csv rows as rows x columns, so the summary and the trace would lie. Parquet would need an
ADBC driver and lands json as `json`, not `jsonb`."""
DEFAULT_BUCKET_URL = "shotgun_data"
"""Where `--destination filesystem` writes when no bucket_url is configured (relative to the run dir)."""
UNCOMPRESSED_EXTRACT_FILES = "sources.shotgun.data_writer.disable_compression"
"""dlt gzips the files extract hands to normalize and unzips them a moment later: a seventh of a full
load's CPU (bench/speed.py, 200k rows: 42.3 s -> 36.5 s) for files that live minutes. The price is
disk while a run lasts, up to the size of the site's JSON (1.5 KB a row). A value set in config or
the environment wins."""
DUCKDB_LOAD_MEMORY_LIMIT = "256MB"
"""DuckDB's memory limit on the loader's own connection (queries elsewhere keep DuckDB's default of
80% of RAM). Left alone, DuckDB's merge grows with the load: bench/speed.py --memory, Versions only,
peak 548 MB at 100k and 1563 MB at 1M; at 256MB 528 MB and 669 MB, the 1M load step 8.1 s -> 10.6 s
(DuckDB spills to a temporary file beside the database). A `global_config` in the user's DuckDB
credentials wins."""
PROGRESS_CHOICES = ("auto", "none", "log", "tqdm", "enlighten", "alive_progress")
PROGRESS_PACKAGES = {"tqdm": "tqdm", "enlighten": "enlighten", "alive_progress": "alive-progress"}
"""The module each progress display imports, and the PyPI package that brings it."""
LOG_PROGRESS_PERIOD = 10.0
"""Seconds between two `--progress log` reports: a few lines every 10 s read well in a scheduler's log."""
CHECK_EXIT = {
    "unavailable": 1,
    "setting": 2,
    "dns": 3,
    "refused": 4,
    "connection": 5,
    "not_shotgrid": 6,
    "credentials": 7,
    "permission": 8,
}
"""`--check` exit statuses, one per failure, so a script or a monitor can tell them apart:
1 the site answers 5xx/429 or not in time (try later), 2 a setting is missing or invalid,
3 the host name does not resolve, 4 nothing listens at the address (refused or no answer to connect),
5 the connection broke after it opened (TLS), 6 the server is not a ShotGrid site,
7 the site refused the credentials, 8 the credentials may not read an entity type the pipeline loads."""
CHECK_RUNTIME = {
    "RUNTIME__REQUEST_MAX_ATTEMPTS": "2",
    "RUNTIME__REQUEST_BACKOFF_FACTOR": "0.5",
    "RUNTIME__REQUEST_MAX_RETRY_DELAY": "2",
    "RUNTIME__REQUEST_TIMEOUT": "10",
}
"""A check answers in seconds: two tries per request, 10 s each, instead of the run's patient retries."""
CONNECT_TIMEOUT_SECONDS = 5.0
DESTINATION_HELP = {
    "postgres": "Set [destination.postgres.credentials] (database, username, password, host, port) in"
    " .dlt/secrets.toml, or DESTINATION__POSTGRES__CREDENTIALS=postgresql://user:password@host:5432/database.",
    "filesystem": "Set [destination.filesystem] bucket_url (a folder, s3://, gs://, az://...) in"
    " .dlt/config.toml, or DESTINATION__FILESYSTEM__BUCKET_URL; cloud keys go under"
    " [destination.filesystem.credentials] in .dlt/secrets.toml.",
}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="shotgun_pipeline.py",
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
    return parser.parse_args(argv)


@contextmanager
def demo_site() -> Iterator[dict[str, Any]]:
    """The bundled sandbox, serving on loopback for the length of the run."""
    from shotgun_source.sandbox import Sandbox  # only the demo needs the sandbox

    with Sandbox(seed=1, scale=1.0) as sandbox:
        print(f"Demo: sandbox ShotGrid site serving at {sandbox.url}", flush=True)
        yield {
            "site_url": sandbox.url,
            "credentials": ShotgunAuth(client_id=sandbox.script_name, client_secret=sandbox.script_key),
        }


@contextmanager
def configured_site() -> Iterator[dict[str, Any]]:
    """Site and credentials from .dlt/config.toml, .dlt/secrets.toml or SOURCES__SHOTGUN__*.

    The credentials are resolved here, where the source would resolve them, so the summary can
    read the requests they made."""
    yield {"credentials": configured_credentials()}


@with_config(sections=(known_sections.SOURCES, "shotgun", "shotgun"))
def configured_credentials(credentials: ShotgunAuth = dlt.secrets.value) -> ShotgunAuth:
    return credentials


def destination_type(pipeline: dlt.Pipeline) -> str:
    """`postgres` for `dlt.destinations.postgres`, also when the destination has a name of its own."""
    return pipeline.destination.destination_type.rsplit(".", 1)[-1] if pipeline.destination else ""


def loader_file_format(pipeline: dlt.Pipeline) -> TLoaderFileFormat | None:
    """The load file format for the pipeline's destination; None leaves dlt's default."""
    destination = destination_type(pipeline)
    if destination in PARQUET_DESTINATIONS:
        return "parquet"
    return LOADER_FILE_FORMATS.get(destination)


def setting_unless_given(key: str, value: Any, *, in_secrets: bool = False) -> None:
    """Sets `key` for this process unless the user's config, secrets or environment hold a value.
    Credentials keys go to the secrets provider: a credentials key in the config provider makes dlt
    refuse the whole credentials value as a secret held in config.toml."""
    if dlt.config.get(key) is None and dlt.secrets.get(key) is None:
        (dlt.secrets if in_secrets else dlt.config)[key] = value


def extract_files_uncompressed() -> None:
    """Skips gzip for extract's files, unless the user's settings say otherwise."""
    setting_unless_given(UNCOMPRESSED_EXTRACT_FILES, True)


def cap_duckdb_load_memory(destination: str) -> None:
    """Bounds the memory of DuckDB loads, unless the user's DuckDB credentials configure DuckDB."""
    if destination == "duckdb":
        setting_unless_given(
            f"destination.{destination}.credentials.global_config",
            {"memory_limit": DUCKDB_LOAD_MEMORY_LIMIT},
            in_secrets=True,
        )


def make_destination(name: str) -> Any:
    """The destination by name; a filesystem without a configured bucket writes to ./shotgun_data."""
    if name == "filesystem" and not dlt.config.get("destination.filesystem.bucket_url"):
        return dlt.destinations.filesystem(bucket_url=DEFAULT_BUCKET_URL)
    return name


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
    pipeline_name = args.pipeline_name or (DEMO_PIPELINE_NAME if args.demo else PIPELINE_NAME)
    destination = args.destination or dlt.config.get(f"pipelines.{pipeline_name}.destination_type")
    if args.demo and not args.destination:
        destination = DEFAULT_DESTINATION
    dataset = args.dataset or dlt.config.get(f"pipelines.{pipeline_name}.dataset_name") or DEFAULT_DATASET
    cap_duckdb_load_memory(destination or DEFAULT_DESTINATION)
    pipeline = dlt.pipeline(
        pipeline_name=pipeline_name,
        destination=make_destination(destination or DEFAULT_DESTINATION),
        dataset_name=dataset,
        progress=progress,  # type: ignore[arg-type]  # None: dlt's silent default
    )
    source_args: dict[str, Any] = {}
    if args.entities:
        source_args["entities"] = args.entities
    if args.page_size is not None:
        source_args["page_size"] = args.page_size
    extract_files_uncompressed()
    started = time.monotonic()
    if pipeline.has_pending_data:
        # an earlier run was stopped half way: mend and load what it had read (dlt's own `run`
        # would then stop), so this run goes on to read what changed since
        recover_interrupted_run(pipeline)
        pipeline.run()
    with demo_site() if args.demo else configured_site() as site_args:
        source = shotgun_source(**site_args, **source_args)
        run_options: dict[str, Any] = {"loader_file_format": loader_file_format(pipeline)}
        # the sandbox is new on every demo run, so a demo always starts over
        if args.refresh or args.demo:
            run_options["refresh"] = "drop_sources"
        pipeline.run(source, **run_options)
    print_summary(pipeline, time.monotonic() - started, site_args["credentials"].request_stats)
    return 0


def step_times(pipeline: dlt.Pipeline) -> str:
    """`extract 1.1 s, normalize 0.8 s, load 1.4 s` from the run's trace."""
    trace = pipeline.last_trace
    parts = [
        f"{step.step} {(step.finished_at - step.started_at).total_seconds():.1f} s"
        for step in (trace.steps if trace else [])
        if step.step in ("extract", "normalize", "load") and step.finished_at and step.started_at
    ]
    return f" ({', '.join(parts)})" if parts else ""


def cursors(pipeline: dlt.Pipeline) -> list[tuple[str, str, str]]:
    """(resource, cursor, value) after the run: each entity resource's incremental cursor, and how far
    each event-log resource has read retirements and renames."""
    resources = pipeline.state.get("sources", {}).get("shotgun", {}).get("resources", {})
    found: list[tuple[str, str, str]] = []
    for name, state in sorted(resources.items()):
        for cursor, values in sorted((state.get("incremental") or {}).items()):
            found.append((name, cursor, str(values.get("last_value") or "-")))
        if "events_read_to" in state:
            found.append((name, "events_read_to", str(state["events_read_to"] or "-")))
    return found


def print_summary(pipeline: dlt.Pipeline, elapsed: float, requests_made: RequestStats | None = None) -> None:
    """Rows loaded per table in this run, requests and retries, time, and the cursors it left."""
    trace = pipeline.last_trace
    counts = trace.last_normalize_info.row_counts if trace and trace.last_normalize_info else {}
    rows = {table: n for table, n in sorted(counts.items()) if not table.startswith("_dlt")}
    where = pipeline.destination.destination_type.rsplit(".", 1)[-1] if pipeline.destination else "?"
    print(
        f"Loaded pipeline {pipeline.pipeline_name} into {where},"
        f" dataset {pipeline.dataset_name}, in {elapsed:.1f} s{step_times(pipeline)}"
    )
    width = max([len("table"), *map(len, rows)])
    print(f"  {'table':<{width}}  {'rows':>9}")
    for table, n in rows.items():
        print(f"  {table:<{width}}  {n:>9,}")
    if not rows:
        print("  (no new or changed rows)")
    if requests_made is not None:
        print(f"Requests: {requests_made.describe()}")
    marks = cursors(pipeline)
    if marks:
        print("Cursors (the next run reads from each, less lookback_seconds):")
        name_width = max(len(name) for name, _, _ in marks)
        cursor_width = max(len(cursor) for _, cursor, _ in marks)
        for name, cursor, value in marks:
            print(f"  {name:<{name_width}}  {cursor:<{cursor_width}}  {value}")
    if where == "filesystem":
        print(
            "Note: files hold every row each run loaded (dlt merges only into delta or iceberg tables),"
            " so a changed record has one row per run that saw it: read the newest `_dlt_load_id` per id."
        )


def find_in_chain(exc: BaseException, kind: type[E]) -> E | None:
    """The error of type `kind` under dlt's step failure and exception chain, if there is one."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, kind):
            return current
        wrapped = getattr(current, "exception", None)  # PipelineStepFailed keeps the step's error here
        current = wrapped if isinstance(wrapped, BaseException) else current.__cause__ or current.__context__
    return None


def find_missing_setting(exc: BaseException) -> ConfigFieldMissingException | None:
    """The missing-configuration error under dlt's step failure, if that is what stopped the run."""
    return find_in_chain(exc, ConfigFieldMissingException)


def explain_unreadable_setting(exc: ConfigValueCannotBeCoercedException) -> str:
    """What to write instead of a value dlt cannot read as the setting's type (the value itself is
    not repeated: it may be a secret)."""
    name = exc.field_name
    return (
        f"the setting `{name}` has a value that cannot be read as {getattr(exc.hint, '__name__', exc.hint)}."
        f' In .dlt/config.toml write a list as a TOML list ({name} = ["Shot", "Version"]); in an'
        f' environment variable as JSON (SOURCES__SHOTGUN__{name.upper()}=\'["Shot", "Version"]\').'
    )


def explain_missing_setting(exc: ConfigFieldMissingException) -> str:
    help_text = SITE_URL_HELP if "site_url" in exc.fields else CREDENTIALS_HELP
    return f"missing setting(s) {', '.join(exc.fields)}. {help_text}"


def explain_missing_destination_setting(args: argparse.Namespace, exc: ConfigFieldMissingException) -> str:
    """One short line instead of dlt's list of every place it looked."""
    destination = args.destination or dlt.config.get(
        f"pipelines.{args.pipeline_name or PIPELINE_NAME}.destination_type"
    )
    fields = ", ".join(exc.fields)
    help_text = DESTINATION_HELP.get(
        str(destination),
        f"Put them under [destination.{destination}] in .dlt/secrets.toml, or in environment variables"
        f" DESTINATION__{str(destination).upper()}__..., as dlt's page for that destination shows.",
    )
    return f"the {destination} destination is missing setting(s) {fields} of {exc.spec_name}. {help_text}"


class CheckFailed(Exception):
    """What `--check` found wrong, with its exit status."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = CHECK_EXIT[kind]


@dataclass
class CheckSettings:
    site_url: str
    credentials: ShotgunAuth
    entities: Sequence[str] | str | None
    deletes: str


@with_config(sections=(known_sections.SOURCES, "shotgun", "shotgun"))
def configured_check_settings(
    site_url: str = dlt.config.value,
    credentials: ShotgunAuth = dlt.secrets.value,
    entities: Sequence[str] | str | None = None,
    deletes: str = "soft",
) -> CheckSettings:
    """The settings `shotgun_source()` would resolve, from the same places (.dlt/, SOURCES__SHOTGUN__*)."""
    return CheckSettings(site_url, credentials, entities, deletes)


@contextmanager
def quick_retries() -> Iterator[None]:
    """dlt's retry settings for a check, restored afterwards."""
    saved = {key: os.environ.get(key) for key in CHECK_RUNTIME}
    os.environ.update(CHECK_RUNTIME)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def check_site(args: argparse.Namespace) -> int:
    """`--check`: sign in, list the entity types, read one record of each loaded type; load nothing.

    Each step prints a line; the first failure prints why and what to do, and sets the exit status.
    """
    started = time.monotonic()
    try:
        sites: AbstractContextManager[dict[str, Any]] = demo_site() if args.demo else nullcontext({})
        with quick_retries(), sites as site_args:
            if site_args:
                settings = CheckSettings(site_args["site_url"], site_args["credentials"], None, "soft")
            else:
                settings = configured_check_settings()
            run_check(settings, args.entities or settings.entities)
    except ConfigFieldMissingException as exc:
        return check_failed(CheckFailed("setting", explain_missing_setting(exc)))
    except ConfigValueCannotBeCoercedException as exc:
        return check_failed(CheckFailed("setting", explain_unreadable_setting(exc)))
    except CheckFailed as exc:
        return check_failed(exc)
    print(f"OK: the site and the credentials work ({time.monotonic() - started:.1f} s). Nothing was loaded.")
    return 0


def check_failed(failure: CheckFailed) -> int:
    print(f"error: check failed ({failure.kind.replace('_', ' ')}): {failure}", file=sys.stderr)
    return failure.status


def run_check(settings: CheckSettings, entities: Sequence[str] | str | None) -> None:
    try:
        site_url = normalize_site_url(settings.site_url)
        auth = settings.credentials.bind(site_url)
    except ShotgunConfigError as exc:
        raise CheckFailed("setting", str(exc)) from None
    who = f"script {auth.client_id}" if auth.client_id else f"user {auth.username}"
    print(f"Checking ShotGrid site {site_url} as {who}")
    check_network(site_url)
    with site_step():
        auth.current_token()
    print("  sign-in     token issued")
    site = ShotgunSite(site_url, auth)
    with site_step():
        available = site.entity_types()
    print(f"  schema      {len(available)} entity types: {', '.join(available)}")
    site.entity_types = lambda: available  # type: ignore[method-assign]  # resolved below without a second read
    try:
        wanted = site.resolve_entity_types(entities if entities else list(DEFAULT_ENTITIES))
    except ShotgunConfigError as exc:
        raise CheckFailed("setting", str(exc)) from None
    if settings.deletes != "ignore" and "EventLogEntry" not in wanted:
        wanted.append("EventLogEntry")  # retirements and renames are read from the event log
    denied = probe_reads(site_url, auth, wanted)
    readable = [t for t in wanted if t not in denied]
    if readable:
        print(f"  reads       one record of each: {', '.join(readable)}")
    if denied:
        event_log = (
            ' The event log is read for deletes and renames: grant it, or set deletes = "ignore".'
            if "EventLogEntry" in denied
            else ""
        )
        raise CheckFailed(
            "permission",
            f"the credentials may not read {', '.join(denied)}, which this pipeline loads.{event_log}"
            f" {next(iter(denied.values()))}",
        )


def check_network(site_url: str) -> None:
    """Resolve the host and open a TCP connection, to tell DNS from a closed port from what comes
    after. Skipped behind a proxy, where only the proxy is dialled."""
    parts = urlsplit(site_url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if requests.utils.get_environ_proxies(site_url):
        print(f"  network     through a proxy (not checked directly): {host}:{port}")
        return
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise CheckFailed(
            "dns",
            f"the host name {host} does not resolve ({exc.strerror}). Is the site URL spelled right?"
            f" {SITE_URL_HELP}",
        ) from None
    address = addresses[0][4][0]
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_SECONDS):
            pass
    except ConnectionRefusedError:
        raise CheckFailed(
            "refused",
            f"{host} ({address}) refused the connection on port {port}: no server listens there."
            " Check the port in the site URL, or whether the server is up.",
        ) from None
    except OSError as exc:
        raise CheckFailed(
            "refused",
            f"could not connect to {host} ({address}) port {port} within {CONNECT_TIMEOUT_SECONDS:g} s"
            f" ({exc.strerror or type(exc).__name__}): a firewall, a proxy that must be set"
            " (HTTPS_PROXY), or the server is down.",
        ) from None
    print(f"  network     {host} resolves to {address}, port {port} accepts connections")


@contextmanager
def site_step() -> Iterator[None]:
    """Turn what the source raises into the check's failure kinds."""
    try:
        yield
    except ShotgunAuthError as exc:
        raise CheckFailed("credentials", str(exc)) from None
    except ShotgunPermissionError as exc:
        raise CheckFailed("permission", str(exc)) from None
    except ShotgunConfigError as exc:
        raise CheckFailed("setting", str(exc)) from None
    except ShotgunConnectionError as exc:
        # after a TCP connection worked: TLS, or DNS and refusals seen through a proxy
        kind = {"dns": "dns", "refused": "refused"}.get(str(getattr(exc, "kind", "")), "connection")
        raise CheckFailed(kind, str(exc)) from None
    except (ShotgunResponseError, ShotgunAPIError) as exc:
        raise CheckFailed("not_shotgrid", str(exc)) from None
    except ShotgunUnavailableError as exc:
        raise CheckFailed("unavailable", str(exc)) from None
    except ShotgunError as exc:
        raise CheckFailed("not_shotgrid", str(exc)) from None
    except requests.RequestException as exc:
        raise CheckFailed("unavailable", explain_failure(exc)) from None


def probe_reads(site_url: str, auth: ShotgunAuth, entity_types: Sequence[str]) -> dict[str, str]:
    """Read one record of each type, in parallel; the types the credentials may not read, and why.

    The schema lists every type whatever the permissions: only a read tells."""

    def probe(entity_type: str) -> str | None:
        http = Client(raise_for_status=False)
        http.update_from_config(resolve_configuration(RuntimeConfiguration()))
        client = RESTClient(
            base_url=f"{site_url}{API_PREFIX}/",
            auth=auth,
            headers={"Content-Type": SEARCH_CONTENT_TYPE, "Accept": "application/json"},
            session=http.session,
        )
        try:
            with site_step():
                client.post(
                    f"entity/{entity_type}/_search",
                    json={"filters": [], "fields": ["id"], "page": {"number": 1, "size": 1}},
                    hooks={"response": [ResponseChecker(site_url)]},
                )
        except CheckFailed as exc:
            if exc.kind == "permission":
                return str(exc)
            raise
        return None

    with ThreadPoolExecutor(max_workers=min(8, len(entity_types))) as pool:
        answers = list(pool.map(probe, entity_types))
    return {t: why for t, why in zip(entity_types, answers, strict=True) if why is not None}


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        progress = progress_collector(args.progress)
    except ProgressUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        if args.check:
            return check_site(args)
        return run(args, progress)
    except ShotgunConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ConfigFieldMissingException as exc:
        print(f"error: {explain_missing_setting(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:  # a failed run: say why in one message, not a traceback
        unreadable = find_in_chain(exc, ConfigValueCannotBeCoercedException)
        if unreadable is not None:
            print(f"error: {explain_unreadable_setting(unreadable)}", file=sys.stderr)
            return 2
        missing = find_missing_setting(exc)
        if missing is not None:
            # dlt found no destination credentials or bucket: a setting to fix, not a rerun
            print(f"error: {explain_missing_destination_setting(args, missing)}", file=sys.stderr)
            return 2
        cause = find_shotgun_error(exc)
        print(f"error: {explain_failure(exc)}", file=sys.stderr)
        print(
            "No cursor moves past data that is not loaded: rerun when fixed, it picks up from there.",
            file=sys.stderr,
        )
        return 2 if isinstance(cause, MUST_FIX_FIRST) else 1


if __name__ == "__main__":
    sys.exit(main())
