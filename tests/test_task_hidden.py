"""tasks/hidden.py: TaskCache writes outside the Schedule service, SD deletions, and the Actions
value decoded from hex."""

from __future__ import annotations

import warnings

import pandas as pd

from hunting_lib.tasks.hidden import decode_actions, registry_tasks, split_command_line
from hunting_lib.tasks.registrations import registration_rows
from tests.task_rows import SCHEDULE, TASKS, TREE, actions_blob, frame, json_content, registration, registry_row, spec

GUID = "{11111111-2222-3333-4444-555555555555}"


def test_actions_blob_by_its_layout():
    assert decode_actions(actions_blob("C:\\ProgramData\\x.exe", "-a b")) == ("C:\\ProgramData\\x.exe", "-a b")
    assert decode_actions(actions_blob("%windir%\\system32\\cmd.exe", "")) == ("%windir%\\system32\\cmd.exe", "")
    assert decode_actions(actions_blob("C:\\x.exe").upper()) == ("C:\\x.exe", "")  # hex in capitals
    assert decode_actions("0x" + actions_blob("C:\\x.exe", "1")) == ("C:\\x.exe", "1")


def test_actions_blob_of_another_layout_by_its_strings():
    blob = (b"\x01\x00junk" + "Author".encode("utf-16-le") + b"\x00\x00\x99"
            + "C:\\Users\\a\\AppData\\p.exe".encode("utf-16-le") + b"\x00\x00\x07" + "-run".encode("utf-16-le"))
    assert decode_actions(blob.hex()) == ("C:\\Users\\a\\AppData\\p.exe", "-run")


def test_actions_as_plain_text_and_garbage():
    assert decode_actions('"C:\\Program Files\\X\\x.exe" -q') == ("C:\\Program Files\\X\\x.exe", "-q")
    assert decode_actions("Binary Data") == ("", "")
    assert decode_actions("") == ("", "")
    assert decode_actions("ffff") == ("", "")
    assert decode_actions("00" * 5000) == ("", "")
    assert split_command_line("a.exe  -b c") == ("a.exe", "-b c")


def writes(process: str = "reg.exe", command_line: str = "reg add", name: str = "Svc", **extra) -> list[dict]:
    who = dict(process=process, command_line=command_line, **extra)
    return [registry_row(f"{TREE}\\{name}", "Id", GUID, **who),
            registry_row(f"{TASKS}\\{GUID}", "Path", f"\\{name}", **who),
            registry_row(f"{TASKS}\\{GUID}", "Actions", actions_blob("C:\\x\\p.exe", "-k"), **who)]


def test_a_foreign_write_is_a_registry_only_task():
    found = registry_tasks(frame(writes()), registration_rows(frame([registration("\\Other", None)])))
    row, = found.to_dict("records")
    assert (row["TaskName"], row["TaskKey"], row["Command"], row["Arguments"]) == ("\\Svc", "\\svc", "C:\\x\\p.exe",
                                                                                   "-k")
    assert row["RegistryOnly"] and not row["Hidden"] and not row["ApiRegistered"]
    assert (row["RegisteredByProcess"], row["RegisteredBy"]) == ("reg.exe", "nt authority\\system")


def test_the_schedule_service_is_not_foreign_whatever_its_command_line_says():
    for command_line in (SCHEDULE, "svchost.exe -k netsvcs", ""):  # Sysmon-derived exports leave it empty
        assert registry_tasks(frame(writes("svchost.exe", command_line)), pd.DataFrame()).empty
    assert len(registry_tasks(frame(writes("svchost.exe", "svchost.exe -k LocalService")), pd.DataFrame())) == 1


def test_a_foreign_write_to_an_api_task_is_not_registry_only():
    api = registration_rows(frame([registration("\\svc", json_content(spec()))]))
    assert registry_tasks(frame(writes()), api).empty


def test_sd_deleted_hides_a_task_but_not_during_the_apis_own_delete():
    api_rows = [registration("\\Svc", json_content(spec())),
                registration("\\Svc", None, minutes=60, action="ScheduledTaskDeleted")]
    api = registration_rows(frame(api_rows))
    tarrask = registry_row(f"{TREE}\\Svc", "SD", "", minutes=5, action="RegistryValueDeleted", process="cmd.exe")
    cleanup = registry_row(f"{TREE}\\Svc", "SD", "", minutes=60, action="RegistryValueDeleted",
                           process="svchost.exe", command_line=SCHEDULE)
    hidden = registry_tasks(frame([tarrask]), api)
    assert hidden[["TaskName", "Hidden", "ApiRegistered", "RegistryOnly"]].values.tolist() == [
        ["\\Svc", True, True, False]]
    assert hidden["HiddenAt"].iloc[0] == tarrask["Timestamp"]
    assert registry_tasks(frame([cleanup]), api).empty


def test_sd_rewritten_by_another_process_hides_an_api_task():
    api = registration_rows(frame([registration("\\Svc", json_content(spec()))]))
    rewrite = registry_row(f"{TREE}\\Svc", "SD", "0100", minutes=5, process="powershell.exe")
    by_service = registry_row(f"{TREE}\\Svc", "SD", "0100", minutes=5, process="svchost.exe", command_line=SCHEDULE)
    assert registry_tasks(frame([rewrite]), api)["Hidden"].tolist() == [True]
    assert registry_tasks(frame([by_service]), api).empty


def test_other_task_cache_keys_and_tables_without_them():
    plain = registry_row(f"{TREE.rsplit(chr(92), 1)[0]}\\Plain\\{GUID}", "", "", action="RegistryKeyCreated")
    assert registry_tasks(frame([plain]), pd.DataFrame()).empty
    assert registry_tasks(pd.DataFrame(), pd.DataFrame()).empty


def test_real_task_cache_writes_are_the_schedule_services_own():
    """OTRF's real Sysmon telemetry: hundreds of TaskCache writes, all by the Schedule service
    (most with an empty command line, as Sysmon-derived exports record it): none is foreign."""
    from hunting_lib import load_data_folder
    from hunting_lib.tasks.registrations import task_events_from_tables
    from tests.conftest import REAL_DATA, require_shared

    folder = require_shared(REAL_DATA / "otrf_sysmon")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the export's absent columns
        events = task_events_from_tables(load_data_folder(folder).tables)
    assert len(events.registry) > 100
    assert registry_tasks(events.registry, registration_rows(events.registrations)).empty
