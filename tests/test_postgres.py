"""The gradebook on a real PostgreSQL server gives the same grades as the SQLite default.

A throwaway PostgreSQL cluster (Debian's ``postgresql`` package) is started on a
free port of 127.0.0.1 with its data folder and Unix socket in a temporary folder,
and stopped at the end of the session. PostgreSQL refuses to run as root: as root
the cluster belongs to the ``postgres`` user (``runuser``). ``.ci/run`` installs
the package; here it is installed with apt-get when missing and we are root, and
the test is skipped (with the reason) only when it is missing and we are not root.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import nbformat
import pytest
import sqlalchemy
from conftest import (
    SOLUTIONS,
    ensure_debian_package,
    free_port,
    notebook_path,
    read_csv,
    read_notebook,
)

from autograder.__main__ import main
from autograder.config import COURSE_ID, CoursePaths
from autograder.release import generate_assignments
from autograder.sample_class import BLANK, BROKEN, FULL, MISSING, MISTAKES, fill_release

ASSIGNMENT = "01_definition"  # the model notebook: the other assignments may be in progress
DB_NAME = "kl_gradebook"


def _postgres_bin() -> Path | None:
    """The newest installed PostgreSQL's bin folder (Debian keeps it off PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                   key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path else None


def _ensure_postgres() -> Path:
    """The bin folder of PostgreSQL, installed with apt-get when missing and we are root."""
    return ensure_debian_package("postgresql", _postgres_bin)


