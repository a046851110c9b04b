"""nbgrader configuration for instructors working in this repository.

`nbgrader` commands and formgrader started from the repository root use the
course layout: source = solutions/, release = notebooks/. The other working
folders (submitted/, autograded/, feedback/) and gradebook.db are created here
and ignored by git. `python -m autograder` builds the same settings in code.

On JupyterHub (see the README, "JupyterHub: instructors"):

- course_id: "kl-divergence" (autograder.config.COURSE_ID). Students' nbgrader must
  use the same id (e.g. in /etc/jupyter/nbgrader_config.py of the user image), or the
  Assignments tab does not show this course.
- exchange: where release_assignment puts the student release and where students'
  submissions wait for `nbgrader collect`. nbgrader's default is
  /usr/local/share/nbgrader/exchange; on a hub, a folder on a disk every user server
  mounts (mode 1777), set below for instructors AND students; on Kubernetes, a shared
  ReadWriteMany volume mounted at that path, or ngshare instead of a folder.
- gradebook: SQLite gradebook.db here by default; set CourseDirectory.db_url to a
  postgresql+psycopg2:// URL to share the gradebook `python -m autograder grade --db`
  writes.
"""

from autograder.config import COURSE_ID, apply_grading_policy

c = get_config()  # noqa: F821 -- provided by nbgrader when it loads this file

c.CourseDirectory.course_id = COURSE_ID
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"
apply_grading_policy(c)

# The exchange on a shared disk (uncomment on a hub; the folder must exist, mode 1777):
# c.Exchange.root = "/srv/nbgrader/exchange"
# One exchange for several courses of the same hub:
# c.Exchange.path_includes_course = True
# The gradebook on a PostgreSQL server instead of ./gradebook.db:
# c.CourseDirectory.db_url = "postgresql+psycopg2://USER@HOST:5432/kl_gradebook"
