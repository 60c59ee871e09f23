"""Writes 01's and 07's notebooks cut after their setup cell, for warming the image's kernel.

Usage: setup_cells.py NOTEBOOKS_DIR OUT_DIR. The image warms its kernel with these (the same
`:dep` lines as the notebooks), so that a change elsewhere in a notebook keeps the warm layer.
"""
import json
import sys
from pathlib import Path


def main() -> int:
    source, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    for name in ("01_imports", "07_explore"):
        nb = json.loads((source / f"{name}.ipynb").read_text())
        first_code = next(i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code")
        nb["cells"] = nb["cells"][: first_code + 1]
        (out / f"{name}.ipynb").write_text(json.dumps(nb, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
