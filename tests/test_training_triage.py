"""The training course's triage track (exercises 14-20, ``hunting_lib.training.triage_track``).

- The right answers are worked out here from the answer key (``scenarios.yaml``'s
  ``registration:`` entries) and the raw CSV files with plain yaml/pandas, not from the checkers'
  own code, and each checker passes them.
- Plausible wrong answers (the look-alike group with the same file name, the run-as account, the
  device's own address, launches instead of devices, a verdict a tripwire overrides, ...) get
  ``[TRY AGAIN]`` with the specific hint.
- The whole track runs on the sample in a temporary folder: practice history, benign verdicts,
  re-run, the hand-off's dry run and the exported detection, whose query an independent engine
  (duckdb-kql) runs over the sample to confirm which groups it would alert on. With the clock
  pinned in 2030 the verdicts still suppress what they should.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from hunting_lib.cli import main
from hunting_lib.errors import DataWarning
from hunting_lib.params import HuntParams
from hunting_lib.sample.generator import generate_sample
from hunting_lib.training import triage_practice as practice
from hunting_lib.training import triage_track as track
from tests.conftest import REPO, SAMPLE_DATA, oracle

KEYS = ["FileName", "ProcessCommandLine", "FolderPath"]


# --------------------------------------------------------------------------------------------
# The right answers, from the answer key and the raw files


@lru_cache(maxsize=2)
def scenarios(folder: Path = SAMPLE_DATA) -> dict[str, dict]:
    document = yaml.safe_load((folder / "scenarios.yaml").read_text(encoding="utf-8"))
    return {s["id"]: s for s in document["scenarios"]}


@lru_cache(maxsize=8)
def raw(table: str, folder: Path = SAMPLE_DATA) -> pd.DataFrame:
    return pd.read_csv(folder / f"{table}.csv.gz", dtype=str, keep_default_na=False)


def triple(s: dict) -> tuple[str, str, str]:
    return (s["FileName"], s["ProcessCommandLine"], s["FolderPath"])


def registered(s: dict) -> list[dict]:
    registration = s.get("registration") or {}
    return registration.get("devices") or ([registration] if registration else [])


def report_rows(table: str, ids: list, folder: Path = SAMPLE_DATA) -> pd.DataFrame:
    frame = raw(table, folder)
    return frame[frame["ReportId"].isin({str(i) for i in ids})]


@pytest.fixture(scope="module")
def rare() -> pd.DataFrame:
    """The rare groups of the default hunt, the table the trainee answers from."""
    return practice.track_groups(SAMPLE_DATA)


def rows_of(rare: pd.DataFrame, groups) -> pd.DataFrame:
    wanted = set(groups)
    return rare[[g in wanted for g in zip(rare.FileName, rare.ProcessCommandLine, rare.FolderPath)]]


def check(number: int, answer, capsys, folder: Path = SAMPLE_DATA) -> str:
    verdict = track.CHECKERS[number](answer, folder)
    printed = capsys.readouterr().out
    assert printed.strip() == str(verdict)
    return printed


def passes(number: int, answer, capsys, folder: Path = SAMPLE_DATA) -> None:
    printed = check(number, answer, capsys, folder)
    assert printed.startswith(f"[PASS] Exercise {number}: "), printed


def fails_with(number: int, answer, hint: str, capsys) -> None:
    printed = check(number, answer, capsys)
    assert printed.startswith(f"[TRY AGAIN] Exercise {number}: "), printed
    assert hint in printed, printed


# --------------------------------------------------------------------------------------------
# Exercise 14: task name and creator


def test_14_task_name_and_creator(capsys):
    registration = scenarios()["mal-encoded-powershell"]["registration"]
    # the registration row in DeviceEvents names the same task and caller
    event = report_rows("DeviceEvents", registration["report_ids"]["DeviceEvents"])
    fields = json.loads(event["AdditionalFields"].iloc[0])
    assert fields["TaskName"] == registration["task_name"]
    assert f"{fields['SubjectDomainName']}\\{fields['SubjectUserName']}" == registration["registered_by"]
    name, account = registration["task_name"], registration["registered_by"]
    passes(14, {"TaskName": name, "RegisteredBy": account}, capsys)
    passes(14, (name.upper(), account.split("\\")[1]), capsys)  # any case, domain optional
    passes(14, pd.Series({"TaskName": name, "RegisteredBy": account, "Principal": "S-1-5-18"}), capsys)  # a row
    fails_with(14, {"TaskName": name, "RegisteredBy": "NT AUTHORITY\\SYSTEM"}, "the account the task runs as", capsys)
    fails_with(14, (name, "S-1-5-18"), "the account the task runs as", capsys)
    fails_with(14, (name, registration["registered_by_process"]), "the program that registered it", capsys)
    fails_with(14, (name.rsplit("\\", 1)[1], account), "full path", capsys)
    fails_with(14, ("powershell.exe", account), "the program the task runs", capsys)
    other = scenarios()["mal-rundll32-user-dll"]["registration"]["task_name"]
    fails_with(14, (other, account), "another finding", capsys)
    fails_with(14, "WinSATRefresh", "Expected {'TaskName'", capsys)


# --------------------------------------------------------------------------------------------
# Exercise 15: remote registration


def test_15_the_remote_registration_and_its_source(rare, capsys):
    (s,) = [s for s in scenarios().values() if any(r.get("remote") for r in registered(s))]
    (registration,) = registered(s)
    logon = report_rows("DeviceLogonEvents", registration["report_ids"]["DeviceLogonEvents"])
    assert set(logon["RemoteIP"]) == {registration["remote_ip"]}  # the network logon it came through
    row = rows_of(rare, [triple(s)])
    assert len(row) == 1
    passes(15, {"finding": row, "ip": registration["remote_ip"]}, capsys)
    passes(15, (int(row["TaskId"].iloc[0]), registration["remote_ip"]), capsys)
    passes(15, {"Group": row["GroupKey"].iloc[0], "RemoteIP": registration["remote_ip"]}, capsys)
    # the device's own address, from its own network events
    network = raw("DeviceNetworkEvents")
    own = network.loc[network["DeviceName"] == registration["device"], "LocalIP"].iloc[0]
    fails_with(15, {"finding": row, "ip": own}, "the device's own address", capsys)
    # the inventory CMD.EXE job: same file name in another case, another group
    inventory = rows_of(rare, [triple(scenarios()["edge-uppercase-cmd"])])
    fails_with(15, {"finding": inventory, "ip": registration["remote_ip"]}, "shares its file name", capsys)
    fails_with(15, {"finding": row, "ip": "185.123.21.100"}, "an address a task talked to", capsys)
    fails_with(15, {"finding": row, "ip": "hel-hr-lt125"}, "the source machine's name", capsys)
    fails_with(15, {"finding": "cmd.exe", "ip": registration["remote_ip"]}, "is a file name", capsys)
    local = rows_of(rare, [triple(scenarios()["mal-rundll32-user-dll"])])
    fails_with(15, {"finding": local, "ip": registration["remote_ip"]}, "registered on the device itself", capsys)


# --------------------------------------------------------------------------------------------
# Exercise 16: deleted after it ran


def test_16_tasks_deleted_after_they_ran(rare, capsys):
    deleted = [s for s in scenarios().values() if any(r.get("deleted_at") and r.get("ran") for r in registered(s))]
    assert len(deleted) >= 2
    events = raw("DeviceEvents")
    for s in deleted:  # each has its ScheduledTaskDeleted row in the raw data
        name = registered(s)[0]["task_name"]
        gone = events[(events["ActionType"] == "ScheduledTaskDeleted") & (events["DeviceName"] == registered(s)[0]["device"])]
        assert name in {json.loads(text).get("TaskName") for text in gone["AdditionalFields"]}, name
    right = rows_of(rare, [triple(s) for s in deleted])
    assert len(right) == len(deleted)
    passes(16, right, capsys)
    passes(16, list(right["GroupKey"]), capsys)
    passes(16, [triple(s) for s in deleted], capsys)
    hidden = rows_of(rare, [triple(scenarios()["mal-hidden-registry-task"])])
    fails_with(16, pd.concat([right, hidden]), "is not deleted", capsys)
    # the inventory job's CMD.EXE instead of atexec's cmd.exe: the false pass of grading by name
    inventory = rows_of(rare, [triple(scenarios()["edge-uppercase-cmd"])])
    one = rows_of(rare, [triple(s) for s in deleted if s["FileName"].lower() != "cmd.exe"])
    assert len(one) == 1 and len(right) == 2
    fails_with(16, pd.concat([one, inventory]), "shares its file name", capsys)
    fails_with(16, one, "1 finding(s) missing", capsys)
    fails_with(16, {"cmd.exe", "regsvr32.exe"}, "is a file name", capsys)


# --------------------------------------------------------------------------------------------
# Exercise 17: prevalence of the binary and of the address


#: The genuine program each masquerade name of the generator imitates (a question parameter).
GENUINE = {"OneDriveUpdate.exe": "OneDriveStandaloneUpdater.exe", "svchost.exe": "svchost.exe",
           "RuntimeBroker.exe": "RuntimeBroker.exe"}


def prevalence_by_hand(folder: Path = SAMPLE_DATA) -> dict[str, int]:
    processes, network = raw("DeviceProcessEvents", folder), raw("DeviceNetworkEvents", folder)
    s = scenarios(folder)["mal-masquerade-appdata"]
    mine = processes[(processes.FileName == s["FileName"]) & (processes.ProcessCommandLine == s["ProcessCommandLine"])
                     & (processes.FolderPath == s["FolderPath"])]
    sha1 = mine["SHA1"].unique()
    assert len(sha1) == 1
    assert practice.genuine_program(folder) == GENUINE[s["FileName"]]
    genuine_rows = processes[processes.FileName.str.lower() == GENUINE[s["FileName"]].lower()]
    common = genuine_rows["SHA1"].value_counts().index[0]
    contacted = report_rows("DeviceNetworkEvents", s["report_ids"]["DeviceNetworkEvents"], folder)["RemoteIP"]
    public = {ip for ip in contacted if not ip.startswith(("10.", "192.168.", "172."))}
    return {"binary": processes.loc[processes.SHA1 == sha1[0], "DeviceName"].nunique(),
            "binary_launches": int((processes.SHA1 == sha1[0]).sum()),
            "genuine": processes.loc[processes.SHA1 == common, "DeviceName"].nunique(),
            "genuine_launches": int((processes.SHA1 == common).sum()),
            "address": network.loc[network.RemoteIP.isin(public), "DeviceName"].nunique(),
            "connections": int(network.RemoteIP.isin(public).sum())}


def test_17_prevalence_of_the_binary_and_the_address(capsys):
    facts = prevalence_by_hand()
    assert facts["genuine"] > facts["binary"] and facts["connections"] > facts["address"]
    right = {k: facts[k] for k in ("binary", "genuine", "address")}
    passes(17, right, capsys)
    passes(17, (str(right["binary"]), float(right["genuine"]), np.int64(right["address"])), capsys)
    fails_with(17, {**right, "address": True}, "should be a whole number", capsys)
    fails_with(17, {**right, "address": facts["connections"]}, "address: that is the count of connections", capsys)
    fails_with(17, {**right, "genuine": facts["genuine_launches"]}, "genuine: that is the count of launches", capsys)
    fails_with(17, {**right, "binary": right["genuine"], "genuine": right["binary"]}, "swapped", capsys)
    fleet = raw("DeviceProcessEvents")["DeviceName"].nunique()
    fails_with(17, {**right, "address": fleet}, "every device in the data", capsys)
    fails_with(17, {"binary": 1, "genuine": 40}, "no 'address' entry", capsys)


# --------------------------------------------------------------------------------------------
# Exercises 18 and 19, and the whole track in a temporary folder


@pytest.fixture(scope="module")
def track_run(tmp_path_factory) -> dict:
    """The track as the notebook walks it: hunt into a practice history, benign verdicts on the
    two groups the question names, re-run, findings.json, hand-off and export dry runs."""
    folder = tmp_path_factory.mktemp("practice")
    history = practice.practice_history(folder)
    first = practice.practice_hunt(history, SAMPLE_DATA)
    named = rows_of(first.rare_tasks, [triple(scenarios()[i]) for i in practice.VERDICT_SCENARIOS])
    assert len(named) == 2
    recorded = [practice.record_practice_verdict(history, key, "benign", "trainee", "owner confirmed")
                for key in named["GroupKey"]]
    rerun = practice.practice_hunt(history, SAMPLE_DATA)
    findings = practice.write_findings(rerun, folder)
    calls, table = practice.handoff_dry_run(findings)
    return {"folder": folder, "history": history, "first": first, "named": named, "recorded": recorded,
            "rerun": rerun, "findings": findings, "calls": calls, "table": table}


def verdict_suppressed(result) -> pd.DataFrame:
    rare = result.rare_tasks
    return rare[rare["SuppressedBy"].fillna("").astype(str).str.startswith("verdict:")]


def test_the_track_runs_on_the_sample_in_a_temporary_folder(track_run, capsys):
    assert not track_run["history"].resolve().is_relative_to(REPO)
    assert track_run["history"].is_file() and track_run["rerun"].history_run["run_id"] == 2
    # verdicts dated by the kit's clock (the tests pin it), expiring 90 days later
    for verdict in track_run["recorded"]:
        assert verdict["At"].startswith("2026-11-15") and verdict["Expires"].startswith("2027-02-13")
    rare = track_run["rerun"].rare_tasks
    suppressed = verdict_suppressed(track_run["rerun"])
    # the Dell scan (no tripwire) is suppressed; the inventory job (a script in ProgramData) keeps its tripwire
    assert set(zip(*[suppressed[k] for k in KEYS])) == {triple(scenarios()["edge-rare-no-activity"])}
    inventory = rows_of(rare, [triple(scenarios()["edge-uppercase-cmd"])]).iloc[0]
    assert inventory["SuppressedBy"] is None and inventory["Verdict"]["Verdict"] == "benign"
    assert len(inventory["Tripwires"]) > 0 and str(inventory["WouldSuppressBy"]).startswith("verdict:")
    # the hand-off's dry run: one bookmark per unsuppressed finding of the re-run, nothing else
    kinds = [call.kind for call in track_run["calls"]]
    assert kinds == ["bookmark"] * int(rare["SuppressedBy"].isna().sum())
    assert len(track_run["table"]) == len(kinds)
    # the same plan as the command: `handoff --findings findings.json --dry-run`
    capsys.readouterr()
    assert main(["handoff", "--findings", str(track_run["findings"]), "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert f"dry run: {len(kinds)} call(s) for {len(kinds)} finding(s)" in printed and "nothing sent" in printed
    listed = practice.practice_verdicts(track_run["history"])
    assert list(listed["Status"]) == ["current", "current"]
    items = practice.watchlist_preview(track_run["findings"], track_run["history"])
    assert set(items.loc[items["Source"].str.startswith("verdict:"), "GroupKey"]) == set(track_run["named"]["GroupKey"])


def test_the_practice_history_refuses_the_kits_folder(tmp_path):
    with pytest.raises(ValueError, match="out of the kit's folder"):
        practice.practice_history(REPO / "sample_data")
    with pytest.raises(ValueError, match="no such folder"):
        practice.practice_history(tmp_path / "missing")


def test_18_the_group_a_benign_verdict_suppresses(track_run, rare, capsys):
    right = verdict_suppressed(track_run["rerun"])
    passes(18, right, capsys)
    passes(18, list(right["GroupKey"]), capsys)
    passes(18, int(right["TaskId"].iloc[0]), capsys)
    fails_with(18, track_run["named"], "whose tripwire fires does not suppress it", capsys)
    already = rare[rare["SuppressedBy"].notna()]
    fails_with(18, pd.concat([right, already.iloc[[0]]]), "suppressed before any verdict", capsys)
    atexec = rows_of(rare, [triple(scenarios()["mal-atexec-whoami"])])
    fails_with(18, pd.concat([right, atexec]), "has no verdict", capsys)
    fails_with(18, rare[rare["FileName"] == "OneDriveUpdate.exe"], "is suppressed", capsys)


def test_19_bookmarks_the_hand_off_plans(track_run, rare, capsys):
    bookmarks = sum(call.kind == "bookmark" for call in track_run["calls"])
    still = verdict_suppressed(track_run["rerun"])
    passes(19, bookmarks, capsys)
    passes(19, {"bookmarks": str(bookmarks)}, capsys)
    before = int(rare["SuppressedBy"].isna().sum())
    assert before == bookmarks + len(still)
    fails_with(19, before, "the count before your verdict", capsys)
    fails_with(19, len(rare), "counts the suppressed groups too", capsys)
    fails_with(19, 3 * bookmarks + 1, "counts every call", capsys)


def test_20_what_the_detection_still_alerts_on(track_run, rare, capsys):
    still = verdict_suppressed(track_run["rerun"])  # confirmed by duckdb-kql in the next test
    passes(20, still, capsys)
    passes(20, list(still["GroupKey"]), capsys)
    by_rule = rare[rare["SuppressedBy"].notna()]
    fails_with(20, by_rule, "stay quiet there too", capsys)
    finding = rows_of(rare, [triple(scenarios()["mal-atexec-whoami"])])
    fails_with(20, finding, "does not read the history file", capsys)
    fails_with(20, "cmd.exe", "is a file name", capsys)


def test_the_detection_alerts_on_the_groups_the_track_says_in_an_independent_engine(track_run, tmp_path, capsys):
    """The Defender detection, run by duckdb-kql over the sample with its lookback covering the
    data: exactly ``detection_groups`` of the re-run, the verdict's group among them."""
    kql_reference = oracle("tests.kql_reference", "duckdb-kql needs Python 3.11+")
    from hunting_lib.detection.queries import render_detection_kql
    from hunting_lib.triage.exclusions import load_exclusions
    from hunting_lib.triage.known_tasks import load_known_tasks

    params = HuntParams()
    since = pd.Timestamp("2026-10-01", tz="UTC")  # before the sample's first event
    text = render_detection_kql(params, load_exclusions(params.exclusions), load_known_tasks(params.known_tasks),
                                target="defender", since=since, alert_since=since)
    rows = kql_reference.run_kql(kql_reference.load_into_duckdb(SAMPLE_DATA, full_schema=True), text)
    alerted = set(zip(rows["FileName"], rows["ProcessCommandLine"], rows["FolderPath"]))
    expected = practice.detection_groups(track_run["rerun"])
    assert alerted == set(zip(*[expected[k] for k in KEYS]))
    suppressed = verdict_suppressed(track_run["rerun"])
    assert set(zip(*[suppressed[k] for k in KEYS])) <= alerted and len(suppressed) == 1
    exported = practice.export_rule_dry_run(params)
    capsys.readouterr()
    output = tmp_path / "rules"
    assert main(["export-rule", "--output", str(output), "--dry-run"]) == 0  # the command renders the same rule
    assert f"rule id {exported.rule_id}" in capsys.readouterr().out and not output.exists()


