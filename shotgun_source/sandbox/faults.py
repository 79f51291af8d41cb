"""Fault knobs: the ways a real site misbehaves, on demand and reproducibly.

Share-based knobs (`rate_limit_share`, `drop_share`) draw from one RNG seeded by `seed`, so a
test that sends the same requests in the same order sees the same faults. Counted knobs
(`error_burst`, `corrupt_next`, `token_error_burst`, `redirect_next_to`, `trickle_next`) are
consumed by the next matching requests. `trickle` (seconds between two bytes; 0 is off) makes
every data answer send its headers at once and then its body one byte at a time, the way an
overloaded site or proxy does: each read of the socket gets a byte, so a client's read timeout
never fires. `reset()` restores every knob to the sandbox's defaults.

Knobs apply to data calls (entity, search, summarize, schema, preferences); the token
endpoint has `token_error_burst`; `down` and `latency` apply to every ShotGrid route. The
`/_sandbox/` admin routes are never faulted, so a test can always switch a fault off.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import Any

CORRUPTIONS = ("not_json", "truncated_json", "no_data", "no_updated_at")


class Faults:
    """The knobs `sb.faults` exposes; attributes may be set directly from tests."""

    def __init__(self, seed: int = 0, token_lifetime: float = 600, latency: float = 0.0) -> None:
        self._lock = threading.Lock()
        self._default_lifetime = token_lifetime
        self._default_latency = latency
        self._revoke: Callable[[], None] | None = None
        self.seed = seed
        self.reset()

    # seed -----------------------------------------------------------------------------
    @property
    def seed(self) -> int:
        return self._seed

    @seed.setter
    def seed(self, value: int) -> None:
        self._seed = value
        self._rng = random.Random(f"faults:{value}")

    def reset(self) -> None:
        """Every knob back to its default, and the RNG back to the start of its sequence."""
        with self._lock:
            self.latency: float = self._default_latency
            self.rate_limit_share: float = 0.0
            self.retry_after: int = 1
            self.drop_share: float = 0.0
            self.token_lifetime: float = self._default_lifetime
            self.down: bool = False
            self.before_request: Callable[[Any], None] | None = None
            self.next_link_host: str | None = None
            self.redirect_next_to: str | None = None
            self.forbidden_status: int = 400
            self.trickle: float = 0.0
            self._trickles: list[float] = []
            self._errors: list[tuple[int, bool]] = []
            self._token_errors: list[int] = []
            self._corruptions: list[str] = []
            self._rng = random.Random(f"faults:{self._seed}")

    # counted faults -------------------------------------------------------------------
    def error_burst(self, count: int, status: int = 503, html: bool = False) -> None:
        """The next `count` data requests fail with `status` (an HTML page if `html`)."""
        with self._lock:
            self._errors.extend([(status, html)] * count)

    def token_error_burst(self, count: int, status: int = 503) -> None:
        """The next `count` token requests fail with `status` (429 carries Retry-After)."""
        with self._lock:
            self._token_errors.extend([status] * count)

    def trickle_next(self, count: int, interval: float = 1.0) -> None:
        """The next `count` data answers send their body one byte every `interval` seconds."""
        if interval <= 0:
            raise ValueError(f"trickle interval must be above 0 seconds, got {interval}")
        with self._lock:
            self._trickles.extend([float(interval)] * count)

    def corrupt_next(self, kind: str, count: int = 1) -> None:
        """Damage the next `count` record responses: one of CORRUPTIONS."""
        if kind not in CORRUPTIONS:
            raise ValueError(f"unknown corruption {kind!r}; expected one of {CORRUPTIONS}")
        with self._lock:
            self._corruptions.extend([kind] * count)

    def revoke_all_tokens(self) -> None:
        """Every token issued so far stops working (access and refresh alike)."""
        if self._revoke is not None:
            self._revoke()

    def bind_revoker(self, revoke: Callable[[], None]) -> None:
        self._revoke = revoke

    # used by the request pipeline -------------------------------------------------------
    def take_error(self) -> tuple[int, bool] | None:
        with self._lock:
            return self._errors.pop(0) if self._errors else None

    def take_token_error(self) -> int | None:
        with self._lock:
            return self._token_errors.pop(0) if self._token_errors else None

    def peek_corruption(self) -> str | None:
        with self._lock:
            return self._corruptions[0] if self._corruptions else None

    def take_corruption(self) -> str | None:
        with self._lock:
            return self._corruptions.pop(0) if self._corruptions else None

    def take_trickle(self) -> float:
        """Seconds between two body bytes of this answer (0: all at once)."""
        with self._lock:
            return self._trickles.pop(0) if self._trickles else self.trickle

    def take_redirect(self) -> str | None:
        with self._lock:
            url, self.redirect_next_to = self.redirect_next_to, None
            return url

    def roll(self, share: float) -> bool:
        """One deterministic draw: True with probability `share`."""
        if share <= 0:
            return False
        with self._lock:
            return self._rng.random() < share

    def configure(self, settings: dict[str, Any]) -> None:
        """Apply a JSON object of knob settings (the admin API's `POST /_sandbox/faults`)."""
        if settings.get("reset"):
            self.reset()
        if "seed" in settings:
            self.seed = int(settings["seed"])
            self.reset()
        simple = {
            "latency": float,
            "rate_limit_share": float,
            "retry_after": int,
            "drop_share": float,
            "token_lifetime": float,
            "down": bool,
            "forbidden_status": int,
            "trickle": float,
        }
        for key, cast in simple.items():
            if key in settings:
                setattr(self, key, cast(settings[key]))
        for key in ("next_link_host", "redirect_next_to"):
            if key in settings:
                setattr(self, key, settings[key] or None)
        if "error_burst" in settings:
            eb = settings["error_burst"]
            self.error_burst(int(eb.get("count", 1)), int(eb.get("status", 503)), bool(eb.get("html", False)))
        if "token_error_burst" in settings:
            tb = settings["token_error_burst"]
            self.token_error_burst(int(tb.get("count", 1)), int(tb.get("status", 503)))
        if "trickle_next" in settings:
            tn = settings["trickle_next"]
            self.trickle_next(int(tn.get("count", 1)), float(tn.get("interval", 1.0)))
        if "corrupt_next" in settings:
            cn = settings["corrupt_next"]
            self.corrupt_next(str(cn["kind"]), int(cn.get("count", 1)))
        if settings.get("revoke_all_tokens"):
            self.revoke_all_tokens()
        unknown = (
            set(settings)
            - set(simple)
            - {
                "reset",
                "seed",
                "next_link_host",
                "redirect_next_to",
                "error_burst",
                "token_error_burst",
                "corrupt_next",
                "trickle_next",
                "revoke_all_tokens",
            }
        )
        if unknown:
            raise ValueError(f"unknown fault settings: {sorted(unknown)}")

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "seed": self._seed,
                "latency": self.latency,
                "rate_limit_share": self.rate_limit_share,
                "retry_after": self.retry_after,
                "drop_share": self.drop_share,
                "token_lifetime": self.token_lifetime,
                "down": self.down,
                "next_link_host": self.next_link_host,
                "redirect_next_to": self.redirect_next_to,
                "forbidden_status": self.forbidden_status,
                "trickle": self.trickle,
                "pending_trickles": len(self._trickles),
                "pending_errors": len(self._errors),
                "pending_token_errors": len(self._token_errors),
                "pending_corruptions": list(self._corruptions),
            }
