"""``python -m hunting_lib history`` and ``verdict``: tables, drafts, and bad input as exit 2 with
one line."""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import sys

import pandas as pd
import pytest

from hunting_lib.cli import main
from hunting_lib.history.runs import record_run
from hunting_lib.history.store import SCHEMA_VERSION, open_history
from hunting_lib.history.verdicts import list_verdicts
from hunting_lib.triage.exclusions import load_exclusions
from tests.conftest import REPO, task_start
from tests.history_helpers import counts, findings, program, record

A, B, C = program("alpha"), program("bravo"), program("charlie")
EVIL = ("evil.exe", "evil.exe \x1b[2J\x1b[31mall clear", "C:\\ProgramData\\evil.exe")


@pytest.fixture
def two_runs(tmp_path):
    """A history with two weekly runs: alpha vanishes, charlie and the escape-laden one appear."""
    path = tmp_path / "history.sqlite"
    with open_history(path) as store:
        first = counts([A, B], week=0, count=1)
        record_run(store, record(0, first, findings(first, sha1s=[["a" * 40], []], score=5.0),
                                 sources={"DeviceProcessEvents": "/cases/acme/DeviceProcessEvents.parquet"}))
        second = counts([B, C, EVIL], week=1, count=1)
        record_run(store, record(1, second, findings(second, score=8.0)))
    return path, dict(zip([A, B, C, EVIL], counts([A, B, C, EVIL], week=0)["GroupKey"]))


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_history_lists_the_runs_and_the_verdicts(two_runs, capsys):
    path, keys = two_runs
    code, out, err = run(capsys, "verdict", "follow-up", "--history", path, "--group", keys[B], "--analyst", "ann",
                         "--note", "ask the app owner")
    assert (code, err) == (0, "")
    assert out.startswith(f"verdict 1: {keys[B]} follow-up by ann")
    code, out, err = run(capsys, "history", "--history", path)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "2 run(s) in history.sqlite"
    assert lines[1].split() == ["run", "recorded", "at", "window", "sources", "groups", "findings", "new"]
    assert lines[2].split()[2:] == ["[2026-10-05T00:00:00Z,", "2026-10-12T00:00:00Z)", "DeviceProcessEvents.parquet",
                                    "2", "2", "2"]
    assert lines[3].split()[-3:] == ["3", "3", "2"]  # bravo ran in week 0: only two are new
    assert "/cases/acme" not in out
    assert "1 verdict(s)" in out
    verdict_row = next(line for line in lines if line.startswith("1 ") and keys[B] in line)
    assert verdict_row.split()[:5] == ["1", keys[B], "follow-up", "current", "ann"]
    assert verdict_row.endswith("ask the app owner")


def test_history_diff_shows_what_appeared_and_vanished(two_runs, capsys):
    path, keys = two_runs
    code, out, err = run(capsys, "history", "--history", path, "--diff", "1", "2")
    assert (code, err) == (0, "")
    assert "findings that appeared: 2" in out and "findings that vanished: 1" in out
    appeared = out.split("findings that appeared")[1].split("findings that vanished")[0]
    assert keys[C] in appeared and keys[EVIL] in appeared and keys[A] not in appeared
    charlie = next(line for line in appeared.splitlines() if keys[C] in line)
    assert charlie.split()[1:4] == ["8", "1", "charlie.exe"] and charlie.split()[-1] == "no"
    vanished = out.split("findings that vanished")[1]
    assert keys[A] in vanished and keys[B] not in vanished
    assert "groups the scheduler started: 2 appeared, 1 vanished" in out
    # attacker text cannot redraw the terminal
    assert "\x1b" not in out and "\\x1b[2j" in out


def test_a_benign_verdict_writes_a_draft_rule_that_loads(two_runs, tmp_path, capsys):
    path, keys = two_runs
    drafts = tmp_path / "review" / "drafts.yaml"
    code, out, err = run(capsys, "verdict", "benign", "--history", path, "--group", keys[B], "--analyst", "ann",
                         "--note", "inventory agent", "--expires-days", "30", "--draft-rule", drafts)
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == f"verdict 1: {keys[B]} benign by ann, expires 2026-12-15T00:00:00Z"
    assert out.splitlines()[1].startswith(f"wrote draft rule verdict-{keys[B]} to {drafts}")
    rules = load_exclusions(drafts)
    assert [(r.id, r.owner, r.reason, str(r.expires)) for r in rules] == [
        (f"verdict-{keys[B]}", "ann", "inventory agent", "2026-12-15")]
    with open_history(path) as store:
        assert list(list_verdicts(store)["Verdict"]) == ["benign"]


