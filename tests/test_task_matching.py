"""tasks/matching.py: a task's action against a launch, environment variables expanded and quotes
normalised, and the pairs found by merges."""

from __future__ import annotations

import pandas as pd
import pytest

from hunting_lib.tasks.matching import action_matches, match_actions, normalise, program_name

CMD = "C:\\Windows\\System32\\cmd.exe"
PS = "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"
ALICE_LOCAL = "C:\\Users\\alice\\AppData\\Local\\Updater\\u.exe"

# (command, arguments, run's FolderPath, run's ProcessCommandLine, matches?)
CASES = [
    ("%windir%\\system32\\cmd.exe", "/c whoami", CMD, "cmd.exe /c whoami", True),
    ("%SystemRoot%\\System32\\cmd.exe", "/c whoami", CMD, '"C:\\Windows\\System32\\cmd.exe" /c whoami', True),
    ("%ComSpec%", "/c whoami", CMD, "CMD.EXE  /C WHOAMI", True),
    ("cmd.exe", "/c whoami", CMD, "cmd /c whoami", True),
    ("cmd", "/c whoami", CMD, "cmd.exe /c whoami", True),
    ("powershell", "-nop -w hidden", PS, "powershell.exe -nop -w hidden", True),
    ('"%LOCALAPPDATA%\\Updater\\u.exe"', "/quiet", ALICE_LOCAL, f'"{ALICE_LOCAL}" /quiet', True),
    ("%USERPROFILE%\\AppData\\Local\\Updater\\u.exe", "", ALICE_LOCAL, f'"{ALICE_LOCAL}"', True),
    ("%TEMP%\\a.exe", "", "C:\\Users\\bob\\AppData\\Local\\Temp\\a.exe", "C:\\Users\\bob\\AppData\\Local\\Temp\\a.exe",
     True),
    ("%ProgramData%\\x\\y.exe", "-a %ProgramData%\\x\\c.cfg", "C:\\ProgramData\\x\\y.exe",
     "C:\\ProgramData\\x\\y.exe -a C:\\ProgramData\\x\\c.cfg", True),
    ("%ProgramData%\\x\\y.exe", "-a %ProgramData%\\x\\c.cfg", "C:\\ProgramData\\x\\y.exe",
     "C:\\ProgramData\\x\\y.exe -a %ProgramData%\\x\\c.cfg", True),  # left unexpanded in the command line
    ('"C:\\Program Files\\X\\x.exe"', "-q", "C:\\Program Files\\X\\x.exe", '"C:\\Program Files\\X\\x.exe" -q', True),
    ("%ProgramFiles(x86)%\\X\\x.exe", "", "C:\\Program Files (x86)\\X\\x.exe", "C:\\Program Files (x86)\\X\\x.exe",
     True),
    ("C:\\x\\a.exe", "", "C:\\x\\a.exe", "", True),  # a launch without a command line: by path
    # near misses
    ("cmd.exe", "/c whoami", CMD, "cmd.exe /c whoami /all", False),
    ("cmd.exe", "/c whoami", CMD, "cmd.exe /c hostname", False),
    ("%LOCALAPPDATA%\\Updater\\u.exe", "/quiet", "C:\\Users\\alice\\AppData\\Roaming\\Updater\\u.exe",
     "C:\\Users\\alice\\AppData\\Roaming\\Updater\\u.exe /quiet", False),  # differs after the profile
    ("C:\\Users\\alice\\AppData\\Local\\Updater\\u.exe", "/quiet", "C:\\Users\\bob\\AppData\\Local\\Updater\\u.exe",
     "C:\\Users\\bob\\AppData\\Local\\Updater\\u.exe /quiet", False),  # another user's literal folder
    ("%windir%\\system32\\cmd.exe", "/c whoami", "C:\\Temp\\cmd.exe", "C:\\Temp\\cmd.exe /c whoami", False),
    ("%ProgramData%\\x\\y.exe", "", "C:\\Users\\a\\x\\y.exe", "C:\\Users\\a\\x\\y.exe", False),
    ("C:\\x\\a.exe", "-b", "C:\\x\\a.exe", "C:\\x\\a.exe -b -c", False),
    ("C:\\x\\a.exe", "1", "C:\\x\\a.exe", "C:\\x\\a.exe1", False),
]


@pytest.mark.parametrize("command, arguments, folder_path, command_line, expected", CASES)
def test_action_against_a_launch(command, arguments, folder_path, command_line, expected):
    assert action_matches(command, arguments, folder_path, command_line) is expected


def test_normalise_and_program_name():
    assert normalise('  "C:\\A B\\x.EXE"\t -Q  ') == "c:\\a b\\x.exe -q"
    assert program_name("powershell") == "powershell.exe"
    assert program_name('"%windir%\\System32\\cmd.exe"') == "cmd.exe"
    assert program_name("%ComSpec%") == "cmd.exe"
    assert program_name("C:\\x\\script.ps1") == "script.ps1"
    assert program_name("") == ""


