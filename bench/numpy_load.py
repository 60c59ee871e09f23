"""numpy reference for loading: the four raw IDX files read and normalised to float32 in [0, 1]
(images) and int64 (labels), 70,000 images in all. Prints the median of several runs.

    python bench/numpy_load.py [--repeats N]
"""
import argparse

import numpy as np

from common import DATA, FILES, emit, idx_layout, median, now


def load_all():
    out = {}
    for key, name in FILES.items():
        raw = np.fromfile(DATA / name, dtype=np.uint8)
        dims, start = idx_layout(raw[:16])
        if key.endswith("_x"):
            out[key] = raw[start:].reshape(dims[0], 1, 28, 28).astype(np.float32) / np.float32(255)
        else:
            out[key] = raw[start:].astype(np.int64)
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
    emit({"framework": "numpy", "task": "load", "load_seconds": median(times),
          "images": 70000, "numpy": np.__version__})


if __name__ == "__main__":
    main()
