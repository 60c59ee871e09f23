"""Shared by the Python references: MNIST from the project's IDX files, timing, peak memory.

Every reference prints exactly one JSON object on its last stdout line, like `mnist-bench`.
"""
import json
import os
import resource
import struct
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("MNIST_DATA_DIR", ROOT / "data" / "mnist"))
TRAIN_COUNT = 54_000  # the first 90% trains, the last 10% validates (Keras' validation_split=0.1)
FILES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}


def threads():
    """The thread count every framework gets (the orchestrator sets BENCH_THREADS)."""
    return int(os.environ.get("BENCH_THREADS", os.cpu_count() or 1))


def device_name():
    """Where the references train: BENCH_DEVICE, "cpu" (the default) or "cuda" (bench/run.py --device)."""
    return os.environ.get("BENCH_DEVICE", "cpu")


def idx_layout(raw):
    """The dimensions of a raw IDX file's bytes and where its values start: the Python side's one
    reader of the header (helpers/src/idx.rs is the crate's)."""
    ndim = int(raw[3])
    return struct.unpack(f">{ndim}I", bytes(raw[4 : 4 + 4 * ndim])), 4 + 4 * ndim


def read_idx(path):
    """The payload of one raw IDX file and its dimensions."""
    raw = Path(path).read_bytes()
    dims, start = idx_layout(raw)
    return raw[start:], dims


def idx_bytes(name):
    """The payload of one of MNIST's files (a key of FILES) and its dimensions."""
    return read_idx(DATA / FILES[name])


def median(values):
    """The middle value, the upper of the two for an even count (as mnist-bench takes it)."""
    return sorted(values)[len(values) // 2]


def peak_rss_mib():
    """Peak resident memory of this process in MiB (getrusage, as mnist-bench measures it)."""
    per_mib = 1 << 20 if sys.platform == "darwin" else 1 << 10  # macOS counts bytes, Linux KiB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / per_mib


def emit(result):
    """Prints the result as the last line of stdout, with peak memory added."""
    result["peak_rss_mib"] = round(peak_rss_mib(), 1)
    print(json.dumps(result), flush=True)


def now():
    return time.perf_counter()


def log(*args):
    print(*args, file=sys.stderr, flush=True)
