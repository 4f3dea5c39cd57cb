"""What every part of the sample generator shares: the time window, accounts, binaries, helpers.

Why this module exists: the fleet, the background, the scenarios and the writer all count time in
int64 nanoseconds from the same window start, name the same service accounts and System32 binaries,
and build the same pandas Categorical columns and fake hashes. Holding those here lets each of the
other modules import only what it uses, without importing each other.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Sequence

import numpy as np
import pandas as pd

# --------------------------------------------------------------------------------------------
# Time: everything is int64 nanoseconds since the epoch, always a multiple of 100 ns so that the
# 7-digit fractions of advanced-hunting exports are exact.
# --------------------------------------------------------------------------------------------

WINDOW_START = "2026-11-02T00:00:00Z"  # a Monday
WINDOW_END = "2026-11-10T00:00:00Z"
DAYS = 8
SEC = 10**9
MIN = 60 * SEC
HOUR = 3600 * SEC
DAY = 24 * HOUR
T0 = int(np.datetime64(WINDOW_START.rstrip("Z"), "ns").astype(np.int64))
NAT = np.iinfo(np.int64).min  # the same bits as numpy's NaT
NULL = -1  # null sentinel for integer columns (pids, ports and ids are never negative)


# --------------------------------------------------------------------------------------------
# Accounts and frequently used binaries.
# --------------------------------------------------------------------------------------------

SYSTEM = ("nt authority", "system", "S-1-5-18")
LOCAL_SERVICE = ("nt authority", "local service", "S-1-5-19")
NETWORK_SERVICE = ("nt authority", "network service", "S-1-5-20")
SERVICE_ACCOUNT = {a[1]: a for a in (SYSTEM, LOCAL_SERVICE, NETWORK_SERVICE)}
DOMAIN = "fabrikam"

# Frequently used binaries.
SYS32 = "C:\\Windows\\System32\\"
SVCHOST = SYS32 + "svchost.exe"
CMD = SYS32 + "cmd.exe"
POWERSHELL = SYS32 + "WindowsPowerShell\\v1.0\\powershell.exe"
RUNDLL32 = SYS32 + "rundll32.exe"
REGSVR32 = SYS32 + "regsvr32.exe"
CONHOST = SYS32 + "conhost.exe"
DEFENDER = "C:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\4.18.24090.11-0\\"
MS = "Microsoft Corporation"
SCHEDULE_CMDLINE = "svchost.exe -k netsvcs -p -s Schedule"


# --------------------------------------------------------------------------------------------
# Small helpers for Categorical columns.
# --------------------------------------------------------------------------------------------


def pick_cat(pool: Sequence[str], codes: np.ndarray) -> pd.Categorical:
    """pool[codes] as a Categorical, without building a Python string per row."""
    uniq, inverse = np.unique(np.asarray(list(pool), dtype=object), return_inverse=True)
    return pd.Categorical.from_codes(inverse[np.asarray(codes)], categories=pd.Index(uniq, dtype=object))


def const_cat(value: str, n: int) -> pd.Categorical:
    return pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), categories=pd.Index([value], dtype=object))


def as_cat(values: Any, n: int) -> pd.Categorical:
    if isinstance(values, pd.Categorical):
        return values
    if isinstance(values, str):
        return const_cat(values, n)
    return pd.Categorical(np.asarray(values, dtype=object))


def take_cat(cat: pd.Categorical, idx: np.ndarray) -> pd.Categorical:
    """cat[idx], with idx == -1 giving "" (a missing process means empty strings, as in Kusto)."""
    categories = cat.categories
    if "" not in categories:
        categories = categories.append(pd.Index([""], dtype=object))
    empty = categories.get_loc("")
    codes = np.where(idx >= 0, cat.codes[np.maximum(idx, 0)], empty)
    return pd.Categorical.from_codes(codes, categories=categories)


def take_int(values: np.ndarray, idx: np.ndarray, null: int) -> np.ndarray:
    return np.where(idx >= 0, values[np.maximum(idx, 0)], null)


def compact_json(value: Any) -> str:
    """Compact JSON, as Defender writes AdditionalFields."""
    return json.dumps(value, separators=(",", ":"))


def fake_hashes(key: str) -> tuple[str, str]:
    """Stable, well-formed SHA1/SHA256 for a binary (fake: the real files are not available)."""
    data = key.lower().encode()
    return hashlib.sha1(b"sha1|" + data).hexdigest(), hashlib.sha256(b"sha256|" + data).hexdigest()


_USER_DIR = re.compile(r"^c:\\users\\[^\\]+\\", re.IGNORECASE)


def binary_key(folder_path: str) -> str:
    """Per-user copies of one program (OneDrive under each profile) share their hash."""
    return _USER_DIR.sub(r"c:\\users\\*\\", folder_path)
