"""The per-notebook checks of quoted numbers (tests/quoted_numbers/<assignment>.py).

Each file is a list of blocks, each opened by ``# %% after <cell-id>``; a block becomes a
code cell inserted right after the cell with that id before the solution is executed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

FACTS = Path(__file__).resolve().parent / "quoted_numbers"
_MARKER = re.compile(r"^# %% after (\S+)\s*$", re.M)


@dataclass(frozen=True)
class FactBlock:
    after: str  # id of the cell whose results the block checks
    source: str
    line: int  # where the block starts in its file, for error messages


def fact_blocks(assignment: str) -> list[FactBlock]:
    """The blocks of ``assignment``'s facts file, in file order ([] when it has none)."""
    path = FACTS / f"{assignment}.py"
    if not path.exists():
        return []
    text = path.read_text()
    markers = list(_MARKER.finditer(text))
    blocks = []
    for here, following in zip(markers, [*markers[1:], None], strict=True):
        end = following.start() if following else len(text)
        source = text[here.end():end].strip("\n")
        if not source.strip():
            raise ValueError(f"{path.name}: the block after {here.group(1)!r} is empty")
        blocks.append(FactBlock(here.group(1), source, text.count("\n", 0, here.start()) + 1))
    return blocks


def with_fact_cells(nb, assignment: str):
    """``nb`` with each facts block inserted as a code cell after the cell it names.

    Raises ``ValueError`` naming the block when its cell id is not in the notebook.
    """
    ids = [cell.get("id") for cell in nb.cells]
    inserts: dict[str, list[FactBlock]] = {}
    for block in fact_blocks(assignment):
        if block.after not in ids:
            raise ValueError(f"quoted_numbers/{assignment}.py line {block.line}: no cell "
                             f"with id {block.after!r} in the notebook")
        inserts.setdefault(block.after, []).append(block)
    cells = []
    for cell in nb.cells:
        cells.append(cell)
        for number, block in enumerate(inserts.get(cell.get("id"), ())):
            fact = nbformat.v4.new_code_cell(block.source)
            fact.id = f"fact-{block.after}-{number}"[:64]
            fact.metadata["fact_line"] = block.line
            cells.append(fact)
    nb.cells = cells
    return nb
