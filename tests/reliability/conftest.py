"""Fixtures of the reliability tests."""

from collections.abc import Callable

import pytest


@pytest.fixture
def retry_settings(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Set dlt's retry settings for in-process runs the way users do: `RUNTIME__*` variables."""

    def apply(attempts: int = 10, backoff: float = 0.1, max_delay: float = 60) -> None:
        monkeypatch.setenv("RUNTIME__REQUEST_MAX_ATTEMPTS", str(attempts))
        monkeypatch.setenv("RUNTIME__REQUEST_BACKOFF_FACTOR", str(backoff))
        monkeypatch.setenv("RUNTIME__REQUEST_MAX_RETRY_DELAY", str(max_delay))

    return apply
