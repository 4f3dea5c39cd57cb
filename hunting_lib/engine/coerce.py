"""Giving each column its Defender type: the loader's and the scan's one typing rule.

Every value is read as text (or as the file's own type) first and then typed here from the
schema. A value that cannot be typed is left empty and counted in one ``DataWarning`` per column
(naming the first such row); a required column of which not one value can be read stops the run
with a one-line ``BadInputError``: that is the wrong file, not dirty data. For a table kept as a
folder of parts, ``Parts`` maps a row of the stacked parts back to its part and row there.
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from hunting_lib.errors import BadInputError, DataWarning, describe_value
from hunting_lib.schema import any_column_type, column_type, required_columns

DATE_ORDERS: tuple[str, ...] = ("auto", "dmy", "mdy")

# Log Analytics' display time: 26/03/2026, 15:18:18.983 (seconds and fraction optional).
_SLASH_TIME = re.compile(
    r"^\s*(\d{1,2})/(\d{1,2})/(\d{4}),?\s+(\d{1,2}):(\d{2})(?::(\d{2})(\.\d+)?)?\s*([AaPp][Mm])?\s*$"
)
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


def _warn(message: str) -> None:
    warnings.warn(" ".join(message.split("\n")), DataWarning, stacklevel=3)


@dataclass(frozen=True)
class Parts:
    """The parts of a table folder, stacked in this order: where each stacked row came from."""

    paths: tuple[Path, ...]
    starts: tuple[int, ...]  # the first stacked row of each part

    def locate(self, position: int) -> tuple[Path, int]:
        """The part a stacked row came from, and its position in that part."""
        k = int(np.searchsorted(np.asarray(self.starts), position, side="right")) - 1
        return self.paths[k], position - self.starts[k]




def _as_text(values: pd.Series) -> pd.Series:
    """A string column with "" for missing values; JSON objects and lists become JSON text."""
    if values.dtype == object:
        def to_text(v: object) -> str:
            if isinstance(v, str):
                return v
            if v is None or (isinstance(v, float) and np.isnan(v)):
                return ""
            if isinstance(v, (dict, list)):
                return json.dumps(v, ensure_ascii=False, separators=(",", ":"))  # as Defender writes dynamic
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
                  result: pd.Series, required: bool, parts: Parts | None = None) -> None:
    """Say how many values of a column could not be read as ``expected`` and were left empty.

    A required column with values of which not one can be read is the wrong file (or a wrong
    export), not dirty data: that stops the run. A column with no values at all is not refused
    here; it reads as empty, as it always has.
    """
    if not bad.any():
        return
    position = int(np.flatnonzero(bad)[0])
    value = values.iloc[position]
    # In a table folder, the first such row is named by its part (and the error is the part's).
    where, row = (path, position) if parts is None else parts.locate(position)
    first = f"{'' if parts is None else where.name + ' '}row {row + 1}: " + describe_value(
        value.item() if isinstance(value, np.generic) else value)
    if required and not result.notna().any():
        raise BadInputError(f"{where}: column {column}: not one of its {int(bad.sum())} value(s) can be read as "
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


def _to_datetime(path: Path, column: str, values: pd.Series, date_order: str, required: bool = False,
                 parts: Parts | None = None) -> pd.Series:
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
    _warn_coerced(path, column, values, bad, "times", result, required, parts)
    return result


def _to_integer(path: Path, column: str, values: pd.Series, required: bool = False,
                parts: Parts | None = None) -> pd.Series:
    if pd.api.types.is_integer_dtype(values.dtype):
        return values.astype("Int64")

    def convert(texts: pd.Series) -> pd.Series:
        numbers = pd.to_numeric(texts, errors="coerce")
        whole = numbers.notna() & (numbers == np.floor(numbers)) & (numbers.abs() < 2**63)
        return numbers.where(whole).astype("Float64").astype("Int64")

    if pd.api.types.is_float_dtype(values.dtype):
        values = values.astype("Float64").astype("string")
    result, bad = _by_uniques(values, convert, "Int64")
    _warn_coerced(path, column, values, bad, "whole numbers", result, required, parts)
    return result


def _to_bool(path: Path, column: str, values: pd.Series, required: bool = False,
             parts: Parts | None = None) -> pd.Series:
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.astype("boolean")

    def convert(texts: pd.Series) -> pd.Series:
        lowered = texts.str.lower()
        out = pd.Series(pd.NA, index=texts.index, dtype="boolean")
        out[lowered.isin(_TRUE)] = True
        out[lowered.isin(_FALSE)] = False
        return out

    result, bad = _by_uniques(values, convert, "boolean")
    _warn_coerced(path, column, values, bad, "true/false", result, required, parts)
    return result


def apply_schema(
    frame: pd.DataFrame, table: str, path: Path, date_order: str = "auto", parts: Parts | None = None
) -> pd.DataFrame:
    """Give every known column its Defender type; unknown columns stay as they were read.

    ``parts``: the frame is a table folder's parts stacked (``path`` is the folder), so that a
    message names the part and its row.

    Both readers type their rows here (the general loader and the parquet scan's ``to_folder``),
    so both refuse a required column that has values but not one readable (``_warn_coerced``).
    """
    out = {}
    required = set(required_columns(table))
    for column in frame.columns:
        kind = column_type(table, column)
        values = frame[column]
        if kind == "datetime":
            out[column] = _to_datetime(path, column, values, date_order, column in required, parts)
        elif kind in ("long", "int"):
            out[column] = _to_integer(path, column, values, column in required, parts)
        elif kind == "bool":
            out[column] = _to_bool(path, column, values, column in required, parts)
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


