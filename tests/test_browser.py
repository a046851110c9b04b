"""End to end in a real browser: a student works through notebook 01 in JupyterLab.

Playwright drives Debian's Chromium (``/usr/bin/chromium``, headless) against a
``jupyter lab`` that this test starts on a free port of 127.0.0.1, in a temporary
copy of the course (the repository's ``notebooks/`` is never written to):

1. open ``notebooks/01_definition/01_definition.ipynb`` and run all cells: the first
   stub raises ``NotImplementedError``;
2. press nbgrader's Validate button: every visible test fails;
3. type the model answers into the solution cells, press Validate: it passes;
4. open formgrader: it lists the course's assignments;
5. (a test of its own) move a slider of notebook 01's interactive figure: the figure
   is drawn again with the new value.

Screenshots of each step go to ``test-artifacts/browser/`` (gitignored; set
``KL_TEST_ARTIFACTS`` to put them elsewhere). ``.ci/run`` installs Chromium; here it
is installed with apt-get when missing and we are root, and the test is skipped
(with the reason) only when it is missing and we are not root.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import (
    ASSIGNMENTS,
    REPO,
    SOLUTIONS,
    ensure_debian_package,
    free_port,
    is_test_cell,
    read_notebook,
    wait_until_serving,
)

from autograder.config import CoursePaths
from autograder.release import generate_assignments
from autograder.sample_class import strip_solution_markers

CHROMIUM = Path("/usr/bin/chromium")
ASSIGNMENT = "01_definition"  # the model notebook: the other assignments may be in progress
NOTEBOOK = f"notebooks/{ASSIGNMENT}/{ASSIGNMENT}.ipynb"
ARTIFACTS = Path(os.environ.get("KL_TEST_ARTIFACTS", REPO / "test-artifacts")) / "browser"
TIMEOUT_MS = 60_000  # the slowest step (validate: a kernel runs the whole notebook)


def _ensure_chromium() -> Path:
    return ensure_debian_package("chromium", lambda: CHROMIUM if CHROMIUM.exists() else None)


def _write_settings(settings: Path) -> None:
    """JupyterLab user settings: no news pop-up, every cell kept in the page."""
    for plugin, values in {
        "@jupyterlab/apputils-extension/notification": {"fetchNews": "false",
                                                        "checkForUpdates": False},
        # cells outside the viewport stay in the DOM, so the test can reach any of them
        "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    }.items():
        path = settings / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """``jupyter lab`` on a temporary copy of the course; yields its base URL."""
    root = tmp_path_factory.mktemp("lab")
    course, home = root / "course", root / "home"
    for assignment in ASSIGNMENTS:
        (course / "solutions" / assignment).mkdir(parents=True)
        shutil.copy(SOLUTIONS / assignment / f"{assignment}.ipynb",
                    course / "solutions" / assignment)
    # the student release of the notebook under test, built afresh from its source
    (root / "release-work").mkdir()
    generate_assignments(CoursePaths.for_repo(root / "release-work",
                                              release=course / "notebooks"), [ASSIGNMENT])
    shutil.copy(REPO / "nbgrader_config.py", course / "nbgrader_config.py")
    (root / "exchange").mkdir()
    (root / "exchange").chmod(0o777)  # as nbgrader's exchange on a shared disk
    config = home / ".jupyter"
    config.mkdir(parents=True)
    # nbgrader reads this too: an exchange in the temporary folder, not /usr/local/share
    (config / "nbgrader_config.py").write_text(
        f"c = get_config()  # noqa: F821\nc.Exchange.root = {str(root / 'exchange')!r}\n")
    _write_settings(root / "settings")
    env = {**os.environ, "HOME": str(home), "JUPYTER_CONFIG_DIR": str(config),
           "JUPYTER_RUNTIME_DIR": str(root / "runtime"), "IPYTHONDIR": str(home / ".ipython"),
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])}
    port = free_port()
    log = open(root / "jupyter.log", "w")  # noqa: SIM115 -- closed in the finalizer
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1",
         f"--port={port}", "--port-retries=0", "--allow-root",
         "--IdentityProvider.token=", "--ServerApp.password=",
         f"--ServerApp.root_dir={course}", f"--LabApp.user_settings_dir={root / 'settings'}",
         f"--LabApp.workspaces_dir={root / 'workspaces'}"],
        cwd=course, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(f"{url}/api/status", server, root / "jupyter.log", "jupyter lab")
        yield {"url": url, "course": course, "log": root / "jupyter.log"}
    finally:
        # SIGTERM: jupyter shuts its kernels down, then exits; SIGKILL if it hangs
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
def page():
    """A headless Chromium page (Playwright), closed after the module."""
    chromium = _ensure_chromium()
    from playwright.sync_api import sync_playwright

    shutil.rmtree(ARTIFACTS, ignore_errors=True)  # no stale screenshot of an earlier run
    ARTIFACTS.mkdir(parents=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium), headless=True,
            args=["--no-sandbox", "--disable-background-networking",
                  "--disable-dev-shm-usage"])
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            context.set_default_timeout(TIMEOUT_MS)
            yield context.new_page()
        finally:
            browser.close()
    print(f"\nbrowser screenshots: {ARTIFACTS}")


def _shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def _validate(page):
    """Press nbgrader's Validate button; return the results dialog once it is shown."""
    page.locator(".validate-button button, button.validate-button").first.click()
    dialog = page.locator(".jp-Dialog").filter(has_text="Validation Results")
    dialog.wait_for(timeout=120_000)
    return dialog


