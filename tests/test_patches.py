"""The grader's library patches (``autograder.patches``): explicit, version-guarded, faithful."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

import jsonschema
import nbformat
import pytest
from nbgrader.api import Gradebook
from nbgrader.nbgraderformat.v3 import MetadataValidatorV3
from sqlalchemy import text

from autograder import patches
from autograder.config import ensure_venv_on_path


def test_in_process_alembic_head_is_what_alembic_reports():
    """The schema head read in-process equals ``alembic heads`` run as nbgrader runs it."""
    import nbgrader.api

    patches.install_alembic_head()
    ensure_venv_on_path()
    from_cli = nbgrader.api.get_alembic_version.__wrapped__()  # nbgrader's subprocess
    assert patches.alembic_head() == from_cli
    assert nbgrader.api.get_alembic_version() == from_cli


def test_a_new_gradebook_records_the_head_revision(tmp_path):
    """A gradebook created with the shortcut is stamped with nbgrader's newest migration."""
    patches.install_alembic_head()
    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}", "kl-course") as gb:
        stamped = gb.db.execute(text("SELECT version_num FROM alembic_version")).scalar()
    assert stamped == patches.alembic_head()


def _in_fresh_python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=120)
    return done.stdout.strip()


def test_grader_processes_skip_the_iri_grammar_and_still_validate_notebooks():
    """Installing the patches first keeps rfc3987_syntax out; nbformat still validates."""
    printed = _in_fresh_python(
        "import sys, autograder.patches\n"
        "autograder.patches.install()\n"
        "import nbformat\n"
        "nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('1')])\n"
        "nbformat.validate(nb)\n"
        "bad = nbformat.v4.new_notebook(); bad.cells = [{'cell_type': 'nonsense'}]\n"
        "try:\n"
        "    nbformat.validate(bad)\n"
        "    print('invalid notebook accepted')\n"
        "except nbformat.ValidationError:\n"
        "    print('invalid notebook refused')\n"
        "print(sys.modules.get('rfc3987_syntax', 'absent'))\n")
    assert printed.splitlines() == ["invalid notebook refused", "None"]


def test_the_sandbox_check_does_not_import_the_course_library():
    """Finding kl_helpers for the sandbox must not import it (and scipy) in the grader."""
    printed = _in_fresh_python(
        "import sys\n"
        "from autograder.sandbox import readonly_paths\n"
        "paths = readonly_paths()\n"
        "print(any(p.name == 'kl_helpers' for p in paths), 'kl_helpers' in sys.modules)\n")
    assert printed == "True False"


def test_importing_the_grader_patches_nothing():
    """Only ``patches.install()`` changes other libraries; importing the grader does not."""
    printed = _in_fresh_python(
        "import sys\n"
        "import autograder.grading, autograder.worker, autograder.release, autograder.handback\n"
        "import nbgrader.api, nbgrader.nbgraderformat.common as fmt\n"
        "print('rfc3987_syntax' in sys.modules and sys.modules['rfc3987_syntax'] is None,\n"
        "      hasattr(nbgrader.api.get_alembic_version, '__wrapped__'),\n"
        "      type(fmt.jsonschema).__name__)\n")
    assert printed == "False False module"


def test_a_library_of_another_version_is_refused_loudly():
    """A patched library at another version stops the grader with the patch named."""
    def installed(dist):
        return "0.9.7" if dist == "nbgrader" else metadata.version(dist)

    with pytest.raises(patches.PatchError) as raised:
        patches.check_versions(installed)
    message = str(raised.value)
    assert "written for nbgrader 0.9.6, found 0.9.7" in message
    assert "alembic head read in-process" in message
    patches.check_versions()  # the installed versions are the ones written for


def test_every_patched_library_is_pinned_at_the_version_it_was_written_for():
    """The pins of pyproject/constraints and the patch table name the same versions."""
    for wanted in patches.WRITTEN_FOR.values():
        for dist, version in wanted.items():
            assert metadata.version(dist) == version, dist


def test_cached_schema_validation_matches_jsonschema():
    """The cached validator raises what ``jsonschema.validate`` raises, message included."""
    schema = MetadataValidatorV3().schema
    good = {"grade": True, "solution": False, "locked": True, "task": False,
            "grade_id": "ex1", "points": 1, "schema_version": 3}
    validate = patches._CachedValidators()
    validate(good, schema)
    for bad in ({**good, "points": "one"}, {k: v for k, v in good.items() if k != "locked"}):
        with pytest.raises(jsonschema.ValidationError) as ours:
            validate(bad, schema)
        with pytest.raises(jsonschema.ValidationError) as theirs:
            jsonschema.validate(bad, schema)
        assert ours.value.message == theirs.value.message


def test_nbgrader_metadata_checks_still_reject_bad_cells():
    """With the schema cache installed, nbgrader still refuses a cell with bad metadata."""
    patches.install_schema_cache()
    cell = nbformat.v4.new_code_cell("x = 1")
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True,
                                 "task": False, "grade_id": "ex1", "points": "one",
                                 "schema_version": 3}
    with pytest.raises(jsonschema.ValidationError):
        MetadataValidatorV3().validate_cell(cell)


_REUSE_CHECK = """
import sys
from pathlib import Path
from autograder import patches
patches.install(worker=True)
from nbgrader.api import Gradebook
path = Path(sys.argv[1])
url = f"sqlite:///{path}"
with Gradebook(url, "kl-course") as gb:
    first = gb.engine
    gb.add_student("ada")
with Gradebook(url, "kl-course") as gb:
    print("same engine", gb.engine is first, [s.id for s in gb.students])
    gb.add_student("bob")
with Gradebook(url, "kl-course") as gb:
    print("both", sorted(s.id for s in gb.students))
path.unlink()
with Gradebook(url, "kl-course") as gb:
    print("new file", gb.engine is not first, list(gb.students))
"""


def test_a_grading_worker_reuses_its_gradebook_engine(tmp_path):
    """Later opens share an engine and see earlier writes; a file made anew is set up anew."""
    done = subprocess.run([sys.executable, "-c", _REUSE_CHECK, str(tmp_path / "gb.db")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["same engine True ['ada']", "both ['ada', 'bob']",
                                        "new file True []"]


@pytest.mark.parametrize("build, bad", [
    (lambda: nbformat.v4.new_output("stream", name="stdout", text="0.69\n"),
     lambda: nbformat.v4.new_output("stream", name="stdout", text=3)),
    (lambda: nbformat.v4.new_output("display_data", data={"text/plain": "x"}),
     lambda: nbformat.v4.new_output("display_data", data=["text/plain"])),
    (lambda: nbformat.v4.new_output("error", ename="E", evalue="v", traceback=["t"]),
     lambda: nbformat.v4.new_output("error", ename="E", evalue="v", traceback="t")),
    (lambda: nbformat.v4.new_code_cell("x = 1"),
     lambda: nbformat.v4.new_code_cell(source=5)),
])
def test_compiled_node_checks_accept_and_refuse_what_nbformat_does(build, bad):
    """Valid cells and outputs pass; invalid ones raise nbformat's own ValidationError."""
    patches.install_fast_node_validation()
    import nbformat.v4.nbbase as nbbase

    assert getattr(nbbase.validate, "_kl_compiled", None) is not None
    build()
    with pytest.raises(nbformat.ValidationError):
        bad()
