"""numpy reference for loading: the four raw IDX files read and normalised to float32 in [0, 1]
(images) and int64 (labels), 70,000 images in all. Prints the median of several runs.

    python bench/numpy_load.py [--repeats N]
"""
import argparse

import numpy as np

from common import DATA, FILES, emit, now


def load_all():
    out = {}
    for key, name in FILES.items():
        raw = np.fromfile(DATA / name, dtype=np.uint8)
        if key.endswith("_x"):
            n = int.from_bytes(raw[4:8].tobytes(), "big")
            out[key] = raw[16:].reshape(n, 1, 28, 28).astype(np.float32) / np.float32(255)
        else:
            out[key] = raw[8:].astype(np.int64)
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    times = []
    for _ in range(args.repeats):
        start = now()
        data = load_all()
        times.append(now() - start)
        assert data["train_x"].shape == (60000, 1, 28, 28) and data["test_x"].shape == (10000, 1, 28, 28)
    emit({"framework": "numpy", "task": "load", "load_seconds": sorted(times)[len(times) // 2],
          "images": 70000, "numpy": np.__version__})


if __name__ == "__main__":
    main()
