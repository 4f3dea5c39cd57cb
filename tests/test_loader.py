"""Loading data folders: both export styles, every format, and clear errors."""

import gzip
import json
import warnings

import pandas as pd
import pytest

from hunting_lib.engine.loader import load_data_folder, load_table, normalise_column_name
from hunting_lib.errors import BadInputError, DataWarning
from tests.conftest import REAL_DATA, needs_shared, task_start

ROWS = [task_start("a.exe", "NA", r"C:\Tools\a.exe", pid=1), task_start("b.exe", "null", r"C:\b.exe", pid=2)]


def frame(rows=ROWS):
    return pd.DataFrame(rows)


@needs_shared
@pytest.mark.parametrize("folder,rows", [("msticpy", 200), ("sentinel_export", 46), ("otrf_sysmon", 1556)])
def test_real_exports_load_unedited(folder, rows):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load_data_folder(REAL_DATA / folder)
    processes = data["DeviceProcessEvents"]
    assert len(processes) == rows
    assert str(processes["Timestamp"].dtype) == "datetime64[ns, UTC]"
    assert processes["Timestamp"].notna().all()
    assert str(processes["ProcessId"].dtype) == "Int64"
    # Only "table is absent" warnings: nothing in these files needs coercing.
    assert all("each counts as empty" in str(w.message) for w in caught), [str(w.message) for w in caught]


@needs_shared
def test_log_analytics_export_columns_and_day_first_times():
    processes = load_data_folder(REAL_DATA / "sentinel_export")["DeviceProcessEvents"]
    assert "Timestamp" in processes and "Timestamp [UTC]" not in processes
    assert processes["Timestamp"].min() == pd.Timestamp("2026-03-26T15:18:18.790Z")
    assert processes["TenantId"].str.len().gt(0).all()  # extra columns are kept
    assert processes["IsProcessRemoteSession"].dtype == "boolean"
    aggregated = processes[processes["ActionType"] == "ProcessCreatedAggregatedReport"]
    assert len(aggregated) > 0 and aggregated["InitiatingProcessId"].isna().all()


@needs_shared
def test_seven_fractional_digits_are_kept():
    processes = load_data_folder(REAL_DATA / "msticpy")["DeviceProcessEvents"]
    assert processes.loc[0, "Timestamp"] == pd.Timestamp("2021-12-15T23:00:03.4494644Z")


def test_strings_that_look_like_missing_values_stay_strings(write_table):
    folder = write_table("DeviceProcessEvents.csv", frame())
    processes = load_data_folder(folder)["DeviceProcessEvents"]
    assert processes["ProcessCommandLine"].tolist() == ["NA", "null"]


@pytest.mark.parametrize("name", ["DeviceProcessEvents.csv.gz", "DeviceProcessEvents.parquet",
                                  "DeviceProcessEvents.json", "DeviceProcessEvents.jsonl"])
def test_every_format_loads_the_same(write_table, tmp_path, name):
    source = frame()
    if name.endswith(".csv.gz"):
        (tmp_path / name).write_bytes(gzip.compress(source.to_csv(index=False).encode()))
    elif name.endswith(".parquet"):
        typed = source.assign(Timestamp=pd.to_datetime(source["Timestamp"], utc=True))
        write_table(name, typed)
    elif name.endswith(".jsonl"):
        write_table(name, "\n".join(json.dumps(r) for r in source.to_dict("records")) + "\n")
    else:
        write_table(name, json.dumps(source.to_dict("records")))
    loaded = load_data_folder(tmp_path)["DeviceProcessEvents"]
    assert loaded["ProcessCommandLine"].tolist() == ["NA", "null"]
    assert loaded["ProcessId"].tolist() == [1, 2]
    assert loaded["Timestamp"].iloc[0] == pd.Timestamp(ROWS[0]["Timestamp"])


def test_json_objects_become_json_text(write_table, tmp_path):
    rows = [dict(r, AdditionalFields={"a": 1}) for r in ROWS]
    write_table("DeviceProcessEvents.json", json.dumps(rows))
    loaded = load_data_folder(tmp_path)["DeviceProcessEvents"]
    assert json.loads(loaded.loc[0, "AdditionalFields"]) == {"a": 1}


def test_missing_process_table_is_an_error_with_a_suggestion(write_table):
    folder = write_table("DeviceProcesEvents.csv", frame())
    with pytest.raises(BadInputError, match="did you mean DeviceProcesEvents.csv"):
        load_data_folder(folder)


def test_absent_activity_tables_warn_by_name(write_table):
    folder = write_table("DeviceProcessEvents.csv", frame())
    with pytest.warns(DataWarning, match="no file for DeviceNetworkEvents, DeviceFileEvents"):
        data = load_data_folder(folder)
    assert data["DeviceNetworkEvents"].empty


def test_missing_required_column_names_file_and_column(write_table):
    folder = write_table("DeviceProcessEvents.csv", frame().rename(columns={"FolderPath": "FolderPth"}))
    with pytest.raises(BadInputError) as error:
        load_data_folder(folder)
    message = str(error.value)
    assert "DeviceProcessEvents.csv" in message and "column FolderPath" in message
    assert "did you mean FolderPth" in message and "\n" not in message


