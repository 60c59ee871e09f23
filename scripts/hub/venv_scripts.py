"""Gives a new venv the command scripts of another venv, pointed at its own Python.

Usage: venv_scripts.py SOURCE_VENV DEST_VENV. pip writes each script with its venv's Python in the
first line (`#!/path/to/venv/bin/python`); the class venv holds the same packages (scripts/hub.sh
links them), so the scripts are the same but for that line. Binary files are copied as they are;
the `python*` links and `activate*` files that `python -m venv` made are kept.
"""
import shutil
import sys
from pathlib import Path


def main() -> int:
    source, dest = Path(sys.argv[1]), Path(sys.argv[2])
    old = f"#!{source / 'bin' / 'python'}".encode()
    new = f"#!{dest / 'bin' / 'python'}".encode()
    copied = 0
    for path in sorted((source / "bin").iterdir()):
        target = dest / "bin" / path.name
        if path.name.startswith(("python", "activate")) or path.is_symlink() or target.exists():
            continue
        data = path.read_bytes()
        first, _, rest = data.partition(b"\n")
        if first.startswith(old):
            target.write_bytes(new + first[len(old):] + b"\n" + rest)
            target.chmod(0o755)
        else:
            shutil.copy2(path, target)
        copied += 1
    print(f"venv: {copied} command scripts from {source}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
