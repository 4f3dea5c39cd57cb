"""The reference side of ``make bench``: the published KQL, unmodified, run by duckdb-kql.

DuckDB scans the parquet files itself, through one view per table (over a glob for a table kept
as a folder of parts), so the comparison is with a columnar engine reading the same files the
kit reads. Writes the result as JSON (as the kit's
``hunt --output`` does) to the second argument, or prints its row count.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import duckdb_kql

TABLES = ["DeviceProcessEvents", "DeviceNetworkEvents", "DeviceFileEvents", "DeviceRegistryEvents",
          "DeviceLogonEvents", "DeviceImageLoadEvents", "DeviceEvents"]


def main(data_dir: str, output: str | None = None) -> None:
    query_file = Path(__file__).resolve().parents[1] / "hunting_lib" / "queries" / "rare_sch_task_with_activity.yaml"
    import yaml

    seed = yaml.safe_load(query_file.read_text(encoding="utf-8"))
    con = duckdb_kql.connect()
    for table in TABLES:
        # A table kept as a folder of parts (daily hive folders) is one view over a glob; the
        # folder names' keys are not columns, as in the kit.
        folder = Path(data_dir) / table
        glob = folder / "**" / "*.parquet" if folder.is_dir() else Path(data_dir) / f"{table}.parquet"
        path = glob.as_posix().replace("'", "''")
        con.execute(f"CREATE VIEW \"{table}\" AS SELECT * FROM read_parquet('{path}', hive_partitioning = false)")
    result = duckdb_kql.kql(con, seed["query"])
    names = [d[0] for d in result.description]
    rows = [dict(zip(names, values)) for values in result.fetchall()]
    if output is None:
        print(len(rows))
    else:
        Path(output).write_text(json.dumps(rows, default=str), encoding="utf-8")


if __name__ == "__main__":
    main(*sys.argv[1:3])
