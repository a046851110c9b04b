# The course's entry points. Every target bootstraps .venv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# nbgrader runs alembic (and kernels run python) from PATH
export PATH := $(CURDIR)/$(BIN):$(PATH)

SUBMISSIONS ?= submitted
OUT ?= grading_out
# the class on one server (README, "Teach with it on one server"); the hub-* targets run as root
HUB_PREFIX ?= /opt/kl-course
INSTRUCTOR ?= instructor
HUB_PORT ?= 8000

.PHONY: demo test test-fast lint lab release grade bench clean venv hub hub-install \
        hub-student hub-release hub-grade hub-export hub-feedback

venv: $(BIN)/.installed

# constraints.txt pins every transitive dependency (its header says how to regenerate it)
$(BIN)/.installed: pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (set PYTHON=...)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

demo: venv  ## build the release, grade the bundled sample class, print the scores
	$(BIN)/python -m autograder demo

test: venv  ## everything CI checks
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

test-fast: venv  ## ruff and the unit tests only (pytest -m unit): the edit-test loop
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -m unit

lint: venv
	$(BIN)/ruff check .

lab: venv  ## JupyterLab on the course, for a student
	$(BIN)/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root)

release: venv  ## regenerate notebooks/ from solutions/
	$(BIN)/python -m autograder release

grade: venv  ## grade SUBMISSIONS=<folder> into OUT=<folder>
	$(BIN)/python -m autograder grade $(SUBMISSIONS) --out $(OUT)

bench: venv  ## grader vs plain nbgrader, solution run times, self-check times, kl_helpers vs scipy
	$(BIN)/python benchmarks/grade_class.py
	$(BIN)/python benchmarks/solution_times.py
	$(BIN)/python benchmarks/selfcheck_time.py
	$(BIN)/python benchmarks/kl_helpers_speed.py

hub-install: venv  ## (root) the hub's environment, proxy, exchange and the instructor's course
	bash hub/install.sh $(HUB_PREFIX) $(INSTRUCTOR)

hub: hub-install  ## (root) serve the class with JupyterHub on port HUB_PORT (Ctrl-C stops it)
	KL_HUB_PREFIX=$(HUB_PREFIX) KL_HUB_PORT=$(HUB_PORT) \
	  $(HUB_PREFIX)/venv/bin/jupyterhub -f hub/jupyterhub_config.py

hub-student:  ## (root) put NAME on the roster: NAME logs in and sets a password
	bash hub/admin.sh add-student $(HUB_PREFIX) $(NAME)

hub-release:  ## (root) release ASSIGNMENT: students fetch it in their Assignments list
	bash hub/admin.sh release $(HUB_PREFIX) $(INSTRUCTOR) $(ASSIGNMENT)

hub-grade: venv  ## (root) collect ASSIGNMENT, grade it (sandboxed), hand it to the instructor
	bash hub/admin.sh grade $(HUB_PREFIX) $(INSTRUCTOR) $(ASSIGNMENT)

hub-export: venv  ## (root) grades.csv, nbgrader's CSV and the LMS CSV, manual grades included
	bash hub/admin.sh export $(HUB_PREFIX) $(INSTRUCTOR)

hub-feedback: venv  ## (root) render ASSIGNMENT's feedback again and release it to the students
	bash hub/admin.sh feedback $(HUB_PREFIX) $(INSTRUCTOR) $(ASSIGNMENT)

clean:  ## remove generated working folders (keeps .venv)
	rm -rf demo_out grading_out .pytest_cache .ruff_cache .hypothesis gradebook.db \
	       autograded feedback submitted
	find . -name __pycache__ -not -path './.venv/*' -prune -exec rm -rf {} +
