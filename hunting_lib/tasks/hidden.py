r"""Tasks the Task Scheduler API never saw: registered by writing its TaskCache keys directly,
or hidden by deleting their security descriptor (Tarrask).

The Schedule service keeps every task under
``HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion\Schedule\TaskCache``: ``Tree\<task path>``
(values ``Id``, ``Index``, ``SD``) and ``Tasks\{GUID}`` (``Path``, ``Actions``, ``Triggers``, ...).
Only the service itself writes there in the normal course. A write by any other process to a task
that has no ``ScheduledTaskCreated``/``Updated`` row on that device, or the deletion of a task's
``SD`` value (or its rewriting by another process), is a task registered or hidden outside the API.
"""

from __future__ import annotations

import re
import struct

import numpy as np
import pandas as pd

from hunting_lib.tasks.registrations import (
    CREATED,
    DELETED,
    UPDATED,
    account,
    device_key,
    is_schedule_service,
    task_key,
    text_column,
)

#: An ``SD`` deletion this close to the API deleting the same task is the service's own cleanup.
API_DELETE_SLACK = pd.Timedelta(minutes=5)
_HEX = re.compile(r"(?:0x)?[0-9a-f]+", re.IGNORECASE)
_UTF16_RUN = re.compile(rb"(?:[\x20-\x7e]\x00){2,}")
_EXEC_ACTION = 0x6666
_WRITES = ("RegistryKeyCreated", "RegistryValueSet")
#: Context names the Actions blob starts with; not a command.
_CONTEXTS = ("author", "localsystem", "users", "system")


def _blob(data: str) -> bytes | None:
    """Registry data given as hex text, as bytes; None when it is not hex."""
    text = re.sub(r"[\s,-]", "", data)
    if len(text) < 8 or not _HEX.fullmatch(text):
        return None
    text = text[2:] if text.lower().startswith("0x") else text
    if len(text) % 2:
        return None
    try:
        return bytes.fromhex(text)
    except ValueError:
        return None


def _read_string(blob: bytes, at: int) -> tuple[str, int]:
    """One length-prefixed UTF-16LE string of the Actions layout, and the offset after it."""
    (size,) = struct.unpack_from("<I", blob, at)
    if size > len(blob) - at - 4 or size % 2:
        raise ValueError("string overruns the blob")
    return blob[at + 4: at + 4 + size].decode("utf-16-le"), at + 4 + size


def _structured_exec(blob: bytes) -> tuple[str, str] | None:
    """Command and arguments of the first Exec action, read by the TaskCache ``Actions`` layout:
    a version (u16), the context (u32 length + UTF-16LE), then per action a u16 type (0x6666 =
    Exec) and its id, command, arguments and working directory as length-prefixed strings."""
    try:
        _, at = struct.unpack_from("<H", blob, 0)[0], 2
        _, at = _read_string(blob, at)
        (kind,) = struct.unpack_from("<H", blob, at)
        if kind != _EXEC_ACTION:
            return None
        _, at = _read_string(blob, at + 2)
        command, at = _read_string(blob, at)
        arguments, _ = _read_string(blob, at)
        return command, arguments
    except (struct.error, ValueError, UnicodeDecodeError):
        return None


def _looks_like_program(text: str) -> bool:
    lowered = text.strip().lower()
    return bool(lowered) and ("\\" in lowered or "/" in lowered or lowered.startswith("%")
                              or bool(re.search(r"\.(exe|bat|cmd|com|ps1|vbs|js|dll)$", lowered)))


def split_command_line(text: str) -> tuple[str, str]:
    """A plain command line as (program, arguments): a quoted program, or up to the first space."""
    text = text.strip()
    if text.startswith('"') and '"' in text[1:]:
        end = text.index('"', 1)
        return text[1:end], text[end + 1:].strip()
    program, _, rest = text.partition(" ")
    return program, rest.strip()


def decode_actions(data: object) -> tuple[str, str]:
    """The command and arguments a TaskCache ``Actions`` value holds: hex of the binary blob
    (read by its layout, or else from the UTF-16LE strings in it), or plain text. ("", "") when
    it names no program."""
    text = str(data or "").strip()
    if not text:
        return "", ""
    blob = _blob(text)
    if blob is None:
        return split_command_line(text) if _looks_like_program(split_command_line(text)[0]) else ("", "")
    found = _structured_exec(blob)
    if found and found[0].strip():
        return found[0].strip(), found[1].strip()
    strings = [run.decode("utf-16-le").strip() for run in _UTF16_RUN.findall(blob)]
    strings = [s for s in strings if s and s.lower() not in _CONTEXTS]
    for index, value in enumerate(strings):
        if _looks_like_program(value):
            following = strings[index + 1] if index + 1 < len(strings) else ""
            return value, "" if _looks_like_program(following) and "\\" in following[:3] else following
    return "", ""