def test_a_verdict_on_a_key_never_seen_is_recorded_with_a_warning(two_runs, capsys):
    path, _ = two_runs
    code, out, err = run(capsys, "verdict", "malicious", "--history", path, "--group", "gk-00000000000000ff",
                         "--analyst", "ann")
    assert code == 0
    assert err.startswith("warning: gk-00000000000000ff was never seen in history.sqlite") and err.count("\n") == 1
    with open_history(path) as store:
        assert list(list_verdicts(store)["GroupKey"]) == ["gk-00000000000000ff"]


@pytest.mark.parametrize("argv, expected", [
    (["benign", "--group", "gk-00000000000000ff", "--draft-rule", "{drafts}"], "no recorded finding"),
    (["malicious", "--group", "{bravo}", "--draft-rule", "{drafts}"], "only a benign verdict writes a draft"),
    (["benign", "--group", "gk-zz", "--draft-rule", "{drafts}"], "not a group key"),
    (["malicious", "--group", "{bravo}", "--expires-days", "3"], "only a benign verdict expires"),
])
def test_a_refused_verdict_records_nothing(two_runs, tmp_path, capsys, argv, expected):
    path, keys = two_runs
    drafts = tmp_path / "drafts.yaml"
    argv = [a.format(drafts=drafts, bravo=keys[B]) for a in argv]
    code, out, err = run(capsys, "verdict", *argv, "--history", path, "--analyst", "ann", "--note", "n")
    assert code == 2 and out == ""
    assert err.startswith("error: ") and expected in err and err.count("\n") == 1
    assert not drafts.exists()
    with open_history(path) as store:
        assert list_verdicts(store).empty


def cli(*argv: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hunting_lib", *map(str, argv)], cwd=REPO, capture_output=True,
                          text=True, timeout=120, env={**os.environ, **env})


def assert_one_line_exit_2(done: subprocess.CompletedProcess, *words: str) -> None:
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: ")
    assert "Traceback" not in done.stderr
    for word in words:
        assert word in done.stderr


def test_bad_history_files_exit_2_with_one_line(tmp_path):
    corrupt = tmp_path / "corrupt.sqlite"
    corrupt.write_bytes(bytes(random.Random(7).randrange(256) for _ in range(4096)))
    assert_one_line_exit_2(cli("history", "--history", corrupt), str(corrupt), "not a readable hunt history")
    assert_one_line_exit_2(cli("verdict", "benign", "--history", corrupt, "--group", "gk-00000000000000ff",
                               "--analyst", "ann"), "not a readable hunt history")
    newer = tmp_path / "newer.sqlite"
    open_history(newer).close()
    connection = sqlite3.connect(newer)
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 3}")
    connection.close()
    assert_one_line_exit_2(cli("history", "--history", newer), "newer version of the kit")
    missing = tmp_path / "missing.sqlite"
    assert_one_line_exit_2(cli("history", "--history", missing), "no history file there")
    assert not missing.exists()
    assert_one_line_exit_2(cli("history", "--history", newer.parent), "is a folder")


def test_a_locked_history_exits_2_and_loses_nothing(two_runs):
    path, keys = two_runs
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        done = cli("verdict", "benign", "--history", path, "--group", keys[B], "--analyst", "ann",
                   HUNTING_LIB_HISTORY_TIMEOUT="0.3")
        assert_one_line_exit_2(done, str(path), "locked by another process", "waited 0.3 s")
        # reading is never blocked by a writer
        listed = cli("history", "--history", path, "--diff", "1", "2", HUNTING_LIB_HISTORY_TIMEOUT="0.3")
        assert listed.returncode == 0 and "findings that appeared: 2" in listed.stdout
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with open_history(path) as store:
        assert list_verdicts(store).empty
        assert len(store.query("SELECT id FROM runs")) == 2


def test_a_diff_with_an_unknown_run_exits_2(two_runs, capsys):
    path, _ = two_runs
    code, out, err = run(capsys, "history", "--history", path, "--diff", "1", "7")
    assert code == 2 and "run 7 is not recorded there" in err and err.count("\n") == 1


