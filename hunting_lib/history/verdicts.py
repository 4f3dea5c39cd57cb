"""Analysts' verdicts on task groups: recorded in the history file, applied to later hunts.

A verdict names a ``GroupKey``: ``benign``, ``malicious`` or ``follow-up``, with the analyst,
a note and the time (``hunting_lib.clock``, so a pinned date pins it too). A benign verdict
expires (90 days unless told otherwise), so every "benign" gets looked at again; the other two
do not.

A benign verdict clears a *binary*, not a name: it binds to the SHA1s of the group's latest
recorded finding. A later group under the same key whose SHA1s are not all among them (a
replaced binary) shows the verdict with ``BinaryChanged: True`` and is not suppressed; neither is
a group whose SHA1s are unknown when the verdict has some (nothing proves it is the same file).

The latest verdict per key is the one in force; when it has expired the key has none (an older
verdict does not come back), though ``list_verdicts`` still shows it.

A benign verdict can also become a draft exclusion rule (``draft_rule``/``write_draft_rule``),
written to a file of drafts for review and never to the shipped rules.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from hunting_lib import clock
from hunting_lib.engine.group_key import group_keys, readable_pattern
from hunting_lib.errors import BadInputError
from hunting_lib.history.runs import iso, to_ns
from hunting_lib.history.store import HistoryStore

VERDICTS = ("benign", "malicious", "follow-up")
BENIGN_DAYS = 90
KEY_FORMAT = re.compile(r"^gk-[0-9a-f]{16}$")
DRAFT_HEADER = (
    "# Draft exclusion rules written from analysts' benign verdicts (python -m hunting_lib verdict\n"
    "# --draft-rule). For review: the hunt does not read this file. Move a rule into your exclusions\n"
    "# file (hunt --exclusions PATH) once its owner and reason are approved.\n"
)


def check_key(group_key: str) -> str:
    """The key as given, or a one-line error when it is not a GroupKey."""
    key = str(group_key).strip()
    if not KEY_FORMAT.match(key):
        raise BadInputError(f"--group {group_key!r}: not a group key (gk- and 16 hex digits, as in the "
                            f"hunt's GroupKey)")
    return key


def _latest_finding(store: HistoryStore, group_key: str) -> pd.DataFrame:
    """The key's rows in the most recent run that found it (several when per-user copies share it)."""
    return store.frame(
        "SELECT file_name AS FileName, command_line AS ProcessCommandLine, folder_path AS FolderPath,"
        " group_pattern AS GroupPattern, sha1s AS SHA1s, run_id AS RunId FROM findings"
        " WHERE group_key = ? AND run_id = (SELECT MAX(run_id) FROM findings WHERE group_key = ?) ORDER BY rank",
        [group_key, group_key])


def key_seen(store: HistoryStore, group_key: str) -> bool:
    """Whether any recorded run started the key (rare or not)."""
    return bool(store.query("SELECT EXISTS (SELECT 1 FROM groups WHERE group_key = ?)", [group_key])[0][0])


