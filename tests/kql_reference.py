"""Run KQL over a data folder with duckdb_kql, an engine independent of the kit.

Tests use it as the reference: whatever the kit computes about the published hunt can be checked
against the published KQL text run here, unmodified.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import duckdb_kql
import pandas as pd

from hunting_lib.engine.loader import ensure_columns
from hunting_lib.schema import TABLES, table_columns

#: DuckDB types of the Defender types. Times are TIMESTAMP_NS in UTC: TIMESTAMPTZ keeps only
#: microseconds, and advanced-hunting times have 100 ns digits that process keys depend on.
_DUCKDB_TYPES = {"string": "VARCHAR", "dynamic": "VARCHAR", "long": "BIGINT", "int": "BIGINT",
                 "datetime": "TIMESTAMP_NS", "bool": "BOOLEAN"}


def _read_table(data_dir: Path, table: str) -> pd.DataFrame | None:
    """One table with Defender types: strings ("" for missing), Int64 numbers, UTC times; None if absent."""
    for suffix in (".parquet", ".csv.gz", ".csv"):
        path = data_dir / f"{table}{suffix}"
        if path.exists():
            break
    else:
        return None
    if suffix == ".parquet":
        frame = pd.read_parquet(path, dtype_backend="numpy_nullable")
    else:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    types = table_columns(table)
    for col in frame.columns:
        kind = types.get(col, "string")  # columns the schema does not know stay text
        if kind in ("long", "int"):
            frame[col] = pd.to_numeric(frame[col].replace("", pd.NA)).astype("Int64")
        elif kind == "datetime":
            times = pd.to_datetime(frame[col].replace("", pd.NA), utc=True, format="ISO8601")
            frame[col] = times.dt.tz_convert(None)
        else:
            frame[col] = frame[col].fillna("").astype(object)
    return frame


def load_into_duckdb(data_dir: str | Path, full_schema: bool = False) -> duckdb.DuckDBPyConnection:
    """A duckdb_kql connection holding each of the seven tables, all columns, under its own name.

    ``data_dir`` holds ``<Table>.parquet``, ``<Table>.csv.gz`` or ``<Table>.csv`` files. A table
    the folder lacks is created empty with the schema's columns, so the seed's ``union`` still runs.
    With ``full_schema``, every schema column a file lacks is added empty too, as a workspace's
    table always has all its columns (queries that project them then run as they would there).
    """
    con = duckdb_kql.connect()
    for table in TABLES:
        frame = _read_table(Path(data_dir), table)
        if frame is not None and full_schema:
            frame = ensure_columns(frame, table, list(table_columns(table)))
            for column, kind in table_columns(table).items():
                if kind == "datetime" and isinstance(frame[column].dtype, pd.DatetimeTZDtype):
                    frame[column] = frame[column].dt.tz_convert(None)
        if frame is None:
            columns = ", ".join(f'"{c}" {_DUCKDB_TYPES[t]}' for c, t in table_columns(table).items())
            con.execute(f'CREATE TABLE "{table}" ({columns})')
            continue
        con.register("_incoming", frame)
        con.execute(f'CREATE TABLE "{table}" AS SELECT * FROM _incoming')
        con.unregister("_incoming")
    return con


def connect_frames(frames: dict[str, pd.DataFrame]) -> duckdb.DuckDBPyConnection:
    """A duckdb_kql connection holding the given tables (typed as the loader types them), each
    with every schema column, and the tables not given as empty ones."""
    con = duckdb_kql.connect()
    for table in TABLES:
        frame = frames.get(table)
        if frame is None:
            columns = ", ".join(f'"{c}" {_DUCKDB_TYPES[t]}' for c, t in table_columns(table).items())
            con.execute(f'CREATE TABLE "{table}" ({columns})')
            continue
        frame = ensure_columns(frame, table, list(table_columns(table)))
        for column in frame.columns:
            if isinstance(frame[column].dtype, pd.DatetimeTZDtype):
                frame[column] = frame[column].dt.tz_convert(None)
        con.register("_incoming", frame)
        con.execute(f'CREATE TABLE "{table}" AS SELECT * FROM _incoming')
        con.unregister("_incoming")
    return con


def run_kql(con: duckdb.DuckDBPyConnection, text: str) -> pd.DataFrame:
    """The result of a KQL query as a DataFrame."""
    return duckdb_kql.kql(con, text).df()


def rare_groups_query(seed_query: str) -> str:
    """The seed's first step alone: the body of ``materialize(...)`` up to ``count_ < 3``."""
    body = seed_query.split("materialize(", 1)[1]
    cut = body.index("| where count_ < 3") + len("| where count_ < 3")
    return body[:cut]
