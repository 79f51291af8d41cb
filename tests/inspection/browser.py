"""Headless Chromium (Debian's package) driven over the Chrome DevTools protocol, in a few lines.

Enough for a test to open a page, read its text (through shadow roots, where marimo renders its
cells), click a button by its label and take a screenshot. No browser is downloaded: Debian's
`chromium` package is used, installed with apt-get by the first test that needs it when it is
missing (tests/system_packages.py).
"""

import base64
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from system_packages import SystemPackage, ensure_installed
from websockets.sync.client import ClientConnection, connect

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
]
DEEP_JS = """
const deepText = (node) => {
  let text = node.shadowRoot ? deepText(node.shadowRoot) : '';
  for (const child of node.childNodes) {
    if (child.nodeType === 3) text += child.textContent + ' ';
    else if ((child.nodeType === 1 || child.nodeType === 11) && !['SCRIPT', 'STYLE'].includes(child.tagName))
      text += deepText(child);
  }
  return text;
};
const deepAll = (root, selector, found) => {
  for (const el of root.querySelectorAll('*')) {
    if (el.matches(selector)) found.push(el);
    if (el.shadowRoot) deepAll(el.shadowRoot, selector, found);
  }
  return found;
};
"""


def _find_chromium() -> Path | None:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    return Path(found) if found else None


CHROMIUM = SystemPackage("chromium", "headless Chromium for the dashboard test", _find_chromium)


def chromium_executable() -> Path:
    """Chromium, installed first if it is missing (once per session); fails saying how to install it."""
    return ensure_installed(CHROMIUM)


class Page:
    """One browser tab, over its DevTools websocket."""

    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws
        self._next_id = 0

    def call(self, method: str, timeout: float = 30, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        message_id = self._next_id
        self._ws.send(json.dumps({"id": message_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self._ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("id") == message_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message["result"]
                return result

    def evaluate(self, body: str) -> Any:
        """The value `body` (a function body using deepText/deepAll) returns."""
        answer = self.call(
            "Runtime.evaluate", expression=f"(() => {{{DEEP_JS}\n{body}\n}})()", returnByValue=True
        )
        if "exceptionDetails" in answer:
            raise RuntimeError(f"page script failed: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    def text(self) -> str:
        """Every visible text of the page, shadow roots included, whitespace collapsed."""
        return " ".join(
            str(self.evaluate("return document.body ? deepText(document.body) : '';") or "").split()
        )

    def wait_for_text(self, ready: Callable[[str], bool], timeout: float) -> str:
        """The page text once `ready(text)` holds; fails with the last text after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.text()
            if ready(text):
                return text
            time.sleep(0.5)
        raise AssertionError(
            f"the page did not show what was expected within {timeout:.0f} s; it shows: {text[:3000]}"
        )

    def wait_until_still(self, quiet: float = 1.5, timeout: float = 30) -> str:
        """The page text once it has not changed for `quiet` seconds (cells done re-rendering)."""
        deadline = time.monotonic() + timeout
        text, since = self.text(), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.25)
            now = self.text()
            if now != text:
                text, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return text
        raise AssertionError(f"the page kept changing for {timeout:.0f} s")

    def click_button(self, label: str) -> int:
        """Click every button whose text is `label`; how many there were."""
        script = (
            "const buttons = deepAll(document, 'button', []).filter(b => b.textContent.trim() === "
            + json.dumps(label)
            + "); buttons.forEach(b => b.click()); return buttons.length;"
        )
        return int(self.evaluate(script))

    def click_labelled(self, aria_label: str) -> int:
        """Click every enabled button whose `aria-label` is `aria_label` (icon buttons: a table's
        "Next page"); how many there were."""
        script = (
            "const buttons = deepAll(document, 'button', []).filter(b => !b.disabled &&"
            " b.getAttribute('aria-label') === "
            + json.dumps(aria_label)
            + "); buttons.forEach(b => b.click()); return buttons.length;"
        )
        return int(self.evaluate(script))

    def click_until(self, label: str, ready: Callable[[str], bool], timeout: float, every: float = 15) -> str:
        """Clicks the `label` button, again every `every` seconds, until `ready(text)` holds: a
        click that lands before the page's kernel is listening does nothing. Fails after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            assert self.click_button(label) >= 1, f"no {label!r} button on the page"
            try:
                return self.wait_for_text(ready, min(every, max(0.5, deadline - time.monotonic())))
            except AssertionError:
                if time.monotonic() >= deadline:
                    raise

    def screenshot(self) -> bytes:
        return base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])


@contextmanager
def open_page(
    chromium: Path, url: str, width: int = 1400, height: int = 1800, timeout: float = 30
) -> Iterator[Page]:
    """Headless Chromium (the executable `chromium`) showing `url`, in a new empty profile; closed
    afterwards."""
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        process = subprocess.Popen(
            [
                str(chromium),
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={width},{height}",
                url,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            deadline = time.monotonic() + timeout
            while not (port_file.exists() and port_file.read_text().strip()):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"chromium did not start (exit status {process.poll()})")
                time.sleep(0.1)
            port = port_file.read_text().split()[0]
            page_target = None
            while page_target is None:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as answer:
                    targets = json.load(answer)
                page_target = next((t for t in targets if t.get("type") == "page"), None)
                if page_target is None:
                    if time.monotonic() > deadline:
                        raise RuntimeError("chromium opened no page")
                    time.sleep(0.1)
            with connect(page_target["webSocketDebuggerUrl"], max_size=None, open_timeout=timeout) as ws:
                yield Page(ws)
        finally:
            stop_group(process)


def stop_group(process: "subprocess.Popen[Any]", timeout: float = 10) -> None:
    """End a process started with `start_new_session=True` and everything it started (its group)."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        except ProcessLookupError:
            pass


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's header; fails if `data` is not a PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def png_pixel_variety(data: bytes) -> int:
    """How many distinct byte values the image's (filtered) pixel rows hold: near 1 for a blank page,
    well over 100 for a page with text, tables and colours."""
    raw = b""
    offset = 8
    while offset < len(data):
        length = int.from_bytes(data[offset : offset + 4], "big")
        kind = data[offset + 4 : offset + 8]
        if kind == b"IDAT":
            raw += data[offset + 8 : offset + 8 + length]
        offset += 12 + length
    return len(set(zlib.decompress(raw)))
