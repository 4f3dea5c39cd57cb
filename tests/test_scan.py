"""The parquet scan (``hunting_lib.engine.scan``) reads fewer rows and changes nothing: every hunt on
the rows it keeps equals the hunt on the whole folder, and whenever it cannot promise that, it
steps aside for the general loader."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

from hunting_lib.engine.fast_load import load_for_hunt
from hunting_lib.engine.loader import load_data_folder
from hunting_lib.engine.scan import ScanRequest, scan_parquet_folder
from hunting_lib.errors import BadInputError, DataWarning
from hunting_lib.hunt import hunt_columns, run_hunt
from hunting_lib.params import HuntParams
from hunting_lib.sample.generator import generate_sample
from tests.conftest import REPO, SCHEDULE, T0, oracle

oracle("polars")
EXAMPLES = 150 if os.environ.get("CI") == "true" else 40


def both_ways(folder: Path, params: HuntParams):
    """The hunt on the whole folder and on the rows the scan keeps, and the scanned folder."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        full = run_hunt(load_data_folder(folder, columns=hunt_columns()), params, indicators=False)
        scanned = load_for_hunt(folder, params, hunt_columns())
        fast = run_hunt(scanned, params, indicators=False)
    return full, fast, scanned


def assert_same_hunt(full, fast) -> None:
    for part in ("rare_tasks", "activity", "activity_rows", "exclusions"):
        assert_frame_equal(getattr(full, part), getattr(fast, part), check_index_type=False, obj=part)
    assert_frame_equal(full.task_starts[full.task_starts.index.isin(fast.task_starts.index)],
                       fast.task_starts.loc[fast.task_starts.index.isin(full.task_starts.index)])


@pytest.fixture(scope="module")
def parquet_sample(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("sample-parquet")
    generate_sample(folder, scale=1.0, fmt="parquet", seed=11)
    return folder


@pytest.mark.parametrize("params", [
    HuntParams(exclusions=None),
    HuntParams(threshold=2, exclusions=None),
    HuntParams(threshold=6, max_devices=1),
    HuntParams(start="2026-11-03", end="2026-11-05T12:00:00Z", exclusions=None),
    HuntParams(),  # the shipped exclusions
], ids=["seed", "threshold-2", "threshold-6-one-device", "window", "exclusions"])
def test_the_scan_gives_the_full_loads_answer_on_the_sample(parquet_sample, params):
    full, fast, scanned = both_ways(parquet_sample, params)
    assert scanned.complete is False  # the scan did run
    assert len(full.rare_tasks) > 0 and len(full.activity) > 0
    assert_same_hunt(full, fast)
    everything = load_data_folder(parquet_sample, columns=hunt_columns())
    read = sum(len(t) for t in scanned.tables.values())
    assert read < 0.02 * sum(len(t) for t in everything.tables.values())
    assert fast.data is None  # a pruned folder is not offered to pivots as the data


# Values that test the scan's shortcuts: case variants, non-ASCII strings whose lower case is
# longer or shorter in bytes, empty strings and nulls (which the loader reads as "").
NAMES = ["evil.exe", "EVIL.EXE", "cmd.exe", "İNDİR.EXE", "indi̇r.exe", "ẞ.exe", "ß.exe", "", None]
COMMANDS = ["evil.exe -run", "EVIL.EXE -RUN", "x", "İ", "i̇", "", None]
PATHS = [r"C:\Users\Public\evil.exe", r"C:\USERS\PUBLIC\EVIL.EXE", r"C:\Windows\System32\cmd.exe",
         "C:\\ẞ\\e.exe", "c:\\ß\\e.exe", "", None]

start_row = st.fixed_dictionaries({
    "DeviceName": st.sampled_from(["pc1", "pc2", None]),
    "FileName": st.sampled_from(NAMES),
    "ProcessCommandLine": st.sampled_from(COMMANDS),
    "FolderPath": st.sampled_from(PATHS),
    "ProcessId": st.integers(1, 4),
    "InitiatingProcessFileName": st.sampled_from(["svchost.exe", "SVCHOST.EXE", None]),
    "InitiatingProcessCommandLine": st.sampled_from([SCHEDULE, SCHEDULE.upper(), None]),
    "InitiatingProcessFolderPath": st.just(r"C:\Windows\System32\svchost.exe"),
    "AccountName": st.sampled_from(["system", None]),
    "minute": st.integers(0, 50),
})
activity_row = st.fixed_dictionaries({
    "DeviceName": st.sampled_from(["pc1", "pc2"]),
    "InitiatingProcessFileName": st.sampled_from(NAMES),
    "InitiatingProcessCommandLine": st.sampled_from(COMMANDS),
    "InitiatingProcessFolderPath": st.sampled_from(PATHS),
    "InitiatingProcessId": st.integers(1, 4),
    "ActionType": st.sampled_from(["ConnectionSuccess", "FileCreated"]),
    "RemoteIP": st.sampled_from(["", "203.0.113.1", None]),
    "minute": st.integers(0, 50),
})


def write_parquet(path: Path, rows: list[dict]) -> None:
    frame = pd.DataFrame(rows)
    frame["Timestamp"] = T0 + pd.to_timedelta(frame.pop("minute"), unit="min")
    frame["InitiatingProcessCreationTime"] = T0 - pd.Timedelta(hours=1)
    for column in ("ProcessId", "InitiatingProcessId"):
        if column in frame:
            frame[column] = frame[column].astype("Int64")
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                        HealthCheck.function_scoped_fixture])
@given(starts=st.lists(start_row, min_size=1, max_size=10), events=st.lists(activity_row, max_size=10),
       threshold=st.integers(1, 4), max_devices=st.sampled_from([None, 1]),
       start_minute=st.sampled_from([None, 10]))
