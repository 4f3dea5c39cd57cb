"""Tables kept as folders (contract: "A data folder"): parts, hive partitions, and the time
folders of Defender's streaming export and Log Analytics' data export. Each layout is built from
the sample data and must give the hunt the single-file folder gives, through the general loader
and, for parquet, through the scan."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pandas.testing import assert_frame_equal

from hunting_lib.engine.envelopes import rows_of
from hunting_lib.engine.files import find_table_files
from hunting_lib.engine.loader import load_data_folder, load_table
from hunting_lib.errors import BadInputError, DataWarning
from hunting_lib.hunt import run_hunt
from hunting_lib.params import HuntParams
from hunting_lib.sample.generator import generate_sample
from hunting_lib.schema import PROCESS_TABLE, TABLES
from tests.conftest import REPO, oracle

PARAMS = HuntParams(exclusions=None)


@pytest.fixture(scope="module")
def parquet_sample(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("sample-parquet")
    generate_sample(folder, scale=1.0, fmt="parquet", seed=11)
    return folder


@pytest.fixture(scope="module")
def text_sample() -> dict[str, pd.DataFrame]:
    """The committed sample's tables as the export's text (no typing)."""
    return {t: pd.read_csv(REPO / "sample_data" / f"{t}.csv.gz", dtype=str, keep_default_na=False) for t in TABLES}


def hunt(folder: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return run_hunt(folder, PARAMS, indicators=False)


def assert_same_findings(expected, actual) -> None:
    assert len(expected.rare_tasks) > 0 and len(expected.activity) > 0
    for part in ("rare_tasks", "activity"):
        assert_frame_equal(getattr(expected, part).reset_index(drop=True),
                           getattr(actual, part).reset_index(drop=True), check_index_type=False, obj=part)


def day_of(frame: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(frame["Timestamp"], format="ISO8601", utc=True).dt.strftime("%Y-%m-%d")


def split_parquet(source: Path, target: Path, layout) -> None:
    """Every table of a parquet folder as a folder of parts: ``layout(table, day)`` names each
    day's part, relative to the table's folder."""
    for table in TABLES:
        rows = pq.read_table(source / f"{table}.parquet")
        days = rows.column("Timestamp").to_pandas().dt.strftime("%Y-%m-%d")
        for day in sorted(days.unique()):
            part = target / table / layout(table, day)
            part.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(rows.filter(pa.array((days == day).to_numpy())), part)


# --------------------------------------------------------------------------------------------
# parquet: the scan reads the parts as one table


@pytest.fixture(scope="module")
def single_file_hunt(parquet_sample):
    return hunt(parquet_sample)


@pytest.mark.parametrize("layout", [
    lambda table, day: f"part-{day}.parquet",
    lambda table, day: f"y={day[:4]}/m={day[5:7]}/d={day[8:]}/part-0000.parquet",
    # hive keys named like real columns must not replace them
    lambda table, day: f"DeviceName=forged/FileName=forged.exe/Timestamp={day}/part.parquet",
], ids=["parts", "hive", "hive-keys-named-like-columns"])
def test_parquet_folders_are_scanned_as_one_table(tmp_path, parquet_sample, single_file_hunt, layout):
    oracle("polars")
    split_parquet(parquet_sample, tmp_path, layout)
    result = hunt(tmp_path)
    assert result.reader["reader"] == "scan"
    assert_same_findings(single_file_hunt, result)
    assert "forged" not in set(result.activity["DeviceName"])
    # the general loader reads the same folder to the same rows
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        folder = load_data_folder(tmp_path)
        whole = load_data_folder(parquet_sample)
    for table in TABLES:
        assert_frame_equal(folder[table], whole[table], obj=table)


def test_the_hunt_command_scans_a_parquet_folder(tmp_path, parquet_sample):
    oracle("polars")
    split_parquet(parquet_sample, tmp_path / "data", lambda table, day: f"d={day}/part-0000.parquet")
    documents = []
    for folder in (parquet_sample, tmp_path / "data"):
        out = tmp_path / f"{folder.name}.json"
        done = subprocess.run([sys.executable, "-m", "hunting_lib", "hunt", "--data-dir", str(folder), "--published",
                               "--output", str(out)], capture_output=True, text=True, cwd=REPO, timeout=300)
        assert done.returncode == 0, done.stderr
        documents.append(json.loads(out.read_text()))
    assert documents[1]["parameters"]["reader"] == "scan"
    assert documents[0]["rare_tasks"] and documents[0]["rare_tasks"] == documents[1]["rare_tasks"]
    assert documents[0]["activity"] == documents[1]["activity"]


def test_parts_that_differ_in_columns_are_read_by_the_general_loader(tmp_path, parquet_sample, single_file_hunt):
    split_parquet(parquet_sample, tmp_path, lambda table, day: f"part-{day}.parquet")
    first = sorted((tmp_path / "DeviceNetworkEvents").glob("*.parquet"))[0]
    pq.write_table(pq.read_table(first).drop(["RemoteUrl"]), first)  # an older export lacked a column
    result = hunt(tmp_path)
    assert result.reader["reader"] == "full" and "differ" in result.reader["fallback"]
    assert_same_findings(single_file_hunt, result)


# --------------------------------------------------------------------------------------------
# text parts through the general loader


@pytest.fixture(scope="module")
def csv_hunt():
    return hunt(REPO / "sample_data")


def write_lines(path: Path, records) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def as_objects(frame: pd.DataFrame) -> list[dict]:
    """Rows as a JSON export writes them: a dynamic column is a nested object, not text."""
    records = frame.to_dict("records")
    for record in records:
        if record.get("AdditionalFields", "").startswith("{"):
            record["AdditionalFields"] = json.loads(record["AdditionalFields"])
    return records


def test_csv_and_json_lines_parts(tmp_path, text_sample, csv_hunt):
    for table, frame in text_sample.items():
        for day, rows in frame.groupby(day_of(frame)):
            rows.to_csv(_mkdir(tmp_path / "csv" / table / f"d={day}") / "part-0000.csv", index=False)
            write_lines(tmp_path / "jsonl" / table / f"part-{day}.jsonl", as_objects(rows))
    for layout in ("csv", "jsonl"):
        result = hunt(tmp_path / layout)
        assert result.reader["reader"] == "full"
        assert_same_findings(csv_hunt, result)


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_defender_streaming_export_is_unwrapped(tmp_path, text_sample, csv_hunt):
    """``insights-logs-advancedhunting-<table>`` containers, hourly PT1H.json blobs of envelopes."""
    for table, frame in text_sample.items():
        container = tmp_path / f"insights-logs-advancedhunting-{table.lower()}" / "tenantId=0000-tenant"
        hours = pd.to_datetime(frame["Timestamp"], format="ISO8601", utc=True).dt.strftime("y=%Y/m=%m/d=%d/h=%H")
        for hour, rows in frame.groupby(hours):
            write_lines(container / hour / "m=00" / "PT1H.json", [
                {"time": row["Timestamp"], "tenantId": "0000-tenant", "operationName": "Publish",
                 "category": f"AdvancedHunting-{table}", "properties": row} for row in as_objects(rows)])
    assert set(find_table_files(tmp_path)) == set(TABLES)
    result = hunt(tmp_path)
    assert_same_findings(csv_hunt, result)
    # the envelope's fields are not columns; nested objects became JSON text
    events = load_table(tmp_path / "insights-logs-advancedhunting-devicelogonevents", "DeviceLogonEvents")
    assert not {"time", "tenantId", "category", "properties", "operationName"} & set(events.columns)
    nested = events["AdditionalFields"][events["AdditionalFields"] != ""]
    assert len(nested) > 0 and all(isinstance(json.loads(v), dict) for v in nested)
    assert list(nested) == list(text_sample["DeviceLogonEvents"]["AdditionalFields"].loc[nested.index])


def test_log_analytics_data_export(tmp_path, text_sample, csv_hunt):
    """``am-<Table>`` containers under WorkspaceResourceId=..., rows at the top level."""
    workspace = ("WorkspaceResourceId=/subscriptions/0000/resourcegroups/rg/providers/"
                 "microsoft.operationalinsights/workspaces/ws").split("/")
    for table, frame in text_sample.items():
        rows = frame.assign(TimeGenerated=frame["Timestamp"], TenantId="0000-tenant", Type=table)
        for day, part in rows.groupby(day_of(rows)):
            folder = tmp_path.joinpath(f"am-{table}", *workspace, f"y={day[:4]}", f"m={day[5:7]}",
                                       f"d={day[8:]}", "h=00", "m=00")
            write_lines(folder / "PT1H.json", as_objects(part))
    result = hunt(tmp_path)
    assert_same_findings(csv_hunt, result)
    events = load_table(tmp_path / f"am-{PROCESS_TABLE}", PROCESS_TABLE)
    assert {"TimeGenerated", "TenantId", "Type"} <= set(events.columns)
    assert len(events) == len(text_sample[PROCESS_TABLE])


def test_envelopes():
    row = {"Timestamp": "2026-11-01T00:00:00Z", "AdditionalFields": {"a": [1]}}
    envelope = {"time": "t", "tenantId": "x", "operationName": "Publish",
                "category": "AdvancedHunting-DeviceEvents", "properties": row}
    assert list(rows_of(envelope, "DeviceEvents", Path("p"), 1)) == [row]
    assert list(rows_of({"records": [envelope, envelope]}, "DeviceEvents", Path("p"), 1)) == [row, row]
    plain = {"Timestamp": "x", "properties": "not an envelope"}
    assert list(rows_of(plain, "DeviceEvents", Path("p"), 1)) == [plain]
    with pytest.raises(BadInputError, match=r"p: row 4: column category: an event of 'DeviceFileEvents'"):
        list(rows_of(dict(envelope, category="AdvancedHunting-DeviceFileEvents"), "DeviceEvents", Path("p"), 4))


# --------------------------------------------------------------------------------------------
# bad folders: one line, exit 2


def run_cli(folder: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hunting_lib", "hunt", "--data-dir", str(folder), "--output",
                           str(out)], capture_output=True, text=True, cwd=REPO, timeout=300)


def one_line(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    return lines[0]


def small_folder(tmp_path: Path, text_sample) -> Path:
    folder = tmp_path / "data"
    rows = text_sample[PROCESS_TABLE]
    for number, part in enumerate((rows.iloc[:100], rows.iloc[100:])):
        _mkdir(folder / PROCESS_TABLE)
        part.to_csv(folder / PROCESS_TABLE / f"part-{number:04d}.csv", index=False)
    return folder


def test_mixed_formats_in_one_table_folder(tmp_path, text_sample):
    folder = small_folder(tmp_path, text_sample)
    text_sample[PROCESS_TABLE].iloc[:10].to_parquet(folder / PROCESS_TABLE / "part-0002.parquet")
    line = one_line(run_cli(folder, tmp_path / "x.json"))
    assert PROCESS_TABLE in line and "parquet" in line and "csv" in line


def test_a_table_both_as_file_and_folder(tmp_path, text_sample):
    folder = small_folder(tmp_path, text_sample)
    text_sample[PROCESS_TABLE].iloc[:10].to_csv(folder / f"{PROCESS_TABLE}.csv", index=False)
    line = one_line(run_cli(folder, tmp_path / "x.json"))
    assert "both a file" in line and f"{PROCESS_TABLE}.csv" in line


def test_an_empty_folder_is_an_absent_table(tmp_path, text_sample):
    folder = small_folder(tmp_path, text_sample)
    (folder / "DeviceEvents" / "y=2026").mkdir(parents=True)
    with pytest.warns(DataWarning, match=r"no file for .*DeviceEvents.*each counts as empty"):
        loaded = load_data_folder(folder)
    assert loaded["DeviceEvents"].empty
    assert len(loaded[PROCESS_TABLE]) == len(text_sample[PROCESS_TABLE])


def test_a_bad_row_inside_a_part_names_the_part(tmp_path, text_sample):
    folder = tmp_path / "data"
    write_lines(folder / PROCESS_TABLE / "part-0000.jsonl", as_objects(text_sample[PROCESS_TABLE].iloc[:5]))
    bad = folder / PROCESS_TABLE / "part-0001.jsonl"
    write_lines(bad, as_objects(text_sample[PROCESS_TABLE].iloc[5:8]))
    with bad.open("a") as handle:
        handle.write('{"Timestamp": "2026-11-01T00:00:00Z", "FileName": \n')
    line = one_line(run_cli(folder, tmp_path / "x.json"))
    assert line.endswith("part-0001.jsonl: row 4: not valid JSON (Expecting value)")


def test_a_part_with_a_foreign_file(tmp_path, text_sample):
    folder = small_folder(tmp_path, text_sample)
    (folder / PROCESS_TABLE / "notes.txt").write_text("hello")
    (folder / PROCESS_TABLE / "_SUCCESS").write_text("")  # bookkeeping files are skipped
    line = one_line(run_cli(folder, tmp_path / "x.json"))
    assert "notes.txt: not a table file" in line


HOSTILE = ["part-\n--published.csv", "part-<script>alert(1)<\\script>.csv", "part-'; drop table x;--.csv",
           "part-$(touch pwned).csv", "part-\u202e.csv"]


def test_hostile_part_names(tmp_path, text_sample, csv_hunt):
    """Attacker-chosen file names are only names: they load, change nothing, and stay on one line."""
    folder = tmp_path / "data"
    for table, frame in text_sample.items():
        _mkdir(folder / table)
        # contiguous chunks in the parts' name order, so the stacked rows keep the file's order
        bounds = np.linspace(0, len(frame), len(HOSTILE) + 1).astype(int)
        for name, start, stop in zip(sorted(HOSTILE), bounds[:-1], bounds[1:]):
            frame.iloc[start:stop].to_csv(folder / table / name, index=False)
    assert_same_findings(csv_hunt, hunt(folder))
    assert not (tmp_path / "pwned").exists() and not (REPO / "pwned").exists()
    # a bad part with a hostile name still gives one line
    (folder / PROCESS_TABLE / "part-\nforged line.parquet").write_bytes(b"PAR1")
    line = one_line(run_cli(folder, tmp_path / "x.json"))
    assert "mixes" in line and "forged line" in line
