"""The HTML report in a real headless Chromium: plots render offline, nothing hostile runs.

Needs Debian's chromium (installed by `make test`'s setup) and the playwright Python package,
driving that browser (playwright's own browser download is not used).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import warnings
from pathlib import Path

import pandas as pd
import pytest

from hunting_lib.params import HuntParams
from hunting_lib.report.runner import build_report, notebook_to_html
from hunting_lib.training import course as training
from tests.conftest import REPO, SAMPLE_DATA, activity, oracle, task_start

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if not CHROMIUM:
    if os.environ.get("CI") == "true":
        pytest.fail("chromium is not installed: `make test` installs it (apt-get install chromium)",
                    pytrace=False)
    pytest.skip("chromium is not installed", allow_module_level=True)
sync_api = oracle("playwright.sync_api")

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync", "--disable-quic"]
HOSTILE_COMMAND = 'evil.exe <script>window.__pwned = 1</script> <img src=x onerror="window.__pwned = 2">'
HOSTILE_FILE = '<svg onload="window.__pwned=3">.exe'
HOSTILE_DEVICE = '<img src=x onerror="window.__pwned=4">'
HOSTILE_ACCOUNT = '</script><script>window.__pwned=5</script>'

COUNT_CANVASES = """() => { let n = 0; const walk = (root) => root.querySelectorAll('*').forEach(e => {
    if (e.tagName === 'CANVAS' && e.width > 0 && e.height > 0) n++; if (e.shadowRoot) walk(e.shadowRoot); });
    walk(document); return n; }"""


#: The summary's figures by their data-summary hooks; "finding" (one per line) as a count.
SUMMARY_FIGURES = """() => { const out = {finding: 0}; document.querySelectorAll('[data-summary]').forEach(e => {
    if (e.dataset.summary === 'finding') out.finding++; else out[e.dataset.summary] = e.textContent.trim(); });
    return out; }"""
#: The first two cells that show anything: what each holds (a title, the summary) and its opening text.
FIRST_VISIBLE_CELLS = """() => [...document.querySelectorAll('.jp-Cell')]
    .filter(c => c.getBoundingClientRect().height > 0 && c.innerText.trim() !== '').slice(0, 2)
    .map(c => ({title: c.querySelector('h1') !== null, summary: c.querySelector('[data-summary="summary"]') !== null,
                text: c.innerText.trim().slice(0, 60)}))"""
#: Code cells' source shown on the page (highlighted Python with a size).
VISIBLE_CODE = """() => [...document.querySelectorAll('.jp-CodeCell .jp-InputArea, .highlight.hl-ipython3')]
    .filter(e => e.getBoundingClientRect().height > 0).length"""
#: Tables whose right edge runs past the page.
WIDE_TABLES = """() => [...document.querySelectorAll('.jp-OutputArea-output table')]
    .filter(t => t.getBoundingClientRect().right > document.documentElement.clientWidth + 1).length"""


def open_report(path: Path, bokeh: bool = True) -> dict:
    """Load the report from disk with the network cut off; collect what the page did."""
    seen: dict = {"console": [], "errors": [], "requests": [], "dialogs": []}
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:")
                   else (seen["requests"].append(route.request.url), route.abort()))
        page.on("console", lambda m: seen["console"].append((m.type, m.text)))
        page.on("pageerror", lambda e: seen["errors"].append(str(e)))
        page.on("dialog", lambda d: (seen["dialogs"].append(d.message), d.dismiss()))
        page.goto(path.resolve().as_uri())
        if bokeh:
            page.wait_for_function("() => window.Bokeh !== undefined", timeout=30_000)
        page.wait_for_timeout(2_000)
        seen["text"] = page.evaluate("document.body.innerText")
        seen["canvases"] = page.evaluate(COUNT_CANVASES)
        seen["plots"] = page.evaluate("document.querySelectorAll('.bk-Column, .bk-Row').length")
        seen["pwned"] = page.evaluate("window.__pwned === undefined ? null : window.__pwned")
        seen["images"] = page.evaluate("document.querySelectorAll('img[src=\"x\"], svg[onload]').length")
        seen["html"] = page.content()
        seen["summary"] = page.evaluate(SUMMARY_FIGURES)
        seen["first_cells"] = page.evaluate(FIRST_VISIBLE_CELLS)
        seen["visible_code"] = page.evaluate(VISIBLE_CODE)
        seen["wide_tables"] = page.evaluate(WIDE_TABLES)
        page.screenshot(path=str(path.with_suffix(".png")), full_page=False)
        browser.close()
    return seen


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("hostile-data")
    task = ("evil.exe", HOSTILE_COMMAND, r"C:\Users\Public\evil.exe")
    other = (HOSTILE_FILE, HOSTILE_FILE + " -run", "C:\\Users\\Public\\" + HOSTILE_FILE)
    pd.DataFrame([task_start(*task, pid=1), task_start(*other, pid=2, minutes=5, device=HOSTILE_DEVICE,
                                                       account=HOSTILE_ACCOUNT)]).to_csv(
        folder / "DeviceProcessEvents.csv", index=False)
    pd.DataFrame([activity(*task, pid=1, RemoteIP="185.100.87.3", RemotePort=443),
                  activity(*other, pid=2, created_minutes=5, minutes=6, RemoteIP="45.9.20.1",
                           device=HOSTILE_DEVICE)]).to_csv(
        folder / "DeviceNetworkEvents.csv", index=False)
    out = tmp_path_factory.mktemp("hostile-report") / "report.html"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        build_report(folder, out)
    return open_report(out)


@pytest.fixture(scope="module")
def hostile_training(tmp_path_factory) -> dict:
    """The training notebook, solutions shown, on the sample data with one hostile task added."""
    papermill = oracle("papermill")
    folder = tmp_path_factory.mktemp("hostile-training") / "data"
    shutil.copytree(SAMPLE_DATA, folder)
    starts = pd.read_csv(folder / "DeviceProcessEvents.csv.gz", dtype=str, keep_default_na=False)
    hostile = task_start("evil.exe", HOSTILE_COMMAND, "C:\\Users\\Public\\" + HOSTILE_FILE, pid=4242,
                         device=HOSTILE_DEVICE, account=HOSTILE_ACCOUNT)
    pd.concat([starts, pd.DataFrame([{k: str(v) for k, v in hostile.items()}])]).to_csv(
        folder / "DeviceProcessEvents.csv.gz", index=False)
    executed = folder.parent / "training.ipynb"
    notebook = papermill.execute_notebook(
        str(REPO / "notebooks" / "training_rare_scheduled_tasks.ipynb"), str(executed), kernel_name="python3",
        cwd=str(REPO / "notebooks"), progress_bar=False, log_output=False, execution_timeout=300,
        parameters={"show_solutions": True, "data_dir": str(folder)})
    seen = open_report(notebook_to_html(executed, folder.parent / "training.html"), bokeh=False)
    seen["printed"] = "".join(output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                              for output in cell.get("outputs", []) if output.get("output_type") == "stream")
    return seen


@pytest.fixture(scope="module")
def sample_report(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("sample-report") / "report.html"
    build_report(SAMPLE_DATA, out, HuntParams(max_devices=1))
    seen = open_report(out)
    seen["findings.json"] = json.loads((out.parent / "findings.json").read_text(encoding="utf-8"))
    seen["folders"] = [str(REPO), str(SAMPLE_DATA.resolve()), str(out.parent), str(Path.home())]
    return seen


def test_the_report_opens_with_the_summary(sample_report):
    title, first = sample_report["first_cells"]
    assert title["title"] and title["text"].startswith("Hunt: rare scheduled tasks")
    assert first["summary"] and first["text"].startswith("Summary"), first


def test_the_summary_figures_are_the_exported_findings(sample_report):
    document = sample_report["findings.json"]
    rare = document["rare_tasks"]
    to_review = [t for t in rare if t["SuppressedBy"] is None]
    figures = sample_report["summary"]
    assert int(figures["findings"]) == len(to_review) == figures["finding"]
    assert int(figures["suppressed"]) == len(rare) - len(to_review)
    assert int(figures["rare-groups"]) == len(rare)
    assert int(figures["devices"]) == document["parameters"]["fleet_devices"]
    # the summary's window is the data's: the first and last launch fall inside it
    first_run = min(t["FirstSeen"] for t in rare)[:19].replace("T", " ")
    last_run = max(t["LastSeen"] for t in rare)[:19].replace("T", " ")
    assert figures["window-start"] <= first_run and last_run <= figures["window-end"]


def test_no_code_no_local_path_and_tables_fit(sample_report):
    assert sample_report["visible_code"] == 0
    assert [folder for folder in sample_report["folders"] if folder in sample_report["html"]] == []
    assert sample_report["wide_tables"] == 0
    # times to the second: no nanoseconds in the page's tables
    assert not re.search(r"\d{2}:\d{2}:\d{2}\.\d{6,9}", sample_report["text"])


def test_every_plot_renders_offline(sample_report):
    assert "Loading BokehJS" not in sample_report["text"]
    assert sample_report["plots"] >= 6  # a timeline and a process tree per pivoted finding
    assert sample_report["canvases"] >= sample_report["plots"]
    assert sample_report["requests"] == []  # nothing fetched from the network


def test_no_console_errors(sample_report):
    assert sample_report["errors"] == []
    assert [m for m in sample_report["console"] if m[0] == "error"] == []


def test_hostile_text_shows_as_text_and_nothing_runs(hostile_report):
    assert hostile_report["pwned"] is None and hostile_report["dialogs"] == []
    assert hostile_report["images"] == 0  # the <img>/<svg> in the data did not become elements
    assert "<script>window.__pwned = 1</script>" in hostile_report["text"]
    assert HOSTILE_DEVICE in hostile_report["text"]  # shown as text in the tables
    assert hostile_report["errors"] == []


def test_the_training_notebook_keeps_hostile_data_inert(hostile_training):
    # The planted lessons still grade: one hostile extra task does not break the exercises.
    exercises = len(training.CHECKERS)
    assert f"Exercises passed: {exercises}/{exercises}" in hostile_training["printed"], hostile_training["printed"][-3000:]
    assert hostile_training["pwned"] is None and hostile_training["dialogs"] == []
    assert hostile_training["images"] == 0 and hostile_training["errors"] == []
    assert "<script>window.__pwned = 1</script>" in hostile_training["text"]  # visible, as text
    assert hostile_training["requests"] == []
