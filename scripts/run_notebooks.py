"""Executes the seven notebooks in order under the project's evcxr kernel (the main job).

Writes each executed notebook and its HTML export to reports/, plus reports/index.html with the
timings and the models' test accuracies.

  run_notebooks.py            full run with the default settings
  run_notebooks.py --check    short mode (MNIST_EPOCHS=1, MNIST_TRAIN_LIMIT=6000 unless set) and
                              checks: no cell errors, every expected chart (image/png) and table
                              (text/html) present, accuracies above the short-mode floors,
                              every figure in the markdown backed by the run
  run_notebooks.py --check --solutions
                              the same for the exercises' sources in solutions/ (every exercise's
                              check must say "✓ right"; in notebooks/ each says "not done yet")
  run_notebooks.py --warm     only compiles the setup cell in a fresh kernel (fills the caches)
"""
import argparse
import contextlib
import html
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbconvert import HTMLExporter

import course
import kernel_checks
import kernel_probe
import notebook_figures

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
# The exercises' sources (solutions and hidden tests; scripts/exercises.py, docs/exercises.md).
SOLUTION_DIR = ROOT / "solutions"
# The main job writes to reports/; the test command sets MNIST_REPORTS to a folder of its own, so
# that a short test run never replaces the full run's notebooks, HTML and index.
REPORTS = Path(os.environ.get("MNIST_REPORTS") or ROOT / "reports")
ARTIFACTS = Path(os.environ.get("MNIST_ARTIFACTS") or ROOT / "artifacts")
KERNEL = kernel_probe.KERNEL
# The rich outputs each notebook must show (the notebooks themselves: notebooks/, course.notebooks()).
OUTPUTS = {
    "01_imports": {"text/html"},
    "02_data_preparation": {"image/png", "text/html"},
    "03_model_architecture": {"text/html"},
    "04_training": {"image/png", "text/html"},
    "05_evaluation": {"text/html"},
    "06_visualization": {"image/png", "text/html"},
    "07_explore": {"image/png", "text/html"},
}
# What 07's draw-a-digit output must hold: the canvas, and the script that runs both networks.
CANVAS_MARKS = ("<canvas class=\"ink\"", "function cnnProbabilities", "\"conv2\"")
QUICK_ENV = {"MNIST_EPOCHS": "1", "MNIST_TRAIN_LIMIT": "6000"}
# The largest an executed notebook may be (07's, with the draw-a-digit page, is the largest).
MAX_EXECUTED_BYTES = 600_000
# Test accuracy floors (percent) in short mode: far below a real run, far above chance (10%).
QUICK_FLOORS = {"mlp": 85.0, "cnn": 85.0}
# The model that 04's "your turn" cell defines inline and trains with the same `fit`.
YOUR_TURN = "wide"


def cell_seconds(cell) -> float:
    """Seconds between a cell starting and its reply, from nbclient's timing metadata."""
    meta = cell.get("metadata", {}).get("execution", {})
    start, end = meta.get("iopub.status.busy"), meta.get("shell.execute_reply")
    if not (start and end):
        return 0.0
    parse = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))
    return (parse(end) - parse(start)).total_seconds()


def mime_types(nb) -> set:
    """Every output MIME type in a notebook (stream outputs count as text/plain)."""
    found = set()
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            found.update(out.get("data", {}).keys())
    return found


def stream_texts(nb, streams=("stderr",)) -> list:
    """Text cells wrote to stderr (or to `streams`). evcxr reports an error returned by `?` on
    stderr, without marking the cell as failed, so the runner has to look for it."""
    return ["".join(out.get("text", "")) for cell in nb.cells for out in cell.get("outputs", [])
            if out.get("output_type") == "stream" and out.get("name") in streams]


def html_outputs(nb) -> list:
    """The text/html outputs of a notebook."""
    return ["".join(out["data"]["text/html"]) for cell in nb.cells
            for out in cell.get("outputs", []) if "text/html" in out.get("data", {})]


def execute(nb, name: str) -> tuple:
    """Runs a notebook in a fresh kernel; returns (error or None, seconds)."""
    client = NotebookClient(nb, kernel_name=KERNEL, timeout=1800, record_timing=True,
                            resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    start = time.monotonic()
    try:
        client.execute()
    except CellExecutionError as err:
        return err, time.monotonic() - start
    written = stream_texts(nb)
    return (RuntimeError(written[0].strip()) if written else None), time.monotonic() - start


def export(nb, name: str) -> None:
    """Writes the executed notebook and its HTML export to reports/."""
    REPORTS.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(REPORTS / f"{name}.ipynb"))
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    (REPORTS / f"{name}.html").write_text(body, encoding="utf-8")


