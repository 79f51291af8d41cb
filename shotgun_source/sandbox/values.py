"""Value conversions between the three forms a field value takes in the sandbox.

- internal: what a column stores (see columns.py);
- wire: what the REST API sends (floats as 6-decimal strings, `...Z` datetimes, ...);
- truth: plain Python values for tests (`datetime` in UTC, `date`, float, ...).

Plus parsing of written values (HTTP JSON or the Python data API) into internal form.
Formatting is on the hot path of every page, so date/time strings are cached per day.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from .schema import FieldDef

EPOCH_DATE = date(1970, 1, 1)

_day_strings: dict[int, str] = {}
_clock_strings: dict[int, str] = {}


class InvalidValue(ValueError):
    """A written value the field's data type does not accept."""


# ---- dates ------------------------------------------------------------------------
def day_string(days: int) -> str:
    s = _day_strings.get(days)
    if s is None:
        s = (EPOCH_DATE + timedelta(days=days)).isoformat()
        _day_strings[days] = s
    return s


def _clock(seconds: int) -> str:
    s = _clock_strings.get(seconds)
    if s is None:
        h, rem = divmod(seconds, 3600)
        m, sec = divmod(rem, 60)
        s = f"{h:02d}:{m:02d}:{sec:02d}"
        _clock_strings[seconds] = s
    return s


def format_datetime(ts: int) -> str:
    """`YYYY-MM-DDTHH:MM:SSZ`, the read format."""
    d, s = divmod(ts, 86400)
    return f"{day_string(d)}T{_clock(s)}Z"


def format_datetime_created(ts: int) -> str:
    """`YYYY-MM-DD HH:MM:SS UTC`: the format POST create responses use (a real server quirk)."""
    d, s = divmod(ts, 86400)
    return f"{day_string(d)} {_clock(s)} UTC"


def to_epoch(dt: datetime) -> int:
    """Epoch seconds of an aware or naive (taken as UTC) datetime, sub-seconds dropped."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() // 1)


def parse_datetime(value: Any) -> int:
    """ISO 8601 string ('Z', offset or zoneless = UTC; a bare date = midnight) -> epoch s."""
    if isinstance(value, datetime):
        return to_epoch(value)
    if isinstance(value, date):
        return (value - EPOCH_DATE).days * 86400
    if not isinstance(value, str):
        raise InvalidValue(f"expected a date_time string but got {type(value).__name__}: {value!r}")
    text = value.strip()
    if text.endswith(" UTC"):
        text = text[:-4]
    try:
        return to_epoch(datetime.fromisoformat(text))
    except ValueError as exc:
        raise InvalidValue(f"invalid date_time value: {value!r}") from exc


def parse_date(value: Any) -> int:
    """'YYYY-MM-DD' (or a date/datetime) -> days since 1970-01-01."""
    if isinstance(value, datetime):
        return (value.date() - EPOCH_DATE).days
    if isinstance(value, date):
        return (value - EPOCH_DATE).days
    if not isinstance(value, str):
        raise InvalidValue(f"expected a date string but got {type(value).__name__}: {value!r}")
    try:
        return (date.fromisoformat(value.strip()[:10]) - EPOCH_DATE).days
    except ValueError as exc:
        raise InvalidValue(f"invalid date value: {value!r}") from exc


def truth_datetime(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def truth_date(days: int) -> date:
    return EPOCH_DATE + timedelta(days=days)


# ---- wire encoders ----------------------------------------------------------------
def _float_wire(v: float | None) -> str | None:
    return None if v is None else repr(round(v, 6))


def _dt_wire(v: int | None) -> str | None:
    return None if v is None else format_datetime(v)


def _dt_wire_created(v: int | None) -> str | None:
    return None if v is None else format_datetime_created(v)


def _date_wire(v: int | None) -> str | None:
    return None if v is None else day_string(v)


def _tags_wire(v: Any) -> list[str]:
    return list(v) if v else []


def _same(v: Any) -> Any:
    return v


def wire_encoder(data_type: str, created_style: bool = False) -> Callable[[Any], Any]:
    """Function internal -> wire value for a non-link field."""
    if data_type in ("float", "currency"):
        return _float_wire
    if data_type == "date_time":
        return _dt_wire_created if created_style else _dt_wire
    if data_type == "date":
        return _date_wire
    if data_type == "checkbox":
        return bool
    if data_type == "tag_list":
        return _tags_wire
    return _same


def truth_value(data_type: str, v: Any) -> Any:
    """Internal -> plain Python value for a non-link field (links are resolved by the site)."""
    if data_type == "date_time":
        return None if v is None else truth_datetime(v)
    if data_type == "date":
        return None if v is None else truth_date(v)
    if data_type == "checkbox":
        return bool(v)
    if data_type == "tag_list":
        return list(v) if v else []
    if data_type in ("url", "serializable"):
        return copy.deepcopy(v)
    return v


def meta_value(data_type: str, v: Any) -> Any:
    """Internal -> JSON-able value for event log `meta.old_value/new_value`."""
    if data_type == "date_time":
        return None if v is None else format_datetime(v)
    if data_type == "date":
        return None if v is None else day_string(v)
    if data_type == "tag_list":
        return list(v) if v else []
    return copy.deepcopy(v) if isinstance(v, dict | list) else v


# ---- parsing written values -------------------------------------------------------
_TEXTISH = frozenset({"text", "list", "status_list", "color", "uuid", "footage", "image", "entity_type"})


def parse_scalar(fd: FieldDef, value: Any) -> Any:
    """A written value for a non-link field -> internal form, validated by data type."""
    dt = fd.data_type
    if value is None:
        return False if dt == "checkbox" else None
    if dt in ("number", "duration", "percent", "timecode"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidValue(f"{fd.name} expects an integer but got {value!r}")
        return value
    if dt in ("float", "currency"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidValue(f"{fd.name} expects a number but got {value!r}")
        return round(float(value), 6)
    if dt == "checkbox":
        if not isinstance(value, bool):
            raise InvalidValue(f"{fd.name} expects true or false but got {value!r}")
        return value
    if dt == "date_time":
        return parse_datetime(value)
    if dt == "date":
        return parse_date(value)
    if dt == "tag_list":
        if not isinstance(value, list | tuple) or not all(isinstance(t, str) for t in value):
            raise InvalidValue(f"{fd.name} expects a list of strings but got {value!r}")
        return tuple(value)
    if dt == "url":
        if not isinstance(value, dict):
            raise InvalidValue(f"{fd.name} expects a hash but got {value!r}")
        return copy.deepcopy(value)
    if dt == "serializable":
        if not isinstance(value, dict | list):
            raise InvalidValue(f"{fd.name} expects a hash but got {value!r}")
        return copy.deepcopy(value)
    if dt in ("list", "status_list"):
        if not isinstance(value, str):
            raise InvalidValue(f"{fd.name} expects a string but got {value!r}")
        if fd.valid_values and value not in fd.valid_values:
            raise InvalidValue(f"{fd.name} value '{value}' is not one of {list(fd.valid_values)}")
        return value
    if dt in _TEXTISH or not isinstance(value, dict | list):
        if not isinstance(value, str):
            raise InvalidValue(f"{fd.name} expects a string but got {value!r}")
        return value
    return copy.deepcopy(value)
