"""`Sandbox`: a generated site served over HTTP on loopback, for tests, demos and benchmarks.

    with Sandbox(seed=1, scale=1.0) as sb:
        os.environ.update(sb.env())
        ...                      # talk to sb.url like to a ShotGrid site
        sb.site.update("Version", 17001, {"sg_status_list": "apr"})
        late = sb.site.begin_late_update("Version", 17002, {"sg_status_list": "apr"})
        ...                      # stamped now, invisible to every read until:
        late.commit()
        sb.faults.rate_limit_share = 0.2
        sb.requests              # what the client sent

The studio is generated when the object is built (so `sb.site` works before `start()`);
`start()` binds the socket and serves from a daemon thread; `stop()` closes everything.
"""

from __future__ import annotations

import os
from types import TracebackType

from .admin import Admin
from .app import App
from .faults import Faults
from .requestlog import RequestLog, RequestRecord
from .routes import Router
from .server import SandboxHTTPServer
from .site import Site
from .tokens import TokenIssuer


class Sandbox:
    """A ShotGrid-compatible site on 127.0.0.1 (see the module docstring)."""

    def __init__(
        self,
        seed: int = 1,
        scale: float = 1.0,
        *,
        versions: int | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        token_lifetime: float = 600,
        expires_in: float | None = None,
        fault_seed: int | None = None,
        anchor: int | None = None,
        prefetch: bool = True,
        verbose: bool = False,
    ) -> None:
        self.seed = seed
        self.host = host
        self._port = port
        self.site = Site(seed, scale, versions=versions, anchor=anchor)
        lifetime = token_lifetime if expires_in is None else expires_in
        self.faults = Faults(seed if fault_seed is None else fault_seed, lifetime, latency)
        self.log = RequestLog()
        self.tokens = TokenIssuer(os.urandom(32), host, self.site.now_float)
        self.faults.bind_revoker(self.tokens.revoke_all)
        router = Router(self.site, self.tokens)
        router.pages.enabled = prefetch  # off: every page is rendered on request (to measure the server)
        admin = Admin(self.site, self.faults, self.log, router.pages)
        self.app = App(self.site, router, self.faults, self.log, admin, verbose=verbose)
        self._server: SandboxHTTPServer | None = None

    # lifecycle ------------------------------------------------------------------------
    def start(self) -> Sandbox:
        if self._server is None:
            self._server = SandboxHTTPServer((self.host, self._port), self.app)
            self.tokens.issuer = f"{self.host}:{self._server.port}"
            self._server.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
            self.app.router.pages.close()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    # where and who --------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the sandbox is not started")
        return self._server.port

    @property
    def url(self) -> str:
        """The site URL, e.g. http://127.0.0.1:54321 (no trailing slash, no /api/v1)."""
        return f"http://{self.host}:{self.port}"

    @property
    def script_name(self) -> str:
        return self.site.credentials.script_name

    @property
    def script_key(self) -> str:
        return self.site.credentials.script_key

    @property
    def login(self) -> str:
        return self.site.credentials.login

    @property
    def password(self) -> str:
        return self.site.credentials.password

    def env(self) -> dict[str, str]:
        """dlt configuration for the source, as environment variables."""
        return {
            "SOURCES__SHOTGUN__SITE_URL": self.url,
            "SOURCES__SHOTGUN__CREDENTIALS__CLIENT_ID": self.script_name,
            "SOURCES__SHOTGUN__CREDENTIALS__CLIENT_SECRET": self.script_key,
        }

    # request log ----------------------------------------------------------------------
    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of the requests received so far (oldest first)."""
        return self.log.snapshot()

    def clear_requests(self) -> None:
        self.log.clear()

    def stats(self) -> dict[str, object]:
        return self.log.stats()
