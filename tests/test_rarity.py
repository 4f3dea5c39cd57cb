"""Steps 1-4: which Task Scheduler children the seed looks at, and which are rare."""

import pandas as pd
import pytest

from hunting_lib.engine.rarity import find_rare_tasks, scheduled_task_starts
from hunting_lib.errors import BadInputError
from hunting_lib.params import HuntParams
from tests.conftest import SCHEDULE, T0, task_start, typed

EVIL = ("evil.exe", "evil.exe -run", r"C:\Users\Public\evil.exe")


def starts(rows, **params):
    return scheduled_task_starts(typed("DeviceProcessEvents", rows), HuntParams(**params))


def rare(rows, **params):
    p = HuntParams(**params)
    return find_rare_tasks(scheduled_task_starts(typed("DeviceProcessEvents", rows), p), p)


def test_parent_command_line_is_matched_exactly_and_case_sensitively():
    rows = [
        task_start(*EVIL, pid=1),
        task_start(*EVIL, pid=2, parent_command_line=SCHEDULE.lower()),
        task_start(*EVIL, pid=3, parent_command_line="svchost.exe -k netsvcs -p"),
        task_start(*EVIL, pid=4, parent_command_line=SCHEDULE + " "),
        task_start(*EVIL, pid=5, parent_file_name="SVCHOST.EXE"),
    ]
    assert starts(rows)["ProcessId"].tolist() == [1]


def test_parent_command_line_variants_can_be_added():
    rows = [task_start(*EVIL, pid=1), task_start(*EVIL, pid=2, parent_command_line=SCHEDULE.lower())]
    found = starts(rows, parent_command_lines=(SCHEDULE, SCHEDULE.lower()))
    assert sorted(found["ProcessId"]) == [1, 2]


def test_mpcmdrun_is_dropped_only_in_its_exact_case():
    folder = r"C:\ProgramData\Microsoft\Windows Defender\Platform\4.18.2\MpCmdRun.exe"
    rows = [
        task_start("MpCmdRun.exe", "MpCmdRun.exe -IdleTask", folder, pid=1),
        task_start("mpcmdrun.exe", "mpcmdrun.exe -IdleTask", folder.lower(), pid=2),
    ]
    assert starts(rows)["ProcessId"].tolist() == [2]


def test_system32_prefix_is_case_insensitive_and_shells_always_pass():
    rows = [
        task_start("taskhostw.exe", "taskhostw.exe", r"C:\Windows\System32\taskhostw.exe", pid=1),
        task_start("wermgr.exe", "wermgr.exe", r"c:\WINDOWS\system32\wermgr.exe", pid=2),
        task_start("CMD.EXE", "CMD.EXE /c x", r"C:\Windows\System32\cmd.exe", pid=3),
        task_start("PowerShell.exe", "powershell -c x", r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe", pid=4),
        task_start("rundll32.exe", "rundll32.exe x.dll,Go", r"C:\Windows\System32\rundll32.exe", pid=5),
        task_start("Regsvr32.exe", "regsvr32 /s x.dll", r"C:\Windows\System32\regsvr32.exe", pid=6),
        task_start("sc.exe", "sc.exe start w32time", r"C:\Windows\SysWOW64\sc.exe", pid=7),
        # The prefix needs the trailing backslash: a folder named System32x is outside it.
        task_start("x.exe", "x.exe", r"C:\Windows\System32x\x.exe", pid=8),
    ]
    assert sorted(starts(rows)["ProcessId"]) == [3, 4, 5, 6, 7, 8]


def test_count_below_threshold_is_rare():
    rows = [task_start(*EVIL, pid=i, minutes=i) for i in range(3)]
    rows += [task_start("two.exe", "two.exe", r"C:\Tools\two.exe", pid=10 + i) for i in range(2)]
    found = rare(rows)
    assert found["FileName"].tolist() == ["two.exe"]
    assert found["Count"].tolist() == [2]
    assert rare(rows, threshold=4)["FileName"].tolist() == ["two.exe", "evil.exe"]
    assert rare(rows, threshold=1).empty


def test_groups_are_exact_on_all_three_keys():
    # The same program with a command line differing in case is a different group.
    rows = [task_start(*EVIL, pid=1), task_start(*EVIL, pid=2),
            task_start("evil.exe", "EVIL.EXE -run", EVIL[2], pid=3)]
    found = rare(rows, threshold=3)
    assert sorted(found["Count"]) == [1, 2]


def test_max_devices_keeps_a_frequent_task_on_one_device():
    beacon = ("upd.exe", "upd.exe --beacon", r"C:\Users\bob\AppData\Roaming\upd.exe")
    rows = [task_start(*beacon, pid=100 + i, minutes=60 * i) for i in range(24)]
    rows += [task_start("agent.exe", "agent.exe", r"C:\Program Files\A\agent.exe",
                        device=f"pc-{d:02}", pid=200 + d) for d in range(10)]
    assert rare(rows).empty
    found = rare(rows, max_devices=1)
    assert found["FileName"].tolist() == ["upd.exe"]
    assert found.loc[0, "RareBy"] == "devices"
    assert found.loc[0, "RunsPerDay"] == pytest.approx(24.0, rel=0.05)


def test_prevalence_columns():
    rows = [task_start(*EVIL, device="pc-02", pid=1, minutes=0, account="alice"),
            task_start(*EVIL, device="pc-01", pid=2, minutes=30, account="")]
    row = rare(rows).iloc[0]
    assert row["DeviceCount"] == 2 and row["Devices"] == ["pc-01", "pc-02"]
    assert row["Accounts"] == ["alice"]
    assert row["FirstSeen"] == T0 and row["LastSeen"] == T0 + pd.Timedelta(minutes=30)


def test_window_is_inclusive_at_both_ends():
    rows = [task_start(*EVIL, pid=i, minutes=i) for i in range(5)]
    found = starts(rows, start=(T0 + pd.Timedelta(minutes=1)).isoformat(),
                   end=(T0 + pd.Timedelta(minutes=3)).isoformat())
    assert sorted(found["ProcessId"]) == [1, 2, 3]


@pytest.mark.parametrize("bad", [dict(threshold=0), dict(threshold=-2), dict(max_devices=0),
                                 dict(start="2026-11-03", end="2026-11-02"), dict(start="yesterday"),
                                 dict(match="fuzzy")])
def test_bad_parameters_are_clear_errors(bad):
    with pytest.raises(BadInputError):
        HuntParams(**bad)
