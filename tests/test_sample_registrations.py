"""The sample's task registrations: Defender's ScheduledTask* rows, the TaskCache writes and the
network logons follow the shared format, and the answer key's ``registration`` entries are true.

Checked against the rows as an analyst's CSV reader sees them, with the format's own rules
(TaskContent parsed twice or read as XML, environment variables expanded, quotes dropped), on the
committed sample and on another seed.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import pytest
import yaml

from hunting_lib.sample.generator import WINDOW_END, generate_sample
from hunting_lib.schema import PROCESS_TABLE
from tests.conftest import SAMPLE_DATA, SCHEDULE

TASK_CACHE = "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\Schedule\\TaskCache\\"
SCRIPT_HOSTS = {"wscript.exe", "cscript.exe", "mshta.exe", "powershell.exe"}
TABLES = ("DeviceProcessEvents", "DeviceEvents", "DeviceRegistryEvents", "DeviceLogonEvents")


@pytest.fixture(scope="module", params=["committed", 1, 2, 3])
def sample(request, tmp_path_factory) -> tuple[dict, dict[str, pd.DataFrame]]:
    folder = SAMPLE_DATA
    if request.param != "committed":
        folder = tmp_path_factory.mktemp(f"seed{request.param}")
        generate_sample(folder, scale=0.3, seed=request.param)
    key = yaml.safe_load((Path(folder) / "scenarios.yaml").read_text(encoding="utf-8"))
    tables = {t: pd.read_csv(Path(folder) / f"{t}.csv.gz", dtype=str, keep_default_na=False) for t in TABLES}
    for frame in tables.values():
        frame["Time"] = pd.to_datetime(frame.Timestamp, format="ISO8601")
        frame["Id"] = frame.ReportId.astype(int)
    return key, tables


def definition(additional_fields: str) -> dict:
    """TaskName, Command, Arguments, Hidden and the trigger starts of one registration row,
    whichever format its TaskContent is in."""
    fields = json.loads(additional_fields)
    text = fields.get("TaskContent", "")
    out = {"TaskName": fields["TaskName"], "Subject": {k: v for k, v in fields.items() if k.startswith("Subject")}}
    if text.startswith("<?xml"):
        root = ET.fromstring(re.sub(r"^<\?xml[^>]*\?>", "", text))
        ns = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}
        out.update(Format="xml", Command=root.findtext("t:Actions/t:Exec/t:Command", "", ns),
                   Arguments=root.findtext("t:Actions/t:Exec/t:Arguments", "", ns),
                   Hidden=root.findtext("t:Settings/t:Hidden", "", ns),
                   Starts=[e.text for e in root.iter("{%s}StartBoundary" % ns["t"])])
    elif text:
        content = json.loads(text)  # parsed twice, as public queries do
        assert isinstance(content, dict)
        starts = []
        for value in content["Triggers"].values():
            starts += [v.get("StartBoundary") for v in (value if isinstance(value, list) else [value])]
        out.update(Format="json", Command=content["Actions"]["Exec"]["Command"],
                   Arguments=content["Actions"]["Exec"]["Arguments"], Hidden=content["Settings"]["Hidden"],
                   Starts=[s for s in starts if s])
    return out


def expand(text: str, user: str) -> str:
    """An action's text as the run shows it: variables expanded, quotes dropped, spaces collapsed, lower case."""
    home = f"C:\\Users\\{user}"
    for variable, value in (("%windir%", "C:\\Windows"), ("%systemroot%", "C:\\Windows"),
                            ("%programdata%", "C:\\ProgramData"), ("%localappdata%", home + "\\AppData\\Local"),
                            ("%appdata%", home + "\\AppData\\Roaming"), ("%public%", "C:\\Users\\Public")):
        text = re.sub(re.escape(variable), value.replace("\\", "\\\\"), text, flags=re.IGNORECASE)
    return " ".join(text.replace('"', "").split()).lower()


def created_rows(tables: dict[str, pd.DataFrame], action: str = "ScheduledTaskCreated") -> pd.DataFrame:
    events = tables["DeviceEvents"]
    rows = events[events.ActionType == action].copy()
    parsed = [definition(f) for f in rows.AdditionalFields]
    rows["TaskName"] = [p["TaskName"] for p in parsed]
    rows["Definition"] = parsed
    return rows


def starts_of(tables: dict[str, pd.DataFrame], s: dict) -> pd.DataFrame:
    proc = tables[PROCESS_TABLE]
    return proc[proc.Id.isin(s["report_ids"].get(PROCESS_TABLE, [])) & (proc.ProcessCommandLine == s["ProcessCommandLine"])
                & (proc.InitiatingProcessCommandLine == s["launched_by"])]


def registered(key: dict) -> list[dict]:
    return [s for s in key["scenarios"] if s.get("registration")]


