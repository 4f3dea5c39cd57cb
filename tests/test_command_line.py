"""Reading a command line: program, glued text and arguments, the same in Python and in KQL."""

from __future__ import annotations

import pandas as pd
import pytest

from hunting_lib.engine.command_line import arguments, program_file_name, program_mismatch, split_command_line
from tests.conftest import oracle

CASES = [
    ('"C:\\Windows\\system32\\cmd.exe"\\system32\\cleanmgr.exe /autoclean /d C:',
     ("C:\\Windows\\system32\\cmd.exe", "\\system32\\cleanmgr.exe", "/autoclean /d C:")),
    ('"cmd.exe"\\system32\\cleanmgr.exe /autoclean /d C:', ("cmd.exe", "\\system32\\cleanmgr.exe", "/autoclean /d C:")),
    ("C:\\Program Files\\Vendor\\tool.exe -x \"a b\"", ("C:\\Program Files\\Vendor\\tool.exe", "", '-x "a b"')),
    ("rundll32.exe dfdts.dll,DfdGetDefaultPolicyAndSMART", ("rundll32.exe", "", "dfdts.dll,DfdGetDefaultPolicyAndSMART")),
    ('"sdxhelper.exe" /onlogon', ("sdxhelper.exe", "", "/onlogon")),
    ("taskhostw.exe", ("taskhostw.exe", "", "")),
    ("", ("", "", "")),
    ('"unterminated arg', ('"unterminated', "", "arg")),
    ("  cmd /c   whoami  ", ("cmd", "", "/c   whoami")),
]


@pytest.mark.parametrize("command_line, expected", CASES)
def test_split(command_line, expected):
    assert split_command_line(command_line) == expected


def test_program_file_names():
    assert program_file_name("C:\\Windows\\System32\\CMD") == "cmd.exe"
    assert program_file_name("\\\\?\\C:\\x\\Tool.EXE") == "tool.exe"
    assert program_file_name("") == ""


def test_program_mismatch_ignores_what_windows_writes_itself():
    lines = pd.Series(["svchost.exe -k x", "/setautostart /background", "3956", "C:\\PROGRA~1\\x\\TOOL~1.EXE",
                       "renamed.exe -a", '"cmd.exe"\\system32\\cleanmgr.exe'])
    files = pd.Series(["svchost.exe", "OneDrive.exe", "SenseCncProxy.exe", "tool.exe", "payload.exe", "cmd.exe"])
    assert program_mismatch(lines, files).tolist() == [False, False, False, False, True, False]


duckdb_kql = oracle("duckdb_kql", "duckdb-kql needs Python 3.11+")


def test_the_kql_rendering_of_arguments_agrees(tmp_path):
    """``kql_scope.arguments_kql`` is what the exclusion rules and the catalogue read in KQL."""
    from hunting_lib.remote.kql import kql_string
    from hunting_lib.remote.kql_scope import arguments_kql, program_kql

    lines = [c for c, _ in CASES] + ["a\"b.exe c", "x.exe\ty", "\tC:\\a b\\c.cmd /q", "weird.exe\nsecond line"]
    rows = ", ".join(f"{kql_string(line)}" for line in lines)
    con = duckdb_kql.connect()
    query = (f"print L = dynamic([{rows}]) | mv-expand L to typeof(string) | extend ProcessCommandLine = L"
             f" | extend A = {arguments_kql()}, P = {program_kql()} | project A, P")
    result = duckdb_kql.kql(con, query).df()
    assert result["A"].tolist() == arguments(pd.Series(lines)).tolist()
    assert result["P"].tolist() == [split_command_line(line)[0] for line in lines]