def _close(dialog) -> None:
    dialog.locator(".jp-mod-accept").click()
    dialog.wait_for(state="detached")


@contextlib.contextmanager
def _reporting_failure(lab, page, shot: str):
    """On any failure inside: a screenshot named ``shot`` and the end of jupyter's log."""
    try:
        yield
    except BaseException:
        _shot(page, shot)
        print(f"jupyter log:\n{lab['log'].read_text()[-3000:]}")
        raise


def _open_release(lab, page):
    """Open notebook 01's release in JupyterLab, every cell in the page and the kernel idle.

    Returns the release notebook (as read from disk), and the notebook and its cells as
    Playwright locators.
    """
    release = read_notebook(lab["course"] / NOTEBOOK)
    page.goto(f"{lab['url']}/lab/tree/{NOTEBOOK}")
    notebook = page.locator(".jp-NotebookPanel .jp-Notebook")
    cells = notebook.locator(".jp-Cell")
    cells.nth(len(release.cells) - 1).wait_for(state="attached")
    assert cells.count() == len(release.cells)
    # the status bar reads "Python 3 (ipykernel) | Idle" once the kernel has started
    page.locator(".jp-StatusBar-Widget").get_by_text("| Idle").first.wait_for()
    return release, notebook, cells


def test_student_validates_notebook_and_instructor_sees_formgrader(lab, page):
    with _reporting_failure(lab, page, "failure"):
        _student_and_instructor(lab, page)


