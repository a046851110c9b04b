"""Speed-ups that change other libraries, installed by one explicit call: :func:`install`.

Importing ``autograder`` changes nothing. The grader's entry points (the command line,
``grade_class``, each grading worker process, ``nbgrader_api``) call :func:`install`,
which checks the installed versions of the libraries every patch was written for and
refuses loudly (``PatchError``) when one differs: a patch of a private API must be
re-read against the new version before the pin in ``pyproject.toml`` moves. The course's
subclasses of private APIs (``autograder.feedback.FeedbackExporter``,
``autograder.trusted.TrustedTestExecute``, ``autograder.zygote.ZygoteProvisioner``,
``autograder.preprocessors.OneCommitSaveAutoGrades``) are guarded here too, though they
patch nothing.

Measured on the 2-core course machine, before these changes:

* ``import nbformat`` took 2.7 s of CPU, 1.7 s of it in ``rfc3987_syntax``: when that
  package is installed (``jsonschema[format-nongpl]``, required by ``jupyter_events``),
  jsonschema imports it to check the ``iri`` string format, and it builds an Earley
  parser for RFC 3987 at import. No notebook or nbgrader schema uses that format.
  :func:`skip_iri_grammar` makes the package look absent to this process, so jsonschema
  leaves ``iri`` unchecked (as it does whenever the package is not installed).
* Creating a gradebook made nbgrader run ``alembic heads`` in a subprocess (about 5 s:
  a new interpreter importing nbgrader) only to read the id of the newest schema
  migration. :func:`install_alembic_head` reads the same id in-process from nbgrader's
  migration scripts (a few ms), and falls back to nbgrader's own way if that fails.
* nbgrader validates the ``nbgrader`` metadata of every cell with
  ``jsonschema.validate(metadata, schema)``, which first checks the *schema itself*
  against the meta-schema on every call: a tenth of a grading worker's CPU time.
  :func:`install_schema_cache` gives nbgrader's format module a ``validate`` that builds
  each schema's validator once; it raises the same error (``best_match``).
* nbgrader opens its gradebook about a dozen times per graded notebook, and each
  ``Gradebook(db_url)`` made a new database engine, listed the tables, checked that all
  twenty exist and looked the course up (4 to 6 ms). In a grading worker,
  :func:`install_gradebook_reuse` keeps one engine per database for the process and
  checks the tables once per database file; an open then costs a session.
* nbformat checks every cell and output it builds (``new_code_cell``, ``new_output``:
  nbclient builds one per message of the kernel) against one definition of its schema,
  and for a single definition it uses jsonschema, not the compiled fastjsonschema it
  uses for whole notebooks. :func:`install_fast_node_validation` compiles each
  definition once with fastjsonschema; a node that fails is checked again by nbformat's
  own code, so the error raised is nbformat's.
"""

from __future__ import annotations

import functools
import sys
import warnings
from importlib import metadata
from pathlib import Path


class PatchError(RuntimeError):
    """A patched library is not the version its patch was written for."""


#: What each patch or private-API subclass was written against (distribution: version)
WRITTEN_FOR = {
    "iri grammar skipped": {"jsonschema": "4.26.0"},
    "alembic head read in-process": {"nbgrader": "0.9.6", "alembic": "1.20.1"},
    "schema validators cached": {"nbgrader": "0.9.6", "jsonschema": "4.26.0"},
    "gradebook engines reused": {"nbgrader": "0.9.6", "SQLAlchemy": "2.1.9"},
    "nbformat nodes checked by compiled schemas": {"nbformat": "5.11.1",
                                                   "fastjsonschema": "2.22.3"},
    "feedback exporter (autograder.feedback)": {"nbconvert": "7.17.2"},
    "trusted test runner (autograder.trusted)": {"nbgrader": "0.9.6", "nbclient": "0.11.0"},
    "scores saved in one commit (autograder.preprocessors)": {"nbgrader": "0.9.6"},
    "kernel template provisioner (autograder.zygote)": {"jupyter_client": "8.10.0"},
    "kernel client ready sooner (autograder.trusted)": {"jupyter_client": "8.10.0"},
}


@functools.cache
def _checked_once() -> None:
    """``check_versions`` with the installed packages, once per process.

    ``install`` runs on every ``nbgrader_api`` (once per graded notebook in a worker);
    reading the packages' metadata each time cost 5 ms.
    """
    check_versions()


def check_versions(installed=metadata.version) -> None:
    """Raise ``PatchError`` naming every patch whose library is another version."""
    problems = []
    for patch, wanted in WRITTEN_FOR.items():
        for dist, version in wanted.items():
            try:
                found = installed(dist)
            except metadata.PackageNotFoundError:
                found = "not installed"
            if found != version:
                problems.append(f"{patch}: written for {dist} {version}, found {found}")
    if problems:
        raise PatchError("the grader's library patches do not match the installed versions "
                         "(re-read each patch against the new version, then update "
                         "autograder/patches.py WRITTEN_FOR):\n  " + "\n  ".join(problems))


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


