"""History and verdicts in the report: the "What's new" section and the short texts of tables.

The hunts here are built by hand (rare groups with History and Verdict as the history store
writes them); expected text comes from those values, not from running the code.
"""

from __future__ import annotations

import pandas as pd

from hunting_lib.params import HuntParams
from hunting_lib.report.history_view import (
    history_columns,
    history_text,
    ranking_table,
    verdict_text,
    whats_new_html,
)
from hunting_lib.result import HuntResult
from hunting_lib.triage.pipeline import readable
from tests.test_report_definitions import Hooks, strip

HOSTILE = '<img src=x onerror="window.__pwned=1"><script>alert(1)</script>'
BENIGN = {"Verdict": "benign", "Analyst": "ana", "Note": "the backup agent", "At": "2026-11-10T09:00:00Z",
          "Expires": "2027-02-08T09:00:00Z", "Id": 7, "SHA1s": ["ab" * 20], "BinaryChanged": False}


def group(key: str, file_name: str, score: float, new: bool | None, verdict: dict | None = None,
          suppressed_by: str | None = None, task_name: str | None = None, line: str | None = None) -> dict:
    return {
        "TaskId": hash(key) % 1000, "GroupKey": key, "FileName": file_name, "FolderPath": "C:\\x\\" + file_name,
        "ProcessCommandLine": line or f"{file_name} -run", "Count": 1, "DeviceCount": 1, "Score": score,
        "Critical": False, "ReasonText": ["user-writable path"], "ReasonTechniques": ["T1036"],
        "SuppressedBy": suppressed_by, "TaskNames": [task_name] if task_name else [],
        "History": None if new is None else {"New": new, "FirstSeen": "2026-10-26T03:00:00Z" if not new else
                                             "2026-11-02T08:00:00Z", "RunsSeen": 0 if new else 3},
        "Verdict": verdict,
    }


def hunt(groups: list[dict], history_run: dict | None) -> HuntResult:
    empty = pd.DataFrame()
    result = HuntResult(HuntParams(), pd.DataFrame(groups), empty, empty, empty, empty)
    result.history_run = history_run
    return result


def test_history_and_verdict_read_in_a_few_words():
    assert history_text({"New": True, "FirstSeen": "2026-11-02T08:00:00Z", "RunsSeen": 0}) == "new"
    assert history_text({"New": False, "FirstSeen": "2026-10-26T03:00:00Z", "RunsSeen": 3}) == \
        "seen in 3 earlier run(s) since 2026-10-26"
    assert history_text(None) == "" and history_text(float("nan")) == ""
    assert verdict_text(BENIGN) == "benign by ana on 2026-11-10, until 2027-02-08: the backup agent"
    assert verdict_text({**BENIGN, "BinaryChanged": True, "Note": ""}) == \
        "benign by ana on 2026-11-10, until 2027-02-08 (the binary changed since: not applied)"
    assert verdict_text({"Verdict": "malicious", "Analyst": "bo", "At": "2026-11-11T00:00:00Z", "Expires": None,
                         "Note": "x" * 200}).endswith("x" * 79 + "…")
    assert verdict_text(None) == ""


def test_tables_gain_task_name_new_and_verdict():
    groups = [group("gk-a", "evil.exe", 9, True, task_name="\\Updater"),
              group("gk-b", "agent.exe", 2, False, verdict=BENIGN, suppressed_by="verdict:7")]
    frame = pd.DataFrame(groups)
    columns = history_columns(frame)
    assert columns["TaskName"].tolist() == ["\\Updater", ""]
    assert columns["New"].tolist() == ["new", "seen in 3 earlier run(s) since 2026-10-26"]
    assert columns["Verdict"].tolist() == ["", verdict_text(BENIGN)]
    table = ranking_table(readable(frame), frame)
    assert list(table.columns[:2]) == ["Rank", "New"]
    assert table.columns.get_loc("TaskName") == table.columns.get_loc("FileName") + 1
    assert table["Verdict"].tolist() == ["", verdict_text(BENIGN)]
    # without history, no New or Verdict column; the task name still shows
    plain = ranking_table(readable(frame), frame.drop(columns=["History", "Verdict"]))
    assert "New" not in plain and "Verdict" not in plain and plain["TaskName"].tolist() == ["\\Updater", ""]


def test_whats_new_lists_new_keys_vanished_findings_and_verdicts():
    groups = [group("gk-new1", "evil.exe", 9, True, task_name="\\Updater"),
              group("gk-old1", "tool.exe", 5, False),
              group("gk-new2", "drop.exe", 4, True),
              group("gk-ben", "agent.exe", 2, False, verdict=BENIGN, suppressed_by="verdict:7")]
    vanished = pd.DataFrame([{"GroupKey": "gk-gone", "FileName": "gone.exe", "ProcessCommandLine": "gone.exe /x",
                              "Score": 6.0, "SuppressedBy": None, "StillRunning": True},
                             {"GroupKey": "gk-was-suppressed", "FileName": "rule.exe", "ProcessCommandLine": "rule.exe",
                              "Score": 1.0, "SuppressedBy": "some-rule", "StillRunning": False}])
    html = whats_new_html(hunt(groups, {"path_name": "history.sqlite", "run_id": 5, "previous_run_id": 4}),
                          {"vanished": vanished, "appeared": pd.DataFrame()})
    page = Hooks(html)
    text = strip(html)
    assert "What's new since the last run" in text
    assert "run 5 of the history history.sqlite; the previous run is 4" in text
    items = [t for t, a in page.tags if a.get("data-whatsnew") == "new-key"]
    assert len(items) == 2  # the two findings with a new key; the old one and the suppressed one are not listed
    assert "gk-new1, evil.exe, task \\Updater, score 9: evil.exe -run" in text
    assert "gk-new2" in text and "gk-old1" not in text
    assert "2 of the 4 rare groups are new" in text
    # a group suppressed in run 4 was no finding then: not listed as a vanished finding
    assert "1 finding(s) of run 4 are not rare groups now" in text and "gk-was-suppressed" not in text
    assert "gk-gone, gone.exe, score 6, still started here, no longer rare: gone.exe /x" in text
    assert "1 verdict(s) in force" in text
    assert "gk-ben agent.exe: benign by ana on 2026-11-10, until 2027-02-08: the backup agent (suppressed)" in text


