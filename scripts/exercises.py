"""The exercises. solutions/ holds one source per notebook, with each exercise's solution between
`// BEGIN SOLUTION` and `// END SOLUTION` and its hidden tests between `// BEGIN HIDDEN TESTS` and
`// END HIDDEN TESTS`; notebooks/, what a learner gets, is made from it by nbgrader's
generate_assignment with the settings in scripts/nbgrader/nbgrader_config.py (docs/exercises.md).

  python scripts/exercises.py generate    writes notebooks/ from solutions/
  python scripts/exercises.py check       fails when notebooks/ is not what `generate` writes
  python scripts/exercises.py autograde   nbgrader's autograde, under the kernel, on notebook 02
                                          solved (solutions/) and as a learner gets it
                                          (notebooks/): full marks and none
"""
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import course

ROOT = course.ROOT
SOLUTIONS = ROOT / "solutions"
CONFIG = ROOT / "scripts" / "nbgrader" / "nbgrader_config.py"
ASSIGNMENT = "mnist"
GRADED = "02_data_preparation"  # the notebook autograde tries: three exercises, no training


def nbgrader(course_dir: Path, *args: str) -> None:
    """Runs nbgrader in `course_dir`; its output is shown when it fails."""
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args, "--log-level=WARN"],
                          cwd=course_dir, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"nbgrader {' '.join(args)} failed:\n{done.stdout}{done.stderr}")


def make_course(folder: Path) -> Path:
    """A course folder in `folder`: the settings, the sources, and run/ (run/helpers links to the
    crate, so that a grading kernel started in run/nb/ finds `../helpers`)."""
    shutil.copy(CONFIG, folder / "nbgrader_config.py")
    source = folder / "source" / ASSIGNMENT
    source.mkdir(parents=True)
    for name in course.notebooks(SOLUTIONS):
        shutil.copy(SOLUTIONS / f"{name}.ipynb", source)
    (folder / "run" / "nb").mkdir(parents=True)
    (folder / "run" / "helpers").symlink_to(ROOT / "helpers")
    nbgrader(folder, "generate_assignment", ASSIGNMENT, "--force")
    return folder / "release" / ASSIGNMENT


def generate(check_only: bool) -> int:
    """Writes (or compares) notebooks/ with nbgrader's release of solutions/."""
    with tempfile.TemporaryDirectory() as tmp:
        release = make_course(Path(tmp))
        made = sorted(p.name for p in release.glob("*.ipynb"))
        have = sorted(p.name for p in course.NOTEBOOK_DIR.glob("*.ipynb"))
        stale = [n for n in made if not (course.NOTEBOOK_DIR / n).exists()
                 or (course.NOTEBOOK_DIR / n).read_bytes() != (release / n).read_bytes()]
        extra = sorted(set(have) - set(made))
        if check_only:
            for n in stale + extra:
                print(f"notebooks/{n}: not what solutions/ generates "
                      f"(python scripts/exercises.py generate)", file=sys.stderr)
            print(f"exercises: {len(made) - len(stale)} of {len(made)} notebooks as generated")
            return 1 if stale or extra else 0
        for n in made:
            shutil.copy(release / n, course.NOTEBOOK_DIR / n)
        print(f"notebooks/: {len(made)} notebooks generated from solutions/ ({len(stale)} changed)")
        return 0


def scores(course_dir: Path) -> dict:
    """(score, max score) of the graded notebook per student, from nbgrader's gradebook."""
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}") as book:
        return {student: (nb.score, nb.max_score) for student in ("solved", "unsolved")
                for nb in [book.find_submission_notebook(GRADED, ASSIGNMENT, student)]}


def autograde() -> int:
    """Autogrades 02 solved and unsolved; checks full marks and none."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        release = make_course(folder)
        for student, copy in (("solved", SOLUTIONS), ("unsolved", release)):
            submitted = folder / "submitted" / student / ASSIGNMENT
            submitted.mkdir(parents=True)
            shutil.copy(copy / f"{GRADED}.ipynb", submitted)
        start = time.monotonic()
        nbgrader(folder, "autograde", ASSIGNMENT, "--create", "--force")
        got = scores(folder)
        print(f"autograde of {GRADED}: solved {got['solved'][0]} of {got['solved'][1]} points, "
              f"unsolved {got['unsolved'][0]} ({time.monotonic() - start:.0f} s)")
        full = got["solved"][1]
        right = full > 0 and got["solved"][0] == full and got["unsolved"][0] == 0
        if not right:
            print("autograde: expected full marks for the solutions and none for the learner's "
                  "notebook", file=sys.stderr)
        return 0 if right else 1


def main(args: list[str]) -> int:
    if args == ["generate"]:
        return generate(check_only=False)
    if args == ["check"]:
        return generate(check_only=True)
    if args == ["autograde"]:
        return autograde()
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
