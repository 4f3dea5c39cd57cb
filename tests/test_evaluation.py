"""The evaluation kit: the converter on hand-written events, the manifest, and the label matching.

Nothing here reads fetched recordings or needs the network: every event is written by the test
itself, and the manifest test reads only the committed ``evaluation/sets.yaml`` and the sample
data's answer key.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from evaluation import convert, get_recordings, manifest
from evaluation import fields as F
from evaluation.manifest import Label
from evaluation.run import explain_miss, match_labels, score_set
from evaluation.tables import COLUMNS, TABLES

SYSMON = "Microsoft-Windows-Sysmon"
SCHEDULE = r"C:\Windows\system32\svchost.exe -k netsvcs -p -s Schedule"
HOST = "WS01.corp.example"


def sysmon_event(event_id: int, utc: str, **data: str) -> str:
    """One Sysmon event as Windows renders it in XML (record time 1 s after UtcTime)."""
    fields = "".join(f"<Data Name='{k}'>{v}</Data>" for k, v in {"UtcTime": utc, **data}.items())
    created = utc.replace(" ", "T") + "1Z"
    return ("<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>"
            f"<Provider Name='{SYSMON}' Guid='{{5770385f-c22a-43e0-bf4c-06f5698ffbd9}}'/>"
            f"<EventID>{event_id}</EventID><TimeCreated SystemTime='{created}'/>"
            f"<EventRecordID>{event_id}{utc[-3:]}</EventRecordID>"
            f"<Channel>{SYSMON}/Operational</Channel><Computer>{HOST}</Computer></System>"
            f"<EventData>{fields}</EventData></Event>")


def write_sysmon(path: Path) -> None:
    """The Task Scheduler service, a task it starts, and that task's connection, DLL and Run key."""
    events = [
        sysmon_event(1, "2024-05-01 10:00:00.100", ProcessGuid="{1111}", ProcessId="1200",
                     Image=r"C:\Windows\System32\svchost.exe", CommandLine=SCHEDULE, User=r"NT AUTHORITY\SYSTEM",
                     LogonId="0x3e7", IntegrityLevel="System", ParentProcessGuid="{0000}", ParentProcessId="600",
                     ParentImage=r"C:\Windows\System32\services.exe", ParentCommandLine=r"C:\Windows\system32\services.exe"),
        sysmon_event(1, "2024-05-01 10:00:01.234", ProcessGuid="{2222}", ProcessId="4242",
                     Image=r"C:\Windows\System32\cmd.exe",
                     CommandLine=r'"c:\windows\system32\CMD.exe" /c C:\Users\bob\AppData\Local\Temp\x.bat',
                     OriginalFileName="Cmd.Exe", Company="Microsoft Corporation", Description="-",
                     Hashes="SHA1=AAAA,MD5=BBBB,SHA256=CCCC,IMPHASH=DDDD", User=r"CORP\Bob", LogonId="0x3E7",
                     IntegrityLevel="System", ParentProcessGuid="{1111}", ParentProcessId="1200",
                     ParentImage=r"C:\Windows\System32\svchost.exe", ParentCommandLine=SCHEDULE),
        sysmon_event(3, "2024-05-01 10:00:02.000", ProcessGuid="{2222}", ProcessId="4242",
                     Image=r"C:\Windows\System32\cmd.exe", Protocol="tcp", Initiated="true", SourceIp="10.0.0.5",
                     SourcePort="50000", DestinationIp="93.184.216.34", DestinationHostname="example.org",
                     DestinationPort="443"),
        sysmon_event(7, "2024-05-01 10:00:03.000", ProcessGuid="{2222}", ProcessId="4242",
                     Image=r"C:\Windows\System32\cmd.exe", ImageLoaded=r"C:\Users\bob\AppData\Local\Temp\evil.dll",
                     Hashes="SHA1=EEEE,MD5=FFFF,SHA256=0A0A"),
        sysmon_event(13, "2024-05-01 10:00:04.000", EventType="SetValue", ProcessGuid="{2222}", ProcessId="4242",
                     Image=r"C:\Windows\System32\cmd.exe",
                     TargetObject=r"HKU\S-1-5-21-1\Software\Microsoft\Windows\CurrentVersion\Run\updater",
                     Details="DWORD (0x00000010)"),
    ]
    path.write_text("<Events>\n" + "\n".join(events) + "\n</Events>\n", encoding="utf-16")


