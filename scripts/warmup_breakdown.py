"""What the kernel warm-up compiled and how long each part took, read from cargo's own records in
a kernel build folder (target/kernels/N): each unit's `invoked.timestamp` is written when it
starts and its fingerprint when it ends. Units overlap (cargo runs two jobs on two cores), so the
parts add up to more than the warm-up's wall time; the shares say where the compiling goes.
A build script's run has no start record: it counts from when its script was built (an upper
bound: cargo may have started it later).
Usage: python scripts/warmup_breakdown.py [BUILD_FOLDER [UNTIL]]   (default: target/kernels/0;
UNTIL, seconds since the epoch: leave out units that ended later, such as rebuilds after setup)
"""
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The groups a reader cares about, by crate-name prefix (the first that matches).
GROUPS = [("torch-sys (libtorch's C++ wrapper, build script)", ("torch-sys",)),
          ("tch", ("tch",)), ("polars and its crates", ("polars",)),
          ("plotters, fonts, png", ("plotters", "ab_glyph", "ttf-parser", "owned_ttf", "png",
                                    "dejavu", "font")),
          ("zip and its compressors (tch's .npz support)", ("zip", "zstd", "bzip2", "aes",
                                                            "sha1", "sha2", "pbkdf2", "time")),
          ("mnist_helpers and mnist_explore (this project)", ("mnist_",)),
          ("the cells (ctx)", ("ctx",))]


def units(folder: Path, until: float) -> list:
    """(unit name, seconds, "rustc" or "script") for every unit with a start and an end record. A build script's run
    has no start record: it is taken to start when its build script was built."""
    found, script_built = [], {}
    fingerprints = sorted(folder.glob("target/**/.fingerprint/*"))
    for fingerprint in fingerprints:
        built = fingerprint / "build-script-build-script-build"
        if built.exists():
            script_built[crate_name(fingerprint)] = built.stat().st_mtime
    for fingerprint in fingerprints:
        start = fingerprint / "invoked.timestamp"
        ran = fingerprint / "run-build-script-build-script-build"
        ends = [f for f in fingerprint.iterdir() if f.suffix != ".timestamp"
                and not f.name.startswith("dep-") and f.name != "output-lib"]
        if start.exists() and ends:
            began, kind = start.stat().st_mtime, "rustc"
        elif ran.exists() and crate_name(fingerprint) in script_built:
            began, kind = script_built[crate_name(fingerprint)], "script"
        else:
            continue
        end = max(f.stat().st_mtime for f in ends)
        if end <= until:
            found.append((crate_name(fingerprint), max(end - began, 0), kind))
    return found


def crate_name(fingerprint: Path) -> str:
    """`torch-sys` for a fingerprint folder named `torch-sys-0123456789abcdef`."""
    return fingerprint.name.rsplit("-", 1)[0]


def group_of(name: str) -> str:
    """The reader's group of a unit."""
    for label, prefixes in GROUPS:
        if name.startswith(prefixes):
            return label
    return "everything else (serde, rayon, chrono, regex, ...)"


def main() -> int:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "target" / "kernels" / "0"
    until = float(sys.argv[2]) if len(sys.argv) > 2 else float("inf")
    found = units(folder, until)
    if not found:
        print(f"warmup_breakdown: no cargo records under {folder}", file=sys.stderr)
        return 1
    compiled = [(n, t) for n, t, kind in found if kind == "rustc"]
    totals, counts = defaultdict(float), defaultdict(int)
    for name, seconds in compiled:
        totals[group_of(name)] += seconds
        counts[group_of(name)] += 1
    everything = sum(totals.values())
    print("| part (rustc) | crates | seconds (summed over crates) | share |")
    print("| --- | --- | --- | --- |")
    for label, seconds in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"| {label} | {counts[label]} | {seconds:.0f} | {100 * seconds / everything:.0f}% |")
    print(f"| all | {len(compiled)} | {everything:.0f} | 100% |")
    slowest = sorted(compiled, key=lambda u: -u[1])[:8]
    print("\nslowest crates: " + ", ".join(f"{n} {s:.0f} s" for n, s in slowest))
    native = [(n, t) for n, t, kind in found if kind == "script" and n.endswith("-sys")]
    print("build scripts that compile C/C++ (at most): "
          + ", ".join(f"{n} {t:.0f} s" for n, t in sorted(native, key=lambda u: -u[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
