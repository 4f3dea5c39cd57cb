"""The report with task definitions and history: two hunts of the sample over consecutive windows,
recorded in one history file, each rendered by the report command (papermill + nbconvert).

- every planted malicious task that is a finding shows its registered task's name (scenarios.yaml
  ``task_name``) in the summary, and each pivoted finding's definitions card names its task;
- the second report opens with "What's new since the last run", which lists exactly the findings
  whose key the first window never started: computed here from the first window's launches,
  not from the history file;
- the findings of the first run that are gone are listed as vanished;
- hostile text stays inert, and the page opens with that section in headless Chromium.
"""

from __future__ import annotations

import json
import re
import warnings
from html.parser import HTMLParser

import pandas as pd
import pytest
import yaml

from hunting_lib import load_data_folder, run_hunt
from hunting_lib.engine.coerce import ensure_columns
from hunting_lib.engine.group_key import group_keys
from hunting_lib.hunt import hunt_columns
from hunting_lib.params import HuntParams
from hunting_lib.report.runner import build_report
from hunting_lib.report.verdict_form import submit_verdict
from hunting_lib.schema import required_columns
from hunting_lib.triage.exclusions import load_exclusions
from tests.conftest import SAMPLE_DATA

#: Two consecutive half-open windows that cover the sample's eight days.
WINDOWS = [("2026-11-02T00:00:00Z", "2026-11-06T00:00:00Z"), ("2026-11-06T00:00:00Z", "2026-11-10T00:00:00Z")]


