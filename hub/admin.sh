#!/usr/bin/env bash
# The instructor's round trip on the course's JupyterHub, as root (make hub-* calls these):
#
#   hub/admin.sh add-student PREFIX NAME            # NAME may log in (at the next hub start)
#   hub/admin.sh release PREFIX INSTRUCTOR ASSIGNMENT   # students can fetch ASSIGNMENT
#   hub/admin.sh grade PREFIX INSTRUCTOR ASSIGNMENT # collect, grade (sandboxed), hand over
#   hub/admin.sh export PREFIX INSTRUCTOR           # grades.csv, nbgrader's CSV, LMS CSV
#   hub/admin.sh feedback PREFIX INSTRUCTOR ASSIGNMENT  # feedback again, released to students
#
# nbgrader's own steps (collect, export, release_feedback) run as the instructor, with the
# settings their hub server has; the grader runs as root so that it can sandbox student
# code (bubblewrap, a uid per worker), from this checkout's .venv; its output then
# belongs to the instructor, whose formgrader grades the written answers in it.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
command=${1:-}
PREFIX=${2:?usage: see the top of hub/admin.sh}

as_instructor() {  # as_instructor NAME COMMAND...: in NAME's home, with the hub's settings
  local name=$1
  shift
  local home
  home=$(getent passwd "$name" | cut -d: -f6)
  runuser -u "$name" -- env -i HOME="$home" USER="$name" LANG=C.UTF-8 \
    PATH="$PREFIX/venv/bin:/usr/bin:/bin" \
    JUPYTER_CONFIG_PATH="$PREFIX/etc/jupyter/instructor:$PREFIX/etc/jupyter/common" \
    bash -c 'cd "$HOME" && "$@"' -- "$@"
}

course_of() {
  echo "$(getent passwd "$1" | cut -d: -f6)/course"
}

case "$command" in
  add-student)
    name=${3:?usage: hub/admin.sh add-student PREFIX NAME}
    if ! [[ "$name" =~ ^[a-z][a-z0-9_-]{0,30}$ ]]; then
      echo "student name '$name': use lower-case letters, digits, - and _" >&2
      exit 1
    fi
    grep -qx "$name" "$PREFIX/roster.txt" || echo "$name" >> "$PREFIX/roster.txt"
    echo "$name is on the roster: restart the hub, or add $name in its admin panel now"
    ;;
  release)
    instructor=${3:?usage: hub/admin.sh release PREFIX INSTRUCTOR ASSIGNMENT}
    assignment=${4:?usage: hub/admin.sh release PREFIX INSTRUCTOR ASSIGNMENT}
    as_instructor "$instructor" nbgrader release_assignment "$assignment"
    ;;
  grade)
    instructor=${3:?usage: hub/admin.sh grade PREFIX INSTRUCTOR ASSIGNMENT}
    assignment=${4:?usage: hub/admin.sh grade PREFIX INSTRUCTOR ASSIGNMENT}
    course=$(course_of "$instructor")
    as_instructor "$instructor" nbgrader collect "$assignment" --update
    "$REPO/.venv/bin/python" -m autograder grade "$course/submitted" --out "$course/graded" \
      --assignment "$assignment" --course "$course"
    chown -R "$instructor:" "$course/graded"
    ;;
  export)
    instructor=${3:?usage: hub/admin.sh export PREFIX INSTRUCTOR}
    course=$(course_of "$instructor")
    "$REPO/.venv/bin/python" -m autograder export "$course/graded"
    "$REPO/.venv/bin/python" -m autograder report "$course/graded"
    chown -R "$instructor:" "$course/graded"
    # nbgrader's own export, next to ours: graded/nbgrader_grades.csv
    as_instructor "$instructor" nbgrader export --to "$course/graded/nbgrader_grades.csv"
    ;;
  feedback)
    instructor=${3:?usage: hub/admin.sh feedback PREFIX INSTRUCTOR ASSIGNMENT}
    assignment=${4:?usage: hub/admin.sh feedback PREFIX INSTRUCTOR ASSIGNMENT}
    course=$(course_of "$instructor")
    "$REPO/.venv/bin/python" -m autograder feedback "$course/graded" --assignment "$assignment"
    chown -R "$instructor:" "$course/graded"
    as_instructor "$instructor" nbgrader release_feedback "$assignment"
    ;;
  *)
    echo "usage: hub/admin.sh {add-student|release|grade|export|feedback} PREFIX ..." >&2
    exit 2
    ;;
esac
