"""nbconvert preprocessors the course adds to nbgrader's feedback step."""

from __future__ import annotations

from nbconvert.preprocessors import Preprocessor
from nbformat import from_dict
from nbgrader.api import Gradebook
from nbgrader.preprocessors import OverwriteCells, SaveAutoGrades
from traitlets import Bool, Integer


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


class TruncateLargeOutputs(Preprocessor):
    """Cut every output of a code cell down to ``max_chars`` characters.

    nbgrader's ``LimitOutput`` counts lines, so one 100 MB line passes through it
    into the gradebook's notebook and the feedback page.
    """

    enabled = Bool(True)
    max_chars = Integer(100_000, help="characters kept of each output").tag(config=True)

    def _cut(self, text: str) -> str:
        if len(text) <= self.max_chars:
            return text
        return (text[: self.max_chars]
                + f"\n[... output truncated by the grader: {len(text):,} characters in all]\n")

    def preprocess_cell(self, cell, resources, index):
        if cell.get("cell_type") != "code":
            return cell, resources
        for output in cell.get("outputs", []):
            if "text" in output:
                output["text"] = self._cut("".join(output["text"]))
            data = output.get("data", {})
            for mime in list(data):
                value = data[mime]
                text = "".join(value) if isinstance(value, list) else str(value)
                if len(text) <= self.max_chars:
                    continue
                if mime.startswith("text/"):
                    data[mime] = self._cut(text)
                else:
                    # an image or blob this large is not feedback: say what it was
                    del data[mime]
                    data.setdefault("text/plain", f"[{mime} output of {len(text):,} "
                                                  "characters removed by the grader]")
            if output.get("output_type") == "error":
                output["traceback"] = [self._cut(line) for line in output.get("traceback", [])]
                output["evalue"] = self._cut(str(output.get("evalue", "")))
        return cell, resources


class RestoringOverwriteCells(OverwriteCells):
    """nbgrader's ``OverwriteCells`` that survives deleted and duplicated cells.

    nbgrader 0.9.6 re-adds a deleted *test* cell after the cell that preceded it in
    the source, and fails (KeyError) when that cell was deleted too, e.g. in an
    empty notebook; and ``DeduplicateIds`` leaves duplicates with an empty
    ``nbgrader`` dict that ``add_missing_task_cells`` then fails on. This subclass
    drops those empty dicts and puts back every missing source cell (stub answers,
    read-only text, tests) in source order before nbgrader's own checks run.
    """

    def preprocess(self, nb, resources):
        for cell in nb.cells:
            meta = cell.get("metadata", {}).get("nbgrader")
            if meta is not None and "grade_id" not in meta:
                del cell["metadata"]["nbgrader"]
        if self.add_missing_cells:
            info = resources["nbgrader"]
            with Gradebook(info["db_url"]) as gradebook:
                source_nb = gradebook.find_notebook(info["notebook"], info["assignment"])
                self._restore(nb, source_nb)
        return super().preprocess(nb, resources)

    def _restore(self, nb, source_nb) -> None:
        max_scores = {cell.name: cell.max_score for cell in source_nb.grade_cells}
        solution_ids = {cell.name for cell in source_nb.solution_cells}

        def position(grade_id):
            for index, cell in enumerate(nb.cells):
                if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id:
                    return index
            return None

        cursor = 0
        for source_cell in source_nb.source_cells:
            index = position(source_cell.name)
            if index is not None:
                cursor = index + 1
                continue
            self.log.warning("Cell %s was missing from the submission; restoring it",
                             source_cell.name)
            nb.cells.insert(cursor, self._missing_cell(source_cell, max_scores, solution_ids))
            cursor += 1

    def _missing_cell(self, source_cell, max_scores, solution_ids):
        if source_cell.name in max_scores:
            # nbgrader returns nested plain dicts: make them attribute-accessible
            return from_dict(self.missing_cell_transform(
                source_cell, max_scores[source_cell.name],
                is_solution=source_cell.name in solution_ids))
        cell = {
            "cell_type": source_cell.cell_type,
            "metadata": {"nbgrader": {
                "grade": False, "solution": source_cell.name in solution_ids,
                "locked": source_cell.locked, "task": False, "grade_id": source_cell.name,
                "checksum": source_cell.checksum, "cell_type": source_cell.cell_type,
                "schema_version": 3}},
            "source": source_cell.source,
        }
        if source_cell.cell_type == "code":
            cell.update(execution_count=None, outputs=[])
        return from_dict(cell)


class _CommitAtEnd:
    """A gradebook session whose ``commit`` only flushes: its owner commits once, later."""

    def __init__(self, session) -> None:
        self._session = session

    def commit(self) -> None:
        self._session.flush()  # what the next query would do anyway (autoflush)

    def __getattr__(self, name):
        return getattr(self._session, name)


class OneCommitSaveAutoGrades(SaveAutoGrades):
    """nbgrader's ``SaveAutoGrades`` writing a notebook's scores in one transaction.

    nbgrader commits after each grade and each comment (about 20 commits for a course
    notebook, each a write of the SQLite file and a wait for the disk): here every
    change is flushed as before and committed once, at the end. The rows written are
    the same; a notebook whose saving fails half-way leaves no half of its scores.
    """

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        self.notebook_id, self.assignment_id = info["notebook"], info["assignment"]
        self.student_id, self.db_url = info["student"], info["db_url"]
        self.gradebook = Gradebook(self.db_url)
        with self.gradebook:
            session = self.gradebook.db
            self.gradebook.db = _CommitAtEnd(session)
            try:
                # nbgrader's cell loop (_add_score, _add_comment), bypassing only the
                # gradebook that SaveAutoGrades.preprocess would open
                nb, resources = super(SaveAutoGrades, self).preprocess(nb, resources)
            finally:
                self.gradebook.db = session
            session.commit()
        return nb, resources
