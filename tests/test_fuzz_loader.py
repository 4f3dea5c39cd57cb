"""Property-based loader tests: whatever bytes a table file holds, loading either works or
stops with one BadInputError line. No other exception escapes, and no row disappears."""

from __future__ import annotations

import csv
import os
import warnings

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hunting_lib.engine.loader import load_data_folder
from hunting_lib.errors import BadInputError
from hunting_lib.hunt import hunt_columns
from tests.conftest import task_start

EXAMPLES = 200 if os.environ.get("CI") == "true" else 50
HEADER = ",".join(task_start("a.exe", "a", "C:\\a.exe"))

cell = st.one_of(st.text(max_size=30), st.sampled_from(["", "NA", "null", "1.5", "12", "2026-11-02T00:00:00Z",
                                                        "26/03/2026, 10:00:00", '"quoted, comma"', "\x00", "\r\n"]))


def settings_for_files():
    return settings(max_examples=EXAMPLES, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@settings_for_files()
@given(raw=st.binary(max_size=400))
def test_arbitrary_bytes_load_or_fail_cleanly(tmp_path_factory, raw):
    folder = tmp_path_factory.mktemp("bytes")
    (folder / "DeviceProcessEvents.csv").write_bytes(HEADER.encode() + b"\n" + raw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            load_data_folder(folder, columns=hunt_columns())
        except BadInputError as error:
            assert "\n" not in str(error)


@settings_for_files()
@given(rows=st.lists(st.lists(cell, min_size=14, max_size=14), min_size=1, max_size=8))
def test_generated_rows_keep_their_count(tmp_path_factory, rows):
    folder = tmp_path_factory.mktemp("rows")
    columns = HEADER.split(",")
    # Every field quoted: a bare carriage return in an unquoted field is a line break to any reader.
    pd.DataFrame(rows, columns=columns).to_csv(folder / "DeviceProcessEvents.csv", index=False, quoting=csv.QUOTE_ALL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            loaded = load_data_folder(folder, columns=hunt_columns())["DeviceProcessEvents"]
        except BadInputError as error:
            assert "\n" not in str(error) and "DeviceProcessEvents.csv" in str(error)
            return
    assert len(loaded) == len(rows)  # coerced values are emptied and counted, never dropped
