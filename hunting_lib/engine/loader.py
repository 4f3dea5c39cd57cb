"""Load a data folder: one file per Defender table, as the contract describes it.

A data folder holds ``<Table>.csv``, ``.csv.gz``, ``.parquet``, ``.json`` (an array of objects) or
``.jsonl``, or a table may be a folder of parts of one format (``files.table_parts``: parts,
hive partitions, the time folders of exports to storage, whose envelopes ``envelopes`` unwraps).
Two export styles must load unedited:

- Defender XDR advanced hunting: ISO 8601 UTC times with up to 7 fractional digits and ``Z``.
- Log Analytics / Sentinel CSV: ``Timestamp [UTC]`` column names, times such as
  ``26/03/2026, 15:18:18.983`` (day or month first, by the exporter's locale), extra columns
  (``TenantId``, ``SourceSystem``, ``Type``) and ``TRUE``/``FALSE`` booleans.

Every value is read as text first and then given its Defender type from the schema. That is
deliberate: pandas' default CSV reading turns the strings "NA", "null" or "nan" into missing values,
and a command line is attacker-written text that may well be exactly that.

msticpy's ``LocalData`` provider is not used to read the files: it reads CSV with pandas' default
NA handling (the data loss above), parses only ``TimeGenerated`` as a time, knows neither
parquet nor JSON lines, and reads pickles, which run code when loaded.

Bad input raises ``BadInputError`` (one line: file, column, row). Values that can be coerced
are, with a ``DataWarning`` that counts them. Nothing is dropped silently.
"""

from __future__ import annotations

import csv
import difflib
import gzip
import json
import warnings
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import Any, Iterable, Mapping

import pandas as pd

# The typing rules live in ``coerce``; these names are part of the loader's API.
from hunting_lib.engine.coerce import (  # noqa: F401
    DATE_ORDERS,
    Parts,
    apply_schema,
    empty_column,
    ensure_columns,
)
from hunting_lib.engine.envelopes import is_json_lines, read_json_lines
from hunting_lib.engine.files import find_table_files, normalise_column_name, suggest_file, table_parts
from hunting_lib.engine.progress import progress
from hunting_lib.errors import BadInputError, DataWarning
from hunting_lib.schema import PROCESS_TABLE, TABLES, required_columns


@dataclass
class DataFolder:
    """The tables of one data folder, and where each came from."""

    tables: dict[str, pd.DataFrame]
    files: dict[str, Path] = field(default_factory=dict)
    #: False when only the rows one hunt can use were read (``scan.load_for_hunt``).
    complete: bool = True
    #: The fleet's baseline, when the scan computed it from rows it did not keep (else None).
    fleet: Any = None
    #: Which reader loaded it: ``{"reader": "full"}`` (this module), or the scan's
    #: ``{"reader": "scan"}``; a hunt that asked for the scan and fell back says why.
    reader: dict[str, str] = field(default_factory=lambda: {"reader": "full"})

    def __getitem__(self, table: str) -> pd.DataFrame:
        return self.tables[table]


def _warn(message: str) -> None:
    warnings.warn(" ".join(message.split("\n")), DataWarning, stacklevel=3)


# --------------------------------------------------------------------------------------------
# Reading one file as text columns


