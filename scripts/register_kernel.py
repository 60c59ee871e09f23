"""Registers the project's evcxr kernel in the venv's Jupyter, with its environment wired in.

Usage: register_kernel.py EVCXR_JUPYTER_PATH. The kernel's name and display name are
scripts/course.py's. Rewrites kernel.json only when it changes.
"""
import json
import os
import sys
from pathlib import Path

from course import KERNEL, KERNEL_DISPLAY_NAME

# Variables the kernel needs: libtorch's location for the loader, cargo and the C++ compilers
# for building cells, and the project root so that the crate finds data/ and artifacts/.
PASSED_THROUGH = ["LIBTORCH_USE_PYTORCH", "LD_LIBRARY_PATH", "PATH", "MNIST_ROOT", "CC", "CXX",
                  "CCACHE_BASEDIR", "CARGO_HOME", "RUSTUP_HOME"]


def kernel_spec(evcxr: str) -> dict:
    env = {k: os.environ[k] for k in PASSED_THROUGH if os.environ.get(k)}
    # kernel.sh gives each kernel a build directory that outlives it (see the script).
    launcher = str(Path(__file__).resolve().parent / "kernel.sh")
    return {
        "argv": [launcher, evcxr, "--control_file", "{connection_file}"],
        "display_name": KERNEL_DISPLAY_NAME,
        "language": "rust",
        # On Linux, SIGINT to the kernel's process group; scripts/kernel.sh and helpers/src/stop.rs
        # turn it into a stop after the current batch (evcxr's "message" interrupt, kept where the
        # crate has no handler, kills every variable).
        "interrupt_mode": "signal" if sys.platform.startswith("linux") else "message",
        "env": env,
    }


def main() -> None:
    name, evcxr = KERNEL, sys.argv[1]
    target = Path(sys.prefix) / "share" / "jupyter" / "kernels" / name / "kernel.json"
    spec = json.dumps(kernel_spec(evcxr), indent=2, sort_keys=True) + "\n"
    if target.exists() and target.read_text() == spec:
        print(f"kernel {name}: registered")
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(spec)
    tmp.replace(target)
    print(f"kernel {name}: registered at {target}")


if __name__ == "__main__":
    main()