class Hooks(HTMLParser):
    """The text under each element carrying one of the hook attributes (data-whatsnew, ...)."""

    ATTRIBUTES = ("data-whatsnew", "data-definition", "data-summary", "data-finding")

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.hooks: dict[tuple[str, str], list[str]] = {}
        self.tags: list[tuple[str, dict]] = []
        self._open: list[list[tuple[str, str]]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag in ("br", "img", "meta", "link", "input", "hr", "col", "wbr", "source"):
            return
        found = [(name, attrs[name]) for name in self.ATTRIBUTES if attrs.get(name)]
        for hook in found:
            self.hooks.setdefault(hook, []).append("")
        self._open.append(found)

    def handle_endtag(self, tag):
        if self._open and tag not in ("br", "img", "meta", "link", "input", "hr", "col", "wbr", "source"):
            self._open.pop()

    def handle_data(self, data):
        for found in self._open:
            for hook in found:
                self.hooks[hook][-1] += data

    def texts(self, attribute: str, value: str) -> list[str]:
        return [" ".join(t.split()) for t in self.hooks.get((attribute, value), [])]


def window_hunt(number: int):
    """One window's hunt, run here without the report or the history (the tests' reference)."""
    start, end = WINDOWS[number]
    return run_hunt(load_data_folder(SAMPLE_DATA, columns=hunt_columns()),
                    HuntParams(start=start, end=end, max_devices=1))


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> list[dict]:
    """Both windows' reports, recorded in one history file, in order. Between them an analyst
    records a benign verdict, with a draft rule, through the notebook's form (``submit_verdict``)
    on a finding of the first run that is a finding of the second window too."""
    folder = tmp_path_factory.mktemp("history-reports")
    history = folder / "hunts.sqlite"
    seen = []
    for number, (start, end) in enumerate(WINDOWS, start=1):
        out = folder / f"run{number}" / "report.html"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            build_report(SAMPLE_DATA, out, HuntParams(start=start, end=end, max_devices=1, history=str(history)))
        html = out.read_text(encoding="utf-8")
        seen.append({"html": html, "page": Hooks(html), "path": out,
                     "findings.json": json.loads((out.parent / "findings.json").read_text(encoding="utf-8"))})
        if number == 1:
            later = set(window_hunt(1).findings["GroupKey"])
            both = [t for t in seen[0]["findings.json"]["rare_tasks"]
                    if t["SuppressedBy"] is None and t["GroupKey"] in later]
            assert both, "some finding of the first window is a finding of the second"
            key = both[0]["GroupKey"]
            answer = submit_verdict(history, key, "benign", "ana", "inventory script, reviewed", folder / "drafts.yaml")
            seen[0]["verdict"] = {"key": key, "answer": answer, "drafts": folder / "drafts.yaml"}
    return seen


def malicious_scenarios() -> list[dict]:
    scenarios = yaml.safe_load((SAMPLE_DATA / "scenarios.yaml").read_text(encoding="utf-8"))["scenarios"]
    # "malicious", and "malicious_never_ran" for a task registered that never ran
    return [s for s in scenarios if s["kind"].startswith("malicious") and s.get("task_name") and "FileName" in s]


def test_every_planted_malicious_finding_shows_its_task_name(reports):
    shown = set()
    for report in reports:
        findings = [t for t in report["findings.json"]["rare_tasks"] if t["SuppressedBy"] is None]
        lines = report["page"].texts("data-summary", "finding")
        assert len(lines) == len(findings)
        for scenario in malicious_scenarios():
            ranks = [rank for rank, t in enumerate(findings) if (t["FileName"], t["ProcessCommandLine"]) ==
                     (scenario["FileName"], scenario["ProcessCommandLine"])]
            if ranks:  # a finding of this window: its summary line names the scenario's task
                assert f"task {scenario['task_name']}" in lines[ranks[0]], (scenario["id"], lines[ranks[0]])
                shown.add(scenario["id"])
        # each pivoted finding's definitions card names the task of that finding (findings.json's)
        cards = report["page"].texts("data-definition", "task-name")
        pivoted = [t for t in findings[:len(report["page"].texts("data-definition", "card"))]]
        assert pivoted, "no finding was pivoted"
        for task in pivoted:
            names = [d["TaskName"] for d in task["TaskDefinitions"]]
            assert names and set(names) <= set(cards), (task["FileName"], names)
    # every planted attack ran in one of the two windows, so each was checked
    assert shown == {s["id"] for s in malicious_scenarios() if s.get("registration", {}).get("ran", True) is not False}


def test_the_second_report_lists_exactly_the_keys_the_first_window_never_saw(reports):
    launches = window_hunt(0).task_starts
    launches = launches[launches["Timestamp"] < pd.Timestamp(WINDOWS[0][1])]  # half-open, as history counts
    seen_before = set(group_keys(launches[["FileName", "ProcessCommandLine", "FolderPath"]])["GroupKey"])
    second = reports[1]["findings.json"]
    findings = [t for t in second["rare_tasks"] if t["SuppressedBy"] is None]
    expected_new = {t["GroupKey"] for t in findings if t["GroupKey"] not in seen_before}
    assert expected_new, "the second window should bring new findings"
    listed = reports[1]["page"].texts("data-whatsnew", "new-key")
    listed_keys = {re.match(r"(gk-[0-9a-f]{16})", item).group(1) for item in listed}
    assert listed_keys == expected_new
    assert reports[1]["page"].texts("data-whatsnew", "new-count") == [str(len(expected_new))]
    # and findings.json agrees: History.New on exactly those findings
    assert {t["GroupKey"] for t in findings if t["History"]["New"]} == expected_new


def test_the_first_runs_findings_that_are_gone_are_listed_as_vanished(reports):
    first = {t["GroupKey"] for t in reports[0]["findings.json"]["rare_tasks"] if t["SuppressedBy"] is None}
    second = {t["GroupKey"] for t in reports[1]["findings.json"]["rare_tasks"]}  # rare now, suppressed or not
    listed = {re.match(r"(gk-[0-9a-f]{16})", item).group(1)
              for item in reports[1]["page"].texts("data-whatsnew", "vanished-key")}
    assert listed == first - second and listed


def test_the_first_report_calls_itself_the_first_run(reports):
    page = reports[0]["page"]
    assert page.texts("data-whatsnew", "run-id") and not page.texts("data-whatsnew", "previous-run-id")
    assert "it is the first run recorded there" in page.texts("data-whatsnew", "section")[0]


def test_what_is_new_opens_the_report_in_a_browser(reports):
    from tests.test_browser import open_report

    seen = open_report(reports[1]["path"])
    title, first = seen["first_cells"]
    assert title["title"] and first["text"].startswith("What's new since the last run"), first
    assert seen["errors"] == [] and seen["pwned"] is None and seen["requests"] == []
    assert seen["wide_tables"] == 0


def test_a_registration_that_never_ran_is_in_its_table(reports):
    never = [s for s in malicious_scenarios() if s.get("registration", {}).get("ran") is False]
    assert never, "scenarios.yaml plants a registration that never runs"
    for scenario in never:
        registered = pd.Timestamp(scenario["registration"]["registered_at"])
        number = next(i for i, (start, end) in enumerate(WINDOWS) if pd.Timestamp(start) <= registered < pd.Timestamp(end))
        html = reports[number]["html"]
        section = html[html.index('id="Registered-but-never-ran"'):]
        section = section[:section.index("<h2")]
        assert scenario["registration"]["task_name"] in section


def test_a_benign_verdict_from_the_form_shows_in_the_next_report(reports):
    verdict = reports[0]["verdict"]
    assert 'data-verdict="recorded"' in verdict["answer"] and 'data-verdict="draft-rule"' in verdict["answer"]
    (rule,) = load_exclusions(str(verdict["drafts"]))  # the draft is a loadable rule, owned by the analyst
    assert rule.owner == "ana" and rule.reason == "inventory script, reviewed"
    (task,) = [t for t in reports[1]["findings.json"]["rare_tasks"] if t["GroupKey"] == verdict["key"]]
    assert (task["Verdict"]["Verdict"], task["Verdict"]["Analyst"]) == ("benign", "ana")
    items = reports[1]["page"].texts("data-whatsnew", "verdict")
    (item,) = [i for i in items if i.startswith(verdict["key"])]
    assert "benign by ana on 2026-11-15" in item
    # suppressed by the verdict, or kept a finding by a tripwire, as findings.json says
    if task["SuppressedBy"] is None:
        assert task["Critical"] and item.endswith("(still a finding)")
        lines = reports[1]["page"].texts("data-summary", "finding")
        findings = [t for t in reports[1]["findings.json"]["rare_tasks"] if t["SuppressedBy"] is None]
        line = lines[[t["GroupKey"] for t in findings].index(verdict["key"])]
        assert "verdict: benign by ana" in line
    else:
        assert task["SuppressedBy"].startswith("verdict:") and item.endswith("(suppressed)")
    assert reports[0]["page"].texts("data-whatsnew", "verdict") == []  # none before it was recorded


def test_headless_the_verdicts_section_lists_every_rare_groups_key(reports):
    html = reports[1]["html"]
    section = html[html.index('id="Verdicts"'):]
    section = section[:section.index("<h2")]
    keys = {t["GroupKey"] for t in reports[1]["findings.json"]["rare_tasks"]}
    assert keys and all(key in section for key in keys)
    assert "widget-view" not in section  # headless: no widget, nothing waits for input


HOSTILE_TASK = '\\Upd<script>window.__pwned=6</script><img src=x onerror="window.__pwned=7">'
HOSTILE_ARGS = '-c "<svg onload=window.__pwned=8>" & whoami'


@pytest.fixture(scope="module")
def hostile_task_report(tmp_path_factory) -> dict:
    """A report (with history) on a task registered remotely under an attacker-written name and
    action, opened in headless Chromium."""
    from tests.task_rows import json_content, launch, logon, remote_registration, spec
    from tests.test_browser import open_report

    folder = tmp_path_factory.mktemp("hostile-task")
    program = "C:\\Users\\Public\\evil.exe"
    def write(table: str, row: dict) -> None:  # with every column the loader requires of the table
        ensure_columns(pd.DataFrame([row]), table, required_columns(table)).to_csv(folder / f"{table}.csv", index=False)

    line = f'"{program}" {HOSTILE_ARGS}'
    write("DeviceProcessEvents", launch(program, line))
    content = json_content(spec(uri=HOSTILE_TASK, actions=[(program, HOSTILE_ARGS)]))
    write("DeviceEvents", remote_registration(HOSTILE_TASK, content, subject=("FABRIKAM", "adm", "0x1a2b3c")))
    write("DeviceLogonEvents", logon(0x1A2B3C, ip="10.9.8.7", remote="attacker-ws"))
    out = folder / "report" / "report.html"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        build_report(folder, out, HuntParams(history=str(folder / "h.sqlite")))
    seen = open_report(out)
    seen["findings.json"] = json.loads((out.parent / "findings.json").read_text(encoding="utf-8"))
    return seen


def test_a_hostile_task_name_and_action_stay_text_in_the_browser(hostile_task_report):
    seen = hostile_task_report
    (task,) = seen["findings.json"]["rare_tasks"]
    assert [d["TaskName"] for d in task["TaskDefinitions"]] == [HOSTILE_TASK]  # the hunt linked the registration
    assert seen["pwned"] is None and seen["dialogs"] == [] and seen["errors"] == []
    assert seen["images"] == 0  # no <img>/<svg> from the data became an element
    assert HOSTILE_TASK in seen["text"] and HOSTILE_ARGS in seen["text"]  # shown, as text
    # the remote registration's address and device, from the network logon
    assert "over a network logon from 10.9.8.7, device attacker-ws" in seen["text"]
    assert task["GroupKey"] in seen["text"].split("What's new since the last run", 1)[1]
