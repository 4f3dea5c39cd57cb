"""The audit record (report/audit.py) in findings.json: config hashes, the KQL, the window, the
latest event, sources by name and never a local path."""

from __future__ import annotations

import hashlib
import json
import shutil
from importlib import resources

import pandas as pd
import pytest

from hunting_lib import HuntParams, __version__, run_hunt
from hunting_lib.cli import main
from hunting_lib.report.audit import audit_html, audit_record
from hunting_lib.report.output import hunt_document
from tests.conftest import REPO, SAMPLE_DATA, T0, activity, task_start, typed

NOTEPAD = (r"C:\Users\Public\upd.exe", r"C:\Users\Public\upd.exe -beacon")


def _frames() -> dict[str, pd.DataFrame]:
    """One rare task (two runs) with network activity, plus rows the hunt does not match: the
    earliest event of the data is a logon an hour before, the latest a file event hours after."""
    program, command = NOTEPAD
    launches = [task_start("upd.exe", command, program, minutes=10, pid=4100),
                task_start("upd.exe", command, program, minutes=70, pid=4200)]
    launches += [task_start("common.exe", "common.exe /daily", r"C:\Program Files\C\common.exe", device=f"pc-{i:02}",
                            minutes=30 + i, pid=5000 + i) for i in range(5)]
    network = [activity("upd.exe", command, program, pid=4100, minutes=12, created_minutes=10,
                        RemoteIP="203.0.113.9", RemotePort=443),
               activity("upd.exe", command, program, pid=4200, minutes=95, created_minutes=70,
                        RemoteIP="203.0.113.9", RemotePort=443)]
    files = [activity("other.exe", "other.exe", r"C:\o\other.exe", pid=99, action="FileCreated", minutes=300,
                      FileName="x.txt", FolderPath=r"C:\o\x.txt")]
    logons = [activity("lsass.exe", "lsass.exe", r"C:\Windows\System32\lsass.exe", pid=600, action="LogonSuccess",
                       minutes=-60, AccountName="adm", LogonType="Network")]
    return {"DeviceProcessEvents": typed("DeviceProcessEvents", launches),
            "DeviceNetworkEvents": typed("DeviceNetworkEvents", network),
            "DeviceFileEvents": typed("DeviceFileEvents", files),
            "DeviceLogonEvents": typed("DeviceLogonEvents", logons)}


