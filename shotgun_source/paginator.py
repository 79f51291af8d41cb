"""Paging through ShotGrid's entity reads.

Two strategies, because ShotGrid's `links.next` is page-number paging underneath: a record that
leaves the result set while we page (updated past the window, retired) shifts every later record
up a page, and one is skipped for good. Incremental reads therefore page by key
(`ShotgunKeysetPaginator`: sorted by id, each request asks for ids above the last one seen), which
no concurrent change can shift. `ShotgunLinksPaginator` follows the server's own links where
links are the contract (reads that are not sorted by id).
"""

from typing import Any, cast
from urllib.parse import parse_qsl, urljoin, urlsplit

from dlt.sources.helpers.rest_client.paginators import BasePaginator
from requests import Request, Response

from .errors import ShotgunConfigError, ShotgunResponseError
from .settings import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from .site_url import same_origin

ID_FILTER_FIELD = "id"


def check_page_size(page_size: Any) -> int:
    """The server takes 1..5000 rows per page and answers 400 to anything else."""
    if not isinstance(page_size, int) or isinstance(page_size, bool) or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ShotgunConfigError(
            f"page_size must be a whole number from 1 to {MAX_PAGE_SIZE} (the server's limit),"
            f" got {page_size!r}. Set [sources.shotgun] page_size or SOURCES__SHOTGUN__PAGE_SIZE."
        )
    return page_size


def is_last_page(data: list[Any] | None, page_size: int) -> bool:
    """ShotGrid sends `links.next` on every page, even empty ones: a short page is the last."""
    return not data or len(data) < page_size


class ShotgunKeysetPaginator(BasePaginator):
    """Pages a `_search` by id: sort `id`, filter `id greater_than <last id seen>`, page 1 always.

    Immune to records changing while we page: a record that leaves the window cannot move the
    ones after it, and the window itself is fixed in the request body by the caller.
    """

    def __init__(self, page_size: int = DEFAULT_PAGE_SIZE, start_after: int = 0) -> None:
        super().__init__()
        self.page_size = check_page_size(page_size)
        self.start_after = start_after
        self.last_id = start_after

    def init_request(self, request: Request) -> None:
        self._has_next_page = True
        self.last_id = self.start_after
        request.json = keyset_body(request.json if isinstance(request.json, dict) else {}, self.page_size)
        set_keyset_cursor(request.json, self.start_after)

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        if is_last_page(data, self.page_size):
            self._has_next_page = False
            return
        assert data is not None
        last_id = data[-1].get("id") if isinstance(data[-1], dict) else None
        self.last_id = next_keyset_cursor(self.last_id, last_id)

    def update_request(self, request: Request) -> None:
        set_keyset_cursor(cast(dict[str, Any], request.json), self.last_id)


def keyset_body(body: dict[str, Any], page_size: int) -> dict[str, Any]:
    """A `_search` body made for keyset paging: sorted by id, always page 1, with an `id greater_than`
    condition (array filters: appended; hash filters: joins the top-level "and" group) that
    `set_keyset_cursor` moves. Any `id greater_than` condition already there is replaced."""
    body["sort"] = ID_FILTER_FIELD
    body["page"] = {"number": 1, "size": page_size}
    filters = body.get("filters")
    if isinstance(filters, dict):
        filters["conditions"] = [c for c in filters.get("conditions") or [] if not _is_id_cursor(c)]
        filters["conditions"].append([ID_FILTER_FIELD, "greater_than", 0])
    else:
        body["filters"] = [f for f in filters or [] if not _is_id_cursor(f)]
        body["filters"].append([ID_FILTER_FIELD, "greater_than", 0])
    return body


def set_keyset_cursor(body: dict[str, Any], after: int) -> None:
    """Ask for the ids above `after` next (`body` made by `keyset_body`)."""
    filters = body["filters"]
    for condition in filters["conditions"] if isinstance(filters, dict) else filters:
        if _is_id_cursor(condition):
            condition[2] = after


def next_keyset_cursor(after: int, last_id: Any) -> int:
    """The cursor after a full page whose last record has `last_id`; refuses a page that is not
    sorted by id, on which keyset paging would skip or repeat records."""
    if not isinstance(last_id, int) or isinstance(last_id, bool) or last_id <= after:
        raise ShotgunResponseError(
            f"The site returned a page that is not sorted by id (last id {last_id!r} after"
            f" {after}); keyset paging cannot continue safely."
        )
    return last_id


def _is_id_cursor(condition: Any) -> bool:
    return (
        isinstance(condition, list)
        and len(condition) == 3
        and condition[0] == ID_FILTER_FIELD
        and condition[1] == "greater_than"
    )


class ShotgunLinksPaginator(BasePaginator):
    """Follows ShotGrid's root-relative `links.next`, keeping method, body and parameters.

    dlt's `JSONLinkPaginator` drops the query parameters on page 2 and trusts `next` to end; the
    server sends `next` forever, so this one stops on a short or empty page, and refuses a link
    that leaves the site (the bearer token must never follow it).
    """

    def __init__(self, page_size: int = DEFAULT_PAGE_SIZE) -> None:
        super().__init__()
        self.page_size = check_page_size(page_size)
        self._next_url: str | None = None

    def init_request(self, request: Request) -> None:
        self._has_next_page = True
        self._next_url = None
        if isinstance(request.json, dict):
            request.json["page"] = {"number": 1, "size": self.page_size}
        else:
            request.params = {**(request.params or {}), "page[number]": 1, "page[size]": self.page_size}

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        self._next_url = None
        if is_last_page(data, self.page_size):
            self._has_next_page = False
            return
        links = response.json().get("links") or {}
        next_link = links.get("next") if isinstance(links, dict) else None
        if not next_link:
            self._has_next_page = False
            return
        next_url = urljoin(response.url, next_link)
        if not same_origin(next_url, response.url):
            raise ShotgunResponseError(
                f"The site's links.next points at another host ({urlsplit(next_url).netloc});"
                " refusing to follow it, the bearer token must stay on the configured site."
            )
        self._next_url = next_url

    def update_request(self, request: Request) -> None:
        if not self._next_url:
            return
        parts = urlsplit(self._next_url)
        request.url = f"{parts.scheme}://{parts.netloc}{parts.path}"
        next_params = dict(parse_qsl(parts.query, keep_blank_values=True))
        if isinstance(request.json, dict):
            # the server's next link for _search carries only the page; keep the body in step with it
            page = request.json.setdefault("page", {})
            for key in ("number", "size"):
                if f"page[{key}]" in next_params:
                    page[key] = int(next_params[f"page[{key}]"])
        request.params = {**(request.params or {}), **next_params}
