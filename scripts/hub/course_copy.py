"""A learner's own copy of the course (run by the image's entrypoint, as the learner, at each
container start: scripts/image/entrypoint.sh).

Usage: course_copy.py COURSE_DIR LEARNER_DIR. LEARNER_DIR (~/mnist) gets notebooks/ (copies: the
learner's to edit), artifacts/ and reports/ (theirs), and links to the course's helpers/, explore/
and docs/, so that the notebooks' `:dep ... path = "../helpers"` and their links resolve as in a
clone. On a later start, a notebook whose code and text the learner has not changed is replaced
by the course's new version; an edited one is kept, and the new version is put beside it as
NAME.updated.ipynb (beside, so that its `../helpers` resolves). A notebook that cannot be read is
left alone and named in the output: it never stops the learner's server from starting.
"""
import hashlib
import json
import shutil
import sys
from pathlib import Path

LINKED = ("helpers", "explore", "docs")


def sources_hash(notebook: Path) -> str:
    """A hash of the cells' sources: running a notebook (outputs, counts) does not change it.
    A notebook that is not valid JSON hashes as its bytes (it counts as edited)."""
    try:
        cells = json.loads(notebook.read_text())["cells"]
        text = json.dumps([[c["cell_type"], "".join(c["source"])] for c in cells])
    except (ValueError, KeyError, TypeError):
        return hashlib.sha256(notebook.read_bytes()).hexdigest()
    return hashlib.sha256(text.encode()).hexdigest()


def read_record(record: Path) -> dict:
    """Which version of each notebook was delivered (empty when missing or unreadable)."""
    try:
        return json.loads(record.read_text())
    except (OSError, ValueError):
        return {}


def deliver(course: Path, learner: Path) -> list[str]:
    """Copies new and updated notebooks; returns what it did, one line each."""
    said, notebooks = [], learner / "notebooks"
    notebooks.mkdir(parents=True, exist_ok=True)
    record = learner / ".course" / "delivered.json"
    delivered = read_record(record)
    for source in sorted((course / "notebooks").glob("*.ipynb")):
        mine, new = notebooks / source.name, sources_hash(source)
        if mine.exists() and delivered.get(source.name) == new:
            continue
        if not mine.exists() or sources_hash(mine) == delivered.get(source.name):
            shutil.copyfile(source, mine)
            delivered[source.name] = new
            said.append(f"{source.name}: the course's version")
        else:
            update = notebooks / f"{source.stem}.updated.ipynb"
            if update.exists() and sources_hash(update) == new:
                continue
            shutil.copyfile(source, update)
            said.append(f"{source.name}: kept your edits; the course's new version is {update.name}")
    record.parent.mkdir(exist_ok=True)
    record.write_text(json.dumps(delivered, indent=1, sort_keys=True))
    return said


def main() -> int:
    course, learner = Path(sys.argv[1]), Path(sys.argv[2])
    learner.mkdir(mode=0o700, exist_ok=True)
    for folder in ("artifacts", "reports"):
        (learner / folder).mkdir(exist_ok=True)
    for name in LINKED:
        link = learner / name
        if not link.is_symlink() and not link.exists():
            link.symlink_to(course / name)
    for line in deliver(course, learner):
        print(f"course: {line}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
