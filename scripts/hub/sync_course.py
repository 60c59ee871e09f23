"""Makes the class's course folder equal to a new export of the course, touching only what changed.

Usage: sync_course.py NEW DEST. A file whose content is unchanged keeps its time, so cargo
rebuilds exactly what a course update changed; a changed or new file gets the current time (a
commit's own times can be older than the last build) and is written beside its place and renamed
over it, so a reader never sees half a file; what left the course is removed first (also a file
that became a folder, or the reverse). DEST's data/mnist/ (the verified MNIST files, not part of
the export) is kept.
"""
import filecmp
import os
import shutil
import sys
from pathlib import Path

KEPT = {Path("data") / "mnist"}


def kind(path: Path) -> str:
    """'link', 'dir', 'file' or '' (nothing there)."""
    if path.is_symlink():
        return "link"
    return "dir" if path.is_dir() else "file" if path.exists() else ""


def remove_gone(new: Path, dest: Path) -> int:
    """Removes what DEST has and NEW has not, or has as another kind; returns how many."""
    removed = 0
    for dirpath, dirs, files in os.walk(dest):
        relative = Path(dirpath).relative_to(dest)
        for name in dirs + files:
            mine, theirs = dest / relative / name, new / relative / name
            if relative / name in KEPT or kind(mine) == kind(theirs):
                continue
            shutil.rmtree(mine) if kind(mine) == "dir" else mine.unlink()
            removed += 1
        dirs[:] = [d for d in dirs if (dest / relative / d).is_dir() and relative / d not in KEPT]
    return removed


def copy_changed(new: Path, dest: Path) -> int:
    """Writes what differs (atomically, with the current time); returns how many files."""
    changed = 0
    for dirpath, dirs, files in os.walk(new):
        relative = Path(dirpath).relative_to(new)
        (dest / relative).mkdir(mode=0o755, exist_ok=True)
        for name in files + [d for d in dirs if (Path(dirpath) / d).is_symlink()]:
            source, target = Path(dirpath) / name, dest / relative / name
            if source.is_symlink():
                if not target.is_symlink() or os.readlink(target) != os.readlink(source):
                    target.unlink(missing_ok=True)
                    target.symlink_to(os.readlink(source))
                    changed += 1
                continue
            if target.is_file() and filecmp.cmp(source, target, shallow=False):
                continue
            part = target.with_name(f".{name}.part")
            shutil.copyfile(source, part)
            part.chmod(0o755 if os.access(source, os.X_OK) else 0o644)
            part.replace(target)
            changed += 1
    return changed


if __name__ == "__main__":
    new, dest = Path(sys.argv[1]), Path(sys.argv[2])
    removed = remove_gone(new, dest)
    print(f"course: {copy_changed(new, dest) + removed} files changed")