def _student_and_instructor(lab, page):
    source = read_notebook(SOLUTIONS / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    models = {c.metadata.nbgrader["grade_id"]: strip_solution_markers(c.source)
              for c in source.cells if c.metadata.get("nbgrader", {}).get("solution")}

    # 1. open the student notebook and run all cells: the first stub raises
    release, notebook, cells = _open_release(lab, page)
    page.locator(".lm-MenuBar-item", has_text="Run").first.click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    error = notebook.locator(".jp-OutputArea-output", has_text="NotImplementedError").first
    error.wait_for(timeout=TIMEOUT_MS)
    error.scroll_into_view_if_needed()
    _shot(page, "1-run-all-stub-raises")

    # 2. Validate the untouched release: every visible test fails
    dialog = _validate(page)
    _shot(page, "2-validate-stubs-fail")
    assert dialog.locator(".validation-failed").count() == 1, dialog.inner_text()
    report = dialog.inner_text()
    not_failed = [c.source.splitlines()[0] for c in release.cells
                  if is_test_cell(c) and c.source.splitlines()[0] not in report]
    assert not not_failed, f"visible tests that did not fail on the stubs: {not_failed}"
    assert "NotImplementedError" in report
    _close(dialog)

    # 3. type the model answer into each solution cell, then Validate again
    for index, cell in enumerate(release.cells):
        meta = cell.metadata.get("nbgrader", {})
        if not meta.get("solution"):
            continue
        if cell.cell_type == "markdown":  # a written answer: double-click to edit it
            cells.nth(index).scroll_into_view_if_needed()
            cells.nth(index).locator(".jp-MarkdownOutput").dblclick()
        editor = cells.nth(index).locator(".cm-content")
        editor.scroll_into_view_if_needed()
        editor.click()
        page.keyboard.press("Control+a")
        page.keyboard.insert_text(models[meta["grade_id"]])
        typed = editor.inner_text().replace("\u00a0", " ")
        assert typed.strip().splitlines()[-1].strip() == (
            models[meta["grade_id"]].strip().splitlines()[-1].strip()), typed
    dialog = _validate(page)
    _shot(page, "3-validate-answers-pass")
    text = dialog.inner_text()
    assert "Success! Your notebook passes all the tests." in text, text[:3000]
    _close(dialog)
    # Validate saved the typed answers into the (temporary) course copy
    saved = read_notebook(lab["course"] / NOTEBOOK)
    assert "raise NotImplementedError" not in "".join(
        c.source for c in saved.cells if c.cell_type == "code")

    # 4. the instructor's formgrader lists the course's assignments
    page.goto(f"{lab['url']}/formgrader/manage_assignments")
    table = page.locator("#main-table, table").first
    table.get_by_text(ASSIGNMENT, exact=True).first.wait_for()
    _shot(page, "4-formgrader-assignments")
    listed = table.inner_text()
    missing = [a for a in ASSIGNMENTS if a not in listed]
    assert not missing, f"formgrader does not list {missing}:\n{listed}"


def _feedback_page(path: Path) -> Path:
    """Notebook 01's feedback page as the grader writes it (its exporter and settings),
    for the model answers with every test failed, written to ``path``."""
    from nbgrader.converters import GenerateFeedback

    from autograder.config import nbgrader_config

    nb = read_notebook(SOLUTIONS / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            meta["score"] = 0.0
    app = GenerateFeedback(config=nbgrader_config(CoursePaths.for_repo(path.parent)))
    exporter = app.exporter_class(config=app.config)
    html, _ = exporter.from_notebook_node(nb, resources={"nbgrader": {
        "notebook": ASSIGNMENT, "score": 0.0, "max_score": 14.0, "late_penalty": 0}})
    path.write_text(html)
    return path


def test_feedback_math_renders_in_chromium_with_the_network_off(page, tmp_path):
    """A feedback page opened offline shows its formulas as math, not as $\\mathrm..."""
    feedback = _feedback_page(tmp_path / f"{ASSIGNMENT}.html")
    context = page.context.browser.new_context(viewport={"width": 1200, "height": 900})
    context.set_offline(True)
    asked: list[str] = []

    def refuse(route):  # anything but the page itself would need a network
        asked.append(route.request.url)
        route.abort()

    context.route(lambda url: not url.startswith("file:"), refuse)
    try:
        offline = context.new_page()
        offline.goto(feedback.as_uri())
        seen = offline.evaluate("""() => {
            const formulas = Array.from(document.querySelectorAll('.text_cell_render math'));
            const shown = formulas.filter(m => {
                const box = m.getBoundingClientRect();
                return box.width > 0 && box.height > 0;
            });
            // a fraction laid out as one: numerator above denominator
            const fraction = document.querySelector('.text_cell_render math mfrac');
            const [top, bottom] = Array.from(fraction.children).map(
                c => c.getBoundingClientRect());
            const kl = formulas.find(
                m => m.getAttribute('alttext').startsWith('D_{\\\\mathrm{KL}}'));
            const text = Array.from(document.querySelectorAll('.text_cell_render'))
                .map(e => e.innerText).join('\\n');
            return {formulas: formulas.length, shown: shown.length,
                    stacked: top.bottom <= bottom.top + 1,
                    display: getComputedStyle(kl).display,
                    klWidth: kl.getBoundingClientRect().width,
                    raw: ['$', '\\\\mathrm', '\\\\frac', '\\\\log'].filter(t => text.includes(t))};
        }""")
        offline.locator('math[alttext^="D_{\\\\mathrm{KL}}"]').first.scroll_into_view_if_needed()
        offline.screenshot(path=str(ARTIFACTS / "5-feedback-offline-math.png"))
    finally:
        context.close()
    assert seen["formulas"] > 100 and seen["shown"] == seen["formulas"], seen
    assert seen["stacked"], "a fraction is not laid out as math"
    # "math" (inline math): laid out by the browser's MathML engine, not as unknown inline tags
    assert seen["display"] in ("math", "inline math") and seen["klWidth"] > 20, seen
    assert seen["raw"] == [], f"raw LaTeX in the markdown of the page: {seen['raw']}"
    assert asked == [], f"the page asked the network for {asked}"


def test_moving_a_slider_redraws_the_figure(lab, page):
    """Notebook 01's sliders: a moved slider shows its new value and a new figure."""
    with _reporting_failure(lab, page, "failure-slider"):
        _move_a_slider(lab, page)


def _move_a_slider(lab, page):
    release, _, cells = _open_release(lab, page)
    index = next(i for i, c in enumerate(release.cells)
                 if "explore_gaussian_pair()" in c.source and c.cell_type == "code")
    # select the slider cell, run everything above it (set-up, the figure's data), then it
    cell = cells.nth(index)
    cell.scroll_into_view_if_needed()
    cell.locator(".cm-content").click()
    page.locator(".lm-MenuBar-item", has_text="Run").first.click()
    page.get_by_role("menuitem", name="Run All Above Selected Cell").click()
    cell.locator(".cm-content").click()
    page.keyboard.press("Shift+Enter")  # queued behind the cells above

    sliders = cell.locator(".widget-slider")
    sliders.nth(3).wait_for(timeout=TIMEOUT_MS)
    figure = cell.locator("img").first  # the widget's output: redrawn as a new <img>
    figure.wait_for(timeout=TIMEOUT_MS)
    before = figure.get_attribute("src")
    mu_q = sliders.nth(2)  # the sliders: mu_p, sigma_p, mu_q, sigma_q
    assert "μ_q" in mu_q.inner_text()
    readout = mu_q.locator(".widget-readout")
    assert readout.inner_text().strip() == "1.00", readout.inner_text()
    mu_q.locator(".noUi-handle").focus()
    for _ in range(5):  # five steps of 0.1 with the keyboard, as a student may do
        page.keyboard.press("ArrowRight")
    page.wait_for_function(
        "([cell, old]) => { const img = cell.querySelector('img');"
        " return img !== null && img.getAttribute('src') !== old; }",
        arg=[cell.element_handle(), before], timeout=TIMEOUT_MS)
    cell.scroll_into_view_if_needed()
    _shot(page, "6-slider-moved")
    assert readout.inner_text().strip() == "1.50", readout.inner_text()
    assert figure.get_attribute("src") != before
