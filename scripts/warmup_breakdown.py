"""What the kernel warm-up compiled and how long each part took, read from cargo's own records in
a kernel build folder (target/kernels/N): each unit's `invoked.timestamp` is written when it
starts and its fingerprint when it ends. Units overlap (cargo runs two jobs on two cores), so the
parts add up to more than the warm-up's wall time; the shares say where the compiling goes.
Usage: python scripts/warmup_breakdown.py [BUILD_FOLDER]   (default: target/kernels/0)
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


def units(folder: Path) -> list:
    """(unit name, seconds) for every unit with a start and an end record."""
    found = []
    for fingerprint in folder.glob("target/**/.fingerprint/*"):
        start = fingerprint / "invoked.timestamp"
        ends = [f for f in fingerprint.iterdir() if f.suffix != ".timestamp"
                and not f.name.startswith("dep-") and f.name != "output-lib"]
        if start.exists() and ends:
            end = max(f.stat().st_mtime for f in ends)
            found.append((fingerprint.name.rsplit("-", 1)[0], max(end - start.stat().st_mtime, 0)))
    return found


def group_of(name: str) -> str:
    """The reader's group of a unit."""
    for label, prefixes in GROUPS:
        if name.startswith(prefixes):
            return label
    return "everything else (serde, rayon, chrono, regex, ...)"


def main() -> int:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "target" / "kernels" / "0"
    found = units(folder)
    if not found:
        print(f"warmup_breakdown: no cargo records under {folder}", file=sys.stderr)
        return 1
    totals, counts = defaultdict(float), defaultdict(int)
    for name, seconds in found:
        totals[group_of(name)] += seconds
        counts[group_of(name)] += 1
    everything = sum(totals.values())
    print(f"| part | units | seconds (summed over units) | share |")
    print("| --- | --- | --- | --- |")
    for label, seconds in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"| {label} | {counts[label]} | {seconds:.0f} | {100 * seconds / everything:.0f}% |")
    print(f"| all | {len(found)} | {everything:.0f} | 100% |")
    slowest = sorted(found, key=lambda u: -u[1])[:8]
    print("\nslowest units: " + ", ".join(f"{n} {s:.0f} s" for n, s in slowest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
