"""From the data set to files: time-sorted tables with ReportIds, written as gzip CSV or parquet.

Why this module exists: it turns the process list and the event pieces into each table's columns
(the ``Initiating*`` columns looked up in the process list), in time order, and writes them in the
advanced-hunting export format, byte-reproducibly (fixed gzip header) and in chunks.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pandas.api.types import union_categoricals

from hunting_lib.sample.common import DAY, NAT, NULL, SEC, as_cat, take_cat, take_int
from hunting_lib.sample.data import CREATED, INITIATING, INITIATING_PARENT, P_STR, SampleData, column_type
from hunting_lib.schema import PROCESS_TABLE, required_columns, table_columns

# --------------------------------------------------------------------------------------------
# Columns written per table: a realistic subset of the schema, in schema order.
# --------------------------------------------------------------------------------------------

_COMMON = [
    "Timestamp", "DeviceId", "DeviceName", "ActionType", "ReportId",
    "InitiatingProcessAccountDomain", "InitiatingProcessAccountName", "InitiatingProcessAccountSid",
    "InitiatingProcessIntegrityLevel", "InitiatingProcessSHA1", "InitiatingProcessSHA256",
    "InitiatingProcessFileName", "InitiatingProcessVersionInfoCompanyName", "InitiatingProcessId",
    "InitiatingProcessCommandLine", "InitiatingProcessCreationTime", "InitiatingProcessFolderPath",
    "InitiatingProcessParentId", "InitiatingProcessParentFileName",
    "InitiatingProcessParentCreationTime",
]
_EXTRA = {
    "DeviceProcessEvents": [
        "FileName", "FolderPath", "SHA1", "SHA256", "ProcessVersionInfoCompanyName", "ProcessId",
        "ProcessCommandLine", "ProcessIntegrityLevel", "ProcessCreationTime", "AccountDomain",
        "AccountName", "AccountSid",
    ],
    "DeviceNetworkEvents": [
        "RemoteIP", "RemotePort", "RemoteUrl", "LocalIP", "LocalPort", "Protocol", "LocalIPType",
        "RemoteIPType",
    ],
    "DeviceFileEvents": [
        "FileName", "FolderPath", "SHA256", "FileSize", "FileOriginUrl", "PreviousFileName",
        "RequestProtocol", "RequestSourceIP", "RequestAccountName",
    ],
    "DeviceRegistryEvents": [
        "RegistryKey", "RegistryValueType", "RegistryValueName", "RegistryValueData",
    ],
    "DeviceLogonEvents": [
        "LogonType", "AccountDomain", "AccountName", "AccountSid", "Protocol", "FailureReason",
        "LogonId", "RemoteDeviceName", "RemoteIP", "RemoteIPType", "RemotePort", "AdditionalFields",
    ],
    "DeviceImageLoadEvents": ["FileName", "FolderPath", "SHA1", "SHA256"],
    "DeviceEvents": [
        "FileName", "FolderPath", "RemoteUrl", "ProcessId", "ProcessCommandLine", "AdditionalFields",
    ],
}


def _columns(table: str) -> list[str]:
    """The columns written for ``table``, in the schema's order."""
    wanted = set(_COMMON) | set(_EXTRA[table])
    cols = [c for c in table_columns(table) if c in wanted]
    missing = set(required_columns(table)) - set(cols)
    assert not missing, f"{table} misses required columns {missing}"
    return cols



def iso7(ns: np.ndarray) -> np.ndarray:
    """Advanced-hunting timestamps: ``2026-11-02T03:04:05.1234567Z``; "" for null."""
    ns = np.asarray(ns, dtype=np.int64)
    null = ns == NAT
    safe = np.where(null, 0, ns)
    seconds = np.datetime_as_string(safe.astype("M8[ns]").astype("M8[s]"), unit="s").astype(object)
    ticks = (safe % SEC) // 100
    frac = pd.Series(ticks).astype(str).str.zfill(7).to_numpy(dtype=object)
    out = seconds + "." + frac + "Z"
    out[null] = ""
    return out


# --------------------------------------------------------------------------------------------
# From pieces to sorted tables, and to files.
# --------------------------------------------------------------------------------------------


