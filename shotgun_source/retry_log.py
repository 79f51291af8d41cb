"""Keeping dlt's per-job retry tracebacks off the command line's stderr when the destination is down.

With PostgreSQL stopped in the middle of a load, dlt logs every job's every retry with a full
traceback: 47 records and 700 lines for the five demo tables, ahead of the one line that says
what happened (`errors.explain_destination_failure`). At the default log level the command line
drops those records; at INFO or DEBUG (`RUNTIME__LOG_LEVEL`) a user who asked to see them does.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager

DLT_LOGGER = "dlt"
TRANSIENT_JOB_RECORDS = ("Transient exception in job ", "Job for ")
"""How dlt 1.31 starts the records of a job it will retry (client.py, load.py)."""
DRAINED_PACKAGE = "was not fully loaded. Load job pool is successfully drained"


class TransientJobRecords(logging.Filter):
    """Drops dlt's records of load jobs retried on a transient error (and of the package left
    pending), counting them; every other record passes."""

    def __init__(self) -> None:
        super().__init__()
        self.dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or logging.getLogger(DLT_LOGGER).isEnabledFor(logging.INFO):
            return True
        message = str(record.msg)
        retried = message.startswith(TRANSIENT_JOB_RECORDS[0]) or (
            message.startswith(TRANSIENT_JOB_RECORDS[1]) and " retried in load " in message
        )
        if retried or DRAINED_PACKAGE in message:
            self.dropped += 1
            return False
        return True


@contextmanager
def quiet_transient_job_retries() -> Iterator[TransientJobRecords]:
    """While the block runs, dlt's transient job retry records stay off the log (see module doc)."""
    records = TransientJobRecords()
    logger = logging.getLogger(DLT_LOGGER)
    logger.addFilter(records)
    try:
        yield records
    finally:
        logger.removeFilter(records)
