"""Checking the site URL before anything is sent to it."""

import ipaddress
from urllib.parse import urlsplit

from .errors import SITE_URL_HELP, ShotgunConfigError
from .settings import API_PREFIX

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


def is_loopback_host(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost: the only places plain http may go."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalize_site_url(site_url: str | None) -> str:
    """The site's origin (`https://studio.shotgrid.autodesk.com`) from what a user typed.

    Tolerates a trailing slash and a pasted `/api/v1` suffix; refuses plain http to anything but
    this machine, because the script key and every bearer token would cross the network in clear.
    """
    if not site_url or not str(site_url).strip():
        raise ShotgunConfigError(f"The ShotGrid site URL is not set. {SITE_URL_HELP}")
    text = str(site_url).strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ShotgunConfigError(f"The ShotGrid site URL {text!r} is not an http(s) address. {SITE_URL_HELP}")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ShotgunConfigError(
            "The ShotGrid site URL must be just the site's address, without user, password,"
            f" query or fragment. {SITE_URL_HELP}"
        )
    path = parts.path.rstrip("/")
    if path.startswith(API_PREFIX):
        path = path[len(API_PREFIX) :].rstrip("/")
    if path:
        raise ShotgunConfigError(
            f"The ShotGrid site URL {text!r} has a path ({parts.path!r}); give only the site's"
            f" address. {SITE_URL_HELP}"
        )
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ShotgunConfigError(
            f"The ShotGrid site URL {text!r} uses plain http to another machine, which would send"
            " the script key and tokens unencrypted. Use https:// (plain http is allowed only for"
            " 127.0.0.1 and localhost, for the bundled sandbox)."
        )
    return f"{parts.scheme}://{parts.netloc.lower()}"


def same_origin(url: str, origin: str) -> bool:
    """True when `url` goes to exactly the configured site (scheme, host and port)."""
    a, b = urlsplit(url), urlsplit(origin)
    return (a.scheme, a.hostname, a.port or _default_port(a.scheme)) == (
        b.scheme,
        b.hostname,
        b.port or _default_port(b.scheme),
    )


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80
