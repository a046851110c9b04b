"""JupyterHub for the course on one server, the way The Littlest JupyterHub serves a class.

Started by ``make hub`` (as root) after ``hub/install.sh`` has built the shared
environment in ``$KL_HUB_PREFIX`` (default ``/opt/kl-course``):

- every hub user is a **system user of their own** (created on first use, home mode 0700,
  member of the group ``kl-hub-users``) whose single-user server runs under their own
  uid (``LocalProcessSpawner``): students cannot read each other's files;
- **passwords are set on first login** (``FirstUseAuthenticator``); only users on the
  roster (``$KL_HUB_PREFIX/roster.txt``, or added by an instructor in the admin panel)
  may log in; instructors are the hub's admins;
- every server uses the course's environment (``$KL_HUB_PREFIX/venv``: kl_helpers,
  numpy, scipy, nbgrader, nbgitpuller...), the course id and the shared exchange
  (``$KL_HUB_PREFIX/exchange``, mode 1777) from ``$KL_HUB_PREFIX/etc/jupyter/common``;
- instructors get formgrader (``etc/jupyter/instructor``), students only the Assignments
  list and Validate (``etc/jupyter/student`` disables the rest of nbgrader's UI).

Settings come from the environment of the ``jupyterhub`` process (``make hub`` sets them):
``KL_HUB_PREFIX``, ``KL_HUB_IP`` (default all interfaces), ``KL_HUB_PORT`` (8000),
``KL_HUB_API_PORT`` (8081) and ``KL_HUB_PROXY_API_PORT`` (8001).
"""

import grp
import os
import pwd
import shutil
import subprocess

from firstuseauthenticator import FirstUseAuthenticator
from jupyterhub.auth import LocalAuthenticator

PREFIX = os.environ.get("KL_HUB_PREFIX", "/opt/kl-course")
STATE = os.path.join(PREFIX, "state")
GROUP = "kl-hub-users"  # the system accounts this hub created, and only those
# the hub may run with a PATH without sbin (a service manager's, say)
USERADD = shutil.which("useradd", path="/usr/sbin:/sbin:/usr/bin:/bin") or "useradd"


def read_roster(path: str) -> tuple[set[str], set[str]]:
    """``(instructors, students)`` from a roster file: ``instructor NAME`` or ``NAME`` per line."""
    instructors, students = set(), set()
    if os.path.exists(path):
        with open(path) as roster:
            for line in roster:
                words = line.split("#", 1)[0].split()
                if len(words) == 2 and words[0] == "instructor":
                    instructors.add(words[1])
                elif len(words) == 1:
                    students.add(words[0])
                elif words:
                    raise ValueError(f"{path}: cannot read the roster line {line.strip()!r}")
    return instructors, students


INSTRUCTORS, STUDENTS = read_roster(os.path.join(PREFIX, "roster.txt"))


class CourseAuthenticator(LocalAuthenticator, FirstUseAuthenticator):
    """First login sets the password; each hub user gets a system account of their own.

    An existing system account that this hub did not create (``root``, ``postgres``...)
    is never handed out: such a name is refused instead.
    """

    def system_user_exists(self, user):
        try:
            pwd.getpwnam(user.name)
        except KeyError:
            return False
        if user.name not in grp.getgrnam(GROUP).gr_mem:
            raise ValueError(f"{user.name!r} is a system account this hub did not create; "
                             "choose another user name")
        return True

    def add_system_user(self, user):
        subprocess.run([USERADD, "--create-home", "--user-group", "--groups", GROUP,
                        "--shell", "/bin/bash", user.name], check=True)
        os.chmod(pwd.getpwnam(user.name).pw_dir, 0o700)  # nobody else reads this home


c = get_config()  # noqa: F821 -- provided by jupyterhub when it loads this file

c.JupyterHub.bind_url = (f"http://{os.environ.get('KL_HUB_IP', '')}:"
                         f"{os.environ.get('KL_HUB_PORT', '8000')}")
c.JupyterHub.hub_port = int(os.environ.get("KL_HUB_API_PORT", "8081"))
c.JupyterHub.db_url = f"sqlite:///{STATE}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = os.path.join(STATE, "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = os.path.join(STATE, "jupyterhub.pid")
c.JupyterHub.cleanup_servers = True  # stopping the hub stops the students' servers

# the real configurable-http-proxy (npm), installed by hub/install.sh from hub/package-lock.json
c.ConfigurableHTTPProxy.command = [
    os.path.join(PREFIX, "proxy", "node_modules", ".bin", "configurable-http-proxy")]
c.ConfigurableHTTPProxy.api_url = (
    f"http://127.0.0.1:{os.environ.get('KL_HUB_PROXY_API_PORT', '8001')}")
c.ConfigurableHTTPProxy.pid_file = os.path.join(STATE, "proxy.pid")

c.JupyterHub.authenticator_class = CourseAuthenticator
c.CourseAuthenticator.create_system_users = True
c.FirstUseAuthenticator.create_users = False  # only the roster (and admin-added users)
c.FirstUseAuthenticator.dbm_path = os.path.join(STATE, "passwords.dbm")
c.FirstUseAuthenticator.min_password_length = 8
c.Authenticator.admin_users = INSTRUCTORS
c.Authenticator.allowed_users = INSTRUCTORS | STUDENTS

c.JupyterHub.spawner_class = "jupyterhub.spawner.LocalProcessSpawner"
c.Spawner.cmd = [os.path.join(PREFIX, "venv", "bin", "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
c.Spawner.http_timeout = 120
c.Spawner.start_timeout = 120


def course_environment(spawner):
    """The course's environment and nbgrader settings, by role, for every user's server."""
    role = "instructor" if spawner.user.name in INSTRUCTORS else "student"
    spawner.environment.update({
        "PATH": f"{PREFIX}/venv/bin:/usr/local/bin:/usr/bin:/bin",
        # the role's settings first, then the course's (course id, exchange)
        "JUPYTER_CONFIG_PATH": os.pathsep.join([f"{PREFIX}/etc/jupyter/{role}",
                                                f"{PREFIX}/etc/jupyter/common"]),
    })


c.Spawner.pre_spawn_hook = course_environment
