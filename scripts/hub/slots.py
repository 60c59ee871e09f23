"""Gives a learner's kernels their build folders, started from the class's shared one.

Usage (as root, by the hub before a learner's server starts): slots.py CLASS_DIR NAME

The seed (CLASS_DIR/seed/0) holds tch, polars, plotters and the helper crates compiled once.
Each of the learner's four build folders (CLASS_DIR/learners/NAME/kernels/0..3, what
scripts/kernel.sh hands their kernels) starts as a copy of it in which the compiled files are
hard links to the seed's: read-only for the learner, taking no disk of theirs, and never written
in place (rustc and the linker write a new file and rename it). The small files that cargo, rustc
or evcxr rewrite in place (fingerprints, dep-info, build script records, the cell crate's
sources) are the learner's own copies. A folder is seeded again only when the seed changed (a
course update) and none of the learner's kernels holds it.

Everything is built in a root-only staging folder and renamed into place. Which seed the folders
came from is recorded in CLASS_DIR/learners/NAME/.seed-stamp, where only root writes; inside the
learner's own folder, root only opens the kernels' lock files, without following links and
without waiting, and renames or removes (never follows) what is there.
"""
import fcntl
import os
import stat
import pwd
import shutil
import sys
import tempfile
from pathlib import Path

SLOTS = 4
# Files that cargo, rustc or evcxr open for writing when they rebuild or record something.
REWRITTEN_NAMES = {"output", "root-output", "stderr", "invoked.timestamp", ".cargo-lock"}


def rewritten_in_place(relative: Path) -> bool:
    """True for a file the learner needs their own copy of; false for a compiled file."""
    parts = relative.parts
    return (parts[0] != "target" or ".fingerprint" in parts or relative.suffix == ".d"
            or relative.name in REWRITTEN_NAMES)


def seed_tree(seed: Path, dest: Path, uid: int, gid: int) -> tuple[int, int]:
    """Fills `dest` from `seed`: copies owned by uid:gid, hard links for the rest.
    Returns (copied bytes, linked bytes)."""
    copied = linked = 0
    for dirpath, dirs, files in os.walk(seed):
        relative_dir = Path(dirpath).relative_to(seed)
        folder = dest / relative_dir
        folder.mkdir(exist_ok=True)
        os.chown(folder, uid, gid)
        files += [d for d in dirs if (Path(dirpath) / d).is_symlink()]
        for name in files:
            source, target = Path(dirpath) / name, folder / name
            if source.is_symlink():
                os.symlink(os.readlink(source), target)
                os.lchown(target, uid, gid)
            elif rewritten_in_place(relative_dir / name):
                shutil.copy2(source, target)
                os.chown(target, uid, gid)
                copied += source.stat().st_size
            else:
                os.link(source, target)
                linked += source.stat().st_size
    return copied, linked


def in_use(kernels: Path) -> bool:
    """True when one of the learner's kernels holds one of the build folders."""
    for slot in range(SLOTS):
        try:
            fd = os.open(kernels / f"{slot}.lock", os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                continue
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        finally:
            os.close(fd)
    return False


def remove(path: Path) -> None:
    """Removes a folder (or whatever a learner put in its place) without following links."""
    if path.is_symlink() or not path.is_dir():
        path.unlink()
    else:
        shutil.rmtree(path)


def main() -> int:
    class_dir, name = Path(sys.argv[1]), sys.argv[2]
    account = pwd.getpwnam(name)
    seed = class_dir / "seed" / "0"
    stamp = (class_dir / "seed" / ".stamp").read_text()
    learner = class_dir / "learners" / name
    learner.mkdir(mode=0o750, exist_ok=True)
    os.chown(learner, 0, account.pw_gid)
    learner.chmod(0o750)
    kernels, record = learner / "kernels", learner / ".seed-stamp"
    if kernels.is_dir() and not kernels.is_symlink() and record.is_file() and record.read_text() == stamp:
        return 0
    if kernels.exists() and in_use(kernels):
        print(f"slots: {name}'s build folders are in use; seeded at their next start")
        return 0
    staging = Path(tempfile.mkdtemp(dir=class_dir / "staging", prefix=f"{name}-"))
    copied = linked = 0
    for slot in range(SLOTS):
        (staging / str(slot)).mkdir()
        c, l = seed_tree(seed, staging / str(slot), account.pw_uid, account.pw_gid)
        copied, linked = copied + c, linked + l
    os.chown(staging, account.pw_uid, account.pw_gid)
    staging.chmod(0o700)
    old = None
    if kernels.exists() or kernels.is_symlink():
        old = Path(tempfile.mkdtemp(dir=class_dir / "staging", prefix=f"{name}-old-")) / "kernels"
        os.rename(kernels, old)
    os.rename(staging, kernels)
    record.write_text(stamp)
    if old is not None:
        remove(old)
        old.parent.rmdir()
    print(f"slots: {name}: {SLOTS} build folders seeded ({copied / 1e6:.1f} MB copied, "
          f"{linked / 1e6:.0f} MB linked to the seed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
