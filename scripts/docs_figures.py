"""The measured figures that README.md and docs/ quote, kept in one file (docs/figures.json) and
written into the text by this script, so that no figure is copied by hand.

  python scripts/docs_figures.py --check    compare the text with docs/figures.json (the fast
                                            tier runs this: helpers/tests/docs_figures.rs)
  python scripts/docs_figures.py --update   a maintainer's step after a full main job or a fast
                                            tier run: read their latest output (reports/run.json,
                                            target/fast-tier.json, target/classroom.json,
                                            target/image-build-cold.json, target/image-run.json) into
                                            docs/figures.json, then
                                            rewrite the text from it
      [--train-json FILE ...]               also read saved `./mnist train --json` outputs (the
                                            `mnist` command's recipe figures)

The learner's main job never changes a tracked file: it writes reports/ and target/ only.

In the text, a figure is `<!-- figure: KEY -->VALUE<!-- /figure -->` (KEY a dotted path into
docs/figures.json, `KEY|minsec` for seconds written as minutes and seconds, `KEY|thousands` with
a thousands separator), and a generated block is `<!-- figures: NAME -->` ... `<!-- /figures -->`.
Markdown shows neither comment. Dates and machines are figures too, so they stay beside the rest.
"""
import argparse
import json
import os
import platform
import re
import statistics
import sys
import time
from pathlib import Path

import course

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "docs" / "figures.json"
TEXTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
INLINE = re.compile(r"<!-- figure: ([\w.|]+) -->(.*?)<!-- /figure -->", re.S)
BLOCK = re.compile(r"(<!-- figures: (\w+) -->\n)(.*?)(<!-- /figures -->)", re.S)


def lookup(figures: dict, key: str) -> str:
    """The text of one figure: `key` is a dotted path, optionally `|minsec` or `|thousands`."""
    path, _, form = key.partition("|")
    value = figures
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            raise KeyError(f"docs/figures.json has no {path!r}")
        value = value[part]
    if form == "minsec":
        return f"{int(value) // 60} min {int(value) % 60} s"
    if form == "thousands":
        return f"{int(value):,}"
    return str(value)


def kernel_run_block(run: dict) -> str:
    """The tables of the last full main job (docs/kernel_figures.md)."""
    lines = [f"Measured by `scripts/run_notebooks.py` (the main job) on {run['date']}, {run['cpu']}. "
             "Seconds.", ""]
    probe = run["probe"]
    lines += ["| fresh kernel (probe) | seconds |", "| --- | --- |",
              f"| kernel ready | {probe['kernel_ready_seconds']} |",
              f"| setup cell | {probe['setup_cell_seconds']} |",
              f"| `let x = 1 + 1;` | {probe['first_let_seconds']} |",
              f"| **first answer** | **{probe['first_answer_seconds']}** |",
              f"| trivial cells after it (median) | {probe['median_later_cell_seconds']} |", ""]
    lines += ["| notebook | setup cell | setup + next cell | median later cell | total |",
              "| --- | --- | --- | --- | --- |"]
    for n in run["notebooks"]:
        lines.append(f"| {n['notebook']} | {n['setup_cell_seconds']} | "
                     f"{n['setup_and_next_cell_seconds']} | {n['median_later_cell_seconds']} | "
                     f"{n['seconds']} |")
    lines += ["", f"Median later cell over all notebooks: {run['median_later_cell_seconds']} s "
                  f"({run['later_cells']} cells)."]
    return "\n".join(lines) + "\n"


def setup_block(setup: dict) -> str:
    """The steps of the last cold setup."""
    lines = [f"Setup from a fresh clone on {setup['date']}, {setup['cpu']} (a rerun skips what is "
             "in place). Seconds.", "", "| step | seconds |", "| --- | --- |"]
    lines += [f"| {step} | {seconds} |" for step, seconds in setup["steps"].items()]
    lines += [f"| **total** | **{setup['total']}** |"]
    return "\n".join(lines) + "\n"


