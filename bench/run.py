"""Runs our side (target/release/mnist-bench: the engine, and the notebooks' plain-tch path) and the
references (PyTorch, Keras, numpy, and the Rust peers candle and burn built from bench/candle_ref
and bench/burn_ref) in turn on this machine with the same thread count, and prints medians and
ratios (ours / theirs).

Writes reports/bench/results.json (every run), table.md, ratios.json and ratios.png (bar chart).
Called by scripts/bench.sh, which sets everything up first; see docs/benchmark.md.
"""
import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import course  # noqa: E402 (scripts/course.py: the CPU's model name)
OUT = ROOT / "reports" / "bench"
# BENCH_OURS and BENCH_TORCH_PYTHON point elsewhere on a machine without the project's setup (a
# GPU machine that only got the built binary and has its own PyTorch).
OURS = [os.environ.get("BENCH_OURS", str(ROOT / "target" / "release" / "mnist-bench"))]
TORCH = [os.environ.get("BENCH_TORCH_PYTHON", str(ROOT / ".venv" / "bin" / "python")),
         str(ROOT / "bench" / "torch_ref.py")]
BENCH_PY = str(ROOT / "bench" / ".venv" / "bin" / "python")
KERAS = [BENCH_PY, str(ROOT / "bench" / "keras_ref.py")]
NUMPY = [BENCH_PY, str(ROOT / "bench" / "numpy_load.py")]
PEERS_BIN = ROOT / "target" / "peers" / "release"
CANDLE = [str(PEERS_BIN / "candle_ref")]
BURN = [str(PEERS_BIN / "burn_ref")]
README = ROOT / "docs" / "benchmark.md"
CONVNET_CAP = 15  # epochs the PyTorch convnet may take to reach 99.0% before "not reached"
SHORT = {  # chart labels
    "seed recipe s/epoch vs PyTorch": "seed vs PyTorch",
    "seed recipe s/epoch vs Keras": "seed vs Keras",
    "seed recipe s/epoch vs the fastest Rust peer": "seed vs fastest Rust peer",
    "seed recipe s/epoch vs candle": "seed vs candle",
    "seed recipe s/epoch vs burn": "seed vs burn",
    "notebooks' plain-tch path s/epoch vs ours": "notebooks' path vs ours",
    "notebooks' plain-tch path s/epoch vs PyTorch": "notebooks' path vs PyTorch",
    "loading 70,000 images vs numpy": "load vs numpy",
    "evaluating 10,000 images vs PyTorch": "eval vs PyTorch",
    "CNN time to 99% vs PyTorch": "CNN to 99% vs PyTorch",
    "CNN time to 99% vs PyTorch (at most)": "CNN to 99% (at most)",
    "CNN time to 99% vs candle": "CNN to 99% vs candle",
    "CNN time to 99% vs candle (at most)": "CNN to 99% vs candle (at most)",
}
TARGETS = {  # ratio ceilings from the performance issues
    "seed recipe s/epoch vs PyTorch": 0.4,
    "seed recipe s/epoch vs the fastest Rust peer": 0.5,
    "notebooks' plain-tch path s/epoch vs PyTorch": 0.5,
    "CNN time to 99% vs PyTorch": 0.35,
    "loading 70,000 images vs numpy": 1.0,
    "evaluating 10,000 images vs PyTorch": 0.7,
}


DEVICE = "cpu"  # set from --device in main()


def run(cmd, threads):
    """Runs one measurement and returns the JSON of its last stdout line. On the CPU the GPU (if
    any) is hidden from every framework, so that none of them uses it."""
    env = dict(os.environ, BENCH_THREADS=str(threads), OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               RAYON_NUM_THREADS=str(threads), BENCH_DEVICE=DEVICE)
    if DEVICE == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    print("  $", " ".join(Path(c).name if i < 2 else c for i, c in enumerate(cmd)), flush=True)
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=sys.stderr, text=True, cwd=ROOT)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        sys.exit(f"bench: {' '.join(cmd)} failed (exit {proc.returncode})")
    result = json.loads(lines[-1])
    where = result.get("device", "cpu")
    if not where.startswith(DEVICE):
        sys.exit(f"bench: {' '.join(cmd)} ran on {where}, not on {DEVICE}")
    return result


