"""PostgreSQL loads by COPY from csv files that keep an empty text apart from a missing one.

dlt 1.31's csv COPY job passes `FORCE_NULL` for every nullable column, so a quoted `""` loads as
NULL: it must, because its csv writer for rows (dicts) writes None and "" alike. This source hands
dlt Arrow tables only, and pyarrow's csv writer quotes every text, "" included, and writes a null as
nothing at all, so COPY's own rule (an unquoted empty field is NULL, a quoted one is text) tells
them apart. `CopyKeepingEmptyText` is dlt's job without `FORCE_NULL`; `postgres_keeping_empty_text`
is the pipeline's own dlt postgres destination with that job in place of dlt's, for csv files only.

COPY loads a full site's load files in a fraction of the time their insert statements take (on
bench/speed.py's 200k rows, normalize 14.6 s -> 1.4 s, load 6.6 s -> 1.6 s), so `load()` writes csv
for PostgreSQL when every item is an Arrow table, that is when the source is `shotgun_source`
(`load_settings.loader_file_format`). A source of dicts keeps insert statements.
"""

from typing import Any

from dlt.common.destination.client import LoadJob, PreparedTableSchema
from dlt.common.destination.configuration import CsvFormatConfiguration
from dlt.common.destination.exceptions import DestinationInvalidFileFormat
from dlt.common.destination.reference import DestinationReference
from dlt.common.storages.file_storage import FileStorage
from dlt.destinations import postgres
from dlt.destinations.impl.postgres.postgres import PostgresClient, PostgresCsvCopyJob

POSTGRES_TYPE = DestinationReference.normalize_type("postgres")
"""`dlt.destinations.postgres`, as dlt names its own factory."""
COPY_BUFFER_BYTES = 1 << 20
"""Bytes handed to the server per write of the COPY stream (psycopg2's default: 8 kB)."""


class CopyKeepingEmptyText(PostgresCsvCopyJob):
    """dlt's csv COPY job for files written from Arrow tables: NULL is an unquoted empty field
    only, so `""` stays an empty text. A file without a header line (a user's `csv_format` of
    `include_header = false`) goes to dlt's own job, which matches columns by the schema."""

    def run(self) -> None:
        csv_format = self._job_client.config.csv_format or CsvFormatConfiguration()
        if not csv_format.include_header:
            super().run()
            return
        sql_client = self._job_client.sql_client
        table_name = self.load_table_name
        known = {
            sql_client.escape_column_name(name, quote=True)
            for name in self._job_client.schema.get_table_columns(table_name)
        }
        with FileStorage.open_zipsafe_ro(self._file_path, "rb") as f:
            header = f.readline().decode(csv_format.encoding).strip().split(csv_format.delimiter)
            columns = [sql_client.escape_column_name(name.strip('"'), quote=True) for name in header]
            if unknown := set(columns) - known:
                raise DestinationInvalidFileFormat(
                    "postgres",
                    "csv",
                    self._file_path,
                    f"Headers {sorted(unknown)} are not columns of table {table_name}.",
                )
            copy_sql = (
                f"COPY {sql_client.make_qualified_table_name(table_name)} ({','.join(columns)})"
                f" FROM STDIN WITH (FORMAT CSV, DELIMITER '{csv_format.delimiter}', NULL '',"
                f" ENCODING '{csv_format.encoding}')"
            )
            with sql_client.begin_transaction(), sql_client.native_connection.cursor() as cursor:
                cursor.copy_expert(copy_sql, f, size=COPY_BUFFER_BYTES)


class PostgresClientKeepingEmptyText(PostgresClient):
    """dlt's PostgreSQL job client; csv files load with `CopyKeepingEmptyText`."""

    def create_load_job(
        self, table: PreparedTableSchema, file_path: str, load_id: str, restore: bool = False
    ) -> LoadJob:
        job = super().create_load_job(table, file_path, load_id, restore)
        if type(job) is PostgresCsvCopyJob:
            return CopyKeepingEmptyText(file_path)
        return job


class postgres_keeping_empty_text(postgres):  # noqa: N801 (dlt names destination factories so)
    """dlt's postgres destination whose csv files keep empty texts. It calls itself
    `dlt.destinations.postgres`: the pipeline's state, trace and dashboard, and every run made
    without `load()`, see the destination the user configured, and nothing warns that it changed."""

    @property
    def client_class(self) -> type[PostgresClient]:
        return PostgresClientKeepingEmptyText

    @property
    def destination_type(self) -> str:
        return POSTGRES_TYPE

    @classmethod
    def like(cls, destination: postgres) -> "postgres_keeping_empty_text":
        """The same destination (credentials, name, settings as given to dlt) with the csv job."""
        params: dict[str, Any] = {**destination.config_params, **destination.caps_params}
        return cls(**params)
