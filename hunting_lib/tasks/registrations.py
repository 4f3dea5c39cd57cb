"""Task registrations as rows: Defender's ``ScheduledTaskCreated`` / ``Updated`` / ``Deleted``
events in DeviceEvents, each with its task definition read (``content``), who registered it, and,
for a registration made over the network, the logon it came from.

The tables are filtered with vectorised string tests; the parsing runs once per distinct
``AdditionalFields`` value, and registrations are a small subset of DeviceEvents.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd

from hunting_lib.errors import DataWarning
from hunting_lib.tasks.content import REGISTRATION_FIELDS, read_registration

CREATED, UPDATED, DELETED = "ScheduledTaskCreated", "ScheduledTaskUpdated", "ScheduledTaskDeleted"
REGISTRATION_ACTIONS = (CREATED, UPDATED, DELETED)
#: Part of every TaskCache key (lower case): ``...\Schedule\TaskCache\Tree\<task>`` and ``...\Tasks\{GUID}``.
TASK_CACHE = "\\schedule\\taskcache\\"
#: Accounts whose sessions are the machine's own: a Subject naming one of them is no remote caller.
MACHINE_ACCOUNTS = ("system", "local service", "network service", "localsystem", "local system")
MACHINE_SIDS = ("s-1-5-18", "s-1-5-19", "s-1-5-20")
#: A logon may be recorded this much after the registration it made (the events' clocks differ).
LOGON_CLOCK_SLACK = pd.Timedelta(minutes=1)


def _empty() -> pd.DataFrame:
    return pd.DataFrame()


@dataclass
class TaskEvents:
    """The rows the task definitions are read from, each a small subset of its table."""

    #: DeviceEvents rows whose ActionType is ScheduledTaskCreated/Updated/Deleted
    registrations: pd.DataFrame = field(default_factory=_empty)
    #: DeviceRegistryEvents rows under ``\Schedule\TaskCache\``
    registry: pd.DataFrame = field(default_factory=_empty)
    #: DeviceLogonEvents network logons (a registration's caller session joins them)
    logons: pd.DataFrame = field(default_factory=_empty)


def text_column(frame: pd.DataFrame, column: str) -> pd.Series:
    """A string column as text ("" where absent or missing), whatever the export gave."""
    if column not in frame.columns:
        return pd.Series("", index=frame.index, dtype=object)
    values = frame[column].astype(object)  # a categorical's fillna("") would raise
    return values.where(values.notna(), "").astype(str)


def task_events_from_tables(tables: Mapping[str, pd.DataFrame]) -> TaskEvents:
    """The task registrations, TaskCache writes and network logons of loaded tables; an absent
    table gives an empty frame."""
    events = tables.get("DeviceEvents")
    registry = tables.get("DeviceRegistryEvents")
    logons = tables.get("DeviceLogonEvents")
    out = TaskEvents()
    if events is not None and len(events) and "ActionType" in events:
        out.registrations = events[events["ActionType"].isin(REGISTRATION_ACTIONS).to_numpy()].reset_index(drop=True)
    if registry is not None and len(registry) and "RegistryKey" in registry:
        in_cache = text_column(registry, "RegistryKey").str.lower().str.contains(TASK_CACHE, regex=False)
        out.registry = registry[in_cache.to_numpy()].reset_index(drop=True)
    if logons is not None and len(logons) and "LogonId" in logons:
        network = text_column(logons, "LogonType").str.lower().eq("network")
        out.logons = logons[network.to_numpy()].reset_index(drop=True)
    return out


def logon_id_number(value: Any) -> int | None:
    """A logon session id as a number: Subject fields hold hex text (``0x1a2b3c``), the logon
    table a number. None when it is neither."""
    text = str(value).strip().lower() if value is not None else ""
    try:
        if text.startswith("0x"):
            return int(text, 16)
        return int(text) if text.isdigit() else None
    except ValueError:
        return None


def task_key(names: pd.Series) -> pd.Series:
    r"""A task path as a join key: lower case, one leading backslash (``Updater`` and ``\Updater``
    name the same task)."""
    text = names.fillna("").astype(str).str.strip().str.lower()
    return np.where(text.eq(""), "", "\\" + text.str.lstrip("\\"))


def account(domain: pd.Series, name: pd.Series) -> pd.Series:
    r"""``domain\name``, or the name alone when there is no domain."""
    return pd.Series(np.where(domain.eq("") | name.eq(""), name, domain + "\\" + name), index=name.index, dtype=object)


def _readable_keys(values: pd.Series) -> pd.Series:
    """Hashable text for each ``AdditionalFields`` value (a JSON export may hold dicts)."""
    if values.map(lambda v: isinstance(v, str)).all():
        return values
    return values.map(lambda v: json.dumps(v) if isinstance(v, (dict, list)) else ("" if pd.isna(v) else str(v)))


def registration_rows(registrations: pd.DataFrame) -> pd.DataFrame:
    """One row per registration event with its definition and caller read out.

    Columns: the event's ``Timestamp``, ``DeviceId``, ``DeviceName``, ``ActionType``, ``ReportId``;
    the definition (``TaskName``, ``Format``, ``Command``, ``Arguments``, ``Actions``,
    ``Triggers``, ``Principal``, ``RunLevel``, ``LogonType``, ``Hidden``, ...); the caller
    (``Subject*``, ``SubjectLogonIdNumber``) and who registered it (``RegisteredBy``: the Subject
    account when present, else the registering process's account; ``RegisteredByProcess``,
    ``RegisteredByCommandLine``, ``RegisteredByParent``); ``TaskKey`` for joins and ``ParsedOk``.
    Unreadable content keeps empty fields, content cut off mid-way what it holds (``Truncated``),
    with one ``DataWarning`` counting each kind.
    """
    frame = registrations.reset_index(drop=True)
    raw = frame["AdditionalFields"] if "AdditionalFields" in frame else pd.Series("", index=frame.index)
    codes, uniques = pd.factorize(_readable_keys(raw.fillna("")), sort=False)
    parsed = [read_registration(u) for u in uniques]
    out = pd.DataFrame({
        "Timestamp": pd.to_datetime(frame["Timestamp"], utc=True, errors="coerce") if "Timestamp" in frame
        else pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns, UTC]"),
        "DeviceId": text_column(frame, "DeviceId"),
        "DeviceName": text_column(frame, "DeviceName"),
        "ActionType": text_column(frame, "ActionType"),
        "ReportId": frame["ReportId"] if "ReportId" in frame else pd.Series(pd.NA, index=frame.index, dtype="Int64"),
    })
    # read once per distinct value, then spread to the rows by their codes
    fields = pd.DataFrame(parsed, columns=list(REGISTRATION_FIELDS)).take(codes).reset_index(drop=True)
    for name, empty in REGISTRATION_FIELDS.items():
        out[name] = fields[name].astype(bool if isinstance(empty, bool) else object).to_numpy()
    if out["DeviceId"].eq("").all():
        out["DeviceId"] = out["DeviceName"]  # exports without ids: the name is the device
    out["SubjectLogonIdNumber"] = pd.array([logon_id_number(v) for v in out["SubjectLogonId"]], dtype="Int64")
    subject = account(out["SubjectDomainName"], out["SubjectUserName"])
    process_account = account(text_column(frame, "InitiatingProcessAccountDomain"),
                              text_column(frame, "InitiatingProcessAccountName"))
    out["RegisteredBy"] = subject.where(out["SubjectUserName"].ne(""), process_account)
    out["RegisteredByProcess"] = text_column(frame, "InitiatingProcessFileName")
    out["RegisteredByCommandLine"] = text_column(frame, "InitiatingProcessCommandLine")
    out["RegisteredByParent"] = text_column(frame, "InitiatingProcessParentFileName")
    out["TaskKey"] = task_key(out["TaskName"])
    bad = int((~out["ParsedOk"]).sum())
    cut = int((out["Truncated"] & out["ParsedOk"]).sum())
    said = []
    if bad:
        said.append(f"{bad} task registration row(s) whose AdditionalFields or TaskContent could not be read "
                    "(malformed, XML with a DOCTYPE, or too long): their task fields are empty")
    if cut:
        said.append(f"{cut} task registration row(s) cut off, read as far as they go (Truncated: their last "
                    "field read may be cut short)")
    if said:
        warnings.warn("DeviceEvents: " + "; ".join(said), DataWarning, stacklevel=2)
    return out


def is_machine_account(names: pd.Series, sids: pd.Series) -> pd.Series:
    """Subject accounts that are the machine itself (SYSTEM, LOCAL/NETWORK SERVICE), or none."""
    lowered = names.fillna("").astype(str).str.strip().str.lower()
    return lowered.isin(MACHINE_ACCOUNTS) | lowered.eq("") | sids.fillna("").astype(str).str.lower().isin(MACHINE_SIDS)


def is_schedule_service(file_names: pd.Series, command_lines: pd.Series) -> pd.Series:
    """Processes that are the Task Scheduler service: svchost.exe whose command line names the
    Schedule service or the grouped ``netsvcs`` that hosts it on older builds, or says nothing
    (Sysmon-derived exports leave the service's command line empty)."""
    names = file_names.fillna("").astype(str).str.lower()
    lines = command_lines.fillna("").astype(str).str.lower()
    return names.eq("svchost.exe") & (lines.str.contains("schedule", regex=False)
                                      | lines.str.contains("netsvcs", regex=False) | lines.str.strip().eq(""))


#: Remote addresses that say there is none (Security 4624 writes ``-``).
NO_ADDRESS = ("", "-")
#: ``RemoteIPFrom`` when the registering session's own logon recorded the address.
FROM_SESSION = "session"


def _logon_sessions(logons: pd.DataFrame) -> pd.DataFrame:
    """Network logons as join rows: device, session id, time, address, remote device, and
    ``_succeeded`` (the account columns are read later, for the few rows that need them)."""
    index = logons.index
    frame = pd.DataFrame({
        "_device": device_key(logons),
        "SubjectLogonIdNumber": pd.to_numeric(logons["LogonId"], errors="coerce").astype("Int64")
        if "LogonId" in logons else pd.Series(pd.NA, index=index, dtype="Int64"),
        "_logon_at": pd.to_datetime(logons["Timestamp"], utc=True, errors="coerce") if "Timestamp" in logons
        else pd.Series(pd.NaT, index=index, dtype="datetime64[ns, UTC]"),
        "_ip": text_column(logons, "RemoteIP").str.strip(),
        "_remote": text_column(logons, "RemoteDeviceName"),
        # a failed logon opened no session; an account sprayed from elsewhere must not lend its address
        "_succeeded": ~text_column(logons, "ActionType").str.lower().eq("logonfailed"),
    }, index=index)
    frame.loc[frame["_ip"].isin(NO_ADDRESS), "_ip"] = ""
    return frame[text_column(logons, "LogonType").str.lower().eq("network")]


def _domain_key(domains: pd.Series) -> pd.Series:
    r"""A domain as a join key: its first label, lower case. Windows names one domain both ways:
    ``OFFSEC`` (NetBIOS, in 4698's Subject and NTLM logons) and ``offsec.lan`` (Kerberos logons)."""
    return domains.str.strip().str.lower().str.split(".", n=1).str[0].fillna("")


def _same_account_addresses(out: pd.DataFrame, sessions: pd.DataFrame, logons: pd.DataFrame,
                            window: pd.Timedelta) -> pd.DataFrame:
    """For registrations whose session logon has no address: the same account's latest successful
    network logon WITH an address on that device, at most ``window`` before the registration.

    Why: an NTLM caller (atexec, ``schtasks /s``) opens several network sessions a few milliseconds
    apart, SMB first, then the RPC one that registers the task; Windows records the address on the
    first and ``-`` on the RPC logon. Indexed by the registration row: ``_ip``, ``_remote``, ``_gap``."""
    needy = out.index[out["RegisteredFromNetworkLogon"].astype(bool) & out["RemoteIP"].isna()
                      & out["SubjectUserName"].ne("")]
    if not len(needy):
        return pd.DataFrame(columns=["_ip", "_remote", "_gap"])
    addressed = sessions[sessions["_ip"].ne("") & sessions["_succeeded"] & sessions["_logon_at"].notna()
                         & sessions["_device"].isin(set(device_key(out.loc[needy])))]
    if addressed.empty:
        return pd.DataFrame(columns=["_ip", "_remote", "_gap"])
    addressed = addressed.assign(_domain=_domain_key(text_column(logons.loc[addressed.index], "AccountDomain")),
                                 _name=text_column(logons.loc[addressed.index], "AccountName").str.strip().str.lower())
    wanted = pd.DataFrame({"_index": needy, "_device": device_key(out.loc[needy]).to_numpy(),
                           "_domain": _domain_key(out.loc[needy, "SubjectDomainName"]).to_numpy(),
                           "_name": out.loc[needy, "SubjectUserName"].str.strip().str.lower().to_numpy(),
                           "_at": pd.to_datetime(out.loc[needy, "Timestamp"], utc=True).to_numpy()})
    pairs = wanted.merge(addressed[["_device", "_name", "_domain", "_logon_at", "_ip", "_remote"]],
                         on=["_device", "_name"])
    # the domain must agree where both name one
    pairs = pairs[pairs["_domain_x"].eq(pairs["_domain_y"]) | pairs["_domain_x"].eq("") | pairs["_domain_y"].eq("")]
    pairs["_gap"] = pd.to_datetime(pairs["_at"], utc=True) - pairs["_logon_at"]
    pairs = pairs[(pairs["_gap"] >= pd.Timedelta(0)) & (pairs["_gap"] <= window)]
    latest = pairs.sort_values("_logon_at", kind="stable").drop_duplicates("_index", keep="last")
    return latest.set_index("_index")[["_ip", "_remote", "_gap"]]


def with_network_logons(rows: pd.DataFrame, logons: pd.DataFrame, address_seconds: float = 10.0) -> pd.DataFrame:
    """Registration rows with the network logon their caller's session came from:
    ``RegisteredFromNetworkLogon``, ``RemoteIP``, ``RemoteDevice``, ``RemoteIPFrom`` and
    ``RegisteredRemotely`` (that logon, or an RPC registration: the Schedule service registering
    for a caller that is not the machine itself).

    ``RemoteIPFrom`` says where the address came from: ``"session"`` (the registering session's
    own logon), ``"same account, N ms earlier"`` (that logon recorded none, so the same account's
    latest network logon with an address on the device, at most ``address_seconds`` before the
    registration: see ``_same_account_addresses``), or None (no address found)."""
    out = rows.copy()
    out["RegisteredFromNetworkLogon"] = False
    out["RemoteIP"] = None
    out["RemoteDevice"] = None
    out["RemoteIPFrom"] = None
    if len(out) and len(logons) and "LogonId" in logons.columns:
        logons = logons.reset_index(drop=True)  # positions: the account columns are read by them later
        sessions = _logon_sessions(logons)
        own = sessions[sessions["SubjectLogonIdNumber"].notna()]
        keyed = pd.DataFrame({"_index": out.index, "_device": device_key(out).to_numpy(),
                              "SubjectLogonIdNumber": out["SubjectLogonIdNumber"].to_numpy(),
                              "_at": out["Timestamp"].to_numpy()})
        found = keyed.merge(own, on=["_device", "SubjectLogonIdNumber"], how="inner")
        # the session open at registration: the last logon with that id before it (ids are reused
        # after a reboot), with a little slack for the two events' clocks
        found["_at"] = pd.to_datetime(found["_at"], utc=True)
        opened_before = found["_logon_at"].isna() | found["_at"].isna() | (found["_logon_at"] <= found["_at"]
                                                                            + LOGON_CLOCK_SLACK)
        found = found[opened_before].sort_values("_logon_at").drop_duplicates("_index", keep="last")
        found = found.set_index("_index")
        out.loc[found.index, "RegisteredFromNetworkLogon"] = True
        out.loc[found.index, "RemoteIP"] = found["_ip"].replace("", None)
        out.loc[found.index, "RemoteDevice"] = found["_remote"].replace("", None)
        out.loc[found.index[found["_ip"].ne("")], "RemoteIPFrom"] = FROM_SESSION
        nearby = _same_account_addresses(out, sessions, logons, pd.Timedelta(seconds=address_seconds))
        if len(nearby):
            out.loc[nearby.index, "RemoteIP"] = nearby["_ip"]
            out.loc[nearby.index, "RemoteDevice"] = out.loc[nearby.index, "RemoteDevice"].fillna(
                nearby["_remote"].replace("", None))
            milliseconds = (nearby["_gap"] / pd.Timedelta(milliseconds=1)).round().astype(int)
            out.loc[nearby.index, "RemoteIPFrom"] = "same account, " + milliseconds.astype(str) + " ms earlier"
    rpc = is_schedule_service(out["RegisteredByProcess"], out["RegisteredByCommandLine"]) & ~is_machine_account(
        out["SubjectUserName"], out["SubjectUserSid"])
    out["RegisteredRemotely"] = out["RegisteredFromNetworkLogon"].astype(bool) | rpc
    return out


def iso(stamp: Any) -> str | None:
    """A time as ISO 8601 UTC with 7 fractional digits and ``Z`` (None for none)."""
    if stamp is None or pd.isna(stamp):
        return None
    stamp = pd.Timestamp(stamp)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    # 7 fractional digits, as Defender writes times (and as findings.json's other times read)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%f") + str(stamp.nanosecond // 100) + "Z"


def device_key(frame: pd.DataFrame) -> pd.Series:
    """A device as a join key: its name, lower case (every table and export has it; some lack
    ``DeviceId``, so keying on the id would fail to join one table that has it with one that
    does not), or its id where a row has no name."""
    names = text_column(frame, "DeviceName").str.lower()
    return names.where(names.ne(""), text_column(frame, "DeviceId"))


def exec_actions(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per (registration, Exec action): ``_row``, ``_device``, ``Command``, ``Arguments``."""
    if rows.empty:
        return pd.DataFrame(columns=["_row", "_device", "Command", "Arguments"])
    exploded = rows[["_row", "_device", "Actions"]].explode("Actions").dropna(subset=["Actions"])
    actions = pd.DataFrame(list(exploded["Actions"]), index=exploded.index)
    if "Type" not in actions:
        return pd.DataFrame(columns=["_row", "_device", "Command", "Arguments"])
    exec_rows = actions["Type"].eq("Exec").to_numpy()
    out = exploded.loc[exec_rows, ["_row", "_device"]].reset_index(drop=True)
    return out.assign(Command=actions.loc[exec_rows, "Command"].to_numpy(),
                      Arguments=actions.loc[exec_rows, "Arguments"].to_numpy())
