"""The data set under construction: the process list and the event pieces that refer to it.

Why this module exists: every event's ``InitiatingProcess*`` columns come from one row of a process
list, so an activity row always names exactly the process that made it and process trees are real
trees. ``SampleData`` holds that list (vectorised parts for the background, one entry per process for
the scenarios), each table's event pieces, and fills the ``<placeholders>`` of template values.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

from hunting_lib.sample.common import (
    DOMAIN,
    MS,
    SERVICE_ACCOUNT,
    as_cat,
    binary_key,
    const_cat,
    fake_hashes,
    pick_cat,
    take_cat,
)
from hunting_lib.sample.fleet import Fleet
from hunting_lib.sample.processes import LONG_LIVED
from hunting_lib.sample.templates import DOCS, GUIDS, HEX, Tpl
from hunting_lib.schema import TABLES, table_columns

# --------------------------------------------------------------------------------------------
# The process list. Each process is one row; events refer to rows by index.
# --------------------------------------------------------------------------------------------

P_STR = [
    "FileName", "FolderPath", "CommandLine", "AccountDomain", "AccountName", "AccountSid",
    "Integrity", "SHA1", "SHA256", "Company",
]
P_INT = ["device", "pid", "created", "parent", "scn"]

#: Event column <- process-list column, for the process that acted (``Initiating*``).
INITIATING = {
    "InitiatingProcessFileName": "FileName",
    "InitiatingProcessFolderPath": "FolderPath",
    "InitiatingProcessCommandLine": "CommandLine",
    "InitiatingProcessAccountDomain": "AccountDomain",
    "InitiatingProcessAccountName": "AccountName",
    "InitiatingProcessAccountSid": "AccountSid",
    "InitiatingProcessIntegrityLevel": "Integrity",
    "InitiatingProcessSHA1": "SHA1",
    "InitiatingProcessSHA256": "SHA256",
    "InitiatingProcessVersionInfoCompanyName": "Company",
    "InitiatingProcessId": "pid",
    "InitiatingProcessCreationTime": "created",
}
INITIATING_PARENT = {
    "InitiatingProcessParentId": "pid",
    "InitiatingProcessParentFileName": "FileName",
    "InitiatingProcessParentCreationTime": "created",
}
#: DeviceProcessEvents columns of the created process.
CREATED = {
    "FileName": "FileName",
    "FolderPath": "FolderPath",
    "SHA1": "SHA1",
    "SHA256": "SHA256",
    "ProcessVersionInfoCompanyName": "Company",
    "ProcessId": "pid",
    "ProcessCommandLine": "CommandLine",
    "ProcessIntegrityLevel": "Integrity",
    "ProcessCreationTime": "created",
    "AccountDomain": "AccountDomain",
    "AccountName": "AccountName",
    "AccountSid": "AccountSid",
}


# --------------------------------------------------------------------------------------------
# The data being built: process list, vectorised event pieces, and row-by-row scenario rows.
# --------------------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"<(\w+)>")
_NUMBERS = [str(v) for v in np.random.default_rng(99).integers(2, 99_999, 300)]  # fixed pool


def column_type(table: str, column: str) -> str:
    return table_columns(table).get(column, "string")


class SampleData:
    """Holds everything generated so far; events refer to processes by their row number."""

    def __init__(self, fleet: Fleet, seed: int) -> None:
        self.fleet = fleet
        self.seed = seed
        self._parts: list[dict[str, Any]] = []
        self._pending: list[dict[str, Any]] = []   # scenario processes, one dict each
        self.n_procs = 0
        self.pieces: dict[str, list[dict[str, Any]]] = {t: [] for t in TABLES}
        self.rows: dict[str, list[dict[str, Any]]] = {t: [] for t in TABLES}
        self.ll = np.full((len(fleet.names), len(LONG_LIVED)), -1, dtype=np.int64)
        self.P: dict[str, Any] = {}   # the process list's columns once frozen
        dc, fs = fleet.server("dc01"), fleet.server("fs01")
        n = len(fleet.names)
        # Per-device values for placeholders. Half the devices use the second DC / file server.
        self.device_values = {
            "u": fleet.user, "sid": fleet.user_sid, "host": fleet.short, "ip": fleet.ip,
            "dc_ip": [fleet.ip[dc + (i % 2)] for i in range(n)],
            "fs_ip": [fleet.ip[fs + (i % 2)] for i in range(n)],
        }
        ws_ips = [fleet.ip[i] for i in fleet.ws]
        self._random_values = {  # name -> (draw shared by names of the same source, values)
            "doc": ("doc", DOCS), "hex": ("hex", HEX), "guid": ("guid", GUIDS), "n": ("n", _NUMBERS),
            "ru": ("ru", fleet.users), "ru_sid": ("ru", fleet.user_sids), "adm": ("adm", fleet.admins),
            "peer_ip": ("peer", ws_ips), "peer": ("peer", [fleet.names[i] for i in fleet.ws]),
        }

    # ---- processes -------------------------------------------------------------------------

    def add_procs(self, rng: np.random.Generator, dev: np.ndarray, created: np.ndarray,
                  parent: np.ndarray, file: Any, folder: Any, cmd: Any, account: str,
                  integrity: str = "", company: str = MS, pid: np.ndarray | None = None) -> np.ndarray:
        """Add n processes at once and return their row numbers.

        ``account`` is "user" (the device's user), "parent" (the parent's account) or a
        well-known service account name; ``integrity`` "" means the parent's.
        """
        self._flush()
        n = len(dev)
        folder_cat = self.resolve(as_cat(folder, n), dev, rng)
        part: dict[str, Any] = {
            "device": dev.astype(np.int64), "created": created.astype(np.int64),
            "parent": parent.astype(np.int64), "scn": np.full(n, -1, dtype=np.int64),
            "pid": pid if pid is not None else rng.integers(250, 15_000, n) * 4,
            "FileName": as_cat(file, n), "FolderPath": folder_cat,
            "CommandLine": self.resolve(as_cat(cmd, n), dev, rng), "Company": as_cat(company, n),
        }
        part.update(self._account_cols(account, dev, parent))
        if integrity == "":
            integrity = "Medium" if account == "user" else ""
        part["Integrity"] = const_cat(integrity, n) if integrity else self._take_added("Integrity", parent)
        keys = [fake_hashes(binary_key(f)) if f else ("", "") for f in folder_cat.categories]
        part["SHA1"] = pick_cat([k[0] for k in keys], folder_cat.codes)
        part["SHA256"] = pick_cat([k[1] for k in keys], folder_cat.codes)
        self._parts.append(part)
        first = self.n_procs
        self.n_procs += n
        return np.arange(first, first + n, dtype=np.int64)

    def _account_cols(self, account: str, dev: np.ndarray, parent: np.ndarray) -> dict[str, Any]:
        n = len(dev)
        if account == "parent":
            return {c: self._take_added(c, parent) for c in ("AccountDomain", "AccountName", "AccountSid")}
        if account == "user":
            return {"AccountDomain": const_cat(DOMAIN, n),
                    "AccountName": pick_cat(self.fleet.user, dev), "AccountSid": pick_cat(self.fleet.user_sid, dev)}
        domain, name, sid = SERVICE_ACCOUNT[account]
        return {"AccountDomain": const_cat(domain, n), "AccountName": const_cat(name, n),
                "AccountSid": const_cat(sid, n)}

    def attr(self, idx: int, column: str) -> Any:
        """One attribute of one process that was already added."""
        info = self.pending(idx)
        if info is not None:
            return info[column]
        for part in self._parts:
            if idx < len(part["device"]):
                value = part[column][idx]
                return int(value) if column in P_INT else value
            idx -= len(part["device"])
        raise IndexError(idx)

    def _take_added(self, column: str, idx: np.ndarray) -> pd.Categorical:
        """A string column of processes already added (before freezing), by row number (-1 gives "")."""
        sizes = [len(p["device"]) for p in self._parts]
        starts = np.cumsum([0] + sizes)
        part_no = np.searchsorted(starts, idx, side="right") - 1
        order = np.argsort(part_no, kind="stable")
        pieces = []
        for k in np.unique(part_no[order]):
            sub = idx[order][part_no[order] == k]
            part = max(k, 0)
            pieces.append(take_cat(self._parts[part][column], np.where(sub >= 0, sub - starts[part], -1)))
        joined = union_categoricals(pieces)
        return pd.Categorical.from_codes(joined.codes[np.argsort(order)], categories=joined.categories)

    def proc(self, dev: int, pid: int, created: int, parent: int, file: str, folder: str, cmd: str,
             account: tuple[str, str, str], integrity: str, tag: int = -1, company: str = MS,
             hash_key: str | None = None) -> int:
        """Add one scenario process; ``tag`` marks it as part of scenario ``tag``'s process tree."""
        sha1, sha256 = fake_hashes(hash_key or binary_key(folder))
        self._pending.append({
            "device": dev, "pid": pid, "created": created, "parent": parent, "scn": tag,
            "FileName": file, "FolderPath": folder, "CommandLine": cmd, "Company": company,
            "AccountDomain": account[0], "AccountName": account[1], "AccountSid": account[2],
            "Integrity": integrity, "SHA1": sha1, "SHA256": sha256})
        self.n_procs += 1
        return self.n_procs - 1

    def pending(self, idx: int) -> dict[str, Any] | None:
        """The attributes of a scenario process (None for a vectorised one)."""
        first = self.n_procs - len(self._pending)
        return self._pending[idx - first] if idx >= first else None

    def _flush(self) -> None:
        if self._pending:
            frame = pd.DataFrame(self._pending)
            part = {c: frame[c].to_numpy(np.int64) for c in P_INT}
            part.update({c: pd.Categorical(frame[c].to_numpy(object)) for c in P_STR})
            self._parts.append(part)
            self._pending = []

    def freeze(self) -> None:
        """Join the process list's parts into one set of columns."""
        self._flush()
        self.P = {c: np.concatenate([p[c] for p in self._parts]) for c in P_INT}
        for c in P_STR:
            self.P[c] = union_categoricals([p[c] for p in self._parts])
        self._parts = []

    # ---- events ----------------------------------------------------------------------------

    def add_piece(self, table: str, proc: np.ndarray, ts: np.ndarray, cols: dict[str, Any]) -> None:
        """Vectorised events: ``proc`` acted (for process events: was created) at ``ts``."""
        piece = {"_proc": np.asarray(proc, np.int64), "Timestamp": np.asarray(ts, np.int64)}
        piece.update(cols)
        self.pieces[table].append(piece)

    def event(self, table: str, proc: int, ts: int, action: str, rel: int = -1, **cols: Any) -> None:
        """One scenario event. ``rel`` ties a row that is not in the scenario's tree to it."""
        self.rows[table].append({"_proc": proc, "Timestamp": ts, "ActionType": action, "_rel": rel, **cols})

    def fill(self, tpl: Tpl, dev: np.ndarray, rng: np.random.Generator) -> dict[str, Any]:
        """Draw a template's column values for rows on devices ``dev``."""
        n = len(dev)
        draws: dict[str, np.ndarray] = {}
        out: dict[str, Any] = {"ActionType": pick_cat(tpl.actions, rng.integers(len(tpl.actions), size=n))}
        for key, pool in tpl.cols.items():
            if isinstance(key, tuple):
                codes = rng.integers(len(pool), size=n)
                for j, col in enumerate(key):
                    out[col] = self._column(tpl.table, col, [p[j] for p in pool], codes, dev, rng, draws)
            elif callable(pool):
                out[key] = pool(rng, n)
            elif isinstance(pool, list):
                out[key] = self._column(tpl.table, key, pool, rng.integers(len(pool), size=n), dev, rng, draws)
            else:
                out[key] = self._column(tpl.table, key, [pool], np.zeros(n, np.int64), dev, rng, draws)
        return out

    def _column(self, table: str, col: str, pool: list, codes: np.ndarray, dev: np.ndarray,
                rng: np.random.Generator, draws: dict[str, np.ndarray]) -> Any:
        if column_type(table, col) in ("long", "int"):
            return np.asarray(pool, dtype=np.int64)[codes]
        return self.resolve(pick_cat(pool, codes), dev, rng, draws)

    def resolve(self, cat: pd.Categorical, dev: np.ndarray, rng: np.random.Generator,
                draws: dict[str, np.ndarray] | None = None) -> pd.Categorical:
        """Fill <placeholders> in a Categorical, formatting each distinct combination once.

        Random placeholders are drawn once per row and source and shared through ``draws``, so
        a row's FolderPath and FileName name the same <doc>.
        """
        names = sorted({m for c in cat.categories for m in _PLACEHOLDER.findall(c)})
        if not names:
            return cat
        draws = {} if draws is None else draws
        n = len(cat)
        keys, sizes, lookups = [cat.codes.astype(np.int64)], [len(cat.categories)], []
        for name in names:
            if name in self.device_values:
                values, codes = self.device_values[name], dev
            else:
                source, values = self._random_values[name]
                if source not in draws:
                    draws[source] = rng.integers(len(values), size=n)
                codes = draws[source]
            keys.append(np.asarray(codes, np.int64))
            sizes.append(len(values))
            lookups.append(values)
        combined = np.ravel_multi_index(keys, sizes)
        uniq, inverse = np.unique(combined, return_inverse=True)
        parts = np.unravel_index(uniq, sizes)
        strings = []
        for i in range(len(uniq)):
            mapping = {name: lookups[j][parts[j + 1][i]] for j, name in enumerate(names)}
            strings.append(_PLACEHOLDER.sub(lambda m: mapping[m.group(1)], cat.categories[parts[0][i]]))
        return pick_cat(strings, inverse)