def test_every_planted_task_is_registered_through_the_api_before_it_runs(sample):
    key, tables = sample
    created = created_rows(tables)
    devices_of = {s["id"]: s.get("devices") or [s["device"]] for s in key["scenarios"]}
    assert {s["id"] for s in key["scenarios"] if s.get("task_name")} == {s["id"] for s in registered(key)}
    for s in registered(key):
        reg = s["registration"]
        if reg["registry_only"]:
            assert not (created.TaskName == s["task_name"]).any(), s["id"]
            continue
        starts = starts_of(tables, s)
        for device in devices_of[s["id"]]:
            rows = created[(created.DeviceName == device) & (created.TaskName == s["task_name"])]
            assert len(rows) == 1, (s["id"], device)
            row = rows.iloc[0]
            assert row.Id in reg["report_ids"]["DeviceEvents"], s["id"]
            on_device = starts[starts.DeviceName == device]
            assert (row.Time < on_device.Time).all(), s["id"]
            d = row.Definition
            user = (s.get("account") or "\\").split("\\")[1]
            command = expand(d["Command"], user)
            assert command == s["FolderPath"].lower() or command in (s["FileName"].lower(), s["FileName"].lower()[:-4])
            program, _, arguments = s["ProcessCommandLine"].partition(" ")
            assert expand(d["Arguments"], user) == expand(arguments, user), s["id"]
            subject = d["Subject"]
            assert set(subject) == {"SubjectUserSid", "SubjectUserName", "SubjectDomainName", "SubjectLogonId"}
            assert re.fullmatch(r"0x[0-9a-f]+", subject["SubjectLogonId"]), s["id"]
            assert reg["ran"] == (s["runs"] > 0)


def test_malicious_tasks_minutes_before_their_run_benign_ones_days_before(sample):
    key, tables = sample
    for s in registered(key):
        starts = starts_of(tables, s)
        if starts.empty:
            continue
        gap = starts.Time.min() - pd.Timestamp(s["registration"]["registered_at"])
        if s["kind"] == "malicious" and not s["registration"]["registry_only"]:
            assert pd.Timedelta(0) < gap <= pd.Timedelta(hours=1), (s["id"], gap)
        elif s["kind"] != "malicious":
            assert gap >= pd.Timedelta(hours=12), (s["id"], gap)


def test_both_formats_varied_creators_variables_and_quotes(sample):
    key, tables = sample
    created = created_rows(tables)
    planted = created[created.Id.isin({i for s in registered(key) for i in s["registration"]["report_ids"]
                                       .get("DeviceEvents", [])})]
    formats = [d["Format"] for d in planted.Definition]
    assert formats.count("xml") >= 2 and formats.count("json") > formats.count("xml")
    assert {f.lower() for f in planted.InitiatingProcessFileName} >= {"schtasks.exe", "powershell.exe", "wscript.exe",
                                                                       "mshta.exe", "msiexec.exe", "ccmexec.exe",
                                                                       "svchost.exe"}
    commands = [d["Command"] + " " + d["Arguments"] for d in planted.Definition]
    assert any("%windir%" in c.lower() for c in commands) and any("%localappdata%" in c.lower() or "%appdata%"
                                                                   in c.lower() for c in commands)
    assert any(c.startswith('"') for c in commands)
    by_id = dict(zip(planted.Id, planted.Definition))
    for s in registered(key):
        for rid in s["registration"]["report_ids"].get("DeviceEvents", []):
            if rid in by_id:
                assert by_id[rid]["Format"] == s["registration"]["format"], s["id"]
    # The fleet's own tasks are registered and updated too, by the services that own them.
    background = created_rows(tables, "ScheduledTaskUpdated")
    assert len(background) > 0 and all(d.get("Command") for d in background.Definition)


def test_every_api_registration_is_followed_by_the_schedule_services_task_cache_writes(sample):
    key, tables = sample
    registry = tables["DeviceRegistryEvents"]
    for _, row in created_rows(tables).iterrows():
        writes = registry[(registry.DeviceName == row.DeviceName) & (registry.RegistryKey == TASK_CACHE + "Tree"
                                                                      + row.TaskName)]
        writes = writes[(writes.Time >= row.Time) & (writes.Time <= row.Time + pd.Timedelta(seconds=2))]
        assert set(writes.RegistryValueName) >= {"Id", "Index", "SD"}, row.TaskName
        assert writes.InitiatingProcessCommandLine.str.contains("netsvcs").all()
        guid = writes.loc[writes.RegistryValueName == "Id", "RegistryValueData"].iloc[0]
        task = registry[(registry.DeviceName == row.DeviceName) & (registry.RegistryKey == TASK_CACHE + "Tasks\\" + guid)]
        assert set(task.RegistryValueName) >= {"Path", "Actions", "Triggers", "DynamicInfo"}
        assert task.loc[task.RegistryValueName == "Path", "RegistryValueData"].iloc[0] == row.TaskName


