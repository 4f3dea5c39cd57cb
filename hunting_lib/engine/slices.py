"""The rows a hunt's findings need, read after the hunt from the parquet files it scanned.

The parquet scan (``scan``) keeps only the rows the hunt itself uses, so its result has no
tables to pivot on (``HuntResult.data is None``). Loading every table again for five findings is
what made the notebook report cost seconds and gigabytes per ten million events. A pivot needs
much less, and ``FindingSlices`` reads just that, lazily with polars (filters pushed into the
parquet reader), typed by the loader's ``apply_schema``, and once per result:

- process trees (``tables``): the tree's keys (ids and times) of every process event of the
  devices the rare groups launched on (a tree is keyed by device, process id and creation time,
  so it never leaves its device); the trees built from them name their process ids. Then every
  column of only the rows of those devices whose own or initiating process id is one of those:
  ``correlate.process_activity_rows`` over these tables gives exactly what it gives over the
  whole folder, because it only ever joins on those ids (no time cut is made, so resolving an id
  to its start sees every start of that id the device has).
- one device's network events (``device_network``) and the fleet's contacts of a few indicators
  (``indicator_contacts``): rows filtered in the reader to a superset (the exact tests, such as
  lower-casing a URL's host, then run in pandas on the few rows read).

A table that is not parquet (a csv or json folder: small data, which the hunt loads whole anyway)
is read with the general loader (``loader.load_table``) and filtered in pandas.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import pandas as pd

from hunting_lib.engine.columns import hunt_columns
from hunting_lib.engine.correlate import attribute_launches, task_process_tree
from hunting_lib.engine.files import normalise_column_name, parquet_parts
from hunting_lib.engine.loader import apply_schema, empty_table, ensure_columns, load_table
from hunting_lib.schema import PROCESS_TABLE, TABLES

NETWORK_TABLE = "DeviceNetworkEvents"
#: What ``correlate.task_process_tree`` reads of the process table: ids and times.
TREE_KEY_COLUMNS = ["DeviceName", "ProcessId", "ProcessCreationTime", "Timestamp", "InitiatingProcessId",
                    "InitiatingProcessCreationTime"]
#: What fleet prevalence reads of a contact: who, with which process, to where.
CONTACT_COLUMNS = ["DeviceName", "InitiatingProcessFileName", "RemoteIP", "RemoteUrl"]


def _nullable_integers(dtype: Any) -> Any:
    """Arrow integers become pandas' Int64 (as the scan hands them over), never float64."""
    import pyarrow as pa

    return pd.Int64Dtype() if pa.types.is_integer(dtype) else None


