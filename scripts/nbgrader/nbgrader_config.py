"""nbgrader's settings for the course's Rust notebooks (scripts/exercises.py copies this file into
the course folder it makes; a teacher's course folder takes it as it is: docs/exercises.md).

nbgrader 0.9.6 with the evcxr kernel needs three repairs, each made here because nbgrader offers
no setting for it (docs/exercises.md shows the failing commands and their errors):
1. evcxr answers a cell that does not compile with {"status": "error"} and no ename, evalue or
   traceback, and nbgrader's Execute.on_cell_executed reads reply["content"]["ename"]: the whole
   submission failed with KeyError: 'ename'. The missing fields are filled in from the cell's
   error output.
2. evcxr answers "ok" to a cell that panics, and in the course's kernel the helper crate prints a
   panic as two lines on stdout ("error: MESSAGE" and "  PLACE"): nbgrader saw no error and gave
   a failing test full points. A graded cell whose stdout holds that report gets an error output.
3. nbgrader starts each kernel in the submission's folder (autograded/STUDENT/ASSIGNMENT/), where
   the notebooks' `:dep mnist_helpers = { path = "../helpers" }` names nothing. Every grading
   kernel starts in run/nb/ beside this file, next to run/helpers, a link to the course's crate.
"""
import os
import re

from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, Execute,
                                    IgnorePattern, LimitOutput, SaveAutoGrades)

c = get_config()  # noqa: F821 (nbgrader's config loader defines it)
c.CourseDirectory.course_id = "mnist"
# The solution region, markers included, becomes this stub (indented as the BEGIN line): the
# helper crate's placeholder of whatever type the cell's answer has.
c.ClearSolutions.code_stub = {"rust": "your_answer() // YOUR CODE HERE"}
c.ClearSolutions.begin_solution_delimeter = "// BEGIN SOLUTION"
c.ClearSolutions.end_solution_delimeter = "// END SOLUTION"
c.ClearHiddenTests.begin_test_delimeter = "// BEGIN HIDDEN TESTS"
c.ClearHiddenTests.end_test_delimeter = "// END HIDDEN TESTS"
# Per cell (the default is 30 s): the setup cell compiles the helper crate, and 04 trains.
c.Execute.timeout = 1800

PANIC_REPORT = re.compile(r"(?m)^error: .*\n  \S")
_on_cell_executed = Execute.on_cell_executed


def _evcxr_on_cell_executed(self, **kwargs):
    """Repairs 1 and 2 (see above)."""
    cell, content = kwargs["cell"], kwargs["execute_reply"]["content"]
    if content.get("status") == "error" and "ename" not in content:
        first = next((o for o in cell.get("outputs", []) if o.output_type == "error"), None)
        content["ename"] = first.ename if first is not None else "Error"
        content["evalue"] = first.evalue if first is not None else ""
        content["traceback"] = list(first.traceback) if first is not None else []
    _on_cell_executed(self, **kwargs)
    if cell.get("metadata", {}).get("nbgrader", {}).get("grade"):
        stdout = "".join(o.text for o in cell.outputs
                         if o.output_type == "stream" and o.name == "stdout")
        if not any(o.output_type == "error" for o in cell.outputs) and PANIC_REPORT.search(stdout):
            lines = stdout.strip().splitlines()
            cell.outputs.append(NotebookNode(output_type="error", ename="Panic",
                                             evalue=lines[0], traceback=lines))


# On the class, so that `nbgrader validate` (whose preprocessors are not settings) gets it too.
Execute.on_cell_executed = _evcxr_on_cell_executed

KERNEL_FOLDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "run", "nb")


class EvcxrExecute(Execute):
    """Execute, with every kernel started in run/nb/ (repair 3)."""

    def preprocess(self, nb, resources=None, km=None):
        resources = dict(resources or {})
        resources["metadata"] = dict(resources.get("metadata") or {}, path=KERNEL_FOLDER)
        return super().preprocess(nb, resources, km=km)


c.Autograde.autograde_preprocessors = [
    EvcxrExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades,
    AssignLatePenalties, CheckCellMetadata,
]
