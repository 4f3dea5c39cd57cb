r"""Task definitions through the evaluation's converter: Windows Security 4624 / 4698 / 4699 as a
real recording holds them, converted to Defender's tables, then hunted.

The events are written here, shaped like the atexec recording the evaluation uses: a network
logon, a task registered by that session (the Subject* fields name the caller and its logon id in
hex), the Task Scheduler running the task, and the task deleted seconds later. A second device
has the same pattern without a run, which only the companion table ``task_registrations`` can show.
Nothing is fetched; every expected value below is read off the hand-written events.
"""

from __future__ import annotations

import html
import json
import warnings
from pathlib import Path

import pandas as pd
import pytest

from evaluation import convert, manifest, task_report
from evaluation.run import SetReport, markdown, read_processes
from evaluation.tables import TABLES

SECURITY = "Microsoft-Windows-Security-Auditing"
SYSMON = "Microsoft-Windows-Sysmon"
SCHEDULE = r"C:\Windows\system32\svchost.exe -k netsvcs -p -s Schedule"
CALLER = {"SubjectUserSid": "S-1-5-21-1-2-3-1111", "SubjectUserName": "attacker", "SubjectDomainName": "LAB"}


def windows_event(provider: str, event_id: int, created: str, host: str, record: int, **data: str) -> str:
    """One event as Windows renders it in XML; values escaped as the renderer escapes them."""
    fields = "".join(f"<Data Name='{k}'>{html.escape(v, quote=False)}</Data>" for k, v in data.items())
    return ("<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>"
            f"<Provider Name='{provider}'/><EventID>{event_id}</EventID><TimeCreated SystemTime='{created}'/>"
            f"<EventRecordID>{record}</EventRecordID><Channel>{'Security' if provider == SECURITY else SYSMON}"
            f"</Channel><Computer>{host}</Computer></System><EventData>{fields}</EventData></Event>")


def task_xml(command: str, arguments: str) -> str:
    """A task definition as 4698 carries it (Impacket atexec's shape: one Exec, SYSTEM, hidden)."""
    return ('<?xml version="1.0" encoding="UTF-16"?><Task version="1.2" '
            'xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task"><Triggers><CalendarTrigger>'
            "<StartBoundary>2015-07-15T20:35:13.2757294</StartBoundary><Enabled>true</Enabled></CalendarTrigger>"
            '</Triggers><Principals><Principal id="LocalSystem"><UserId>S-1-5-18</UserId>'
            "<RunLevel>HighestAvailable</RunLevel></Principal></Principals><Settings><Hidden>true</Hidden>"
            '</Settings><Actions Context="LocalSystem"><Exec>'
            f"<Command>{html.escape(command)}</Command><Arguments>{html.escape(arguments)}</Arguments>"
            "</Exec></Actions></Task>")


def registration_events(host: str, task: str, logon_hex: str, ip: str, minute: int, first_record: int) -> list[str]:
    """4624 (network) from ``ip``, then 4698 by that session, then 4699 five seconds after."""
    at = f"2024-06-01T10:{minute:02d}"
    arguments = rf"/C whoami > %windir%\Temp\{task}.tmp 2>&1"
    return [
        windows_event(SECURITY, 4624, f"{at}:00.000Z", host, first_record, SubjectUserSid="S-1-0-0",
                      SubjectUserName="-", SubjectDomainName="-", SubjectLogonId="0x0",
                      TargetUserSid=CALLER["SubjectUserSid"], TargetUserName="attacker", TargetDomainName="LAB",
                      TargetLogonId=logon_hex, LogonType="3", AuthenticationPackageName="NTLM",
                      WorkstationName="-", ProcessId="0x0", ProcessName="-", IpAddress=ip, IpPort="50123"),
        windows_event(SECURITY, 4698, f"{at}:01.000Z", host, first_record + 1, **CALLER, SubjectLogonId=logon_hex,
                      TaskName=f"\\{task}", TaskContent=task_xml("cmd.exe", arguments)),
        windows_event(SECURITY, 4699, f"{at}:05.000Z", host, first_record + 2, **CALLER, SubjectLogonId=logon_hex,
                      TaskName=f"\\{task}"),
    ]


