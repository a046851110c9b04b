"""Grading tools of the course: a thin layer over nbgrader (see README, "For instructors").

Importing this package changes no other library: the grader's speed-ups are installed
by one explicit call, ``autograder.patches.install()``, made by its entry points.
"""
