"""Start-up shortcuts of the grader (``autograder.startup``) give what nbgrader would."""

from __future__ import annotations

import subprocess
import sys

from nbgrader.api import Gradebook
from sqlalchemy import text

from autograder import startup
from autograder.config import ensure_venv_on_path


def test_in_process_alembic_head_is_what_alembic_reports():
    """The schema head read in-process equals ``alembic heads`` run as nbgrader runs it."""
    import nbgrader.api

    startup.install_alembic_head()
    ensure_venv_on_path()
    from_cli = nbgrader.api.get_alembic_version.__wrapped__()  # nbgrader's subprocess
    assert startup.alembic_head() == from_cli
    assert nbgrader.api.get_alembic_version() == from_cli


def test_a_new_gradebook_records_the_head_revision(tmp_path):
    """A gradebook created with the shortcut is stamped with nbgrader's newest migration."""
    startup.install_alembic_head()
    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}", "kl-course") as gb:
        stamped = gb.db.execute(text("SELECT version_num FROM alembic_version")).scalar()
    assert stamped == startup.alembic_head()


def _in_fresh_python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=120)
    return done.stdout.strip()


def test_grader_processes_skip_the_iri_grammar_and_still_validate_notebooks():
    """Importing autograder first keeps rfc3987_syntax out; nbformat still validates."""
    printed = _in_fresh_python(
        "import sys, autograder, nbformat\n"
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
