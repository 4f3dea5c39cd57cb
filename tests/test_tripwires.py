"""Tripwires and the critical signals: what no rule, catalogue entry or verdict may suppress, and
the ranking that puts them first.

The tradecraft here is rebuilt from public descriptions (the %windir% hijack of the SilentCleanup
task, COM-handler hijacks, renamed and masquerading binaries), not copied from any recording.
"""

from __future__ import annotations

import warnings

import pandas as pd
import pytest
import yaml

from hunting_lib.hunt import run_hunt
from hunting_lib.params import HuntParams
from hunting_lib.triage.pipeline import rank, reason_text
from hunting_lib.triage.scoring import default_scoring
from hunting_lib.triage.tripwires import default_tripwires, payload_paths
from tests.conftest import SAMPLE_DATA, T0, activity, task_start, typed

SYSTEM32 = "C:\\Windows\\System32\\"
CMD = SYSTEM32 + "cmd.exe"
RUN_KEY = r"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Run"


def hunt(processes, params=None, **tables):
    frames = {"DeviceProcessEvents": typed("DeviceProcessEvents", processes)}
    frames.update({name: typed(name, rows) for name, rows in tables.items()})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_hunt(frames, params or HuntParams())


def row_of(result, command_line: str) -> pd.Series:
    rare = result.rare_tasks
    return rare[rare["ProcessCommandLine"] == command_line].iloc[0]


def test_every_signal_and_tripwire_says_what_it_is_and_its_technique():
    scoring, tripwires = default_scoring(), default_tripwires()
    for signal in scoring.signals:
        assert scoring.labels[signal] and scoring.techniques[signal].startswith("T1"), signal
    for tripwire in tripwires.tripwires:
        assert tripwire.why and tripwire.technique.startswith("T1"), tripwire.id
        assert reason_text(f"kept_by:{tripwire.id}")[1] == tripwire.technique
    assert scoring.critical <= {t.signal for t in tripwires.tripwires}  # critical signals are tripwires