@dataclass
class FindingSlices:
    """Reads what a scanned hunt's pivots need, from its tables' files (``HuntResult.sources``).

    ``rows_read`` counts, per table and read (``tree_keys``, ``process_trees``, ``device_network``,
    ``indicator_contacts``), the rows read into pandas; ``devices_read`` names the devices whose
    process trees were read. Both exist so tests (and the curious) can see how little was read.
    """

    files: Mapping[str, str | Path]
    rows_read: dict[str, int] = field(default_factory=dict)
    devices_read: set[str] = field(default_factory=set)
    _trees: dict[str, pd.DataFrame] | None = field(default=None, repr=False)
    #: The contacts read so far, and the addresses and hosts they cover.
    _contacts: tuple[frozenset, frozenset, pd.DataFrame] | None = field(default=None, repr=False)

    # ----------------------------------------------------------------------------------------
    # Reading one table: parquet lazily with polars, anything else through the loader

    def _read(self, table: str, columns: list[str], where: Any, pandas_where: Any, label: str,
              distinct: bool = False) -> pd.DataFrame:
        """The rows of ``table`` that pass ``where(pl, present_columns)`` (a polars expression, or
        None for no filter) typed as the loader types them, with ``columns`` (absent ones filled as
        ``union`` fills them). ``pandas_where(frame)`` is the same filter for tables the loader
        reads whole (csv, json). ``distinct`` keeps each distinct row once (read for counting)."""
        path = self.files.get(table)
        if path is None:
            rows = empty_table(table, columns)
        else:
            parts = parquet_parts(Path(path))
            if parts is None:
                # Not parquet: small data the hunt loaded whole too; read it whole, filter here.
                frame = load_table(path, table, columns)
                rows = frame.loc[pandas_where(frame), columns].reset_index(drop=True)
                rows = rows.drop_duplicates(ignore_index=True) if distinct else rows
            else:
                rows = self._read_parquet(table, parts, columns, where, Path(path), distinct)
        self.rows_read[f"{label}:{table}"] = self.rows_read.get(f"{label}:{table}", 0) + len(rows)
        return rows

    @staticmethod
    def _read_parquet(table: str, parts: list[Path], columns: list[str], where: Any, path: Path,
                      distinct: bool) -> pd.DataFrame:
        import polars as pl

        plans = []
        for part in parts:
            frame = pl.scan_parquet(part, hive_partitioning=False)  # a folder name is no column
            schema = frame.collect_schema()
            renamed = {raw: normalise_column_name(raw, table) for raw in schema.names()}
            frame = frame.rename({raw: new for raw, new in renamed.items() if raw != new})
            present = {new: schema[raw] for raw, new in renamed.items() if new in columns}
            condition = where(pl, present) if where is not None else None
            if condition is not None:
                frame = frame.filter(condition)
            frame = frame.select(list(present))
            plans.append(frame.unique() if distinct else frame)
        collected = [f for f in pl.collect_all(plans) if f.width]
        if not collected:
            return empty_table(table, columns)
        rows = pl.concat(collected, how="diagonal_relaxed")
        arrow = (rows.unique() if distinct and len(collected) > 1 else rows).to_arrow()
        frame = arrow.to_pandas(types_mapper=_nullable_integers)
        return ensure_columns(apply_schema(frame, table, path), table, columns)[columns]

    def read_rows(self, table: str, columns: list[str], where: Any, pandas_where: Any, label: str) -> pd.DataFrame:
        """The rows of ``table`` that pass ``where(pl, present)`` (parquet, in the reader) or
        ``pandas_where(frame)`` (other formats), typed as the loader types them."""
        return self._read(table, columns, where, pandas_where, label)

    # ----------------------------------------------------------------------------------------
    # What the pivots ask for

    def tables(self, task_starts: pd.DataFrame, rare_tasks: pd.DataFrame) -> dict[str, pd.DataFrame]:
        """Tables on which ``correlate.process_activity_rows(tables, task_starts, rare_tasks, ...)``
        equals the whole folder's answer: the events of the rare groups' devices whose initiating
        process id (or, for process events, own id) is in a task's tree. Read once; later calls
        reuse it."""
        if self._trees is not None:
            return self._trees
        roots = attribute_launches(task_starts, rare_tasks)
        devices = sorted(set(roots["DeviceName"].fillna("").astype(str)))
        self.devices_read = set(devices)
        columns = hunt_columns()
        keys = self._read(PROCESS_TABLE, TREE_KEY_COLUMNS, _on_devices(devices, None),
                          _pandas_on_devices(devices, None), "tree_keys")
        tree = task_process_tree(keys, task_starts, rare_tasks)
        del keys
        process_ids = sorted({int(p) for p in tree["ProcessId"].dropna()})
        tables = {}
        for table in TABLES:
            if not process_ids or table not in self.files:
                tables[table] = empty_table(table, columns[table])
                continue
            tables[table] = self._read(table, columns[table], _on_devices(devices, process_ids),
                                       _pandas_on_devices(devices, process_ids), "process_trees")
        self._trees = tables
        return tables

    def device_network(self, device: str, columns: list[str]) -> pd.DataFrame:
        """Every network event of one device (``DeviceName``, exact), any time; the caller cuts
        the window with ``rarity.window_mask`` as it does on loaded tables."""
        return self._read(NETWORK_TABLE, columns, _on_devices([device], None), _pandas_on_devices([device], None),
                          "device_network")

    def indicator_contacts(self, ips: Iterable[str], hosts: Iterable[str]) -> pd.DataFrame:
        """The network events that may contact one of ``ips`` (RemoteIP) or ``hosts`` (the host of
        RemoteUrl, or RemoteIP): a superset, tested exactly by the caller. Columns:
        ``CONTACT_COLUMNS``, each distinct row once. Rows read for a wider request are reused for
        any narrower one."""
        ips, hosts = frozenset(ips), frozenset(hosts)
        if self._contacts is not None and ips <= self._contacts[0] and hosts <= self._contacts[1]:
            return self._contacts[2]
        addresses = sorted(set(ips) | set(hosts))
        names = sorted(h for h in set(hosts) if h)

        def where(pl: Any, present: dict[str, Any]) -> Any:
            condition = pl.lit(False)
            if "RemoteIP" in present and addresses:
                condition |= pl.col("RemoteIP").cast(pl.String).is_in(addresses)
            if "RemoteUrl" in present and names:
                url = pl.col("RemoteUrl").cast(pl.String)
                # A host is a substring of its URL: ASCII case folds itself; any other URL is kept
                # for pandas' own lower case to judge.
                condition |= (url.str.contains_any(names, ascii_case_insensitive=True)
                              | (url.str.len_bytes() != url.str.len_chars()))
            return condition

        def pandas_where(frame: pd.DataFrame) -> pd.Series:
            return pd.Series(True, index=frame.index)  # loaded whole anyway: the caller tests exactly

        # Distinct (device, process, address, URL) rows: what devices and processes count needs,
        # a small part of the contacts when a popular address is among the indicators.
        contacts = self._read(NETWORK_TABLE, CONTACT_COLUMNS, where, pandas_where, "indicator_contacts", distinct=True)
        self._contacts = (ips, hosts, contacts)
        return contacts


def _on_devices(devices: list[str], process_ids: list[int] | None) -> Any:
    """A polars filter: rows of ``devices`` (a missing name is ""), and when ``process_ids`` is
    given, with one of them as the initiating process id (or the process's own id, in a table
    that has ProcessId)."""
    def where(pl: Any, present: dict[str, Any]) -> Any:
        if "DeviceName" not in present:
            return pl.lit("" in devices)
        name = pl.col("DeviceName").cast(pl.String)
        condition = name.is_in(devices)
        if "" in devices:
            condition |= name.is_null()
        if process_ids is not None:
            if "InitiatingProcessId" not in present:
                return pl.lit(False)
            ids = [column for column in ("InitiatingProcessId", "ProcessId") if column in present]
            if all(present[column].is_integer() for column in ids):
                named = pl.lit(False)
                for column in ids:
                    named |= pl.col(column).is_in(process_ids)
                condition &= named
            # ids stored otherwise: the device filter alone (a superset) and pandas decides
        return condition
    return where


def _pandas_on_devices(devices: list[str], process_ids: list[int] | None) -> Any:
    def where(frame: pd.DataFrame) -> pd.Series:
        keep = frame["DeviceName"].isin(devices)
        if process_ids is not None:
            named = frame["InitiatingProcessId"].isin(process_ids)
            if "ProcessId" in frame:
                named |= frame["ProcessId"].isin(process_ids)
            keep &= named
        return keep
    return where
