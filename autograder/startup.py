"""Start-up costs that every grading process paid for nothing, cut once per process.

Measured on the 2-core course machine, before these changes:

* ``import nbformat`` took 2.7 s of CPU, 1.7 s of it in ``rfc3987_syntax``: when that
  package is installed (``jsonschema[format-nongpl]``, required by ``jupyter_events``),
  jsonschema imports it to check the ``iri`` string format, and it builds an Earley
  parser for RFC 3987 at import. No notebook or nbgrader schema uses that format.
  :func:`skip_iri_grammar` makes the package look absent to this process, so jsonschema
  leaves ``iri`` unchecked (as it does whenever the package is not installed). The
  grader main process and each pool worker import nbformat, so this is paid
  ``workers + 1`` times per grading run.
* Creating a gradebook made nbgrader run ``alembic heads`` in a subprocess (about 5 s:
  a new interpreter importing nbgrader) only to read the id of the newest schema
  migration. :func:`install_alembic_head` reads the same id in-process from
  nbgrader's migration scripts (a few ms), and falls back to nbgrader's own way if
  that fails. It also means a gradebook can be created without ``alembic`` on PATH.
"""

from __future__ import annotations

import sys
from pathlib import Path

_SLOW_IRI_MODULE = "rfc3987_syntax"


def skip_iri_grammar() -> None:
    """Keep jsonschema from importing ``rfc3987_syntax`` in this process.

    Only effective before jsonschema is first imported; harmless afterwards.
    """
    if "jsonschema" not in sys.modules:
        # a None entry makes ``import rfc3987_syntax`` raise ImportError, which
        # jsonschema catches: the "iri" format is then simply not checked
        sys.modules.setdefault(_SLOW_IRI_MODULE, None)


def alembic_head() -> str:
    """The newest revision of nbgrader's gradebook schema, read from its migrations."""
    import nbgrader
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory(str(Path(nbgrader.__file__).parent / "alembic"))
    head = scripts.get_current_head()
    if not head:
        raise RuntimeError("nbgrader's alembic scripts have no single head revision")
    return head


def install_alembic_head() -> None:
    """Make nbgrader's ``Gradebook`` read the schema head in-process (idempotent)."""
    import nbgrader.api

    original = getattr(nbgrader.api.get_alembic_version, "__wrapped__",
                       nbgrader.api.get_alembic_version)

    def get_alembic_version() -> str:
        try:
            return alembic_head()
        except Exception:  # an unexpected nbgrader layout: ask alembic as nbgrader does
            return original()

    get_alembic_version.__wrapped__ = original
    nbgrader.api.get_alembic_version = get_alembic_version
