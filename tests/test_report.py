"""The HTML report: the hunt notebook run headless and exported, with hostile data kept inert."""

import json
import os
import re
from html.parser import HTMLParser

import nbformat
import pandas as pd
import pytest

from hunting_lib.params import HuntParams
from hunting_lib.report.runner import HUNT_NOTEBOOK, ReportError, build_report
from tests.conftest import REPO, activity, task_start

HOSTILE = 'evil.exe <script>document.title="pwned"</script> <img src=x onerror=alert(1)>'


@pytest.fixture(scope="module")
def hostile_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    task = ("evil.exe", HOSTILE, r"C:\Users\Public\evil.exe")
    pd.DataFrame([task_start(*task, pid=1)]).to_csv(folder / "DeviceProcessEvents.csv", index=False)
    pd.DataFrame([activity(*task, pid=1, RemoteIP="185.100.87.3")]).to_csv(
        folder / "DeviceNetworkEvents.csv", index=False)
    return folder


class Page(HTMLParser):
    """The elements of a report as a browser's parser sees them: every start tag with its
    attributes, the text of each script element, heading and table cell."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.texts: dict[str, list[str]] = {"script": [], "heading": [], "td": []}
        self._open: str | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        kind = "heading" if tag in ("h1", "h2", "h3", "h4") else tag
        if kind in self.texts:
            self.texts[kind].append("")
            self._open = kind

    def handle_endtag(self, tag):
        if tag in ("script", "td", "h1", "h2", "h3", "h4"):
            self._open = None

    def handle_data(self, data):
        if self._open:
            self.texts[self._open][-1] += data


#: The hunt notebook's sections, as its Markdown cells name them.
SECTIONS = ["Hypothesis", "The query", "Rarity", "Triage ranking", "Suppressed: exclusion rules and known tasks",
            "Activity of the rare tasks", "Pivot into each finding", "Where the two correlation modes disagree",
            "Fleet charts", "Summary and export"]


def test_report_is_written_and_escapes_hostile_text(hostile_folder, tmp_path):
    out = build_report(hostile_folder, tmp_path / "report.html")
    page = Page(out.read_text(encoding="utf-8"))
    findings = json.loads((tmp_path / "findings.json").read_text())
    (task,) = findings["rare_tasks"]
    assert (task["FileName"], task["ProcessCommandLine"]) == ("evil.exe", HOSTILE)

    # the page holds the hunt's sections and a pivot section for the finding, named and scored as
    # findings.json has it
    headings = [h.replace("\u00b6", "").strip() for h in page.texts["heading"]]
    assert [h for h in SECTIONS if h not in headings] == []
    assert f"Finding #1: {task['FileName']} (score {task['Score']:g})" in headings
    # the command line shows as text, whole, in table cells (the ranking, the activity, the pivot)
    assert sum(HOSTILE in cell for cell in page.texts["td"]) >= 3
    # and nothing of it became markup: no element from the data, no event handler, no script
    # whose code is the data's
    assert not [(tag, attrs) for tag, attrs in page.tags if tag == "img" and attrs.get("src") == "x"]
    assert not [(tag, name) for tag, attrs in page.tags for name in attrs if name.lower().startswith("on")]
    assert not [code for code in page.texts["script"] if 'document.title="pwned"' in code]
    assert len([t for t, _ in page.tags if t == "script"]) == len(page.texts["script"])


def test_code_is_hidden_by_default_and_show_code_includes_it(hostile_folder, tmp_path):
    from hunting_lib.report.runner import local_paths_as_names, notebook_to_html

    hidden = build_report(hostile_folder, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "render_hunt_kql(params" not in hidden and not re.search(r'class="highlight hl-ipython3', hidden)
    assert "Hypothesis" in hidden
    shown = notebook_to_html(tmp_path / "r.ipynb", tmp_path / "shown.html", show_code=True).read_text(encoding="utf-8")
    assert "render_hunt_kql" in shown and re.search(r'class="highlight hl-ipython3', shown)
    # the injected parameters show the data folder by name, never the machine's absolute path
    for html in (hidden, shown):
        assert str(hostile_folder) not in html and str(tmp_path) not in html and str(REPO) not in html
    assert local_paths_as_names(f'data_dir = "{hostile_folder}"\nscope = "extended"') == \
        f'data_dir = "{hostile_folder.name}"\nscope = "extended"'
    assert hostile_folder.name in shown


def test_the_report_command_takes_show_code_and_still_accepts_hide_code(hostile_folder, tmp_path):
    from hunting_lib.cli import main

    assert main(["report", "--data-dir", str(hostile_folder), "--output", str(tmp_path / "a.html"), "--show-code"]) == 0
    assert "render_hunt_kql" in (tmp_path / "a.html").read_text(encoding="utf-8")
    assert main(["report", "--data-dir", str(hostile_folder), "--output", str(tmp_path / "b.html"), "--hide-code"]) == 0
    assert "render_hunt_kql" not in (tmp_path / "b.html").read_text(encoding="utf-8")


def test_a_failing_cell_fails_the_report_and_keeps_the_partial_notebook(hostile_folder, tmp_path):
    missing = tmp_path / "missing.yaml"
    with pytest.raises(ReportError, match="failed .*BadInputError"):
        build_report(hostile_folder, tmp_path / "r.html", HuntParams(exclusions=str(missing)))
    assert not (tmp_path / "r.html").exists()
    # the partial notebook shows where and why it stopped: one cell with the error, none after it run
    cells = [c for c in nbformat.read(tmp_path / "r.ipynb", as_version=4).cells if c.cell_type == "code"]
    failed = [i for i, c in enumerate(cells) for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert len(failed) == 1
    error = next(o for o in cells[failed[0]].outputs if o.get("output_type") == "error")
    assert error["ename"] == "BadInputError" and missing.name in error["evalue"]
    assert all(c.execution_count is None for c in cells[failed[0] + 1:])


@pytest.mark.parametrize("path", sorted((REPO / "notebooks").glob("*.ipynb")), ids=lambda p: p.name)
def test_notebooks_in_git_carry_no_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, path.name
    assert any("parameters" in c.metadata.get("tags", []) for c in notebook.cells)


def test_the_report_notebook_is_the_hunt_notebook(sample_report):
    """The report runs notebooks/rare_scheduled_tasks_hunt.ipynb itself: the executed notebook kept
    beside the page has its cells, plus only papermill's parameters cell."""
    assert HUNT_NOTEBOOK.resolve() == (REPO / "notebooks" / "rare_scheduled_tasks_hunt.ipynb").resolve()
    executed = nbformat.read(sample_report.with_suffix(".ipynb"), as_version=4)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "max_devices = 1" in injected[0].source
    source = nbformat.read(HUNT_NOTEBOOK, as_version=4)
    assert [c.source for c in executed.cells if c not in injected] == [c.source for c in source.cells]