def write_security(path: Path) -> None:
    """Flat JSON lines (the OTRF/Azure layout): a task registration on the same host (named by
    its bare NetBIOS name), and a Security-only process tree on a Windows 7 host."""
    content = "<?xml version=\"1.0\"?><Task><Actions><Exec><Command>cmd.exe</Command></Exec></Actions></Task>"
    records = [
        {"SourceName": "Microsoft-Windows-Security-Auditing", "Channel": "Security", "EventID": 4698,
         "Hostname": "WS01", "TimeCreated": "2024-05-01T09:59:58.500Z", "TaskName": r"\Updater",
         "TaskContent": content, "SubjectUserName": "Bob", "SubjectDomainName": "CORP", "SubjectLogonId": "0x3e7"},
        {"SourceName": "Microsoft-Windows-Security-Auditing", "Channel": "Security", "EventID": 4688,
         "Hostname": "win7.corp.example", "TimeCreated": "2024-05-02T08:00:00.000Z",
         "NewProcessName": r"C:\Windows\System32\taskeng.exe", "NewProcessId": "0x100", "ProcessId": "0x2f0",
         "CommandLine": r"taskeng.exe {6C3B6E4A} S-1-5-18:NT AUTHORITY\System:Service:",
         "ParentProcessName": r"C:\Windows\System32\svchost.exe", "SubjectUserName": "WIN7$",
         "SubjectDomainName": "CORP", "SubjectLogonId": "0x3e7", "TargetUserName": "-", "MandatoryLabel": "S-1-16-16384"},
        {"SourceName": "Microsoft-Windows-Security-Auditing", "Channel": "Security", "EventID": 4688,
         "Hostname": "win7.corp.example", "TimeCreated": "2024-05-02T08:00:01.000Z",
         "NewProcessName": r"C:\Users\bob\AppData\Roaming\upd.exe", "NewProcessId": "0x200", "ProcessId": "0x100",
         "CommandLine": r"C:\Users\bob\AppData\Roaming\upd.exe -silent",
         "ParentProcessName": r"C:\Windows\System32\taskeng.exe", "SubjectUserName": "WIN7$",
         "SubjectDomainName": "CORP", "SubjectLogonId": "0x3e7", "TargetUserName": "-", "MandatoryLabel": "S-1-16-16384"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> tuple[Path, dict[str, pd.DataFrame]]:
    folder = tmp_path_factory.mktemp("convert")
    write_sysmon(folder / "sysmon.xml")
    write_security(folder / "security.jsonl")
    assert convert.main([str(folder / "sysmon.xml"), str(folder / "security.jsonl"), "-o", str(folder / "out"),
                         "--title", "Test recordings"]) == 0
    tables = {t: pd.read_csv(folder / "out" / f"{t}.csv.gz", dtype=str, keep_default_na=False) for t in TABLES}
    return folder / "out", tables


def test_every_table_has_the_documented_columns(converted):
    _, tables = converted
    for table in TABLES:
        assert list(tables[table].columns) == COLUMNS[table], table


def test_task_launch_row(converted):
    _, tables = converted
    processes = tables["DeviceProcessEvents"]
    row = processes[processes["FileName"] == "cmd.exe"].iloc[0].to_dict()
    assert row["Timestamp"] == "2024-05-01T10:00:01.2340000Z"
    assert row["DeviceName"] == "ws01.corp.example"
    assert row["DeviceId"] == hashlib.sha1(b"ws01.corp.example").hexdigest()
    assert row["FolderPath"] == r"C:\Windows\System32\cmd.exe"
    # the image path goes, the command line's own spelling and quotes stay
    assert row["ProcessCommandLine"] == r'"CMD.exe" /c C:\Users\bob\AppData\Local\Temp\x.bat'
    assert (row["ProcessId"], row["AccountDomain"], row["AccountName"], row["LogonId"]) == ("4242", "corp", "bob", "999")
    assert (row["SHA1"], row["MD5"], row["SHA256"]) == ("aaaa", "bbbb", "cccc")
    assert row["ProcessVersionInfoOriginalFileName"] == "Cmd.Exe"
    assert row["ProcessVersionInfoFileDescription"] == ""  # Sysmon's "-"
    # InitiatingProcess* from the Schedule service's own Sysmon 1
    assert row["InitiatingProcessFileName"] == "svchost.exe"
    assert row["InitiatingProcessCommandLine"] == "svchost.exe -k netsvcs -p -s Schedule"
    assert row["InitiatingProcessId"] == "1200"
    assert row["InitiatingProcessCreationTime"] == "2024-05-01T10:00:00.1000000Z"
    assert row["InitiatingProcessParentFileName"] == "services.exe"
    assert row["ReportId"] == "2"


def test_activity_rows_name_the_task_process(converted):
    _, tables = converted
    network = tables["DeviceNetworkEvents"].iloc[0]
    assert (network["ActionType"], network["Protocol"], network["RemoteIP"], network["RemotePort"]) == (
        "ConnectionSuccess", "Tcp", "93.184.216.34", "443")
    assert (network["LocalIPType"], network["RemoteIPType"], network["RemoteUrl"]) == ("Private", "Public", "example.org")
    image = tables["DeviceImageLoadEvents"].iloc[0]
    assert (image["FileName"], image["SHA256"]) == ("evil.dll", "0a0a")
    registry = tables["DeviceRegistryEvents"].iloc[0]
    assert registry["RegistryKey"] == r"HKEY_USERS\S-1-5-21-1\Software\Microsoft\Windows\CurrentVersion\Run"
    assert (registry["RegistryValueName"], registry["RegistryValueData"], registry["RegistryValueType"]) == (
        "updater", "16", "Dword")
    for row in (network, image, registry):
        assert row["InitiatingProcessCommandLine"] == r'"CMD.exe" /c C:\Users\bob\AppData\Local\Temp\x.bat'
        assert row["InitiatingProcessCreationTime"] == "2024-05-01T10:00:01.2340000Z"
        assert row["InitiatingProcessParentFileName"] == "svchost.exe"
    assert [network["ReportId"], image["ReportId"], registry["ReportId"]] == ["3", "4", "5"]


def test_task_registration_becomes_a_device_event(converted):
    _, tables = converted
    event = tables["DeviceEvents"].iloc[0]
    assert event["ActionType"] == "ScheduledTaskCreated"
    assert event["DeviceName"] == "ws01.corp.example"  # the bare name joined to the FQDN
    assert event["Timestamp"] == "2024-05-01T09:59:58.5000000Z"  # no Sysmon in its input: record time as is
    assert json.loads(event["AdditionalFields"]) == {
        "TaskName": r"\Updater",
        "TaskContent": "<?xml version=\"1.0\"?><Task><Actions><Exec><Command>cmd.exe</Command></Exec></Actions></Task>",
        # the caller, as Defender names it (the event has no SubjectUserSid: empty, never invented)
        "SubjectUserSid": "", "SubjectUserName": "Bob", "SubjectDomainName": "CORP", "SubjectLogonId": "0x3e7"}
    assert (event["AccountDomain"], event["AccountName"]) == ("corp", "bob")
    assert event["ReportId"] == "6"  # rows the reference mapping lacks come after the device's others


def test_security_4688_takes_the_parent_command_line_from_the_parent_start(converted):
    _, tables = converted
    processes = tables["DeviceProcessEvents"].set_index("FileName")
    taskeng, payload = processes.loc["taskeng.exe"], processes.loc["upd.exe"]
    assert taskeng["InitiatingProcessFileName"] == "svchost.exe"
    assert taskeng["InitiatingProcessCommandLine"] == ""  # svchost's start is not in the recording
    assert taskeng["ProcessIntegrityLevel"] == "System"
    assert payload["ProcessCommandLine"] == "upd.exe -silent"
    assert payload["InitiatingProcessCommandLine"] == r"taskeng.exe {6C3B6E4A} S-1-5-18:NT AUTHORITY\System:Service:"
    assert payload["InitiatingProcessCreationTime"] == "2024-05-02T08:00:00.0000000Z"
    assert (payload["ProcessId"], payload["InitiatingProcessId"]) == ("512", "256")
    assert payload["DeviceName"] == "win7.corp.example"


def test_readme_counts_the_launches(converted):
    folder, _ = converted
    text = (folder / "README.md").read_text(encoding="utf-8")
    assert "# Test recordings" in text
    assert "(Schedule service 1, grouped netsvcs host 0, taskeng.exe 1)" in text
    assert "| DeviceProcessEvents | 4 | 0 |" in text
    assert "| DeviceNetworkEvents | 1 | 1 |" in text


def test_converted_folder_loads_in_the_kit(converted):
    from hunting_lib.engine.loader import load_data_folder

    folder, _ = converted
    loaded = load_data_folder(folder)
    assert len(loaded.tables["DeviceProcessEvents"]) == 4


@pytest.mark.parametrize("command_line, image, expected", [
    (SCHEDULE, r"C:\Windows\System32\svchost.exe", "svchost.exe -k netsvcs -p -s Schedule"),
    (r"\??\C:\Windows\system32\conhost.exe 0xffffffff -ForceV1", r"C:\Windows\System32\conhost.exe",
     "conhost.exe 0xffffffff -ForceV1"),
    (r'"C:\Program Files\A\b.exe"  --x ', r"C:\Program Files\A\b.exe", '"b.exe"  --x '),
    (r"C:\x\a.exe.bak run", r"C:\x\a.exe", r"C:\x\a.exe.bak run"),
    ("wmic.exe process list", r"C:\Windows\System32\wbem\WMIC.exe", "wmic.exe process list"),
])
def test_strip_image(command_line, image, expected):
    assert F.strip_image(command_line, image) == expected


def test_value_rules():
    assert F.registry_data("QWORD (0x00000001-0x00000002)") == (str((1 << 32) | 2), "Qword")
    assert F.registry_data("Binary Data") == ("Binary Data", "Binary")
    assert F.expand_hive(r"HKLM\System\x") == r"HKEY_LOCAL_MACHINE\System\x"
    assert [F.ip_type(a) for a in ("127.0.0.1", "fe80:0:0:0:1:2:3:4", "224.0.0.252", "172.18.39.5", "8.8.8.8")] == [
        "Loopback", "LinkLocal", "Multicast", "Private", "Public"]
    assert list(F.format_times(F.parse_times(["2020-09-04 07:06:21.388", "2021-06-10T21:21:26.3907505Z", ""]))) == [
        "2020-09-04T07:06:21.3880000Z", "2021-06-10T21:21:26.3907505Z", ""]


# -- the manifest -----------------------------------------------------------------------------


def test_manifest_sets_are_pinned_licensed_and_labelled():
    sets = manifest.load()
    assert {s.kind for s in sets} == {"real", "synthetic"}
    assert any(s.path == "../shared/real_data/otrf_sysmon" for s in sets)
    assert any(s.path == "sample_data" and s.kind == "synthetic" for s in sets)
    for evaluation_set in sets:
        assert evaluation_set.licence["name"] and evaluation_set.licence["attribution"], evaluation_set.id
        assert evaluation_set.shows, evaluation_set.id
        if evaluation_set.kind == "real":
            assert len(evaluation_set.commit) == 40 and int(evaluation_set.commit, 16) >= 0
            assert evaluation_set.files and all(len(f.sha256) == 64 for f in evaluation_set.files)
        for label in evaluation_set.labels():
            for name in manifest.LABEL_FIELDS:
                assert getattr(label, name), (evaluation_set.id, name)
            assert all(t.startswith("T") for t in label.techniques)
    labelled = [label for s in sets if s.kind == "real" for label in s.labels()]
    assert labelled, "the real sets hold labelled malicious launches"


def test_sample_labels_follow_the_answer_key():
    key = manifest.REPOSITORY / "sample_data" / "scenarios.yaml"
    import yaml

    scenarios = yaml.safe_load(key.read_text(encoding="utf-8"))["scenarios"]
    wanted = {s["id"] for s in scenarios if s["kind"] == "malicious" and s.get("seed_reports_it")}
    sample = next(s for s in manifest.load() if s.id == "sample-data")
    assert len(sample.labels()) == len(wanted) > 0


def test_manifest_refuses_a_set_without_sha256(tmp_path):
    bad = tmp_path / "sets.yaml"
    bad.write_text("sets:\n  - id: x1\n    title: t\n    kind: real\n    shows: s\n    malicious: []\n"
                   "    licence: {name: MIT, attribution: a}\n    source: {repository: o/r, commit: "
                   + "a" * 40 + ", files: [{path: f.json}]}\n", encoding="utf-8")
    with pytest.raises(manifest.ManifestError, match="sha256"):
        manifest.load(bad)


# -- run.py's matching --------------------------------------------------------------------------


def _label(name: str, line: str, path: str, device: str) -> Label:
    return Label(device, name, line, path, "2024-01-01T00:00:00Z", ("T1053.005",), "test")


def test_label_matching_and_ranking_figures():
    rare = pd.DataFrame({
        "FileName": ["updater.exe", "wscript.exe", "rundll32.exe", "taskhostw.exe", "cmd.exe"],
        "ProcessCommandLine": ["updater.exe /s", '"wscript.EXE" A.JS', "rundll32.exe x.dll,Run", "taskhostw.exe", "cmd.exe /c y"],
        "FolderPath": [r"C:\Program Files\U\updater.exe", r"C:\Windows\System32\wscript.exe",
                       r"C:\Windows\System32\rundll32.exe", r"C:\Windows\System32\taskhostw.exe", r"C:\Windows\System32\cmd.exe"],
        "Devices": [["pc1"], ["pc2", "pc3"], ["pc4"], ["pc5"], ["pc6"]],
        "Score": [9.0, 7.0, 5.0, 0.0, 4.0],
        "Reasons": [["single_device"], ["lolbin", "child_shell"], ["lolbin"], [], ["lolbin"]],
        "SuppressedBy": [None, None, None, r"known:\Microsoft\Windows\X", "vendor-rule"],
        "WouldSuppressBy": [None, None, "rundll-maintenance", None, None],
    })
    labels = [
        _label("WScript.exe", '"wscript.EXE" A.JS', r"c:\windows\system32\WSCRIPT.EXE", "PC3"),  # matches, rank 2
        _label("cmd.exe", "cmd.exe /c y", r"C:\Windows\System32\cmd.exe", "pc6"),  # suppressed
        _label("wscript.exe", '"WSCRIPT.EXE" A.JS', r"C:\Windows\System32\wscript.exe", "pc2"),  # command case differs
        _label("rundll32.exe", "rundll32.exe x.dll,Run", r"C:\Windows\System32\rundll32.exe", "pc9"),  # other device
    ]
    assert match_labels(rare, labels) == [1, 4, None, None]
    report = score_set(rare, labels)
    assert (report.rare_groups, report.findings, report.by_rule, report.by_catalogue, report.kept_by_tripwire) == (5, 3, 1, 1, 1)
    assert (report.malicious_findings, report.malicious_on_top) == (1, 0)
    first, second = report.results[:2]
    assert (first.rank, first.score, first.reasons, first.finding) == (2, 7.0, ["lolbin", "child_shell"], True)
    assert first.why_missed.startswith("outranked by 1 benign finding(s), first updater.exe")
    assert (second.rank, second.finding, second.why_missed) == (5, False, "suppressed by vendor-rule")
    # a known-malicious group that is no label (the sample's beacon) does not count as benign
    other = _label("updater.exe", "updater.exe /s", r"C:\Program Files\U\updater.exe", "pc1")
    assert score_set(rare, labels[:1], [other]).malicious_on_top == 1


def test_a_launch_the_hunt_cannot_see_is_explained():
    processes = pd.DataFrame({"DeviceName": ["fs01"], "FileName": ["cmd.exe"], "ProcessCommandLine": ["cmd.exe /C x"],
                              "FolderPath": [r"C:\Windows\System32\cmd.exe"], "InitiatingProcessFileName": ["svchost.exe"],
                              "InitiatingProcessCommandLine": [""]})
    label = _label("cmd.exe", "cmd.exe /C x", r"C:\Windows\System32\cmd.exe", "fs01")
    assert explain_miss(label, processes, None, 3).startswith("not in scope: the parent's command line is unknown")
    starts = processes[["FileName", "ProcessCommandLine", "FolderPath"]]
    assert explain_miss(label, processes, pd.concat([starts] * 3), 3).startswith("not rare: 3 runs")


# -- get_recordings ---------------------------------------------------------------------------


def test_fetch_refuses_paths_outside_the_data_folder():
    with pytest.raises(get_recordings.FetchError):
        get_recordings.inside_data(manifest.DATA / ".." / "sets.yaml")


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_fetch_from_a_mirror_checks_sha256_and_converts(tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    write_sysmon(work / "sysmon.xml")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "-C", str(work)]
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    subprocess.run(git + ["add", "sysmon.xml"], check=True)
    subprocess.run(git + ["commit", "-q", "-m", "recording"], check=True)
    commit = subprocess.run(git + ["rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    mirror = tmp_path / "mirrors" / "lab+recordings" / "repo"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(mirror)], check=True)
    digest = hashlib.sha256((work / "sysmon.xml").read_bytes()).hexdigest()
    data = tmp_path / "data"
    monkeypatch.setattr(manifest, "DATA", data)
    monkeypatch.setattr(get_recordings, "DATA", data)
    entry = {"id": "lab-set", "title": "t", "kind": "real", "shows": "s", "malicious": [],
             "licence": {"name": "MIT", "attribution": "a"},
             "source": {"repository": "lab/recordings", "commit": commit, "files": [{"path": "sysmon.xml", "sha256": digest}]}}
    sets_file = tmp_path / "sets.yaml"
    sets_file.write_text(json.dumps({"sets": [entry]}), encoding="utf-8")
    evaluation_set = manifest.load(sets_file)[0]
    get_recordings.get_set(evaluation_set, tmp_path / "mirrors")
    tables = pd.read_csv(data / "lab-set" / "DeviceProcessEvents.csv.gz", dtype=str, keep_default_na=False)
    assert set(tables["FileName"]) == {"svchost.exe", "cmd.exe"}
    assert get_recordings.is_current(evaluation_set)
    wrong = manifest.load(sets_file)[0]
    wrong.files[0] = manifest.SourceFile("sysmon.xml", "0" * 64)
    with pytest.raises(get_recordings.FetchError, match="SHA-256"):
        get_recordings.get_set(wrong, tmp_path / "mirrors")


@pytest.mark.parametrize("record", [
    {"@timestamp": "2024-05-01T10:00:00.000Z", "winlog": {  # Winlogbeat 7+
        "event_id": "1", "provider_name": "Microsoft-Windows-Sysmon", "computer_name": "PC1.corp", "record_id": 7,
        "event_data": {"Image": r"C:\x\a.exe", "UtcTime": "2024-05-01 10:00:00.000"}}},
    {"@timestamp": "2024-05-01T10:00:00.000Z", "event_id": 1, "source_name": "Microsoft-Windows-Sysmon",  # Winlogbeat 6
     "computer_name": "PC1.corp", "record_number": "7", "event_data": {"Image": r"C:\x\a.exe", "UtcTime": "2024-05-01 10:00:00.000"}},
    {"Event": {"System": {"Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon"}}, "EventID": 1,  # evtx_dump
                          "Computer": "PC1.corp", "EventRecordID": 7,
                          "TimeCreated": {"#attributes": {"SystemTime": "2024-05-01T10:00:00.000Z"}}},
               "EventData": {"Image": r"C:\x\a.exe", "UtcTime": "2024-05-01 10:00:00.000"}}},
    {"EventTime": "2024-05-01 06:00:00", "EventID": 1, "SourceName": "Microsoft-Windows-Sysmon",  # NXLog
     "Hostname": "PC1.corp", "RecordNumber": 7, "@timestamp": "2024-05-01T10:00:01.000Z",
     "Image": r"C:\x\a.exe", "UtcTime": "2024-05-01 10:00:00.000"},
])
def test_json_layouts_read_alike(record):
    from evaluation import readers

    (event,) = list(readers.read_json_text(json.dumps(record), "test.json"))
    assert (event.provider, event.event_id, event.host, event.record_number) == ("sysmon", 1, "PC1.corp", "7")
    assert event.get("Image") == r"C:\x\a.exe" and event.get("UtcTime") == "2024-05-01 10:00:00.000"
    assert event.local_time == ("EventTime" in record)


# -- Sysmon fields without their System part (endgameinc/eqllib's sysmon-*.json) ---------------


def _sysmon_fields() -> list[dict]:
    """Two process starts as PowerShell exports Sysmon properties: no host, no channel."""
    return [
        {"EventId": 1, "UtcTime": "2018-12-04 00:42:19.724", "ProcessGuid": "{A1}", "ProcessId": "300",
         "Image": r"C:\Windows\System32\schtasks.exe", "CommandLine": "schtasks.exe /run /tn t1",
         "User": r"DESK\alice", "LogonId": "0x1", "IntegrityLevel": "High", "ParentProcessGuid": "{A0}",
         "ParentProcessId": "200", "ParentImage": r"C:\Python27\python.exe", "ParentCommandLine": "python.exe x.py",
         "RuleName": None},
        {"EventId": 1, "UtcTime": "2018-12-04 00:42:19.746", "ProcessGuid": "{A2}", "ProcessId": "400",
         "Image": r"C:\Windows\System32\cmd.exe", "CommandLine": "cmd.exe /c whoami.exe > C:\\t\\task.log",
         "User": r"NT AUTHORITY\SYSTEM", "LogonId": "0x3e7", "IntegrityLevel": "System",
         "ParentProcessGuid": "{S1}", "ParentProcessId": "1100", "ParentImage": r"C:\Windows\System32\svchost.exe",
         "ParentCommandLine": r"c:\windows\system32\svchost.exe -k netsvcs -p -s Schedule", "RuleName": None},
    ]


def test_sysmon_fields_without_system_part_are_read():
    from evaluation import readers

    events = list(readers.read_json_text(json.dumps(_sysmon_fields()), "sysmon-rta.json"))
    assert [(e.provider, e.event_id, e.host, e.record_time) for e in events] == [
        ("sysmon", 1, "", "2018-12-04 00:42:19.724"), ("sysmon", 1, "", "2018-12-04 00:42:19.746")]
    assert events[1].get("ParentImage") == r"C:\Windows\System32\svchost.exe"
    assert "RuleName" not in events[0].data and "EventId" not in events[0].data


def test_hostless_records_need_a_host(tmp_path):
    from evaluation import readers

    source = tmp_path / "sysmon-rta.json"
    source.write_text(json.dumps(_sysmon_fields()), encoding="utf-8")
    with pytest.raises(readers.InputError, match="--host"):
        convert.convert([source])
    summary = convert.convert([source], host="DESK")
    processes = summary.tables["DeviceProcessEvents"]
    assert set(processes["DeviceName"]) == {"desk"}
    launch = processes[processes["FileName"] == "cmd.exe"].iloc[0]
    assert launch["InitiatingProcessCommandLine"] == "svchost.exe -k netsvcs -p -s Schedule"
    assert launch["ProcessCommandLine"] == "cmd.exe /c whoami.exe > C:\\t\\task.log"
    assert launch["Timestamp"] == "2018-12-04T00:42:19.7460000Z"
    assert convert.main([str(source), "-o", str(tmp_path / "out")]) == 2
    assert convert.main([str(source), "-o", str(tmp_path / "out"), "--host", "DESK"]) == 0


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_mirror_may_be_a_clone_with_a_work_tree(tmp_path):
    work = tmp_path / "mirrors" / "lab+recordings" / "repo"
    work.mkdir(parents=True)
    (work / "a.json").write_text("[]", encoding="utf-8")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "-C", str(work)]
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    subprocess.run(git + ["add", "a.json"], check=True)
    subprocess.run(git + ["commit", "-q", "-m", "r"], check=True)
    commit = subprocess.run(git + ["rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    evaluation_set = manifest.EvalSet(id="lab", title="t", kind="real", repository="lab/recordings", commit=commit,
                                      files=[], licence={}, shows="", covers=[], path=None, convert={})
    assert get_recordings._from_mirror(tmp_path / "mirrors", evaluation_set, "a.json") == b"[]"