def test_whats_new_on_a_first_run_and_without_history():
    first = whats_new_html(hunt([group("gk-a", "a.exe", 1, True)], {"path_name": "h.sqlite", "run_id": 1,
                                                                    "previous_run_id": None}))
    assert "it is the first run recorded there, so every group is new" in strip(first)
    assert "not rare groups now" not in strip(first)  # nothing to have vanished from
    assert whats_new_html(hunt([group("gk-a", "a.exe", 1, None)], None)) == ""


def test_whats_new_keeps_hostile_text_inert_and_redacts():
    groups = [group("gk-h", HOSTILE, 9, True, task_name=HOSTILE, line="net use /user:adm S3cret! " + HOSTILE,
                    verdict={**BENIGN, "Note": HOSTILE, "Analyst": HOSTILE})]
    vanished = pd.DataFrame([{"GroupKey": HOSTILE, "FileName": HOSTILE, "ProcessCommandLine": HOSTILE, "Score": 1}])
    html = whats_new_html(hunt(groups, {"path_name": HOSTILE, "run_id": 2, "previous_run_id": 1}),
                          {"vanished": vanished}, redact=lambda text: text.replace("S3cret!", "<redacted>"))
    page = Hooks(html)
    assert not [t for t, _ in page.tags if t in ("img", "script")]
    assert not [n for _, a in page.tags for n in a if n.startswith("on")]
    assert "S3cret!" not in html and "&lt;redacted&gt;" in html
    assert HOSTILE in strip(html)


def test_summary_lines_and_evidence_cards_carry_task_history_and_verdict():
    from hunting_lib.report.evidence import evidence_card_html
    from hunting_lib.report.summary import finding_line

    new = pd.Series(group("gk-a", "evil.exe", 9, True, task_name="\\Updater"))
    seen = pd.Series(group("gk-b", "tool.exe", 5, False, verdict={**BENIGN, "Verdict": "follow-up", "Expires": None}))
    line = strip(finding_line(1, new))
    assert line.startswith("#1 evil.exe task \\Updater (score 9, 1 run(s) on 1 device(s)) new: user-writable path")
    assert strip(finding_line(2, seen)) == ("#2 tool.exe (score 5, 1 run(s) on 1 device(s)) (seen in 3 earlier "
                                            "run(s) since 2026-10-26) verdict: follow-up by ana on 2026-11-10: "
                                            "the backup agent: user-writable path")
    # without history nothing of it shows
    plain = strip(finding_line(1, new.drop(["History", "Verdict", "TaskNames"])))
    assert "new" not in plain.split(":")[0] and "verdict" not in plain and "task " not in plain

    timeline = pd.DataFrame(columns=["Table", "ActionType", "Depth"])
    card = strip(evidence_card_html(seen, timeline))
    assert "History seen in 3 earlier run(s) since 2026-10-26" in card
    assert "Verdict follow-up by ana on 2026-11-10: the backup agent" in card
    assert "Task no registration found in the data" in card
    card = strip(evidence_card_html(new.drop(["History", "Verdict"]), timeline))
    assert "Task \\Updater" in card and "History" not in card and "Verdict" not in card


def test_run_changes_reads_what_vanished_from_the_history_file(tmp_path):
    from hunting_lib.history.runs import record_run
    from hunting_lib.history.store import open_history
    from hunting_lib.report.history_view import run_changes
    from tests.history_helpers import counts, findings, program, record

    path = tmp_path / "history.sqlite"
    week0 = counts([program("alpha"), program("bravo")], week=0, count=1)
    week1 = counts([program("bravo"), program("charlie")], week=1, count=1)
    with open_history(path) as store:
        first = record_run(store, record(0, week0, findings(week0)))
        second = record_run(store, record(1, week1, findings(week1)))
    result = hunt([group("gk-x", "x.exe", 1, True)], {"path_name": path.name, "run_id": second,
                                                       "previous_run_id": first})
    result.params = HuntParams(history=str(path))
    changes = run_changes(result)
    alpha_key = week0.loc[week0["FileName"] == "alpha.exe", "GroupKey"].iloc[0]
    charlie_key = week1.loc[week1["FileName"] == "charlie.exe", "GroupKey"].iloc[0]
    assert changes["vanished"]["GroupKey"].tolist() == [alpha_key]
    assert changes["appeared"]["GroupKey"].tolist() == [charlie_key]
    section = strip(whats_new_html(result, changes))
    assert f"1 finding(s) of run {first} are not rare groups now" in section
    assert f"{alpha_key}, alpha.exe, score 4, not started in this window" in section
    # the first run of a history has nothing to compare with
    result.history_run = {"path_name": path.name, "run_id": first, "previous_run_id": None}
    assert run_changes(result) is None


def test_no_verdict_in_force_says_so_plainly():
    html = whats_new_html(hunt([group("gk-a", "a.exe", 1, True)], {"path_name": "h.sqlite", "run_id": 1,
                                                                   "previous_run_id": None}))
    assert "0 verdict(s) in force on this hunt's rare groups." in strip(html)
    assert 'data-whatsnew="verdict"' not in html