def weekly_launches(folder) -> None:
    """Two weeks of Task Scheduler launches: week 0 alpha (rare), bravo (frequent), charlie (rare);
    week 1 alpha, bravo (rare now), and delta and echo, which week 0 never saw."""
    rows = []

    def launches(name: str, week: int, times: int, device: str = "pc-01") -> None:
        folder_path = f"C:\\Program Files\\Contoso\\{name}.exe"
        for i in range(times):
            row = task_start(f"{name}.exe", f'"{folder_path}" /run', folder_path, device=device,
                             minutes=week * 7 * 1440 + i * 60, pid=5000 + len(rows))
            rows.append({**row, "DeviceId": f"{device}-id", "ReportId": len(rows) + 1})

    launches("alpha", 0, 1), launches("bravo", 0, 5), launches("charlie", 0, 1)
    launches("alpha", 1, 1), launches("bravo", 1, 1), launches("delta", 1, 1), launches("echo", 1, 2, "pc-02")
    pd.DataFrame(rows).to_csv(folder / "DeviceProcessEvents.csv", index=False)


def test_two_weekly_hunts_a_verdict_and_its_draft_rule_end_to_end(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    weekly_launches(data)
    history = tmp_path / "history.sqlite"
    weeks = [("2026-11-02T00:00:00Z", "2026-11-09T00:00:00Z"), ("2026-11-09T00:00:00Z", "2026-11-16T00:00:00Z")]

    def hunt(week: int, name: str, *extra: str) -> dict:
        output = tmp_path / name
        code, _, err = run(capsys, "hunt", "--data-dir", data, "--start", weeks[week][0], "--end", weeks[week][1],
                           "--output", output, *extra)
        assert code == 0, err
        return {t["FileName"]: t for t in json.loads(output.read_text(encoding="utf-8"))["rare_tasks"]}

    first = hunt(0, "week0.json", "--history", history)
    assert set(first) == {"alpha.exe", "charlie.exe"}
    second = hunt(1, "week1.json", "--history", history)
    assert set(second) == {"alpha.exe", "bravo.exe", "delta.exe", "echo.exe"}
    # new: exactly what week 0's scheduler never started (bravo was frequent then, but it ran)
    assert {name for name, task in second.items() if task["History"]["New"]} == {"delta.exe", "echo.exe"}
    assert second["bravo.exe"]["History"]["RunsSeen"] == 1
    bravo = second["bravo.exe"]["GroupKey"]
    drafts = tmp_path / "drafts.yaml"
    code, _, err = run(capsys, "verdict", "benign", "--history", history, "--group", bravo, "--analyst", "ann",
                       "--note", "Contoso inventory agent", "--draft-rule", drafts)
    assert code == 0, err
    again = hunt(1, "week1-again.json", "--history", history)
    assert again["bravo.exe"]["Verdict"]["Verdict"] == "benign" and again["bravo.exe"]["Verdict"]["Analyst"] == "ann"
    assert again["bravo.exe"]["SuppressedBy"] == "verdict:1"
    assert [name for name, task in again.items() if task["SuppressedBy"]] == ["bravo.exe"]
    # re-running week 1 does not make its own keys "seen before"
    assert {name for name, task in again.items() if task["History"]["New"]} == {"delta.exe", "echo.exe"}
    # the draft, once an analyst uses it as the exclusions file, suppresses bravo alone
    ruled = hunt(1, "week1-ruled.json", "--exclusions", drafts)
    assert {name: task["SuppressedBy"] for name, task in ruled.items()} == {
        "alpha.exe": None, "bravo.exe": f"verdict-{bravo}", "delta.exe": None, "echo.exe": None}


def test_analyst_text_cannot_redraw_the_terminal(two_runs, capsys):
    path, keys = two_runs
    code, out, err = run(capsys, "verdict", "follow-up", "--history", path, "--group", keys[C], "--analyst",
                         "eve\x1b[2J", "--note", "line one\nverdict 9: forged\u202e")
    assert code == 0 and "\x1b" not in out and out.count("\n") == 1 and "by eve\\x1b[2J" in out
    code, out, err = run(capsys, "history", "--history", path)
    verdict_rows = out.split("1 verdict(s)\n")[1].splitlines()
    assert len(verdict_rows) == 2  # the header and one row: the note's newline is shown, not obeyed
    assert verdict_rows[1].endswith("line one\\nverdict 9: forged\\u202e") and "\x1b" not in out
