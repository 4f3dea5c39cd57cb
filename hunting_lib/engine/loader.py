"""Load a data folder: one file per Defender table, as the contract describes it.

A data folder holds ``<Table>.csv``, ``.csv.gz``, ``.parquet``, ``.json`` (an array of objects) or
``.jsonl``. Two export styles must load unedited:

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

import difflib
import gzip
import json
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from hunting_lib.engine.files import find_table_files, normalise_column_name, suggest_file
from hunting_lib.errors import BadInputError, DataWarning, describe_value
from hunting_lib.schema import PROCESS_TABLE, TABLES, any_column_type, column_type, required_columns

DATE_ORDERS: tuple[str, ...] = ("auto", "dmy", "mdy")

# Log Analytics' display time: 26/03/2026, 15:18:18.983 (seconds and fraction optional).
_SLASH_TIME = re.compile(
    r"^\s*(\d{1,2})/(\d{1,2})/(\d{4}),?\s+(\d{1,2}):(\d{2})(?::(\d{2})(\.\d+)?)?\s*([AaPp][Mm])?\s*$"
)
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


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


def _read_json(path: Path, lines: bool) -> pd.DataFrame:
    if lines:
        records = []
        with path.open(encoding="utf-8-sig") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise BadInputError(f"{path}: row {number}: not valid JSON ({exc.msg})") from None
                if not isinstance(record, dict):
                    raise BadInputError(f"{path}: row {number}: expected a JSON object per line")
                records.append(record)
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
        return list(pd.read_csv(path, nrows=0, encoding="utf-8-sig", encoding_errors="replace").columns)
    return []


def _read_raw(path: Path, table: str, columns: set[str] | None) -> pd.DataFrame:
    """Read ``path`` into a frame with schema column names, restricted to ``columns`` if given."""
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
            frame = _read_json(path, lines=True)
        else:
            frame = _read_json(path, lines=False)
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
# Giving each column its Defender type


def _as_text(values: pd.Series) -> pd.Series:
    """A string column with "" for missing values; JSON objects and lists become JSON text."""
    if values.dtype == object:
        def to_text(v: object) -> str:
            if isinstance(v, str):
                return v
            if v is None or (isinstance(v, float) and np.isnan(v)):
                return ""
            if isinstance(v, (dict, list)):
                return json.dumps(v, ensure_ascii=False)
            return str(v)

        # CSV columns are text already (a fast C-level check); JSON and parquet may carry
        # numbers, objects and nulls, which are converted one by one.
        if pd.api.types.infer_dtype(values, skipna=False) in ("string", "empty"):
            return values
        is_str = values.map(type).eq(str)
        out = values.copy()
        out[~is_str] = values[~is_str].map(to_text)
        return out
    text = values.astype("string").fillna("")
    return text.astype(object)


def _warn_coerced(path: Path, column: str, values: pd.Series, bad: np.ndarray, expected: str,
                  result: pd.Series, required: bool) -> None:
    """Say how many values of a column could not be read as ``expected`` and were left empty.

    A required column with values of which not one can be read is the wrong file (or a wrong
    export), not dirty data: that stops the run. A column with no values at all is not refused
    here; it reads as empty, as it always has.
    """
    if not bad.any():
        return
    position = int(np.flatnonzero(bad)[0])
    value = values.iloc[position]
    first = f"row {position + 1}: {describe_value(value.item() if isinstance(value, np.generic) else value)}"
    if required and not result.notna().any():
        raise BadInputError(f"{path}: column {column}: not one of its {int(bad.sum())} value(s) can be read as "
                            f"{expected} (first at {first}); the column is required, so this looks like the "
                            f"wrong file or export")
    _warn(f"{path.name}: column {column}: {int(bad.sum())} value(s) are not {expected} and were left "
          f"empty (first at {first})")


def _parse_slash_times(text: pd.Series, order: str) -> pd.Series:
    parts = text.str.extract(_SLASH_TIME)
    day, month = (parts[0], parts[1]) if order == "dmy" else (parts[1], parts[0])
    hour = parts[3].astype(float)
    meridiem = parts[7].str.upper()
    hour = hour.where(meridiem.isna(), hour % 12 + np.where(meridiem == "PM", 12, 0))
    iso = (
        parts[2] + "-" + month.str.zfill(2) + "-" + day.str.zfill(2) + "T"
        + hour.astype("Int64").astype(str).str.zfill(2) + ":" + parts[4] + ":"
        + parts[5].fillna("00") + parts[6].fillna("")
    )
    return pd.to_datetime(iso, format="ISO8601", utc=True, errors="coerce")


def _slash_order(path: Path, column: str, text: pd.Series, date_order: str) -> str:
    """Decide day-first or month-first for slash-style times, from the data or the option."""
    parts = text.str.extract(_SLASH_TIME)[[0, 1]].dropna().astype(int)
    day_first_only = bool((parts[0] > 12).any())
    month_first_only = bool((parts[1] > 12).any())
    if day_first_only and month_first_only:
        raise BadInputError(
            f"{path}: column {column}: times mix day-first and month-first dates; export again "
            "with one format"
        )
    evidence = "dmy" if day_first_only else "mdy" if month_first_only else None
    if date_order != "auto":
        if evidence is not None and evidence != date_order:
            raise BadInputError(
                f"{path}: column {column}: the data is {evidence} but the date order {date_order} "
                "was asked for"
            )
        return date_order
    if evidence is None:
        raise BadInputError(
            f"{path}: column {column}: dates like {describe_value(text.iloc[0])} could be day-first "
            "or month-first and no value settles it; pass --date-order dmy or mdy"
        )
    return evidence


def _by_uniques(values: pd.Series, convert, dtype: str) -> tuple[pd.Series, np.ndarray]:
    """Convert the distinct non-empty texts of a column once each and map them back to rows.

    Returns the converted column and a mask of rows whose non-empty text did not convert.
    Exports repeat values heavily (process ids, creation times), so this is much faster than
    converting row by row, and it keeps the conversion itself simple.
    """
    codes, uniques = pd.factorize(_as_text(values), sort=False)
    texts = pd.Series(uniques, dtype=object).str.strip()
    converted = convert(texts)
    empty = (texts == "").to_numpy()
    failed = converted.isna().to_numpy() & ~empty
    result = pd.Series(converted.array.take(codes, allow_fill=True), index=values.index).astype(dtype)
    bad = np.where(codes >= 0, failed[codes], False)
    return result, bad


def _to_datetime(path: Path, column: str, values: pd.Series, date_order: str, required: bool = False) -> pd.Series:
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
    if pd.api.types.is_datetime64_dtype(values.dtype):
        return values.dt.tz_localize("UTC").astype("datetime64[ns, UTC]")

    def convert(texts: pd.Series) -> pd.Series:
        parsed = pd.Series(
            pd.to_datetime(texts, format="ISO8601", utc=True, errors="coerce"), index=texts.index
        ).astype("datetime64[ns, UTC]")
        slash = parsed.isna() & texts.str.match(_SLASH_TIME)
        if slash.any():
            order = _slash_order(path, column, texts[slash], date_order)
            parsed[slash] = _parse_slash_times(texts[slash], order)
        return parsed

    result, bad = _by_uniques(values, convert, "datetime64[ns, UTC]")
    _warn_coerced(path, column, values, bad, "times", result, required)
    return result


def _to_integer(path: Path, column: str, values: pd.Series, required: bool = False) -> pd.Series:
    if pd.api.types.is_integer_dtype(values.dtype):
        return values.astype("Int64")

    def convert(texts: pd.Series) -> pd.Series:
        numbers = pd.to_numeric(texts, errors="coerce")
        whole = numbers.notna() & (numbers == np.floor(numbers)) & (numbers.abs() < 2**63)
        return numbers.where(whole).astype("Float64").astype("Int64")

    if pd.api.types.is_float_dtype(values.dtype):
        values = values.astype("Float64").astype("string")
    result, bad = _by_uniques(values, convert, "Int64")
    _warn_coerced(path, column, values, bad, "whole numbers", result, required)
    return result


def _to_bool(path: Path, column: str, values: pd.Series, required: bool = False) -> pd.Series:
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.astype("boolean")

    def convert(texts: pd.Series) -> pd.Series:
        lowered = texts.str.lower()
        out = pd.Series(pd.NA, index=texts.index, dtype="boolean")
        out[lowered.isin(_TRUE)] = True
        out[lowered.isin(_FALSE)] = False
        return out

    result, bad = _by_uniques(values, convert, "boolean")
    _warn_coerced(path, column, values, bad, "true/false", result, required)
    return result


def apply_schema(
    frame: pd.DataFrame, table: str, path: Path, date_order: str = "auto"
) -> pd.DataFrame:
    """Give every known column its Defender type; unknown columns stay as they were read.

    Both readers type their rows here (the general loader and the parquet scan's ``to_folder``),
    so both refuse a required column that has values but not one readable (``_warn_coerced``).
    """
    out = {}
    required = set(required_columns(table))
    for column in frame.columns:
        kind = column_type(table, column)
        values = frame[column]
        if kind == "datetime":
            out[column] = _to_datetime(path, column, values, date_order, column in required)
        elif kind in ("long", "int"):
            out[column] = _to_integer(path, column, values, column in required)
        elif kind == "bool":
            out[column] = _to_bool(path, column, values, column in required)
        elif kind in ("string", "dynamic"):
            out[column] = _as_text(values)
        else:
            out[column] = values
    return pd.DataFrame(out, index=frame.index)


def _empty_values(table: str, column: str, length: int):
    """What Kusto's ``union`` puts in a column a table lacks: "", a null number or a null time."""
    # A column another table has keeps that table's type (RemotePort stays a number when the
    # process table, which lacks it, is stacked with network events).
    kind = column_type(table, column) or any_column_type(column) or "string"
    if kind == "datetime":
        return pd.array(np.full(length, np.datetime64("NaT"), dtype="datetime64[ns]")).tz_localize("UTC")
    if kind in ("long", "int"):
        return pd.arrays.IntegerArray(np.zeros(length, dtype="int64"), np.ones(length, dtype=bool))
    if kind == "bool":
        return pd.arrays.BooleanArray(np.zeros(length, dtype=bool), np.ones(length, dtype=bool))
    return np.full(length, "", dtype=object)


def empty_column(table: str, column: str, length: int, index: pd.Index | None = None) -> pd.Series:
    """A column as ``union`` fills it for a table that lacks it (see ``_empty_values``)."""
    index = pd.RangeIndex(length) if index is None else index
    return pd.Series(_empty_values(table, column, length), index=index)


def ensure_columns(frame: pd.DataFrame, table: str, columns: Iterable[str]) -> pd.DataFrame:
    """Add each missing column of ``columns`` filled as ``union`` fills it."""
    missing = [c for c in columns if c not in frame.columns]
    if not missing:
        return frame
    extra = pd.DataFrame({c: _empty_values(table, c, len(frame)) for c in missing}, index=frame.index)
    return pd.concat([frame, extra], axis=1)


# --------------------------------------------------------------------------------------------
# The public entry points


def load_table(
    path: str | Path,
    table: str,
    columns: Iterable[str] | None = None,
    date_order: str = "auto",
) -> pd.DataFrame:
    """Load one table file, typed by the schema, checked for its required columns.

    ``columns`` limits reading to those columns (the hunt needs few of the 30-70 a table has);
    any of them the file lacks is filled as Kusto's ``union`` fills it.
    """
    path = Path(path)
    if date_order not in DATE_ORDERS:
        raise BadInputError(f"date order {date_order!r} is not one of {', '.join(DATE_ORDERS)}")
    wanted = None if columns is None else set(columns) | set(required_columns(table))
    frame = _read_raw(path, table, wanted)
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
    frame = apply_schema(frame.reset_index(drop=True), table, path, date_order)
    if columns is not None:
        frame = ensure_columns(frame, table, columns)
    return frame


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
