"""The command line as the contract describes it: outputs, exit codes, one-line errors."""

import json
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from hunting_lib.cli import main
from tests.conftest import REPO, SAMPLE_DATA, activity, oracle, task_start

EVIL = ("evil.exe", "evil.exe -run", r"C:\Users\Public\evil.exe")


@pytest.fixture
def folder(tmp_path):
    pd.DataFrame([task_start(*EVIL, pid=1), task_start("ok.exe", "ok.exe", r"C:\ok.exe", pid=2),
                  task_start("ok.exe", "ok.exe", r"C:\ok.exe", pid=3),
                  task_start("ok.exe", "ok.exe", r"C:\ok.exe", pid=4)]).to_csv(
        tmp_path / "DeviceProcessEvents.csv", index=False)
    pd.DataFrame([activity(*EVIL, pid=1, RemoteIP="203.0.113.9", RemotePort=443)]).to_csv(
        tmp_path / "DeviceNetworkEvents.csv", index=False)
    return tmp_path


def run(*args):
    return subprocess.run([sys.executable, "-m", "hunting_lib", *map(str, args)], capture_output=True,
                          text=True, cwd=REPO, timeout=300)


def test_hunt_writes_the_contract_json(folder, tmp_path):
    out = tmp_path / "out" / "findings.json"
    done = run("hunt", "--data-dir", folder, "--output", out)
    assert done.returncode == 0, done.stderr
    document = json.loads(out.read_text())
    # the contract's keys; more are allowed (the audit record, "redacted": false, ...)
    assert {"parameters", "rare_tasks", "activity", "audit"} <= set(document) and document["redacted"] is False
    assert document["parameters"]["threshold"] == 3
    (task,) = document["rare_tasks"]
    assert (task["FileName"], task["ProcessCommandLine"], task["FolderPath"], task["Count"]) == (*EVIL, 1)
    (row,) = document["activity"]
    assert row["InitiatingProcessId"] == 1 and row["RemoteIPs"] == ["203.0.113.9"]
    assert row["InitiatingProcessCreationTime"] == "2026-11-02T08:00:00.0000000Z"
    assert row["Actions"] == ["ConnectionSuccess"] and row["FileNames"] == []
    assert "evil.exe" in done.stdout and "wrote" in done.stdout
    assert isinstance(task["Score"], float) and task["Score"] > 0
    assert "user_writable_path" in task["Reasons"] and task["SuppressedBy"] is None
    rules = [r["Rule"] for r in document["parameters"]["exclusion_rules"]]
    assert "backup-veeam-agent" in rules and document["parameters"]["exclusions"].endswith("exclusions.yaml")


def test_exclusions_none_and_process_match(folder, tmp_path):
    out = tmp_path / "findings.json"
    done = run("hunt", "--data-dir", folder, "--output", out, "--exclusions", "none", "--match", "process")
    assert done.returncode == 0, done.stderr
    document = json.loads(out.read_text())
    assert document["parameters"]["exclusions"] is None and document["parameters"]["exclusion_rules"] == []
    assert document["parameters"]["match"] == "process"
    assert [row["InitiatingProcessId"] for row in document["activity"]] == [1]


def test_malformed_exclusions_file_is_a_one_line_error(folder, tmp_path):
    bad = tmp_path / "ex.yaml"
    bad.write_text("rules:\n  - id: x\n    description: d\n")
    done = run("hunt", "--data-dir", folder, "--exclusions", bad)
    assert done.returncode == 2 and "rule x: field reason: is required" in done.stderr
    assert "Traceback" not in done.stderr


def test_hunt_writes_activity_csv_with_json_lists(folder, tmp_path):
    out = tmp_path / "activity.csv"
    assert run("hunt", "--data-dir", folder, "--output", out).returncode == 0
    table = pd.read_csv(out)
    assert json.loads(table.loc[0, "RemoteIPs"]) == ["203.0.113.9"]


def test_hunt_without_output_prints_a_table(folder, capsys):
    assert main(["hunt", "--data-dir", str(folder), "--threshold", "4"]) == 0
    printed = capsys.readouterr().out
    assert "2 rare scheduled task group(s)" in printed
    assert printed.index("evil.exe") < printed.index("ok.exe")  # fewest runs first