def record_verdict(store: HistoryStore, group_key: str, verdict: str, analyst: str, note: str = "",
                   expires_days: int | None = None, at: pd.Timestamp | None = None) -> dict:
    """Record a verdict and return it (``Id``, ``GroupKey``, ``Verdict``, ``Analyst``, ``Note``,
    ``At``, ``Expires``, ``SHA1s``, ``GroupPattern``, ``Seen``: whether any run saw the key).

    An unknown key is recorded too (an analyst may clear a task before it runs); the caller
    warns. ``expires_days`` applies to benign verdicts only (default 90).
    """
    key = check_key(group_key)
    if verdict not in VERDICTS:
        raise BadInputError(f"verdict {verdict!r}: use one of {', '.join(VERDICTS)}")
    analyst = " ".join(str(analyst or "").split())
    if not analyst:
        raise BadInputError("--analyst: a verdict needs the analyst's name")
    if expires_days is not None and verdict != "benign":
        raise BadInputError(f"--expires-days: only a benign verdict expires ({verdict} verdicts stay until replaced)")
    if expires_days is not None and (isinstance(expires_days, bool) or int(expires_days) < 1):
        raise BadInputError(f"--expires-days {expires_days}: must be at least 1")
    when = pd.Timestamp(at if at is not None else clock.now())
    when = when.tz_localize("UTC") if when.tzinfo is None else when.tz_convert("UTC")
    expires = when + pd.Timedelta(days=int(expires_days or BENIGN_DAYS)) if verdict == "benign" else None
    latest = _latest_finding(store, key)
    sha1s = sorted({h for text in latest["SHA1s"] for h in json.loads(text)}) if len(latest) else []
    pattern = str(latest["GroupPattern"].iloc[0]) if len(latest) else None
    if pattern is None:
        known = store.query("SELECT group_pattern FROM groups WHERE group_key = ? ORDER BY id DESC LIMIT 1", [key])
        pattern = known[0][0] if known else None
    with store.transaction() as connection:
        cursor = connection.execute(
            "INSERT INTO verdicts (group_key, verdict, analyst, note, at, expires, sha1s, group_pattern)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (key, verdict, analyst, str(note or ""), to_ns(when), to_ns(expires), json.dumps(sha1s), pattern))
        verdict_id = int(cursor.lastrowid)
    return {"Id": verdict_id, "GroupKey": key, "Verdict": verdict, "Analyst": analyst, "Note": str(note or ""),
            "At": iso(when), "Expires": iso(expires), "SHA1s": sha1s, "GroupPattern": pattern,
            "Seen": pattern is not None}


_VERDICT_COLUMNS = ("Id", "GroupKey", "Verdict", "Analyst", "Note", "At", "Expires", "SHA1s", "GroupPattern")


def list_verdicts(store: HistoryStore, at: pd.Timestamp | None = None) -> pd.DataFrame:
    """Every verdict, newest first, with ``Status``: ``current``, ``expired`` or ``replaced``."""
    frame = store.frame(
        "SELECT id AS Id, group_key AS GroupKey, verdict AS Verdict, analyst AS Analyst, note AS Note, at AS At,"
        " expires AS Expires, sha1s AS SHA1s, group_pattern AS GroupPattern FROM verdicts ORDER BY at DESC, id DESC")
    if frame.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in _VERDICT_COLUMNS + ("Status",)})
    now = to_ns(at if at is not None else clock.now())
    latest = ~frame["GroupKey"].duplicated(keep="first")
    expired = frame["Expires"].map(lambda e: e is not None and int(e) <= now).astype(bool)
    frame["Status"] = "replaced"
    frame.loc[latest & ~expired, "Status"] = "current"
    frame.loc[latest & expired, "Status"] = "expired"
    frame["Id"] = frame["Id"].astype("int64")
    frame["SHA1s"] = frame["SHA1s"].map(json.loads)
    frame["At"] = frame["At"].map(iso)
    frame["Expires"] = frame["Expires"].map(iso)
    return frame.reset_index(drop=True)


def current_verdicts(store: HistoryStore, at: pd.Timestamp | None = None) -> pd.DataFrame:
    """The verdict in force per key at ``at`` (default now): the latest one, unless it expired."""
    frame = list_verdicts(store, at)
    return frame[frame["Status"] == "current"].drop(columns="Status").reset_index(drop=True)


def _lower_set(value: Any) -> set[str]:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return set()
    values = [value] if isinstance(value, str) else list(value)
    return {str(v).lower() for v in values if str(v)}


def apply_verdicts(rare_tasks: pd.DataFrame, verdicts: pd.DataFrame) -> pd.DataFrame:
    """``rare_tasks`` with ``Verdict`` (None, or the verdict in force as a dict) on each group,
    and ``SuppressedBy = "verdict:<id>"`` for a benign verdict on the same binary.

    A rule or known task that already suppressed a group keeps it (``SuppressedBy`` is only set
    where it is null). Tripwires are applied after this and override it.
    """
    out = rare_tasks.copy()
    if "GroupKey" not in out.columns and len(out):
        out = group_keys(out)
    if "SuppressedBy" not in out.columns:
        out["SuppressedBy"] = None
    out["Verdict"] = pd.Series([None] * len(out), index=out.index, dtype=object)
    if out.empty or verdicts is None or verdicts.empty:
        return out
    by_key = verdicts.drop_duplicates("GroupKey").set_index("GroupKey")
    matched = out.index[out["GroupKey"].isin(by_key.index)]
    group_sha1s = out["SHA1s"] if "SHA1s" in out.columns else pd.Series([None] * len(out), index=out.index)
    for index in matched:  # rare groups only (tens), never the event tables
        verdict = by_key.loc[out.at[index, "GroupKey"]]
        bound, seen = _lower_set(verdict["SHA1s"]), _lower_set(group_sha1s.at[index])
        changed = bool(bound) and not (seen and seen <= bound)
        out.at[index, "Verdict"] = {
            "Verdict": verdict["Verdict"], "Analyst": verdict["Analyst"], "Note": verdict["Note"],
            "At": verdict["At"], "Expires": verdict["Expires"], "Id": int(verdict["Id"]),
            "SHA1s": sorted(bound), "BinaryChanged": changed,
        }
        if verdict["Verdict"] == "benign" and not changed and pd.isna(out.at[index, "SuppressedBy"]):
            out.at[index, "SuppressedBy"] = f"verdict:{int(verdict['Id'])}"
    return out


