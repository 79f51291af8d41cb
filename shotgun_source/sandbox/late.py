"""Late commits: writes stamped when they start and visible only when the caller commits them.

On a real site every write is a database transaction. Its `created_at`/`updated_at` (and the
`created_at` of the events it writes) are the time the transaction started; its event ids
come from a sequence as the events are inserted, early in the transaction; and none of it is
visible to other readers until the commit. So a reader can see rows stamped later before an
older-stamped one appears, and event ids out of order: a cursor at the newest `updated_at` (or
the highest event id) it has seen skips them. These knobs reproduce that, deterministically:
no threads and no timers in the sandbox, the caller commits.

- `Site.begin_late_create/update/retire(...)` -> `LateWrite`. The write is checked, stamped
  and its events get their ids and `created_at` now; until `commit()` every read (GET,
  `_search`, `_summarize`, the names links carry, the event log, and the data API's ground
  truth) shows the record as it was before (a created record: not at all). `commit()` applies
  the write with the begin time as its stamp and publishes its events. `rollback()` drops it;
  the ids it took stay unused (a sequence is not rolled back): gaps in the event log, and in
  the created type's ids.
- Until then the record is locked: another write to it (data API or HTTP) is refused with 409
  and `mutate()` passes it over. A real server makes the second writer wait for the row lock;
  the sandbox cannot wait, since the caller itself is the one who commits.
- `Site.hold_events()` -> `EventHold`, for an event log that lags behind the records. While it
  catches, the events of ordinary writes get their id and `created_at` at write time but stay
  invisible until `release()`; the records change at once. `stop_catching()` ends catching
  without releasing, so events written after it get higher ids yet are visible first. One
  hold catches at a time; a late write's events are its own and never caught by a hold.

Everything runs under the site lock; begin, commit, rollback and release each bump
`Site.generation`, so a page the prefetcher rendered before is never served after.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .errors import ApiError
from .table import LIVE, Table
from .values import format_datetime, truth_datetime

if TYPE_CHECKING:
    from .site import Site

OPEN, COMMITTED, ROLLED_BACK = "open", "committed", "rolled back"
ACTIONS = ("create", "update", "retire")


class LateWrite:
    """One begun write, applied and made visible by `commit()` (a context manager too: it
    commits when the block ends normally and rolls back when it raises)."""

    def __init__(
        self,
        site: Site,
        number: int,
        action: str,
        table: Table,
        row: int,
        stamp: int,
        event_rows: list[int],
        apply: Callable[[], None],
    ) -> None:
        self.site = site
        self.number = number
        self.action = action
        self.table = table
        self.row = row
        self.stamp = stamp
        self.event_rows = event_rows
        self._apply = apply
        self.state = OPEN

    @property
    def entity_type(self) -> str:
        return self.table.name

    @property
    def entity_id(self) -> int:
        return self.table.id_for_row(self.row)

    @property
    def stamped_at(self) -> datetime:
        """When the write began: the record's `updated_at` (and `created_at`) once committed."""
        return truth_datetime(self.stamp)

    @property
    def event_ids(self) -> list[int]:
        """The ids of its events, taken at begin and invisible until commit."""
        return [self.site.events.id_for_row(r) for r in self.event_rows]

    def commit(self) -> dict[str, Any]:
        """Apply the write and publish its events; returns the record's ground truth after."""
        site = self.site
        with site.lock:
            self._finish(COMMITTED)
            self._apply()
            for r in self.event_rows:
                site.events.state[r] = LIVE
            site.generation += 1
            return site.record(self.table, self.row)

    def rollback(self) -> None:
        """Drop the write; the ids it reserved are never used."""
        with self.site.lock:
            self._finish(ROLLED_BACK)
            self.site.generation += 1

    def _finish(self, state: str) -> None:
        if self.state != OPEN:
            raise ValueError(f"late write {self.number} is {self.state} already")
        self.state = state
        self.site.late.unlock(self)

    def describe(self) -> dict[str, Any]:
        """The admin API's JSON form."""
        return {
            "handle": self.number,
            "action": self.action,
            "entity_type": self.entity_type,
            "id": self.entity_id,
            "stamped_at": format_datetime(self.stamp),
            "event_ids": self.event_ids,
            "state": self.state,
        }

    def __enter__(self) -> LateWrite:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.state != OPEN:
            return
        if exc_type is None:
            self.commit()
        else:
            self.rollback()


