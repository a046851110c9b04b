"""The same grading runs on a Dask distributed cluster (here a LocalCluster)."""

from __future__ import annotations

import pytest
from conftest import ASSIGNMENTS, read_csv

from autograder.__main__ import main


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    # one thread per worker process: a worker grades one notebook at a time
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as local:
        yield local


def test_dask_cluster_grades_like_the_local_pool(cluster, graded_class, tmp_path):
    submissions = graded_class["submissions"]
    out = tmp_path / "dask"
    # two assignments of the whole class: every kind of student, in a fraction of the time
    compared = ASSIGNMENTS[:2]
    selection = [arg for assignment in compared for arg in ("--assignment", assignment)]
    assert main(["grade", str(submissions), "--out", str(out), "--scheduler",
                 cluster.scheduler_address, *selection]) == 0

    def strip(rows):
        return sorted(tuple(r.values()) for r in rows if r["assignment"] in compared)

    assert strip(read_csv(out / "grades.csv")) == strip(graded_class["grades"])
    assert strip(read_csv(out / "tests.csv")) == strip(graded_class["tests"])


def test_unreachable_scheduler_is_a_clear_error(graded_class, tmp_path, capsys):
    code = main(["grade", str(graded_class["submissions"]), "--out", str(tmp_path / "x"),
                 "--scheduler", "tcp://127.0.0.1:9"])
    assert code == 2
    assert "cannot reach the Dask scheduler" in capsys.readouterr().err
