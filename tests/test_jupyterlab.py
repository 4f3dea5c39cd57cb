"""The hunt notebook in a real JupyterLab, driven by headless Chromium as an analyst would use it.

JupyterLab runs on a free port with a token, on a temporary copy of the notebooks folder beside
the sample data (nothing is written into the repository). The test runs every cell from the Run
menu, checks the outputs (no error, the matplotlib charts, the widgets), then picks finding #2 in
the widget, presses its button and checks that finding's pivot appears with its bokeh plots drawn.
Needs Debian's chromium, playwright and JupyterLab (all installed by `make test`): without them the
test skips locally and fails under CI=true.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from hunting_lib import HuntParams, load_data_folder, run_hunt
from hunting_lib.hunt import hunt_columns
from hunting_lib.report.runner import HUNT_NOTEBOOK
from tests.conftest import SAMPLE_DATA, oracle, running_in_ci

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if not CHROMIUM:
    if running_in_ci():
        pytest.fail("chromium is not installed: `make test` installs it (apt-get install chromium)", pytrace=False)
    pytest.skip("chromium is not installed", allow_module_level=True)
sync_api = oracle("playwright.sync_api", "drives chromium")
oracle("jupyterlab", "the `test` extra installs it")
JUPYTER = Path(sys.executable).with_name("jupyter")

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync"]
BUTTON = "Re-run hunt and pivot"
#: Canvases with a size, in the page and in shadow roots (bokeh draws into shadow DOM), under ``root``.
COUNT_CANVASES = """(root) => { let n = 0; const walk = (r) => r.querySelectorAll('*').forEach(e => {
    if (e.tagName === 'CANVAS' && e.width > 0 && e.height > 0) n++; if (e.shadowRoot) walk(e.shadowRoot); });
    walk(root); return n; }"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_server(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"JupyterLab did not answer at {url} in {timeout:.0f} s")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on a copy of notebooks/ (and sample_data/ beside it); stopped afterwards."""
    root = tmp_path_factory.mktemp("lab")
    (root / "notebooks").mkdir()
    shutil.copy(HUNT_NOTEBOOK, root / "notebooks" / HUNT_NOTEBOOK.name)
    (root / "sample_data").symlink_to(SAMPLE_DATA, target_is_directory=True)
    # Every cell in the page (no windowing), so that outputs far down are laid out and drawn.
    settings = root / ".settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    port, token = _free_port(), os.urandom(16).hex()
    command = [str(JUPYTER), "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
               f"--LabApp.user_settings_dir={root / '.settings'}", f"--LabApp.workspaces_dir={root / '.workspaces'}",
               "--ServerApp.open_browser=False", "--LabApp.news_url=None", "--LabApp.check_for_updates_class="
               "jupyterlab.NeverCheckForUpdate"]
    if os.geteuid() == 0:
        command.append("--allow-root")
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(root / ".runtime"), "JUPYTER_CONFIG_DIR": str(root / ".config"),
           "PYTHONHASHSEED": "0"}
    log = open(root / "lab.log", "wb")
    server = subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_for_server(f"http://127.0.0.1:{port}/api/status?token={token}", server)
        yield {"url": f"http://127.0.0.1:{port}", "token": token, "root": root}
    finally:
        # The server and the kernels it started share its process group.
        try:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            if server.poll() is None:
                os.killpg(server.pid, signal.SIGKILL)
        log.close()


def _wait_for_kernel(page, timeout_ms: int = 60_000) -> None:
    """Until the notebook's kernel has started and is idle (the status bar says so)."""
    page.wait_for_function(
        """() => [...document.querySelectorAll('.jp-StatusBar-TextItem')].some(e => /Python 3.*\\| Idle/.test(e.textContent))""",
        timeout=timeout_ms, polling=250)


def _wait_until_idle(page, timeout_ms: int) -> None:
    """Until every code cell has run: no `[*]` prompt, the kernel idle."""
    page.wait_for_function(
        """() => { const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];
                   return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent))
                       && document.querySelector('.jp-Notebook-ExecutionIndicator[data-status="idle"]') !== null; }""",
        timeout=timeout_ms, polling=500)


