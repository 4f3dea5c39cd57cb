"""Rows as exports to storage write them: JSON lines, and Defender's envelope around each row.

Defender XDR's streaming API, sent to a storage account, writes each table into a container
``insights-logs-advancedhunting-<table>`` (``files.EXPORT_CONTAINER_PREFIXES``), as hourly blobs
``.../y=YYYY/m=MM/d=DD/h=HH/m=00/PT1H.json``. Each line of a blob is one event in an envelope; as
Microsoft's "stream Advanced Hunting events to your storage account" page describes it, the
envelope holds ``time`` (when the service received the event), ``tenantId``, ``operationName``,
``category`` (the table's name after ``AdvancedHunting-``) and ``properties``, which is the
Advanced Hunting row as JSON with the table's column names. The Event Hubs form wraps a batch as
``{"records": [envelope, ...]}``; a line of that shape is read as its records.

The row is the envelope's ``properties``; the envelope's own fields are the transport's, not the
table's, and are dropped (``Timestamp`` is inside ``properties``). Values that are objects or
lists (``AdditionalFields``) stay as they are here and become JSON text when the loader types
the column, as a dynamic column reads. An envelope of another table's category in a table's
container is refused: mixing tables would put foreign rows into the hunt.

Log Analytics' data export (``am-<Table>`` containers) writes plain JSON lines with the row's
columns at the top level; those lines have no envelope and pass through unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from hunting_lib.errors import BadInputError

#: The prefix of an envelope's ``category``: ``AdvancedHunting-DeviceProcessEvents``.
CATEGORY_PREFIX = "AdvancedHunting-"


def is_envelope(record: dict[str, Any]) -> bool:
    """Whether a JSON object is a streaming-API envelope rather than a row."""
    category = record.get("category")
    return (isinstance(record.get("properties"), dict) and isinstance(category, str)
            and category.lower().startswith(CATEGORY_PREFIX.lower()))


def rows_of(record: Any, table: str, path: Path, line: int) -> Iterator[dict[str, Any]]:
    """The table rows one JSON line holds: itself, an envelope's ``properties``, or the
    ``properties`` of each envelope in a ``records`` batch."""
    if not isinstance(record, dict):
        raise BadInputError(f"{path}: row {line}: expected a JSON object per line")
    if isinstance(record.get("records"), list) and len(record) == 1:
        for inner in record["records"]:
            yield from rows_of(inner, table, path, line)
        return
    if not is_envelope(record):
        yield record
        return
    category = record["category"][len(CATEGORY_PREFIX):]
    if category.lower() != table.lower():
        raise BadInputError(f"{path}: row {line}: column category: an event of {category[:80]!r}, "
                            f"not {table}; keep each table's export in its own folder")
    yield record["properties"]


def is_json_lines(path: Path) -> bool:
    """Whether a ``.json`` part holds JSON lines (exports to storage write ``PT1H.json`` so)
    rather than one array: its first character that is not white space is not ``[``."""
    with path.open("rb") as handle:
        while chunk := handle.read(4096):
            stripped = chunk.lstrip().removeprefix(b"\xef\xbb\xbf").lstrip()
            if stripped:
                return not stripped.startswith(b"[")
    return True


def read_json_lines(path: Path, table: str) -> list[dict[str, Any]]:
    """The rows of a JSON lines file, envelopes unwrapped; a bad line names its number."""
    records: list[dict[str, Any]] = []
    with path.open(encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise BadInputError(f"{path}: row {number}: not valid JSON ({exc.msg})") from None
            records.extend(rows_of(record, table, path, number))
    return records
