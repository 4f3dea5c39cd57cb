"""Pivots on a scanned hunt (``engine.slices``): the same answers as on the loaded folder, read
from the findings' devices only.

The sample data is written as parquet, hunted twice (through the scan, which keeps no tables, and
from the whole folder loaded by the general loader), and every pivot the notebook uses must give
the same frame on both.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from dataclasses import replace

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from hunting_lib.engine.correlate import match_mode_differences
from hunting_lib.engine.local import LocalTables
from hunting_lib.engine.slices import FindingSlices
from hunting_lib.errors import DataWarning
from hunting_lib.hunt import hunt_columns, run_hunt
from hunting_lib.params import HuntParams
from hunting_lib.pivots import pivot
from hunting_lib.report.output import write_json
from hunting_lib.schema import PROCESS_TABLE, TABLES
from tests.conftest import REPO, SAMPLE_DATA, oracle

PARAMS = HuntParams()  # the notebook's defaults


def _quiet(call):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return call()


@pytest.fixture(scope="module")
def parquet_sample(tmp_path_factory):
    """The committed sample, every column, as one parquet file per table."""
    oracle("polars")
    from hunting_lib.engine.loader import load_data_folder

    folder = tmp_path_factory.mktemp("parquet_sample")
    whole = _quiet(lambda: load_data_folder(SAMPLE_DATA))
    for table in TABLES:
        whole[table].to_parquet(folder / f"{table}.parquet", index=False)
    return folder


@pytest.fixture(scope="module")
def whole(parquet_sample):
    """The same folder loaded whole: the hunt every pivot used to run on."""
    from hunting_lib.engine.loader import load_data_folder

    return _quiet(lambda: load_data_folder(parquet_sample, columns=hunt_columns()))


@pytest.fixture(scope="module")
def scanned(parquet_sample):
    return _quiet(lambda: run_hunt(LocalTables(parquet_sample), PARAMS))


@pytest.fixture(scope="module")
def full(whole):
    return _quiet(lambda: run_hunt(whole, PARAMS))


def test_the_scanned_hunt_keeps_no_tables(scanned, full):
    assert scanned.reader["reader"] == "scan" and scanned.data is None
    assert full.data is not None
    assert len(scanned.findings) >= 5
    assert_frame_equal(scanned.rare_tasks, full.rare_tasks)


def test_every_pivot_equals_the_loaded_folders(scanned, full):
    for task_id in full.rare_tasks["TaskId"]:
        assert_frame_equal(pivot.task_timeline(scanned, task_id), pivot.task_timeline(full, task_id))
        assert_frame_equal(pivot.network_indicators(scanned, task_id), pivot.network_indicators(full, task_id))
    for task_id in full.findings["TaskId"].head(5):
        assert_frame_equal(pivot.process_tree(scanned, task_id), pivot.process_tree(full, task_id))
    everything = pivot.network_indicators(full)
    assert everything["FleetDevices"].gt(0).any()  # prevalence was computed, not left at 0
    assert_frame_equal(pivot.network_indicators(scanned), everything)
    assert_frame_equal(pivot.process_rows(scanned), pivot.process_rows(full))


def test_device_network_equals_the_loaded_folders(scanned, full):
    timeline = pivot.task_timeline(full, int(full.findings["TaskId"].iloc[0]))
    device = timeline["DeviceName"].iloc[0]
    start, end = timeline["Timestamp"].min() - pd.Timedelta(hours=1), timeline["Timestamp"].max()
    window = pivot.device_network(full, device, start, end)
    assert len(window) and set(window["DeviceName"]) == {device}
    assert_frame_equal(pivot.device_network(scanned, device, start, end), window)
    assert_frame_equal(pivot.device_network(scanned, device), pivot.device_network(full, device))


def test_the_slices_read_only_the_rare_groups_devices(parquet_sample, whole, full):
    result = _quiet(lambda: run_hunt(LocalTables(parquet_sample), PARAMS))  # a fresh result: nothing read yet
    assert result.slices is None
    for task_id in result.findings["TaskId"].head(5):
        pivot.task_timeline(result, task_id)
        pivot.network_indicators(result, task_id)
    slices = result.slices
    # The devices the rare groups were launched on, from the full hunt (not from the slices).
    launched = full.task_starts.merge(full.rare_tasks[["FileName", "ProcessCommandLine", "FolderPath"]])
    assert slices.devices_read == set(launched["DeviceName"])
    assert slices.devices_read == {d for devices in full.rare_tasks["Devices"] for d in devices}
    fleet = whole[PROCESS_TABLE]["DeviceName"].nunique()
    assert len(slices.devices_read) < fleet / 2
    # the tree's keys of every process event of those devices, and nothing else
    processes = whole[PROCESS_TABLE]
    on_devices = processes["DeviceName"].isin(slices.devices_read)
    assert slices.rows_read[f"tree_keys:{PROCESS_TABLE}"] == on_devices.sum()
    # every column only of the events of the trees' processes (a rare group's launch is one)
    tree = pivot.process_rows(full)
    assert 0 < tree["Table"].eq(PROCESS_TABLE).sum() <= slices.rows_read[f"process_trees:{PROCESS_TABLE}"]
    assert slices.rows_read[f"process_trees:{PROCESS_TABLE}"] < on_devices.sum() / 5
    # other tables: at most the devices' rows (only their trees' initiating process ids)
    for table in TABLES:
        if table == PROCESS_TABLE:
            continue
        on_devices = whole[table]["DeviceName"].isin(slices.devices_read).sum()
        assert slices.rows_read.get(f"process_trees:{table}", 0) <= on_devices
    network = whole["DeviceNetworkEvents"]
    assert slices.rows_read["process_trees:DeviceNetworkEvents"] < network["DeviceName"].isin(
        slices.devices_read).sum() / 10
    # the fleet's contacts of the indicators: read once, a small part of the network table
    assert [k for k in slices.rows_read if k.startswith("indicator_contacts")] == [
        "indicator_contacts:DeviceNetworkEvents"]
    assert 0 < slices.rows_read["indicator_contacts:DeviceNetworkEvents"] < len(network) / 5
    before = dict(slices.rows_read)
    pivot.network_indicators(result)
    assert slices.rows_read == before  # the whole hunt's indicators reuse the rows already read


def test_compare_match_modes_equals_two_full_hunts(scanned, full, whole):
    other = _quiet(lambda: run_hunt(whole, replace(PARAMS, match="process")))
    expected = match_mode_differences(full.activity, other.activity)
    assert len(expected) and set(expected["FoundBy"]) == {"seed only", "process only"}
    assert_frame_equal(pivot.compare_match_modes(scanned), expected)
    assert_frame_equal(pivot.compare_match_modes(full), expected)
    assert_frame_equal(pivot.compare_match_modes(other), expected)  # from a --match process hunt


def test_tables_in_parts_and_csv_give_the_same_slices(tmp_path, parquet_sample, scanned):
    """A table kept as a folder of parquet parts reads to the same rows; a csv table is read whole
    by the general loader and filtered in pandas, to the same rows."""
    import pyarrow.parquet as pq

    parts, csv = tmp_path / "parts", tmp_path / "csv"
    files_parts, files_csv = {}, {}
    for table in TABLES:
        rows = pq.read_table(parquet_sample / f"{table}.parquet")
        (parts / table / "d=1").mkdir(parents=True)
        half = rows.num_rows // 2
        pq.write_table(rows.slice(0, half), parts / table / "d=1" / "part-0.parquet")
        pq.write_table(rows.slice(half), parts / table / "part-1.parquet")
        files_parts[table] = parts / table
        csv.mkdir(exist_ok=True)
        rows.to_pandas().to_csv(csv / f"{table}.csv", index=False)
        files_csv[table] = csv / f"{table}.csv"
    expected = pivot.finding_slices(scanned).tables(scanned.task_starts, scanned.rare_tasks)
    for files in (files_parts, files_csv):
        got = _quiet(lambda: FindingSlices(files).tables(scanned.task_starts, scanned.rare_tasks))
        for table in TABLES:
            left = got[table].sort_values("ReportId", kind="stable").reset_index(drop=True)
            right = expected[table].sort_values("ReportId", kind="stable").reset_index(drop=True)
            assert_frame_equal(left, right, obj=f"{table} from {files[table].name}")


def test_the_notebooks_hunt_equals_the_hunt_command(tmp_path, parquet_sample, scanned):
    """The notebook's hunt (``run_hunt(LocalTables(folder))``) writes the JSON ``hunt`` writes."""
    cli_json, notebook_json = tmp_path / "cli.json", tmp_path / "notebook.json"
    done = subprocess.run([sys.executable, "-m", "hunting_lib", "hunt", "--data-dir", str(parquet_sample),
                           "--indicators", "--output", str(cli_json)],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr
    write_json(scanned, notebook_json)
    cli, notebook = json.loads(cli_json.read_text()), json.loads(notebook_json.read_text())
    assert cli["rare_tasks"] and cli["rare_tasks"] == notebook["rare_tasks"]
    assert cli["activity"] == notebook["activity"]
    assert cli["parameters"]["reader"] == notebook["parameters"]["reader"] == "scan"