def test_two_files_for_one_table_is_an_error(write_table):
    write_table("DeviceProcessEvents.csv", frame())
    folder = write_table("DeviceProcessEvents.jsonl", "")
    with pytest.raises(BadInputError, match="several files"):
        load_data_folder(folder)


def test_pickles_are_refused(write_table):
    folder = write_table("DeviceProcessEvents.pkl", b"\x80\x04N.")
    with pytest.raises(BadInputError, match="pickle"):
        load_data_folder(folder)


def test_export_suffixes_are_normalised():
    assert normalise_column_name("Timestamp [UTC]", "DeviceProcessEvents") == "Timestamp"
    assert normalise_column_name("\ufeffTimestamp", "DeviceProcessEvents") == "Timestamp"
    assert normalise_column_name("ReportId_long", "DeviceFileEvents") == "ReportId"
    assert normalise_column_name("AdditionalFields_string", "DeviceEvents") == "AdditionalFields"
    # Only known columns lose a type suffix; anything else is kept as written.
    assert normalise_column_name("Custom_long", "DeviceEvents") == "Custom_long"


def test_duplicate_columns_after_normalising_are_an_error(write_table):
    source = frame().assign(**{"Timestamp [UTC]": frame()["Timestamp"]})
    folder = write_table("DeviceProcessEvents.csv", source)
    with pytest.raises(BadInputError, match="column Timestamp appears more than once"):
        load_data_folder(folder)


def _log_analytics(stamps):
    rows = frame().iloc[: len(stamps)].copy()
    rows = rows.drop(columns=["Timestamp"]).assign(**{"Timestamp [UTC]": stamps})
    return rows


def test_month_first_times_are_detected(write_table):
    folder = write_table("DeviceProcessEvents.csv", _log_analytics(["03/26/2026, 3:18:18.983 PM", "04/01/2026, 10:00:00 AM"]))
    loaded = load_data_folder(folder)["DeviceProcessEvents"]
    assert loaded["Timestamp"].tolist() == [pd.Timestamp("2026-03-26T15:18:18.983Z"), pd.Timestamp("2026-04-01T10:00:00Z")]


def test_ambiguous_slash_dates_need_an_explicit_order(write_table):
    folder = write_table("DeviceProcessEvents.csv", _log_analytics(["03/04/2026, 15:18:18.983", "05/06/2026, 10:00:00"]))
    with pytest.raises(BadInputError, match="--date-order"):
        load_data_folder(folder)
    loaded = load_data_folder(folder, date_order="dmy")["DeviceProcessEvents"]
    assert loaded["Timestamp"].iloc[0] == pd.Timestamp("2026-04-03T15:18:18.983Z")
    loaded = load_data_folder(folder, date_order="mdy")["DeviceProcessEvents"]
    assert loaded["Timestamp"].iloc[0] == pd.Timestamp("2026-03-04T15:18:18.983Z")


def test_unreadable_values_are_counted_not_dropped(write_table):
    source = frame()
    source.loc[1, "Timestamp"] = "not a time"
    source["ProcessId"] = ["12abc", "2"]
    folder = write_table("DeviceProcessEvents.csv", source)
    with pytest.warns(DataWarning) as caught:
        loaded = load_data_folder(folder)["DeviceProcessEvents"]
    messages = " | ".join(str(w.message) for w in caught)
    assert "column Timestamp: 1 value(s) are not times" in messages and "row 2" in messages
    assert "column ProcessId: 1 value(s) are not whole numbers" in messages
    assert len(loaded) == 2 and pd.isna(loaded.loc[1, "Timestamp"]) and pd.isna(loaded.loc[0, "ProcessId"])


def test_float_ids_that_are_whole_are_accepted(write_table):
    folder = write_table("DeviceProcessEvents.csv", frame().assign(ProcessId=["4000.0", "12"]))
    assert load_data_folder(folder)["DeviceProcessEvents"]["ProcessId"].tolist() == [4000, 12]


def test_non_utf8_bytes_are_replaced_with_a_warning(write_table, tmp_path):
    text = frame().to_csv(index=False).encode().replace(b"a.exe", b"\xe4.exe", 1)
    folder = write_table("DeviceProcessEvents.csv", text)
    with pytest.warns(DataWarning, match="not UTF-8"):
        loaded = load_data_folder(folder)["DeviceProcessEvents"]
    assert loaded.loc[0, "FileName"] == "\ufffd.exe"


def test_only_requested_columns_are_read_and_absent_ones_filled(tmp_path, write_table):
    write_table("DeviceProcessEvents.csv", frame())
    loaded = load_table(tmp_path / "DeviceProcessEvents.csv", "DeviceProcessEvents",
                        columns=["FileName", "RemoteIP", "InitiatingProcessParentCreationTime"])
    assert "AccountName" not in loaded  # not asked for, not required
    assert loaded["RemoteIP"].tolist() == ["", ""]
    assert loaded["InitiatingProcessParentCreationTime"].isna().all()


def test_empty_file_is_an_error(write_table):
    folder = write_table("DeviceProcessEvents.csv", "")
    with pytest.raises(BadInputError, match="empty"):
        load_data_folder(folder)


def test_header_only_file_loads_as_no_rows(write_table):
    folder = write_table("DeviceProcessEvents.csv", ",".join(ROWS[0]) + "\n")
    assert load_data_folder(folder)["DeviceProcessEvents"].empty
