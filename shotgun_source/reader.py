"""Reading one entity type's window fast: the first page, then the rest in parallel id ranges.

A ShotGrid site answers a page in about 0.3 s whatever its size, so a large type read page after
page spends its time waiting. Keyset paging makes ranges independent: after the first page, the
reader asks for the window's highest id, splits the ids above the first page into ranges of
about one page each (by the density the first page showed), and pages them on a few threads.
A window that fits one page costs one request, as before. Each page is converted to Arrow tables
(`columns.PageConverter`) on the thread that read it, straight from the response's bytes.
"""

import math
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, Generic, Protocol, TypeVar

from .reads import search_body
from .session import ConvertedPage, SiteSession


class WindowPage(ConvertedPage, Protocol):
    """What splitting a window into id ranges needs to know of its first page."""

    @property
    def first_id(self) -> int | None: ...


P = TypeVar("P", bound=WindowPage)
T = TypeVar("T")
Converter = Callable[[bytes], Any]
"""How one page's bytes become a page (`columns.Page`, or any `ConvertedPage`)."""

MAX_RANGES = 2000
"""More ranges than this would only add requests: each range costs at least one."""


@dataclass(frozen=True)
class IdRange:
    """Ids above `after`, up to and including `upto` (None: no upper bound)."""

    after: int
    upto: int | None

    def filters(self) -> list[list[Any]]:
        return [] if self.upto is None else [["id", "less_than", self.upto + 1]]


def plan_ranges(after: int, max_id: int, density: float, page_size: int) -> list[IdRange]:
    """Split the ids in (after, max_id] into ranges of about one page each.

    `density` is rows per id as the first page showed it; the last range has no upper bound, so
    a row the plan did not foresee still has a range to be read in.
    """
    span = max_id - after
    if span <= 0:
        return [IdRange(after, None)]
    expected_rows = max(1.0, span * density)
    count = max(1, min(MAX_RANGES, math.ceil(expected_rows / page_size)))
    step = math.ceil(span / count)
    bounds = [after + step * i for i in range(count)]
    return [IdRange(lo, lo + step if i < count - 1 else None) for i, lo in enumerate(bounds)]


class WindowReader(Generic[P]):
    """Pages one entity type's `_search` in a fixed window, by id, in parallel where it pays."""

    def __init__(
        self,
        session: SiteSession,
        entity_type: str,
        convert: "Converter",
        fields: str | list[str],
        page_size: int,
        parallel_ranges: int,
    ) -> None:
        self.session = session
        self.entity_type = entity_type
        self.convert = convert
        """How a page's bytes become a page, unless `pages()` is given another way."""
        self.fields = fields
        self.page_size = page_size
        self.parallel_ranges = parallel_ranges

    def _body(self, filters: Sequence[list[Any]], **extra: Any) -> dict[str, Any]:
        return search_body(self.fields, filters, **extra)

    def _pages(self, filters: Sequence[list[Any]], id_range: IdRange, convert: "Converter") -> Iterator[P]:
        """Keyset pages of one id range, converted."""
        body = self._body([*filters, *id_range.filters()])
        yield from self.session.converted_pages(
            self.entity_type, body, self.page_size, convert, start_after=id_range.after
        )

    def _max_id(self, filters: Sequence[list[Any]]) -> int | None:
        """The highest id in the window: one small request."""
        body = self._body(filters, sort="-id", page={"number": 1, "size": 1})
        body["fields"] = ["id"]
        data = self.session.post_search(self.entity_type, body).json()["data"]
        return int(data[0]["id"]) if data else None

    def pages(self, filters: Sequence[list[Any]], convert: "Converter | None" = None) -> Iterator[P]:
        """Every page of the window: the first one, then the rest, in parallel where worthwhile.
        `convert` turns a page's bytes into a page (default: the reader's own)."""
        convert = convert or self.convert
        pages: Iterator[P] = self._pages(filters, IdRange(0, None), convert)
        first = next(pages)
        yield first
        if first.row_count < self.page_size or first.last_id is None or first.first_id is None:
            return
        last_id = first.last_id
        max_id = self._max_id(filters)
        if max_id is None or max_id <= last_id:
            yield from pages  # nothing above the first page after all; let keyset paging confirm
            return
        density = first.row_count / max(1, last_id - first.first_id + 1)
        ranges = plan_ranges(last_id, max_id, density, self.page_size)
        if len(ranges) == 1 or self.parallel_ranges <= 1:
            yield from self._pages(filters, IdRange(last_id, None), convert)
            return
        yield from self._parallel(filters, ranges, convert)

    def _parallel(
        self, filters: Sequence[list[Any]], ranges: list[IdRange], convert: "Converter"
    ) -> Iterator[P]:
        """Page the ranges on a few threads; hand pages over through a short queue (flat memory)."""
        readers = [partial(self._pages, filters, id_range, convert) for id_range in ranges]
        workers = min(self.parallel_ranges, len(ranges))
        yield from fan_in(readers, workers, self.parallel_ranges, f"shotgun-{self.entity_type}")


def fan_in(sources: Sequence[Callable[[], Iterable[T]]], workers: int, depth: int, name: str) -> Iterator[T]:
    """The items of several sources, each iterated on a pool of `workers` threads, as they come.

    A short queue (`depth` items) hands them over, so memory stays flat when the consumer is slower;
    the first failure of a source is raised here, and closing this generator stops every source at
    its next item."""
    handoff: queue.Queue[Any] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()
    done = object()

    def run(source: Callable[[], Iterable[T]]) -> None:
        try:
            for item in source():
                while not stop.is_set():
                    try:
                        handoff.put(item, timeout=0.5)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
        except BaseException as exc:  # hand the failure to the consumer, which raises it
            stop.set()
            handoff.put(exc)
            return
        handoff.put(done)

    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix=name) as pool:
        futures = [pool.submit(run, source) for source in sources]
        finished = 0
        try:
            while finished < len(sources):
                item = handoff.get()
                if item is done:
                    finished += 1
                elif isinstance(item, BaseException):
                    raise item
                else:
                    yield item
        finally:
            stop.set()
            for future in futures:
                future.cancel()
            _drain(handoff, lambda: all(f.done() for f in futures))


def _drain(handoff: "queue.Queue[Any]", finished: Callable[[], bool]) -> None:
    """Empty the queue until every worker has returned, so none blocks on a full queue."""
    while not finished():
        try:
            handoff.get(timeout=0.1)
        except queue.Empty:
            continue
