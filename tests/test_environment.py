"""Packaging: pyproject, environment.yml and postBuild agree and install the course."""

from __future__ import annotations

import os
import re
import tomllib

import yaml
from conftest import REPO


def _pins(requirements):
    pins = {}
    for req in requirements:
        match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s;#]+)\s*", req)
        assert match, f"{req!r} is not pinned with =="
        pins[match.group(1).lower()] = match.group(2)
    return pins


def _pyproject():
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def test_runtime_dependencies_are_pinned_and_match_environment_yml():
    project_pins = _pins(_pyproject()["project"]["dependencies"])
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip_sections = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_sections) == 1, "environment.yml needs exactly one pip section"
    assert _pins(pip_sections[0]) == project_pins
    assert any(str(d).startswith("python=3.11") for d in env["dependencies"])


def test_known_compatible_jupyter_stack():
    pins = _pins(_pyproject()["project"]["dependencies"])
    assert pins["nbgrader"] == "0.9.6"
    assert pins["jupyterlab"].startswith("4.6.")
    assert pins["notebook"].startswith("7.6.")
    assert "torch" not in pins


def test_dev_extra_is_pinned():
    dev = _pins(_pyproject()["project"]["optional-dependencies"]["dev"])
    for tool in ("pytest", "hypothesis", "ruff", "nbstripout"):
        assert tool in dev


def test_postbuild_is_executable_and_strict():
    post = REPO / "postBuild"
    assert os.access(post, os.X_OK)
    lines = [line for line in post.read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert lines[0].startswith("set -e")


def test_no_binder_folder():
    # repo2docker would ignore the root environment.yml if binder/ existed
    assert not (REPO / "binder").exists()


def test_ci_runs_the_readme_test_command():
    assert "make test" in (REPO / ".ci" / "run").read_text()
    assert "make test" in (REPO / "README.md").read_text()


def test_readme_has_a_binder_badge_that_opens_the_notebooks_in_jupyterlab():
    text = (REPO / "README.md").read_text()
    assert re.search(r"\(https://mybinder\.org/v2/gh/[^)\s]+\?urlpath=lab/tree/notebooks\)", text)


def test_readme_has_an_nbgitpuller_link_template():
    text = (REPO / "README.md").read_text()
    assert re.search(r"/hub/user-redirect/git-pull\?repo=", text)


def _constraints() -> dict[str, str]:
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not pinned with =="
            pins[_normalized(name)] = version.strip()
    return pins


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_constraints_txt_has_every_pin_of_pyproject_at_its_version():
    project = _pyproject()["project"]
    pinned = _pins(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        pinned.update(_pins(extra))
    locked = _constraints()
    assert "kl-course" not in locked
    differ = {name: (version, locked.get(_normalized(name)))
              for name, version in pinned.items() if locked.get(_normalized(name)) != version}
    assert differ == {}, f"pyproject pin vs constraints.txt: {differ}"
