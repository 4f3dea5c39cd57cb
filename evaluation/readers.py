"""Reading event recordings: every input format becomes the same flat ``Event`` record.

Public recordings of attacks come in many shapes: ``.evtx`` files, Windows event XML (one
``<Event>`` per line in Splunk's ``XmlWinEventLog`` exports, or a whole ``<Events>`` document,
sometimes UTF-16), and JSON lines written by log shippers (NXLog and the flat Azure/OTRF layout
keep the event fields at the top level; Winlogbeat nests them under ``event_data`` or
``winlog.event_data``; a bare array of Sysmon event fields with ``EventId`` and no host at all),
often packed in ``.zip`` or ``.tar.gz`` archives. The mapping to Defender
tables should not care which, so each reader yields ``Event`` objects that carry only what the
mapping needs: provider, event id, host, the record time and its kind, a record number when the
source kept one, and the event's own fields as strings.

The record time matters because Security events have no ``UtcTime`` of their own. It is taken in
the order the mapping specification gives: ``TimeCreated`` (UTC), else NXLog's ``EventTime``
(the collector's *local* clock, marked ``local``), else ``@timestamp`` (UTC). ``fallback_time`` keeps
the UTC one of ``TimeCreated``/``@timestamp`` for hosts whose clock cannot be corrected.
"""

from __future__ import annotations

import codecs
import io
import json
import re
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator
from xml.etree import ElementTree

SYSMON = "sysmon"
SECURITY = "security"
OTHER = "other"

_SYSMON_NAMES = {"microsoft-windows-sysmon", "microsoft-windows-sysmon/operational"}
_SECURITY_NAMES = {"microsoft-windows-security-auditing", "security"}
_EVENT_BLOCK = re.compile(r"<Event[\s>].*?</Event>", re.S)
_NS = re.compile(r"\{[^}]*\}")
#: Archive members that are never recordings (macOS resource forks, folders, documents).
_SKIP_MEMBER = re.compile(r"(^|/)(__MACOSX/|\._)|\.(md|yml|yaml|txt\.sha256|png|jpg)$", re.I)


class InputError(ValueError):
    """An input that cannot be read as a recording (the message names it)."""


@dataclass
class Event:
    """One event record, whatever format it came from."""

    provider: str  # SYSMON, SECURITY or OTHER
    event_id: int
    host: str
    record_time: str  # as written by the source
    local_time: bool  # True when record_time is NXLog's local EventTime
    fallback_time: str  # TimeCreated or @timestamp (UTC), "" when the source has neither
    record_number: str
    data: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> str:
        """A field as text ("" when absent); the mapping never sees None."""
        return self.data.get(name, "")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _provider(*names: Any) -> str:
    for name in names:
        lowered = _text(name).strip().lower()
        if lowered in _SYSMON_NAMES:
            return SYSMON
        if lowered in _SECURITY_NAMES:
            return SECURITY
    return OTHER


def _event_id(value: Any) -> int:
    if isinstance(value, dict):  # {"#text": 1, "#attributes": {...}} (evtx_dump JSON)
        value = value.get("#text", value.get("value"))
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return -1


# ---------------------------------------------------------------------------------------------
# XML (and EVTX, which the evtx package renders as XML)


def event_from_xml(block: str) -> Event | None:
    """One ``<Event>`` element as an ``Event``; None when it is not an event."""
    try:
        root = ElementTree.fromstring(block)
    except ElementTree.ParseError:
        return None
    system: dict[str, Any] = {}
    data: dict[str, str] = {}
    for part in root:
        tag = _NS.sub("", part.tag)
        if tag == "System":
            for item in part:
                name = _NS.sub("", item.tag)
                system[name] = item.attrib if item.attrib and not (item.text or "").strip() else (item.text or "")
        elif tag in ("EventData", "UserData"):
            holders = [part] if tag == "EventData" else list(part)
            for holder in holders:
                for item in holder:
                    name = item.attrib.get("Name") or _NS.sub("", item.tag)
                    data[name] = item.text or ""
    provider = system.get("Provider", {})
    provider_name = provider.get("Name", "") if isinstance(provider, dict) else ""
    created = system.get("TimeCreated", {})
    time = created.get("SystemTime", "") if isinstance(created, dict) else _text(created)
    return Event(
        provider=_provider(provider_name, system.get("Channel")),
        event_id=_event_id(system.get("EventID")),
        host=_text(system.get("Computer")),
        record_time=time,
        local_time=False,
        fallback_time=time,
        record_number=_text(system.get("EventRecordID")),
        data=data,
    )


