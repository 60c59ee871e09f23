"""Makes the class's course folder equal to a new export of the course, touching only what changed.

Usage: sync_course.py NEW DEST. A file whose content is unchanged keeps its time, so cargo
rebuilds exactly what a course update changed; a changed or new file gets the current time (a
commit's own times can be older than the last build); files that left the course are removed.
DEST's data/mnist/ (the verified MNIST files, not part of the export) is kept.
"""
import filecmp
import os
import shutil
import sys
from pathlib import Path

KEPT = {Path("data") / "mnist"}


def sync(new: Path, dest: Path) -> int:
    """Copies what differs, removes what is gone; returns how many files changed."""
    changed = 0
    for dirpath, _dirs, files in os.walk(new):
        relative = Path(dirpath).relative_to(new)
        (dest / relative).mkdir(mode=0o755, exist_ok=True)
        for name in files:
            source, target = Path(dirpath) / name, dest / relative / name
            if target.is_file() and filecmp.cmp(source, target, shallow=False):
                continue
            shutil.copyfile(source, target)
            target.chmod(0o755 if os.access(source, os.X_OK) else 0o644)
            changed += 1
    for dirpath, dirs, files in os.walk(dest, topdown=True):
        relative = Path(dirpath).relative_to(dest)
        gone_dirs = [d for d in dirs if relative / d not in KEPT and not (new / relative / d).is_dir()]
        dirs[:] = [d for d in dirs if relative / d not in KEPT and d not in gone_dirs]
        for name in gone_dirs:
            shutil.rmtree(dest / relative / name)
        for name in files:
            if not (new / relative / name).is_file():
                (dest / relative / name).unlink()
        changed += len(gone_dirs) + len([f for f in files if not (new / relative / f).is_file()])
    return changed


if __name__ == "__main__":
    print(f"course: {sync(Path(sys.argv[1]), Path(sys.argv[2]))} files changed")