def interleaved(pairs, repeats, threads):
    """Runs each (name, cmd) once per round, alternating who goes first; returns runs by name."""
    runs = {name: [] for name, _ in pairs}
    for r in range(repeats):
        order = pairs if r % 2 == 0 else list(reversed(pairs))
        for name, cmd in order:
            runs[name].append(run(cmd, threads))
    return runs


def med(runs, key):
    values = [key(r) for r in runs]
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def per_epoch(r):
    return statistics.median(r["epoch_seconds"])


def measure(args):
    """All measurements; returns (rows for the table, ratio rows, raw runs)."""
    t, rows, ratios, raw = args.threads, [], [], {}
    if "seed" in args.only:
        epochs = ["--epochs", str(args.epochs)]
        who = [("ours", OURS + ["seed"] + epochs), ("notebooks' path", OURS + ["seed-tch"] + epochs),
               ("pytorch", TORCH + ["seed"] + epochs)]
        if DEVICE == "cpu":  # Keras (tensorflow-cpu) and the peers' CPU backends stay off the GPU table
            who += [("keras", KERAS + ["seed"] + epochs)]
            who += [(name, cmd + ["seed"] + epochs) for name, cmd in rust_peers(args)]
        runs = interleaved(who, args.repeats, t)
        raw["seed"] = runs
        s = {k: med(v, per_epoch) for k, v in runs.items()}
        acc = {k: med(v, lambda r: r["test_accuracy"]) for k, v in runs.items()}
        mem = {k: med(v, lambda r: r["peak_rss_mib"]) for k, v in runs.items()}
        for k in runs:
            rows.append((f"seed recipe ({args.epochs} epochs)", k, f"{s[k]:.3f} s/epoch",
                         f"{acc[k]:.2f}% test", f"{mem[k]:.0f} MiB peak"))
        ratios.append(("seed recipe s/epoch vs PyTorch", s["ours"] / s["pytorch"]))
        if "keras" in s:
            ratios.append(("seed recipe s/epoch vs Keras", s["ours"] / s["keras"]))
        rows.append(("seed recipe", "accuracy gap", f"{acc['ours'] - acc['pytorch']:+.2f} points vs PyTorch", "", ""))
        ratios.append(("notebooks' plain-tch path s/epoch vs ours", s["notebooks' path"] / s["ours"]))
        ratios.append(("notebooks' plain-tch path s/epoch vs PyTorch", s["notebooks' path"] / s["pytorch"]))
        peers = [name for name, _ in rust_peers(args)] if DEVICE == "cpu" else []
        for name in peers:
            ratios.append((f"seed recipe s/epoch vs {name}", s["ours"] / s[name]))
            rows.append(("seed recipe", "accuracy gap", f"{acc['ours'] - acc[name]:+.2f} points vs {name}", "", ""))
        if peers:
            fastest = min(peers, key=lambda name: s[name])
            ratios.append((f"seed recipe s/epoch vs the fastest Rust peer ({fastest})", s["ours"] / s[fastest]))
    if "load" in args.only:
        compare_times(args, raw, rows, ratios, "load", ("numpy", NUMPY), "load_seconds",
                      "load + normalise 70,000 images", "loading 70,000 images vs numpy")
    if "eval" in args.only:
        compare_times(args, raw, rows, ratios, "eval", ("pytorch", TORCH + ["eval"]), "eval_seconds",
                      "evaluate 10,000 test images (MLP)", "evaluating 10,000 images vs PyTorch")
    if "convnet" in args.only:
        # (name, table label, command, text when 99% is not reached, name in the ratio)
        references = [("pytorch", "pytorch (Keras convnet, batch 128)",
                       TORCH + ["convnet", "--epochs", str(CONVNET_CAP)], f"not reached in {CONVNET_CAP} epochs",
                       "PyTorch")]
        if DEVICE == "cpu":  # candle's CPU convolutions run our CNN, same architecture and schedule
            rust_peers(args)  # stops with a hint when the peers are not built
            references.append(("candle", "candle (our CNN)", CANDLE + ["convnet"], "not reached in its 4 epochs",
                               "candle"))
        runs = interleaved([("ours", OURS + ["convnet"])] + [(name, cmd) for name, _, cmd, _, _ in references],
                           args.cnn_repeats, t)
        raw["convnet"] = runs
        ours = med(runs["ours"], lambda r: r["seconds_to_99"])
        describe = lambda r: f"{r['epochs']} epochs, last {r['test_accuracies'][-1]:.2f}%"  # noqa: E731
        peak = lambda name: f"{med(runs[name], lambda r: r['peak_rss_mib']):.0f} MiB peak"  # noqa: E731
        rows.append(("CNN: training time to 99.0% test", "ours (fast CNN)", fmt_seconds(ours),
                     describe(runs["ours"][0]), peak("ours")))
        for name, label, _, not_reached, short in references:
            theirs = med(runs[name], lambda r: r["seconds_to_99"])
            capped = med(runs[name], lambda r: None if r["seconds_to_99"] else r["train_seconds"])
            rows.append(("CNN: training time to 99.0% test", label, fmt_seconds(theirs) if theirs else not_reached,
                         describe(runs[name][0]), peak(name)))
            if ours and theirs:
                ratios.append((f"CNN time to 99% vs {short}", ours / theirs))
            elif ours and capped:
                ratios.append((f"CNN time to 99% vs {short} (at most)", ours / capped))
    if args.best:
        runs = {"ours": [run(OURS + ["best"], t)]}
        raw["best"] = runs
        r = runs["ours"][0]
        rows.append(("best CNN recipe", "ours", fmt_seconds(r["train_seconds"]),
                     f"{r['final_accuracy']:.2f}% test after {r['epochs']} epochs ({r.get('precision', 'float32')})", ""))
    return rows, ratios, raw


