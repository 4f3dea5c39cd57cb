"""tasks/registrations.py: the registration rows read out, the caller's network logon, and the same
TaskName/Command/Arguments as a public-style KQL query parses them (duckdb-kql as the oracle)."""

from __future__ import annotations

import json
import warnings

import pandas as pd
import pytest

from hunting_lib.errors import DataWarning
from hunting_lib.tasks.registrations import (
    TaskEvents,
    logon_id_number,
    registration_rows,
    task_events_from_tables,
    with_network_logons,
)
from tests.conftest import oracle
from tests.task_rows import (
    TASKS,
    TREE,
    frame,
    json_content,
    logon,
    registration,
    registry_row,
    remote_registration,
    spec,
    xml_content,
)


def read(rows: list[dict]) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        return registration_rows(frame(rows))


def test_events_are_filtered_from_loaded_tables():
    events = frame([registration(), registration(action="ScheduledTaskDeleted"),
                    {**registration(), "ActionType": "ProcessCreated"}])
    registry = frame([registry_row(f"{TREE}\\Updater", "Id"), registry_row("HKEY_LOCAL_MACHINE\\SOFTWARE\\Run", "x"),
                      registry_row(f"{TASKS}\\{{ABC}}".upper(), "Path", "\\Updater")])
    logons = frame([logon(5), logon(6, logon_type="Interactive")])
    found = task_events_from_tables({"DeviceEvents": events, "DeviceRegistryEvents": registry,
                                     "DeviceLogonEvents": logons})
    assert list(found.registrations["ActionType"]) == ["ScheduledTaskCreated", "ScheduledTaskDeleted"]
    assert len(found.registry) == 2 and list(found.logons["LogonId"]) == [5]
    empty = task_events_from_tables({})
    assert empty.registrations.empty and empty.registry.empty and empty.logons.empty


def test_rows_read_from_both_formats():
    rows = read([registration("\\A", json_content(spec()), report_id=1),
                 registration("\\B", xml_content(spec(actions=[("powershell", "-w hidden")])), report_id=2),
                 registration("\\A", None, action="ScheduledTaskDeleted", report_id=3)])
    assert list(rows["Format"]) == ["json", "xml", None]
    assert list(rows["Command"]) == ["C:\\Windows\\System32\\cmd.exe", "powershell", ""]
    assert list(rows["TaskKey"]) == ["\\a", "\\b", "\\a"]
    assert list(rows["RegisteredBy"]) == ["FABRIKAM\\admin"] * 3
    assert list(rows["SubjectLogonIdNumber"]) == [0x1A2B3C] * 3
    assert rows["Triggers"][0] == ["TimeTrigger at 2026-11-03T02:00:00"]
    assert rows["Hidden"].tolist() == [True, True, False]
    assert rows["ReportId"].tolist() == [1, 2, 3]


def test_registered_by_falls_back_to_the_process_account():
    rows = read([registration("\\A", json_content(spec()), subject=None, account=("corp", "bob")),
                 registration("\\A", json_content(spec()), subject=None, account=("", "bob"))])
    assert list(rows["RegisteredBy"]) == ["corp\\bob", "bob"]


def test_absent_columns_work():
    bare = frame([registration("\\A", json_content(spec()))])[["Timestamp", "DeviceName", "ActionType",
                                                                 "AdditionalFields"]]
    rows = read(bare.to_dict("records"))
    assert rows["DeviceId"][0] == "pc-01"  # the name stands for the id
    assert rows["RegisteredByProcess"][0] == "" and rows["RegisteredByParent"][0] == ""
    assert rows["Command"][0] == "C:\\Windows\\System32\\cmd.exe"


def test_additional_fields_as_objects():
    row = registration("\\A", json_content(spec()))
    row["AdditionalFields"] = json.loads(row["AdditionalFields"])
    assert read([row])["Command"][0] == "C:\\Windows\\System32\\cmd.exe"


def test_unreadable_rows_warn_once_with_the_count():
    rows = [registration("\\A", "{broken"), registration("\\B", "<Task><Actions>"),
            {**registration("\\C"), "AdditionalFields": "not json"}, registration("\\D", json_content(spec()))]
    with pytest.warns(DataWarning, match=r"3 task registration row") as caught:
        out = registration_rows(frame(rows))
    assert len([w for w in caught if issubclass(w.category, DataWarning)]) == 1
    assert out["ParsedOk"].tolist() == [False, False, False, True]
    assert out["TaskName"].tolist()[:2] == ["\\A", "\\B"]  # what could be read stays


def test_logon_id_number():
    assert logon_id_number("0x1a2b3c") == 1715004
    assert logon_id_number("0x3E7") == 999
    assert logon_id_number("1715004") == 1715004
    assert logon_id_number("") is None and logon_id_number("0xzz") is None and logon_id_number(None) is None


