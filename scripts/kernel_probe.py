"""The learner's first answer, measured: in a fresh kernel, how long until it answers Jupyter
(kernel ready), how long the notebooks' setup cell takes, then `let x = 1 + 1;` (the first `let`
makes evcxr's rust-analyzer read the whole dependency graph), then a few trivial cells.

Used by run_notebooks.py (the main job runs it before the notebooks and writes the figures to
reports/run.json and the index); runs on its own too: `python scripts/kernel_probe.py`.
"""
import json
import statistics
import sys
import time

import nbformat
from jupyter_client.manager import KernelManager

from course import KERNEL, NOTEBOOK_DIR

FIRST_LET = "let x = 1 + 1;"
# Cells after the first `let`: what a later cell costs when it has almost nothing to compile.
LATER_CELLS = ["let y = x + 1;", "println!(\"{}\", y * 2);", "let z = vec![x, y];",
               "z.len()"]


def setup_cell(notebook: str = "01_imports") -> str:
    """A notebook's setup cell, its first code cell (01's by default: every notebook but 07,
    which adds its own crate, opens with the same one)."""
    nb = nbformat.read(str(NOTEBOOK_DIR / f"{notebook}.ipynb"), as_version=4)
    return next(c.source for c in nb.cells if c.cell_type == "code")


def timed_cell(client, code: str, timeout: float = 600) -> float:
    """Runs one cell; returns its seconds. Fails on an error reply."""
    start = time.monotonic()
    reply = client.execute_interactive(code, timeout=timeout, output_hook=lambda msg: None)
    seconds = time.monotonic() - start
    if reply["content"]["status"] != "ok":
        raise RuntimeError(f"probe cell failed: {code!r}: {reply['content'].get('evalue', '')}")
    return seconds


def probe() -> dict:
    """The figures of one fresh kernel, in seconds."""
    manager = KernelManager(kernel_name=KERNEL)
    start = time.monotonic()
    manager.start_kernel(cwd=str(NOTEBOOK_DIR))
    client = manager.client()
    try:
        client.start_channels()
        client.wait_for_ready(timeout=600)
        ready = time.monotonic() - start
        setup = timed_cell(client, setup_cell())
        first_let = timed_cell(client, FIRST_LET)
        later = [timed_cell(client, code) for code in LATER_CELLS]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    return {
        "kernel_ready_seconds": round(ready, 2),
        "setup_cell_seconds": round(setup, 2),
        "first_let_seconds": round(first_let, 2),
        "first_answer_seconds": round(ready + setup + first_let, 2),
        "later_cell_seconds": [round(t, 2) for t in later],
        "median_later_cell_seconds": round(statistics.median(later), 2),
    }


def describe(figures: dict) -> str:
    """One line for the log."""
    return (f"probe: kernel ready {figures['kernel_ready_seconds']} s + setup cell "
            f"{figures['setup_cell_seconds']} s + `{FIRST_LET}` {figures['first_let_seconds']} s "
            f"= {figures['first_answer_seconds']} s; trivial cells after it: median "
            f"{figures['median_later_cell_seconds']} s")


if __name__ == "__main__":
    result = probe()
    print(describe(result))
    json.dump(result, sys.stdout, indent=2)
    print()
