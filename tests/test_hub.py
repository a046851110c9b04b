"""The classroom on a real JupyterHub, end to end, through the hub's own login page.

``hub/install.sh`` builds the hub's environment (in ``/opt/kl-course-test``, so that a
real installation in ``/opt/kl-course`` is never touched) and the hub starts from the
committed ``hub/jupyterhub_config.py``, behind the real configurable-http-proxy, with
its real authenticator (first login sets the password) and one system account per user.
Playwright drives Debian's Chromium:

1. the instructor releases ``01_definition`` (``hub/admin.sh release``);
2. two students log in, fetch it in the Assignments list, one completes it correctly and
   one with swapped arguments, both press Validate and Submit;
3. the instructor collects and grades (``hub/admin.sh grade``: sandboxed, as root), scores
   the show-your-work cell in formgrader's Manual Grading, exports (our CSVs, nbgrader's
   CSV, the LMS CSV: all carry that score) and releases the feedback;
4. each student fetches their feedback and reads their own page, without hidden tests;
5. no student can read another's home, the instructor's course or the exchange's inbox;
6. an nbgitpuller link clones the student release into a home and, after an upstream
   commit, pulls it without overwriting the student's own edit.

Screenshots go to ``test-artifacts/hub/``. Every account, process and file the test
creates is removed afterwards; the hub's environment is kept as an install cache.
"""

from __future__ import annotations

import contextlib
import csv
import grp
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import nbformat
import pytest
from conftest import REPO, SOLUTIONS, ensure_debian_package, free_port, wait_until_serving

from autograder.release import write_student_repo
from autograder.sample_class import MISTAKES, fill_release

PREFIX = Path("/opt/kl-course-test")
INSTRUCTOR = "klinstr"
CORRECT, MISTAKEN = "klstud1", "klstud2"
USERS = (INSTRUCTOR, CORRECT, MISTAKEN)
ASSIGNMENT, WRITTEN = "01_definition", "ex1_show_work"
ARTIFACTS = Path(os.environ.get("KL_TEST_ARTIFACTS", REPO / "test-artifacts")) / "hub"
TIMEOUT_MS = 120_000


def password(user: str) -> str:
    return f"correct-horse-{user}"


def home(user: str) -> Path:
    return Path(pwd.getpwnam(user).pw_dir)


def _exists(user: str) -> bool:
    try:
        pwd.getpwnam(user)
    except KeyError:
        return False
    return True


def _remove_test_accounts() -> None:
    """Every account the test made, with its processes and home (retried: userdel refuses
    while a process of the user is still exiting)."""
    for user in USERS:
        deadline = time.monotonic() + 20
        while _exists(user):
            subprocess.run(["pkill", "-KILL", "-u", user], check=False)
            subprocess.run(["userdel", "--remove", user], check=False, capture_output=True)
            assert time.monotonic() < deadline, f"cannot remove the test account {user}"
            time.sleep(0.2)
    with contextlib.suppress(KeyError):
        if not grp.getgrnam("kl-hub-users").gr_mem:
            subprocess.run(["groupdel", "kl-hub-users"], check=False)


def _stop_leftover_proxy() -> None:
    """A hub that crashes leaves its proxy running (in a session of its own): stop it."""
    with contextlib.suppress(OSError, ValueError):
        pid = int((PREFIX / "state" / "proxy.pid").read_text())
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
        if b"configurable-http-proxy" in command:
            os.kill(pid, signal.SIGTERM)


def _forget_state() -> None:
    """Everything of a previous run but the environment and the proxy (the install cache)."""
    _stop_leftover_proxy()
    for name in ("state", "exchange", "roster.txt", "etc", "upstream"):
        path = PREFIX / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def _require_root() -> None:
    if os.geteuid() != 0:
        assert not os.environ.get("CI"), "CI runs as root: the hub test must run there"
        pytest.skip("the hub test creates system accounts: run it as root")


