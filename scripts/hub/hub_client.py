"""A learner at the hub, as a program: logs in with a password, takes a token of their own, starts
their server and kernels, and runs notebook cells over the kernel's websocket. Used by the hub's
test (scripts/hub_test.py) and its measurements (scripts/hub_measure.py).
"""
import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field

import requests
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from course import KERNEL  # scripts/course.py: scripts/ is the folder of every script that imports this one


@dataclass
class Cell:
    """What one executed cell said."""
    text: str
    error: str | None
    seconds: float
    mimes: list = field(default_factory=list)


class Learner:
    """One learner's session at the hub at `base` (http://127.0.0.1:PORT)."""

    def __init__(self, base: str, name: str, password: str):
        self.base, self.name, self.password = base, name, password
        self.http = requests.Session()
        self.token = None

    def login(self) -> None:
        """The hub's login form, as a browser sends it; then a token of their own for the API."""
        self.http.get(f"{self.base}/hub/login", timeout=30)
        xsrf = self.http.cookies.get("_xsrf", "")
        r = self.http.post(f"{self.base}/hub/login", allow_redirects=False, timeout=60,
                           data={"username": self.name, "password": self.password, "_xsrf": xsrf})
        if r.status_code != 302 or "jupyterhub-hub-login" not in self.http.cookies:
            raise RuntimeError(f"{self.name}: login refused ({r.status_code})")
        r = self.http.post(f"{self.base}/hub/api/users/{self.name}/tokens", timeout=30,
                           headers={"X-XSRFToken": self.http.cookies.get("_xsrf", "")},
                           json={"note": "hub test", "expires_in": 3600})
        r.raise_for_status()
        self.token = r.json()["token"]

    def request(self, method: str, path: str, **kw) -> requests.Response:
        """A request with this learner's token (no cookies) to a path under the hub's address."""
        return requests.request(method, f"{self.base}{path}", timeout=kw.pop("timeout", 60),
                                headers={"Authorization": f"token {self.token}"},
                                allow_redirects=False, **kw)

    def start_server(self, timeout: float = 180) -> None:
        """Starts the learner's JupyterLab server through the hub's API and waits until it runs."""
        r = self.request("POST", f"/hub/api/users/{self.name}/server")
        if r.status_code not in (201, 202, 400):
            raise RuntimeError(f"{self.name}: server start refused ({r.status_code}: {r.text[:200]})")
        deadline = time.time() + timeout
        while time.time() < deadline:
            server = self.request("GET", f"/hub/api/users/{self.name}").json()["servers"].get("", {})
            if server.get("ready"):
                return
            time.sleep(0.5)
        raise RuntimeError(f"{self.name}: server not ready after {timeout:.0f} s")

    def server(self, method: str, path: str, **kw) -> requests.Response:
        """A request to the learner's own server (/user/NAME/...)."""
        return self.request(method, f"/user/{self.name}{path}", **kw)

    def start_kernel(self, folder: str = "notebooks") -> str:
        """A kernel of the course's kind, in `folder` of the learner's course copy; its id."""
        r = self.server("POST", "/api/kernels", json={"name": KERNEL, "path": folder})
        r.raise_for_status()
        return r.json()["id"]

    def notebook_code(self, notebook: str) -> list[str]:
        """The code cells of the learner's copy of a notebook, read through the contents API."""
        r = self.server("GET", f"/api/contents/notebooks/{notebook}")
        r.raise_for_status()
        return ["".join(c["source"]) for c in r.json()["content"]["cells"] if c["cell_type"] == "code"]

    def run(self, kernel: str, cells: list[str], timeout: float = 600) -> list[Cell]:
        """Executes cells in order in a kernel; stops at the first error."""
        return asyncio.run(self._run(kernel, cells, timeout))

    def run_and_stop(self, kernel: str, code: str, marker: str, wait: float = 1.0) -> Cell:
        """Executes a cell and presses the stop button (the kernel's interrupt, through the REST
        API, as JupyterLab sends it) `wait` seconds after `marker` appears in its output."""
        return asyncio.run(self._run(kernel, [code], 600, (marker, wait)))[0]

    async def _run(self, kernel: str, cells: list[str], timeout: float, stop=None) -> list[Cell]:
        ws_base = self.base.replace("http", "ws", 1)
        # As patient as a browser: with many kernels starting at once, the handshake can wait.
        request = HTTPRequest(f"{ws_base}/user/{self.name}/api/kernels/{kernel}/channels",
                              headers={"Authorization": f"token {self.token}"},
                              connect_timeout=300, request_timeout=300)
        conn = await websocket_connect(request, max_message_size=256 * 1024 * 1024)
        session, results = uuid.uuid4().hex, []
        try:
            for code in cells:
                results.append(await asyncio.wait_for(
                    self._execute(conn, session, code, kernel, stop), timeout))
                if results[-1].error:
                    break
        finally:
            conn.close()
        return results

    async def _execute(self, conn, session: str, code: str, kernel: str, stop) -> Cell:
        msg_id, start, seen = uuid.uuid4().hex, time.time(), None
        await conn.write_message(json.dumps({
            "header": {"msg_id": msg_id, "username": self.name, "session": session,
                       "msg_type": "execute_request", "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": True,
                        "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}}))
        text, error, mimes, replied, idle = [], None, [], False, False
        while not (replied and idle):
            if stop and seen is None and stop[0] in "".join(text):
                seen = time.time()
            if seen and stop and time.time() >= seen + stop[1]:
                self.server("POST", f"/api/kernels/{kernel}/interrupt").raise_for_status()
                stop = None
            try:
                raw = await asyncio.wait_for(conn.read_message(), 0.2)
            except asyncio.TimeoutError:
                continue
            if raw is None:
                return Cell("".join(text), "the kernel's connection closed", time.time() - start, mimes)
            msg = json.loads(raw)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["header"]["msg_type"], msg["content"]
            if kind == "stream":
                text.append(content["text"])
            elif kind in ("display_data", "execute_result"):
                mimes += list(content["data"])
                text.append(content["data"].get("text/plain", ""))
            elif kind == "error":
                error = f"{content['ename']}: {content['evalue']}"[:2000]
            elif kind == "execute_reply":
                replied = True
                if content["status"] != "ok" and not error:
                    error = f"{content.get('ename', 'error')}: {content.get('evalue', '')}"[:2000]
            elif kind == "status" and content["execution_state"] == "idle":
                idle = True
        return Cell("".join(text), error, time.time() - start, mimes)

    def run_notebook(self, notebook: str, timeout: float = 900) -> list[Cell]:
        """All code cells of the learner's copy of a notebook in a new kernel, which is then shut."""
        kernel = self.start_kernel()
        try:
            return self.run(kernel, self.notebook_code(notebook), timeout)
        finally:
            self.server("DELETE", f"/api/kernels/{kernel}")

    def shut_kernels(self) -> None:
        """Shuts every kernel of the learner's server."""
        for kernel in self.server("GET", "/api/kernels").json():
            self.server("DELETE", f"/api/kernels/{kernel['id']}")

    def stop_server(self) -> None:
        """Stops the learner's server through the hub's API."""
        self.request("DELETE", f"/hub/api/users/{self.name}/server")


def first_error(cells: list[Cell]) -> str | None:
    """The first cell's error, if any, with the cell's number."""
    return next((f"cell {i + 1}: {c.error}" for i, c in enumerate(cells) if c.error), None)
