"""What a hand-off sends, as a list of calls: built once, then printed (``--dry-run``) or sent.

Each ``Call`` is one request to the Sentinel REST API under the workspace's resource path: its
method, path, api-version and JSON body, and how it goes out (``via``): through the msticpy
``MicrosoftSentinel`` method named there, or straight to the REST API with the client's own token
where msticpy cannot carry the fields (see ``BOOKMARK_API_VERSION``). Bodies are redacted when
the plan is built (``report.redact.redact_records``), so a dry run shows exactly what goes out and
no secret in a command line ever leaves the kit.
"""

from __future__ import annotations

import html
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from hunting_lib.handoff.findings import (
    Finding,
    Findings,
    entity_mappings,
    narrowed_kql,
    result_rows,
    summary_text,
    task_names,
    time_range,
)
from hunting_lib.history.runs import iso
from hunting_lib.report.redact import redact_records

#: The bookmarks API version that carries ``entityMappings`` (with ``eventTime``,
#: ``queryStartTime``, ``queryEndTime``, ``tactics``, ``techniques``): Microsoft.SecurityInsights
#: bookmarks, 2023-02-01-preview (ARM template reference, "Microsoft.SecurityInsights bookmarks
#: 2023-02-01-preview"; the REST reference "Bookmarks - Create Or Update" documents the PUT and the
#: time fields, whose GA versions list no ``entityMappings``). msticpy 3's ``create_bookmark``
#: PUTs api-version 2020-01-01 with displayName, query, queryResult, notes and labels only.
BOOKMARK_API_VERSION = "2023-02-01-preview"
#: The api-versions msticpy 3 uses for what it sends on our behalf (shown in dry runs).
INCIDENT_API_VERSION = "2020-01-01"
RELATION_API_VERSION = "2021-04-01"
COMMENT_API_VERSION = "2020-01-01"
WATCHLIST_API_VERSION = "2021-04-01"
#: Where bookmark ids come from: the same finding and window give the same id, so a second send
#: replaces the bookmark instead of adding a copy.
BOOKMARK_NAMESPACE = uuid.UUID("5f1d7a52-6a0e-4c1b-9a53-2b8f4f0c1e53")
#: Stands for the incident msticpy creates (its id is only known once it exists).
NEW_INCIDENT = "{new-incident-id}"
PROVIDER = "/providers/Microsoft.SecurityInsights"
LABELS = ["hunting_lib", "T1053.005", "rare-scheduled-task"]
MAX_TITLE = 200


@dataclass
class Call:
    """One request: ``method`` ``path`` (under the workspace) ``?api-version=`` with ``body``.

    ``via`` is ``"rest"`` (sent with the client's token) or the msticpy method that sends it,
    called with ``arguments``. ``ref`` names the object for later calls (a bookmark's id).
    """

    kind: str
    method: str
    path: str
    api_version: str
    body: dict
    via: str = "rest"
    arguments: dict = field(default_factory=dict)
    note: str = ""
    ref: str = ""


def _one_line(text: Any, limit: int = MAX_TITLE) -> str:
    return " ".join(str(text or "").split())[:limit]


def bookmark_id(finding: Finding) -> str:
    """A stable id per finding and window (uuid5 of GroupKey, first and last run)."""
    group = finding.group
    return str(uuid.uuid5(BOOKMARK_NAMESPACE, f"{group.get('GroupKey')}|{group.get('FirstSeen')}|"
                                              f"{group.get('LastSeen')}"))


def bookmark_call(findings: Findings, finding: Finding) -> Call:
    """The PUT that creates (or replaces) one finding's bookmark, with time range and entities."""
    group = finding.group
    first, last = time_range(finding)
    names = task_names(group)
    title = f"Rare scheduled task: {group.get('FileName')}" + (f" ({names[0]})" if names else "") + \
        f" [{group.get('GroupKey')}]"
    properties: dict[str, Any] = {
        "displayName": _one_line(title),
        "notes": summary_text(finding),
        "labels": LABELS + [str(group.get("GroupKey"))],
        "entityMappings": entity_mappings(finding),
        "tactics": ["Persistence", "Execution", "PrivilegeEscalation"],
        "techniques": ["T1053"],
    }
    if first is not None:
        properties["eventTime"] = iso(first)
        properties["queryStartTime"] = iso(first)
    if last is not None:
        properties["queryEndTime"] = iso(last)
    ident = bookmark_id(finding)
    body = redact_records({"properties": properties})
    # The query is not run through the rules as one text: a rule can match across a literal's end
    # (net use's "/user:NAME <next token>") and corrupt the KQL. narrowed_kql puts only
    # secret-free values into it instead (a command line with a secret by its start).
    body["properties"]["query"] = narrowed_kql(findings.audit["kql"], group)
    body["properties"]["queryResult"] = result_rows(finding)  # JSON text, redacted value by value
    return Call("bookmark", "PUT", f"{PROVIDER}/bookmarks/{ident}", BOOKMARK_API_VERSION, body, ref=ident,
                note=f"finding {finding.rank} ({_one_line(group.get('FileName'), 80)}, {group.get('GroupKey')}); "
                     f"REST with the client's token: msticpy's create_bookmark sends no time range or entities")