def classroom_block(c: dict) -> str:
    """The class's figures (scripts/hub_measure.py, docs/classroom.md)."""
    lim, disk, ten = c["limits"], c["disk"], c["ten_open"]
    lines = [f"Measured by `scripts/hub_measure.py` on {c['date']}, {c['cpu']}, "
             f"{c['memory_total_mb']:,} MB of memory, the hub in the test command's short mode, each "
             f"learner's container limited to {lim['memory']} of memory, {lim['cpus']} CPU and "
             f"{lim['pids']} processes. A container's memory is its cgroup's usage (the server, "
             "evcxr with its rust-analyzer, the cells' process, and their page cache); \"in all\" "
             "is how much the machine's memory in use grew.", "",
             "| learner (in order of login) | first answer after login, s |", "| --- | --- |"]
    lines += [f"| {a['learner']} | {a['seconds']} |" for a in c["first_answers"]]
    lines += ["", "| what | figure |", "| --- | --- |",
              f"| memory, ten learners with a kernel open after the first answer | "
              f"{ten['per_learner_mb']} MB each, {ten['used_mb']} MB in all |",
              f"| memory of one learner running 01-07 (04 trains), at its peak | {c['peak_01_07_mb']} MB |",
              f"| disk of one learner after 01-07: their volume, their container's writes | "
              f"{disk['volume_mb']} MB + {disk['container_mb']} MB = {disk['total_mb']} MB |",
              f"| 04 alone: validation accuracies | {', '.join(c['accuracy_alone'])} |"]
    lines += [f"| 04, learner {i + 2} of three at once | {', '.join(a) if isinstance(a, list) else a} |"
              for i, a in enumerate(c["accuracy_together"])]
    lines += [f"| the image | {c['image']['gb']} GB; rebuilt in {c['image']['rebuild_after_notebook_edit_seconds']} s "
              f"after a notebook's text changed ({c['image']['rebuild_cached_steps']} steps from the cache) |"]
    return "\n".join(lines) + "\n"


def container_block(c: dict) -> str:
    """The image's build and a learner's `podman run` (scripts/image.sh, scripts/image_test.py)."""
    build, run = c["build"], c["run"]
    return "\n".join([
        "| what | figure | measured |", "| --- | --- | --- |",
        f"| the image's size | {build['bytes'] / 1e9:.1f} GB | {build['date']}, {build['cpu']} |",
        f"| a build from nothing cached but the base | {build['seconds'] // 60} min {build['seconds'] % 60} s "
        f"({build['cached_steps']} of {build['steps']} steps from the cache) | {build['date']}, {build['cpu']} |",
        f"| `podman run` to the URL printed | {run['url_seconds']} s | {run['date']}, {run['cpu']} |",
        f"| `podman run` to the first answer (01's setup cell and `let x = 1 + 1;`) | "
        f"{run['first_answer_seconds']} s | {run['date']}, {run['cpu']} |",
        f"| all seven notebooks headless in a container, short mode | {run['notebooks_seconds']} s | "
        f"{run['date']}, {run['cpu']} |"]) + "\n"


BLOCKS = {"kernel_run": lambda f: kernel_run_block(f["kernel_run"]),
          "setup": lambda f: setup_block(f["setup"]),
          "classroom": lambda f: classroom_block(f["classroom"]),
          "container": lambda f: container_block(f["container"])}


def render(text: str, figures: dict) -> str:
    """`text` with every figure and block written from `figures`."""
    text = INLINE.sub(lambda m: f"<!-- figure: {m[1]} -->{lookup(figures, m[1])}<!-- /figure -->",
                      text)
    return BLOCK.sub(lambda m: m[1] + BLOCKS[m[2]](figures) + m[4], text)


def drift(figures: dict) -> list:
    """(file, what the text says, what the figures give) for each figure that differs."""
    found = []
    for path in TEXTS:
        text = path.read_text(encoding="utf-8")
        if render(text, figures) == text:
            continue
        said = INLINE.findall(text) + [(name, body) for _, name, body, _ in BLOCK.findall(text)]
        for key, value in said:
            want = lookup(figures, key) if key not in BLOCKS else BLOCKS[key](figures)
            if value != want:
                found.append((path.relative_to(ROOT), key, value, want))
    return found