def test_remote_registration_joins_its_network_logon():
    rows = read([remote_registration("\\R", json_content(spec())),
                 remote_registration("\\R2", json_content(spec()), device="pc-02")])
    logons = frame([logon(0x1A2B3C, ip="10.0.0.7", remote="admin-ws"),
                    logon(0x1A2B3C, device="pc-03", ip="10.9.9.9"),
                    logon(0x1A2B3C, device="pc-02", logon_type="Interactive")])
    out = with_network_logons(rows, logons)
    assert out["RegisteredFromNetworkLogon"].tolist() == [True, False]
    assert out["RemoteIP"].tolist() == ["10.0.0.7", None]
    assert out["RemoteDevice"].tolist() == ["admin-ws", None]
    # the second is still an RPC registration for a remote caller, without a logon found
    assert out["RegisteredRemotely"].tolist() == [True, True]


def test_a_logon_id_reused_after_the_registration_is_not_its_session():
    rows = read([remote_registration("\\R", json_content(spec()))])
    later = with_network_logons(rows, frame([logon(0x1A2B3C, minutes=180, ip="10.0.0.8")]))
    assert later["RemoteIP"].tolist() == [None] and not later["RegisteredFromNetworkLogon"].any()
    both = with_network_logons(rows, frame([logon(0x1A2B3C, minutes=-600, ip="10.0.0.1"),
                                            logon(0x1A2B3C, minutes=-1, ip="10.0.0.2"),
                                            logon(0x1A2B3C, minutes=180, ip="10.0.0.8")]))
    assert both["RemoteIP"].tolist() == ["10.0.0.2"]  # the session open at registration


def test_rpc_by_the_machine_itself_is_not_remote():
    rows = read([remote_registration("\\S", json_content(spec()), subject=("NT AUTHORITY", "SYSTEM", "0x3e7")),
                 registration("\\L", json_content(spec()))])  # local schtasks: not remote without a logon
    out = with_network_logons(rows, frame([logon(0x1A2B3C, device="pc-09")]))
    assert out["RegisteredRemotely"].tolist() == [False, False]
    assert not out["RegisteredFromNetworkLogon"].any()


def test_task_events_is_a_plain_container():
    events = TaskEvents()
    assert events.registrations.empty and events.registry.empty and events.logons.empty


PUBLIC_QUERY = """DeviceEvents
| where ActionType == "ScheduledTaskCreated"
| extend TaskName = tostring(parse_json(AdditionalFields).TaskName),
         Command = tostring(parse_json(tostring(parse_json(AdditionalFields).TaskContent)).Actions.Exec.Command),
         Arguments = tostring(parse_json(tostring(parse_json(AdditionalFields).TaskContent)).Actions.Exec.Arguments)
| project ReportId, TaskName, Command, Arguments"""


def test_public_kql_extracts_the_same_fields():
    """A public query parses TaskContent twice with parse_json; the kit reads the same values
    from every JSON-format row, hostile ones included."""
    oracle("duckdb_kql", "the independent KQL engine")
    from tests.kql_reference import connect_frames, run_kql

    commands = [("C:\\Windows\\System32\\cmd.exe", "/c whoami > C:\\Windows\\Temp\\x.tmp 2>&1"),
                ('"%LOCALAPPDATA%\\Up\\u.exe"', '-a "q" | where x == "y"'),
                ("C:\\a\\<script>alert(1)</script>.exe", "'; drop table x; --"),
                ("powershell.exe", "-enc " + "QQ" * 2000), ("C:\\Ünïcödé\\ß.exe", "\\\\server\\share\t\\x")]
    rows = [registration(f"\\Task {i} \"|\"", json_content(spec(actions=[c])), report_id=100 + i)
            for i, c in enumerate(commands)]
    rows.append(registration("\\Deleted", None, action="ScheduledTaskDeleted", report_id=200))
    events = frame(rows)
    expected = run_kql(connect_frames({"DeviceEvents": events}), PUBLIC_QUERY).sort_values("ReportId")
    ours = read(rows)
    ours = ours[ours["ActionType"].eq("ScheduledTaskCreated")].sort_values("ReportId")
    assert len(expected) == len(commands)
    assert expected["ReportId"].tolist() == ours["ReportId"].tolist()
    for column in ("TaskName", "Command", "Arguments"):
        assert expected[column].tolist() == ours[column].tolist(), column


MS = 1 / 60_000  # one millisecond in the builders' minutes


def atexec_logons(**changes) -> list[dict]:
    """atexec's pattern (as in the mdecrevoisier recording): the caller's SMB logon records the
    address; its RPC session, 19 ms later, registers the task and records none."""
    rpc = dict(logon_id=0x5A419BC, minutes=-7 * MS, ip="-", remote="")
    smb = dict(logon_id=0x5A41984, minutes=-26 * MS, ip="10.23.123.11", remote="")
    rpc.update(changes.get("rpc", {}))
    smb.update(changes.get("smb", {}))
    return [logon(**rpc), logon(**smb)]


