"""The loader matrix: every kind of bad input ends in exit 2 with one line naming the file, the
column and (where it applies) the row, or in success with a warning that counts what was
coerced. Never a traceback, never a row lost without a word.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest

from hunting_lib.errors import BadInputError, DataWarning
from tests.conftest import REPO, activity, task_start

GOOD = [task_start("evil.exe", "evil.exe -x", r"C:\Users\Public\evil.exe", pid=1),
        task_start("b.exe", "b.exe", r"C:\Tools\b.exe", pid=2, minutes=3)]


def csv_text(rows=GOOD, **changes) -> str:
    frame = pd.DataFrame(rows)
    for column, values in changes.items():
        frame[column] = values
    return frame.to_csv(index=False)


def run(folder: Path, *extra: str):
    done = subprocess.run([sys.executable, "-m", "hunting_lib", "hunt", "--data-dir", str(folder), *extra],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert "Traceback" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    return done.returncode, errors, warnings, done.stdout


def write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return folder


# Cases that must stop: (file name, content, words the one error line must contain)
FAILS = {
    "missing required column": ("DeviceProcessEvents.csv", lambda: csv_text().replace("FolderPath", "FolderPth"),
                                ["DeviceProcessEvents.csv", "column FolderPath", "did you mean FolderPth"]),
    "misspelled table file": ("DeviceProcesEvents.csv", csv_text, ["no DeviceProcessEvents", "did you mean DeviceProcesEvents.csv"]),
    "empty file": ("DeviceProcessEvents.csv", lambda: "", ["DeviceProcessEvents.csv", "empty"]),
    "duplicate columns": ("DeviceProcessEvents.csv",
                          lambda: csv_text().replace("Timestamp,", "Timestamp [UTC],", 1).replace("AccountName", "Timestamp", 1),
                          ["column Timestamp appears more than once"]),
    "truncated gzip": ("DeviceProcessEvents.csv.gz", lambda: gzip.compress(csv_text().encode())[:60],
                       ["DeviceProcessEvents.csv.gz", "cannot be read"]),
    "pickle refused": ("DeviceProcessEvents.pkl", lambda: b"\x80\x04N.", ["pickle", "runs code"]),
    "invalid json": ("DeviceProcessEvents.json", lambda: '[{"Timestamp": ', ["DeviceProcessEvents.json", "not valid JSON"]),
    "json not an array": ("DeviceProcessEvents.json", lambda: '{"a": 1}', ["array of objects"]),
    "bad jsonl row": ("DeviceProcessEvents.jsonl", lambda: json.dumps(GOOD[0]) + "\n{oops\n", ["row 2", "not valid JSON"]),
    "corrupt parquet": ("DeviceProcessEvents.parquet", lambda: b"PAR1 not really", ["DeviceProcessEvents.parquet", "cannot be read"]),
    "mixed day and month first": ("DeviceProcessEvents.csv",
                                  lambda: csv_text(**{"Timestamp": ["26/03/2026, 10:00:00", "03/26/2026, 10:00:00"]}),
                                  ["column Timestamp", "mix day-first and month-first"]),
    "ambiguous slash dates": ("DeviceProcessEvents.csv",
                              lambda: csv_text(**{"Timestamp": ["03/04/2026, 10:00:00", "05/06/2026, 10:00:00"]}),
                              ["column Timestamp", "--date-order"]),
}


@pytest.mark.parametrize("case", sorted(FAILS))
def test_bad_input_stops_with_one_clear_line(tmp_path, case):
    name, content, words = FAILS[case]
    write(tmp_path, name, content())
    code, errors, _, _ = run(tmp_path)
    assert code == 2 and len(errors) == 1, errors
    assert all(w in errors[0] for w in words), errors[0]


def test_a_folder_with_no_tables(tmp_path):
    write(tmp_path, "notes.txt", "nothing here")
    code, errors, _, _ = run(tmp_path)
    assert code == 2 and "no DeviceProcessEvents file" in errors[0]


def test_a_symlink_loop(tmp_path):
    os.symlink(tmp_path / "DeviceProcessEvents.csv", tmp_path / "DeviceProcessEvents.csv")
    code, errors, _, _ = run(tmp_path)
    assert code == 2 and "DeviceProcessEvents.csv" in errors[0]


# Cases that load with a counted warning: (file name, content, words in a warning, rows expected)
WARNS = {
    "text in ProcessId": (lambda: csv_text(ProcessId=["12x", "2"]), ["column ProcessId", "1 value(s)", "row 1"]),
    "fractional ids": (lambda: csv_text(ProcessId=["1.5", "2"]), ["column ProcessId", "not whole numbers"]),
    "unparseable times": (lambda: csv_text(Timestamp=["yesterday", GOOD[1]["Timestamp"]]), ["column Timestamp", "not times", "row 1"]),
    "non-UTF-8 bytes": (lambda: csv_text().encode().replace(b"evil.exe -x", b"evil.exe \xff-x"), ["not UTF-8"]),
}


@pytest.mark.parametrize("case", sorted(WARNS))
def test_coerced_values_are_counted_and_rows_kept(tmp_path, case):
    content, words = WARNS[case]
    write(tmp_path, "DeviceProcessEvents.csv", content())
    code, errors, warnings, _ = run(tmp_path, "--output", str(tmp_path / "out.json"))
    assert code == 0 and errors == []
    assert any(all(w in line for w in words) for line in warnings), warnings
    document = json.loads((tmp_path / "out.json").read_text())
    assert sum(t["Count"] for t in document["rare_tasks"]) == 2  # both rows still counted


# Cases that load cleanly, exactly as the clean file does
CLEAN = {
    "utf-8 BOM": lambda: "\ufeff" + csv_text(),
    "CRLF line ends": lambda: csv_text().replace("\n", "\r\n"),
    "quoted newline and commas in a command line": lambda: csv_text(ProcessCommandLine=['evil.exe "a,b"\nnext line', "b.exe"]),
    "a 1 MB command line": lambda: csv_text(ProcessCommandLine=["evil.exe " + "A" * 1_000_000, "b.exe"]),
    "header only": lambda: csv_text().splitlines()[0] + "\n",
    "union-export suffixes": lambda: csv_text(ReportId=[1, 2], AdditionalFields=["{}", "[]"]).replace(
        "ProcessId", "ProcessId_long", 1).replace("AccountName", "AccountName_string", 1).replace(
        "ReportId", "ReportId_long", 1).replace("AdditionalFields", "AdditionalFields_string", 1),
    "Log Analytics column names and day-first times": lambda: csv_text(
        Timestamp=["26/03/2026, 15:18:18.983", "27/03/2026, 09:00:00"]).replace("Timestamp,", "Timestamp [UTC],", 1),
    "values that look like missing": lambda: csv_text(ProcessCommandLine=["NA", "null"]),
    "AdditionalFields shapes": lambda: csv_text(AdditionalFields=['{"a": 1}', "[]"]),
    "AdditionalFields not valid JSON": lambda: csv_text(AdditionalFields=['{"a": 1', "not json at all"]),
    "100k junk columns": lambda: pd.concat([pd.DataFrame(GOOD), pd.DataFrame(
        [[str(i) for i in range(100_000)]] * 2, columns=[f"junk{i}" for i in range(100_000)])], axis=1).to_csv(index=False),
}


@pytest.mark.parametrize("case", sorted(CLEAN))
def test_real_world_quirks_load_without_fuss(tmp_path, case):
    write(tmp_path, "DeviceProcessEvents.csv", CLEAN[case]())
    code, errors, warnings, _ = run(tmp_path, "--output", str(tmp_path / "out.json"))
    assert code == 0 and errors == [], errors
    assert [w for w in warnings if "each counts as empty" not in w] == []
    document = json.loads((tmp_path / "out.json").read_text())
    expected = 0 if case == "header only" else 2
    assert sum(t["Count"] for t in document["rare_tasks"]) == expected


def test_a_nul_byte_is_kept_in_the_value(tmp_path):
    write(tmp_path, "DeviceProcessEvents.csv", csv_text(ProcessCommandLine=["evil.exe \x00x", "b.exe"]))
    code, errors, _, _ = run(tmp_path, "--output", str(tmp_path / "out.json"))
    assert code == 0 and errors == []
    commands = {t["ProcessCommandLine"] for t in json.loads((tmp_path / "out.json").read_text())["rare_tasks"]}
    assert "evil.exe \x00x" in commands


def test_additional_fields_as_objects_and_arrays_in_json(tmp_path):
    """A JSON export keeps AdditionalFields as a nested value; it is kept as its JSON text."""
    rows = [dict(GOOD[0], AdditionalFields={"Command": "x", "n": 1}), dict(GOOD[1], AdditionalFields=[])]
    write(tmp_path, "DeviceProcessEvents.json", json.dumps(rows))
    code, errors, warnings, _ = run(tmp_path, "--output", str(tmp_path / "out.json"))
    assert code == 0 and errors == [] and [w for w in warnings if "each counts as empty" not in w] == []
    assert sum(t["Count"] for t in json.loads((tmp_path / "out.json").read_text())["rare_tasks"]) == 2
    from hunting_lib.engine.loader import load_table
    loaded = load_table(tmp_path / "DeviceProcessEvents.json", "DeviceProcessEvents")
    assert json.loads(loaded["AdditionalFields"].iloc[0]) == {"Command": "x", "n": 1}
    assert loaded["AdditionalFields"].iloc[1] == "[]"


def test_parquet_with_other_dtypes(tmp_path):
    frame = pd.DataFrame(GOOD)
    frame["ProcessId"] = frame["ProcessId"].astype("float64")
    frame["Timestamp"] = pd.to_datetime(frame["Timestamp"]).dt.tz_convert(None)  # naive, taken as UTC
    frame["InitiatingProcessId"] = frame["InitiatingProcessId"].astype(str)
    frame.to_parquet(tmp_path / "DeviceProcessEvents.parquet")
    code, errors, warnings, _ = run(tmp_path, "--output", str(tmp_path / "out.json"))
    assert code == 0 and errors == [], errors
    assert sum(t["Count"] for t in json.loads((tmp_path / "out.json").read_text())["rare_tasks"]) == 2


# --------------------------------------------------------------------------------------------
# A required column with values of which not one can be read: the wrong file, not dirty data


def parquet_bytes(rows=GOOD, **changes) -> bytes:
    frame = pd.DataFrame(rows)
    for column, values in changes.items():
        frame[column] = values
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def network_csv(**changes) -> str:
    rows = [activity("evil.exe", "evil.exe -x", r"C:\Users\Public\evil.exe", pid=1, RemoteIP="185.100.87.3")]
    return csv_text(rows, **changes)


#: (file name, content) of files whose required Timestamp holds values, none of them a time.
UNREADABLE = {
    "csv": ("DeviceProcessEvents.csv", lambda: csv_text(Timestamp=["yesterday", "tomorrow"])),
    "csv with some empty": ("DeviceProcessEvents.csv", lambda: csv_text(Timestamp=["", "soon"])),
    "jsonl": ("DeviceProcessEvents.jsonl",
              lambda: "".join(json.dumps(dict(r, Timestamp="n/a")) + "\n" for r in GOOD)),
    "parquet, text": ("DeviceProcessEvents.parquet", lambda: parquet_bytes(Timestamp=["yesterday", "tomorrow"])),
    "parquet, epoch numbers": ("DeviceProcessEvents.parquet", lambda: parquet_bytes(Timestamp=[1_700_000_000] * 2)),
    "an activity table": ("DeviceNetworkEvents.csv", lambda: network_csv(Timestamp=["last week"])),
}


def run_raw(folder: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hunting_lib", "hunt", "--data-dir", str(folder), *extra],
                          capture_output=True, text=True, cwd=REPO, timeout=300)


@pytest.mark.parametrize("window", [(), ("--start", "2026-01-01T00:00:00Z")], ids=["whole", "window"])
@pytest.mark.parametrize("case", sorted(UNREADABLE))
def test_a_required_column_with_no_readable_value_stops_with_one_line(tmp_path, case, window):
    name, content = UNREADABLE[case]
    if not name.startswith("DeviceProcessEvents."):
        write(tmp_path, "DeviceProcessEvents.csv", csv_text())
    write(tmp_path, name, content())
    done = run_raw(tmp_path, *window)
    assert done.returncode == 2, (done.stdout, done.stderr)
    # Exactly one line on stderr: no warning about the values first, no scan failure, no traceback.
    assert len(done.stderr.splitlines()) == 1, done.stderr
    line = done.stderr.strip()
    assert line.startswith("error: ") and f"{tmp_path / name}: column Timestamp: not one of its" in line, line
    assert "can be read as times" in line and "row " in line


def test_csv_and_parquet_are_refused_alike_through_both_readers(tmp_path):
    """The general loader and the hunt's reader (the parquet scan, which steps aside for text
    times) give the same error for the same values."""
    from hunting_lib.engine.fast_load import load_for_hunt
    from hunting_lib.engine.loader import load_data_folder
    from hunting_lib.hunt import hunt_columns
    from hunting_lib.params import HuntParams

    messages = {}
    for kind, name, content in (("csv", "DeviceProcessEvents.csv", csv_text(Timestamp=["yesterday", "x"])),
                                ("parquet", "DeviceProcessEvents.parquet",
                                 parquet_bytes(Timestamp=["yesterday", "x"]))):
        folder = tmp_path / kind
        folder.mkdir()
        write(folder, name, content)
        for reader in (lambda: load_data_folder(folder, columns=hunt_columns()),
                       lambda: load_for_hunt(folder, HuntParams(), hunt_columns())):
            with warnings.catch_warnings():
                warnings.simplefilter("error", DataWarning)  # no counted-and-coerced warning first
                with pytest.raises(BadInputError) as raised:
                    reader()
            messages.setdefault(kind, set()).add(str(raised.value).replace(str(folder / name), "FILE"))
    assert messages["csv"] == messages["parquet"] and len(messages["csv"]) == 1, messages
    assert messages["csv"] == {"FILE: column Timestamp: not one of its 2 value(s) can be read as times (first at "
                               "row 1: 'yesterday'); the column is required, so this looks like the wrong file "
                               "or export"}


def test_apply_schema_refuses_only_required_columns_with_values(tmp_path):
    from hunting_lib.engine.loader import apply_schema

    frame = pd.DataFrame(GOOD).astype(str)
    path = tmp_path / "DeviceProcessEvents.csv"
    with pytest.raises(BadInputError, match="column Timestamp: not one of its 2"):
        apply_schema(frame.assign(Timestamp=["a", "b"]), "DeviceProcessEvents", path)
    # Not required (ProcessId): dirty data, counted, the rows kept.
    with pytest.warns(DataWarning, match=r"column ProcessId: 2 value\(s\) are not whole numbers"):
        typed = apply_schema(frame.assign(ProcessId=["a", "b"]), "DeviceProcessEvents", path)
    assert typed["ProcessId"].isna().all() and typed["Timestamp"].notna().all()
    # Required but empty: no values to read, nothing refused (as before).
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        typed = apply_schema(frame.assign(Timestamp=["", " "]), "DeviceProcessEvents", path)
    assert typed["Timestamp"].isna().all()


EMPTY_TIMES = {
    "csv": ("DeviceProcessEvents.csv", lambda: csv_text(Timestamp=["", ""])),
    "parquet nulls": ("DeviceProcessEvents.parquet",
                      lambda: parquet_bytes(Timestamp=pd.Series([None, None], dtype="datetime64[ns, UTC]"))),
}


@pytest.mark.parametrize("case", sorted(EMPTY_TIMES))
def test_an_all_empty_required_column_still_loads(tmp_path, case):
    name, content = EMPTY_TIMES[case]
    write(tmp_path, name, content())
    code, errors, _, _ = run(tmp_path, "--output", str(tmp_path / "out.json"))
    assert code == 0 and errors == [], errors
    assert sum(t["Count"] for t in json.loads((tmp_path / "out.json").read_text())["rare_tasks"]) == 2


def test_a_column_the_hunt_does_not_require_stays_a_warning(tmp_path):
    write(tmp_path, "DeviceProcessEvents.csv", csv_text(ProcessId=["one", "two"]))
    code, errors, warned, _ = run(tmp_path, "--output", str(tmp_path / "out.json"))
    assert code == 0 and errors == []
    assert any("column ProcessId: 2 value(s) are not whole numbers" in w for w in warned), warned


# A table kept as a folder of parts: a message names the part and its row there.
def write_parts(folder: Path, *parts: str) -> Path:
    (folder / "DeviceProcessEvents" / "d=2026-11-01").mkdir(parents=True)
    for number, text in enumerate(parts):
        write(folder / "DeviceProcessEvents" / "d=2026-11-01", f"part-{number:04d}.csv", text)
    return folder


def test_a_coerced_value_in_a_part_names_the_part_and_row(tmp_path):
    write_parts(tmp_path, csv_text(), csv_text(ProcessId=["2", "12x"]))
    code, errors, warnings, _ = run(tmp_path, "--output", str(tmp_path / "out.json"))
    assert code == 0 and errors == []
    assert any("column ProcessId: 1 value(s)" in line and "part-0001.csv row 2: '12x'" in line
               for line in warnings), warnings


def test_an_unreadable_required_column_in_a_folder_names_a_part(tmp_path):
    write_parts(tmp_path, csv_text(Timestamp=["yesterday", "soon"]), csv_text(Timestamp=["never", "later"]))
    code, errors, _, _ = run(tmp_path)
    assert code == 2 and len(errors) == 1, errors
    assert "part-0000.csv: column Timestamp: not one of its 4 value(s)" in errors[0], errors[0]


def test_a_missing_required_column_in_one_part(tmp_path):
    write_parts(tmp_path, csv_text(), csv_text().replace("FolderPath", "FolderPth"))
    code, errors, _, _ = run(tmp_path)
    assert code == 2 and len(errors) == 1, errors
    assert "part-0001.csv: column FolderPath: required column is missing; did you mean FolderPth?" in errors[0]