class EventHold:
    """Events of ordinary writes, caught while `catching`, invisible until `release()` (a
    context manager too: it releases when the block ends)."""

    def __init__(self, site: Site, number: int) -> None:
        self.site = site
        self.number = number
        self.event_rows: list[int] = []
        self.catching = True
        self.released = False

    @property
    def event_ids(self) -> list[int]:
        return [self.site.events.id_for_row(r) for r in self.event_rows]

    def catch(self, event_row: int) -> None:
        self.event_rows.append(event_row)

    def stop_catching(self) -> None:
        """Events written from now on are visible at once; the caught ones stay held."""
        with self.site.lock:
            self.site.late.stop_catching(self)

    def release(self) -> list[int]:
        """Publish the caught events (with their original ids and created_at); returns the ids."""
        site = self.site
        with site.lock:
            if self.released:
                raise ValueError(f"event hold {self.number} is released already")
            site.late.stop_catching(self)
            self.released = True
            for r in self.event_rows:
                site.events.state[r] = LIVE
            site.generation += 1
            return self.event_ids

    def describe(self) -> dict[str, Any]:
        return {
            "hold": self.number,
            "catching": self.catching,
            "released": self.released,
            "event_ids": self.event_ids,
        }

    def __enter__(self) -> EventHold:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self.released:
            self.release()


class LateCommits:
    """The site's open late writes (and the rows they lock) and its event holds, by number."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.writes: dict[int, LateWrite] = {}
        self.holds: dict[int, EventHold] = {}
        self.catching: EventHold | None = None
        self._locked: dict[tuple[int, int], LateWrite] = {}

    def next_number(self) -> int:
        """The handle of the next late write: 1, 2, ..."""
        return len(self.writes) + 1

    # row locks ----------------------------------------------------------------------
    def lock(self, write: LateWrite) -> None:
        self.writes[write.number] = write
        self._locked[(write.table.type_code, write.row)] = write

    def unlock(self, write: LateWrite) -> None:
        self._locked.pop((write.table.type_code, write.row), None)

    def locked_rows(self, table: Table) -> set[int]:
        """Rows of `table` an open late write holds."""
        return {row for code, row in self._locked if code == table.type_code}

    def check_unlocked(self, table: Table, row: int) -> None:
        """Refuse a write to a record an open late write holds (see the module docstring)."""
        write = self._locked.get((table.type_code, row))
        if write is not None:
            raise ApiError(
                409,
                103,
                f"{table.name} {table.id_for_row(row)} is locked by the sandbox's uncommitted late"
                f" write {write.number} ({write.action}); commit or roll it back first.",
                {},
            )

    # event holds --------------------------------------------------------------------
    def open_hold(self) -> EventHold:
        if self.catching is not None:
            raise ValueError(
                f"event hold {self.catching.number} is still catching; stop_catching() or release()"
                " it before holding events again"
            )
        hold = EventHold(self.site, len(self.holds) + 1)
        self.holds[hold.number] = hold
        self.catching = hold
        self.site.generation += 1
        return hold

    def stop_catching(self, hold: EventHold) -> None:
        hold.catching = False
        if self.catching is hold:
            self.catching = None

    # lookup for the admin API ---------------------------------------------------------
    def write(self, number: int) -> LateWrite:
        found = self.writes.get(number)
        if found is None:
            raise ApiError(404, 103, "Not Found", None, f"No late write {number}.")
        return found

    def hold(self, number: int) -> EventHold:
        found = self.holds.get(number)
        if found is None:
            raise ApiError(404, 103, "Not Found", None, f"No event hold {number}.")
        return found

    def open_writes(self) -> list[LateWrite]:
        with self.site.lock:
            return [w for w in self.writes.values() if w.state == OPEN]

    def unreleased_holds(self) -> list[EventHold]:
        with self.site.lock:
            return [h for h in self.holds.values() if not h.released]