def first_error_line(err) -> str:
    """The last meaningful line of a cell error (the kernel's message, not the cell's source)."""
    text = (getattr(err, "evalue", "") or str(err)).strip().splitlines()
    useful = [l for l in text if l.strip() and not set(l.strip()) <= {"-"}]
    return useful[-1] if useful else "cell failed"


def run_one(name: str) -> dict:
    """Executes and exports one notebook; returns its record."""
    print(f"== {name}", flush=True)
    nb = nbformat.read(str(NOTEBOOK_DIR / f"{name}.ipynb"), as_version=4)
    err, total = execute(nb, name)
    export(nb, name)
    code = [c for c in nb.cells if c.cell_type == "code"]
    times = [cell_seconds(c) for c in code if c.get("execution_count")]
    record = {
        "notebook": name, "ok": err is None, "seconds": round(total, 1),
        "setup_cell_seconds": round(times[0], 1) if times else None,
        "setup_and_next_cell_seconds": round(sum(times[:2]), 1) if len(times) > 1 else None,
        "cell_seconds": [round(t, 2) for t in times], "mime_types": sorted(mime_types(nb)),
        "error": None if err is None else first_error_line(err),
        "canvas": any(all(m in html_out for m in CANVAS_MARKS) for html_out in html_outputs(nb)),
    }
    # What each exercise's check cell printed: "✓ right" in solutions/, "not done yet" in notebooks/.
    # Each names its exercise: grade id "ex02_1check" prints "02.1 ...".
    record["checks"] = [(c["metadata"]["nbgrader"]["grade_id"],
                         "".join(o.get("text", "") for o in c.get("outputs", [])).strip())
                        for c in code if c.get("metadata", {}).get("nbgrader", {}).get("grade")]
    # Figures in the markdown that this run does not back (see notebook_figures.py).
    record["unbacked_figures"] = notebook_figures.problems(name, nb) if err is None else []
    status = "ok" if err is None else f"FAILED: {record['error']}"
    print(f"   {status}; setup cell {record['setup_cell_seconds']} s, notebook {record['seconds']} s",
          flush=True)
    return record


def accuracies() -> dict:
    """The test accuracies written by 05_evaluation.ipynb."""
    path = ARTIFACTS / "evaluation.json"
    if not path.exists():
        return {}
    return {k: v["test_accuracy"] for k, v in json.loads(path.read_text()).items()}


# The look of nbconvert's "lab" HTML exports that the index links to: JupyterLab's fonts,
# colours and table style.
INDEX_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
       font-size: 14px; line-height: 1.5; color: rgba(0,0,0,0.87); max-width: 960px;
       margin: 24px auto; padding: 0 16px; }
