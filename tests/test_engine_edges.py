"""Engine edge cases: empty windows, all tasks excluded, duplicated rows, clock skew, and
Defender's aggregated-report rows."""

from __future__ import annotations

import warnings

import pandas as pd

from hunting_lib.hunt import run_hunt
from hunting_lib.params import HuntParams
from tests.conftest import T0, activity, task_start, typed

TASK = ("evil.exe", "evil.exe -run", r"C:\Users\Public\evil.exe")


def hunt(processes, params=None, **tables):
    frames = {"DeviceProcessEvents": typed("DeviceProcessEvents", processes)}
    frames.update({name: typed(name, rows) for name, rows in tables.items()})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_hunt(frames, params or HuntParams(exclusions=None))


def test_a_window_with_no_data_gives_empty_results_with_the_usual_columns():
    full = hunt([task_start(*TASK, pid=1)])
    empty = hunt([task_start(*TASK, pid=1)], HuntParams(start="2030-01-01", end="2030-01-02"))
    assert empty.rare_tasks.empty and empty.activity.empty
    assert list(empty.rare_tasks.columns) == list(full.rare_tasks.columns)
    assert list(empty.activity.columns) == list(full.activity.columns)


def test_all_tasks_excluded_are_all_listed_as_suppressed(tmp_path):
    rules = tmp_path / "all.yaml"
    rules.write_text("""
rules:
  - id: everything
    description: d
    reason: r
    owner: o
    expires: 2099-01-01
    when:
      FolderPath: {startswith: 'C:\\'}
""")
    tools = ("a.exe", "a", r"C:\Tools\a.exe")
    result = hunt([task_start(*tools, pid=1), task_start("b.exe", "b", r"C:\b.exe", pid=2)],
                  HuntParams(exclusions=str(rules)))
    assert len(result.rare_tasks) == 2 and (result.rare_tasks["SuppressedBy"] == "everything").all()
    assert result.findings.empty and len(result.suppressed) == 2
    # A rule that matches everything still cannot hide a payload in a user-writable folder.
    tripped = hunt([task_start(*tools, pid=1), task_start(*TASK, pid=2)], HuntParams(exclusions=str(rules)))
    assert tripped.suppressed["FileName"].tolist() == ["a.exe"]
    assert tripped.findings["WouldSuppressBy"].tolist() == ["everything"]


def test_duplicated_rows_count_twice_as_in_kusto():
    row = task_start(*TASK, pid=1)
    result = hunt([row, row])
    assert result.rare_tasks.loc[0, "Count"] == 2
    assert hunt([row, row, row]).rare_tasks.empty  # three identical starts: not rare at the seed's 3


def test_activity_stamped_before_its_process_started_still_belongs_to_it():
    # Clock skew: the event's Timestamp is before the process's creation time.
    skewed = activity(*TASK, pid=1, minutes=-3, created_minutes=0, RemoteIP="185.100.87.3")
    for match in ("seed", "process"):
        result = hunt([task_start(*TASK, pid=1)], HuntParams(exclusions=None, match=match),
                      DeviceNetworkEvents=[skewed])
        assert result.activity.loc[0, "RemoteIPs"] == ["185.100.87.3"], match


def test_aggregated_report_rows_do_not_break_the_hunt():
    aggregated = task_start("SenseNdr.exe", "SenseNdr.exe -", r"C:\Program Files\Defender\SenseNdr.exe", pid=0)
    aggregated.update(ActionType="ProcessCreatedAggregatedReport", InitiatingProcessId="",
                      InitiatingProcessCreationTime="")
    child = activity(*TASK, pid=1, action="FileCreated")
    for match in ("seed", "process"):
        result = hunt([task_start(*TASK, pid=1), aggregated], HuntParams(exclusions=None, match=match),
                      DeviceFileEvents=[child])
        assert result.activity["InitiatingProcessId"].tolist() == [1], match


def test_a_process_id_reused_later_is_a_different_process():
    first = task_start(*TASK, pid=7, minutes=0)
    second = task_start(*TASK, pid=7, minutes=120)
    events = [activity(*TASK, pid=7, created_minutes=0, minutes=1, action="First"),
              activity(*TASK, pid=7, created_minutes=120, minutes=121, action="Second")]
    result = hunt([first, second], HuntParams(exclusions=None, match="process"), DeviceFileEvents=events)
    assert len(result.activity) == 2
    assert sorted(a for actions in result.activity["Actions"] for a in actions) == ["First", "Second"]
    times = sorted(result.activity["InitiatingProcessCreationTime"])
    assert times == [T0, T0 + pd.Timedelta(minutes=120)]