def _severity(chosen: list[Finding]) -> str:
    return "High" if any(f.group.get("Critical") for f in chosen) else "Medium"


def comment_html(text: str) -> str:
    """A comment's message: attacker text escaped (Sentinel renders comments as HTML), lines kept."""
    return "<br>".join(html.escape(line) for line in text.splitlines())


def incident_calls(chosen: list[Finding], bookmarks: list[Call], incident: str | None,
                   new_incident: str | None) -> list[Call]:
    """Create an incident (``new_incident``: its title) or use ``incident`` (its id); attach every
    bookmark to it and post one comment per finding. No incident asked: no calls."""
    if not incident and not new_incident:
        return []
    calls: list[Call] = []
    target = incident or NEW_INCIDENT
    if new_incident:
        starts = [s for s in (time_range(f)[0] for f in chosen) if s is not None]
        ends = [e for e in (time_range(f)[1] for f in chosen) if e is not None]
        description = "Findings of a rare scheduled task hunt (hunting_lib, MITRE ATT&CK T1053.005): " + \
            "; ".join(f"rank {f.rank} {_one_line(f.group.get('FileName'), 80)} [{f.group.get('GroupKey')}]"
                      for f in chosen)
        arguments: dict[str, Any] = {"title": _one_line(new_incident), "severity": _severity(chosen),
                                     "status": "New", "description": html.escape(description[:4000]),
                                     "labels": list(LABELS)}
        properties = {k: arguments[k] for k in ("title", "severity", "status", "description")}
        properties["labels"] = [{"labelName": label, "labelType": "User"} for label in LABELS]
        if starts:
            arguments["first_activity_time"] = iso(min(starts))
            properties["firstActivityTimeUtc"] = min(starts).to_pydatetime().isoformat()  # as msticpy sends it
        if ends:
            arguments["last_activity_time"] = iso(max(ends))
            properties["lastActivityTimeUtc"] = max(ends).to_pydatetime().isoformat()
        calls.append(Call("incident", "PUT", f"{PROVIDER}/incidents/{NEW_INCIDENT}", INCIDENT_API_VERSION,
                          redact_records({"properties": properties}), via="create_incident",
                          arguments=redact_records(arguments), note="the incident (msticpy picks its id)"))
    for bookmark in bookmarks:
        calls.append(Call("relation", "PUT", f"{PROVIDER}/incidents/{target}/relations/{{new-relation-id}}",
                          RELATION_API_VERSION,
                          {"properties": {"relatedResourceId": f"{{workspace}}{PROVIDER}/bookmarks/{bookmark.ref}"}},
                          via="add_bookmark_to_incident", arguments={"incident": target, "bookmark": bookmark.ref},
                          note=f"bookmark {bookmark.ref} into the incident"))
    for finding in chosen:
        message = comment_html(summary_text(finding))
        calls.append(Call("comment", "PUT", f"{PROVIDER}/incidents/{target}/comments/{{new-comment-id}}",
                          COMMENT_API_VERSION, redact_records({"properties": {"message": message}}),
                          via="post_comment", arguments=redact_records({"incident_id": target, "comment": message}),
                          note=f"a comment summarising finding {finding.rank}"))
    return calls


def handoff_plan(findings: Findings, chosen: list[Finding], incident: str | None = None,
                 new_incident: str | None = None) -> list[Call]:
    """Every call of one hand-off, in order: the bookmarks, then the incident, relations, comments."""
    bookmarks = [bookmark_call(findings, finding) for finding in chosen]
    return bookmarks + incident_calls(chosen, bookmarks, incident, new_incident)


def format_call(call: Call, number: int, total: int) -> str:
    """One call as a dry run prints it: a comment line, the request line, the JSON body."""
    how = "REST" if call.via == "rest" else f"msticpy MicrosoftSentinel.{call.via}"
    head = f"# {number}/{total} {call.kind} via {how}" + (f": {call.note}" if call.note else "")
    request = f"{call.method} {{workspace}}{call.path}?api-version={call.api_version}"
    return "\n".join([head, request, json.dumps(call.body, indent=2, ensure_ascii=False)])


def format_plan(calls: list[Call]) -> str:
    """The whole plan as text; ``{workspace}`` stands for the workspace's resource path."""
    return "\n\n".join(format_call(call, i, len(calls)) for i, call in enumerate(calls, start=1))
