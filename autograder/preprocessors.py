"""nbconvert preprocessors the course adds to nbgrader's feedback step."""

from __future__ import annotations

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool


def _is_test_cell(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution")


class HideTestTracebacks(Preprocessor):
    """Replace the traceback of a failed test cell by one plain sentence.

    A traceback quotes the lines of the test that failed, hidden tests included,
    so ``ClearHiddenTests`` alone still leaks them (nbgrader issue #917). The
    student keeps the exception name and the assertion message, which the course's
    tests write for students.
    """

    # nbconvert preprocessors are off unless enabled; this one must always run
    enabled = Bool(True)

    def preprocess_cell(self, cell, resources, index):
        if cell.get("cell_type") != "code" or not _is_test_cell(cell):
            return cell, resources
        grade_id = cell["metadata"]["nbgrader"].get("grade_id", "?")
        for output in cell.get("outputs", []):
            if output.get("output_type") != "error":
                continue
            message = str(output.get("evalue", "")).strip()
            summary = f"{output.get('ename', 'Error')}: {message}" if message else output.get(
                "ename", "Error")
            output["traceback"] = [f"Test '{grade_id}' failed. {summary}"]
        return cell, resources
