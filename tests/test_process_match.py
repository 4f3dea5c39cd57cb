"""``--match process``: activity keyed on process identity, with descendants."""

import warnings

import pandas as pd

from hunting_lib.engine.correlate import task_process_tree
from hunting_lib.engine.loader import load_data_folder
from hunting_lib.engine.rarity import find_rare_tasks, scheduled_task_starts
from hunting_lib.hunt import run_hunt
from hunting_lib.params import HuntParams
from tests.conftest import REAL_DATA, T0, activity, needs_shared, task_start, typed

TASK = ("evil.exe", "evil.exe -run", r"C:\Users\Public\evil.exe")


def hunt(processes, match="process", **tables):
    frames = {"DeviceProcessEvents": typed("DeviceProcessEvents", processes)}
    frames.update({name: typed(name, rows) for name, rows in tables.items()})
    return run_hunt(frames, HuntParams(exclusions=None, match=match))


def child_of(parent_pid, parent_created_minutes, pid, name="cmd.exe", command="cmd.exe /c whoami",
             path=r"C:\Windows\System32\cmd.exe", parent=TASK, minutes=2, parent_folder=None):
    row = task_start(name, command, path, pid=pid, minutes=minutes)
    row.update(InitiatingProcessFileName=parent[0], InitiatingProcessCommandLine=parent[1],
               InitiatingProcessFolderPath=parent_folder or parent[2], InitiatingProcessId=parent_pid,
               InitiatingProcessCreationTime=(T0 + pd.Timedelta(minutes=parent_created_minutes)).isoformat())
    return row


def test_descendants_and_their_activity_are_found():
    processes = [task_start(*TASK, pid=100), child_of(100, 0, pid=200),
                 child_of(200, 2, pid=300, name="whoami.exe", command="whoami /all",
                          path=r"C:\Windows\System32\whoami.exe",
                          parent=("cmd.exe", "cmd.exe /c whoami", r"C:\Windows\System32\cmd.exe"), minutes=3)]
    network = [activity("whoami.exe", "whoami /all", r"C:\Windows\System32\whoami.exe", pid=300,
                        created_minutes=3, RemoteIP="185.100.87.3", minutes=4)]
    result = hunt(processes, DeviceNetworkEvents=network)
    depth = dict(zip(result.activity_rows["InitiatingProcessId"], result.activity_rows["Depth"]))
    assert depth == {100: 0, 200: 1, 300: 2}
    assert set(result.activity_rows["TaskId"]) == {result.rare_tasks.loc[0, "TaskId"]}
    assert "public_ip" in result.rare_tasks.loc[0, "Reasons"] and "child_shell" in result.rare_tasks.loc[0, "Reasons"]
    # The seed's string match sees only the task's own process.
    seed = hunt(processes, match="seed", DeviceNetworkEvents=network)
    assert set(seed.activity_rows["InitiatingProcessId"]) == {100}


def test_a_non_task_process_sharing_the_command_line_is_not_pulled_in():
    impostor = activity(*TASK, pid=999, created_minutes=30, minutes=31, RemoteIP="198.51.100.1")
    real = activity(*TASK, pid=100, created_minutes=0, minutes=1, RemoteIP="203.0.113.7")
    process = hunt([task_start(*TASK, pid=100)], DeviceNetworkEvents=[impostor, real])
    assert process.activity["InitiatingProcessId"].tolist() == [100]
    seed = hunt([task_start(*TASK, pid=100)], match="seed", DeviceNetworkEvents=[impostor, real])
    assert sorted(seed.activity["InitiatingProcessId"]) == [100, 999]


def test_process_id_reuse_is_told_apart_by_creation_time():
    later = activity(*TASK, pid=100, created_minutes=120, minutes=121, action="FileCreated")
    result = hunt([task_start(*TASK, pid=100)], DeviceFileEvents=[later, activity(*TASK, pid=100, action="Ok")])
    assert result.activity_rows["ActionType"].tolist() == ["Ok"]


