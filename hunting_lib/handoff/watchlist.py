"""Verdicts and exclusion keys as a Microsoft Sentinel watchlist, so KQL can join on GroupKey.

The local history file stays the source of truth: the watchlist is a copy, written through
msticpy's watchlist API (``list_watchlists``, ``create_watchlist``, ``list_watchlist_items``,
``add_watchlist_item``). An item is one GroupKey and one exact (FileName, ProcessCommandLine,
FolderPath) of it (per-user copies share a key). A sync is idempotent: an item already there with
the same values is left alone; one whose values changed (a new verdict) is updated in place under
its existing item id (msticpy's ``add_watchlist_item`` only replaces an identical item, so a
changed one would be added twice); an item only in the watchlist is never deleted, only counted
and reported.

A scheduled rule or another analyst's query joins on it with
``_GetWatchlist('NAME') | project GroupKey = SearchKey, Verdict, Expires`` (export-rule's
detection joins on the exact strings).
"""
from __future__ import annotations

import re
from typing import Any

import pandas as pd

from hunting_lib.engine.group_key import readable_pattern
from hunting_lib.errors import BadInputError
from hunting_lib.handoff.findings import Findings
from hunting_lib.handoff.plan import PROVIDER, WATCHLIST_API_VERSION, Call
from hunting_lib.handoff.send import HttpFunction, rest_call
from hunting_lib.report.redact import redact_records

#: The watchlist's columns; GroupKey is its search key. The group's exact strings are there too:
#: export-rule's detection joins on them (GroupKey's normalisation cannot be written in KQL).
COLUMNS = ("GroupKey", "FileName", "ProcessCommandLine", "FolderPath", "Pattern", "Verdict", "Analyst", "Expires",
           "At", "Source")
GROUP_STRINGS = ("FileName", "ProcessCommandLine", "FolderPath")
SEARCH_KEY = "GroupKey"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
DESCRIPTION = ("Rare scheduled task hunt (hunting_lib): analysts' verdicts and exclusion keys per GroupKey. "
               "A copy: the hunt history file is the source of truth.")


def check_watchlist_name(name: str) -> str:
    """A watchlist alias safe in a URL path: letters, digits, ``_`` and ``-``, at most 64."""
    if not _NAME.match(str(name or "")):
        raise BadInputError(f"--sync-watchlist {name!r}: a watchlist name is letters, digits, '_' and '-' "
                            f"(at most 64, starting with a letter or digit)")
    return str(name)


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    return " ".join(str(value).split())


def _strings(rows: list[dict]) -> list[dict]:
    """The distinct exact (FileName, ProcessCommandLine, FolderPath) of some rows."""
    seen = {tuple(_raw(row.get(c)) for c in GROUP_STRINGS) for row in rows}
    return [dict(zip(GROUP_STRINGS, values)) for values in sorted(seen)]


def _raw(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)


def verdict_items(verdicts: pd.DataFrame, groups_by_key: dict[str, list[dict]] | None = None) -> list[dict]:
    """Items from the verdicts in force (``history.verdicts.current_verdicts``): one per exact
    group string of the key in ``groups_by_key`` (rows with FileName, ProcessCommandLine,
    FolderPath), or one with empty strings when none is known."""
    items = []
    for row in verdicts.to_dict("records"):  # one row per key with a verdict: tens, not events
        key = _text(row.get("GroupKey"))
        for strings in _strings((groups_by_key or {}).get(key, [])) or [dict.fromkeys(GROUP_STRINGS, "")]:
            items.append({"GroupKey": key, **strings, "Pattern": readable_pattern(_text(row.get("GroupPattern"))),
                          "Verdict": _text(row.get("Verdict")), "Analyst": _text(row.get("Analyst")),
                          "Expires": _text(row.get("Expires")), "At": _text(row.get("At")),
                          "Source": f"verdict:{_text(row.get('Id'))}"})
    return items


def exclusion_items(findings: Findings) -> list[dict]:
    """One item per rare group an exclusion rule or the known-task catalogue suppressed in the
    findings (``Verdict`` ``excluded``; the rule's owner and expiry as analyst and expires)."""
    rules = {str(r.get("Rule")): r for r in findings.parameters.get("exclusion_rules") or [] if isinstance(r, dict)}
    items = []
    for group in findings.rare_tasks:
        rule = _text(group.get("SuppressedBy"))
        if not rule or rule.startswith("verdict:"):
            continue
        details = rules.get(rule, {})
        items.append({"GroupKey": _text(group.get("GroupKey")), **_strings([group])[0],
                      "Pattern": readable_pattern(_text(group.get("GroupPattern"))),
                      "Verdict": "excluded", "Analyst": _text(details.get("Owner")),
                      "Expires": _text(details.get("Expires")), "At": "", "Source": f"rule:{rule}"})
    return items