@pytest.fixture(scope="module")
def sample_report(tmp_path_factory):
    from tests.conftest import SAMPLE_DATA

    out = tmp_path_factory.mktemp("report") / "rare_scheduled_tasks.html"
    return build_report(SAMPLE_DATA, out, HuntParams(max_devices=1))


def test_sample_report_is_offline_small_and_loads_bokehjs_once(sample_report):
    from bokeh.resources import Resources

    from hunting_lib.pivots.pivot import BOKEH_COMPONENTS

    html = sample_report.read_text(encoding="utf-8")
    size_mb = sample_report.stat().st_size / 1e6
    assert size_mb <= 5.0, f"report is {size_mb:.1f} MB"
    # No script or stylesheet is fetched from anywhere (BokehJS mentions CDN URLs for optional
    # parts it loads lazily, such as MathJax; the report uses none of them).
    assert not re.search(r"<script[^>]+src=\"https?:", html) and not re.search(r"<link[^>]+href=\"https?:", html)
    core = Resources(mode="inline", components=BOKEH_COMPONENTS).js_raw[0]
    marker = core[len(core) // 2: len(core) // 2 + 200]
    assert html.count(marker) == 1  # BokehJS embedded once, not once per plot
    assert html.count("Timeline: task ") >= 3 and html.count("Process tree of task") >= 3


def test_the_same_inputs_give_the_same_report(hostile_folder, tmp_path):
    out = tmp_path / "r.html"
    first = build_report(hostile_folder, out).read_bytes()
    second = build_report(hostile_folder, out).read_bytes()
    assert first == second


def test_sample_report_has_every_fleet_chart(sample_report):
    html = sample_report.read_text(encoding="utf-8")
    assert html.count('src="data:image/png;base64,') >= 4  # the four matplotlib charts, embedded


def test_interactive_mode_shows_widgets_and_never_waits(hostile_folder, tmp_path):
    import papermill

    out = tmp_path / "interactive.ipynb"
    papermill.execute_notebook(str(HUNT_NOTEBOOK), str(out), kernel_name="python3", cwd=str(HUNT_NOTEBOOK.parent),
                               parameters={"data_dir": str(hostile_folder), "papermill_run": False,
                                           "export_dir": str(tmp_path)},
                               progress_bar=False, execution_timeout=120)
    outputs = [o for c in nbformat.read(out, as_version=4).cells for o in c.get("outputs", [])]
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)


