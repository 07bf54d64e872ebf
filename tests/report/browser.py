"""Render a page in headless Chromium over the DevTools protocol and report what happened.

Used by the browser test; kept apart so the test reads as a list of checks.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-extensions", "--remote-debugging-port=0", "--remote-allow-origins=*",
)  # fmt: skip
# Runs after the load event: every image decoded or not, and how much text the page shows.
PAGE_FACTS_JS = """
(async () => {
  const images = [...document.images];
  const decoded = await Promise.all(images.map(i => i.decode().then(() => true, () => false)));
  return JSON.stringify({
    title: document.title,
    text_length: document.body ? document.body.innerText.trim().length : 0,
    badges: [...document.querySelectorAll(".badge")].filter(b => b.checkVisibility())
      .map(b => b.innerText.trim()),
    images: images.map((i, n) => ({alt: i.alt, natural_width: i.naturalWidth,
                                   complete: i.complete, decoded: decoded[n]})),
  });
})()
"""


@dataclass
class PageReport:
    """What the browser saw while loading one page."""

    console_errors: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    log_errors: list[str] = field(default_factory=list)
    requested_urls: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)


def _devtools_port(profile: Path, proc: subprocess.Popen[bytes], timeout: float) -> int:
    # Chromium writes the port it picked into DevToolsActivePort once it listens.
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"chromium exited with code {proc.returncode} before listening")
        if marker.exists() and marker.read_text().strip():
            return int(marker.read_text().split()[0])
        time.sleep(0.1)
    raise TimeoutError(f"chromium did not open its DevTools port within {timeout} s")


class _Session:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse, report: PageReport) -> None:
        self.ws, self.report, self.next_id = ws, report, 0
        self.loaded = asyncio.Event()

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        my_id = self.next_id
        await self.ws.send_str(json.dumps({"id": my_id, "method": method, "params": params}))
        while True:
            msg = json.loads((await self.ws.receive()).data)
            if msg.get("id") == my_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return dict(msg.get("result", {}))
            self.event(msg)

    async def wait_loaded(self, timeout: float) -> None:
        async def pump() -> None:
            while not self.loaded.is_set():
                self.event(json.loads((await self.ws.receive()).data))

        await asyncio.wait_for(pump(), timeout)

    def event(self, msg: dict[str, Any]) -> None:
        method, params = msg.get("method", ""), msg.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            args = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
            self.report.console_errors.append(args)
        elif method == "Runtime.exceptionThrown":
            self.report.exceptions.append(json.dumps(params.get("exceptionDetails", {}))[:500])
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            self.report.log_errors.append(params["entry"].get("text", ""))
        elif method == "Network.requestWillBeSent":
            self.report.requested_urls.append(params["request"]["url"][:100])
        elif method == "Network.loadingFailed":
            self.report.failed_requests.append(params.get("errorText", ""))
        elif method == "Page.loadEventFired":
            self.loaded.set()


async def _drive(port: int, page: Path, timeout: float, script: str | None) -> PageReport:
    report = PageReport()
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}/json/list") as resp:
            targets = await resp.json()
        ws_url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
        async with http.ws_connect(ws_url, max_msg_size=0) as ws:
            session = _Session(ws, report)
            for domain in ("Runtime", "Log", "Network", "Page"):
                await session.call(f"{domain}.enable")
            await session.call("Page.navigate", url=page.resolve().as_uri())
            await session.wait_loaded(timeout)
            result = await session.call("Runtime.evaluate", expression=PAGE_FACTS_JS,
                                        awaitPromise=True, returnByValue=True)  # fmt: skip
            report.facts = json.loads(result["result"]["value"])
            if script is not None:
                # What a user would do on the page, returning JSON of what it then shows.
                done = await session.call("Runtime.evaluate", expression=script,
                                          awaitPromise=True, returnByValue=True)  # fmt: skip
                report.facts["script"] = json.loads(done["result"]["value"])
            # Messages logged just after load arrive while a last round trip waits.
            await asyncio.sleep(0.3)
            await session.call("Runtime.evaluate", expression="1")
    return report


def render(
    chromium: str, page: Path, workdir: Path, timeout: float = 60, script: str | None = None
) -> PageReport:
    """Open `page` in a fresh headless Chromium, collect errors and page facts (and what
    `script`, run after them, returns as JSON: facts["script"]), then kill the browser's
    whole process group."""
    profile = workdir / "chromium-profile"
    profile.mkdir(parents=True, exist_ok=True)
    with open(workdir / "chromium.log", "wb") as log:
        proc = subprocess.Popen(
            [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        port = _devtools_port(profile, proc, timeout)
        return asyncio.run(_drive(port, page, timeout, script))
    finally:
        _kill_group(proc)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    # The browser forks renderer and utility processes into its own session: end them all.
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        if _group_gone(proc, 5.0):
            break
    proc.poll()


def _group_gone(proc: subprocess.Popen[bytes], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc.poll()  # reap the leader, or its pid keeps the group alive
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False