@pytest.mark.parametrize("args", [
    ["hunt"],
    ["hunt", "--data-dir", "nowhere"],
    ["hunt", "--data-dir", "{folder}", "--threshold", "0"],
    ["hunt", "--data-dir", "{folder}", "--threshold", "-2"],
    ["hunt", "--data-dir", "{folder}", "--threshold", "three"],
    ["hunt", "--data-dir", "{folder}", "--start", "last tuesday"],
    ["hunt", "--data-dir", "{folder}", "--output", "x.xlsx"],
    ["frobnicate"],
])
def test_bad_input_exits_2_with_one_line(folder, args):
    done = run(*[a.format(folder=folder) for a in args])
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if not line.startswith("warning:")]
    assert len(errors) == 1 and errors[0].startswith(("error:", "python -m hunting_lib")), done.stderr


def test_terminal_output_escapes_control_characters(tmp_path):
    hostile = "evil.exe \x1b[2J\x1b]0;pwned\x07 \u202egnp.exe"
    pd.DataFrame([task_start("evil.exe", hostile, r"C:\evil.exe", pid=1)]).to_csv(
        tmp_path / "DeviceProcessEvents.csv", index=False)
    done = run("hunt", "--data-dir", tmp_path)
    assert done.returncode == 0
    assert "\x1b" not in done.stdout and "\u202e" not in done.stdout
    assert "\\x1b[2J" in done.stdout and "\\u202e" in done.stdout


GROUP = ("FileName", "ProcessCommandLine", "FolderPath")


def answer_key(folder) -> list[dict]:
    return yaml.safe_load((folder / "scenarios.yaml").read_text(encoding="utf-8"))["scenarios"]


def planted_attacks(folder) -> dict[tuple, dict]:
    """The answer key's malicious scenarios that the published query reports, by group."""
    return {tuple(s[k] for k in GROUP): s for s in answer_key(folder)
            if s["kind"] == "malicious" and s["seed_reports_it"]}


def check_attacks_found(document: dict, folder) -> None:
    """The planted attacks of ``folder``'s answer key rank first, critical and unsuppressed, and
    the remote IPs that each task's own program contacted (the answer key's network events, read
    from the data here, less those of its child processes) are in its activity summary."""
    attacks = planted_attacks(folder)
    assert attacks, "the answer key plants no attack the seed reports"
    ranked = [tuple(t[k] for k in GROUP) for t in document["rare_tasks"]]
    assert set(ranked[:len(attacks)]) == set(attacks), ranked
    for task in document["rare_tasks"][:len(attacks)]:
        assert task["Critical"] is True and task["SuppressedBy"] is None, task["FileName"]
    if (folder / "DeviceNetworkEvents").is_dir():  # daily parts
        network = pd.concat([pd.read_parquet(p) for p in sorted((folder / "DeviceNetworkEvents").rglob("*.parquet"))])
    elif (folder / "DeviceNetworkEvents.parquet").exists():
        network = pd.read_parquet(folder / "DeviceNetworkEvents.parquet")
    else:
        network = pd.read_csv(folder / "DeviceNetworkEvents.csv.gz")
    checked = 0
    for group, scenario in attacks.items():
        planted = network[network["ReportId"].isin(scenario["report_ids"].get("DeviceNetworkEvents", []))]
        own = planted[(planted["InitiatingProcessFileName"].str.lower() == group[0].lower())
                      & (planted["InitiatingProcessCommandLine"].str.lower() == group[1].lower())]
        planted_ips = set(own["RemoteIP"]) - {""}
        reported = {ip for row in document["activity"]
                    if (row["InitiatingProcessFileName"].lower(), row["InitiatingProcessCommandLine"].lower())
                    == (group[0].lower(), group[1].lower()) for ip in row["RemoteIPs"]}
        assert planted_ips <= reported, (scenario["id"], planted_ips - reported)
        checked += len(planted_ips)
    assert checked >= 2  # the planted callbacks are there to be found


