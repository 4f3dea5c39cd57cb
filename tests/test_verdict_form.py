"""The notebook's verdict form: what the button does, on a history file built by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from hunting_lib.history.runs import record_run
from hunting_lib.history.store import open_history
from hunting_lib.history.verdicts import current_verdicts
from hunting_lib.report.verdict_form import finding_choices, submit_verdict
from hunting_lib.triage.exclusions import load_exclusions
from tests.history_helpers import counts, findings, program, record
from tests.test_report_definitions import Hooks, strip

ALPHA, BRAVO = program("alpha"), program("bravo")


@pytest.fixture
def history(tmp_path):
    """A history file with one run whose findings are alpha (SHA1 a…) and bravo."""
    path = tmp_path / "history.sqlite"
    group = counts([ALPHA, BRAVO], week=0, count=1)
    with open_history(path) as store:
        record_run(store, record(0, group, findings(group, sha1s=[["a" * 40], []])))
    return path, dict(zip(group["FileName"], group["GroupKey"]))


def verdicts(path) -> pd.DataFrame:
    with open_history(path, create=False) as store:
        return current_verdicts(store)


def test_a_benign_verdict_is_recorded_bound_to_the_sha1_with_a_draft_rule(history, tmp_path):
    path, keys = history
    drafts = tmp_path / "drafts.yaml"
    shown = submit_verdict(path, keys["alpha.exe"], "benign", " ana ", "the alpha updater", drafts)
    text = strip(shown)
    assert f"recorded on {keys['alpha.exe']}: benign by ana on 2026-11-15, until 2027-02-13: the alpha updater" in text
    assert "bound to 1 SHA1(s)" in text and "written to drafts.yaml for review" in text
    (row,) = verdicts(path).to_dict(orient="records")
    assert (row["GroupKey"], row["Verdict"], row["Analyst"], row["SHA1s"]) == (keys["alpha.exe"], "benign", "ana",
                                                                               ["a" * 40])
    # the draft loads as exclusion rules and names the owner, reason and the verdict's expiry
    (rule,) = load_exclusions(str(drafts))
    assert rule.owner == "ana" and rule.reason == "the alpha updater" and str(rule.expires) == "2027-02-13"


@pytest.mark.parametrize("fields, expected", [
    ({"history": None}, "set the notebook's `history` parameter"),
    ({"group_key": ""}, "pick a finding"),
    ({"verdict": "fine"}, "the verdict is one of benign, malicious, follow-up"),
    ({"analyst": "  "}, "the analyst's name is required"),
    ({"verdict": "malicious", "draft_rule": "d.yaml"}, "only for a benign verdict"),
    ({"group_key": "gk-not-a-key"}, "not a group key"),
])
def test_a_bad_field_records_nothing_and_says_why_in_one_line(history, fields, expected):
    path, keys = history
    arguments = {"history": path, "group_key": keys["alpha.exe"], "verdict": "benign", "analyst": "ana",
                 "note": "n", "draft_rule": None, **fields}
    shown = submit_verdict(**arguments)
    assert 'data-verdict="error"' in shown and expected in strip(shown)
    assert verdicts(path).empty


def test_a_draft_rule_for_a_key_never_found_records_nothing(history, tmp_path):
    path, _ = history
    shown = strip(submit_verdict(path, "gk-0123456789abcdef", "benign", "ana", "x", tmp_path / "d.yaml"))
    assert "Not recorded" in shown and "no recorded finding" in shown
    assert verdicts(path).empty and not (tmp_path / "d.yaml").exists()


def test_a_verdict_on_an_unseen_key_is_recorded_with_a_word(history):
    path, _ = history
    shown = strip(submit_verdict(path, "gk-0123456789abcdef", "follow-up", "ana", ""))
    assert "recorded on gk-0123456789abcdef: follow-up by ana" in shown and "was never seen in this history" in shown
    assert verdicts(path)["GroupKey"].tolist() == ["gk-0123456789abcdef"]


def test_a_corrupt_history_file_is_one_line_not_a_traceback(tmp_path):
    broken = tmp_path / "broken.sqlite"
    broken.write_bytes(b"not a database" * 100)
    shown = submit_verdict(broken, "gk-0123456789abcdef", "malicious", "ana")
    assert 'data-verdict="error"' in shown and "broken.sqlite" in shown and "Traceback" not in shown


def test_hostile_notes_stay_text(history):
    path, keys = history
    shown = submit_verdict(path, keys["bravo.exe"], "malicious", '<img src=x onerror="alert(1)">',
                           "<script>alert(2)</script>")
    page = Hooks(shown)
    assert not [t for t, _ in page.tags if t in ("img", "script")]
    assert "<script>alert(2)</script>" in strip(shown)


def test_choices_list_findings_first_then_suppressed():
    rare = pd.DataFrame([
        {"GroupKey": "gk-1", "FileName": "known.exe", "SuppressedBy": "known:\\X", "TaskNames": []},
        {"GroupKey": "gk-2", "FileName": "evil.exe", "SuppressedBy": None, "TaskNames": ["\\Updater", "\\Other"]},
    ])
    assert finding_choices(rare) == [("#1 evil.exe: \\Updater and 1 more (gk-2)", "gk-2"),
                                     ("#2 known.exe (gk-1) [suppressed]", "gk-1")]
    assert finding_choices(rare.iloc[0:0]) == []


def test_in_a_front_end_the_notebook_shows_the_form_and_never_waits(tmp_path):
    """The hunt notebook run as JupyterLab runs it (not headless) with a history file: the
    Verdicts cell shows the form's widgets, and the run finishes without anyone pressing a button."""
    import nbformat

    from tests.conftest import oracle, task_start

    papermill = oracle("papermill")
    from hunting_lib.report.runner import HUNT_NOTEBOOK

    folder = tmp_path / "data"
    folder.mkdir()
    pd.DataFrame([task_start("evil.exe", "evil.exe -run", r"C:\Users\Public\evil.exe", pid=1)]).to_csv(
        folder / "DeviceProcessEvents.csv", index=False)
    out = tmp_path / "interactive.ipynb"
    papermill.execute_notebook(str(HUNT_NOTEBOOK), str(out), kernel_name="python3", cwd=str(HUNT_NOTEBOOK.parent),
                               parameters={"data_dir": str(folder), "papermill_run": False, "export_dir": str(tmp_path),
                                           "history": str(tmp_path / "h.sqlite")},
                               progress_bar=False, execution_timeout=120)
    (cell,) = [c for c in nbformat.read(out, as_version=4).cells if "verdict_form(" in c.source]
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in cell.outputs)
    with open_history(tmp_path / "h.sqlite", create=False) as store:  # the hunt was recorded
        assert store.query("SELECT COUNT(*) FROM runs")[0][0] == 1