def test_works_when_initiating_folder_path_is_only_the_folder():
    # As in the real msticpy export: InitiatingProcessFolderPath holds c:\users\public, no file name.
    rows = [task_start(*TASK, pid=100), child_of(100, 0, pid=200, parent_folder=r"c:\users\public")]
    assert hunt(rows, match="seed").activity.empty
    result = hunt(rows)
    assert result.activity["FileNames"].tolist() == [["cmd.exe"]]


def test_rows_without_creation_time_take_the_latest_start_before_them():
    early = activity(*TASK, pid=100, minutes=5, action="Mine")
    early["InitiatingProcessCreationTime"] = ""
    reused = task_start("other.exe", "other.exe", r"C:\other.exe", pid=100, minutes=60)
    reused["InitiatingProcessCommandLine"] = "explorer.exe"  # not a task
    late = activity(*TASK, pid=100, minutes=65, action="NotMine")
    late["InitiatingProcessCreationTime"] = ""
    result = hunt([task_start(*TASK, pid=100), reused], DeviceFileEvents=[early, late])
    assert result.activity_rows["ActionType"].tolist() == ["Mine"]


@needs_shared
def test_real_export_children_are_linked_despite_creation_time_offsets():
    # In the real msticpy export a start event's ProcessCreationTime is up to 17 s after the
    # creation time its children record; the tree must still link them.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        processes = load_data_folder(REAL_DATA / "msticpy")["DeviceProcessEvents"]
    params = HuntParams(threshold=10_000)
    starts = processes[processes["InitiatingProcessCommandLine"] == "svchost.exe -k netsvcs -p -s Schedule"]
    groups = starts.groupby(["FileName", "ProcessCommandLine", "FolderPath"]).size().reset_index()
    groups["TaskId"] = range(len(groups))
    tree = task_process_tree(processes, starts, groups)
    children = tree[tree["Depth"] == 1]
    parent_ids = set(processes.loc[processes["ProcessId"].isin(children["ProcessId"]), "InitiatingProcessId"])
    assert {6592, 10824, 10832, 10848, 10864, 4364, 1584} <= parent_ids  # sc, MpCmdRun x4, taskhostw, sc
    # ...and the hunt's rare groups are found the same way in both modes.
    rare = find_rare_tasks(scheduled_task_starts(processes, params), params)
    # The seed's steps 2-3, written out here: not MpCmdRun.exe (case-sensitive !=), and outside
    # System32 (case-insensitive !startswith) or one of the four shells (=~).
    name, path = groups["FileName"], groups["FolderPath"]
    kept = groups[(name != "MpCmdRun.exe") & (~path.str.lower().str.startswith("c:\\windows\\system32\\")
                                              | name.str.lower().isin(["cmd.exe", "powershell.exe",
                                                                       "rundll32.exe", "regsvr32.exe"]))]
    keys = ["FileName", "ProcessCommandLine", "FolderPath"]
    assert not kept.empty
    assert set(rare[keys].itertuples(index=False, name=None)) == set(kept[keys].itertuples(index=False, name=None))


def test_mode_differences_name_what_each_mode_alone_found():
    from hunting_lib.engine.correlate import match_mode_differences

    impostor = activity(*TASK, pid=999, created_minutes=30, minutes=31)
    processes = [task_start(*TASK, pid=100), child_of(100, 0, pid=200)]
    by_child = activity("cmd.exe", "cmd.exe /c whoami", r"C:\Windows\System32\cmd.exe", pid=200,
                        created_minutes=2, minutes=3, action="FileCreated")
    seed = hunt(processes, match="seed", DeviceFileEvents=[impostor, by_child])
    process = hunt(processes, DeviceFileEvents=[impostor, by_child])
    differences = match_mode_differences(seed.activity, process.activity)
    found = dict(zip(differences["InitiatingProcessId"], differences["FoundBy"]))
    assert found == {999: "seed only", 200: "process only"}