def launch_events(host: str) -> list[str]:
    """The Task Scheduler service and the task's run on ``host`` (Sysmon 1)."""
    return [
        windows_event(SYSMON, 1, "2024-06-01T09:00:00.1001Z", host, 1, UtcTime="2024-06-01 09:00:00.100",
                      ProcessGuid="{S1}", ProcessId="1100", Image=r"C:\Windows\System32\svchost.exe",
                      CommandLine=SCHEDULE, User=r"NT AUTHORITY\SYSTEM", LogonId="0x3e7", ParentProcessGuid="{S0}",
                      ParentProcessId="600", ParentImage=r"C:\Windows\System32\services.exe",
                      ParentCommandLine=r"C:\Windows\system32\services.exe"),
        windows_event(SYSMON, 1, "2024-06-01T10:00:02.5001Z", host, 2, UtcTime="2024-06-01 10:00:02.500",
                      ProcessGuid="{C1}", ProcessId="4242", Image=r"C:\Windows\System32\cmd.exe",
                      CommandLine=r"cmd.exe /C whoami > C:\Windows\Temp\XyZtask.tmp 2>&1", User=r"NT AUTHORITY\SYSTEM",
                      LogonId="0x3e7", IntegrityLevel="System", ParentProcessGuid="{S1}", ParentProcessId="1100",
                      ParentImage=r"C:\Windows\System32\svchost.exe", ParentCommandLine=SCHEDULE),
    ]


def write_events(path: Path, events: list[str]) -> None:
    path.write_text("<Events>\n" + "\n".join(events) + "\n</Events>\n", encoding="utf-8")


@pytest.fixture(scope="module")
def hunted(tmp_path_factory):
    """The converted folder and its default hunt."""
    from hunting_lib.hunt import run_hunt
    from hunting_lib.params import HuntParams

    folder = tmp_path_factory.mktemp("atexec")
    write_events(folder / "security.xml",
                 registration_events("FS01.lab.example", "XyZtask", "0x1a2b3c", "10.9.8.7", 0, 100)
                 + registration_events("FS02.lab.example", "AbCtask", "0x2b3c4d", "10.9.8.8", 30, 200))
    write_events(folder / "sysmon.xml", launch_events("FS01.lab.example"))
    out = folder / "out"
    assert convert.main([str(folder / "security.xml"), str(folder / "sysmon.xml"), "-o", str(out)]) == 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = run_hunt(out, HuntParams())
    return out, result


def test_converted_registration_carries_the_caller_and_its_logon(hunted):
    out, _ = hunted
    events = pd.read_csv(out / "DeviceEvents.csv.gz", dtype=str, keep_default_na=False)
    created = events[(events["ActionType"] == "ScheduledTaskCreated") & (events["DeviceName"] == "fs01.lab.example")]
    fields = json.loads(created.iloc[0]["AdditionalFields"])
    assert {k: fields[k] for k in ("TaskName", *CALLER, "SubjectLogonId")} == {
        "TaskName": r"\XyZtask", **CALLER, "SubjectLogonId": "0x1a2b3c"}
    assert "<Command>cmd.exe</Command>" in fields["TaskContent"]
    logons = pd.read_csv(out / "DeviceLogonEvents.csv.gz", dtype=str, keep_default_na=False)
    mine = logons[logons["DeviceName"] == "fs01.lab.example"].iloc[0]
    # the same session: 0x1a2b3c in the Subject field is 1715004 in the logon table
    assert (mine["LogonId"], mine["LogonType"], mine["RemoteIP"]) == ("1715004", "Network", "10.9.8.7")
    deleted = events[events["ActionType"] == "ScheduledTaskDeleted"]
    assert len(deleted) == 2 and all(json.loads(a)["SubjectUserName"] == "attacker" for a in deleted["AdditionalFields"])


def test_the_run_is_a_rare_group_with_its_remote_and_deleted_task(hunted):
    _, result = hunted
    rare = result.rare_tasks
    group = rare[rare["ProcessCommandLine"] == r"cmd.exe /C whoami > C:\Windows\Temp\XyZtask.tmp 2>&1"]
    assert len(group) == 1
    group = group.iloc[0]
    assert bool(group["registered_remotely"]) and bool(group["deleted_after_run"])
    assert bool(group["registered_before_first_run"])  # registered 1.5 s before the run
    (entry,) = [e for e in group["TaskDefinitions"] if e["DeviceName"] == "fs01.lab.example"]
    assert entry["TaskName"] == r"\XyZtask"
    assert (entry["RegisteredFromNetworkLogon"], entry["RemoteIP"]) == (True, "10.9.8.7")
    assert entry["RegisteredBy"] == r"LAB\attacker"
    assert entry["DeletedAt"] == "2024-06-01T10:00:05.0000000Z"