def test_the_remote_registration_comes_from_a_network_logon(sample):
    key, tables = sample
    (s,) = [s for s in registered(key) if s["registration"]["remote"]]
    reg = s["registration"]
    created = created_rows(tables)
    row = created[(created.DeviceName == s["device"]) & (created.TaskName == s["task_name"])].iloc[0]
    assert row.InitiatingProcessFileName == "svchost.exe" and row.InitiatingProcessCommandLine == SCHEDULE
    assert row.InitiatingProcessAccountName == "system"
    subject = row.Definition["Subject"]
    assert reg["registered_by"] == f"{subject['SubjectDomainName']}\\{subject['SubjectUserName']}"
    logons = tables["DeviceLogonEvents"]
    logon = logons[(logons.DeviceName == s["device"]) & (logons.LogonId == str(int(subject["SubjectLogonId"], 16)))]
    assert len(logon) == 1
    logon = logon.iloc[0]
    assert (logon.ActionType, logon.LogonType, logon.Protocol) == ("LogonSuccess", "Network", "NTLM")
    assert logon.AccountName == subject["SubjectUserName"] and logon.RemoteIP == reg["remote_ip"]
    assert logon.RemoteDeviceName not in ("", s["device"])
    assert pd.Timedelta(0) < row.Time - logon.Time < pd.Timedelta(seconds=10)
    assert logon.Id in reg["report_ids"]["DeviceLogonEvents"]
    assert [x for x in registered(key) if x["registration"]["remote_ip"]] == [s]


def test_deleted_tasks_are_deleted_minutes_after_their_last_run(sample):
    key, tables = sample
    deleted = [s for s in registered(key) if s["registration"]["deleted_at"]]
    assert len(deleted) >= 2 and any(not s["registration"]["remote"] for s in deleted)
    rows = created_rows(tables, "ScheduledTaskDeleted")
    for s in deleted:
        row = rows[(rows.DeviceName == s["device"]) & (rows.TaskName == s["task_name"])]
        assert len(row) == 1 and row.iloc[0].Time == pd.Timestamp(s["registration"]["deleted_at"])
        after = row.iloc[0].Time - starts_of(tables, s).Time.max()
        assert pd.Timedelta(0) < after <= pd.Timedelta(minutes=10), s["id"]
        assert row.iloc[0].Id in s["registration"]["report_ids"]["DeviceEvents"]


def test_the_registry_only_task_is_written_by_another_process_and_hidden(sample):
    key, tables = sample
    (s,) = [s for s in registered(key) if s["registration"]["registry_only"]]
    assert s["kind"] == "malicious" and s["registration"]["hidden"] and s["registration"]["format"] == "registry"
    registry = tables["DeviceRegistryEvents"]
    writes = registry[registry.Id.isin(s["registration"]["report_ids"]["DeviceRegistryEvents"])]
    assert (writes.DeviceName == s["device"]).all()
    assert not writes.InitiatingProcessCommandLine.str.contains("Schedule|netsvcs").any()
    assert (writes.InitiatingProcessAccountSid == "S-1-5-18").all()
    tree = writes[writes.RegistryKey == TASK_CACHE + "Tree" + s["task_name"]]
    guid = tree.loc[tree.RegistryValueName == "Id", "RegistryValueData"].iloc[0]
    actions = writes[(writes.RegistryKey == TASK_CACHE + "Tasks\\" + guid) & (writes.RegistryValueName == "Actions")]
    text = bytes.fromhex(actions.RegistryValueData.iloc[0]).decode("utf-16-le", errors="replace")
    assert s["FileName"].lower() in text.lower()
    assert s["ProcessCommandLine"].split(" ", 1)[1] in text
    hidden = tree[(tree.ActionType == "RegistryValueDeleted") & (tree.RegistryValueName == "SD")]
    assert len(hidden) == 1
    assert (starts_of(tables, s).Time > hidden.Time.iloc[0]).all() and s["runs"] >= 1


def test_a_rare_registration_that_never_ran(sample):
    key, tables = sample
    (s,) = [s for s in key["scenarios"] if s["kind"] == "malicious_never_ran"]
    reg = s["registration"]
    assert s["runs"] == 0 and not reg["ran"] and not s["seed_reports_it"]
    assert reg["registered_by_process"].lower() in SCRIPT_HOSTS
    proc = tables[PROCESS_TABLE]
    assert not (proc.ProcessCommandLine == s["ProcessCommandLine"]).any()
    created = created_rows(tables)
    (row,) = [r for _, r in created.iterrows() if r.TaskName == s["task_name"] and r.DeviceName == s["device"]]
    assert all(pd.Timestamp(start) >= pd.Timestamp(WINDOW_END).tz_localize(None) for start in row.Definition["Starts"])