def from_main_job(run: dict) -> dict:
    """docs/figures.json's kernel figures from reports/run.json (a full main job's)."""
    notebooks = []
    for record in run["notebooks"]:
        later = record["cell_seconds"][1:]
        notebooks.append({"notebook": record["notebook"],
                          "setup_cell_seconds": record["setup_cell_seconds"],
                          "setup_and_next_cell_seconds": record["setup_and_next_cell_seconds"],
                          "median_later_cell_seconds": round(statistics.median(later), 2)
                          if later else "", "seconds": record["seconds"]})
    later = [t for r in run["notebooks"] for t in r["cell_seconds"][1:]]
    return {"date": run["date"], "cpu": run["cpu"], "probe": run["kernel"]["probe"],
            "notebooks": notebooks, "later_cells": len(later),
            "median_later_cell_seconds": f"{statistics.median(later):.2f}"}


def from_train_output(path: Path) -> dict:
    """One model's figures from a saved `./mnist train --json` output (its last line is JSON)."""
    line = [l for l in path.read_text().splitlines() if l.startswith("{")][-1]
    run = json.loads(line)
    return {"model": run["model"], "test_accuracy": f"{run['test_accuracy']:.2f}",
            "train_seconds": f"{run['train_seconds']:.1f}", "epochs": run["epochs"],
            "date": time.strftime("%Y-%m-%d", time.localtime(path.stat().st_mtime)),
            "cpu": cpu_model()}


def cpu_model() -> str:
    """This machine's CPU and core count, as the figures name machines."""
    return f"{course.cpu_model() or platform.machine()}, {os.cpu_count()} cores"


def update(figures: dict, train_outputs: list) -> dict:
    """The figures with the latest outputs read in: a full main job's reports/run.json (its
    kernel figures, and its setup's when that setup was a cold one), the fast tier's time, and
    any saved `./mnist train --json` outputs."""
    for path in train_outputs:
        model = from_train_output(Path(path))
        figures.setdefault("mnist_train", {})[model["model"].replace("-", "_")] = model
    run_file = ROOT / "reports" / "run.json"
    if run_file.exists():
        run = json.loads(run_file.read_text())
        if run.get("mode") == "full" and all(r.get("ok") for r in run["notebooks"]):
            figures["kernel_run"] = from_main_job(run)
            if run.get("setup", {}).get("cold"):
                figures["setup"] = {k: run["setup"][k] for k in ("date", "cpu", "total", "steps")}
        else:
            print(f"docs_figures: {run_file} is not a full, passing main job: kernel figures kept")
    classroom = ROOT / "target" / "classroom.json"
    if classroom.exists():
        figures["classroom"] = json.loads(classroom.read_text())
    # The image's figures: the last build that compiled everything but the base (scripts/image.sh
    # keeps it as target/image-build-cold.json) and the last image test's run.
    for name, key in (("image-build-cold.json", "build"), ("image-run.json", "run")):
        if (ROOT / "target" / name).exists():
            figures.setdefault("container", {})[key] = json.loads((ROOT / "target" / name).read_text())
    fast = ROOT / "target" / "fast-tier.json"
    if fast.exists():
        figures["fast_tier"] = json.loads(fast.read_text())
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="fail when a text differs")
    parser.add_argument("--update", action="store_true", help="read the latest outputs, rewrite")
    parser.add_argument("--train-json", nargs="*", default=[], metavar="FILE",
                        help="with --update: saved `./mnist train --json` outputs to read")
    args = parser.parse_args()
    figures = json.loads(FIGURES.read_text())
    if args.update:
        figures = update(figures, args.train_json)
        FIGURES.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
        for path in TEXTS:
            text = path.read_text(encoding="utf-8")
            if render(text, figures) != text:
                path.write_text(render(text, figures), encoding="utf-8")
                print(f"docs_figures: rewrote {path.relative_to(ROOT)}")
        return 0
    found = drift(figures)
    for path, key, said, want in found:
        print(f"{path}: figure {key} reads {said!r}, docs/figures.json gives {want!r}")
    if found:
        print("docs_figures: the text disagrees with docs/figures.json; "
              "`python scripts/docs_figures.py --update` rewrites it from there")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