def test_the_task_that_never_ran_is_in_the_companion_table(hunted):
    _, result = hunted
    companion = result.task_registrations
    row = companion[companion["DeviceName"] == "fs02.lab.example"]
    assert len(row) == 1
    row = row.iloc[0]
    assert row["TaskName"] == r"\AbCtask" and row["RemoteIP"] == "10.9.8.8"
    assert row["DeletedAt"] == "2024-06-01T10:30:05.0000000Z"
    assert {"registered_remotely", "deleted_without_running"} <= set(row["Reasons"])
    # the task that ran is not listed as never run
    assert not companion["TaskName"].eq(r"\XyZtask").any()


def test_the_report_section_says_where_each_expected_registration_went(hunted):
    out, result = hunted
    expected = [{"device": "FS01.lab.example", "TaskName": r"\XyZtask"},
                {"device": "fs02.lab.example", "TaskName": "abctask"},  # case and backslash as a reader may type
                {"device": "fs02.lab.example", "TaskName": r"\NotThere"}]
    events = task_report.registration_events(result, out)
    processes = read_processes(out)
    found = task_report.evaluate_registrations("lab", result, expected, events, processes, 3)
    assert [f.found_in.split(",")[0] for f in found] == ["rare group", "task_registrations", "nowhere"]
    assert found[0].signals[:1] == ["registered_remotely"] and "deleted_after_run" in found[0].signals
    assert (found[0].network_logon, found[0].remote_ip, found[0].registered_by) == (True, "10.9.8.7", r"LAB\attacker")
    assert found[1].why == "its task never ran in the recording" and found[1].remote_ip == "10.9.8.8"
    assert found[2].why == "no registration row for this task on this device"
    report = SetReport(set_id="lab", registrations=found,
                       task_false_positives=task_report.false_positives("lab", result, expected[:2], events, [0]))
    text = markdown([report], [], "default hunt")
    section = text.split("### Task definitions: expected registrations and false positives", 1)[1]
    assert r"| lab | fs01.lab.example | `\XyZtask` | rare group, rank 1 |" in section
    assert "| yes, 10.9.8.7 | 2024-06-01T10:00:05.0000000Z |" in section
    # two Created rows (the deletions are not registrations), both expected: no ordinary one counted
    assert "| lab | 2 | 0 | 0 | - |" in section


def test_how_it_ran_tells_an_unseen_run_from_no_run():
    processes = pd.DataFrame({
        "DeviceName": ["fs01", "fs01"], "FileName": ["cmd.exe", "cleanmgr.exe"],
        "ProcessCommandLine": [r"cmd.exe /C whoami > C:\Windows\Temp\a.tmp 2>&1", "cleanmgr.exe /sagerun:1"],
        "FolderPath": [r"C:\Windows\System32\cmd.exe", r"C:\Windows\System32\cleanmgr.exe"],
        "InitiatingProcessFileName": ["svchost.exe", "svchost.exe"],
        "InitiatingProcessCommandLine": ["", "svchost.exe -k netsvcs -p -s Schedule"]})
    unseen = task_report.how_it_ran("cmd.exe", r"/C whoami > %windir%\Temp\a.tmp 2>&1", "fs01", processes, 3)
    assert unseen.startswith("it ran 1 time(s), started by svchost.exe whose command line Security 4688")
    scheduled = task_report.how_it_ran(r"%windir%\system32\cleanmgr.exe", "/sagerun:1", "fs01", processes, 3)
    assert scheduled == "it ran 1 time(s) as a Task Scheduler launch (cleanmgr.exe), outside the hunt's scope"
    assert task_report.how_it_ran("cmd.exe", "/C other", "fs01", processes, 3) == "its task never ran in the recording"


def test_markdown_cells_cannot_break_the_table():
    found = task_report.RegistrationResult("s", "pc", "\\a|b\nc`d", why="x | y")
    text = task_report.markdown_section([found], [])
    row = next(line for line in text.splitlines() if line.startswith("| s |"))
    assert row.count(" | ") == 9  # ten cells: the pipes of the task name and why are escaped
    assert "`\\a\\|b c'd`" in row


