"""A sorted index on one timestamp column (updated_at, or created_at for the event log).

The typical client query is an updated_at window; over a million Versions where 1% match,
a scan per page would dominate every benchmark. Keys are `(timestamp << 24) | row` in one
int64 array kept sorted, so a window is two bisects and the iteration order is already
(timestamp, id). Updates stamp "now", which is almost always at or after the last key, so
the new key is appended; the old key is left behind and skipped when read (it no longer
matches the column), and the array is compacted once stale keys pile up.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, insort
from collections.abc import Callable, Iterator

ROW_BITS = 24
MAX_ROWS = 1 << ROW_BITS
_ROW_MASK = MAX_ROWS - 1


class TimeIndex:
    """Rows ordered by (timestamp, row) for one int column read through `get_ts`."""

    def __init__(self, get_ts: Callable[[int], int | None], n_rows: int) -> None:
        self._get_ts = get_ts
        self._n_rows = n_rows
        self.keys = array("q")
        self.stale = 0
        self.rebuild(n_rows)

    def rebuild(self, n_rows: int | None = None) -> None:
        """Recompute every key from the column (after bulk changes or too many stale keys)."""
        if n_rows is not None:
            self._n_rows = n_rows
        if self._n_rows > MAX_ROWS:
            raise ValueError(f"the sandbox index supports at most {MAX_ROWS} rows per entity type")
        get = self._get_ts
        keys = [(ts << ROW_BITS) | r for r in range(self._n_rows) if (ts := get(r)) is not None]
        keys.sort()
        self.keys = array("q", keys)
        self.stale = 0

    def add(self, row: int, ts: int | None) -> None:
        """Index a new row (or a new timestamp of an existing row)."""
        if row >= MAX_ROWS:
            raise ValueError(f"the sandbox index supports at most {MAX_ROWS} rows per entity type")
        self._n_rows = max(self._n_rows, row + 1)
        if ts is None:
            return
        key = (ts << ROW_BITS) | row
        keys = self.keys
        if not keys or key > keys[-1]:
            keys.append(key)
            return
        i = bisect_left(keys, key)
        if i < len(keys) and keys[i] == key:
            return
        insort(keys, key)

    def changed(self, row: int, old_ts: int | None, new_ts: int | None) -> None:
        """The timestamp of `row` moved from old_ts to new_ts; the old key becomes stale."""
        if old_ts == new_ts:
            return
        if old_ts is not None:
            self.stale += 1
        self.add(row, new_ts)
        if self.stale > 1000 and self.stale * 4 > len(self.keys):
            self.rebuild()

    def _bounds(self, lo: int | None, hi: int | None) -> tuple[int, int]:
        keys = self.keys
        i = 0 if lo is None else bisect_left(keys, lo << ROW_BITS)
        j = len(keys) if hi is None else bisect_left(keys, (hi + 1) << ROW_BITS)
        return i, max(i, j)

    def count(self, lo: int | None, hi: int | None) -> int:
        """Number of keys in [lo, hi] (inclusive); an upper estimate while keys are stale."""
        i, j = self._bounds(lo, hi)
        return j - i

    def rows(self, lo: int | None, hi: int | None, reverse: bool = False) -> Iterator[int]:
        """Rows whose timestamp is in [lo, hi], in (timestamp, row) order."""
        i, j = self._bounds(lo, hi)
        keys = self.keys
        get = self._get_ts
        rng = range(j - 1, i - 1, -1) if reverse else range(i, j)
        check = self.stale > 0
        for k in rng:
            key = keys[k]
            row = key & _ROW_MASK
            if check and get(row) != key >> ROW_BITS:
                continue
            yield row