def test_the_verdicts_behave_the_same_with_the_clock_in_2030(rare, tmp_path, monkeypatch, capsys):
    """A course run in 2030 (the clock pinned there): the shipped rules have expired, the
    practice verdicts are dated by the clock and still in force, and the checkers follow."""
    monkeypatch.setenv("HUNTING_LIB_TODAY", "2030-06-01")
    history = practice.practice_history(tmp_path)
    with pytest.warns(DataWarning, match="expired on"):  # 2030: the shipped rules' expiry has passed
        first = practice.practice_hunt(history, SAMPLE_DATA)
    named = rows_of(first.rare_tasks, [triple(scenarios()[i]) for i in practice.VERDICT_SCENARIOS])
    for key in named["GroupKey"]:
        verdict = practice.record_practice_verdict(history, key, "benign", "trainee", "owner confirmed")
        assert verdict["At"].startswith("2030-06-01") and verdict["Expires"].startswith("2030-08-30")
    with pytest.warns(DataWarning, match="expired on"):
        rerun = practice.practice_hunt(history, SAMPLE_DATA)
        capsys.readouterr()
        passes(19, len(rerun.findings), capsys)
        passes(20, verdict_suppressed(rerun), capsys)
    suppressed = verdict_suppressed(rerun)
    assert set(zip(*[suppressed[k] for k in KEYS])) == {triple(scenarios()["edge-rare-no-activity"])}
    # more findings than in 2026 (the expired rules suppress nothing), one fewer after the verdict
    assert len(first.findings) == len(rerun.findings) + 1 and len(first.findings) > int(rare["SuppressedBy"].isna().sum())
    passes(18, suppressed, capsys)