@pytest.fixture(scope="module")
def hub():
    _require_root()
    ensure_debian_package("bubblewrap", lambda: shutil.which("bwrap"))
    ensure_debian_package("npm", lambda: shutil.which("npm"))
    _remove_test_accounts()
    _forget_state()
    subprocess.run(["bash", str(REPO / "hub" / "install.sh"), str(PREFIX), INSTRUCTOR],
                   check=True, timeout=1200)
    (PREFIX / "roster.txt").write_text(f"instructor {INSTRUCTOR}\n{CORRECT}\n{MISTAKEN}\n")
    port, api_port, proxy_port = free_port(), free_port(), free_port()
    # no sbin on PATH, as under a service manager: the config must cope
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "KL_HUB_PREFIX": str(PREFIX),
           "KL_HUB_IP": "127.0.0.1", "KL_HUB_PORT": str(port),
           "KL_HUB_API_PORT": str(api_port), "KL_HUB_PROXY_API_PORT": str(proxy_port)}
    log_path = PREFIX / "state" / "hub.log"
    log = open(log_path, "w")  # noqa: SIM115 -- closed in the finalizer
    server = subprocess.Popen(
        [str(PREFIX / "venv" / "bin" / "jupyterhub"), "-f",
         str(REPO / "hub" / "jupyterhub_config.py")],
        cwd=PREFIX / "state", env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(f"{url}/hub/health", server, log_path, "the hub")
        yield {"url": url, "log": log_path, "ports": (port, api_port, proxy_port)}
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)  # the hub stops its users' servers
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)
        log.close()
        if ARTIFACTS.is_dir():
            shutil.copy(log_path, ARTIFACTS / "hub.log")
        _remove_test_accounts()
        _forget_state()


@pytest.fixture(scope="module")
def browser():
    chromium = ensure_debian_package("chromium", lambda: Path("/usr/bin/chromium")
                                     if Path("/usr/bin/chromium").exists() else None)
    from playwright.sync_api import sync_playwright

    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(chromium), headless=True,
            args=["--no-sandbox", "--disable-background-networking", "--disable-dev-shm-usage"])
        try:
            yield launched
        finally:
            launched.close()


class Session:
    """One user's browser session on the hub (a context of its own: its own cookies)."""

    def __init__(self, browser, hub, user: str) -> None:
        self.hub, self.user = hub, user
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000})
        self.context.set_default_timeout(TIMEOUT_MS)
        self.page = self.context.new_page()

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"))

    def login(self) -> None:
        page = self.page
        page.goto(f"{self.hub['url']}/hub/login")
        page.fill("#username_input", self.user)
        page.fill("#password_input", password(self.user))
        page.click("#login_submit")
        page.wait_for_url(f"**/user/{self.user}/lab**", timeout=TIMEOUT_MS)
        page.locator(".lm-MenuBar-item", has_text="Nbgrader").wait_for()

    def lab_url(self, path: str = "") -> str:
        return f"{self.hub['url']}/user/{self.user}/{path}"

    def assignment_list(self):
        self.page.goto(self.lab_url("lab"))
        self.page.locator(".lm-MenuBar-item", has_text="Nbgrader").click()
        self.page.get_by_role("menuitem", name="Assignment List").click()
        return self.page.locator("#released_assignments_list")

    def close(self) -> None:
        self.context.close()


def run_admin(*args: str) -> None:
    subprocess.run(["bash", str(REPO / "hub" / "admin.sh"), args[0], str(PREFIX), *args[1:]],
                   check=True, timeout=900)


def write_as(user: str, path: Path, text: str) -> None:
    path.write_text(text)
    account = pwd.getpwnam(user)
    os.chown(path, account.pw_uid, account.pw_gid)


