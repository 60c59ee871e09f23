"""Where a cell's time goes in the project's kernel: the probe's cells run in a kernel started
under `strace` (process starts and ends only), and each cell's wall time is split into
  before cargo   evcxr's work before the build: mostly its rust-analyzer learning the types
  cargo          the build: cargo's own checks, then rustc on the cell's crate `ctx`, whose
                 link step is shown apart
  after cargo    loading the cell's library and running it, and the reply.
Usage: python scripts/kernel_profile.py [--json FILE]   (needs strace; Linux only)
"""
import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

import kernel_probe

EXEC = re.compile(r'^(\d+)\s+(\d+\.\d+) execve\("([^"]+)", \[(.*)')
RESUMED = re.compile(r'^(\d+)\s+(\d+\.\d+) <\.\.\. execve resumed>.*= 0$')
EXIT = re.compile(r'^(\d+)\s+(\d+\.\d+) exit_group\(')


def traced_spec(log: Path, folder: Path) -> str:
    """A copy of the project's kernel spec whose command runs under strace; returns its name."""
    spec = KernelSpecManager().get_kernel_spec(kernel_probe.KERNEL)
    name = f"{kernel_probe.KERNEL}-profile"
    target = folder / "kernels" / name
    target.mkdir(parents=True)
    argv = ["strace", "-f", "-ttt", "-qq", "-v", "-s", "64", "--seccomp-bpf",
            "-e", "trace=execve,exit_group", "-e", "signal=none",
            "-o", str(log)] + spec.argv
    (target / "kernel.json").write_text(json.dumps({
        "argv": argv, "display_name": "profile", "language": "rust",
        "interrupt_mode": spec.interrupt_mode, "env": spec.env}))
    return name


def processes(log: Path) -> list:
    """(program, arguments, start, end) of every program the kernel ran (successful execs)."""
    starts, ends, pending = {}, {}, {}
    for line in log.read_text(errors="replace").splitlines():
        if m := EXEC.match(line):
            if line.endswith("<unfinished ...>"):
                pending[m[1]] = (Path(m[3]).name, m[4][:600])
            elif line.endswith("= 0"):
                starts[m[1]] = (Path(m[3]).name, m[4][:600], float(m[2]))
        elif (m := RESUMED.match(line)) and m[1] in pending:
            starts[m[1]] = (*pending.pop(m[1]), float(m[2]))
        elif m := EXIT.match(line):
            ends[m[1]] = float(m[2])
    return [(prog, args, start, ends.get(pid, start)) for pid, (prog, args, start) in starts.items()]


def split_cell(procs: list, start: float, end: float) -> dict:
    """The parts of one cell's wall time (seconds)."""
    inside = [p for p in procs if start <= p[2] <= end]
    cargo = [p for p in inside if p[0] == "cargo"]
    ctx = [p for p in inside if p[0].startswith("rustc") and "ctx" in p[1] and "--crate-name" in p[1]]
    links = [p for p in inside if p[0] in ("cc", "gcc", "ld", "ld.lld", "rust-lld", "mold",
                                           "ld.mold", "collect2")]
    part = lambda ps: round(sum(p[3] - p[2] for p in ps), 2)
    first_cargo = min((p[2] for p in cargo), default=end)
    last_cargo = max((p[3] for p in cargo), default=end)
    link_span = (round(max(p[3] for p in links) - min(p[2] for p in links), 2) if links else 0.0)
    return {"wall": round(end - start, 2), "before_cargo": round(first_cargo - start, 2),
            "cargo": part(cargo), "rustc_ctx": part(ctx), "link": link_span,
            "after_cargo": round(end - last_cargo, 2)}


def profile() -> list:
    """Runs the probe's cells in a traced kernel; returns one breakdown per cell."""
    if not shutil.which("strace"):
        sys.exit("kernel_profile: strace is missing (apt-get install strace)")
    cells = [("setup cell", kernel_probe.setup_cell()), (kernel_probe.FIRST_LET, kernel_probe.FIRST_LET)]
    cells += [(c, c) for c in kernel_probe.LATER_CELLS]
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "strace.log"
        os.environ["JUPYTER_PATH"] = folder + os.pathsep + os.environ.get("JUPYTER_PATH", "")
        manager = KernelManager(kernel_name=traced_spec(log, Path(folder)))
        manager.start_kernel(cwd=str(kernel_probe.NOTEBOOK_DIR))
        client = manager.client()
        client.start_channels()
        client.wait_for_ready(timeout=600)
        spans = []
        try:
            for label, code in cells:
                start = time.time()
                kernel_probe.timed_cell(client, code)
                spans.append((label, start, time.time()))
        finally:
            client.stop_channels()
            manager.shutdown_kernel(now=True)
        procs = processes(log)
        if os.environ.get("KEEP_STRACE"):
            shutil.copy(log, os.environ["KEEP_STRACE"])
    return [{"cell": label, **split_cell(procs, s, e)} for label, s, e in spans]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--json", help="also write the breakdown to this file")
    args = parser.parse_args()
    rows = profile()
    print("| cell | wall | before cargo | cargo | rustc ctx | link | after cargo |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        figures = " | ".join(f"{r[k]:.2f}" for k in
                             ("wall", "before_cargo", "cargo", "rustc_ctx", "link", "after_cargo"))
        print(f"| `{r['cell'][:30]}` | {figures} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