def _iso(minutes: float) -> str:
    """T0 + minutes as Defender writes times: 7 fractional digits and Z."""
    return (T0 + pd.Timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def test_window_and_latest_event_on_hand_built_tables():
    result = run_hunt(_frames(), HuntParams(exclusions=None, known_tasks=None))
    assert set(result.rare_tasks["FileName"]) == {"upd.exe"}  # the setting the record describes
    record = audit_record(result)
    # the data's own range as the hunt saw it: the first launch in scope (+10) to the last activity
    # row (+95); the logon at -60 and the unrelated file event at +300 are outside what it looks at,
    # and a reader that never loads them (the parquet scan, a remote hunt) must give the same window
    assert record["window"] == {"start": _iso(10), "end": _iso(95), "from": "data"}
    # the newest event the hunt read to decide: the rare task's second network event at +95 min
    # (the launches in scope end at +70, the unrelated file event at +300 is not read by it)
    assert record["latest_event"] == _iso(95)
    given = run_hunt(_frames(), HuntParams(start=T0, end=T0 + pd.Timedelta(hours=3), exclusions=None))
    assert audit_record(given)["window"] == {"start": _iso(0), "end": _iso(180), "from": "parameters"}
    half = run_hunt(_frames(), HuntParams(start=T0, exclusions=None))
    assert audit_record(half)["window"] == {"start": _iso(0), "end": _iso(95), "from": "parameters: start"}
    assert audit_record(half)["latest_event"] == _iso(95)


def test_kit_version_and_the_shipped_files_hashes():
    record = audit_record(run_hunt(_frames(), HuntParams()))
    assert record["kit_version"] == __version__
    hashes = record["config_hashes"]
    for role in ("exclusions", "known_tasks", "scoring", "tripwires", "scope", "paths", "redaction"):
        data = resources.files("hunting_lib").joinpath(f"config/{role}.yaml").read_bytes()
        assert hashes[role] == {"file": f"{role}.yaml", "shipped": True, "sha256": hashlib.sha256(data).hexdigest()}
    if resources.files("hunting_lib").joinpath("config/task_definitions.yaml").is_file():
        assert hashes["task_definitions"]["file"] == "task_definitions.yaml"
    off = audit_record(run_hunt(_frames(), HuntParams(exclusions=None, known_tasks=None)))["config_hashes"]
    assert off["exclusions"] is None and off["known_tasks"] is None


def test_the_hash_follows_the_exclusions_file_in_force(tmp_path):
    rules = tmp_path / "team_rules.yaml"
    shutil.copy(REPO / "hunting_lib" / "config" / "exclusions.yaml", rules)
    first = audit_record(run_hunt(_frames(), HuntParams(exclusions=str(rules))))["config_hashes"]["exclusions"]
    assert first == {"file": "team_rules.yaml", "shipped": False,
                     "sha256": hashlib.sha256(rules.read_bytes()).hexdigest()}
    rules.write_text(rules.read_text(encoding="utf-8") + "\n# reviewed again\n", encoding="utf-8")
    second = audit_record(run_hunt(_frames(), HuntParams(exclusions=str(rules))))["config_hashes"]["exclusions"]
    assert second["sha256"] == hashlib.sha256(rules.read_bytes()).hexdigest() != first["sha256"]


@pytest.mark.parametrize("options", [[], ["--threshold", "5", "--max-devices", "2"], ["--published"],
                                     ["--start", "2026-11-02T00:00:00Z", "--end", "2026-11-03T12:00:00Z",
                                      "--scope", "published"]])
def test_the_kql_is_what_the_kql_command_prints(options, capsys):
    assert main(["kql", *options]) == 0
    printed = capsys.readouterr().out
    args = dict(zip(options[::2], options[1::2])) if "--published" not in options else {}
    params = HuntParams.published() if "--published" in options else HuntParams(
        threshold=int(args.get("--threshold", 3)), max_devices=int(args["--max-devices"]) if "--max-devices" in args else None,
        start=args.get("--start"), end=args.get("--end"), scope=args.get("--scope", "extended"))
    record = audit_record(run_hunt(_frames(), params))
    assert record["kql"] + "\n" == printed
    assert record["kql_dialect"] == "defender"


def test_process_match_records_no_kql():
    record = audit_record(run_hunt(_frames(), HuntParams(match="process")))
    assert record["kql"] is None and "process" in record["kql_note"]


def test_findings_json_has_the_audit_and_no_local_path(tmp_path):
    data = tmp_path / "hunt-input"
    shutil.copytree(SAMPLE_DATA, data)
    rules = tmp_path / "my_exclusions.yaml"
    shutil.copy(REPO / "hunting_lib" / "config" / "exclusions.yaml", rules)
    output = tmp_path / "out" / "findings.json"
    assert main(["hunt", "--data-dir", str(data), "--exclusions", str(rules), "--output", str(output)]) == 0
    text = output.read_text(encoding="utf-8")
    for local in {str(tmp_path), str(REPO), str(REPO.parent), str(tmp_path).replace("/", "\\\\")}:
        assert local not in text
    document = json.loads(text)
    assert document["redacted"] is False and document["audit"]["redacted"] is False
    audit = document["audit"]
    assert audit["sources"]["data_folder"] == "hunt-input"
    assert audit["sources"]["tables"]["DeviceProcessEvents"] == "DeviceProcessEvents.csv.gz"
    assert audit["config_hashes"]["exclusions"]["file"] == "my_exclusions.yaml"
    assert document["parameters"]["exclusions"] == "my_exclusions.yaml"
    first, last = audit["window"]["start"], audit["window"]["end"]
    assert first < audit["latest_event"] <= last and audit["window"]["from"] == "data"


def test_sources_of_a_folder_of_parts_are_names(tmp_path):
    frames = _frames()
    data = tmp_path / "parts"
    for table, frame in frames.items():
        (data / table / "d=01").mkdir(parents=True)
        frame.to_parquet(data / table / "d=01" / "part-0.parquet")
    result = run_hunt(str(data), HuntParams())
    names = audit_record(result)["sources"]
    assert names["tables"]["DeviceProcessEvents"] == "DeviceProcessEvents/"
    assert names["data_folder"] == "parts"
    assert str(tmp_path) not in json.dumps(hunt_document(result), default=str)


def test_the_audit_section_escapes_and_says_whether_secrets_are_kept(tmp_path):
    rules = tmp_path / "<img src=x onerror=alert(1)>.yaml"
    shutil.copy(REPO / "hunting_lib" / "config" / "exclusions.yaml", rules)
    result = run_hunt(_frames(), HuntParams(exclusions=str(rules)))
    html = audit_html(result, keep_secrets=False)
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;.yaml" in html
    assert 'data-audit="secrets">redacted' in html and str(tmp_path) not in html
    assert audit_record(result)["kql"].splitlines()[1].replace("<", "&lt;").replace(">", "&gt;") in html
    assert 'data-audit="secrets">kept' in audit_html(result, keep_secrets=True)


def test_a_remote_hunt_records_its_dialect_and_provider_not_a_path(capsys):
    from types import SimpleNamespace

    from hunting_lib.result import HuntResult

    params = HuntParams(start="2026-11-01T00:00:00Z", end="2026-11-08T00:00:00Z")
    empty = pd.DataFrame({"Timestamp": pd.Series([], dtype="datetime64[ns, UTC]")})
    starts = pd.DataFrame({"Timestamp": pd.to_datetime(["2026-11-02T10:00:00Z", "2026-11-06T09:30:00.1234567Z"], format="ISO8601")})
    remote = SimpleNamespace(provider=SimpleNamespace(environment_name="MSSentinel"))
    result = HuntResult(params, pd.DataFrame(), pd.DataFrame(), starts, empty, pd.DataFrame(),
                        {"provider": "QueryProvider", "dialect": "sentinel"}, remote=remote)
    record = audit_record(result)
    assert main(["kql", "--dialect", "sentinel", "--start", "2026-11-01T00:00:00Z", "--end", "2026-11-08T00:00:00Z"]) == 0
    assert record["kql"] + "\n" == capsys.readouterr().out and record["kql_dialect"] == "sentinel"
    assert record["sources"] == {"remote": True, "provider": "QueryProvider", "dialect": "sentinel",
                                 "environment": "MSSentinel"}
    assert record["window"] == {"start": "2026-11-01T00:00:00.0000000Z", "end": "2026-11-08T00:00:00.0000000Z",
                                "from": "parameters"}
    assert record["latest_event"] == "2026-11-06T09:30:00.1234567Z"


def test_a_readers_reason_names_files_without_the_local_folder(tmp_path):
    from hunting_lib.result import HuntResult

    data = tmp_path / "export"
    part = data / "DeviceProcessEvents" / "part-1.parquet"
    starts = pd.DataFrame({"Timestamp": pd.to_datetime(["2026-11-02T10:00:00Z"])})
    result = HuntResult(HuntParams(), pd.DataFrame(), pd.DataFrame(), starts, starts.iloc[:0], pd.DataFrame(),
                        {"DeviceProcessEvents": str(data / "DeviceProcessEvents")},
                        reader={"reader": "full", "fallback": f"{part}: its columns differ from the other parts'"})
    document = json.dumps(hunt_document(result), default=str)
    assert str(tmp_path) not in document
    assert json.loads(document)["parameters"]["fallback"] == \
        "export/DeviceProcessEvents/part-1.parquet: its columns differ from the other parts'"
