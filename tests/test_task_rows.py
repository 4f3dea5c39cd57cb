"""``engine.task_rows``: the rows that say how tasks were registered, read the same way whatever
the reader (tables loaded whole, parquet files read with filters), and the TaskCache rows only of
the devices where there is something to find."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from hunting_lib.engine.files import find_table_files
from hunting_lib.engine.loader import load_data_folder
from hunting_lib.engine.task_rows import (
    subject_sessions,
    task_cache_mask,
    task_event_frames,
    task_event_frames_from_files,
)
from hunting_lib.tasks.hidden import on_suspect_devices
from tests.conftest import SAMPLE_DATA


@pytest.fixture(scope="module")
def sample_tables() -> dict[str, pd.DataFrame]:
    return dict(load_data_folder(SAMPLE_DATA).tables)


@pytest.fixture(scope="module")
def parquet_copy(tmp_path_factory, sample_tables) -> Path:
    """The committed sample, every column the loader reads, as one parquet file per table."""
    folder = tmp_path_factory.mktemp("task-rows")
    for table, frame in sample_tables.items():
        frame.to_parquet(folder / f"{table}.parquet")
    return folder


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["DeviceName", "Timestamp", "ReportId"], kind="stable").reset_index(drop=True)


def test_the_parquet_read_equals_the_filter_on_loaded_tables(sample_tables, parquet_copy):
    whole = task_event_frames(sample_tables)
    read = task_event_frames_from_files(find_table_files(parquet_copy))
    assert len(whole["registrations"]) > 20 and len(whole["registry"]) > 0 and len(whole["logons"]) > 0
    for name in ("registrations", "registry", "logons"):
        left, right = _sorted(whole[name]), _sorted(read[name][list(whole[name].columns)])
        pd.testing.assert_frame_equal(left, right, check_dtype=False, obj=name)


def test_taskcache_rows_are_kept_only_where_a_foreign_write_or_an_sd_deletion_is(sample_tables):
    registry = sample_tables["DeviceRegistryEvents"]
    cache = registry[task_cache_mask(registry)]
    kept = task_event_frames(sample_tables)["registry"]
    # the same devices as the tasks step's own test, on every TaskCache row of the sample
    assert set(kept["DeviceName"]) == set(on_suspect_devices(cache)["DeviceName"])
    assert 0 < len(kept) < len(cache) / 5  # the Schedule service's own writes elsewhere are left out
    assert cache["InitiatingProcessFileName"].str.lower().eq("svchost.exe").mean() > 0.5


def test_logons_are_read_only_for_the_sessions_that_registered_tasks(sample_tables):
    frames = task_event_frames(sample_tables)
    sessions = subject_sessions(frames["registrations"])
    assert not sessions["LogonId"].isin([0x3E7, 0x3E4, 0x3E5]).any()
    pairs = set(zip(sessions["DeviceName"], sessions["LogonId"]))
    accounts = set(zip(sessions["DeviceName"], sessions["AccountName"]))
    logons = frames["logons"]
    assert logons.shape[0] >= 1
    own = [(d, int(i)) in pairs for d, i in zip(logons["DeviceName"], logons["LogonId"])]
    # the rest: network logons of a registering account on its device (a caller's other sessions)
    same_account = [(d, a.lower()) in accounts and t == "Network"
                    for d, a, t in zip(logons["DeviceName"], logons["AccountName"], logons["LogonType"])]
    assert any(own) and all(o or s for o, s in zip(own, same_account))
    assert (logons["LogonType"] == "Network").any()


def test_subject_logon_ids_read_hex_and_decimal():
    rows = pd.DataFrame({"DeviceName": ["a", "a", "b", "c"],
                         "AdditionalFields": ['{"SubjectLogonId":"0x1A2B3C","SubjectUserName":"Adm"}',
                                              '{"SubjectLogonId": 1715004, "SubjectUserName":"adm"}',
                                              '{"SubjectLogonId":"0x3e7"}', "not json"]})
    assert subject_sessions(rows).to_dict("records") == [{"DeviceName": "a", "LogonId": 1715004, "AccountName": "adm"}]


@pytest.mark.parametrize("published", [False, True], ids=["extended", "published"])
def test_a_scanned_hunt_finds_the_same_definitions_history_counts_and_registrations(parquet_copy, published):
    import json

    from hunting_lib import HuntParams, run_hunt

    params = HuntParams.published() if published else HuntParams()
    full, scanned = run_hunt(SAMPLE_DATA, params), run_hunt(parquet_copy, params)
    assert full.reader["reader"] == "full" and scanned.reader["reader"] == "scan"
    as_text = lambda frame: json.dumps(frame.to_dict("records"), default=str, sort_keys=True)  # noqa: E731
    columns = ["GroupKey", "TaskDefinitions", "registered_remotely", "registered_before_first_run",
               "registered_by_script_host", "deleted_after_run", "registered_outside_api", "Score"]
    assert sum(map(bool, full.rare_tasks["TaskDefinitions"])) >= 5
    assert as_text(full.rare_tasks[columns]) == as_text(scanned.rare_tasks[columns])
    assert as_text(full.task_registrations) == as_text(scanned.task_registrations)
    for name in ("group_counts", "scheduler_groups"):
        left, right = (getattr(r.fleet, name).sort_values(["FileName", "ProcessCommandLine", "FolderPath"],
                                                            ignore_index=True) for r in (full, scanned))
        assert len(left) > 20
        pd.testing.assert_frame_equal(left, right, check_dtype=False, obj=name)