# -- draft exclusion rules ----------------------------------------------------------------------

def _condition(values: list[str]) -> dict:
    """An exact test on one field: ``equals`` the value(s); an empty value as ``regex: ^$``
    (the rules refuse empty strings)."""
    present = sorted({v for v in values if v != ""})
    condition: dict = {}
    if present:
        condition["equals"] = present[0] if len(present) == 1 else present
    if "" in values:
        if present:
            return {"regex": "^(?:" + "|".join(re.escape(v) for v in present) + ")?$"}
        condition["regex"] = "^$"
    return condition


def draft_rule(store: HistoryStore, group_key: str, analyst: str, note: str, expires: dt.date) -> dict:
    """An exclusion rule (a dict in the exclusions file's format) anchored exactly on the key's
    latest recorded finding: its FileName, ProcessCommandLine and FolderPath, case-sensitive.
    Per-user copies found under the one key in that run are all listed."""
    key = check_key(group_key)
    latest = _latest_finding(store, key)
    if latest.empty:
        raise BadInputError(f"--draft-rule: no recorded finding for {key} in {store.path.name}; a draft rule is "
                            f"anchored on a finding (record a hunt with --history first)")
    if not str(note or "").strip():
        raise BadInputError("--draft-rule: the rule needs a reason; give one with --note")
    name = str(latest["FileName"].iloc[0])
    pattern = readable_pattern(str(latest["GroupPattern"].iloc[0]))
    return {
        "id": f"verdict-{key}",
        "enabled": True,
        "description": f"Draft from a benign verdict on {key} ({name}); pattern: {pattern}"[:400],
        "reason": " ".join(str(note).split()),
        "owner": " ".join(str(analyst).split()),
        "expires": expires,
        "case_sensitive": True,
        "when": {field: _condition(latest[field].astype(str).tolist())
                 for field in ("FileName", "ProcessCommandLine", "FolderPath")},
    }


def _shipped_config() -> Path:
    return Path(str(resources.files("hunting_lib").joinpath("config"))).resolve()


def merged_drafts(path: Path, rule: dict) -> str:
    """The drafts file's new text: its rules with ``rule`` added, or replacing the rule with its
    id. Checked with the exclusions parser before anything is written."""
    from hunting_lib.schema import load_yaml
    from hunting_lib.triage.exclusions import parse_exclusions

    path = Path(path)
    if path.resolve().is_relative_to(_shipped_config()):
        raise BadInputError(f"--draft-rule {path}: that is the kit's shipped configuration; write drafts to a "
                            f"file of your own and review them")
    if path.is_dir():
        raise BadInputError(f"--draft-rule {path}: is a folder, not a YAML file")
    rules: list = []
    if path.exists():
        try:
            document = load_yaml(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise BadInputError(f"--draft-rule {path}: cannot read it as YAML ({type(exc).__name__})") from None
        if document is not None and (not isinstance(document, dict) or not isinstance(document.get("rules"), list)):
            raise BadInputError(f"--draft-rule {path}: not a rules file (expected a mapping with a 'rules' list)")
        rules = list((document or {}).get("rules") or [])
    rules = [r for r in rules if not (isinstance(r, dict) and r.get("id") == rule["id"])] + [rule]
    text = DRAFT_HEADER + "\n" + yaml.safe_dump({"rules": rules}, sort_keys=False, allow_unicode=True, width=120)
    parse_exclusions(text, str(path))  # a draft the kit cannot load is never written
    return text


def write_draft_rule(path: Path, rule: dict) -> None:
    """Append ``rule`` to the drafts file at ``path`` (a rule with the same id is replaced), in
    one atomic replace. Refuses the kit's shipped configuration."""
    path = Path(path)
    text = merged_drafts(path, rule)
    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except OSError as exc:
        if temporary is not None and os.path.exists(temporary):
            os.unlink(temporary)
        raise BadInputError(f"--draft-rule {path}: cannot write it ({type(exc).__name__}: {exc.strerror})") from None
