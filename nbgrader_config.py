"""nbgrader configuration for instructors working in this repository.

`nbgrader` commands and formgrader started from the repository root use the
course layout: source = solutions/, release = notebooks/. The other working
folders (submitted/, autograded/, feedback/) and gradebook.db are created here
and ignored by git. `python -m autograder` builds the same settings in code.
"""

from autograder.config import COURSE_ID, apply_grading_policy

c = get_config()  # noqa: F821 -- provided by nbgrader when it loads this file

c.CourseDirectory.course_id = COURSE_ID
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"
apply_grading_policy(c)
