"""Check nbgrader's cell-metadata schema once per process instead of once per cell.

nbgrader validates the ``nbgrader`` metadata of every cell with
``jsonschema.validate(metadata, schema)``, and that function first checks the
*schema itself* against the JSON Schema meta-schema on every call: about a tenth of a
grading worker's CPU time went there. ``install()`` gives nbgrader's format module a
``jsonschema`` whose ``validate`` builds each schema's validator once and reuses it;
it raises the same error (``jsonschema.exceptions.best_match``) as the original.
"""

from __future__ import annotations

import jsonschema
import nbgrader.nbgraderformat.common as nbgrader_format

_VALIDATORS: dict[int, tuple[dict, jsonschema.protocols.Validator]] = {}


def cached_validate(instance, schema) -> None:
    """``jsonschema.validate(instance, schema)`` with the schema checked only once."""
    entry = _VALIDATORS.get(id(schema))
    if entry is None or entry[0] is not schema:
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)  # what jsonschema.validate does first, now done once
        entry = _VALIDATORS[id(schema)] = (schema, cls(schema))
    error = jsonschema.exceptions.best_match(entry[1].iter_errors(instance))
    if error is not None:
        raise error


class _JsonschemaWithCache:
    """The ``jsonschema`` module as nbgrader's format module sees it, with a cached validate."""

    validate = staticmethod(cached_validate)

    def __getattr__(self, name):
        return getattr(jsonschema, name)


def install() -> None:
    """Make nbgrader's metadata checks use :func:`cached_validate` (idempotent)."""
    nbgrader_format.jsonschema = _JsonschemaWithCache()
