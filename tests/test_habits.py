"""The project's habits: pre-commit hooks that need no network, solutions/ stored without outputs.

``.pre-commit-config.yaml`` runs ``ruff check`` on Python files and ``nbstripout`` on the
instructor sources, both from the project's environment (``repo: local``, ``language:
system``). The nbstripout hook's own command, run on a copy of every solution notebook,
leaves each byte for byte as committed: it keeps the cell ids and the nbgrader metadata.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess

import yaml
from conftest import ASSIGNMENTS, REPO, SOLUTIONS, notebook_path


def _config() -> dict:
    return yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text())


def _hooks() -> dict[str, dict]:
    return {hook["id"]: hook for repo in _config()["repos"] for hook in repo["hooks"]}


def _command(hook: dict) -> list[str]:
    return [*shlex.split(hook["entry"]), *hook.get("args", [])]


def test_pre_commit_runs_ruff_and_nbstripout_without_network():
    config = _config()
    assert [repo["repo"] for repo in config["repos"]] == ["local"]
    hooks = _hooks()
    assert {"ruff", "nbstripout"} <= set(hooks)
    assert all(hook["language"] == "system" for hook in hooks.values())

    ruff = hooks["ruff"]
    assert _command(ruff)[:2] == [".venv/bin/ruff", "check"]
    # files pre-commit passes by name obey ruff's own excludes (tests/honest_class, ...)
    assert "--force-exclude" in _command(ruff)
    assert "python" in ruff["types"]

    strip = hooks["nbstripout"]
    assert _command(strip)[0] == ".venv/bin/nbstripout"
    files = re.compile(strip["files"])
    assert all(files.search(str(notebook_path(SOLUTIONS, a).relative_to(REPO)))
               for a in ASSIGNMENTS)
    assert not files.search("notebooks/01_definition/01_definition.ipynb")


def test_the_nbstripout_hook_leaves_every_solution_notebook_unchanged(tmp_path):
    sources = [notebook_path(SOLUTIONS, a) for a in ASSIGNMENTS]
    copies = []
    for source in sources:
        copy = tmp_path / source.name
        shutil.copyfile(source, copy)
        copies.append(copy)
    done = subprocess.run([*_command(_hooks()["nbstripout"]), *map(str, copies)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    changed = [s.name for s, c in zip(sources, copies, strict=True)
               if c.read_bytes() != s.read_bytes()]
    assert changed == [], f"nbstripout changes {changed}: store them stripped (make release)"