def _cache_parts(keys: pd.Series) -> pd.DataFrame:
    r"""Each TaskCache key as ``Kind`` (``tree``/``tasks``/other) and ``Rest`` (the task path
    under ``Tree``, the ``{GUID}`` under ``Tasks``), original case."""
    parts = keys.fillna("").astype(str).str.extract(r"(?i)\\schedule\\taskcache\\([^\\]*)\\?(.*)$")
    kind = parts[0].fillna("").str.lower()
    tail = parts[1].fillna("")
    return pd.DataFrame({"Kind": kind, "Rest": tail}, index=keys.index)


def on_suspect_devices(registry: pd.DataFrame) -> pd.DataFrame:
    """The TaskCache rows of the devices where something other than the Schedule service wrote
    there, or a task's ``SD`` value was deleted: the only devices with anything to find. Every
    ordinary registration makes the service write a dozen values; a fleet's week holds hundreds of
    thousands, and the steps below need their text only where a foreign write or a deletion is."""
    names = text_column(registry, "InitiatingProcessFileName")
    lines = text_column(registry, "InitiatingProcessCommandLine")
    writers = pd.DataFrame({"n": names, "l": lines})
    codes, uniques = pd.factorize(pd.MultiIndex.from_frame(writers), sort=False)
    distinct = pd.DataFrame(list(uniques), columns=["n", "l"])
    service = is_schedule_service(distinct["n"], distinct["l"]).to_numpy()[codes]
    deleted_sd = (text_column(registry, "RegistryValueName").str.lower().eq("sd")
                  & text_column(registry, "ActionType").eq("RegistryValueDeleted")).to_numpy()
    device = device_key(registry)
    suspects = set(device[~service | deleted_sd])
    return registry[device.isin(suspects).to_numpy()]


