"""The course's image, as a learner on their own machine uses it (run by the test command as root,
after ./scripts/image.sh build; README "With Docker or Podman").

1. `podman run -p 127.0.0.1:PORT:8888 -v VOLUME:/home/jovyan IMAGE`: JupyterLab prints its URL
   with a token; through it, 01's setup cell and `let x = 1 + 1;` answer (the first answer, timed
   from `run`), without compiling tch, polars or plotters. A notebook edited there is still edited
   in a new container on the same volume (the work outlives the container).
2. All seven notebooks headless in a container (run_notebooks.py --check, the test command's short
   mode): no problem, and 04's validation accuracies equal to the clone's short-mode run.

Not root, or no podman/docker: prints "image test: skipped: ..." and exits 77 (counted as skipped).
"""
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "hub"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import course  # noqa: E402
from hub_client import Learner, first_error  # noqa: E402
from hub_test import ACCURACY, PODMAN_ENV, clone_accuracies  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
IMAGE = f"{os.environ.get('MNIST_IMAGE', 'mnist-course')}:latest"
VOLUME = "mnist-image-test"
SKIPPED = 77
# What this run measured (target/image-run.json; docs/container.md quotes it).
FIGURES: dict = {}


def podman(*args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", *args], env=PODMAN_ENV, text=True, capture_output=True,
                          timeout=timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def lab_url(container: str, timeout: float = 120) -> str:
    """The URL with the token that JupyterLab prints in the container's log."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        said = podman("logs", container).stderr + podman("logs", container).stdout
        found = re.search(r"http://127\.0\.0\.1:8888(/\S*)\?token=(\w+)", said)
        if found:
            return found.group(0)
        time.sleep(0.5)
    raise RuntimeError(f"JupyterLab printed no URL within {timeout:.0f} s:\n{said[-1500:]}")


def learner_at(port: int, url: str) -> Learner:
    """A client of the container's JupyterLab (served under /user/jovyan/, as the hub's servers)."""
    learner = Learner(f"http://127.0.0.1:{port}", "jovyan", "")
    learner.token = url.rsplit("token=", 1)[1]
    return learner


def start(port: int) -> tuple[str, float]:
    """A container as the README's `docker run` starts it; its name and the time it started."""
    started = time.time()
    r = podman("run", "-d", "--rm", "-p", f"127.0.0.1:{port}:8888", "-v", f"{VOLUME}:/home/jovyan",
               IMAGE, "/opt/mnist/scripts/image/start-notebook.sh", "--ServerApp.base_url=/user/jovyan/")
    if r.returncode != 0:
        raise RuntimeError(f"podman run failed: {r.stderr.strip()[-800:]}")
    return r.stdout.strip(), started


def first_answer() -> list[str]:
    """Part 1: run, URL, first answer, the work kept across containers."""
    problems = []
    podman("volume", "rm", "-f", VOLUME)
    port = free_port()
    container, started = start(port)
    try:
        url = lab_url(container)
        printed = time.time() - started
        lab = learner_at(port, url)
        kernel = lab.start_kernel()
        setup = lab.notebook_code("01_imports.ipynb")[0]
        cells = lab.run(kernel, [setup, "let x = 1 + 1;\nx"], timeout=600)
        answer = time.time() - started
        built = podman("exec", container, "sh", "-c",
                       "ls -d /opt/mnist-kernels/*/target/*/deps/libtorch_sys-* 2>/dev/null | wc -l; "
                       "find /opt/mnist-kernels -newer /opt/mnist/notebooks -name 'libtch-*' | wc -l").stdout.split()
        print(f"   podman run -> URL printed {printed:.1f} s, first answer (01's setup cell and "
              f"`let x = 1 + 1;`) {answer:.1f} s after `run`", flush=True)
        FIGURES.update(url_seconds=round(printed, 1), first_answer_seconds=round(answer, 1))
        if first_error(cells) or "2" not in cells[-1].text:
            problems.append(f"first answer: {first_error(cells) or cells[-1].text!r}")
        if len(built) == 2 and built[1] != "0":
            problems.append("the first kernel compiled tch again")
        notebook = lab.server("GET", "/api/contents/notebooks/02_data_preparation.ipynb").json()
        notebook["content"]["cells"][0]["source"] = "# mine\n" + "".join(notebook["content"]["cells"][0]["source"])
        lab.server("PUT", "/api/contents/notebooks/02_data_preparation.ipynb",
                   json={"type": "notebook", "content": notebook["content"]}).raise_for_status()
    finally:
        podman("stop", "-t", "5", container)
    container, _ = start(port)
    try:
        lab = learner_at(port, lab_url(container))
        again = lab.server("GET", "/api/contents/notebooks/02_data_preparation.ipynb").json()
        if not "".join(again["content"]["cells"][0]["source"]).startswith("# mine"):
            problems.append("an edited notebook was not kept in a new container on the same volume")
        else:
            print("   an edited notebook is still edited in a new container on the same volume")
    finally:
        podman("stop", "-t", "5", container)
        podman("volume", "rm", "-f", VOLUME)
    return problems


