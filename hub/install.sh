#!/usr/bin/env bash
# Build (or update) everything the course's JupyterHub needs on this server, as root:
#
#   hub/install.sh PREFIX INSTRUCTOR
#
# - PREFIX/venv: the environment every user's server and kernel runs in: the course's
#   pinned packages, kl_helpers and the grader (installed from this checkout, NOT editable:
#   solutions/ stays here, readable only by whoever may read this checkout), JupyterHub,
#   the first-use authenticator and nbgitpuller. Built from Debian's /usr/bin/python3
#   (world-readable, unlike a Python under /root), as The Littlest JupyterHub does.
# - PREFIX/proxy: configurable-http-proxy from npm, exactly as hub/package-lock.json pins it.
# - PREFIX/exchange: nbgrader's exchange, shared by all, mode 1777.
# - PREFIX/etc/jupyter/{common,student,instructor}: course id and exchange for everyone;
#   formgrader for instructors; Assignments and Validate only for students.
# - PREFIX/state: the hub's database, cookie secret and passwords (root only).
# - PREFIX/roster.txt: who may log in (the instructor line is written here).
# - the group kl-hub-users, and INSTRUCTOR's account with the course in ~/course.
#
# Idempotent: a second run updates the environment only when pyproject.toml changed.
set -euo pipefail

PREFIX=${1:?usage: hub/install.sh PREFIX INSTRUCTOR}
INSTRUCTOR=${2:?usage: hub/install.sh PREFIX INSTRUCTOR}
REPO=$(cd "$(dirname "$0")/.." && pwd)
GROUP=kl-hub-users

if [ "$(id -u)" != 0 ]; then
  echo "hub/install.sh must run as root (it creates system users and $PREFIX)" >&2
  exit 1
fi
if ! [[ "$INSTRUCTOR" =~ ^[a-z][a-z0-9_-]{0,30}$ ]]; then
  echo "instructor name '$INSTRUCTOR': use lower-case letters, digits, - and _" >&2
  exit 1
fi
missing=()
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import ensurepip, venv' 2>/dev/null \
  || missing+=(python3 python3-venv)
command -v npm >/dev/null || missing+=(nodejs npm)
command -v git >/dev/null || missing+=(git)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

umask 022
mkdir -p "$PREFIX"
chmod 755 "$PREFIX"

# the environment of every user's server: rebuilt when the course's pins change, and its
# copy of the course's packages renewed when their code changes (students import
# kl_helpers from this copy: it must not lag behind the checkout)
pins_stamp="$PREFIX/venv/.kl-course-installed"
code_stamp="$PREFIX/venv/.kl-course-code"
pins=$(cat "$REPO/pyproject.toml" "$REPO/constraints.txt" | sha256sum | cut -d' ' -f1)
# (their modules and the feedback page's template, which is package data)
code=$(cd "$REPO" && find kl_helpers autograder -type f \( -name '*.py' -o -path '*/templates/*' \) \
       | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1)
if [ ! -f "$pins_stamp" ] || [ "$(cat "$pins_stamp")" != "$pins" ]; then
  rm -rf "$PREFIX/venv"
  /usr/bin/python3 -m venv "$PREFIX/venv"
  "$PREFIX/venv/bin/python" -m pip install --quiet --upgrade pip
  # a copy of the course's packages (kl_helpers, autograder), not a link to this checkout
  "$PREFIX/venv/bin/python" -m pip install --quiet -c "$REPO/constraints.txt" "$REPO[hub]"
  echo "$pins" > "$pins_stamp"
  echo "$code" > "$code_stamp"
elif [ ! -f "$code_stamp" ] || [ "$(cat "$code_stamp")" != "$code" ]; then
  "$PREFIX/venv/bin/python" -m pip install --quiet --no-deps --force-reinstall "$REPO"
  echo "$code" > "$code_stamp"
fi
# JupyterLab defaults for everyone: no news pop-up, no update check (a class needs neither)
mkdir -p "$PREFIX/venv/share/jupyter/lab/settings"
echo '{"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": false}}' \
  > "$PREFIX/venv/share/jupyter/lab/settings/overrides.json"
chmod -R a+rX "$PREFIX/venv"

# the proxy, from the npm registry, as pinned by the lock file (again only when it changed)
mkdir -p "$PREFIX/proxy"
if ! cmp -s "$REPO/hub/package-lock.json" "$PREFIX/proxy/.installed-lock.json" \
   || [ ! -x "$PREFIX/proxy/node_modules/.bin/configurable-http-proxy" ]; then
  cp "$REPO/hub/package.json" "$REPO/hub/package-lock.json" "$PREFIX/proxy/"
  (cd "$PREFIX/proxy" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$REPO/hub/package-lock.json" "$PREFIX/proxy/.installed-lock.json"
fi

# nbgrader's exchange: everyone writes, nobody deletes another's files
mkdir -p "$PREFIX/exchange"
chmod 1777 "$PREFIX/exchange"

# settings of every user's server, by role
mkdir -p "$PREFIX/etc/jupyter"
cp -r "$REPO/hub/etc/jupyter/." "$PREFIX/etc/jupyter/"
cat > "$PREFIX/etc/jupyter/common/nbgrader_config.py" <<EOF
# Written by hub/install.sh: the course id and exchange every user's nbgrader uses
c = get_config()  # noqa: F821
c.CourseDirectory.course_id = "kl-divergence"
c.Exchange.root = "$PREFIX/exchange"
EOF
chmod -R a+rX "$PREFIX/etc"

mkdir -p "$PREFIX/state"
chmod 700 "$PREFIX/state"

# the accounts: the group marks the ones this hub created (and may hand out)
groupadd --force "$GROUP"
if ! id "$INSTRUCTOR" >/dev/null 2>&1; then
  useradd --create-home --user-group --groups "$GROUP" --shell /bin/bash "$INSTRUCTOR"
elif ! id -nG "$INSTRUCTOR" | tr ' ' '\n' | grep -qx "$GROUP"; then
  echo "'$INSTRUCTOR' is an existing system account this hub did not create" >&2
  exit 1
fi
home=$(getent passwd "$INSTRUCTOR" | cut -d: -f6)
chmod 700 "$home"
touch "$PREFIX/roster.txt"
grep -qx "instructor $INSTRUCTOR" "$PREFIX/roster.txt" \
  || echo "instructor $INSTRUCTOR" >> "$PREFIX/roster.txt"

# the course, in the instructor's home: source, release, and the nbgrader settings that
# tie collect, the grader's output and formgrader together (see the README)
"$PREFIX/venv/bin/python" -m autograder hub-course "$home/course" --owner "$INSTRUCTOR" \
  --source "$REPO/solutions" --release "$REPO/notebooks"

echo "hub installed in $PREFIX; instructor: $INSTRUCTOR (password set at first login)"