@pytest.mark.skipif(not SAMPLE_DATA.joinpath("scenarios.yaml").exists(), reason="no sample data yet")
def test_hunt_on_the_sample_data(tmp_path):
    out = tmp_path / "findings.json"
    done = run("hunt", "--data-dir", SAMPLE_DATA, "--output", out)
    assert done.returncode == 0, done.stderr
    document = json.loads(out.read_text())
    check_attacks_found(document, SAMPLE_DATA)
    key = {tuple(s[k] for k in GROUP): s for s in answer_key(SAMPLE_DATA) if "FileName" in s}
    for task in document["rare_tasks"]:
        group = tuple(task[k] for k in GROUP)
        if group not in key:  # background tasks of the fleet: ordinary, known to the catalogue
            assert (task["SuppressedBy"] or "").startswith("known:"), group
    # the hourly beacon ran 158 times on one device: rare only with --max-devices
    beacon = next(s for s in answer_key(SAMPLE_DATA) if s["id"] == "mal-hourly-beacon")
    assert tuple(beacon[k] for k in GROUP) not in {tuple(t[k] for k in GROUP) for t in document["rare_tasks"]}


@pytest.mark.skipif(not SAMPLE_DATA.joinpath("scenarios.yaml").exists(), reason="no sample data yet")
def test_published_hunt_on_the_sample_data_is_the_seed_result(tmp_path):
    """``hunt --published`` prints what the published KQL, run unmodified by duckdb-kql, returns."""
    oracle("duckdb_kql", "duckdb-kql needs Python 3.11+")
    from hunting_lib.engine.query import seed_kql
    from tests.kql_reference import load_into_duckdb, rare_groups_query, run_kql

    out = tmp_path / "published.json"
    done = run("hunt", "--data-dir", SAMPLE_DATA, "--published", "--output", out)
    assert done.returncode == 0, done.stderr
    document = json.loads(out.read_text())
    con = load_into_duckdb(SAMPLE_DATA)
    groups = run_kql(con, rare_groups_query(seed_kql()))
    assert sorted((t["FileName"], t["ProcessCommandLine"], t["FolderPath"], t["Count"]) for t in document["rare_tasks"]) \
        == sorted((r.FileName, r.ProcessCommandLine, r.FolderPath, int(r.count_)) for r in groups.itertuples())
    activity = run_kql(con, seed_kql())

    def sets(values) -> frozenset:  # the oracle's make_set lists lose "" (docs/kql_semantics.md)
        return frozenset(json.loads(values) if isinstance(values, str) else list(values)) - {""}

    want = sorted((r.InitiatingProcessFileName, int(r.InitiatingProcessId), r.DeviceName,
                   sets(r.Actions), sets(r.FileNames), sets(r.RemoteIPs)) for r in activity.itertuples())
    got = sorted((r["InitiatingProcessFileName"], r["InitiatingProcessId"], r["DeviceName"],
                  frozenset(r["Actions"]), frozenset(r["FileNames"]), frozenset(r["RemoteIPs"]))
                 for r in document["activity"])
    assert got == want and len(want) >= 5


def test_sample_command_writes_a_data_folder_the_hunt_reads(tmp_path):
    import pyarrow.parquet as pq

    out = tmp_path / "data"
    done = run("sample", "--output", out, "--scale", "0.1", "--seed", "5", "--format", "parquet")
    assert done.returncode == 0, done.stderr
    written = yaml.safe_load((out / "scenarios.yaml").read_text(encoding="utf-8"))
    assert written["seed"] == 5 and written["scale"] == 0.1
    # every table the answer key counts is there, with that many rows
    assert {table: pq.ParquetFile(out / f"{table}.parquet").metadata.num_rows for table in written["rows"]} \
        == written["rows"]
    findings = tmp_path / "findings.json"
    assert run("hunt", "--data-dir", out, "--output", findings).returncode == 0
    check_attacks_found(json.loads(findings.read_text()), out)
    assert run("sample", "--output", out, "--scale", "0").returncode == 2


def test_kql_command_prints_one_query(tmp_path):
    done = run("kql", "--threshold", "4", "--start", "2026-11-01", "--end", "2026-11-08", "--dialect", "sentinel")
    assert done.returncode == 0, done.stderr
    assert "count_ < 4" in done.stdout and "TimeGenerated between (HuntStart .. HuntEnd)" in done.stdout
    open_ended = run("kql", "--start", "2026-11-01", "--dialect", "sentinel")
    assert "| where TimeGenerated >= HuntStart" in open_ended.stdout
    rare = run("kql", "--part", "rare_tasks")
    assert "SuppressedBy" in rare.stdout and "backup-veeam-agent" in rare.stdout


