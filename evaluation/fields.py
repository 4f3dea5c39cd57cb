"""Value rules of the Sysmon/Security to Defender XDR mapping, one small function each.

Each rule is what Defender itself writes for the value, so that the kit's string comparisons (the
published query compares ``InitiatingProcessCommandLine`` with ``==``) behave on converted data as
they do on a real export. The rules follow ``shared/real_data/otrf_sysmon/README.md``.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re

import numpy as np
import pandas as pd

#: Registry hive abbreviations Sysmon writes, and the names Defender writes.
HIVES = {"HKLM": "HKEY_LOCAL_MACHINE", "HKU": "HKEY_USERS", "HKCR": "HKEY_CLASSES_ROOT",
         "HKCU": "HKEY_CURRENT_USER"}
LOGON_TYPES = {"2": "Interactive", "3": "Network", "4": "Batch", "5": "Service", "7": "Unlock",
               "8": "NetworkCleartext", "9": "NewCredentials", "10": "RemoteInteractive",
               "11": "CachedInteractive", "12": "CachedRemoteInteractive", "13": "CachedUnlock"}
#: Mandatory label SIDs of Security 4688 and the integrity level names Defender writes.
INTEGRITY_SIDS = {"S-1-16-0": "Untrusted", "S-1-16-4096": "Low", "S-1-16-8192": "Medium",
                  "S-1-16-8448": "MediumPlus", "S-1-16-12288": "High", "S-1-16-16384": "System",
                  "S-1-16-20480": "ProtectedProcess"}
_DWORD = re.compile(r"^DWORD \((0x[0-9a-fA-F]+)\)$")
_QWORD = re.compile(r"^QWORD \((0x[0-9a-fA-F]+)-(0x[0-9a-fA-F]+)\)$")


def absent(value: str) -> str:
    """"" for the "-" Windows writes where a field has no value; any other value unchanged
    (trailing spaces included: the rest of a value is kept byte for byte)."""
    return "" if value.strip() in ("-", "") else value


def base_name(path: str) -> str:
    """The file name of a Windows path."""
    return path.rstrip("\\").rsplit("\\", 1)[-1] if path else ""


def strip_image(command_line: str, image: str) -> str:
    """The command line as Defender writes it: a leading image path becomes its bare file name.

    The path may be quoted or not, in any case, and may sit behind ``\\??\\``; the file name keeps
    the command line's own spelling and quotes, and everything after it is kept byte for byte:
    ``C:\\Windows\\system32\\svchost.exe -k netsvcs -p -s Schedule`` becomes
    ``svchost.exe -k netsvcs -p -s Schedule``.
    """
    if not command_line or not image:
        return command_line
    lowered, target = command_line.lower(), image.lower()
    for prefix in ('"\\??\\', '"', "\\??\\", ""):
        quoted = prefix.startswith('"')
        head = prefix + target + ('"' if quoted else "")
        if not lowered.startswith(head):
            continue
        end = len(head)
        if not quoted and end < len(command_line) and not command_line[end].isspace():
            continue  # "C:\\x\\a.exe.bak" is not "C:\\x\\a.exe"
        spelled = command_line[len(prefix):len(prefix) + len(target)]
        name = base_name(spelled)
        return ('"' + name + '"' if quoted else name) + command_line[end:]
    return command_line


def split_user(user: str) -> tuple[str, str]:
    """``DOMAIN\\name`` as (domain, name), lower-cased as Defender writes accounts."""
    user = absent(user)
    if "\\" in user:
        domain, name = user.split("\\", 1)
        return domain.lower(), name.lower()
    return "", user.lower()


def decimal_id(value: str) -> str:
    """A logon or process id in decimal (Windows writes them in hex, ``0x3e7`` = 999)."""
    value = absent(value)
    if not value:
        return ""
    try:
        return str(int(value, 16) if value.lower().startswith("0x") else int(value))
    except ValueError:
        return value


def process_id(value: str) -> str:
    """A process id in decimal; 0 (no process) is left empty."""
    value = decimal_id(value)
    return "" if value == "0" else value


def hashes(value: str) -> dict[str, str]:
    """Sysmon's ``SHA1=..,MD5=..,SHA256=..`` as lower-case hex by algorithm."""
    found: dict[str, str] = {}
    for part in value.split(","):
        if "=" in part:
            algorithm, digest = part.split("=", 1)
            found[algorithm.strip().upper()] = digest.strip().lower()
    return found


def expand_hive(key: str) -> str:
    """``HKLM\\...`` as ``HKEY_LOCAL_MACHINE\\...`` (other roots, e.g. ``\\REGISTRY\\A``, as they are)."""
    root, sep, rest = key.partition("\\")
    full = HIVES.get(root.upper())
    return full + sep + rest if full else key


def split_value(target: str) -> tuple[str, str]:
    """A registry value's full path as (key, value name)."""
    key, _, name = target.rpartition("\\")
    return key, name


def registry_data(details: str) -> tuple[str, str]:
    """Sysmon's ``Details`` as (RegistryValueData, RegistryValueType)."""
    match = _DWORD.match(details)
    if match:
        return str(int(match.group(1), 16)), "Dword"
    match = _QWORD.match(details)
    if match:
        return str((int(match.group(1), 16) << 32) | int(match.group(2), 16)), "Qword"
    if details == "Binary Data":
        return details, "Binary"
    return details, ""


def ip_type(address: str) -> str:
    """Defender's IP address type: Loopback, LinkLocal, Multicast, Broadcast, Private, Public, ..."""
    address = absent(address)
    if not address:
        return ""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return ""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return "FourToSixMapping"
        if ip.teredo is not None:
            return "Teredo"
    if ip.is_loopback:
        return "Loopback"
    if ip.is_link_local:
        return "LinkLocal"
    if ip.is_multicast:
        return "Multicast"
    if str(ip) == "255.255.255.255":
        return "Broadcast"
    if ip.is_unspecified or ip.is_reserved:
        return "Reserved"
    if ip.is_private:
        return "Private"
    return "Public"


def device_id(device_name: str) -> str:
    """Defender's DeviceId stand-in: the SHA-1 of the device name (40 hex digits)."""
    return hashlib.sha1(device_name.encode("utf-8")).hexdigest()


def compact_json(values: dict[str, str]) -> str:
    """``AdditionalFields`` as Defender exports it: JSON without spaces."""
    return json.dumps(values, ensure_ascii=False, separators=(",", ":"))


def parse_times(values: list[str] | pd.Series) -> np.ndarray:
    """Times as int64 nanoseconds since the epoch, UTC (times without a zone are taken as UTC;
    unreadable ones are NaT's minimum value)."""
    series = pd.Series(values, dtype=object).fillna("").astype(str).str.strip()
    parsed = pd.to_datetime(series.where(series != ""), utc=True, format="ISO8601", errors="coerce")
    return parsed.to_numpy(dtype="datetime64[ns]").astype("int64")


NAT = np.iinfo(np.int64).min


def format_times(nanoseconds: np.ndarray) -> np.ndarray:
    """ISO 8601 UTC with 7 fractional digits and ``Z``, as advanced hunting exports times;
    "" for a missing time."""
    values = np.asarray(nanoseconds, dtype="int64")
    valid = values != NAT
    out = np.full(len(values), "", dtype=object)
    if valid.any():
        stamps = pd.to_datetime(values[valid], unit="ns")
        seconds = stamps.strftime("%Y-%m-%dT%H:%M:%S").to_numpy(dtype=object)
        ticks = (values[valid] % 1_000_000_000) // 100
        out[valid] = [f"{s}.{t:07d}Z" for s, t in zip(seconds, ticks)]
    return out
