"""Step 5: matching activity to the rare tasks, and the seed's summary."""

import pandas as pd

from hunting_lib.hunt import run_hunt
from hunting_lib.params import HuntParams
from tests.conftest import T0, activity, task_start, typed

A = ("a.exe", "a.exe --one", r"C:\Tools\a.exe")
B = ("b.exe", "b.exe --two", r"C:\Tools\b.exe")


def hunt(processes, **tables):
    frames = {"DeviceProcessEvents": typed("DeviceProcessEvents", processes)}
    frames.update({name: typed(name, rows) for name, rows in tables.items()})
    return run_hunt(frames, HuntParams())


def test_each_list_is_matched_independently_as_the_seed_does():
    # a.exe with b's command line and a's folder: every value is in its own rare set, so the seed
    # keeps the row although no single rare group has that combination.
    mixed = activity("a.exe", "b.exe --two", r"C:\Tools\a.exe", pid=9)
    result = hunt([task_start(*A, pid=1), task_start(*B, pid=2)],
                  DeviceNetworkEvents=[mixed, activity(*A, pid=1, RemoteIP="8.8.8.8")])
    assert sorted(result.activity["InitiatingProcessId"]) == [1, 9]


def test_match_ignores_case_on_all_three_strings():
    upper = activity("A.EXE", "A.EXE --ONE", r"c:\tools\A.exe", pid=1)
    result = hunt([task_start(*A, pid=1)], DeviceFileEvents=[upper])
    assert result.activity["InitiatingProcessFileName"].tolist() == ["A.EXE"]


def test_rows_of_non_rare_programs_are_not_matched():
    common = ("c.exe", "c.exe", r"C:\Tools\c.exe")
    result = hunt([task_start(*A, pid=1)] + [task_start(*common, pid=10 + i) for i in range(3)],
                  DeviceFileEvents=[activity(*common, pid=10), activity("a.exe", "a.exe --one",
                                                                       r"C:\Other\a.exe", pid=1)])
    assert result.activity.empty


def test_make_set_lists_union_fills_and_groups():
    rows = dict(
        DeviceNetworkEvents=[
            activity(*A, pid=1, action="ConnectionSuccess", RemoteIP="203.0.113.5", minutes=3),
            activity(*A, pid=1, action="ConnectionSuccess", RemoteIP="203.0.113.5", minutes=4),
            activity(*A, pid=1, action="ConnectionFailed", RemoteIP="198.51.100.7", minutes=5),
        ],
        DeviceFileEvents=[activity(*A, pid=1, action="FileCreated", FileName="x.tmp", minutes=2)],
        DeviceRegistryEvents=[activity(*A, pid=1, action="RegistryValueSet", minutes=1)],
        # Same process id, another creation time: a different process, a separate row.
        DeviceImageLoadEvents=[activity(*A, pid=1, action="ImageLoaded", FileName="x.dll",
                                        created_minutes=50, minutes=60)],
    )
    result = hunt([task_start(*A, pid=1)], **rows)
    first, second = result.activity.to_dict("records")
    assert first["Actions"] == ["ConnectionFailed", "ConnectionSuccess", "FileCreated", "RegistryValueSet"]
    assert first["RemoteIPs"] == ["198.51.100.7", "203.0.113.5"]
    assert first["FileNames"] == ["x.tmp"]  # "" from tables without FileName is not kept
    assert first["EventCount"] == 5
    assert set(first["Tables"]) == {"DeviceNetworkEvents", "DeviceFileEvents", "DeviceRegistryEvents"}
    assert second["Actions"] == ["ImageLoaded"] and second["RemoteIPs"] == []
    assert second["InitiatingProcessCreationTime"] == T0 + pd.Timedelta(minutes=50)


def test_missing_creation_time_still_groups():
    row = activity(*A, pid=1)
    row["InitiatingProcessCreationTime"] = ""
    result = hunt([task_start(*A, pid=1)], DeviceEvents=[row, dict(row, ActionType="DnsQueryResponse")])
    assert len(result.activity) == 1
    assert pd.isna(result.activity.loc[0, "InitiatingProcessCreationTime"])
    assert sorted(result.activity.loc[0, "Actions"]) == ["ConnectionSuccess", "DnsQueryResponse"]


def test_process_table_activity_counts_too():
    child = task_start("whoami.exe", "whoami /all", r"C:\Windows\System32\whoami.exe", pid=7)
    child.update(InitiatingProcessFileName=A[0], InitiatingProcessCommandLine=A[1],
                 InitiatingProcessFolderPath=A[2], InitiatingProcessId=1)
    result = hunt([task_start(*A, pid=1), child])
    assert result.activity.loc[0, "FileNames"] == ["whoami.exe"]
    assert result.activity.loc[0, "Actions"] == ["ProcessCreated"]


def test_activity_outside_the_window_is_ignored():
    rows = [activity(*A, pid=1, minutes=1), activity(*A, pid=1, minutes=600, action="Late")]
    frames = {"DeviceProcessEvents": typed("DeviceProcessEvents", [task_start(*A, pid=1)]),
              "DeviceFileEvents": typed("DeviceFileEvents", rows)}
    result = run_hunt(frames, HuntParams(end=(T0 + pd.Timedelta(hours=1)).isoformat()))
    assert result.activity.loc[0, "Actions"] == ["ConnectionSuccess"]