@contextlib.contextmanager
def running_postgres(bindir: Path):
    """Start a private PostgreSQL cluster; yield the SQLAlchemy URL of an empty database."""
    import psycopg2

    as_root = os.geteuid() == 0
    # the cluster must be reachable by the postgres user: not under pytest's 0700 tmp
    # folder; a short path also keeps the Unix socket path under its length limit
    base = Path(tempfile.mkdtemp(prefix="kl-pg-"))
    data, sockets, log = base / "data", base / "sockets", base / "server.log"
    sockets.mkdir()
    run_as = ["runuser", "-u", "postgres", "--"] if as_root else []
    if as_root:
        shutil.chown(base, "postgres")
        shutil.chown(sockets, "postgres")
    started = False
    try:
        subprocess.run([*run_as, str(bindir / "initdb"), "-D", str(data), "-U", "postgres",
                        "--auth=trust", "--encoding=UTF8", "--no-sync", "--no-instructions"],
                       check=True, capture_output=True, text=True, timeout=120)
        port = free_port()
        options = (f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off")
        start = subprocess.run([*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log),
                                "-o", options, "-w", "-t", "60", "start"],
                               capture_output=True, text=True, timeout=90)
        started = True
        assert start.returncode == 0, (
            f"PostgreSQL did not start:\n{start.stdout}\n{start.stderr}\n"
            f"{log.read_text() if log.exists() else ''}")
        admin = psycopg2.connect(host="127.0.0.1", port=port, user="postgres",
                                 dbname="postgres")
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {DB_NAME}")
        admin.close()
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/{DB_NAME}"
    finally:
        if started:
            subprocess.run([*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                            "-w", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url():
    """A SQLAlchemy URL of an empty database on a private, throwaway PostgreSQL server."""
    with running_postgres(_ensure_postgres()) as url:
        yield url


@pytest.fixture(scope="module")
def small_class(tmp_path_factory):
    """Six students of the sample class on the model assignment only (keeps the test fast)."""
    root = tmp_path_factory.mktemp("pg_class")
    (root / "work").mkdir()
    paths = CoursePaths.for_repo(root / "work", release=root / "release")
    generate_assignments(paths, [ASSIGNMENT])
    name = f"{ASSIGNMENT}.ipynb"
    release_nb = read_notebook(root / "release" / ASSIGNMENT / name)
    source_nb = read_notebook(notebook_path(SOLUTIONS, ASSIGNMENT))
    students = {FULL: fill_release(release_nb, source_nb), BLANK: release_nb}
    for student, answers in MISTAKES[ASSIGNMENT].items():
        students[student] = fill_release(release_nb, source_nb, answers)
    submissions = root / "submissions"
    for student, notebook in students.items():
        (submissions / student / ASSIGNMENT).mkdir(parents=True)
        nbformat.write(notebook, submissions / student / ASSIGNMENT / name)
    text = nbformat.writes(students[FULL])
    (submissions / BROKEN / ASSIGNMENT).mkdir(parents=True)
    (submissions / BROKEN / ASSIGNMENT / name).write_text(text[: len(text) // 2])
    (submissions / MISSING / ASSIGNMENT).mkdir(parents=True)
    (submissions / MISSING / ASSIGNMENT / "notes.txt").write_text("I ran out of time.\n")
    return root, submissions


def _grade(submissions: Path, out: Path, *extra: str) -> float:
    began = time.monotonic()
    assert main(["grade", str(submissions), "--out", str(out), "--assignment", ASSIGNMENT,
                 "--workers", "2", *extra]) == 0
    return time.monotonic() - began


def test_postgresql_gradebook_matches_sqlite(small_class, postgres_url):
    from nbgrader.api import Gradebook

    root, submissions = small_class
    sqlite_out, pg_out = root / "out_sqlite", root / "out_postgres"
    sqlite_s = _grade(submissions, sqlite_out)
    pg_s = _grade(submissions, pg_out, "--db", postgres_url)
    print(f"grading {ASSIGNMENT} for {len(list(submissions.iterdir()))} students: "
          f"SQLite {sqlite_s:.1f} s, PostgreSQL {pg_s:.1f} s")

    # the PostgreSQL run wrote no SQLite gradebook: the grades came from the server
    assert (sqlite_out / "nbgrader" / "gradebook.db").is_file()
    assert not (pg_out / "nbgrader" / "gradebook.db").exists()

    grades = read_csv(pg_out / "grades.csv")
    assert grades == read_csv(sqlite_out / "grades.csv")
    assert read_csv(pg_out / "tests.csv") == read_csv(sqlite_out / "tests.csv")
    status = {row["student_id"]: row["status"] for row in grades}
    assert status == {FULL: "graded", BLANK: "graded", BROKEN: "invalid", MISSING: "missing",
                      **dict.fromkeys(MISTAKES[ASSIGNMENT], "graded")}
    score = {row["student_id"]: float(row["score"]) for row in grades}
    assert score[BLANK] == 0 < score["swapped_pq"] < score[FULL]

    # and the server holds them: every student created up front, one submission each graded
    with Gradebook(postgres_url, COURSE_ID) as gb:
        assert {s.id for s in gb.students} == set(status)
        on_server = {s.student.id: float(s.score)
                     for s in gb.find_assignment(ASSIGNMENT).submissions}
    assert on_server == {s: score[s] for s in status if status[s] == "graded"}

    # a regrade into the same database updates the rows already there, not adds to them
    again = root / "regrade"
    for student in (FULL, "swapped_pq"):
        shutil.copytree(submissions / student, again / student)
    _grade(again, root / "out_postgres_again", "--db", postgres_url)
    assert read_csv(root / "out_postgres_again" / "grades.csv") == [
        row for row in grades if row["student_id"] in (FULL, "swapped_pq")]
    with Gradebook(postgres_url, COURSE_ID) as gb:
        assert len(gb.find_assignment(ASSIGNMENT).submissions) == len(on_server)
        assert len(gb.students) == len(status)


def test_sqlite_url_options_never_reach_postgresql(postgres_url):
    """``?timeout=60`` is a SQLite connect option: psycopg2 would reject it."""
    from autograder.config import nbgrader_config

    paths = CoursePaths.for_repo(Path(tempfile.gettempdir()))
    url = nbgrader_config(paths, db_url=postgres_url).CourseDirectory.db_url
    assert url == postgres_url
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("select 1").scalar() == 1
    finally:
        engine.dispose()