def registry_tasks(registry: pd.DataFrame, registrations: pd.DataFrame) -> pd.DataFrame:
    """One row per (device, task) registered or hidden outside the API.

    ``registry`` holds TaskCache rows (``TaskEvents.registry``); ``registrations`` the parsed
    API rows (``registration_rows``). Columns: ``DeviceId``, ``DeviceName``, ``TaskName``,
    ``TaskKey``, ``RegisteredAt`` (the first foreign write, or the deletion of SD), the writer
    (``RegisteredBy``, ``RegisteredByProcess``, ``RegisteredByCommandLine``), the decoded
    ``Command``/``Arguments`` (empty when no ``Actions`` value was seen), ``Hidden``/``HiddenAt``
    (SD deleted), ``RegistryOnly`` (foreign writes, no API row) and ``ApiRegistered``.
    """
    columns = ["DeviceId", "DeviceName", "TaskName", "TaskKey", "RegisteredAt", "RegisteredBy",
               "RegisteredByProcess", "RegisteredByCommandLine", "Command", "Arguments", "Hidden", "HiddenAt",
               "RegistryOnly", "ApiRegistered"]
    if registry.empty or "RegistryKey" not in registry:
        return pd.DataFrame(columns=columns)
    registry = on_suspect_devices(registry)
    if registry.empty:
        return pd.DataFrame(columns=columns)
    rows = pd.concat([registry.reset_index(drop=True), _cache_parts(registry["RegistryKey"]).reset_index(drop=True)],
                     axis=1)
    rows["_device"] = device_key(rows)
    rows["_value"] = text_column(rows, "RegistryValueName").str.lower()
    rows["_data"] = text_column(rows, "RegistryValueData")
    rows["_action"] = text_column(rows, "ActionType")
    rows["_guid"] = np.where(rows["Kind"].eq("tasks"), rows["Rest"].str.split("\\").str[0].str.lower(), "")
    rows["_time"] = pd.to_datetime(rows["Timestamp"], utc=True, errors="coerce")
    service = is_schedule_service(text_column(rows, "InitiatingProcessFileName"),
                                  text_column(rows, "InitiatingProcessCommandLine"))

    # which task path each {GUID} is: Tasks\{GUID}\Path, or Tree\<path>\Id
    by_path_value = rows[rows["Kind"].eq("tasks") & rows["_value"].eq("path")]
    by_id_value = rows[rows["Kind"].eq("tree") & rows["_value"].eq("id")]
    guids = pd.concat([
        pd.DataFrame({"_device": by_path_value["_device"], "_guid": by_path_value["_guid"],
                      "_path": by_path_value["_data"]}),
        pd.DataFrame({"_device": by_id_value["_device"], "_guid": by_id_value["_data"].str.strip().str.lower(),
                      "_path": "\\" + by_id_value["Rest"].str.lstrip("\\")}),
    ]).drop_duplicates(["_device", "_guid"])
    rows = rows.merge(guids, on=["_device", "_guid"], how="left")
    rows["TaskName"] = np.where(rows["Kind"].eq("tree"), "\\" + rows["Rest"].str.lstrip("\\"),
                                rows["_path"].fillna(rows["_guid"]))
    rows["TaskKey"] = task_key(rows["TaskName"])
    rows["_writer"] = account(text_column(rows, "InitiatingProcessAccountDomain"),
                              text_column(rows, "InitiatingProcessAccountName"))

    actions = rows[rows["_value"].eq("actions") & rows["_action"].eq("RegistryValueSet")]
    decoded = pd.DataFrame([decode_actions(d) for d in actions["_data"]], columns=["Command", "Arguments"],
                           index=actions.index)
    actions = actions[["_device", "TaskKey"]].join(decoded)
    actions = actions[actions["Command"].ne("")].drop_duplicates(["_device", "TaskKey"], keep="last")

    api = registrations[registrations["ActionType"].isin([CREATED, UPDATED])] if len(registrations) else registrations
    api_keys = set(zip(device_key(api), api["TaskKey"])) if len(api) else set()
    in_task = rows["Kind"].isin(["tree", "tasks"]) & rows["TaskKey"].ne("")
    foreign = rows[in_task & ~service.to_numpy() & rows["_action"].isin(_WRITES)].sort_values("_time")
    foreign = foreign[np.array([(d, k) not in api_keys for d, k in zip(foreign["_device"], foreign["TaskKey"])],
                               dtype=bool)]
    writes = foreign.drop_duplicates(["_device", "TaskKey"], keep="first").assign(RegistryOnly=True, Hidden=False)

    # SD deleted (Tarrask), or rewritten by another process (a descriptor that hides it from readers)
    sd_changed = rows["_action"].eq("RegistryValueDeleted") | (rows["_action"].eq("RegistryValueSet")
                                                                & ~service.to_numpy())
    sd_gone = rows[in_task & rows["Kind"].eq("tree") & rows["_value"].eq("sd") & sd_changed].sort_values("_time")
    sd_gone = _without_api_cleanup(sd_gone, registrations, service)
    hidden = sd_gone.drop_duplicates(["_device", "TaskKey"], keep="first")
    hidden = hidden.assign(RegistryOnly=False, Hidden=True, HiddenAt=hidden["_time"])

    found = pd.concat([writes, hidden], ignore_index=True)
    if found.empty:
        return pd.DataFrame(columns=columns)
    hidden_at = hidden.set_index(["_device", "TaskKey"])["_time"]
    found = found.sort_values("_time").groupby(["_device", "TaskKey"], as_index=False, sort=False).agg(
        DeviceId=("DeviceId", "first") if "DeviceId" in found else ("_device", "first"),
        DeviceName=("DeviceName", "first"), TaskName=("TaskName", "first"), RegisteredAt=("_time", "first"),
        RegisteredBy=("_writer", "first"), RegisteredByProcess=("InitiatingProcessFileName", "first"),
        RegisteredByCommandLine=("InitiatingProcessCommandLine", "first"), Hidden=("Hidden", "any"),
        RegistryOnly=("RegistryOnly", "any"))
    found["HiddenAt"] = [hidden_at.get((d, k), pd.NaT) for d, k in zip(found["_device"], found["TaskKey"])]
    found["ApiRegistered"] = [(d, k) in api_keys for d, k in zip(found["_device"], found["TaskKey"])]
    found = found.merge(actions, on=["_device", "TaskKey"], how="left")
    found[["Command", "Arguments"]] = found[["Command", "Arguments"]].fillna("")
    return found.drop(columns="_device")[columns]


def _without_api_cleanup(sd_gone: pd.DataFrame, registrations: pd.DataFrame, service: pd.Series) -> pd.DataFrame:
    """SD deletions, less those the Schedule service made while the API deleted the same task."""
    if sd_gone.empty or registrations.empty:
        return sd_gone
    deleted = registrations[registrations["ActionType"].eq(DELETED)]
    if deleted.empty:
        return sd_gone
    by_service = service.reindex(sd_gone.index).fillna(False).to_numpy(dtype=bool)
    pairs = sd_gone.reset_index().merge(
        pd.DataFrame({"_device": device_key(deleted), "TaskKey": deleted["TaskKey"], "_deleted": deleted["Timestamp"]}),
        on=["_device", "TaskKey"], how="inner")
    near = pairs[(pairs["_time"] - pairs["_deleted"]).abs() <= API_DELETE_SLACK]["index"]
    cleanup = sd_gone.index.isin(near) & by_service
    return sd_gone[~cleanup]