def test_random_tables_give_the_full_loads_answer(tmp_path_factory, starts, events, threshold, max_devices,
                                                  start_minute):
    folder = tmp_path_factory.mktemp("random")
    # Task starts whose program also ran as an initiating process: a row can be both.
    write_parquet(folder / "DeviceProcessEvents.parquet", starts + [
        {**e, "FileName": "child.exe", "ProcessCommandLine": "child", "FolderPath": "C:\\child.exe",
         "ProcessId": 9, "AccountName": "bob"} for e in events[:3]])
    if events:
        write_parquet(folder / "DeviceNetworkEvents.parquet", events)
    start = None if start_minute is None else T0 + pd.Timedelta(minutes=start_minute)
    params = HuntParams(threshold=threshold, max_devices=max_devices, start=start, exclusions=None)
    full, fast, scanned = both_ways(folder, params)
    assert scanned.complete is False
    assert_same_hunt(full, fast)


def test_the_general_loader_takes_over_when_the_scan_cannot_promise_the_same(tmp_path, parquet_sample):
    # Not parquet: the general loader reads the csv.
    assert load_for_hunt(REPO / "sample_data", HuntParams(), hunt_columns()).complete is True
    # --match process walks process trees: everything is read.
    assert load_for_hunt(parquet_sample, HuntParams(match="process"), hunt_columns()).complete is True
    # Ids stored as text: the loader must see (and count) every value it coerces.
    rows = pq.read_table(parquet_sample / "DeviceProcessEvents.parquet").to_pandas()
    rows["ProcessId"] = rows["ProcessId"].astype(str)
    rows.loc[5, "ProcessId"] = "five"
    rows.to_parquet(tmp_path / "DeviceProcessEvents.parquet")
    with pytest.warns(DataWarning, match=r"column ProcessId: 1 value\(s\).*row 6"):
        folder = load_for_hunt(tmp_path, HuntParams(), hunt_columns())
    assert folder.complete is True
    # A missing required column: the loader's one-line error, not the scan's.
    rows.drop(columns=["FolderPath"]).to_parquet(tmp_path / "DeviceProcessEvents.parquet")
    with pytest.raises(BadInputError, match="column FolderPath: required column is missing"):
        load_for_hunt(tmp_path, HuntParams(), hunt_columns())


def test_the_scan_reports_file_row_numbers(parquet_sample):
    """The rows it keeps carry their row numbers in the file, as the loader's index does."""
    scanned = load_for_hunt(parquet_sample, HuntParams(exclusions=None), hunt_columns())
    everything = load_data_folder(parquet_sample, columns=hunt_columns())
    kept = scanned["DeviceNetworkEvents"]
    assert len(kept) > 0
    assert_frame_equal(kept, everything["DeviceNetworkEvents"].loc[kept.index, kept.columns])