def read_xml_text(text: str) -> Iterator[Event]:
    """Every ``<Event>`` block in a text: a document, or one event per line."""
    for match in _EVENT_BLOCK.finditer(text):
        event = event_from_xml(match.group(0))
        if event is not None:
            yield event


def decode(raw: bytes) -> str:
    """Bytes as text: UTF-16 (with or without BOM, as Windows exports it) or UTF-8."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return raw.decode("utf-16")
    if len(raw) > 1 and raw[1:2] == b"\x00" and raw[0:1] != b"\x00":
        return raw.decode("utf-16-le", errors="replace")
    return raw.decode("utf-8-sig", errors="replace")


def read_evtx(raw: bytes, name: str) -> Iterator[Event]:
    """An ``.evtx`` file, parsed by the ``evtx`` package (pyevtx-rs) and read as XML."""
    try:
        from evtx import PyEvtxParser
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise InputError(f"{name}: reading .evtx needs the 'evtx' package (pip install 'evtx>=0.14,<1')") from exc
    try:
        parser = PyEvtxParser(io.BytesIO(raw))
        records = list(parser.records())
    except (OSError, RuntimeError, ValueError) as exc:
        raise InputError(f"{name}: not a readable .evtx file ({exc})") from exc
    for record in records:
        event = event_from_xml(record["data"])
        if event is not None:
            yield event


# ---------------------------------------------------------------------------------------------
# JSON layouts


def _from_flat(record: dict[str, Any]) -> Event:
    """NXLog and the flat Azure/OTRF layout: event fields at the top level."""
    if record.get("TimeCreated"):
        time, local = _text(record["TimeCreated"]), False
    elif record.get("EventTime"):
        time, local = _text(record["EventTime"]), True
    else:
        time, local = _text(record.get("@timestamp")), False
    fallback = _text(record.get("TimeCreated") or record.get("@timestamp"))
    return Event(
        provider=_provider(record.get("SourceName"), record.get("ProviderName"), record.get("Channel")),
        event_id=_event_id(record.get("EventID")),
        host=_text(record.get("Hostname") or record.get("Computer") or record.get("host")),
        record_time=time,
        local_time=local,
        fallback_time=fallback,
        record_number=_text(record.get("RecordNumber") or record.get("EventRecordID")),
        data={key: _text(value) for key, value in record.items() if not isinstance(value, (dict, list))},
    )


def _from_winlogbeat(record: dict[str, Any], winlog: dict[str, Any]) -> Event:
    """Winlogbeat 6 (``event_data`` at the top) and 7+ (everything under ``winlog``)."""
    data = {key: _text(value) for key, value in (winlog.get("event_data") or {}).items()}
    data.update({key: _text(value) for key, value in (winlog.get("user_data") or {}).items()
                 if not isinstance(value, (dict, list))})
    time = _text(record.get("@timestamp"))
    return Event(
        provider=_provider(winlog.get("provider_name"), winlog.get("source_name"), winlog.get("channel"),
                           winlog.get("log_name")),
        event_id=_event_id(winlog.get("event_id")),
        host=_text(winlog.get("computer_name")),
        record_time=time,
        local_time=False,
        fallback_time=time,
        record_number=_text(winlog.get("record_id") or winlog.get("record_number")),
        data=data,
    )


def _from_evtx_json(record: dict[str, Any]) -> Event:
    """The JSON that evtx_dump and pyevtx-rs write: ``{"Event": {"System": ..., "EventData": ...}}``."""
    event = record["Event"]
    system = event.get("System") or {}
    provider = (system.get("Provider") or {}).get("#attributes", {})
    created = (system.get("TimeCreated") or {}).get("#attributes", {})
    data = {key: _text(value) for key, value in (event.get("EventData") or {}).items()
            if key != "#attributes"}
    time = _text(created.get("SystemTime"))
    return Event(
        provider=_provider(provider.get("Name"), system.get("Channel")),
        event_id=_event_id(system.get("EventID")),
        host=_text(system.get("Computer")),
        record_time=time,
        local_time=False,
        fallback_time=time,
        record_number=_text(system.get("EventRecordID")),
        data=data,
    )


def _from_sysmon_fields(record: dict[str, Any]) -> Event:
    """Sysmon event data exported without its System part: the event's own fields plus
    ``EventId`` (what PowerShell gives for ``Get-WinEvent`` properties, as endgameinc/eqllib's
    ``sysmon-*.json`` hold them). No host, channel or record number survives; the record time is
    Sysmon's own ``UtcTime``, and the converter names the device (``--host``)."""
    time = _text(record.get("UtcTime"))
    return Event(
        provider=SYSMON,
        event_id=_event_id(record.get("EventId")),
        host="",
        record_time=time,
        local_time=False,
        fallback_time=time,
        record_number="",
        data={key: _text(value) for key, value in record.items()
              if key != "EventId" and value is not None and not isinstance(value, (dict, list))},
    )


