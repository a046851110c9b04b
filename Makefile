# The course's entry points. Every target bootstraps .venv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# nbgrader runs alembic (and kernels run python) from PATH
export PATH := $(CURDIR)/$(BIN):$(PATH)

SUBMISSIONS ?= submitted
OUT ?= grading_out

.PHONY: demo test lint lab release grade bench clean venv

venv: $(BIN)/.installed

$(BIN)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (set PYTHON=...)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: venv  ## build the release, grade the bundled sample class, print the scores
	$(BIN)/python -m autograder demo

test: venv  ## everything CI checks
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: venv
	$(BIN)/ruff check .

lab: venv  ## JupyterLab on the course, for a student
	$(BIN)/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root)

release: venv  ## regenerate notebooks/ from solutions/
	$(BIN)/python -m autograder release

grade: venv  ## grade SUBMISSIONS=<folder> into OUT=<folder>
	$(BIN)/python -m autograder grade $(SUBMISSIONS) --out $(OUT)

bench: venv  ## grader vs plain nbgrader, solution run times, self-check times
	$(BIN)/python benchmarks/grade_class.py
	$(BIN)/python benchmarks/solution_times.py
	$(BIN)/python benchmarks/selfcheck_time.py

clean:  ## remove generated working folders (keeps .venv)
	rm -rf demo_out grading_out .pytest_cache .ruff_cache .hypothesis gradebook.db \
	       autograded feedback submitted
	find . -name __pycache__ -not -path './.venv/*' -prune -exec rm -rf {} +
