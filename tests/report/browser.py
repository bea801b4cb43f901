"""Load a page in real headless Chromium over the DevTools protocol and report what happened.

Console errors, uncaught exceptions, failed and non-local requests are collected from the
protocol's events while the page loads; images are checked in the page itself
(``naturalWidth``); a full-page screenshot is taken. A small aiohttp websocket client, so
no browser-automation package is needed.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.processes import running_process

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LOCAL_SCHEMES = ("file:", "data:", "about:", "blob:")
WIDTH = 1280


@dataclass
class PageCheck:
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)  # every URL the page asked for
    failed_requests: list[str] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)  # src prefix, naturalWidth, ...
    title: str = ""
    text: str = ""  # document.body.innerText
    screenshot: bytes = b""

    @property
    def external_requests(self) -> list[str]:
        return [u for u in self.requests if not u.startswith(LOCAL_SCHEMES)]

    @property
    def broken_images(self) -> list[dict[str, Any]]:
        return [i for i in self.images if not i["complete"] or i["naturalWidth"] <= 0]


def _devtools_endpoint(user_data_dir: Path) -> str | None:
    """Chromium writes its port and browser path to DevToolsActivePort once it listens."""
    port_file = user_data_dir / "DevToolsActivePort"
    lines = port_file.read_text().split() if port_file.is_file() else []
    return f"ws://127.0.0.1:{lines[0]}{lines[1]}" if len(lines) >= 2 else None


class _Session:
    """One websocket to the browser; commands on a flattened target session, events queued."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.session_id: str | None = None
        self.events: list[dict[str, Any]] = []

    async def send(self, method: str, timeout: float, **params: Any) -> dict[str, Any]:
        message_id = next(self.ids)
        message: dict[str, Any] = {"id": message_id, "method": method, "params": params}
        if self.session_id and not method.startswith(("Target.", "Browser.")):
            message["sessionId"] = self.session_id
        await self.ws.send_str(json.dumps(message))
        while True:
            reply = json.loads((await self.ws.receive(timeout=timeout)).data)
            if reply.get("id") == message_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    async def wait_for(self, method: str, timeout: float) -> None:
        if any(e["method"] == method for e in self.events):
            return
        while True:
            event = json.loads((await self.ws.receive(timeout=timeout)).data)
            if "method" in event:
                self.events.append(event)
                if event["method"] == method:
                    return


_PAGE_FACTS = """JSON.stringify({
  images: Array.from(document.images).map(i => ({src: i.src.slice(0, 40),
    naturalWidth: i.naturalWidth, naturalHeight: i.naturalHeight, complete: i.complete})),
  height: document.documentElement.scrollHeight, title: document.title,
  text: document.body ? document.body.innerText : ""})"""


async def _check(endpoint: str, url: str, timeout: float) -> PageCheck:
    result = PageCheck()
    async with aiohttp.ClientSession() as http, http.ws_connect(endpoint, max_msg_size=0) as ws:
        s = _Session(ws)
        target = await s.send("Target.createTarget", timeout, url="about:blank")
        attached = await s.send(
            "Target.attachToTarget", timeout, targetId=target["targetId"], flatten=True
        )
        s.session_id = attached["sessionId"]
        for domain in ("Runtime", "Log", "Network", "Page"):
            await s.send(f"{domain}.enable", timeout)
        s.events.clear()
        await s.send("Page.navigate", timeout, url=url)
        await s.wait_for("Page.loadEventFired", timeout)
        facts = json.loads(
            (await s.send("Runtime.evaluate", timeout, expression=_PAGE_FACTS, returnByValue=True))[
                "result"
            ]["value"]
        )
        shot = await s.send(
            "Page.captureScreenshot",
            timeout,
            format="png",
            captureBeyondViewport=True,
            clip={"x": 0, "y": 0, "width": WIDTH, "height": facts["height"], "scale": 1},
        )
        await s.send("Browser.close", timeout)
    urls: dict[str, str] = {}
    for event in s.events:
        method, params = event["method"], event.get("params", {})
        if method == "Network.requestWillBeSent":
            url = params["request"]["url"][:120]  # data: URIs are whole images
            urls[params["requestId"]] = url
            result.requests.append(url)
        elif method == "Network.loadingFailed":
            result.failed_requests.append(
                f"{urls.get(params['requestId'], '?')}: {params.get('errorText')}"
            )
        elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            result.console_errors.append(
                " ".join(str(a.get("value", a.get("description"))) for a in params["args"])
            )
        elif method == "Runtime.exceptionThrown":
            result.console_errors.append(params["exceptionDetails"].get("text", "exception"))
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            result.console_errors.append(params["entry"]["text"])
    result.images, result.title, result.text = facts["images"], facts["title"], facts["text"]
    result.screenshot = base64.b64decode(shot["data"])
    return result


def check_page(chromium: str, url: str, user_data_dir: Path, timeout: float = 30.0) -> PageCheck:
    """Start a fresh headless Chromium, load ``url``, collect a :class:`PageCheck`, stop it."""
    user_data_dir.mkdir(parents=True, exist_ok=True)
    command = [
        chromium,
        *FLAGS,
        f"--user-data-dir={user_data_dir}",
        "--remote-debugging-port=0",
        f"--window-size={WIDTH},900",
        "--hide-scrollbars",
        "about:blank",
    ]
    log = user_data_dir.parent / f"{user_data_dir.name}-chromium.log"
    with running_process(
        command, log, what="Chromium", stop_timeout=10, own_session=True
    ) as browser:
        endpoint = browser.wait_ready(
            lambda: _devtools_endpoint(user_data_dir), timeout=timeout, interval=0.05
        )
        return asyncio.run(_check(endpoint, url, timeout))