h1 { font-size: 26px; font-weight: 500; margin: 0 0 8px; }
p, li { margin: 4px 0; }
a { color: #1976d2; text-decoration: none; } a:hover { text-decoration: underline; }
table { border-collapse: collapse; border-spacing: 0; font-size: 12px; margin: 12px 0; }
th { font-weight: bold; text-align: right; border-bottom: 1px solid #616161; padding: 4px 12px; }
td { text-align: right; padding: 4px 12px; }
th:first-child, td:first-child { text-align: left; }
tbody tr:nth-child(odd) { background: #f5f5f5; } tbody tr:hover { background: rgba(66,165,245,0.2); }
.failed { color: #d32f2f; }
"""


def cpu_model() -> str:
    """The CPU's model name, so that every timing says which machine it comes from."""
    return course.cpu_model() or "unknown CPU"


def setup_times() -> dict:
    """The last cold setup's step durations, kept across warm reruns: scripts/setup.sh writes every
    run's to target/setup-times.json, and a rerun that finds everything in place writes zeros, so
    a setup that installed something (a venv, evcxr_jupyter) is also kept as
    target/setup-cold.json. `cold` says which one this is; a warm rerun adds `rerun`, its date."""
    latest_file, cold_file = ROOT / "target" / "setup-times.json", ROOT / "target" / "setup-cold.json"
    latest = json.loads(latest_file.read_text()) if latest_file.exists() else {}
    steps = latest.get("steps", {})
    if steps.get("venv", 0) > 0 or steps.get("evcxr_jupyter", 0) > 0:
        cold_file.write_text(json.dumps(latest))
        return {**latest, "cold": True}
    if cold_file.exists():
        return {**json.loads(cold_file.read_text()), "cold": True, "rerun": latest.get("date")}
    return {**latest, "cold": False} if latest else {}


def kernel_rows(probe: dict, setup: dict) -> str:
    """The index's lines on the learner's path: setup's steps and the probe."""
    lines = []
    if setup:
        steps = ", ".join(f"{k} {v} s" for k, v in setup.get("steps", {}).items())
        what = (f"last cold setup ({setup.get('date')})" if setup.get("cold") else
                "setup already done (no cold setup recorded here)")
        rerun = f"; setup already done at this run ({setup['rerun']})" if setup.get("rerun") else ""
        lines.append(f"<li>{what}: {setup.get('total')} s ({html.escape(steps)}){rerun}</li>")
    if probe:
        lines.append(f"<li>first answer in a fresh kernel: {probe['first_answer_seconds']} s = "
                     f"kernel ready {probe['kernel_ready_seconds']} s + setup cell "
                     f"{probe['setup_cell_seconds']} s + <code>{kernel_probe.FIRST_LET}</code> "
                     f"{probe['first_let_seconds']} s; trivial cells after it: median "
                     f"{probe['median_later_cell_seconds']} s</li>")
    return "".join(lines)


def write_index(records: list, accs: dict, mode: str, probe: dict) -> Path:
    """reports/index.html (one row per notebook with timings and links, the accuracies, the
    probe's figures) and reports/run.json (the same figures, and the kernel's: setup cell, setup
    plus the next cell, median later cell, the probe, setup's steps, the CPU)."""
    rows = "".join(
        f"<tr><td><a href='{r['notebook']}.html'>{r['notebook']}</a></td>"
        f"<td{'' if r['ok'] else ' class=failed'}>"
        f"{'ok' if r['ok'] else 'FAILED: ' + html.escape(r['error'] or '')}</td>"
        f"<td>{r['setup_cell_seconds']}</td><td>{r['setup_and_next_cell_seconds']}</td>"
        f"<td>{r['seconds']}</td></tr>" for r in records)
    acc = "".join(f"<li>{k}: {v:.2f}% test accuracy</li>" for k, v in accs.items())
    page = (f"<!doctype html><meta charset='utf-8'><title>MNIST notebooks report</title>"
            f"<style>{INDEX_STYLE}</style><h1>MNIST notebooks report</h1>"
            f"<p>{mode} run, {time.strftime('%Y-%m-%d %H:%M')}, {html.escape(cpu_model())}</p>"
            f"<ul>{acc}{kernel_rows(probe, setup_times())}</ul>"
            f"<table><thead><tr><th>notebook</th><th>status</th><th>setup cell (s)</th>"
            f"<th>setup + next cell (s)</th><th>total (s)</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>")
    path = REPORTS / "index.html"
    path.write_text(page, encoding="utf-8")
    later = [t for r in records for t in r["cell_seconds"][1:]]
    kernel = {
        "probe": probe,
        "setup_cell_seconds_max": max((r["setup_cell_seconds"] or 0) for r in records),
        "setup_and_next_cell_seconds_max": max((r["setup_and_next_cell_seconds"] or 0)
                                               for r in records),
        "median_later_cell_seconds": round(statistics.median(later), 2) if later else None,
    }
    (REPORTS / "run.json").write_text(json.dumps({"mode": mode, "date": time.strftime("%Y-%m-%d"),
                                                  "cpu": cpu_model(), "setup": setup_times(),
                                                  "kernel": kernel,
                                                  "notebooks": records, "accuracies": accs},
                                                 indent=2))
    return path


def check(records: list, accs: dict) -> list:
    """Problems found in a short-mode run: errors, missing outputs, low accuracy."""
    problems = [f"{r['notebook']}: {r['error']}" for r in records if not r["ok"]]
    problems += [p for r in records for p in r.get("unbacked_figures", [])]
    for r in records:
        if r["notebook"] not in OUTPUTS:
            problems.append(f"{r['notebook']}: no row in run_notebooks.py's OUTPUTS (the outputs it must show)")
        missing = OUTPUTS.get(r["notebook"], set()) - set(r["mime_types"])
        if missing and r["ok"]:
            problems.append(f"{r['notebook']}: no {', '.join(sorted(missing))} output")
    for model, floor in QUICK_FLOORS.items():
        if accs.get(model, 0.0) < floor:
            problems.append(f"{model}: test accuracy {accs.get(model)} below the floor {floor}%")
    for r in records:
        if r["notebook"] == "07_explore" and r["ok"] and not r.get("canvas"):
            problems.append("07_explore: no draw-a-digit canvas with both networks in the output")
        executed = REPORTS / f"{r['notebook']}.ipynb"
        if r["ok"] and executed.exists() and executed.stat().st_size > MAX_EXECUTED_BYTES:
            problems.append(f"{r['notebook']}: the executed notebook is {executed.stat().st_size:,} "
                            f"bytes, at most {MAX_EXECUTED_BYTES:,}")
    verdict = "✓ right" if NOTEBOOK_DIR == SOLUTION_DIR else "not done yet"
    for r in records:
        problems += [f"{r['notebook']}: {grade}'s check printed {text!r}, not {verdict!r}"
                     for grade, text in r["checks"] if verdict not in text]
        problems += [f"{r['notebook']}: {grade}'s check speaks of another exercise: {text!r}"
                     for grade, text in r["checks"]
                     if not text.startswith(grade[2:6].replace("_", "."))]
    trained = [ARTIFACTS / f"{YOUR_TURN}.safetensors", ARTIFACTS / f"{YOUR_TURN}_history.json"]
    if any(r["notebook"] == "04_training" and r["ok"] for r in records):
        problems += [f"04_training: the your-turn model did not save {p.name}"
                     for p in trained if not p.exists()]
    return problems


@contextlib.contextmanager
def environment(**values):
    """Sets environment variables (inherited by kernels started inside) for a block."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def check_out_of_order() -> list:
    """05_evaluation in a fresh kernel with no trained models must say to run 04 first."""
    print("== 05_evaluation without trained models (must explain what to run first)", flush=True)
    nb = nbformat.read(str(NOTEBOOK_DIR / "05_evaluation.ipynb"), as_version=4)
    with tempfile.TemporaryDirectory() as empty, environment(MNIST_ARTIFACTS=empty):
        err, _ = execute(nb, "05_evaluation")
    # The hint is also printed on stdout: evcxr's stderr can arrive after the cell is over.
    said = stream_texts(nb, ("stdout", "stderr"))
    if err is None:
        return ["05_evaluation ran without trained models instead of failing"]
    hint = [t for t in said if "run 04_training.ipynb first" in t]
    if not hint or any("panicked" in t for t in said):
        shown = " | ".join(t.strip() for t in said) or "nothing"
        return [f"05_evaluation without models: unhelpful error: {first_error_line(err)} "
                f"(it said: {shown})"]
    print(f"   ok, it says: {hint[0].strip()}", flush=True)
    return []


def check_shape_mistake() -> list:
    """A learner's network with a layer that does not fit, trained with `fit` in a kernel: the
    cell must say which layer in one line (no panic, no C++ frames), and the kernel must keep the
    variables of earlier cells."""
    print("== a network that does not fit MNIST, under the kernel (one line, variables kept)",
          flush=True)
    book = nbformat.read(str(NOTEBOOK_DIR / "04_training.ipynb"), as_version=4)
    cells = [kernel_probe.setup_cell("04_training"), "let data = load_data()?;\nlet keep = 41;",
             """let vs = nn::VarStore::new(device());
let bad = {
    let p = vs.root();
    nn::seq_t()
        .add_fn(|xs| xs.flatten(1, -1))
        .add(nn::linear(&p / "fc1", 100, 64, Default::default()))
        .add(nn::linear(&p / "fc2", 64, 10, Default::default()))
};
let cfg = TrainConfig { epochs: 1, train_limit: Some(500), ..Default::default() };
fit("bad", &bad, &vs, &data, &cfg)?;""", 'println!("kept {}", keep + 1);']
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells],
                                  metadata=book.metadata)
    client = NotebookClient(nb, kernel_name=KERNEL, timeout=600, allow_errors=True,
                            resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    with tempfile.TemporaryDirectory() as scratch, environment(MNIST_ARTIFACTS=scratch):
        client.execute()
    said = lambda cell: "".join(
        "".join(o.get("text", "")) + "".join(o.get("traceback", [])) + o.get("evalue", "")
        for o in cell.get("outputs", []))
    fit_said, last_said = said(nb.cells[2]), said(nb.cells[3])
    problems = []
    expected = "layer `fc1` expects 100 inputs per image but gets 784"
    if expected not in fit_said or "panicked" in fit_said or "Exception raised" in fit_said:
        problems.append(f"shape mistake: expected one line with {expected!r}, got: "
                        f"{fit_said.strip()[:300]!r}")
    if "kept 42" not in last_said:
        problems.append(f"shape mistake: the kernel lost its variables (next cell said "
                        f"{last_said.strip()[:200]!r})")
    if not problems:
        line = next(l for l in fit_said.splitlines() if expected in l)
        print(f"   ok, it says: {line.strip()}; the next cell still sees `keep`", flush=True)
    return problems


def warm() -> int:
    """Compiles the setup cells of 01_imports and 07_explore (which also loads notebook 7's crate)
    in fresh kernels so that later kernels start warm."""
    for name in ("01_imports", "07_explore"):
        nb = nbformat.read(str(NOTEBOOK_DIR / f"{name}.ipynb"), as_version=4)
        # Online here (setup may download from the crate registry): the kernel resolves the
        # helper crates' dependencies itself, without our Cargo.lock, and may want versions cargo
        # has not downloaded yet. The notebooks then run offline from that cache.
        source = kernel_probe.setup_cell(name).splitlines()
        nb.cells = [nbformat.v4.new_code_cell("\n".join(l for l in source if l.strip() != ":offline 1"))]
        print(f"warming the kernel for {name} (the first time compiles tch, polars and plotters: "
              "minutes)", flush=True)
        err, seconds = execute(nb, "warm")
        if err is not None:
            detail = (getattr(err, "evalue", "") or str(err)).strip().splitlines()[-8:]
            print("kernel warm-up failed:\n  " + "\n  ".join(detail), file=sys.stderr)
            return 1
        print(f"kernel warm: {name}'s setup cell compiled in {seconds:.0f} s")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--check", action="store_true", help="short mode with checks (tests)")
    parser.add_argument("--warm", action="store_true", help="only warm the kernel's caches")
    parser.add_argument("--solutions", action="store_true",
                        help="with --check: the notebooks in solutions/ (every check right), "
                             "reports in REPORTS/solutions/, without the kernel's own checks")
    args = parser.parse_args()
    global NOTEBOOK_DIR, REPORTS
    if args.solutions:
        NOTEBOOK_DIR, REPORTS = SOLUTION_DIR, REPORTS / "solutions"
    if args.warm:
        return warm()
    if args.check:
        for key, value in QUICK_ENV.items():
            os.environ.setdefault(key, value)
    for stale in ["evaluation.json", f"{YOUR_TURN}.safetensors", f"{YOUR_TURN}_history.json"]:
        (ARTIFACTS / stale).unlink(missing_ok=True)
    REPORTS.mkdir(parents=True, exist_ok=True)
    print("== probe: a fresh kernel's first answer", flush=True)
    probe = kernel_probe.probe()
    print("   " + kernel_probe.describe(probe), flush=True)
    early = (check_out_of_order() + check_shape_mistake()
             + kernel_checks.check_stop_and_mistakes(dict(os.environ))) \
        if args.check and not args.solutions else []
    records = []
    for name in course.notebooks(NOTEBOOK_DIR):
        records.append(run_one(name))
        if not records[-1]["ok"]:
            break
    accs = accuracies()
    index = write_index(records, accs, "short (--check)" if args.check else "full", probe)
    warm_cells = [t for r in records for t in r["cell_seconds"][1:]]
    print(f"\nreports: {index.parent}/ (open {index})")
    for model, acc in accs.items():
        print(f"{model}: {acc:.2f}% test accuracy")
    setups = [r["setup_cell_seconds"] for r in records if r["setup_cell_seconds"] is not None]
    pairs = [r["setup_and_next_cell_seconds"] for r in records
             if r["setup_and_next_cell_seconds"] is not None]
    if setups and pairs:
        print(f"setup cell: {min(setups)}-{max(setups)} s; setup + next cell: "
              f"{min(pairs)}-{max(pairs)} s")
    if warm_cells:
        print(f"median cell after setup: {statistics.median(warm_cells):.2f} s over {len(warm_cells)} cells")
    print(f"all notebooks: {sum(r['seconds'] for r in records):.0f} s")
    problems = early + (check(records, accs) if args.check else
                        [r["error"] for r in records if not r["ok"]]
                        + [p for r in records for p in r["unbacked_figures"]])
    for p in problems:
        print(f"problem: {p}", file=sys.stderr)
    if args.check:
        passed = len([r for r in records if r["ok"]]) + (0 if early else 1)
        print(f"notebooks: {passed} passed, {len(problems)} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
