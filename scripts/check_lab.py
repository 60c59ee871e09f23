"""Safety check of ./scripts/lab.sh: JupyterLab listens on localhost only and requires its token.

Starts it on a free port with a known token, then checks: the API refuses a request without the
token (403), answers one with it (200) and lists the project's kernel, and the listening socket is
bound to 127.0.0.1. Prints 'lab: N passed, N failed' and exits non-zero on any failure.
"""
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from course import KERNEL

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status(url: str) -> tuple:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, ""
    except OSError:
        return 0, ""


def listening_addresses(port: int) -> set:
    out = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True).stdout
    return {line.split()[3].rsplit(":", 1)[0] for line in out.splitlines() if line.strip()}


def main() -> int:
    port, token = free_port(), "check-" + os.urandom(8).hex()
    env = dict(os.environ, MNIST_LAB_TOKEN=token)
    lab = subprocess.Popen([str(ROOT / "scripts" / "lab.sh"), "--no-browser", f"--port={port}"],
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/api/kernelspecs"
    try:
        deadline = time.monotonic() + 120
        while status(base)[0] == 0 and time.monotonic() < deadline:
            time.sleep(0.5)
        checks = {
            "refuses requests without the token": status(base)[0] == 403,
            "answers with the token and lists the Rust kernel": KERNEL in status(f"{base}?token={token}")[1],
            "listens on 127.0.0.1 only": listening_addresses(port) == {"127.0.0.1"},
        }
    finally:
        lab.terminate()
        lab.wait(timeout=30)
    for name, ok in checks.items():
        print(f"  {'ok' if ok else 'FAILED'}: {name}")
    failed = sum(not ok for ok in checks.values())
    print(f"lab: {len(checks) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
