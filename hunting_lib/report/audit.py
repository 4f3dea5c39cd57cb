"""The audit trail of one hunt: how a result was made, so that someone else can check it.

``audit_record`` answers "can I show how this result was made?" (issue 15, part 5): the kit's
version, a SHA-256 of every configuration file in force, the exact KQL the hunt corresponds to
(what ``python -m hunting_lib kql`` prints for the same parameters), the data window, the newest
event the hunt saw, and the data sources by name. Never a local path: the record travels with
``findings.json`` and the report, and the analyst's folders are nobody else's business.
``audit_html`` is the report's "Audit" section.
"""

from __future__ import annotations

import hashlib
from html import escape
from importlib import resources
from pathlib import Path, PurePath, PureWindowsPath
from typing import Any

import pandas as pd

from hunting_lib.result import HuntResult

#: The configuration files a hunt reads, by role: the shipped file of each. ``exclusions`` and
#: ``known_tasks`` may be the analyst's own file (``PARAMETER_ROLES``); a role whose file this
#: version of the kit does not ship is left out.
CONFIG_FILES: dict[str, str] = {
    "exclusions": "config/exclusions.yaml",
    "known_tasks": "config/known_tasks.yaml",
    "scoring": "config/scoring.yaml",
    "tripwires": "config/tripwires.yaml",
    "scope": "config/scope.yaml",
    "paths": "config/paths.yaml",
    "task_definitions": "config/task_definitions.yaml",
    "device_tables": "config/device_tables.yaml",
    "redaction": "config/redaction.yaml",
}
#: The roles ``HuntParams`` chooses the file of (a path, the shipped file, or None: off).
PARAMETER_ROLES = ("exclusions", "known_tasks")
#: What the ``kql`` command renders by default, and so what a local hunt's record shows.
DEFAULT_DIALECT = "defender"


def _name(path: object) -> str:
    """The last part of a path, Windows or POSIX spelling."""
    text = str(path).rstrip("/\\")
    pure = PureWindowsPath(text) if "\\" in text and "/" not in text else PurePath(text)
    return pure.name or text


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def config_hashes(params: Any) -> dict[str, dict[str, Any] | None]:
    """Per role, the file in force by name, whether it is the shipped one, and its SHA-256.

    None for a role switched off (``--exclusions none``). A file that cannot be read is recorded
    with ``sha256: null`` and the reason, rather than failing the hunt's output.
    """
    package = resources.files("hunting_lib")
    hashes: dict[str, dict[str, Any] | None] = {}
    for role, shipped in CONFIG_FILES.items():
        chosen = getattr(params, role, shipped) if role in PARAMETER_ROLES else shipped
        if chosen is None or str(chosen).lower() == "none":
            hashes[role] = None
            continue
        is_shipped = str(chosen) == shipped
        if is_shipped and not package.joinpath(shipped).is_file():
            continue  # a role this version of the kit does not ship
        try:
            data = package.joinpath(shipped).read_bytes() if is_shipped else Path(chosen).read_bytes()
            hashes[role] = {"file": _name(chosen), "shipped": is_shipped, "sha256": _sha256(data)}
        except OSError as exc:
            hashes[role] = {"file": _name(chosen), "shipped": is_shipped, "sha256": None,
                            "error": exc.__class__.__name__}
    return hashes


def hunt_kql(result: HuntResult) -> tuple[str | None, str, str | None]:
    """(KQL, dialect, note): the query ``python -m hunting_lib kql`` prints for this hunt's
    parameters, in the remote source's dialect or the command's default. None, with a note, where
    the command renders none (``--match process``)."""
    from hunting_lib.remote.kql import render_hunt_kql

    target = str(result.sources.get("dialect") or DEFAULT_DIALECT) if result.remote is not None else DEFAULT_DIALECT
    if result.params.match != "seed":
        return None, target, "match=process is not rendered as KQL; the hunt used process identity"
    try:
        return render_hunt_kql(result.params, target=target), target, None
    except Exception as exc:  # the record never fails the output it goes into; it says why
        return None, target, f"the KQL could not be rendered ({exc.__class__.__name__}: {' '.join(str(exc).split())})"