@pytest.fixture(scope="module")
def session(lab) -> dict:
    """Open the hunt notebook, run all cells, save, then pick finding #2 in the widget."""
    seen: dict = {"console": [], "errors": []}
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("console", lambda m: seen["console"].append((m.type, m.text)))
            page.on("pageerror", lambda e: seen["errors"].append(str(e)))
            page.goto(f"{lab['url']}/lab/tree/notebooks/{HUNT_NOTEBOOK.name}?token={lab['token']}")
            page.wait_for_selector(".jp-Notebook .jp-CodeCell", timeout=60_000)
            _wait_for_kernel(page)
            # Run > Run All Cells, as an analyst would
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.locator(".lm-Menu .lm-Menu-itemLabel", has_text="Run All Cells").first.click()
            page.wait_for_function("() => document.querySelector('.jp-Notebook-ExecutionIndicator[data-status=\"busy\"]')"
                                   " !== null || [...document.querySelectorAll('.jp-InputPrompt')]"
                                   ".some(p => p.textContent.includes('*'))", timeout=30_000, polling=100)
            _wait_until_idle(page, 120_000)
            page.keyboard.press("Control+s")
            page.wait_for_timeout(1_500)
            seen["images"] = page.evaluate(
                "document.querySelectorAll('.jp-OutputArea-output img[src^=\"data:image/png\"]').length")
            seen["widgets"] = page.evaluate("document.querySelectorAll('.widget-interact .widget-slider').length")
            button = page.get_by_role("button", name=BUTTON)
            seen["button"] = button.count()

            # finding #2: type it into the slider's readout, then press the button
            readout = page.locator(".widget-interact .widget-slider", has_text="finding #").locator(".widget-readout")
            readout.click()
            page.keyboard.press("Control+a")
            page.keyboard.type("2")
            page.keyboard.press("Enter")
            button.click()
            heading = page.locator(".widget-interact h3", has_text="Finding #2:")
            heading.wait_for(timeout=60_000)
            _wait_until_idle(page, 60_000)
            page.wait_for_function(f"() => ({COUNT_CANVASES})(document.querySelector('.widget-interact')) >= 2",
                                   timeout=30_000, polling=500)
            seen["heading"] = heading.first.inner_text()
            seen["widget_canvases"] = page.evaluate(f"() => ({COUNT_CANVASES})(document.querySelector('.widget-interact'))")
            seen["widget_text"] = page.locator(".widget-interact").inner_text()
            page.screenshot(path=str(lab["root"] / "lab.png"))
        finally:
            browser.close()
    seen["notebook"] = json.loads((lab["root"] / "notebooks" / HUNT_NOTEBOOK.name).read_text(encoding="utf-8"))
    return seen


@pytest.fixture(scope="module")
def expected_findings():
    """The hunt of the notebook's default parameters, computed here, outside the notebook."""
    return run_hunt(load_data_folder(SAMPLE_DATA, columns=hunt_columns()), HuntParams()).findings


def test_all_cells_run_without_an_error(session):
    cells = [c for c in session["notebook"]["cells"] if c["cell_type"] == "code"]
    assert all(c["execution_count"] for c in cells)  # saved after the run: every cell ran
    errors = [o for c in cells for o in c["outputs"] if o["output_type"] == "error"]
    assert errors == []


def test_charts_and_widgets_render(session):
    assert session["images"] >= 4  # the four matplotlib fleet charts
    assert session["widgets"] == 3  # threshold, max devices, finding #
    assert session["button"] == 1


def test_the_widget_pivots_into_the_finding_picked(session, expected_findings):
    second = expected_findings.iloc[1]
    assert session["heading"].replace("\u00b6", "").strip() == f"Finding #2: {second['FileName']} (score {second['Score']:g})"
    assert session["widget_canvases"] >= 2  # its timeline and its process tree, drawn
    assert "Explored hunt (threshold 3" in session["widget_text"]


def test_no_console_errors(session):
    assert session["errors"] == []
    assert [m for m in session["console"] if m[0] == "error"] == []