def test_a_request_mismatch_is_never_used(parquet_sample):
    """An early scan started for other parameters is ignored, not trusted."""
    from hunting_lib.engine.early_scan import start_scan

    early = start_scan(parquet_sample, ScanRequest(1, None, (SCHEDULE,)))
    params = HuntParams(exclusions=None)  # threshold 3, not 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        folder = load_for_hunt(parquet_sample, params, hunt_columns(), early=early)
        direct = scan_parquet_folder(parquet_sample, ScanRequest.from_params(params))
    assert len(folder["DeviceProcessEvents"]) == direct.rows["DeviceProcessEvents"].height


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hunting_lib", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=300)


def test_the_hunt_command_gives_the_same_json_from_parquet_and_csv(tmp_path, parquet_sample):
    csv_folder = tmp_path / "csv"
    csv_folder.mkdir()
    for path in parquet_sample.glob("*.parquet"):
        pq.read_table(path).to_pandas().to_csv(csv_folder / f"{path.stem}.csv", index=False)
    documents, readers = [], []
    for folder in (parquet_sample, csv_folder):
        out = tmp_path / f"{folder.name}.json"
        done = run_cli("hunt", "--data-dir", str(folder), "--exclusions", "none", "--output", str(out))
        assert done.returncode == 0, done.stderr
        document = json.loads(out.read_text())
        document["parameters"].pop("sources", None)
        document["audit"].pop("sources", None)  # file names: .parquet here, .csv.gz there
        readers.append((document["parameters"].pop("reader"), document["parameters"].pop("fallback", None)))
        documents.append(document)
    assert documents[0] == documents[1]
    # The fast path ran where it applies, and the full loader says why it read the csv folder.
    assert readers[0] == ("scan", None)
    assert readers[1][0] == "full" and "parquet" in readers[1][1]
    assert all("Indicators" not in task for task in documents[0]["rare_tasks"])


def test_the_hunt_command_keeps_msticpy_out_unless_indicators_are_asked_for(tmp_path, parquet_sample):
    probe = ("import runpy, sys; sys.argv = ['hunting_lib'] + sys.argv[1:]\n"
             "try:\n    runpy.run_module('hunting_lib', run_name='__main__')\n"
             "except SystemExit:\n    pass\n"
             "print('msticpy loaded' if 'msticpy' in sys.modules else 'msticpy not loaded', file=sys.stderr)")
    common = ["hunt", "--data-dir", str(parquet_sample), "--exclusions", "none", "--output"]
    plain = subprocess.run([sys.executable, "-c", probe, *common, str(tmp_path / "a.json")],
                           capture_output=True, text=True, cwd=REPO, timeout=300)
    assert "msticpy not loaded" in plain.stderr, plain.stderr
    asked = subprocess.run([sys.executable, "-c", probe, *common, str(tmp_path / "b.json"), "--indicators"],
                           capture_output=True, text=True, cwd=REPO, timeout=300)
    assert "msticpy loaded" in asked.stderr, asked.stderr
    tasks = json.loads((tmp_path / "b.json").read_text())["rare_tasks"]
    assert any(task["Indicators"] for task in tasks)


def test_a_failing_scan_is_reported_not_swallowed(parquet_sample, monkeypatch):
    """A bug in the scan falls back to the full loader with a warning and the reason recorded."""
    from hunting_lib.engine import fast_load
    from hunting_lib.errors import DataWarning

    def broken(*_args, **_kwargs):
        raise KeyError("a column the scan expected")

    monkeypatch.setattr(fast_load, "scan_parquet_folder", broken)
    with pytest.warns(DataWarning, match="the scan failed: KeyError"):
        folder = load_for_hunt(parquet_sample, HuntParams(), hunt_columns())
    assert folder.reader["reader"] == "full"
    assert "KeyError" in folder.reader["fallback"]
    assert folder.complete


def test_a_failing_early_scan_child_is_reported(parquet_sample, monkeypatch, tmp_path):
    """The child process's failure reaches the parent with its reason."""
    from hunting_lib.engine import early_scan
    from hunting_lib.errors import DataWarning

    params = HuntParams()
    request = ScanRequest.from_params(params)
    early = early_scan.start_scan(tmp_path / "no such folder", request)
    try:
        with pytest.raises(early_scan.NotApplicable):
            early.result(tmp_path / "no such folder", request)
    finally:
        early.close()
    early = early_scan.start_scan(parquet_sample, request)
    monkeypatch.setattr(early_scan, "_read", lambda _out: (_ for _ in ()).throw(OSError("truncated IPC file")))
    with pytest.warns(DataWarning, match="truncated IPC file"):
        folder = load_for_hunt(parquet_sample, params, hunt_columns(), early=early)
    assert folder.reader["reader"] == "full"