def test_hostile_regex_text_is_literal():
    assert action_matches("C:\\x\\a.exe", "(.*)+[", "C:\\x\\a.exe", "C:\\x\\a.exe (.*)+[")
    assert not action_matches("C:\\x\\a.exe", ".*", "C:\\x\\a.exe", "C:\\x\\a.exe anything")


def test_match_actions_pairs_by_device_and_program():
    actions = pd.DataFrame({"_row": [0, 1, 2], "_device": ["d1", "d1", "d2"],
                            "Command": ["cmd.exe", "%windir%\\system32\\cmd.exe", "cmd.exe"],
                            "Arguments": ["/c a", "/c b", "/c a"]})
    runs = pd.DataFrame({"_device": ["d1", "d1", "d2", "d3"], "TaskId": [10, 11, 12, 13],
                         "FileName": ["cmd.exe", "CMD.EXE", "cmd.exe", "cmd.exe"], "FolderPath": [CMD] * 4,
                         "ProcessCommandLine": ["cmd /c a", "cmd.exe /c b", "cmd.exe /c b", "cmd /c a"]})
    pairs = match_actions(actions, runs, on=["_device"])
    assert sorted(zip(pairs["_row"], pairs["TaskId"])) == [(0, 10), (1, 11)]
    anywhere = match_actions(actions.drop(columns="_device"), runs.drop(columns="_device"))
    assert sorted(set(zip(anywhere["_row"], anywhere["TaskId"]))) == [(0, 10), (0, 13), (1, 11), (1, 12),
                                                                      (2, 10), (2, 13)]
    assert match_actions(actions.iloc[0:0], runs, on=["_device"]).empty


SHELL = "C:\\tools\\shell.cmd"
# A batch script runs as cmd.exe /c <script> <arguments> (CreateProcess starts the interpreter for
# it); the whole command line may be quoted once more, and /C may be upper case.
SCRIPT_CASES = [
    (SHELL, "", CMD, 'C:\\Windows\\system32\\cmd.exe /c "C:\\tools\\shell.cmd"', True),
    (SHELL, "", CMD, 'C:\\Windows\\system32\\cmd.exe /C ""C:\\tools\\shell.cmd" "', True),
    (SHELL, "-x 1", CMD, 'C:\\Windows\\system32\\cmd.exe /c ""C:\\tools\\shell.cmd" -x 1"', True),
    (SHELL, "-x 1", CMD, 'cmd.exe /d /s /c "C:\\tools\\shell.cmd -x 1"', True),
    ('"%ProgramData%\\a b\\run.bat"', "", "C:\\Windows\\SysWOW64\\cmd.exe", 'cmd /c "C:\\ProgramData\\a b\\run.bat"',
     True),
    ("run.bat", "", CMD, "cmd.exe /c D:\\jobs\\run.bat", True),  # no folder registered: any folder
    # near misses: another script, cmd.exe running something else, other arguments, another cmd.exe
    (SHELL, "", CMD, 'C:\\Windows\\system32\\cmd.exe /c "C:\\tools\\other.cmd"', False),
    (SHELL, "", CMD, "C:\\Windows\\system32\\cmd.exe /c whoami", False),
    (SHELL, "", CMD, "C:\\Windows\\system32\\cmd.exe /c C:\\tools\\shell.cmd & whoami", False),
    (SHELL, "", CMD, "C:\\Windows\\system32\\cmd.exe /k C:\\tools\\shell.cmd", False),
    (SHELL, "", CMD, "C:\\Windows\\system32\\cmd.exe /c D:\\tools\\shell.cmd", False),
    (SHELL, "-x 1", CMD, "C:\\Windows\\system32\\cmd.exe /c C:\\tools\\shell.cmd", False),
    (SHELL, "-x 1", CMD, "C:\\Windows\\system32\\cmd.exe /c C:\\tools\\shell.cmd -x 2", False),
    (SHELL, "", "C:\\Temp\\cmd.exe", "C:\\Temp\\cmd.exe /c C:\\tools\\shell.cmd", False),
    (SHELL, "", "C:\\tools\\shell.cmd", "C:\\tools\\shell.cmd", False),  # a script is never the process
]


@pytest.mark.parametrize("command, arguments, folder_path, command_line, expected", SCRIPT_CASES)
def test_a_script_action_against_a_cmd_launch(command, arguments, folder_path, command_line, expected):
    assert action_matches(command, arguments, folder_path, command_line) is expected


def test_match_actions_pairs_a_script_with_its_cmd_launch():
    actions = pd.DataFrame({"_row": [0, 1], "Command": [SHELL, "C:\\tools\\other.bat"], "Arguments": ["", ""]})
    runs = pd.DataFrame({"TaskId": [10, 11, 12], "FileName": ["cmd.exe", "cmd.exe", "shell.cmd"],
                         "FolderPath": [CMD, CMD, SHELL],
                         "ProcessCommandLine": ['cmd.exe /c "C:\\tools\\shell.cmd"', "cmd.exe /c whoami", SHELL]})
    pairs = match_actions(actions, runs)
    assert sorted(zip(pairs["_row"], pairs["TaskId"])) == [(0, 10)]