def test_update_page_replaces_only_the_generated_section(tmp_path):
    page = tmp_path / "EVALUATION.md"
    page.write_text("# Evaluation\n\nProse stays.\n", encoding="utf-8")
    task_report.update_page(page, "## Task definitions\n\nfirst\n")
    task_report.update_page(page, "## Task definitions\n\nsecond\n")
    text = page.read_text(encoding="utf-8")
    assert text.startswith("# Evaluation\n\nProse stays.\n")
    assert "second" in text and "first" not in text and text.count(task_report.START) == 1


def test_sample_registrations_come_from_the_malicious_scenarios(tmp_path):
    (tmp_path / "scenarios.yaml").write_text(
        "scenarios:\n"
        "- {id: mal-a, kind: malicious, registration: {device: pc1, task_name: '\\A'}}\n"
        "- {id: mal-b, kind: malicious_never_ran, registration: {device: pc2, task_name: '\\B'}}\n"
        "- {id: fp-c, kind: false_positive, registration: {device: pc3, task_name: '\\C'}}\n"
        "- {id: mal-d, kind: malicious}\n", encoding="utf-8")
    wanted = task_report.sample_registrations(tmp_path)
    assert [(w["device"], w["TaskName"], w["why"]) for w in wanted] == [("pc1", "\\A", "mal-a"), ("pc2", "\\B", "mal-b")]


def test_reconvert_reads_the_checked_raw_files(tmp_path, monkeypatch):
    from evaluation import get_recordings

    data = tmp_path / "data"
    monkeypatch.setattr(manifest, "DATA", data)
    monkeypatch.setattr(get_recordings, "DATA", data)
    raw = data / "raw" / "lab-set"
    raw.mkdir(parents=True)
    write_events(raw / "01.xml", registration_events("PC1", "T1", "0x10", "10.0.0.9", 0, 1))
    import hashlib

    digest = hashlib.sha256((raw / "01.xml").read_bytes()).hexdigest()
    entry = {"id": "lab-set", "title": "t", "kind": "real", "shows": "s", "malicious": [],
             "licence": {"name": "MIT", "attribution": "a"},
             "source": {"repository": "lab/rec", "commit": "a" * 40, "files": [{"path": "x/sec.xml", "sha256": digest}]}}
    sets_file = tmp_path / "sets.yaml"
    sets_file.write_text(json.dumps({"sets": [entry]}), encoding="utf-8")
    evaluation_set = manifest.load(sets_file)[0]
    get_recordings.convert_set(evaluation_set, get_recordings.raw_files(evaluation_set))
    assert {p.name for p in (data / "lab-set").glob("*.csv.gz")} == {f"{t}.csv.gz" for t in TABLES}
    assert get_recordings.is_current(evaluation_set)
    (raw / "01.xml").write_text("changed", encoding="utf-8")
    with pytest.raises(get_recordings.FetchError, match="SHA-256"):
        get_recordings.raw_files(evaluation_set)



def test_unmet_expectations_name_what_the_hunt_did_not_show():
    found = task_report.RegistrationResult("s", "fs01", r"\t", signals=["registered_remotely"], network_logon=True,
                                           remote_ip="", deleted_at="2021-06-10T21:21:26.4066520Z")
    assert task_report.unmet_expectations(found, {"signals": ["registered_remotely"], "network_logon": True,
                                                  "deleted": True}) == []
    assert task_report.unmet_expectations(found, {"signals": ["registered_remotely", "deleted_after_run"],
                                                  "remote_ip": "10.23.123.11", "deleted": False}) == [
        "signal deleted_after_run did not fire", "remote IP 10.23.123.11 expected, got none",
        "deletion reported, none expected"]


def test_manifest_expectations_are_well_formed():
    allowed = {"signals", "network_logon", "remote_ip", "deleted"}
    expectations = [r["expect"] for s in manifest.load() for r in s.registrations() if "expect" in r]
    assert expectations, "sets.yaml states what some real registrations should show"
    for expect in expectations:
        assert set(expect) <= allowed, expect
        assert all(isinstance(s, str) for s in expect.get("signals", []))