def test_report_checks_its_input_first_and_honours_the_date_order(tmp_path):
    rows = pd.DataFrame([task_start(*EVIL, pid=1), task_start(*EVIL, pid=2)])
    rows = rows.drop(columns="Timestamp").assign(**{"Timestamp [UTC]": ["03/04/2026, 10:00:00", "05/06/2026, 11:00:00"]})
    rows.to_csv(tmp_path / "DeviceProcessEvents.csv", index=False)
    out = tmp_path / "r.html"
    done = run("report", "--data-dir", tmp_path, "--output", out)
    assert done.returncode == 2 and "--date-order" in done.stderr and not out.exists()
    done = run("report", "--data-dir", tmp_path, "--output", out, "--date-order", "dmy")
    assert done.returncode == 0, done.stderr
    findings = json.loads((tmp_path / "findings.json").read_text())
    assert findings["rare_tasks"][0]["FirstSeen"].startswith("2026-04-03T10:00:00")


def test_published_is_the_published_query_exactly(folder, tmp_path):
    out = tmp_path / "published.json"
    done = run("hunt", "--data-dir", folder, "--published", "--output", out)
    assert done.returncode == 0, done.stderr
    parameters = json.loads(out.read_text())["parameters"]
    assert (parameters["scope"], parameters["exclusions"], parameters["known_tasks"], parameters["match"]) == (
        "published", None, None, "seed")
    assert all(task["SuppressedBy"] is None for task in json.loads(out.read_text())["rare_tasks"])


@pytest.mark.parametrize("extra", [["--exclusions", "none"], ["--scope", "extended"], ["--known-tasks", "none"],
                                   ["--match", "process"]])
def test_published_refuses_options_that_would_change_it(folder, extra):
    done = run("hunt", "--data-dir", folder, "--published", *extra)
    assert done.returncode == 2 and "--published" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_exclusions_none_also_turns_off_the_catalogue(folder, tmp_path):
    out = tmp_path / "none.json"
    assert run("hunt", "--data-dir", folder, "--exclusions", "none", "--output", out).returncode == 0
    parameters = json.loads(out.read_text())["parameters"]
    assert parameters["exclusions"] is None and parameters["known_tasks"] is None
    assert parameters["scope"] == "extended"  # the default scope stays


def test_the_kql_command_renders_each_scope(tmp_path):
    published = run("kql", "--published")
    extended = run("kql")
    assert published.returncode == extended.returncode == 0
    assert "materialize(\nDeviceProcessEvents" in published.stdout and "taskeng.exe" not in published.stdout
    assert '"taskeng.exe"' in extended.stdout and "FlaggedLaunches" in extended.stdout
    bad = run("kql", "--scope", "wide")
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


def test_sample_command_writes_daily_parts_the_hunt_reads(tmp_path):
    import pyarrow.parquet as pq

    out = tmp_path / "daily"
    done = run("sample", "--output", out, "--scale", "0.1", "--seed", "5", "--format", "parquet",
               "--partition", "day")
    assert done.returncode == 0, done.stderr
    written = yaml.safe_load((out / "scenarios.yaml").read_text(encoding="utf-8"))
    assert not (out / "DeviceProcessEvents.parquet").exists()
    days = sorted(p.name for p in (out / "DeviceProcessEvents").iterdir())
    assert len(days) > 1 and all(day.startswith("d=") for day in days)
    rows = sum(pq.ParquetFile(p).metadata.num_rows for p in (out / "DeviceProcessEvents").rglob("*.parquet"))
    assert rows == written["rows"]["DeviceProcessEvents"]
    findings = tmp_path / "findings.json"
    assert run("hunt", "--data-dir", out, "--output", findings).returncode == 0
    assert json.loads(findings.read_text())["parameters"]["reader"] == "scan"
    check_attacks_found(json.loads(findings.read_text()), out)