def rust_peers(args):
    """The Rust peers built for this run (scripts/bench.sh builds them into target/peers/)."""
    peers = [("candle", CANDLE)] + ([("burn", BURN)] if args.burn else [])
    missing = [name for name, cmd in peers if not Path(cmd[0]).exists()]
    if missing:
        sys.exit(f"bench: {', '.join(missing)} not built: run ./scripts/bench.sh, which builds them")
    return peers


def compare_times(args, raw, rows, ratios, task, reference, key, row_label, ratio_label):
    """One timed task, ours against one reference: table rows in ms and the ratio of medians."""
    name, cmd = reference
    runs = interleaved([("ours", OURS + [task]), (name, cmd)], args.repeats, args.threads)
    raw[task] = runs
    s = {k: med(v, lambda r: r[key]) for k, v in runs.items()}
    for k in runs:
        rows.append((row_label, k, f"{1000 * s[k]:.1f} ms", "", ""))
    ratios.append((ratio_label, s["ours"] / s[name]))


def fmt_seconds(s):
    return "n/a" if s is None else f"{s:.1f} s"


def cpu_info():
    """The CPU's model name (scripts/course.py) and flags (Linux: /proc/cpuinfo; elsewhere the
    platform's words)."""
    model = course.cpu_model()
    try:
        if model is None:
            raise OSError("no model name")
        text = Path("/proc/cpuinfo").read_text()
        flags = re.search(r"^(?:flags|Features)\s*:\s*(.*)$", text, re.M).group(1).split()
        return model, flags
    except (OSError, AttributeError):
        return platform.processor() or "unknown CPU", []


# The flags that decide which kernels oneDNN, MKL and our engine run: vector width, FMA, bfloat16,
# AMX. The table names these; results.json keeps every flag.
SPEED_FLAGS = re.compile(r"^(avx2|fma|avx512(f|bw|vl|_bf16|_fp16|_vnni)|avx_vnni|amx_\w+|sve\w*|asimd\w*)$")


def machine():
    cpu, flags = cpu_info()
    where = f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}"
    if DEVICE == "cuda":
        gpu = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                             stdout=subprocess.PIPE, text=True, check=False).stdout.strip()
        where = f"GPU {gpu or 'unknown'} (driver), host {where}"
    return where


def speed_flags():
    """The CPU flags that matter for speed, as one line for the tables."""
    wanted = [f for f in cpu_info()[1] if SPEED_FLAGS.match(f)]
    return " ".join(wanted) or "none of avx2, fma, avx512, amx reported"


