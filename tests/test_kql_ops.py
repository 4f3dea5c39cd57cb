"""The KQL operators' case rules, one by one."""

import pandas as pd

from hunting_lib.engine.kql_ops import equals_ci, equals_cs, in_ci, in_cs, make_set, startswith_ci

VALUES = pd.Series(["cmd.exe", "CMD.EXE", "Cmd.Exe", "cmd.exe ", "", "powershell.exe"], dtype=object)


def test_equals_is_case_sensitive():
    assert equals_cs(VALUES, "cmd.exe").tolist() == [True, False, False, False, False, False]


def test_in_is_case_sensitive():
    assert in_cs(VALUES, ["CMD.EXE", "powershell.exe"]).tolist() == [
        False, True, False, False, False, True,
    ]


def test_equals_tilde_ignores_case_but_not_spaces():
    assert equals_ci(VALUES, "cmd.EXE").tolist() == [True, True, True, False, False, False]


def test_in_ci_lowers_both_sides():
    assert in_ci(VALUES, ["CMD.exe"]).tolist() == [True, True, True, False, False, False]


def test_startswith_ignores_case():
    paths = pd.Series([r"C:\Windows\System32\x.exe", r"c:\windows\system32\y.exe",
                       r"C:\Windows\System32", r"C:\Windows\SysWOW64\z.exe"], dtype=object)
    assert startswith_ci(paths, "C:\\Windows\\System32\\").tolist() == [True, True, False, False]


def test_operators_on_missing_values_match_nothing():
    values = pd.Series(["a", None, float("nan")], dtype=object)
    assert in_ci(values, ["a"]).tolist() == [True, False, False]
    assert startswith_ci(values, "a").tolist() == [True, False, False]


def test_make_set_deduplicates_exactly_and_drops_empty():
    frame = pd.DataFrame({
        "g": [1, 1, 1, 1, 2, 3],
        "v": ["b", "a", "b", "B", "", None],
    })
    sets = make_set(frame, "g", "v")
    assert sets[1] == ["b", "a", "B"]  # first occurrence first; case-sensitive distinctness
    assert sets[2] == [] and sets[3] == []