def _rows_piece(table: str, rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The row-by-row scenario events of one table as a piece."""
    if not rows:
        return None
    frame = pd.DataFrame(rows)
    piece: dict[str, Any] = {}
    for col in frame.columns:
        if col in ("_proc", "_rel", "Timestamp") or column_type(table, col) in ("long", "int"):
            piece[col] = frame[col].fillna(NULL).to_numpy(np.int64)
        else:
            piece[col] = pd.Categorical(frame[col].fillna("").to_numpy(object))
    return piece


def _concat(pieces: list[dict[str, Any]], col: str, kind: str) -> Any:
    """One column over all pieces; a piece without it gets "" / null."""
    parts = []
    for p in pieces:
        n = len(p["_proc"])
        value = p.get(col)
        if kind == "str":
            parts.append(as_cat(value if value is not None else "", n))
        else:
            fill = NAT if kind == "time" else NULL
            parts.append(np.full(n, fill, np.int64) if value is None else np.asarray(value, np.int64))
    return union_categoricals(parts) if kind == "str" else np.concatenate(parts)


def _kind(table: str, col: str) -> str:
    t = column_type(table, col)
    return "time" if t == "datetime" else "int" if t in ("long", "int") else "str"


def build_table(data: SampleData, table: str, first_report_id: int) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """A table's columns sorted by time, with ReportIds; plus each row's scenario and relation."""
    pieces = list(data.pieces[table])
    scenario_rows = _rows_piece(table, data.rows[table])
    if scenario_rows is not None:
        pieces.append(scenario_rows)
    data.pieces[table] = []
    ts = np.concatenate([p["Timestamp"] for p in pieces])
    order = np.argsort(ts, kind="stable")
    proc = np.concatenate([p["_proc"] for p in pieces])[order]
    rel = _concat(pieces, "_rel", "int")[order]
    P = data.P
    actor = P["parent"][proc] if table == PROCESS_TABLE else proc
    actor_parent = np.where(actor >= 0, P["parent"][np.maximum(actor, 0)], -1)

    def from_procs(col: str, idx: np.ndarray) -> Any:
        if col in P_STR:
            return take_cat(P[col], idx)
        return take_int(P[col], idx, NAT if col == "created" else NULL)

    out: dict[str, Any] = {}
    device = P["device"][proc]
    for col in _columns(table):
        if col == "Timestamp":
            out[col] = ts[order]
        elif col == "ReportId":
            out[col] = first_report_id + np.arange(len(ts), dtype=np.int64)
        elif col == "DeviceName":
            out[col] = pd.Categorical.from_codes(device, categories=data.fleet.names)
        elif col == "DeviceId":
            out[col] = pd.Categorical.from_codes(device, categories=data.fleet.ids)
        elif col in INITIATING:
            out[col] = from_procs(INITIATING[col], actor)
        elif col in INITIATING_PARENT:
            out[col] = from_procs(INITIATING_PARENT[col], actor_parent)
        elif table == PROCESS_TABLE and col in CREATED:
            out[col] = from_procs(CREATED[col], proc)
        else:
            values = _concat(pieces, col, _kind(table, col))
            out[col] = values.take(order) if isinstance(values, pd.Categorical) else values[order]
    return out, P["scn"][proc], rel


_CHUNK = 1_000_000  # rows per CSV chunk / parquet row group


def write_csv(path: Path, table: str, cols: dict[str, Any], n: int) -> None:
    """Gzip-compressed CSV, byte-reproducible: fixed name and mtime 0 in the gzip header."""
    with open(path, "wb") as raw, gzip.GzipFile(filename=path.name, mode="wb", fileobj=raw, mtime=0,
                                                 compresslevel=9) as gz:
        for start in range(0, max(n, 1), _CHUNK):
            stop = min(n, start + _CHUNK)
            frame = {}
            for col, values in cols.items():
                part = values[start:stop]
                kind = _kind(table, col)
                if kind == "time":
                    frame[col] = iso7(part)
                elif kind == "int":
                    frame[col] = pd.arrays.IntegerArray(part, mask=part == NULL)
                else:
                    frame[col] = part
            text = pd.DataFrame(frame).to_csv(index=False, header=start == 0, lineterminator="\n")
            gz.write(text.encode("utf-8"))


_ARROW_TYPES = {"time": pa.timestamp("ns", tz="UTC"), "int": pa.int64(), "str": pa.string()}


def write_parquet(path: Path, table: str, cols: dict[str, Any], n: int) -> None:
    """Parquet with Defender types: timestamp[ns, UTC], nullable int64, strings; in row groups."""
    schema = pa.schema([(c, _ARROW_TYPES[_kind(table, c)]) for c in cols])
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for start in range(0, max(n, 1), _CHUNK):
            stop = min(n, start + _CHUNK)
            arrays = []
            for col, values in cols.items():
                part = values[start:stop]
                kind = _kind(table, col)
                if kind == "str":
                    dictionary = pa.array(np.asarray(part.categories, dtype=object), type=pa.string())
                    arrays.append(pa.DictionaryArray.from_arrays(pa.array(part.codes.astype(np.int32)), dictionary)
                                  .cast(pa.string()))
                else:
                    null = part == (NAT if kind == "time" else NULL)
                    arrays.append(pa.array(part, type=pa.int64(), mask=null).cast(_ARROW_TYPES[kind]))
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))


def write_days(folder: Path, table: str, cols: dict[str, Any], n: int, fmt: str, part: str) -> None:
    """A table's rows (sorted by time) as daily parts: ``folder/d=YYYY-MM-DD/<part>.parquet``
    (or ``.csv.gz``), the hive layout an export pipeline writes. A day without rows gets no part."""
    days = cols["Timestamp"] // DAY  # days since the epoch; the rows are in time order
    bounds = np.flatnonzero(np.diff(days)) + 1
    for start, stop in zip(np.concatenate([[0], bounds]), np.concatenate([bounds, [n]])):
        if stop <= start:
            continue
        day = np.datetime64(int(days[start]), "D")
        target = folder / f"d={day}"
        target.mkdir(parents=True, exist_ok=True)
        piece = {col: values[start:stop] for col, values in cols.items()}
        if fmt == "csv":
            write_csv(target / f"{part}.csv.gz", table, piece, int(stop - start))
        else:
            write_parquet(target / f"{part}.parquet", table, piece, int(stop - start))