def test_a_benign_scenario_that_starts_calling_out_and_writing_a_run_key_is_no_longer_suppressed():
    """The sample's published reporting scenario, as shipped rules suppress it; then the same task's
    process connects to a public address no other device contacts and writes a Run key."""
    scenarios = yaml.safe_load((SAMPLE_DATA / "scenarios.yaml").read_text(encoding="utf-8"))["scenarios"]
    report = next(s for s in scenarios if s["id"] == "fp-user-report")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        before = run_hunt(SAMPLE_DATA, HuntParams())
    assert row_of(before, report["ProcessCommandLine"])["SuppressedBy"] == "reporting-powershell-script"

    from hunting_lib.engine.loader import load_data_folder

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tables = dict(load_data_folder(SAMPLE_DATA).tables)
    starts = tables["DeviceProcessEvents"]
    launch = starts[(starts["ProcessCommandLine"] == report["ProcessCommandLine"])
                    & starts["InitiatingProcessCommandLine"].str.contains("Schedule")].iloc[0]
    identity = dict(InitiatingProcessFileName=launch["FileName"],
                    InitiatingProcessCommandLine=launch["ProcessCommandLine"],
                    InitiatingProcessFolderPath=launch["FolderPath"], InitiatingProcessId=launch["ProcessId"],
                    InitiatingProcessCreationTime=launch["ProcessCreationTime"], DeviceName=launch["DeviceName"],
                    Timestamp=launch["Timestamp"] + pd.Timedelta(seconds=5))
    for table, extra in (("DeviceNetworkEvents", dict(ActionType="ConnectionSuccess", RemoteIP="91.219.236.18",
                                                       RemotePort=443)),
                         ("DeviceRegistryEvents", dict(ActionType="RegistryValueSet", RegistryKey=RUN_KEY,
                                                        RegistryValueName="Updater"))):
        row = pd.DataFrame([{**identity, **extra}])
        tables[table] = pd.concat([tables[table], row.astype({c: tables[table][c].dtype for c in row.columns
                                                              if c in tables[table]})], ignore_index=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        after = run_hunt(tables, HuntParams())
    row = row_of(after, report["ProcessCommandLine"])
    assert row["SuppressedBy"] is None and row["WouldSuppressBy"] == "reporting-powershell-script"
    assert {"rare_public_ip", "autostart_write"} <= set(row["Tripwires"])
    assert {"matched:reporting-powershell-script", "kept_by:rare_public_ip", "kept_by:autostart_write"} <= set(
        row["Reasons"])
    assert row.name < len(after.findings)  # a finding, ranked with the findings


def test_the_windir_hijack_of_a_built_in_task_ranks_above_a_vendor_maintenance_script():
    hijack = '"cmd.exe"\\system32\\cleanmgr.exe /autoclean /d C:'  # the task's own path glued on
    vendor = 'cmd.exe /c "C:\\Program Files\\Contoso\\Maintenance\\nightly.cmd" -full'
    result = hunt([task_start("cmd.exe", hijack, CMD, pid=1, account="alice"),
                   task_start("cmd.exe", vendor, CMD, pid=2, minutes=5)])
    top = result.rare_tasks.iloc[0]
    assert top["ProcessCommandLine"] == hijack
    assert {"glued_program_path", "known_task_other_binary"} <= set(top["Tripwires"]) and top["Critical"]
    assert "T1548.002" in top["ReasonTechniques"]
    assert not row_of(result, vendor)["Critical"]


def test_a_known_tasks_command_line_on_a_copy_of_its_binary_is_a_finding():
    line = "rundll32.exe dfdts.dll,DfdGetDefaultPolicyAndSMART"
    result = hunt([task_start("rundll32.exe", line, SYSTEM32 + "rundll32.exe", pid=1),
                   task_start("rundll32.exe", line, r"C:\Users\Public\Temp\rundll32.exe", pid=2, device="pc-02")])
    genuine = result.rare_tasks[result.rare_tasks["FolderPath"].str.startswith("C:\\Windows")].iloc[0]
    copy = result.rare_tasks[result.rare_tasks["FolderPath"].str.startswith("C:\\Users")].iloc[0]
    assert genuine["SuppressedBy"].startswith("known:\\Microsoft\\Windows\\DiskDiagnostic")
    assert copy["SuppressedBy"] is None and {"known_task_other_binary", "masquerading"} <= set(copy["Tripwires"])


def test_renamed_and_masquerading_binaries():
    renamed = task_start("svcupd.exe", "svcupd.exe /c whoami", r"C:\Tools\svcupd.exe", pid=1)
    renamed["ProcessVersionInfoOriginalFileName"] = "Cmd.Exe"
    benign = task_start("MicrosoftEdgeUpdate.exe", '"MicrosoftEdgeUpdate.exe" /ua /installsource scheduler',
                        r"C:\Program Files (x86)\Microsoft\EdgeUpdate\MicrosoftEdgeUpdate.exe", pid=2)
    benign["ProcessVersionInfoOriginalFileName"] = "msedgeupdate.dll"  # a real, benign mismatch
    masquerade = task_start("svchost.exe", "svchost.exe -k update", r"C:\ProgramData\Svc\svchost.exe", pid=3)
    mismatch = task_start("report.exe", '"C:\\Windows\\System32\\wscript.exe" C:\\x.vbs', r"C:\Tools\report.exe", pid=4)
    result = hunt([renamed, benign, masquerade, mismatch], HuntParams(exclusions=None, known_tasks=None))
    assert "renamed_binary" in row_of(result, renamed["ProcessCommandLine"])["Tripwires"]
    assert not row_of(result, benign["ProcessCommandLine"])["Critical"]
    assert "masquerading" in row_of(result, masquerade["ProcessCommandLine"])["Tripwires"]
    assert "command_program_mismatch" in row_of(result, mismatch["ProcessCommandLine"])["Tripwires"]


def test_a_shell_started_by_a_known_task_or_a_windows_program_is_a_tripwire():
    line = "rundll32.exe dfdts.dll,DfdGetDefaultPolicyAndSMART"
    child = task_start("cmd.exe", "cmd.exe /c net user", CMD, pid=9, minutes=1)
    child.update(InitiatingProcessFileName="rundll32.exe", InitiatingProcessCommandLine=line,
                 InitiatingProcessFolderPath=SYSTEM32 + "rundll32.exe", InitiatingProcessId=1)
    result = hunt([task_start("rundll32.exe", line, SYSTEM32 + "rundll32.exe", pid=1), child])
    row = row_of(result, line)
    assert "unexpected_shell_child" in row["Tripwires"] and row["SuppressedBy"] is None
    assert row["WouldSuppressBy"].startswith("known:")


def test_catalogue_expectations_silence_only_their_own_tripwires():
    onedrive = ("OneDriveStandaloneUpdater.exe", "OneDriveStandaloneUpdater.exe",
                r"C:\Users\dana\AppData\Local\Microsoft\OneDrive\OneDriveStandaloneUpdater.exe")
    result = hunt([task_start(*onedrive, account="dana")],
                  DeviceNetworkEvents=[activity(*onedrive, RemoteIP="13.107.42.12")])
    row = row_of(result, onedrive[1])
    assert row["SuppressedBy"].startswith("known:") and row["Tripwires"] == []  # it talks out, by design
    written = hunt([task_start(*onedrive, account="dana")],
                   DeviceRegistryEvents=[activity(*onedrive, action="RegistryValueSet", RegistryKey=RUN_KEY)])
    assert "autostart_write" in row_of(written, onedrive[1])["Tripwires"]  # which it does not declare


def test_a_payload_common_to_the_whole_fleet_is_not_a_deviation():
    tool = ("inventory.exe", "inventory.exe --collect", r"C:\ProgramData\Inventory\inventory.exe")
    rare_elsewhere = ("inventory.exe", "inventory.exe --collect --full", tool[2])
    fleet = [task_start(*tool, device=f"pc-{i:02}", pid=i, minutes=i) for i in range(12)]
    result = hunt(fleet + [task_start(*rare_elsewhere, device="pc-00", pid=99)],
                  HuntParams(exclusions=None, known_tasks=None))
    row = row_of(result, rare_elsewhere[1])
    assert "user_writable_path" in row["Reasons"] and "user_writable_payload" not in row["Tripwires"]
    lone = hunt([task_start(*rare_elsewhere, device="pc-00", pid=99)], HuntParams(exclusions=None, known_tasks=None))
    assert "user_writable_payload" in row_of(lone, rare_elsewhere[1])["Tripwires"]


def test_critical_groups_rank_above_every_other_whatever_their_score():
    frame = pd.DataFrame({
        "FileName": list("abcd"), "ProcessCommandLine": list("abcd"), "FolderPath": ["x"] * 4,
        "Count": [1] * 4, "DeviceCount": [1] * 4, "Score": [20.0, 4.0, 9.0, 1.0],
        "Critical": [False, True, False, True], "SuppressedBy": [None, None, None, "rule"],
    })
    assert rank(frame)["FileName"].tolist() == ["b", "a", "c", "d"]


@pytest.mark.parametrize("command_line, expected", [
    (r"rundll32.exe C:\Users\x\AppData\Local\Temp\a.dat,RunW", [r"C:\Users\x\AppData\Local\Temp\a.dat"]),
    (r"cmd.exe /C whoami /all > C:\Windows\Temp\X.tmp 2>&1", []),
    (r'cmd /c "C:\Users\John Smith\x.bat" arg', [r"C:\Users\John Smith\x.bat"]),
    (r"powershell.exe -File C:\ProgramData\s\sync.ps1", [r"C:\ProgramData\s\sync.ps1"]),
    (r"tool.exe --log C:\ProgramData\logs\today.txt", []),
])
def test_payload_paths_are_things_run_or_loaded(command_line, expected):
    assert payload_paths(command_line) == expected


def test_reasons_read_as_words_in_the_report_columns():
    result = hunt([task_start("cmd.exe", r"cmd.exe /C whoami > C:\Windows\Temp\ab.tmp 2>&1", CMD)])
    row = result.rare_tasks.iloc[0]
    assert len(row["ReasonText"]) == len(row["Reasons"]) == len(row["ReasonTechniques"])
    assert all(" " in text for text in row["ReasonText"])  # words, not ids
    assert "T1053.005" in row["ReasonTechniques"]


def test_the_time_of_day_does_not_matter():
    assert T0.tzinfo is not None  # fixtures are in UTC; the pinned date comes from conftest


@pytest.mark.parametrize("command_line", [
    r'"rundll32.exe" C:\windows\System32\comsvcs.dll MiniDump 628 C:\Windows\Temp\d.dmp full',
    r"rundll32.exe comsvcs.dll, #24 628 C:\x.dmp full",
    r"procdump64.exe -accepteula -ma lsass.exe C:\x.dmp",
    r"cmd.exe /c reg save HKLM\SAM C:\Windows\Temp\s",
])
def test_credential_dumping_is_a_tripwire(command_line):
    program = command_line.split()[0].strip('"')
    folder = SYSTEM32 + program if program in ("rundll32.exe", "cmd.exe") else "C:\\Tools\\" + program
    result = hunt([task_start(program, command_line, folder)])
    row = result.rare_tasks.iloc[0]
    assert "credential_dumping" in row["Tripwires"] and row["Critical"]
    assert "T1003" in row["ReasonTechniques"]
    benign = hunt([task_start("rundll32.exe", r"rundll32.exe C:\Windows\System32\comsvcs.dll,DllRegisterServer", CMD)])
    assert "credential_dumping" not in benign.rare_tasks.iloc[0]["Tripwires"]
