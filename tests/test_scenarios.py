"""The triage done-criteria, on the committed sample data and on data generated with other seeds.

- every planted malicious task ranks above every benign rare task;
- every false-positive scenario the published query reports is suppressed, with its rule named;
- the one-device beacon is caught by the prevalence option;
- ``--match process`` finds the activity of every planted task, and nothing foreign.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import yaml

from hunting_lib.hunt import run_hunt
from hunting_lib.params import HuntParams
from hunting_lib.sample.generator import generate_sample
from tests.conftest import SAMPLE_DATA

KEYS = ("FileName", "ProcessCommandLine", "FolderPath")


@pytest.fixture(scope="module", params=["committed", 1, 2, 3])
def data(request, tmp_path_factory) -> tuple[Path, list[dict]]:
    if request.param == "committed":
        folder = SAMPLE_DATA
    else:
        folder = tmp_path_factory.mktemp(f"seed{request.param}")
        generate_sample(folder, scale=0.3, seed=request.param)
    scenarios = yaml.safe_load((folder / "scenarios.yaml").read_text(encoding="utf-8"))["scenarios"]
    return folder, scenarios


def hunt(folder: Path, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_hunt(folder, HuntParams(**options))


def position(result, scenario) -> int | None:
    keys = list(zip(*(result.rare_tasks[k] for k in KEYS)))
    wanted = tuple(scenario[k] for k in KEYS)
    return keys.index(wanted) if wanted in keys else None


@pytest.mark.parametrize("max_devices", [None, 1])
def test_every_malicious_task_ranks_above_every_benign_rare_task(data, max_devices):
    folder, scenarios = data
    result = hunt(folder, max_devices=max_devices)
    malicious = [s for s in scenarios if s["kind"] == "malicious"]
    ranks = {s["id"]: position(result, s) for s in malicious}
    expected_present = {s["id"] for s in malicious if s["seed_reports_it"] or max_devices}
    assert {i for i, r in ranks.items() if r is not None} == expected_present
    worst_malicious = max(r for r in ranks.values() if r is not None)
    benign = set(range(len(result.rare_tasks))) - set(ranks.values())
    assert benign, "the data should also hold benign rare tasks"
    assert worst_malicious < min(benign), result.rare_tasks.loc[:worst_malicious, ["FileName", "Score"]]
    assert result.rare_tasks.loc[list(ranks[i] for i in expected_present), "SuppressedBy"].isna().all()


def test_every_reported_false_positive_is_suppressed_with_its_rule(data):
    folder, scenarios = data
    result = hunt(folder)
    for scenario in (s for s in scenarios if s["kind"] == "false_positive"):
        where = position(result, scenario)
        if not scenario["seed_reports_it"]:
            assert where is None, scenario["id"]  # System32 tools: the hunt never sees them
            continue
        rule = result.rare_tasks.loc[where, "SuppressedBy"]
        if "wevtutil" in scenario["ProcessCommandLine"]:
            assert rule is None, "the log-clearing rule ships disabled (T1070.001)"
        else:
            assert rule and not rule.startswith("known:"), scenario["id"]
            assert result.exclusions.set_index("Rule").loc[rule, "Tasks"] > 0


def test_the_log_clearing_rule_suppresses_its_scenario_once_enabled(data, tmp_path):
    folder, scenarios = data
    text = Path("hunting_lib/config/exclusions.yaml").read_text(encoding="utf-8")
    enabled = text.replace("    enabled: false\n", "    enabled: true\n")
    (tmp_path / "ex.yaml").write_text(enabled, encoding="utf-8")
    result = hunt(folder, exclusions=str(tmp_path / "ex.yaml"))
    (scenario,) = [s for s in scenarios if s["kind"] == "false_positive" and s["seed_reports_it"]
                   and "wevtutil" in s["ProcessCommandLine"]]
    assert result.rare_tasks.loc[position(result, scenario), "SuppressedBy"] == "eventlog-cleanup"


def test_the_one_device_beacon_is_caught_by_prevalence(data):
    folder, scenarios = data
    beacons = [s for s in scenarios if s["kind"] == "malicious" and not s["seed_reports_it"]]
    assert len(beacons) == 1
    (beacon,) = beacons
    assert beacon["runs"] >= 3
    assert position(hunt(folder), beacon) is None
    result = hunt(folder, max_devices=1)
    row = result.rare_tasks.loc[position(result, beacon)]
    assert row["RareBy"] == "devices" and row["DeviceCount"] == 1 and row["Count"] == beacon["runs"]


def test_process_match_finds_all_activity_of_every_planted_task(data):
    folder, scenarios = data
    result = hunt(folder, match="process", max_devices=1)
    rows = result.activity_rows
    for scenario in (s for s in scenarios if s["kind"] == "malicious"):
        task_id = result.rare_tasks.loc[position(result, scenario), "TaskId"]
        expected = {rid for ids in scenario["report_ids"].values() for rid in ids}
        expected -= set(result.task_starts["ReportId"])  # the task's own start row is the rarity step's, not activity
        found = set(rows.loc[rows["TaskId"] == task_id, "ReportId"])
        assert expected, scenario["id"]
        assert expected <= found, (scenario["id"], sorted(expected - found)[:5])
        assert found <= expected, (scenario["id"], sorted(found - expected)[:5])