def _has_nul(path: Path) -> bool:
    """Whether the (decompressed) file holds a NUL byte: pandas' C parser cuts a field there."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            if b"\x00" in chunk:
                return True
    return False


def _read_csv(path: Path, usecols: Iterable[str] | None) -> pd.DataFrame:
    # The slower Python parser keeps NUL bytes inside values; it is used only when there are any.
    engine = "python" if _has_nul(path) else "c"

    def read(errors: str) -> pd.DataFrame:
        return pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            encoding="utf-8-sig",
            encoding_errors=errors,
            usecols=None if usecols is None else list(usecols),
            engine=engine,
        )

    try:
        return read("strict")
    except UnicodeDecodeError as exc:
        frame = read("replace")
        _warn(f"{path.name}: bytes that are not UTF-8 (first at byte {exc.start}) were replaced by U+FFFD")
        return frame


def _read_json(path: Path, lines: bool, table: str = "") -> pd.DataFrame:
    if lines:
        # One row per line; a streaming-API envelope gives its ``properties`` (``engine.envelopes``).
        records = read_json_lines(path, table)
    else:
        try:
            records = json.loads(path.read_text(encoding="utf-8-sig"))
        except json.JSONDecodeError as exc:
            raise BadInputError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise BadInputError(f"{path}: expected a JSON array of objects, one per row")
    return pd.DataFrame.from_records(records)


def _header(path: Path) -> list[str]:
    """The raw column names of a file, without reading its rows where the format allows."""
    name = path.name
    if name.endswith(".parquet"):
        import pyarrow.parquet as pq

        return list(pq.read_schema(path).names)
    if name.endswith((".csv", ".csv.gz")):
        # The csv module, not pandas: pandas reads a header of 100k names in quadratic time.
        opener = gzip.open if name.endswith(".gz") else open
        try:
            with opener(path, "rt", encoding="utf-8-sig", errors="replace", newline="") as handle:
                return next(csv.reader(handle), [])
        except csv.Error:  # pandas words what the csv module refuses
            return list(pd.read_csv(path, nrows=0, encoding="utf-8-sig", encoding_errors="replace").columns)
    return []


def _read_raw(path: Path, table: str, columns: set[str] | None, part: bool = False) -> pd.DataFrame:
    """Read ``path`` into a frame with schema column names, restricted to ``columns`` if given.

    ``part``: the file is one part of a table folder, where ``.json`` may be JSON lines."""
    name = path.name
    usecols = None
    try:
        if columns is not None:
            raw_names = _header(path)
            if raw_names:
                usecols = [c for c in raw_names if normalise_column_name(c, table) in columns]
        if name.endswith(".parquet"):
            frame = pd.read_parquet(path, columns=usecols)
        elif name.endswith((".csv", ".csv.gz")):
            frame = _read_csv(path, usecols)
        elif name.endswith(".jsonl"):
            frame = _read_json(path, lines=True, table=table)
        else:
            frame = _read_json(path, lines=part and is_json_lines(path), table=table)
    except BadInputError:
        raise
    except pd.errors.EmptyDataError:
        frame = pd.DataFrame()
    except (OSError, EOFError, ValueError, pd.errors.ParserError) as exc:
        detail = " ".join(str(exc).split())[:200]
        raise BadInputError(f"{path}: cannot be read ({type(exc).__name__}: {detail})") from None
    except Exception as exc:  # pyarrow raises its own types for corrupt parquet files
        detail = " ".join(str(exc).split())[:200]
        raise BadInputError(f"{path}: cannot be read ({type(exc).__name__}: {detail})") from None

    renamed = [normalise_column_name(c, table) for c in frame.columns]
    duplicates = sorted({c for c in renamed if renamed.count(c) > 1})
    if duplicates:
        raise BadInputError(
            f"{path}: column {duplicates[0]} appears more than once (after removing export suffixes)"
        )
    frame.columns = renamed
    if columns is not None:
        frame = frame[[c for c in frame.columns if c in columns]]
    return frame



# --------------------------------------------------------------------------------------------
# The public entry points


def load_table(
    path: str | Path,
    table: str,
    columns: Iterable[str] | None = None,
    date_order: str = "auto",
) -> pd.DataFrame:
    """Load one table file (or a table folder's parts), typed by the schema, checked for its
    required columns.

    ``columns`` limits reading to those columns (the hunt needs few of the 30-70 a table has);
    any of them the file lacks is filled as Kusto's ``union`` fills it.
    """
    path = Path(path)
    if date_order not in DATE_ORDERS:
        raise BadInputError(f"date order {date_order!r} is not one of {', '.join(DATE_ORDERS)}")
    load = _load_folder if path.is_dir() else _load_file
    return load(path, table, columns, date_order)


def _read_checked(path: Path, table: str, columns: Iterable[str] | None, part: bool = False) -> pd.DataFrame:
    """A file's columns as read (not yet typed), with the required ones present."""
    wanted = None if columns is None else set(columns) | set(required_columns(table))
    frame = _read_raw(path, table, wanted, part)
    if frame.columns.empty:
        raise BadInputError(f"{path}: the file is empty (no header row)")
    missing = [c for c in required_columns(table) if c not in frame.columns]
    if missing:
        # Suggest from every column the file has, not only the ones that were read.
        try:
            present = [normalise_column_name(c, table) for c in _header(path)] or list(frame.columns)
        except Exception:  # the header was readable a moment ago; a suggestion is optional
            present = list(frame.columns)
        close = difflib.get_close_matches(missing[0], present, n=1, cutoff=0.8)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise BadInputError(f"{path}: column {missing[0]}: required column is missing{hint}")
    return frame.reset_index(drop=True)


def _load_file(path: Path, table: str, columns: Iterable[str] | None, date_order: str) -> pd.DataFrame:
    frame = apply_schema(_read_checked(path, table, columns), table, path, date_order)
    return frame if columns is None else ensure_columns(frame, table, columns)


def _load_folder(folder: Path, table: str, columns: Iterable[str] | None, date_order: str) -> pd.DataFrame:
    """A table kept as a folder: each part read as a file of its own (so a reading error names
    the part and its row), the parts stacked, and then typed at once, with a message about a
    value naming its part and row there (``coerce.Parts``). Typing once keeps a folder of
    thousands of hourly blobs about as fast as one file. Hive partition keys in the folder names
    (``d=2026-11-01``) are not Defender columns and are not added; a column some parts lack is
    empty in their rows, as ``union`` fills it."""
    paths = table_parts(folder)
    frames = [_read_checked(part, table, columns, part=True)
              for part in progress(paths, f"reading {table}", unit="file")]
    starts = tuple(accumulate([0] + [len(frame) for frame in frames[:-1]]))
    stacked = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    del frames
    frame = apply_schema(stacked, table, folder, date_order, Parts(tuple(paths), starts))
    return frame if columns is None else ensure_columns(frame, table, columns)


def empty_table(table: str, columns: Iterable[str]) -> pd.DataFrame:
    """A table with no rows and the given columns, typed by the schema."""
    return pd.DataFrame({c: empty_column(table, c, 0) for c in columns})


def load_data_folder(
    data_dir: str | Path,
    columns: Mapping[str, Iterable[str]] | None = None,
    date_order: str = "auto",
) -> DataFolder:
    """Load every table of a data folder.

    ``DeviceProcessEvents`` is required; any other absent table counts as empty, with a
    warning that names it. ``columns`` maps a table to the columns to read (all when omitted).
    """
    data_dir = Path(data_dir)
    files = find_table_files(data_dir)
    if PROCESS_TABLE not in files:
        raise BadInputError(
            f"{data_dir}: no {PROCESS_TABLE} file (.csv, .csv.gz, .parquet, .json or .jsonl)"
            + suggest_file(PROCESS_TABLE, data_dir)
        )
    tables: dict[str, pd.DataFrame] = {}
    absent = []
    for table in TABLES:
        wanted = None if columns is None else list(columns.get(table, []))
        if table in files:
            tables[table] = load_table(files[table], table, wanted, date_order)
        else:
            absent.append(table)
            tables[table] = empty_table(table, wanted if wanted is not None else required_columns(table))
    warn_absent_tables(data_dir, absent)
    return DataFolder(tables=tables, files=files)


def warn_absent_tables(data_dir: Path, absent: list[str]) -> None:
    """One warning naming the tables a folder lacks (each counts as empty), with likely misspellings."""
    if absent:
        named = [table + suggest_file(table, data_dir) for table in absent]
        _warn(f"{data_dir.name}: no file for {', '.join(named)}; each counts as empty")