def watchlist_items(verdicts: pd.DataFrame | None, findings: Findings | None,
                    recorded: dict[str, list[dict]] | None = None) -> list[dict]:
    """Verdict items, then exclusion items for keys without a verdict (a verdict is the analyst's
    word on the key), redacted (a pattern or a command line may hold a secret; a redacted one
    matches nothing in a join, which is the safe way to be wrong). A verdict's group strings come
    from the findings' rows of its key and ``recorded`` (the history's latest finding per key)."""
    groups: dict[str, list[dict]] = {key: list(rows) for key, rows in (recorded or {}).items()}
    for row in findings.rare_tasks if findings is not None else []:
        groups.setdefault(_text(row.get("GroupKey")), []).append(row)
    items = verdict_items(verdicts, groups) if verdicts is not None and not verdicts.empty else []
    keys = {item["GroupKey"] for item in items}
    for item in exclusion_items(findings) if findings is not None else []:
        if item["GroupKey"] not in keys:  # a verdict is the analyst's word on the whole key
            items.append(item)
    return redact_records(items)


def watchlist_plan(name: str, items: list[dict]) -> list[Call]:
    """What a sync may send, for a dry run: the create (only when the watchlist is absent) and one
    item PUT per key (only when absent or changed). The item ids are known only once listed."""
    name = check_watchlist_name(name)
    calls = [Call("watchlist", "PUT", f"{PROVIDER}/watchlists/{name}", WATCHLIST_API_VERSION,
                  {"properties": {"displayName": name, "source": "hunting_lib", "provider": "hunting_lib",
                                  "description": DESCRIPTION, "itemsSearchKey": SEARCH_KEY,
                                  "contentType": "text/csv"}},
                  via="create_watchlist", note="only if the watchlist does not exist yet")]
    for item in items:
        calls.append(Call("watchlist_item", "PUT", f"{PROVIDER}/watchlists/{name}/watchlistItems/{{item-id}}",
                          WATCHLIST_API_VERSION, {"properties": {"itemsKeyValue": item}}, via="add_watchlist_item",
                          note=f"{item['GroupKey']}: only if absent or changed (a changed item keeps its id)"))
    return calls


def recorded_groups(store: Any, keys: list[str]) -> dict[str, list[dict]]:
    """The exact group strings of each key's latest recorded finding in the history file (the
    history keeps command lines redacted)."""
    return {key: store.frame(
        "SELECT file_name AS FileName, command_line AS ProcessCommandLine, folder_path AS FolderPath FROM findings"
        " WHERE group_key = ? AND run_id = (SELECT MAX(run_id) FROM findings WHERE group_key = ?)",
        [key, key]).to_dict("records") for key in keys}


def item_key(values: dict) -> tuple[str, ...]:
    """What makes an item the same item: its GroupKey and exact group strings."""
    return tuple(str(values.get(c, "")) for c in (SEARCH_KEY,) + GROUP_STRINGS)


def _existing_items(client: Any, name: str) -> dict[tuple[str, ...], tuple[str, dict]]:
    """The watchlist's items by ``item_key``: (item id, values)."""
    frame = client.list_watchlist_items(name)
    if frame is None or frame.empty:
        return {}
    prefix = "properties.itemsKeyValue."
    columns = [c for c in frame.columns if c.startswith(prefix)]
    found = {}
    for row in frame.to_dict("records"):  # the watchlist's items: tens to hundreds
        values = {c[len(prefix):]: _raw(row.get(c)) for c in columns}
        if values.get(SEARCH_KEY, ""):
            found[item_key(values)] = (str(row.get("properties.watchlistItemId") or row.get("name") or ""), values)
    return found


def sync_watchlist(client: Any, name: str, items: list[dict], http: HttpFunction | None = None) -> dict:
    """Create the watchlist if absent, then add or update each item; returns the counts
    (``created``, ``added``, ``updated``, ``unchanged``, ``only_in_watchlist``)."""
    name = check_watchlist_name(name)
    existing = client.list_watchlists()
    present = existing is not None and not existing.empty and name in set(existing.get("name", pd.Series()).astype(str))
    counts = {"created": 0, "added": 0, "updated": 0, "unchanged": 0, "only_in_watchlist": 0}
    if not present:
        client.create_watchlist(watchlist_name=name, description=DESCRIPTION, search_key=SEARCH_KEY,
                                provider="hunting_lib", source="hunting_lib")
        counts["created"] = 1
    current = {} if not present else _existing_items(client, name)
    for item in items:
        key = item_key(item)
        if key not in current:
            client.add_watchlist_item(name, dict(item))
            counts["added"] += 1
        elif {c: current[key][1].get(c, "") for c in COLUMNS} == {c: item.get(c, "") for c in COLUMNS}:
            counts["unchanged"] += 1
        else:
            url = f"{client.sent_urls['watchlists']}/{name}/watchlistItems/{current[key][0]}"
            rest_call(client, "PUT", url, WATCHLIST_API_VERSION, {"properties": {"itemsKeyValue": dict(item)}}, http)
            counts["updated"] += 1
    counts["only_in_watchlist"] = len(set(current) - {item_key(item) for item in items})
    return counts