class _CachedValidators:
    """``jsonschema.validate`` with each schema checked against the meta-schema once."""

    def __init__(self) -> None:
        self._validators: dict[int, tuple[dict, object]] = {}

    def __call__(self, instance, schema) -> None:
        import jsonschema

        entry = self._validators.get(id(schema))
        if entry is None or entry[0] is not schema:
            cls = jsonschema.validators.validator_for(schema)
            cls.check_schema(schema)  # what jsonschema.validate does first, now done once
            entry = self._validators[id(schema)] = (schema, cls(schema))
        error = jsonschema.exceptions.best_match(entry[1].iter_errors(instance))
        if error is not None:
            raise error


class _JsonschemaWithCache:
    """The ``jsonschema`` module as nbgrader's format module sees it, with a cached validate."""

    def __init__(self) -> None:
        self.validate = _CachedValidators()

    def __getattr__(self, name):
        import jsonschema

        return getattr(jsonschema, name)


def install_schema_cache() -> None:
    """Make nbgrader's metadata checks validate with cached validators (idempotent)."""
    import nbgrader.nbgraderformat.common as nbgrader_format

    if not isinstance(nbgrader_format.jsonschema, _JsonschemaWithCache):
        nbgrader_format.jsonschema = _JsonschemaWithCache()


def _database_identity(db_url: str):
    """What must not change for a remembered engine to stay valid, or None to not remember.

    A SQLite file is identified by its inode: a file deleted and created again (a new
    grading run in the same folder) gets a new engine and a new check of its tables.
    """
    from sqlalchemy.engine import make_url

    url = make_url(db_url)
    if not url.drivername.startswith("sqlite"):
        return db_url
    if not url.database or url.database == ":memory:":
        return None
    try:
        stat = Path(url.database).stat()
    except OSError:
        return None  # not created yet: nbgrader creates it, the next open remembers it
    return stat.st_dev, stat.st_ino


def install_gradebook_reuse() -> None:
    """Make ``nbgrader.api.Gradebook`` reuse this process's engine per database (idempotent).

    For grading workers: the first open of a database runs nbgrader's own set-up (engine,
    tables, course); later opens of the same database get a session on the same engine
    and look the course up, as nbgrader does. ``close`` ends the session and keeps the
    engine. Anything unexpected falls back to nbgrader's own open.
    """
    import nbgrader.api as api
    from sqlalchemy.orm import scoped_session, sessionmaker

    gradebook = api.Gradebook
    if getattr(gradebook, "_kl_engines", None) is not None:
        return
    original_init, original_close = gradebook.__init__, gradebook.close
    gradebook._kl_engines = engines = {}  # db_url -> (identity, engine)

    def __init__(self, db_url, course_id="default_course", authenticator=None):
        identity = _database_identity(db_url)
        known = engines.get(db_url)
        if identity is not None and known is not None and known[0] == identity:
            self.engine = known[1]
            self.db = scoped_session(sessionmaker(autoflush=True, bind=self.engine,
                                                  future=True))
            try:
                self.check_course(course_id=course_id)
            except Exception:  # the database changed under us: open it afresh
                self.db.remove()
                engines.pop(db_url, None)
            else:
                self.course_id, self.authenticator = course_id, authenticator
                self._kl_shared = True
                return
        original_init(self, db_url, course_id, authenticator)
        identity = _database_identity(db_url)
        if identity is not None:
            engines[db_url] = (identity, self.engine)
            self._kl_shared = True

    def close(self):
        if getattr(self, "_kl_shared", False):
            self.db.remove()  # the engine stays for the next open
        else:
            original_close(self)

    gradebook.__init__, gradebook.close = __init__, close


def install_fast_node_validation() -> None:
    """Make ``nbformat.v4``'s node checks use compiled schema definitions (idempotent)."""
    import json

    import fastjsonschema
    import nbformat.v4 as v4
    import nbformat.v4.nbbase as nbbase

    original = nbbase.validate
    if getattr(original, "_kl_compiled", None) is not None:
        return
    schema_path = Path(v4.__file__).parent / v4.nbformat_schema[(None, None)]
    definitions = json.loads(schema_path.read_text())["definitions"]
    compiled: dict = {}

    def validate(node, ref=None):
        if ref is None or ref not in definitions:
            return original(node, ref)
        check = compiled.get(ref)
        if check is None:
            check = compiled[ref] = fastjsonschema.compile(
                {"$ref": f"#/definitions/{ref}", "definitions": definitions})
        try:
            check(node)
        except fastjsonschema.JsonSchemaException:
            return original(node, ref)  # raises nbformat's own error
        return None

    validate._kl_compiled = compiled
    nbbase.validate = validate


def install(*, worker: bool = False) -> None:
    """Check the versions, then install every patch in this process (idempotent).

    Call it before anything imports jsonschema (nbformat does) to get the iri speed-up.
    ``worker``: this process is a grading worker (it also reuses gradebook engines; a
    long-lived process that does not grade should not keep database connections open).

    Raises:
        PatchError: a patched library is not the version its patch was written for.
    """
    skip_iri_grammar()
    _checked_once()
    install_alembic_head()
    install_schema_cache()
    install_fast_node_validation()
    if worker:
        install_gradebook_reuse()
    # nbgrader 0.9.6 makes SQLAlchemy warn about session state on every autograde:
    # harmless noise that would bury the progress bar
    from sqlalchemy.exc import SAWarning

    warnings.filterwarnings("ignore", category=SAWarning)