def markdown(rows, ratios, args):
    stamp = datetime.date.today().isoformat()
    race = any("CNN" in r[0] for r in rows)
    repeats = f"medians of {args.repeats} runs" + (f" ({args.cnn_repeats} for the CNN race)" if race else "")
    lines = [f"Measured {stamp} on {machine()}; device {DEVICE}; {args.threads} threads for every framework; "
             f"{repeats}.", "",
             f"CPU flags that decide the kernels: {speed_flags()}.", "",
             "| measurement | who | time | result | memory |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {' | '.join(r)} |" for r in rows]
    lines += ["", "| ratio (ours / reference) | value | target |", "| --- | --- | --- |"]
    for label, value in ratios:
        limit = next((v for k, v in TARGETS.items() if label.startswith(k)), None)
        target = "" if limit is None else f"<= {limit}" + (", missed" if value > limit else "")
        lines.append(f"| {label} | {value:.2f}x | {target} |")
    return "\n".join(lines) + "\n"


def machine_name():
    """The CPU model and what it multiplies fastest (CPUs of one model name differ: some VMs hide
    AMX), e.g. "Intel(R) Xeon(R) Processor, AMX"."""
    cpu, flags = cpu_info()
    tiers = [("amx_bf16", "AMX"), ("avx512_bf16", "AVX512-BF16"), ("avx512f", "AVX-512"), ("avx2", "AVX2")]
    tier = next((name for flag, name in tiers if flag in flags), None)
    return f"{cpu}, {tier}" if tier else cpu


def machine_markers():
    """The markers around this machine's table in docs/benchmark.md: one table per machine_name."""
    cpu = machine_name()
    if DEVICE == "cuda":
        cpu = "GPU " + cpu
    return f"<!-- bench:{cpu}:start -->", f"<!-- bench:{cpu}:end -->", cpu


def update_docs(table):
    """Replaces this machine's table in docs/benchmark.md, or adds one under "Tables by machine"."""
    text = README.read_text()
    start, end, cpu = machine_markers()
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + start + "\n" + table + end + rest.split(end, 1)[1]
    else:
        section = "## Tables by machine"
        if section not in text:
            sys.exit("bench: docs/benchmark.md has no '## Tables by machine' section; table not copied")
        head, rest = text.split(section, 1)
        block = f"\n\n### {cpu}\n\n{start}\n{table}{end}"
        text = head + section + rest.rstrip("\n") + block + "\n"
    README.write_text(text)
    print(f"bench: docs/benchmark.md table for {cpu} updated")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cnn-repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=5, help="epochs of the seed recipe")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--only", default="seed,load,eval,convnet", help="comma-separated measurements")
    parser.add_argument("--best", action="store_true", help="also train the best CNN recipe once")
    parser.add_argument("--no-burn", dest="burn", action="store_false",
                        help="leave burn out of the seed recipe (its build is the slowest)")
    parser.add_argument("--update-docs", "--update-readme", dest="update_docs", action="store_true",
                        help="copy the table into docs/benchmark.md (--update-readme: its former name)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                        help="cuda: ours, the notebooks' path and PyTorch on the GPU (seed, convnet, best), "
                             "into reports/bench/cuda/")
    args = parser.parse_args()
    args.only = set(args.only.split(","))
    global DEVICE, OUT
    DEVICE = args.device
    if DEVICE == "cuda":
        args.only -= {"load", "eval"}  # CPU-side work: the CPU table has them
        OUT = OUT / "cuda"
        if args.update_docs:
            sys.exit("bench: --update-docs copies the CPU table only")
    OUT.mkdir(parents=True, exist_ok=True)
    rows, ratios, raw = measure(args)
    table = markdown(rows, ratios, args)
    cpu, flags = cpu_info()
    raw["machine"] = {"cpu": cpu, "cores": os.cpu_count(), "flags": flags, "date": datetime.date.today().isoformat()}
    (OUT / "results.json").write_text(json.dumps(raw, indent=1))
    (OUT / "table.md").write_text(table)
    (OUT / "ratios.json").write_text(json.dumps([{"label": SHORT.get(k, k), "ratio": v} for k, v in ratios]))
    if ratios:
        subprocess.run(OURS[:1] + ["chart", str(OUT / "ratios.json"), str(OUT / "ratios.png")], check=True)
    print("\n" + table)
    print(f"bench: wrote {OUT.relative_to(ROOT)}/ (results.json, table.md, ratios.png)")
    if args.update_docs:
        update_docs(table)


if __name__ == "__main__":
    main()