def _iso(stamp: object) -> str | None:
    if stamp is None or pd.isna(stamp):
        return None
    value = pd.Timestamp(stamp)
    value = value.tz_localize("UTC") if value.tzinfo is None else value.tz_convert("UTC")
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f") + f"{value.nanosecond // 100}Z"


def _stamps(frames: list[pd.DataFrame | None]) -> pd.Series:
    """Every ``Timestamp`` of ``frames`` as one UTC series (the min and max of each are enough)."""
    parts = [pd.to_datetime(frame["Timestamp"], utc=True, errors="coerce").agg(["min", "max"])
             for frame in frames if frame is not None and "Timestamp" in frame and len(frame)]
    return pd.concat(parts, ignore_index=True).dropna() if parts else pd.Series([], dtype="datetime64[ns, UTC]")


def _launch_times(result: HuntResult) -> pd.DataFrame | None:
    """The first and last launch of every group in scope (``FleetContext.group_counts``: the same
    whichever reader read the data, and remotely), as ``Timestamp`` rows; else the launches held."""
    counts = getattr(result.fleet, "group_counts", None)
    if counts is None or not len(counts):
        return result.task_starts
    return pd.DataFrame({"Timestamp": pd.concat([counts["FirstSeen"], counts["LastSeen"]], ignore_index=True)})


def latest_event(result: HuntResult) -> str | None:
    """The newest ``Timestamp`` among what the hunt read to decide: its launches in scope (every
    group's, ``FleetContext.group_counts``) and the activity rows it matched. It says how fresh the
    data was: an export that stopped early shows here even when the window asked for runs on."""
    stamps = _stamps([_launch_times(result), result.activity_rows])
    return _iso(stamps.max()) if len(stamps) else None


def data_window(result: HuntResult) -> dict[str, str | None]:
    """The window the hunt covered: each bound as the parameters set it, else the first or last
    launch in scope or activity row (the same for every reader: a table loaded whole holds rows
    outside what the hunt looks at, such as task registrations from before the launches)."""
    params = result.params
    if params.start is not None and params.end is not None:
        return {"start": _iso(params.start), "end": _iso(params.end), "from": "parameters"}
    frames = [_launch_times(result), result.activity_rows]
    stamps = _stamps(frames)
    low = params.start if params.start is not None else (stamps.min() if len(stamps) else None)
    high = params.end if params.end is not None else (stamps.max() if len(stamps) else None)
    given = [name for name, bound in (("start", params.start), ("end", params.end)) if bound is not None]
    return {"start": _iso(low), "end": _iso(high), "from": "parameters: " + ", ".join(given) if given else "data"}


def source_names(result: HuntResult) -> dict[str, Any]:
    """The data sources by name: each table's file (or folder of parts) name, the data folder's
    name; for a remote hunt the provider, its environment (workspace type) and the dialect."""
    if result.remote is not None:
        provider = getattr(result.remote, "provider", None)
        names: dict[str, Any] = {"remote": True, **{k: str(v) for k, v in result.sources.items()}}
        environment = getattr(provider, "environment_name", None) or getattr(provider, "environment", None)
        if environment:
            names["environment"] = str(environment)
        return names
    tables: dict[str, str] = {}
    folders = set()
    for table, value in result.sources.items():
        paths = value if isinstance(value, (list, tuple)) else [value]
        if len(paths) == 1:
            is_folder = Path(str(paths[0])).is_dir()
            tables[table] = _name(paths[0]) + ("/" if is_folder else "")
        else:  # a list of part files: the folder that holds them
            tables[table] = f"{_name(Path(str(paths[0])).parent)}/ ({len(paths)} files)"
        folders.add(_name(Path(str(paths[0])).parent) if len(paths) == 1 else _name(Path(str(paths[0])).parents[1]))
    names = {"tables": tables}
    if len(folders) == 1:
        names["data_folder"] = folders.pop()
    if not tables:
        names["reader"] = str(result.reader.get("reader", "frames"))
    return names


def audit_record(result: HuntResult, redacted: bool = False) -> dict[str, Any]:
    """How this hunt's result was made: kit version, config hashes, KQL, window, latest event,
    sources (names only). ``redacted`` says whether the document it goes into hides secrets
    (``findings.json``: no, it keeps the exact rows the KQL returns)."""
    from hunting_lib import __version__

    kql, dialect, note = hunt_kql(result)
    record: dict[str, Any] = {
        "kit_version": __version__,
        "config_hashes": config_hashes(result.params),
        "kql": kql,
        "kql_dialect": dialect,
        "window": data_window(result),
        "latest_event": latest_event(result),
        "sources": source_names(result),
        "redacted": bool(redacted),
    }
    if note:
        record["kql_note"] = note
    return record


def _second(stamp: object) -> str:
    """A time as the report's tables show it (to the second, UTC); findings.json keeps the precision."""
    from hunting_lib.report.tables import second_text

    return (second_text(pd.Series([stamp], dtype=object)).iloc[0] or str(stamp)) if stamp is not None else "None"


def audit_html(result: HuntResult, keep_secrets: bool | None = None) -> str:
    """The report's "Audit" section as one HTML fragment: what the record holds, readable.

    Every value is escaped (file names are the analyst's, and a source name can be anything).
    """
    from hunting_lib.report.redact import display_keeps_secrets

    kept = display_keeps_secrets() if keep_secrets is None else keep_secrets
    record = audit_record(result, redacted=not kept)
    window = record["window"]
    sources = record["sources"]
    source_text = ", ".join(f"{escape(str(table))}: <code>{escape(str(name))}</code>"
                            for table, name in (sources.get("tables") or {}).items())
    if not source_text:
        source_text = ", ".join(f"{escape(str(k))}: <code>{escape(str(v))}</code>" for k, v in sources.items())
    elif sources.get("data_folder"):
        source_text = f"folder <code>{escape(sources['data_folder'])}</code>: " + source_text
    hashes = "".join(
        f'<li data-audit-config="{escape(role)}">{escape(role)}: '
        + ("off" if entry is None else
           f'<code>{escape(entry["file"])}</code> ({"shipped" if entry["shipped"] else "analyst file"}) '
           f'sha256 <code>{escape(str(entry["sha256"]))}</code>')
        + "</li>" for role, entry in record["config_hashes"].items())
    kql = record["kql"]
    kql_block = (f'<details><summary>The KQL ({escape(record["kql_dialect"])} dialect)</summary>'
                 f'<pre data-audit="kql">{escape(kql)}</pre></details>') if kql else escape(record.get("kql_note", ""))
    rows = [
        ("Kit version", f'<span data-audit="kit-version">{escape(record["kit_version"])}</span>'),
        ("Data window (UTC)", f'<span data-audit="window-start">{escape(_second(window["start"]))}</span> to '
                              f'<span data-audit="window-end">{escape(_second(window["end"]))}</span> '
                              f'(from {escape(window["from"])})'),
        ("Latest event seen", f'<span data-audit="latest-event">{escape(_second(record["latest_event"]))}</span>'),
        ("Sources", source_text or "none"),
        ("Secrets in command lines", '<span data-audit="secrets">'
         + ("kept (--keep-secrets)" if kept else "redacted (config/redaction.yaml)") + "</span>"),
        ("Configuration in force", f"<ul>{hashes}</ul>"),
        ("Query", kql_block),
    ]
    cell = 'style="text-align: left; vertical-align: top"'
    body = "\n".join(f"<tr><th {cell}>{name}</th><td {cell}>{value}</td></tr>" for name, value in rows)
    return f'<div class="hl-audit" data-audit="audit"><h2>Audit</h2><table>\n{body}\n</table></div>'
