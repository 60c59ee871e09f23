"""What one learner's container can reach, run inside it by scripts/hub_test.py (on its stdin:
`podman exec -i CONTAINER python - CHECK ARGS...`). Prints one word and exits 0 when the thing
was reached, 1 when it was refused.

  tcp HOST PORT          a TCP connection to HOST:PORT
  unix NAME              the abstract Unix socket @NAME: there to send to (refused by its
                         owner, EPERM, still means it is reachable from here)
  find TEXT DIR...       TEXT in a file under the DIRs, or in any process's command line or
                         environment (/proc)
  flock PATH SECONDS     holds an exclusive lock on PATH for SECONDS (prints "held" once it has it)
"""
import fcntl
import os
import socket
import sys
import time
from pathlib import Path


def tcp(host: str, port: str) -> bool:
    try:
        with socket.create_connection((host, int(port)), timeout=3):
            return True
    except OSError:
        return False


def unix(name: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        try:
            s.sendto(b"x", "\0" + name)
            return True
        except PermissionError:
            return True
        except OSError:
            return False


def readable(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def find(text: str, *folders: str) -> bool:
    needle, me = text.encode(), str(os.getpid())
    for proc in Path("/proc").iterdir():
        # This probe's own command line holds the text: it does not count.
        if proc.name.isdigit() and proc.name != me and \
                any(needle in readable(proc / f) for f in ("cmdline", "environ")):
            return True
    for folder in folders:
        for dirpath, _, files in os.walk(folder):
            if any(needle in readable(Path(dirpath) / f) for f in files):
                return True
    return False


def flock(path: str, seconds: str) -> bool:
    try:
        f = open(path, "a")
    except OSError:
        return False
    with f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        print("held", flush=True)
        time.sleep(float(seconds))
    return True


def main() -> int:
    check, args = sys.argv[1], sys.argv[2:]
    reached = {"tcp": tcp, "unix": unix, "find": find, "flock": flock}[check](*args)
    print("reached" if reached else "refused")
    return 0 if reached else 1


if __name__ == "__main__":
    sys.exit(main())
