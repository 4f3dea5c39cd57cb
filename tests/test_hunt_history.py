"""``hunt --history`` end to end: consecutive windows, New against an independent engine, no
double counting at the boundary or in an overlap, verdicts that suppress in the next run (and a
tripwire that still wins), on the committed sample through the command line."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from hunting_lib.engine.group_key import group_keys
from hunting_lib.engine.loader import load_data_folder
from hunting_lib.triage.exclusions import load_exclusions
from tests.conftest import REPO, SAMPLE_DATA, oracle

SEED_QUERY = yaml.safe_load((REPO / "hunting_lib/queries/rare_sch_task_with_activity.yaml").read_text())["query"]
BOUNDARY = "2026-11-06T00:00:00Z"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hunting_lib", *args], capture_output=True, text=True, cwd=REPO,
                          env={"HUNTING_LIB_PROGRESS": "0", "PATH": "/usr/bin:/bin", "HUNTING_LIB_TODAY": "2026-11-10"})


COUNTS_BY_KEY = ("select g.group_key, sum(c.count) from group_counts c join groups g on g.id = c.group_id "
                 "group by g.group_key")


def counts_by_key(history: Path) -> dict[str, int]:
    with sqlite3.connect(history) as db:
        return dict(db.execute(COUNTS_BY_KEY).fetchall())


def hunt(data: Path, history: Path, out: Path, *extra: str) -> dict:
    done = cli("hunt", "--data-dir", str(data), "--history", str(history), "--output", str(out), *extra)
    assert done.returncode == 0, done.stderr
    return json.loads(out.read_text(encoding="utf-8"))


def seed_group_keys(start: str | None, end: str | None) -> set[str]:
    """The groups the published steps 1-3 see in [start, end), by duckdb-kql (an engine
    independent of the kit), keyed the way history keys them."""
    oracle("duckdb_kql", "the independent KQL engine")
    from tests.kql_reference import load_into_duckdb, run_kql

    body = SEED_QUERY.split("materialize(", 1)[1]
    steps = body[:body.index("| summarize count() by")]
    window = ""
    if start:
        window += f"\n| where Timestamp >= datetime({start})"
    if end:
        window += f"\n| where Timestamp < datetime({end})"
    query = steps + window + "\n| summarize count() by FileName, ProcessCommandLine, FolderPath"
    groups = run_kql(load_into_duckdb(SAMPLE_DATA), query)
    return set(group_keys(groups[["FileName", "ProcessCommandLine", "FolderPath"]])["GroupKey"])


@pytest.fixture(scope="module")
def two_windows(tmp_path_factory) -> tuple[dict, dict, Path]:
    folder = tmp_path_factory.mktemp("history")
    history = folder / "hunts.sqlite"
    first = hunt(SAMPLE_DATA, history, folder / "w1.json", "--published", "--end", BOUNDARY)
    second = hunt(SAMPLE_DATA, history, folder / "w2.json", "--published", "--start", BOUNDARY)
    return first, second, history


def test_new_is_exactly_the_keys_the_first_window_never_saw(two_windows):
    first, second, _ = two_windows
    seen_before = seed_group_keys(None, BOUNDARY)
    assert seen_before and len(second["rare_tasks"]) > 3
    for task in first["rare_tasks"]:
        assert task["History"]["New"] is True and task["History"]["RunsSeen"] == 0
    news = {t["GroupKey"]: t["History"]["New"] for t in second["rare_tasks"]}
    assert {k for k, new in news.items() if new} == set(news) - seen_before
    assert any(news.values()) and not all(news.values())  # both kinds occur: the test can fail either way
    for task in second["rare_tasks"]:
        history = task["History"]
        assert history["RunsSeen"] == (0 if history["New"] else 1)
        assert history["FirstSeen"] is not None
        if not history["New"]:
            assert history["FirstSeen"] < BOUNDARY


def test_consecutive_windows_count_every_launch_once(two_windows, tmp_path):
    """The counts the history holds for [.., T) and [T, ..) add up to one hunt over everything:
    a launch at exactly T is counted once, by the second window."""
    _, _, history = two_windows
    split = counts_by_key(history)
    whole = hunt(SAMPLE_DATA, tmp_path / "whole.sqlite", tmp_path / "whole.json", "--published")
    assert whole["history_run"]["run_id"] == 1
    once = counts_by_key(tmp_path / "whole.sqlite")
    assert len(once) > 10 and split == once


def test_a_launch_at_the_boundary_goes_to_the_later_window(tmp_path):
    processes = load_data_folder(SAMPLE_DATA).tables["DeviceProcessEvents"]
    by_scheduler = processes[(processes["InitiatingProcessCommandLine"] == "svchost.exe -k netsvcs -p -s Schedule")
                             & ~processes["FolderPath"].str.lower().str.startswith("c:\\windows\\system32\\")]
    launch = by_scheduler.iloc[len(by_scheduler) // 2]  # a launch the published steps 1-3 keep
    at = launch["Timestamp"].strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    history = tmp_path / "h.sqlite"
    hunt(SAMPLE_DATA, history, tmp_path / "a.json", "--published", "--end", at)
    hunt(SAMPLE_DATA, history, tmp_path / "b.json", "--published", "--start", at)
    key = group_keys(pd.DataFrame([launch[["FileName", "ProcessCommandLine", "FolderPath"]]]))["GroupKey"].iloc[0]
    ns = launch["Timestamp"].value
    with sqlite3.connect(history) as db:
        rows = db.execute("select c.run_id, c.first_seen, c.last_seen from group_counts c join groups g "
                          "on g.id = c.group_id where g.group_key = ?", (key,)).fetchall()
    assert rows
    assert any(run == 2 and first <= ns for run, first, _ in rows)
    assert all(last < ns for run, _, last in rows if run == 1)


def test_an_overlap_reads_late_events_without_counting_them_twice(tmp_path):
    history = tmp_path / "h.sqlite"
    hunt(SAMPLE_DATA, history, tmp_path / "a.json", "--end", BOUNDARY, "--history-overlap-minutes", "720")
    later = hunt(SAMPLE_DATA, history, tmp_path / "b.json", "--start", BOUNDARY, "--history-overlap-minutes", "720")
    assert later["parameters"]["history_overlap_minutes"] == 720
    split = counts_by_key(history)
    with sqlite3.connect(history) as db:
        kept = db.execute("select count(*) from boundary_reports").fetchone()[0]
    hunt(SAMPLE_DATA, tmp_path / "once.sqlite", tmp_path / "c.json")
    once = counts_by_key(tmp_path / "once.sqlite")
    assert kept > 0  # the first run kept its last 12 hours' launches for the next one to check
    assert split == once


def test_a_benign_verdict_suppresses_the_next_run_and_writes_a_draft_rule(tmp_path):
    history, draft = tmp_path / "h.sqlite", tmp_path / "drafts.yaml"
    first = hunt(SAMPLE_DATA, history, tmp_path / "a.json")
    quiet = next(t for t in first["rare_tasks"] if t["SuppressedBy"] is None and not t["Tripwires"])
    loud = next(t for t in first["rare_tasks"] if t["SuppressedBy"] is None and t["Tripwires"])
    for task in (quiet, loud):
        done = cli("verdict", "--history", str(history), "--group", task["GroupKey"], "benign", "--analyst", "ana",
                   "--note", "reviewed with the owner", "--draft-rule", str(draft))
        assert done.returncode == 0, done.stderr
    rules = load_exclusions(draft)
    assert len(rules) == 2 and {r.owner for r in rules} == {"ana"}
    second = hunt(SAMPLE_DATA, history, tmp_path / "b.json")
    by_key = {t["GroupKey"]: t for t in second["rare_tasks"]}
    suppressed = by_key[quiet["GroupKey"]]
    assert suppressed["Verdict"]["Verdict"] == "benign" and suppressed["Verdict"]["Analyst"] == "ana"
    assert suppressed["SuppressedBy"] == f"verdict:{suppressed['Verdict']['Id']}"
    # a tripwire overrides a benign verdict: the group stays a finding, and says what it matched
    kept = by_key[loud["GroupKey"]]
    assert kept["SuppressedBy"] is None and kept["WouldSuppressBy"].startswith("verdict:")
    assert kept["Verdict"]["Verdict"] == "benign"
    # the draft rule suppresses exactly the quiet group when an analyst adopts it
    adopted = hunt(SAMPLE_DATA, tmp_path / "other.sqlite", tmp_path / "c.json", "--exclusions", str(draft))
    ruled = [t["GroupKey"] for t in adopted["rare_tasks"] if (t["SuppressedBy"] or "").startswith("verdict-")]
    assert ruled == [quiet["GroupKey"]]
    # nothing was merged into the shipped rules
    assert "verdict-" not in (REPO / "hunting_lib/config/exclusions.yaml").read_text(encoding="utf-8")


def test_without_history_there_is_no_history_field(tmp_path):
    out = tmp_path / "x.json"
    done = cli("hunt", "--data-dir", str(SAMPLE_DATA), "--output", str(out))
    assert done.returncode == 0, done.stderr
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["history_run"] is None
    assert all("History" not in t and "GroupKey" in t and "TaskDefinitions" in t for t in document["rare_tasks"])


def test_the_history_file_holds_no_secret_from_a_command_line(tmp_path):
    from hunting_lib import HuntParams, run_hunt
    from tests.conftest import task_start, typed

    secret_line = r"cmd.exe /c net use \\fs01\c$ /user:FABRIKAM\svc-backup S3cretPassw0rd! & copy x \\fs01\c$"
    sas = "powershell.exe -c iwr 'https://acct.blob.core.windows.net/c/x.ps1?sv=2022-11-02&sig=AbCdEf0123456789%2B%3D'"
    launches = [task_start("cmd.exe", secret_line, r"C:\Windows\System32\cmd.exe", pid=4100),
                task_start("powershell.exe", sas, r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
                           pid=4200, minutes=5)]
    history = tmp_path / "h.sqlite"
    result = run_hunt({"DeviceProcessEvents": typed("DeviceProcessEvents", launches)},
                      HuntParams(history=str(history), exclusions=None, known_tasks=None))
    assert len(result.rare_tasks) == 2
    assert secret_line in set(result.rare_tasks["ProcessCommandLine"])  # the result itself stays exact
    with sqlite3.connect(history) as db:
        text = "\n".join(str(value) for table, in db.execute("select name from sqlite_master where type='table'")
                         for row in db.execute(f"select * from {table}") for value in row)
    assert "net use" in text and "fs01" in text  # the command lines are there...
    assert "S3cretPassw0rd!" not in text and "AbCdEf0123456789" not in text  # ...without their secrets
