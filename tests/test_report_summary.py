"""The report's summary, evidence cards and display tables, on hand-built hunts.

Expected figures come from the tables written here (counted by hand), not from running the code.
"""

from __future__ import annotations

from html.parser import HTMLParser

import pandas as pd

from hunting_lib import HuntParams, run_hunt
from hunting_lib.pivots import pivot
from hunting_lib.report.evidence import actions, evidence_card_html
from hunting_lib.report.output import hunt_document, markdown_text
from hunting_lib.report.summary import summary_html
from hunting_lib.report.tables import for_display, short_path, short_sources
from tests.conftest import activity, task_start, typed

HOSTILE = '<img src=x onerror="window.__pwned=1"><script>alert(1)</script>'


class Hooks(HTMLParser):
    """Every element's tag and attributes, and the text under each ``data-summary`` hook."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.hooks: dict[str, list[str]] = {}
        self._stack: list[str | None] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        hook = attrs.get("data-summary")
        if hook:
            self.hooks.setdefault(hook, []).append("")
        self._stack.append(hook)

    def handle_endtag(self, tag):
        if self._stack:
            self._stack.pop()

    def handle_data(self, data):
        for hook in self._stack:
            if hook:
                self.hooks[hook][-1] += data


def hunt(exclusions=None):
    """Two rare groups on two devices (one hostile), and one group run 3 times (not rare)."""
    starts = [
        task_start("evil.exe", "evil.exe " + HOSTILE, r"C:\Users\Public\evil.exe", device="pc-01", pid=1),
        task_start("evil.exe", "evil.exe " + HOSTILE, r"C:\Users\Public\evil.exe", device="pc-01", pid=2, minutes=60),
        task_start("tool.exe", "tool.exe -x", r"C:\Tools\tool.exe", device="pc-02", pid=3, minutes=5),
    ] + [task_start("upd.exe", "upd.exe", r"C:\Program Files\upd.exe", device=f"pc-0{i}", pid=10 + i, minutes=i)
         for i in (1, 2, 3)]
    net = [activity("evil.exe", "evil.exe " + HOSTILE, r"C:\Users\Public\evil.exe", pid=1, RemoteIP="185.100.87.3"),
           activity("evil.exe", "evil.exe " + HOSTILE, r"C:\Users\Public\evil.exe", pid=1, RemoteIP="185.100.87.4",
                    minutes=2),
           activity("evil.exe", "evil.exe " + HOSTILE, r"C:\Users\Public\evil.exe", pid=1, action="ConnectionFailed",
                    RemoteIP="185.100.87.5", minutes=3)]
    tables = {"DeviceProcessEvents": typed("DeviceProcessEvents", starts),
              "DeviceNetworkEvents": typed("DeviceNetworkEvents", net)}
    return run_hunt(tables, HuntParams(exclusions=exclusions, known_tasks=None))


def test_summary_figures_and_one_line_per_finding():
    result = hunt()
    page = Hooks(summary_html(result, ["DeviceFileEvents.csv: 2 rows with an unreadable Timestamp"]))
    assert page.hooks["findings"] == ["2"] and page.hooks["rare-groups"] == ["2"]
    assert page.hooks["suppressed"] == ["0"]
    assert page.hooks["devices"] == ["3"]  # pc-01, pc-02, pc-03 launched tasks
    assert page.hooks["events"] == ["9"]  # 6 process events + 3 network events
    assert page.hooks["window-start"] == ["2026-11-02 08:00:00"]  # to the second, no fraction
    assert page.hooks["window-end"] == ["2026-11-02 09:00:00"]
    assert page.hooks["warnings"] == ["1"]
    lines = page.hooks["finding"]
    assert len(lines) == 2 and lines[0].startswith("#1 evil.exe") and lines[1].startswith("#2 tool.exe")
    # reasons in words (ReasonText), not the short ids
    assert result.findings.loc[0, "ReasonText"][0] in lines[0]
    assert "user_writable_path" not in lines[0]


def test_summary_names_what_suppressed_and_keeps_hostile_text_inert(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - id: tool-rule\n    enabled: true\n    description: the test's tool\n"
                     "    reason: test\n    owner: tests\n    expires: 2099-12-31\n"
                     "    when:\n      FileName: {equals: tool.exe}\n")
    result = hunt(exclusions=str(rules))
    html = summary_html(result, [HOSTILE])
    page = Hooks(html)
    assert page.hooks["suppressed"] == ["1"] and page.hooks["findings"] == ["1"]
    assert "tool-rule (1)" in html
    # the hostile warning text is text: no img or script element, no event handler
    assert not [t for t, _ in page.tags if t in ("img", "script")]
    assert not [n for _, a in page.tags for n in a if n.startswith("on")]


def test_evidence_card_counts_actions_and_escapes():
    result = hunt()
    task = result.rare_tasks.set_index("TaskId").loc[int(result.findings.loc[0, "TaskId"])]
    timeline = pivot.task_timeline(result, int(result.findings.loc[0, "TaskId"]))
    counts = actions(timeline).set_index("ActionType")["Events"].to_dict()
    assert counts == {"ConnectionSuccess": 2, "ConnectionFailed": 1}  # the two task starts are not its actions
    card = evidence_card_html(task, timeline)
    page = Hooks(card)
    assert not [t for t, _ in page.tags if t in ("img", "script")]
    assert "2 ConnectionSuccess (DeviceNetworkEvents); 1 ConnectionFailed (DeviceNetworkEvents)" in card
    assert "2 run(s), first 2026-11-02 08:00:00, last 2026-11-02 09:00:00 (UTC)" in card
    assert "1 device(s): pc-01" in card


def test_evidence_card_shows_the_decoded_command():
    encoded = "SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAIABOAGUAdAAuAFcAZQBiAEMAbABpAGUAbgB0ACkA"  # IEX (New-Object Net.WebClient)
    line = "powershell.exe -nop -w hidden -enc " + encoded
    tables = {"DeviceProcessEvents": typed("DeviceProcessEvents", [task_start(
        "powershell.exe", line, r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe")])}
    result = run_hunt(tables, HuntParams(exclusions=None, known_tasks=None))
    task_id = int(result.findings.loc[0, "TaskId"])
    card = evidence_card_html(result.rare_tasks.set_index("TaskId").loc[task_id], pivot.task_timeline(result, task_id))
    assert 'data-evidence="decoded">IEX (New-Object Net.WebClient)' in card


def test_display_tables_read_to_the_second_and_join_lists():
    frame = pd.DataFrame({"When": pd.to_datetime(["2026-11-02T08:00:01.9876543Z", None], utc=True),
                          "Devices": [["a", "b"], []], "Line": ["x" * 500, "y"]})
    shown = for_display(frame)
    assert shown["When"].tolist() == ["2026-11-02 08:00:01", ""]
    assert shown["Devices"].tolist() == ["a, b", ""]
    assert shown["Line"].tolist() == ["x" * 500, "y"]  # evidence is never cut
    assert frame["When"].iloc[0].nanosecond == 300  # the original keeps its precision


def test_local_paths_shown_by_folder_and_name():
    assert short_path("/home/ana/hunts/export/DeviceProcessEvents.csv") == "export/DeviceProcessEvents.csv"
    assert short_path(r"C:\Users\ana\export\DeviceEvents.parquet") == "export/DeviceEvents.parquet"
    assert short_sources({"DeviceProcessEvents": "/srv/x/data/p.csv", "provider": "QueryProvider",
                          "DeviceEvents": ["/srv/x/data/DeviceEvents/part-0.parquet"]}) == {
        "DeviceProcessEvents": "data/p.csv", "provider": "QueryProvider",
        "DeviceEvents": ["DeviceEvents/part-0.parquet"]}
    result = hunt()
    result.sources = {"DeviceProcessEvents": "/home/ana/secret-case/export/DeviceProcessEvents.csv"}
    assert hunt_document(result)["parameters"]["sources"] == {"DeviceProcessEvents": "export/DeviceProcessEvents.csv"}


def test_markdown_text_shows_quotes_as_quotes():
    assert markdown_text("Windows' folders") == "Windows' folders"
    assert markdown_text("<b>x</b>") == "&lt;b&gt;x&lt;/b&gt;"


def test_a_scanned_hunt_counts_events_from_the_parquet_footers(tmp_path):
    from hunting_lib.report.summary import event_count

    result = hunt()
    for name, table in result.data.items():
        table.to_parquet(tmp_path / f"{name}.parquet")
    result.data = None
    result.sources = {name: str(tmp_path / f"{name}.parquet") for name in ("DeviceProcessEvents", "DeviceNetworkEvents")}
    assert event_count(result) == 9  # 6 process events + 3 network events, as written above
    result.sources["DeviceFileEvents"] = str(tmp_path / "DeviceFileEvents.csv")
    assert event_count(result) is None  # a text file's rows are not counted without reading it
