"""Rendered KQL: the parameters and the exclusions mean in KQL what they mean locally.

duckdb-kql, an engine independent of the kit, executes the rendered queries.
"""

from __future__ import annotations

import pandas as pd
import pytest

from hunting_lib.engine.query import seed_kql
from hunting_lib.errors import BadInputError
from hunting_lib.hunt import run_hunt
from hunting_lib.params import HuntParams
from hunting_lib.remote.kql import dialect, kql_datetime, kql_string, render_hunt_kql, render_rare_tasks_kql
from hunting_lib.triage.exclusions import load_exclusions, parse_exclusions
from hunting_lib.triage.known_tasks import load_known_tasks
from tests.conftest import SCHEDULE, T0, activity, oracle, task_start, typed

kql_reference = oracle("tests.kql_reference", "duckdb-kql needs Python 3.11+")
connect_frames = kql_reference.connect_frames

duckdb_kql = oracle("duckdb_kql", "duckdb-kql needs Python 3.11+")

VEEAM = ("Veeam.Agent.exe", "Veeam.Agent.exe /job 1", r"C:\Program Files\Veeam\Endpoint\Veeam.Agent.exe")
REPORT = ("powershell.exe",
          r"powershell.exe -NoProfile -ExecutionPolicy Bypass -File C:\Scripts\Reports\report.ps1",
          r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe")
EVIL = ("powershell.exe", r"powershell.exe -ep bypass -File C:\Users\Public\report.ps1",
        r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe")


def fleet() -> dict[str, pd.DataFrame]:
    processes = [
        task_start(*VEEAM, pid=1, account="system", minutes=0),
        task_start(*VEEAM, pid=2, account="system", minutes=60, device="pc-02"),
        task_start(*REPORT, pid=3, account="svc-reporting", minutes=120),
        task_start(*REPORT, pid=4, account="bob", minutes=180, device="pc-03"),  # not the service account
        task_start(*EVIL, pid=5, account="system", minutes=240),
        task_start("odd.exe", "odd.exe", r"C:\Tools\odd.exe", pid=6, minutes=300,
                   parent_command_line=SCHEDULE.lower()),
    ] + [task_start("hourly.exe", "hourly.exe", r"C:\Users\x\AppData\hourly.exe", pid=10 + i, minutes=60 * i)
         for i in range(6)]
    network = [activity(*EVIL, pid=5, created_minutes=240, minutes=241, RemoteIP="185.100.87.3")]
    return {"DeviceProcessEvents": typed("DeviceProcessEvents", processes),
            "DeviceNetworkEvents": typed("DeviceNetworkEvents", network)}


def connect(frames: dict[str, pd.DataFrame]):
    return connect_frames(frames)


PARAMS = [
    dict(),
    dict(threshold=5),
    dict(max_devices=1),
    dict(start=(T0 + pd.Timedelta(minutes=30)).isoformat(), end=(T0 + pd.Timedelta(hours=4)).isoformat()),
    dict(parent_command_lines=(SCHEDULE, SCHEDULE.lower())),
]


@pytest.mark.parametrize("scope", ["published", "extended"])
@pytest.mark.parametrize("options", PARAMS)
def test_rare_tasks_and_suppression_match_the_local_engine(options, scope):
    params = HuntParams(**options, scope=scope)
    rules, catalogue = load_exclusions(params.exclusions), load_known_tasks(params.known_tasks)
    local = run_hunt(fleet(), params)
    remote = duckdb_kql.kql(connect(fleet()), render_rare_tasks_kql(params, rules, catalogue=catalogue)).df()
    # KQL says what would suppress a group; the kit then lets tripwires keep some of them.
    expected = {(r.FileName, r.ProcessCommandLine, r.FolderPath, r.Count, r.RareBy,
                 r.WouldSuppressBy or r.SuppressedBy or "") for r in local.rare_tasks.itertuples()}
    got = {(r.FileName, r.ProcessCommandLine, r.FolderPath, int(r.count_), r.RareBy, r.SuppressedBy)
           for r in remote.itertuples()}
    assert got == expected
    assert any(suppressed for *_, suppressed in got)


def test_the_shipped_rules_suppress_in_kql_what_they_suppress_locally():
    rules = load_exclusions()
    remote = duckdb_kql.kql(connect(fleet()), render_rare_tasks_kql(HuntParams(threshold=10), rules)).df()
    by_command = dict(zip(remote["ProcessCommandLine"], remote["SuppressedBy"]))
    assert by_command[VEEAM[1]] == "backup-veeam-agent"
    # The published reporting scenario, whoever runs it: the rule matches both (a tripwire, which
    # needs the activity, keeps the second one a finding in the hunt).
    assert by_command[REPORT[1]] == by_command[EVIL[1]] == "reporting-powershell-script"
    assert by_command["odd.exe"] == ""


@pytest.mark.parametrize("scope", ["published", "extended"])
@pytest.mark.parametrize("options", PARAMS)
def test_whole_hunt_query_matches_the_local_activity(options, scope):
    params = HuntParams(**options, scope=scope)
    local = run_hunt(fleet(), params)
    remote = duckdb_kql.kql(connect(fleet()), render_hunt_kql(params)).df()
    assert sorted(remote["InitiatingProcessId"].astype(int)) == sorted(local.activity["InitiatingProcessId"])


def test_published_parameters_render_the_published_query():
    rendered = render_hunt_kql(HuntParams.published())
    body = rendered.split("\n", 1)[1]  # after the one comment line
    assert body == seed_kql().rstrip("\n")


def test_dialects_and_renamed_tables():
    params = HuntParams.published(start="2026-11-01", end="2026-11-08")
    sentinel = render_hunt_kql(params, target="sentinel")
    assert "| where TimeGenerated between (HuntStart .. HuntEnd)" in sentinel
    adx = render_hunt_kql(params, target=dialect("adx", {"DeviceProcessEvents": "MdeProcesses"}))
    assert "materialize(\nMdeProcesses\n" in adx and "union MdeProcesses,DeviceNetworkEvents" in adx
    with pytest.raises(BadInputError, match="not a plain KQL identifier"):
        dialect("adx", {"DeviceProcessEvents": "x | take 1"})


@pytest.mark.parametrize("value", ['a"b', "a\\", 'x" | where 1==1 //', "line\nbreak", "tab\there", '"""', "@\"x\"",
                                   "ünïcödé ✓", "\\\"", "'single'"])
def test_string_literals_round_trip_through_kql(value):
    con = duckdb_kql.connect()
    result = duckdb_kql.kql(con, f"print v = {kql_string(value)}").df()
    assert result.loc[0, "v"] == value


def test_exclusion_values_cannot_break_out_of_their_literal():
    hostile = 'x") or true or ("'
    rule_text = f"""
rules:
  - id: hostile
    description: d
    reason: r
    owner: o
    expires: 2099-01-01
    when:
      ProcessCommandLine: {{equals: '{hostile}'}}
"""
    rules = parse_exclusions(rule_text)
    remote = duckdb_kql.kql(connect(fleet()), render_rare_tasks_kql(HuntParams(threshold=10), rules)).df()
    assert (remote["SuppressedBy"] == "").all()


def test_datetime_literal():
    assert kql_datetime(pd.Timestamp("2026-11-02T03:04:05.1234567Z")) == "datetime(2026-11-02T03:04:05.1234567Z)"
