"""The course's facts that more than one script needs, each written here once: the kernel's
name, the notebooks (the notebooks/ folder itself), and this machine's CPU model.

The other scripts import it (scripts/ is on their path); shell scripts ask it:
`python3 scripts/course.py kernel` or `python3 scripts/course.py cpu`.
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
# The Jupyter kernel the notebooks run under (their metadata names it too, as Jupyter requires).
KERNEL = "mnist-rust"
KERNEL_DISPLAY_NAME = "Rust (mnist)"


def notebooks(folder: Path = NOTEBOOK_DIR) -> list[str]:
    """The course's notebooks in order, without `.ipynb`: the folder's own list, nowhere else."""
    return sorted(path.stem for path in folder.glob("*.ipynb"))


def cpu_model() -> str | None:
    """The CPU's model name from /proc/cpuinfo, None where there is none (each caller names
    its own fallback)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def main(args: list[str]) -> int:
    if args == ["kernel"]:
        print(KERNEL)
    elif args == ["cpu"]:
        print(cpu_model() or "")
    elif args == ["notebooks"]:
        print("\n".join(notebooks()))
    else:
        print("usage: course.py kernel|cpu|notebooks", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
