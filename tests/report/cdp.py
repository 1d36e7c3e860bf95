"""A minimal headless-Chromium driver over the DevTools protocol on a pipe (--remote-debugging-pipe): no websocket
library, no browser download, only Debian's /usr/bin/chromium. Used by test_browser.py.

Regenerate the screenshots in docs/ with:  .venv/bin/python tests/report/cdp.py
"""

import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--mute-audio",
         "--remote-debugging-pipe"]


def find_chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Page:
    """Opens one tab; collects console errors, exceptions, log errors and non-local network requests."""

    def __init__(self, exe: str, user_data_dir: Path, width: int = 1200, height: int = 900):
        to_chrome, self._w = os.pipe()
        self._r, from_chrome = os.pipe()

        def wire():  # Chromium reads commands on fd 3 and writes replies on fd 4
            # Move both ends above 10 first, so neither dup2 overwrites the other; dup2 makes them inheritable.
            a, b = fcntl.fcntl(to_chrome, fcntl.F_DUPFD, 10), fcntl.fcntl(from_chrome, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        # close_fds=False: pass_fds would close 3 and 4 after wire(); our other fds are non-inheritable anyway.
        self.proc = subprocess.Popen([exe, *FLAGS, f"--user-data-dir={user_data_dir}", f"--window-size={width},{height}"],
                                     close_fds=False, preexec_fn=wire,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chrome)
        os.close(from_chrome)
        self._next, self._buf, self.events = 0, b"", []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable", session=True)
        self.call("Emulation.setDeviceMetricsOverride", session=True, width=width, height=height,
                  deviceScaleFactor=1, mobile=False)

    def _read(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while b"\0" not in self._buf:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise TimeoutError("chromium did not answer")
            chunk = os.read(self._r, 1 << 20)
            if not chunk:
                raise EOFError("chromium closed the pipe")
            self._buf += chunk
        message, self._buf = self._buf.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, session: bool = False, timeout: float = 30, **params) -> dict:
        self._next += 1
        msg = {"id": self._next, "method": method, "params": params}
        if session:
            msg["sessionId"] = self.session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._read(timeout)
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 30) -> dict:
        seen = [e for e in self.events if e.get("method") == method]
        while not seen:
            event = self._read(timeout)
            self.events.append(event)
            seen = [event] if event.get("method") == method else []
        return seen[0]

    def open(self, url: str) -> None:
        self.call("Page.navigate", session=True, url=url)
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", session=True, expression=expression, returnByValue=True,
                           awaitPromise=True)
        return result["result"].get("value")

    def problems(self) -> list[str]:
        """Console errors, uncaught exceptions, error log entries (CSP, failed loads) and any network request."""
        out = []
        for e in self.events:
            p, m = e.get("params", {}), e.get("method")
            if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append(f"console.{p['type']}: {p.get('args')}")
            elif m == "Runtime.exceptionThrown":
                details = p.get("exceptionDetails", {})
                out.append(f"exception: {details.get('exception', {}).get('description') or details.get('text')}")
            elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                out.append(f"log: {p['entry'].get('text')}")
            elif m == "Network.requestWillBeSent" and not p["request"]["url"].startswith(("file:", "data:", "about:")):
                out.append(f"network request: {p['request']['url']}")
        return out

    def screenshot(self, path: Path, full_page: bool = False) -> Path:
        params = {"format": "png"}
        if full_page:
            size = self.call("Page.getLayoutMetrics", session=True)["cssContentSize"]
            params.update(captureBeyondViewport=True,
                          clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1})
        data = self.call("Page.captureScreenshot", session=True, **params)["data"]
        import base64

        Path(path).write_bytes(base64.b64decode(data))
        return Path(path)

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=5)
        except (TimeoutError, EOFError, RuntimeError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._w)
        os.close(self._r)


def docs_screenshots(docs: Path) -> None:
    """Render the test fixture pipeline's SFT report and base/SFT/aligned compare; save screenshots into docs/."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from report_fixture import make_pipeline

    from taskalign.report import compare, write_report

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        demo = make_pipeline(tmp / "DEMO")
        runs = [demo / name for name in ("base", "sft", "aligned")]
        pages = {"report.png": write_report(demo / "sft"), "compare.png": compare(runs, demo / "compare.html")}
        for name, html in pages.items():
            page = Page(find_chromium(), tmp / "profile", width=1100, height=1500)
            page.open(html.as_uri())
            page.screenshot(docs / name)
            page.close()
            print(f"wrote {docs / name}")


if __name__ == "__main__":
    docs_screenshots(Path(__file__).resolve().parents[2] / "docs")