def atexec_row() -> pd.DataFrame:
    return read([remote_registration("\\bouWFQYO", json_content(spec()), subject=("FABRIKAM", "admin", "0x5a419bc"))])


def test_a_session_without_address_takes_the_same_accounts_logon_just_before():
    out = with_network_logons(atexec_row(), frame(atexec_logons()), address_seconds=10)
    assert out["RegisteredFromNetworkLogon"].tolist() == [True]
    assert out["RemoteIP"].tolist() == ["10.23.123.11"]
    assert out["RemoteIPFrom"].tolist() == ["same account, 26 ms earlier"]


def test_the_latest_addressed_logon_of_that_account_wins_and_others_do_not_lend_theirs():
    logons = atexec_logons() + [
        logon(0x100, minutes=-3000 * MS, ip="10.9.9.1", account=("fabrikam.lan", "ADMIN"), protocol="Kerberos"),
        logon(0x101, minutes=-2 * MS, ip="10.6.6.6", account=("FABRIKAM", "someone")),  # another account
        logon(0x102, minutes=-1 * MS, ip="10.6.6.7", action="LogonFailed"),  # no session opened
        logon(0x103, minutes=-1 * MS, ip="10.6.6.8", account=("OTHERDOM", "admin")),  # another domain's admin
        logon(0x104, minutes=-1 * MS, ip="10.6.6.9", device="pc-02"),  # another device
        logon(0x105, minutes=1 * MS, ip="10.6.6.10"),  # after the registration
        logon(0x106, minutes=-1 * MS, ip="10.6.6.11", logon_type="Interactive")]
    out = with_network_logons(atexec_row(), frame(logons), address_seconds=10)
    assert out["RemoteIP"].tolist() == ["10.23.123.11"]
    # the Kerberos logon names the domain by its DNS name; it is the same account, 3 s earlier
    kerberos_only = [logons[0], logons[2]]
    out = with_network_logons(atexec_row(), frame(kerberos_only), address_seconds=10)
    assert (out["RemoteIP"][0], out["RemoteIPFrom"][0]) == ("10.9.9.1", "same account, 3000 ms earlier")


def test_no_address_outside_the_window():
    logons = atexec_logons(smb={"minutes": -11_000 * MS})
    out = with_network_logons(atexec_row(), frame(logons), address_seconds=10)
    assert out["RegisteredFromNetworkLogon"].tolist() == [True]
    assert out["RemoteIP"].tolist() == [None] and out["RemoteIPFrom"].tolist() == [None]
    wider = with_network_logons(atexec_row(), frame(logons), address_seconds=12)
    assert wider["RemoteIP"].tolist() == ["10.23.123.11"]


def test_the_sessions_own_address_comes_first():
    logons = atexec_logons(rpc={"ip": "10.1.1.1"})
    out = with_network_logons(atexec_row(), frame(logons), address_seconds=10)
    assert (out["RemoteIP"][0], out["RemoteIPFrom"][0]) == ("10.1.1.1", "session")


def test_no_session_logon_no_borrowed_address():
    """Only a session that is known to be a network logon borrows an address: without it, a nearby
    logon of the account says nothing about this registration."""
    out = with_network_logons(atexec_row(), frame(atexec_logons()[1:]), address_seconds=10)
    assert not out["RegisteredFromNetworkLogon"].any()
    assert out["RemoteIP"].tolist() == [None] and out["RemoteIPFrom"].tolist() == [None]


def test_cut_off_rows_are_read_and_counted_apart_in_the_one_warning():
    task = xml_content(spec(actions=[("powershell.exe", "-enc " + "QQBBAA" * 300)]))
    rows = [registration("\\A", "{broken"), registration("\\B", task[:-200], report_id=2),
            registration("\\C", json_content(spec(actions=[("powershell.exe", "-enc " + "QQBBAA" * 300)]))[:900],
                         report_id=3), registration("\\D", task, report_id=4)]
    with pytest.warns(DataWarning) as caught:
        out = registration_rows(frame(rows))
    messages = [str(w.message) for w in caught if issubclass(w.category, DataWarning)]
    assert len(messages) == 1
    assert "1 task registration row(s) whose AdditionalFields or TaskContent could not be read" in messages[0]
    assert "2 task registration row(s) cut off, read as far as they go" in messages[0]
    assert out["ParsedOk"].tolist() == [False, True, True, True]
    assert out["Truncated"].tolist() == [False, True, True, False]
    assert out["Command"].tolist() == ["", "powershell.exe", "powershell.exe", "powershell.exe"]
    with pytest.warns(DataWarning, match=r"^DeviceEvents: 1 task registration row\(s\) cut off"):
        registration_rows(frame(rows[1:2]))