def _answers(release_path: Path, mistake: bool) -> str:
    release = nbformat.read(release_path, as_version=4)
    source = nbformat.read(SOLUTIONS / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    answers = MISTAKES[ASSIGNMENT]["swapped_pq"] if mistake else {}
    return nbformat.writes(fill_release(release, source, answers))


def _validate(session: Session):
    page = session.page
    page.goto(session.lab_url(f"lab/tree/{ASSIGNMENT}/{ASSIGNMENT}.ipynb"))
    page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for()
    page.locator(".jp-StatusBar-Widget").get_by_text("| Idle").first.wait_for()
    page.locator(".validate-button button, button.validate-button").first.click()
    dialog = page.locator(".jp-Dialog").filter(has_text="Validation Results")
    dialog.wait_for(timeout=TIMEOUT_MS)
    return dialog


def _hidden_test_lines() -> list[str]:
    """Distinctive lines of the source's hidden tests, which no feedback page may show."""
    source = nbformat.read(SOLUTIONS / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    lines = []
    for cell in source.cells:
        for block in re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS",
                                cell.source, re.S):
            lines += [line.strip() for line in block.splitlines() if len(line.strip()) > 30]
    assert lines
    return lines


def _csv_row(path: Path, **match) -> dict:
    with open(path, newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if all(r.get(k) == v for k, v in match.items())]
    assert len(rows) == 1, (path, match, rows)
    return rows[0]


def test_the_classroom_round_trip(hub, browser):
    started = time.monotonic()
    sessions = {user: Session(browser, hub, user) for user in USERS}
    try:
        _round_trip(hub, sessions)
    except BaseException:
        for user, session in sessions.items():
            session.shot(f"failure-{user}")
        print(f"hub log:\n{hub['log'].read_text()[-4000:]}")
        raise
    finally:
        for session in sessions.values():
            session.close()
    print(f"\nclassroom round trip: {time.monotonic() - started:.0f} s; screenshots in "
          f"{ARTIFACTS}: {sorted(p.name for p in ARTIFACTS.glob('*.png'))}")


def _round_trip(hub, sessions):
    instructor = sessions[INSTRUCTOR]
    # 1. the instructor releases the assignment
    run_admin("release", INSTRUCTOR, ASSIGNMENT)

    # 2. each student fetches it, completes it, validates and submits
    for number, student in enumerate((CORRECT, MISTAKEN), start=1):
        session = sessions[student]
        session.login()
        released = session.assignment_list()
        released.get_by_text(ASSIGNMENT).first.wait_for()
        session.shot(f"{number}a-{student}-assignment-list")
        # students get the Assignments list and Validate, not formgrader
        assert session.page.request.get(session.lab_url("formgrader")).status == 404
        session.page.locator(".lm-MenuBar-item", has_text="Nbgrader").click()
        menu = session.page.locator(".lm-Menu-content").last.inner_text()
        assert "Assignment List" in menu and "Formgrader" not in menu, menu
        session.page.keyboard.press("Escape")
        released.get_by_role("button", name="Fetch").click()
        fetched = session.page.locator("#fetched_assignments_list")
        fetched.get_by_text(ASSIGNMENT).first.wait_for()
        notebook = home(student) / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
        assert notebook.is_file()
        write_as(student, notebook, _answers(notebook, mistake=student == MISTAKEN))
        dialog = _validate(session)
        session.shot(f"{number}b-{student}-validate")
        report = dialog.inner_text()
        if student == CORRECT:
            assert "Success! Your notebook passes all the tests." in report, report[:2000]
        else:
            assert dialog.locator(".validation-failed").count() == 1, report[:2000]
        dialog.locator(".jp-mod-accept").click()
        session.assignment_list()
        fetched = session.page.locator("#fetched_assignments_list")
        fetched.get_by_role("button", name="Submit").first.click()
        submitted = session.page.locator("#submitted_assignments_list")
        submitted.get_by_text(ASSIGNMENT).first.wait_for()
        session.shot(f"{number}c-{student}-submitted")

    # 3. collect and grade (sandboxed, as root); the written answer awaits a person
    run_admin("grade", INSTRUCTOR, ASSIGNMENT)
    graded = home(INSTRUCTOR) / "course" / "graded"
    before = {s: float(_csv_row(graded / "grades.csv", student_id=s)["score"])
              for s in (CORRECT, MISTAKEN)}
    assert _csv_row(graded / "grades.csv", student_id=CORRECT)["status"] == "graded"
    assert before[CORRECT] > before[MISTAKEN]
    assert _csv_row(graded / "tests.csv", student_id=CORRECT, grade_id=WRITTEN)["score"] == ""

    # the instructor scores the show-your-work cell in formgrader's Manual Grading
    instructor.login()
    page = instructor.page
    page.locator(".lm-MenuBar-item", has_text="Nbgrader").click()
    assert "Formgrader" in page.locator(".lm-Menu-content").last.inner_text()
    page.keyboard.press("Escape")
    page.goto(instructor.lab_url(f"formgrader/gradebook/{ASSIGNMENT}/{ASSIGNMENT}"))
    page.get_by_text("Submission #").first.wait_for()
    instructor.shot("4a-formgrader-manual-grading")
    api = page.request.get(instructor.lab_url(
        f"formgrader/api/submitted_notebooks/{ASSIGNMENT}/{ASSIGNMENT}"))
    [submission] = [s for s in api.json() if s["student"] == CORRECT]
    # formgrader's page loads the grades, then binds its inputs: wait for that first
    with page.expect_response(lambda r: "/formgrader/api/grades" in r.url) as loaded:
        page.locator(f"a[href*='{submission['id']}']").first.click()
    assert loaded.value.ok
    page.wait_for_load_state("networkidle")
    score = page.locator(f"input.score#{WRITTEN}")
    score.wait_for()
    with page.expect_response(lambda r: "/formgrader/api/grade/" in r.url
                              and r.request.method == "PUT") as saved:
        score.fill("2")
        score.press("Tab")
    assert saved.value.ok and saved.value.json()["manual_score"] == 2
    instructor.shot("4b-formgrader-score-entered")

    # the exports all carry it: grades.csv, tests.csv, nbgrader's CSV, the LMS CSV
    run_admin("export", INSTRUCTOR)
    after = float(_csv_row(graded / "grades.csv", student_id=CORRECT)["score"])
    assert after == before[CORRECT] + 2
    assert _csv_row(graded / "tests.csv", student_id=CORRECT, grade_id=WRITTEN)["score"] == "2"
    assert float(_csv_row(graded / "lms_grades.csv", student_id=CORRECT)[ASSIGNMENT]) == after
    nbgrader_row = _csv_row(graded / "nbgrader_grades.csv", student_id=CORRECT,
                            assignment=ASSIGNMENT)
    assert float(nbgrader_row["score"]) == after

    # 4. the feedback, released; each student fetches their own, without hidden tests
    run_admin("feedback", INSTRUCTOR, ASSIGNMENT)
    hidden = _hidden_test_lines()
    for number, student in enumerate((CORRECT, MISTAKEN), start=5):
        session = sessions[student]
        session.assignment_list()
        submitted = session.page.locator("#submitted_assignments_list")
        submitted.get_by_role("button", name="Fetch Feedback").first.click()
        submitted.get_by_text("view feedback").first.wait_for()
        [page_path] = (home(student) / ASSIGNMENT / "feedback").glob(f"*/{ASSIGNMENT}.html")
        session.page.goto(session.lab_url(f"files/{page_path.relative_to(home(student))}"))
        session.page.get_by_text(ASSIGNMENT).first.wait_for()
        session.shot(f"{number}-{student}-feedback")
        text = page_path.read_text()
        total = float(_csv_row(graded / "grades.csv", student_id=student)["score"])
        assert f"{total:g} / 14" in text or f"{total:.1f} / 14" in text, student
        leaked = [line for line in hidden if line in text]
        assert not leaked, f"{student}'s feedback shows hidden tests: {leaked[:3]}"


def _as_student(user: str, *command: str) -> subprocess.CompletedProcess:
    return subprocess.run(["runuser", "-u", user, "--", *command], capture_output=True,
                          text=True, timeout=30)


def test_students_cannot_reach_other_peoples_files(hub):
    """Homes, the instructor's course, the gradebook and the exchange's inbox are closed."""
    course = home(INSTRUCTOR) / "course"
    exchange = PREFIX / "exchange" / "kl-divergence"
    for student, other in ((CORRECT, MISTAKEN), (MISTAKEN, CORRECT)):
        forbidden = [
            ["ls", str(home(other))],
            ["cat", str(home(other) / ".bashrc")],
            ["ls", str(home(INSTRUCTOR))],
            ["cat", str(course / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")],
            ["cat", str(course / "graded" / "nbgrader" / "gradebook.db")],
            ["ls", str(exchange / "inbound")],
            ["ls", str(exchange / "feedback")],
        ]
        for command in forbidden:
            done = _as_student(student, *command)
            assert done.returncode != 0 and "Permission denied" in done.stderr, (
                student, command, done.stdout[:200])
    # while the release itself is readable by every student
    assert _as_student(CORRECT, "ls", str(exchange / "outbound" / ASSIGNMENT)).returncode == 0


@contextlib.contextmanager
def served(folder: Path):
    """``git daemon`` for the bare repositories in ``folder`` (read-only, shallow clones too)."""
    port = free_port()
    daemon = subprocess.Popen(
        ["git", "daemon", "--reuseaddr", "--export-all", "--informative-errors",
         f"--base-path={folder}", "--listen=127.0.0.1", f"--port={port}", str(folder)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while subprocess.run(["git", "ls-remote", f"git://127.0.0.1:{port}/course"],
                             capture_output=True).returncode:
            assert daemon.poll() is None and time.monotonic() < deadline, "git daemon failed"
            time.sleep(0.2)
        yield f"git://127.0.0.1:{port}"
    finally:
        daemon.terminate()
        daemon.wait(timeout=10)


def _git(*args: str) -> None:
    subprocess.run(["git", *args], check=True, capture_output=True)


def test_an_nbgitpuller_link_brings_the_course_and_keeps_the_students_edits(hub, browser,
                                                                           tmp_path):
    upstream = PREFIX / "upstream"  # the instructor's student repository
    write_student_repo(upstream)
    bare = tmp_path / "served" / "course.git"
    _git("clone", "--quiet", "--bare", str(upstream), str(bare))
    session = Session(browser, hub, CORRECT)
    try:
        with served(tmp_path / "served") as base:
            session.login()
            query = urllib.parse.urlencode({
                "repo": f"{base}/course", "branch": "main",
                "urlpath": f"lab/tree/course/notebooks/{ASSIGNMENT}/{ASSIGNMENT}.ipynb"})
            link = f"{hub['url']}/hub/user-redirect/git-pull?{query}"
            session.page.goto(link)
            session.page.wait_for_url("**/lab/tree/course/notebooks/**", timeout=TIMEOUT_MS)
            session.page.locator(".jp-NotebookPanel").filter(visible=True).locator(
                ".jp-Cell").first.wait_for()
            session.shot("7a-nbgitpuller-first-click")
            clone = home(CORRECT) / "course"
            notebook = clone / "notebooks" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
            assert notebook.is_file() and not (clone / "solutions").exists()
            # the student's own edit, and a new commit upstream
            edited = nbformat.read(notebook, as_version=4)
            edited.cells.append(nbformat.v4.new_markdown_cell("My own notes on D(P || Q)."))
            write_as(CORRECT, notebook, nbformat.writes(edited))
            (upstream / "ANNOUNCEMENT.md").write_text("Notebook 02 is out.\n")
            _git("-C", str(upstream), "add", "ANNOUNCEMENT.md")
            _git("-C", str(upstream), "-c", "user.name=t", "-c", "user.email=t@localhost",
                 "commit", "--quiet", "-m", "An announcement")
            _git("-C", str(upstream), "push", "--quiet", str(bare), "main")
            session.page.goto(link)
            session.page.wait_for_url("**/lab/tree/course/notebooks/**", timeout=TIMEOUT_MS)
            session.page.locator(".jp-NotebookPanel").filter(visible=True).locator(
                ".jp-Cell").first.wait_for()
            session.shot("7b-nbgitpuller-second-click")
            assert (clone / "ANNOUNCEMENT.md").read_text() == "Notebook 02 is out.\n"
            assert "My own notes on D(P || Q)." in notebook.read_text()
    except BaseException:
        session.shot("failure-nbgitpuller")
        print(session.page.url, session.page.inner_text("body")[:3000])
        raise
    finally:
        session.close()


def test_the_proxy_is_the_pinned_one_and_strangers_cannot_log_in(hub, browser):
    """configurable-http-proxy as the lock file pins it; a name off the roster is refused."""
    lock = json.loads((REPO / "hub" / "package-lock.json").read_text())
    pinned = lock["packages"]["node_modules/configurable-http-proxy"]["version"]
    installed = json.loads((PREFIX / "proxy" / "node_modules" / "configurable-http-proxy" /
                            "package.json").read_text())["version"]
    assert pinned == installed == "5.3.0"
    session = Session(browser, hub, "root")
    try:
        page = session.page
        page.goto(f"{hub['url']}/hub/login")
        page.fill("#username_input", "root")
        page.fill("#password_input", "a-long-password")
        page.click("#login_submit")
        page.locator(".login_error, .alert-danger").first.wait_for()
        assert "/hub/login" in page.url
        session.shot("8-stranger-refused")
    finally:
        session.close()
