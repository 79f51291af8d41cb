"""A local ShotGrid-compatible REST server: generated studio data, faults, CLI.

It answers like a live ShotGrid site (as recorded in the shared cassettes) so the source's
tests, the `--demo` mode and the benchmarks have a site to talk to. It shares no code with
the source in either direction: agreeing with the client by construction would hide the
client's mistakes.
"""

from .faults import Faults
from .requestlog import RequestRecord
from .sandbox import Sandbox
from .site import Site

__all__ = ["Faults", "RequestRecord", "Sandbox", "Site"]
