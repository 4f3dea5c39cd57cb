"""``load_for_hunt``: the tables one hunt needs, through the parquet scan when it applies.

The scan (``engine.scan``, in polars) keeps only the rows the hunt can use; this module types
them like the general loader does and says which reader ran. When the scan does not apply, or
fails, the general loader (``engine.loader``) reads the whole folder, and the folder's
``reader`` records why, so the JSON's ``parameters`` shows a slow path taken by surprise.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hunting_lib.engine.scan import _ROW, NotApplicable, ScanRequest, ScanResult, scan_parquet_folder
from hunting_lib.errors import BadInputError, DataWarning
from hunting_lib.schema import TABLES, column_type

if TYPE_CHECKING:
    from hunting_lib.engine.early_scan import EarlyScan
    from hunting_lib.engine.loader import DataFolder
    from hunting_lib.params import HuntParams


def _type_ok(dtype: Any, kind: str | None) -> bool:
    """An Arrow column type the loader takes as it is: nothing to coerce, so nothing to report
    (the loader's counts of coerced values must cover every row of the file)."""
    import pyarrow as pa

    if pa.types.is_dictionary(dtype):
        dtype = dtype.value_type
    if pa.types.is_null(dtype):
        return True
    if kind in ("string", "dynamic"):
        return pa.types.is_string(dtype) or pa.types.is_large_string(dtype) or pa.types.is_string_view(dtype)
    if kind in ("long", "int"):
        return pa.types.is_integer(dtype)
    if kind == "datetime":
        return pa.types.is_timestamp(dtype)
    if kind == "bool":
        return pa.types.is_boolean(dtype)
    return True


def _nullable_integers(dtype: Any) -> Any:
    import pandas as pd
    import pyarrow as pa

    return pd.Int64Dtype() if pa.types.is_integer(dtype) else None


def to_folder(scanned: ScanResult, data_dir: Path, columns: dict[str, list[str]]) -> DataFolder:
    """The scanned rows as the loader's typed tables, restricted to ``columns``."""
    from hunting_lib.engine.loader import DataFolder, apply_schema, empty_table, ensure_columns, warn_absent_tables

    scanned = scanned.as_arrow()
    tables, absent = {}, []
    for table in TABLES:
        if table not in scanned.rows:
            absent.append(table)
            tables[table] = empty_table(table, columns[table])
            continue
        rows = scanned.rows[table]
        wanted = [c for c in columns[table] if c in rows.column_names]
        for column in wanted:
            if not _type_ok(rows.schema.field(column).type, column_type(table, column)):
                raise NotApplicable(f"{table}: {column} needs coercion")
        # Integers become Int64, not float64 (pandas' default when a column has nulls), which
        # would round ids above 2**53 and send every value through the text path.
        frame = rows.select([_ROW] + wanted).to_pandas(types_mapper=_nullable_integers)
        frame.index = frame.pop(_ROW).to_numpy()  # the file's row numbers, for any message
        tables[table] = ensure_columns(apply_schema(frame, table, scanned.files[table]), table, columns[table])
    warn_absent_tables(data_dir, absent)
    return DataFolder(tables=tables, files=scanned.files, complete=False, fleet=_fleet(scanned.fleet),
                      reader={"reader": "scan"})


def _fleet(values: dict[str, Any]) -> Any:
    """The scan's baseline numbers as a ``fleet.FleetContext``."""
    import pandas as pd

    from hunting_lib.engine.fleet import GROUP_COUNT_COLUMNS, FleetContext

    counts = pd.DataFrame(values.get("group_counts") or {c: [] for c in GROUP_COUNT_COLUMNS})
    for column in ("FirstSeen", "LastSeen"):
        counts[column] = pd.to_datetime(counts[column], unit="ns", utc=True)
    counts = counts[GROUP_COUNT_COLUMNS].sort_values(["Count", "FileName", "ProcessCommandLine"], kind="stable",
                                                     ignore_index=True)
    return FleetContext(int(values.get("devices", 0)),
                        pd.Series(values.get("task_devices", {}), dtype="int64"),
                        pd.Series(values.get("ip_devices", {}), dtype="int64"),
                        int(values.get("aggregated_reports", 0)),
                        pd.Series(values.get("program_devices", {}), dtype="int64"), counts,
                        pd.DataFrame(values.get("scheduler_groups") or {c: [] for c in GROUP_COUNT_COLUMNS[:3]}))


def load_for_hunt(data_dir: str | Path, params: HuntParams, columns: dict[str, list[str]],
                  date_order: str = "auto", early: EarlyScan | None = None) -> DataFolder:
    """The tables ``run_hunt`` needs for ``params``: only the rows it can use when possible.

    The folder has ``complete=False`` when rows were left out; pivots that walk process trees
    need ``loader.load_data_folder`` instead. Its ``reader`` says which reader ran and, when the
    scan stepped aside, why: a folder it does not apply to silently (csv files, ``--match
    process``), a failure of the scan itself with a warning, so that a broken fast path is seen.
    """
    from hunting_lib.engine.loader import load_data_folder

    data_dir = Path(data_dir)
    if params.match != "seed":
        reason = "--match process walks process trees through rows no filter names"
    else:
        request = ScanRequest.from_params(params)
        try:
            scanned = early.result(data_dir, request) if early is not None else None
            if scanned is None:
                scanned = scan_parquet_folder(data_dir, request)
            return to_folder(scanned, data_dir, columns)
        except (NotApplicable, BadInputError) as why:  # the full loader words bad input
            reason = str(why)
        except Exception as error:  # a bug in the scan: say so, and read the folder the slow way
            if os.environ.get("HUNTING_LIB_DEBUG"):
                raise
            reason = f"the scan failed: {type(error).__name__}: {' '.join(str(error).split())[:200]}"
            warnings.warn(f"{data_dir}: {reason}; reading the whole folder instead (slower)",
                          DataWarning, stacklevel=2)
    folder = load_data_folder(data_dir, columns=columns, date_order=date_order)
    folder.reader = {"reader": "full", "fallback": reason}
    return folder
