"""How long a student's ``check(func)`` takes (target: <= 0.2 s per check).

    python benchmarks/selfcheck_time.py [EXERCISE ...]

Times ``kl_helpers.selfcheck.check`` on the reference functions (every case passes) and on
the sample class's wrong answers (the check diagnoses a mistake), averaged over 50 runs.
Names of exercises (``kl_terms fit_reverse``) time only those references.
"""

from __future__ import annotations

import contextlib
import io
import sys
import time

import numpy as np

from autograder.sample_class import MISTAKES
from kl_helpers.selfcheck import EXERCISES, check

TARGET_SECONDS = 0.2
RUNS = 50


def seconds_per_check(func, **options) -> float:
    # the wrong answers warn about log(0) and 0/0: that is their mistake, not news here
    with contextlib.redirect_stdout(io.StringIO()), np.errstate(all="ignore"):
        start = time.perf_counter()
        for _ in range(RUNS):
            with contextlib.suppress(AssertionError):  # a failed check is timed as well
                check(func, **options)
    return (time.perf_counter() - start) / RUNS


def main(names: list[str]) -> None:
    timings = []
    for name in names or EXERCISES:
        seconds = seconds_per_check(EXERCISES[name].reference, exercise=name, features="all")
        timings.append(seconds)
        print(f"{name:24s} reference, every feature   {seconds * 1e3:7.2f} ms")
    for student, answers in MISTAKES["01_definition"].items() if not names else ():
        namespace = {"np": np}
        exec(answers["kl_divergence"], namespace)  # the sample class's wrong answer
        seconds = seconds_per_check(namespace["kl_divergence"])
        timings.append(seconds)
        print(f"kl_divergence    {student:16s} (nb 01) {seconds * 1e3:7.2f} ms")
    slowest = max(timings)
    verdict = "met" if slowest <= TARGET_SECONDS else "NOT met"
    print(f"slowest check: {slowest * 1e3:.1f} ms "
          f"(target <= {TARGET_SECONDS * 1e3:.0f} ms: {verdict})")


if __name__ == "__main__":
    main(sys.argv[1:])
