"""The pieces every rendered KQL query is built from: the dialect (time column, table names),
escaped literals and the time-window filter. Values written by attackers only ever reach a query
through ``kql_string``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

import pandas as pd

from hunting_lib.errors import BadInputError
from hunting_lib.params import HuntParams
from hunting_lib.schema import TABLES


@dataclass(frozen=True)
class Dialect:
    """Where the engines differ: the time column and, for ADX copies, the table names."""

    name: str
    time_column: str
    tables: dict[str, str]


def dialect(name: str, table_names: dict[str, str] | None = None) -> Dialect:
    """``defender`` and ``adx`` filter on Timestamp; ``sentinel`` on TimeGenerated, the column
    Log Analytics partitions by (Sentinel's Device* tables carry both)."""
    times = {"defender": "Timestamp", "sentinel": "TimeGenerated", "adx": "Timestamp"}
    if name not in times:
        raise BadInputError(f"dialect {name!r} is not one of {', '.join(times)}")
    names = {table: table for table in TABLES}
    for table, renamed in (table_names or {}).items():
        if table not in names:
            raise BadInputError(f"table {table!r} is not one of the seven Device* tables")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,1023}", renamed):
            raise BadInputError(f"table name {renamed!r} is not a plain KQL identifier")
        names[table] = renamed
    return Dialect(name, times[name], names)




_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def kql_string(value: str) -> str:
    """``value`` as one double-quoted KQL string literal.

    msticpy's query templates substitute parameters with ``str.format`` and escape only single
    quotes, only on Sentinel, and never backslashes; a command line ending in a backslash or
    holding a quote would end the literal early. Here every backslash, quote and line break is
    escaped, so the literal always ends where it should.
    """
    return '"' + "".join(_ESCAPES.get(ch, ch) for ch in str(value)) + '"'


def kql_string_list(values: Iterable[str]) -> str:
    return "(" + ", ".join(kql_string(v) for v in values) + ")"


def kql_datetime(value: pd.Timestamp) -> str:
    """A UTC ``datetime(...)`` literal (digits only inside, nothing to escape)."""
    stamp = pd.Timestamp(value).tz_convert("UTC")
    return f"datetime({stamp.strftime('%Y-%m-%dT%H:%M:%S')}.{stamp.microsecond * 10 + stamp.nanosecond // 100:07d}Z)"


def window_filter(params: HuntParams, time_column: str) -> str:
    if params.start is None and params.end is None:
        return ""
    if params.end is None:  # open ends as comparisons: no engine has to hold year 9999 in 100 ns ticks
        return f"\n| where {time_column} >= HuntStart"
    if params.start is None:
        return f"\n| where {time_column} <= HuntEnd"
    return f"\n| where {time_column} between (HuntStart .. HuntEnd)"


#: One piece of a hash split: ``((parts, remainder), ...)``, each pair refining the one before it.
DeviceSlice = tuple[tuple[int, int], ...]


def device_slice_filter(device_slice: DeviceSlice) -> str:
    """``| where hash(DeviceName, N) == k ...``: the devices of one piece of a hash split.

    Kusto's ``hash(source, mod)`` is the xxhash64 value modulo ``mod`` (Kusto docs, "hash()"), so
    ``hash(x, 2N) == k`` or ``== k + N`` together are exactly ``hash(x, N) == k``: halving a piece
    keeps the pieces disjoint and their union whole. The split is by DeviceName, the key every
    step of the hunt groups and joins devices by, so one machine's rows never straddle two pieces
    (a re-onboarded machine has two DeviceIds under one name).
    """
    if not device_slice:
        return ""
    tests = " and ".join(f"hash(DeviceName, {int(parts)}) == {int(remainder)}" for parts, remainder in device_slice)
    return f"\n| where {tests}"


def with_device_slice(query: str, time_column: str, device_slice: DeviceSlice) -> str:
    """``query`` with every table read narrowed to one hash piece of the devices.

    Each read of a table in the remote queries is followed by the window filter, so the piece's
    filter goes right after each of them. A query with no windowed read cannot be split by device.
    """
    if not device_slice:
        return query
    anchor = f"\n| where {time_column} between (HuntStart .. HuntEnd)"
    if anchor not in query:
        raise ValueError("this query reads no table through the hunt's window; it cannot be split by device")
    return query.replace(anchor, anchor + device_slice_filter(device_slice))