def event_from_json(record: Any) -> Event | None:
    """One JSON record in any supported layout; None for records that are not events."""
    if not isinstance(record, dict):
        return None
    if isinstance(record.get("Event"), dict):
        return _from_evtx_json(record)
    if isinstance(record.get("winlog"), dict):
        return _from_winlogbeat(record, record["winlog"])
    if isinstance(record.get("event_data"), dict) or "source_name" in record:
        return _from_winlogbeat(record, record)
    if "EventID" in record:
        return _from_flat(record)
    if "EventId" in record and "UtcTime" in record:
        return _from_sysmon_fields(record)
    return None


def read_json_text(text: str, name: str) -> Iterator[Event]:
    """JSON lines, or one JSON array of records."""
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            records = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise InputError(f"{name}: not valid JSON ({exc})") from exc
        for record in records:
            event = event_from_json(record)
            if event is not None:
                yield event
        return
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip().strip("\x00")
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            # A line cut short (a truncated archive) or damaged: counted for the README, the rest
            # of the file still counts.
            BAD_LINES.append(f"{name}: line {number}")
            continue
        event = event_from_json(record)
        if event is not None:
            yield event


# ---------------------------------------------------------------------------------------------
# Files and archives


def read_bytes(raw: bytes, name: str) -> Iterator[Event]:
    """Events from one file's bytes, by its name's extension and, failing that, its content."""
    lower = name.lower()
    if lower.endswith(".zip"):
        yield from _read_zip(raw, name)
    elif lower.endswith((".tar.gz", ".tgz", ".tar")):
        yield from _read_tar(raw, name)
    elif lower.endswith(".gz"):
        import gzip

        yield from read_bytes(gzip.decompress(raw), name[:-3])
    elif lower.endswith(".evtx") or raw[:8] == b"ElfFile\x00":
        yield from read_evtx(raw, name)
    else:
        text = decode(raw)
        head = text.lstrip()[:1]
        if head == "<":
            yield from read_xml_text(text)
        elif head in ("{", "["):
            yield from read_json_text(text, name)
        elif text.strip():
            raise InputError(f"{name}: neither Windows event XML nor JSON")


def _read_zip(raw: bytes, name: str) -> Iterator[Event]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
    except zipfile.BadZipFile as exc:
        raise InputError(f"{name}: not a zip archive ({exc})") from exc
    for member in archive.infolist():
        if member.is_dir() or _SKIP_MEMBER.search(member.filename):
            continue
        yield from read_bytes(archive.read(member), f"{name}:{member.filename}")


def _read_tar(raw: bytes, name: str) -> Iterator[Event]:
    """A tar archive, compressed or not. A truncated archive (some public ones are) yields what
    could be read of its members: the lost tail of the last member is reported, not hidden."""
    try:
        archive = tarfile.open(fileobj=io.BytesIO(raw), mode="r|*")
    except tarfile.TarError as exc:
        raise InputError(f"{name}: not a tar archive ({exc})") from exc
    for member in archive:
        if not member.isfile() or _SKIP_MEMBER.search(member.name):
            continue
        handle = archive.extractfile(member)
        if handle is None:
            continue
        chunks = []
        try:
            while chunk := handle.read(1 << 20):
                chunks.append(chunk)
        except (EOFError, OSError, tarfile.TarError):
            TRUNCATED.append(f"{name}:{member.name}")
        yield from read_bytes(b"".join(chunks), f"{name}:{member.name}")
        if TRUNCATED and TRUNCATED[-1].endswith(member.name):
            break


#: Archive members found cut short, and JSON lines that could not be read, during this process's
#: reads (the converter reports both in its README).
TRUNCATED: list[str] = []
BAD_LINES: list[str] = []


def content_digest(raw: bytes, name: str) -> str:
    """SHA-256 of what an input holds: an archive's member contents (in order), so that the same
    recording packed twice (different zip timestamps) is recognised as one; else the bytes."""
    import hashlib

    digest = hashlib.sha256()
    lower = name.lower()
    try:
        if lower.endswith(".zip"):
            archive = zipfile.ZipFile(io.BytesIO(raw))
            for member in archive.infolist():
                if not member.is_dir() and not _SKIP_MEMBER.search(member.filename):
                    digest.update(hashlib.sha256(archive.read(member)).digest())
            return digest.hexdigest()
    except zipfile.BadZipFile:
        pass
    digest.update(raw)
    return digest.hexdigest()


def read_path(path: Path) -> Iterable[Event]:
    """All events of one input file."""
    return read_bytes(Path(path).read_bytes(), Path(path).name)