def all_notebooks() -> list[str]:
    """Part 2: the seven notebooks headless in a container, short mode, with the clone's accuracies."""
    start = time.time()
    podman("volume", "rm", "-f", VOLUME)
    r = podman("run", "--rm", "-e", "MNIST_EPOCHS=1", "-e", "MNIST_TRAIN_LIMIT=6000", "-v",
               f"{VOLUME}:/home/jovyan", "--entrypoint", "/opt/venv/bin/python", IMAGE,
               "/opt/mnist/scripts/run_notebooks.py", "--check")
    said = r.stdout + r.stderr
    tail = [l for l in said.splitlines() if l.startswith(("mlp:", "cnn:", "notebooks:", "all notebooks", "problem:"))]
    print("\n".join("   " + l for l in tail) + f"\n   (in {time.time() - start:.0f} s)", flush=True)
    FIGURES["notebooks_seconds"] = round(time.time() - start)
    problems = [] if r.returncode == 0 else [f"run_notebooks.py --check in a container failed:\n{said[-2000:]}"]
    executed = podman("run", "--rm", "-v", f"{VOLUME}:/home/jovyan", "--entrypoint", "cat", IMAGE,
                      "/home/jovyan/mnist/reports/04_training.ipynb").stdout
    podman("volume", "rm", "-f", VOLUME)
    mine = ACCURACY.findall(executed)
    alone = clone_accuracies()
    if not mine or (alone and mine != alone):
        problems.append(f"04 in a container: validation accuracies {mine}, the clone's {alone or 'not run'}")
    else:
        print(f"   04's validation accuracies {', '.join(mine)}; the clone's: {', '.join(alone) or 'not run'}")
    return problems


def main() -> int:
    if os.geteuid() != 0:
        print("image test: skipped: it needs root (podman with user namespaces); run the test command as root")
        return SKIPPED
    if podman("image", "exists", IMAGE).returncode != 0:
        print(f"image test: no image {IMAGE}: ./scripts/image.sh build first", file=sys.stderr)
        return 1
    started = time.time()
    print("== a learner's own machine: podman run, the URL, the first answer, the volume", flush=True)
    problems = first_answer()
    print("== all seven notebooks headless in a container (short mode)", flush=True)
    problems += all_notebooks()
    if not problems:
        cpu = course.cpu_model() or "unknown CPU"
        (ROOT / "target" / "image-run.json").write_text(json.dumps(
            {"date": time.strftime("%Y-%m-%d"), "cpu": f"{cpu}, {os.cpu_count()} cores", **FIGURES}) + "\n")
    for p in problems:
        print(f"problem: {p}", file=sys.stderr)
    print(f"image test: {'passed' if not problems else 'FAILED'} in {time.time() - started:.0f} s")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
