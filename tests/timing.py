"""Time bounds in tests: generous, and the figure printed.

A test may say that a failure comes fast, that is without retries, never how fast: a loaded 2-core
machine can take ten times as long as an idle one. Retrying a failure with the project's settings
(.dlt/config.toml: 10 attempts, up to 60 s apart) takes minutes, so a minute tells the two apart
on any machine. Speed targets live in bench/, which prints figures against them.
"""

FAIL_FAST_SECONDS = 60.0
"""Within this, on any machine, a failure that is not retried; retried, it takes minutes."""


def assert_fast(seconds: float, what: str, limit: float = FAIL_FAST_SECONDS) -> None:
    """Prints how long `what` took and fails when it took `limit` seconds or more."""
    print(f"\n{what}: {seconds:.2f} s")
    assert seconds < limit, f"{what} took {seconds:.1f} s, over {limit:.0f} s: retried, or waiting?"