def test_a_missing_answer_asks_for_one(capsys):
    for number in sorted(track.CHECKERS):
        fails_with(number, None, f"no answer yet: set answer_{number}", capsys)


def test_the_definitions_table_has_one_row_per_registered_task(rare):
    table = practice.definitions_table(rare)
    assert list(table.columns) == ["TaskId", "GroupKey", "FileName", "ProcessCommandLine",
                                   *practice.DEFINITION_COLUMNS]
    assert len(table) == rare["TaskDefinitions"].map(len).sum() > 0
    # the per-device copies of the temp clean-up task: one row per device's registration
    cleanup = scenarios()["fp-maintenance-temp-cleanup"]
    rows = table[(table["FileName"] == cleanup["FileName"]) & (table["ProcessCommandLine"] == cleanup["ProcessCommandLine"])]
    assert set(rows["DeviceName"]) == set(cleanup["devices"])


@pytest.fixture(scope="module")
def other_seed(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("seed2")
    generate_sample(folder, scale=0.3, seed=2)
    return folder


def test_the_checkers_follow_data_generated_with_another_seed(other_seed, capsys):
    """Another seed plants other names (a fake svchost.exe instead of OneDriveUpdate.exe), other
    addresses and task names; the answers worked out from its own key and files pass."""
    key = scenarios(other_seed)
    registration = key["mal-encoded-powershell"]["registration"]
    passes(14, (registration["task_name"], registration["registered_by"]), capsys, other_seed)
    (remote,) = [s for s in key.values() if any(r.get("remote") for r in registered(s))]
    passes(15, (triple(remote), registered(remote)[0]["remote_ip"]), capsys, other_seed)
    deleted = [triple(s) for s in key.values() if any(r.get("deleted_at") and r.get("ran") for r in registered(s))]
    passes(16, deleted, capsys, other_seed)
    facts = prevalence_by_hand(other_seed)
    passes(17, {k: facts[k] for k in ("binary", "genuine", "address")}, capsys, other_seed)
    printed = check(17, {"binary": facts["binary"], "genuine": facts["genuine_launches"], "address": facts["address"]},
                    capsys, other_seed)
    assert "genuine: that is the count of launches" in printed
    passes(18, [triple(key["edge-rare-no-activity"])], capsys, other_seed)
