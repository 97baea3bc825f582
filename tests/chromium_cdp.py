"""Headless Chromium driven over the DevTools protocol (the standard one, over a WebSocket): load a page
with the print stylesheet applied at a given width and evaluate an expression in it."""
from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from websockets.sync.client import connect


class Page:
    """One tab, reached through the browser's DevTools endpoint."""

    def __init__(self, socket: Any, session: str) -> None:
        self.socket, self.session, self.ids = socket, session, itertools.count(100)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        ident = next(self.ids)
        self.socket.send(json.dumps({"id": ident, "method": method, "params": params, "sessionId": self.session}))
        while True:
            reply = json.loads(self.socket.recv(timeout=60))
            if reply.get("id") == ident:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})


def evaluate_as_printed(binary: str, url: str, width: int, expression: str) -> Any:
    """The value of ``expression`` in ``url`` laid out with ``@media print`` at ``width`` CSS pixels."""
    profile = Path(tempfile.mkdtemp(prefix="chromium-cdp-"))
    browser = subprocess.Popen([binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--remote-debugging-port=0",
                                "--disable-background-networking", "--disable-component-update", f"--user-data-dir={profile}",
                                "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        endpoint = None
        deadline = time.monotonic() + 60
        while endpoint is None and time.monotonic() < deadline:
            line = browser.stderr.readline()
            found = re.search(r"DevTools listening on (ws://\S+)", line)
            endpoint = found.group(1) if found else None
            if not line and browser.poll() is not None:
                break
        assert endpoint, "Chromium did not open its DevTools endpoint"
        with connect(endpoint, max_size=None) as socket:
            socket.send(json.dumps({"id": 1, "method": "Target.createTarget", "params": {"url": "about:blank"}}))
            target = _reply(socket, 1)["targetId"]
            socket.send(json.dumps({"id": 2, "method": "Target.attachToTarget", "params": {"targetId": target, "flatten": True}}))
            page = Page(socket, _reply(socket, 2)["sessionId"])
            page.call("Emulation.setDeviceMetricsOverride", width=width, height=1000, deviceScaleFactor=1, mobile=False)
            page.call("Emulation.setEmulatedMedia", media="print")
            page.call("Page.navigate", url=url)
            for _ in range(600):
                if page.call("Runtime.evaluate", expression="document.readyState", returnByValue=True)["result"]["value"] == "complete":
                    break
                time.sleep(0.1)
            value = page.call("Runtime.evaluate", expression=expression, returnByValue=True)
            return value["result"].get("value")
    finally:
        browser.terminate()
        browser.wait(timeout=30)
        shutil.rmtree(profile, ignore_errors=True)


def _reply(socket: Any, ident: int) -> dict[str, Any]:
    while True:
        reply = json.loads(socket.recv(timeout=60))
        if reply.get("id") == ident:
            return reply["result"]