def test_exploring_never_changes_the_hunt_the_summary_and_exports_describe(tmp_path):
    """The widget's function, called as the button calls it (threshold 10), keeps its hunt in
    `explored`: `result` stays the parameters cell's hunt, and findings.json is that hunt's."""
    import papermill

    from hunting_lib import load_data_folder, run_hunt
    from hunting_lib.hunt import hunt_columns
    from hunting_lib.report.output import hunt_document
    from tests.conftest import SAMPLE_DATA

    notebook = nbformat.read(HUNT_NOTEBOOK, as_version=4)
    explore_at = next(i for i, c in enumerate(notebook.cells) if "def explore(" in c.source)
    probe = nbformat.v4.new_code_cell(
        "hunt_before = result\n"
        "document_before = json.dumps(hunt_document(result), default=str)\n"
        "explore(10, 0, 1)\n"
        "import json as _json\n"
        "print(_json.dumps({'same_object': result is hunt_before,\n"
        "                   'same_document': json.dumps(hunt_document(result), default=str) == document_before,\n"
        "                   'explored_groups': len(explored.rare_tasks), 'result_groups': len(result.rare_tasks)}))")
    setup = nbformat.v4.new_code_cell("import json\nfrom hunting_lib.report.output import hunt_document")
    notebook.cells[explore_at + 1:explore_at + 1] = [setup, probe]
    source = tmp_path / "notebooks" / HUNT_NOTEBOOK.name
    source.parent.mkdir()
    nbformat.write(notebook, source)
    executed = papermill.execute_notebook(
        str(source), str(tmp_path / "run.ipynb"), kernel_name="python3", cwd=str(source.parent),
        parameters={"data_dir": str(SAMPLE_DATA), "papermill_run": True, "export_dir": str(tmp_path / "exports")},
        progress_bar=False, execution_timeout=300)
    (ran,) = [c for c in executed.cells if c.source == probe.source]  # papermill adds a cell above
    printed = "".join(o.get("text", "") for o in ran.outputs if o.get("output_type") == "stream")
    state = json.loads(printed.strip().splitlines()[-1])
    # threshold 10 finds more groups than 3: had `explore` rebound `result`, it would show here
    assert state["explored_groups"] > state["result_groups"]
    assert state["same_object"] and state["same_document"]
    # and the exported findings are the parameters cell's hunt, computed here independently
    expected = run_hunt(load_data_folder(SAMPLE_DATA, columns=hunt_columns()), HuntParams())
    exported = json.loads((tmp_path / "exports" / "findings.json").read_text(encoding="utf-8"))
    assert exported["parameters"]["threshold"] == 3
    assert [(t["FileName"], t["ProcessCommandLine"]) for t in exported["rare_tasks"]] == \
        [(t["FileName"], t["ProcessCommandLine"]) for t in hunt_document(expected)["rare_tasks"]]


def test_the_kernel_never_draws_a_bar_and_papermill_draws_one_only_where_watched(hostile_folder, tmp_path, monkeypatch):
    """The kernel's output becomes the report, so it runs with HUNTING_LIB_PROGRESS=0; papermill's
    own bar (stderr) follows engine.progress: off under tests, on when forced for a terminal."""
    notebook = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "language": "python",
                                                                  "display_name": "Python 3"}})
    notebook.cells = [nbformat.v4.new_code_cell("papermill_run = False", metadata={"tags": ["parameters"]}),
                      nbformat.v4.new_code_cell("import os\nfrom hunting_lib.engine.progress import progress_enabled\n"
                                                "print(os.environ.get('HUNTING_LIB_PROGRESS'), progress_enabled())")]
    source = tmp_path / "tiny.ipynb"
    nbformat.write(notebook, source)
    build_report(hostile_folder, tmp_path / "tiny.html", notebook=source)
    (printed,) = [o["text"] for c in nbformat.read(tmp_path / "tiny.ipynb", as_version=4).cells
                  for o in c.get("outputs", []) if o.get("output_type") == "stream"]
    assert printed.split() == ["0", "False"]

    import papermill

    calls = []
    monkeypatch.setattr(papermill, "execute_notebook",
                        lambda *a, **k: calls.append((k["progress_bar"], os.environ.get("HUNTING_LIB_PROGRESS"))))
    monkeypatch.setattr("hunting_lib.report.runner.notebook_to_html", lambda *a, **k: None)
    build_report(hostile_folder, tmp_path / "a.html", notebook=source)  # under pytest: no bar
    monkeypatch.setenv("HUNTING_LIB_PROGRESS", "1")  # as on a terminal
    build_report(hostile_folder, tmp_path / "b.html", notebook=source)
    assert calls == [(False, "0"), (True, "0")]
    assert os.environ["HUNTING_LIB_PROGRESS"] == "1"  # restored after the run
