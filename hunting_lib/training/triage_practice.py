"""The triage track's practice tools and expected answers (exercises 14-20).

The track walks one hunt from rare group to verdict, then to the hand-off and the exported
detection, with the kit's own features: the task definitions on each rare group, the hunt
history and its verdicts, ``handoff --dry-run`` and ``export-rule --dry-run``. The checkers are
in ``triage_track``; this module holds what they and the notebook share:

- ``track_hunt``: the default hunt of the data folder the checkers grade against (cached), whose
  ``rare_tasks`` is the table every answer that names groups is read against;
- practice helpers: a practice history in a folder the notebook creates (never the kit's own
  folder), verdicts recorded through ``history.verdicts``, the hand-off's dry run, the detection's
  dry run and the groups it would alert on;
- ``expected_14`` ... ``expected_20``: computed from the answer key (``scenarios.yaml``'s
  ``registration:`` entries) and the raw data, never typed in.

Dates come from ``hunting_lib.clock`` only: the notebook pins it to the sample's date, so rule
expiries and verdict expiries behave the same in any year.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

import hunting_lib
from hunting_lib import clock
from hunting_lib.engine.addresses import ip_kind
from hunting_lib.engine.files import find_table_files
from hunting_lib.engine.loader import load_table
from hunting_lib.engine.rarity import GROUP_KEYS
from hunting_lib.params import HuntParams
from hunting_lib.result import HuntResult
from hunting_lib.training.data import ExerciseData, exercise_data

GroupTriple = tuple[str, str, str]

#: The scenarios the exercises are about (ids in the answer key), and the genuine program the
#: masquerade's name imitates. Question parameters, not answers: the answers are computed.
FIRST_FINDING = "mal-encoded-powershell"
MASQUERADE = "mal-masquerade-appdata"
GENUINE_UPDATER = "OneDriveStandaloneUpdater.exe"
#: The genuine program a masquerade's name imitates, where it is not the same file name (the
#: sample's OneDriveUpdate.exe borrows the OneDrive updater's name; a fake svchost.exe, svchost's).
GENUINE_PROGRAMS = {"onedriveupdate.exe": GENUINE_UPDATER}
#: The two findings the trainee clears as benign in exercise 18: an inventory job whose script
#: sits in a user-writable folder (a tripwire fires) and the Dell Command Update scan (none fires).
VERDICT_SCENARIOS = ("edge-uppercase-cmd", "edge-rare-no-activity")
PRACTICE_FILE = "practice_hunts.sqlite"

#: What a definition row keeps (``definitions_table``): one row per task definition of a group.
DEFINITION_COLUMNS = ["TaskName", "RegisteredBy", "RegisteredByProcess", "Principal", "RegisteredAt",
                      "RegisteredFromNetworkLogon", "RegisteredRemotely", "RemoteIP", "RemoteDevice", "DeletedAt",
                      "Hidden", "Source", "DeviceName"]


# -- the hunt the track is about -----------------------------------------------------------------

@lru_cache(maxsize=4)
def _cached_hunt(folder: str, stamp: int, today: str) -> HuntResult:
    from hunting_lib.hunt import run_hunt

    return run_hunt(folder, HuntParams(), indicators=False)


def track_hunt(data_dir: str | Path | None = None) -> HuntResult:
    """The default hunt (shipped exclusions and catalogue, extended scope) of the graded folder.

    Cached per folder, file date and the clock's day: rule expiry reads the clock, so a pinned
    date gives the same suppressions in any year.
    """
    d = exercise_data(data_dir)
    stamp = (d.folder / "scenarios.yaml").stat().st_mtime_ns
    return _cached_hunt(str(d.folder.resolve()), stamp, clock.today().isoformat())


def track_groups(data_dir: str | Path | None = None) -> pd.DataFrame:
    """The rare groups of ``track_hunt``: the table answers that name groups are read against."""
    return track_hunt(data_dir).rare_tasks


def definitions_table(rare_tasks: pd.DataFrame) -> pd.DataFrame:
    """One row per registered task behind each rare group (its ``TaskDefinitions`` spread out):
    the group's ``TaskId``, ``GroupKey``, ``FileName``, ``ProcessCommandLine``, then who
    registered the task, how, from where, and when it was deleted. Rare groups are tens of rows;
    ``explode`` and ``json_normalize`` keep it without a loop."""
    keys = ["TaskId", "GroupKey", "FileName", "ProcessCommandLine"]
    spread = rare_tasks[keys + ["TaskDefinitions"]].explode("TaskDefinitions", ignore_index=True)
    spread = spread[spread["TaskDefinitions"].map(lambda d: isinstance(d, dict))].reset_index(drop=True)
    details = pd.json_normalize(spread["TaskDefinitions"].tolist()) if len(spread) else pd.DataFrame()
    details = details.reindex(columns=DEFINITION_COLUMNS)
    return pd.concat([spread[keys], details], axis=1)


# -- practice: history, verdicts, hand-off and detection -----------------------------------------

def practice_history(folder: str | Path) -> Path:
    """The practice history file inside ``folder`` (a temporary folder the notebook creates).

    Refuses the kit's own folder: practice verdicts must never land in a checkout or an installed
    package, where a later hunt could pick them up.
    """
    where = Path(folder).resolve()
    kit = Path(hunting_lib.__file__).resolve().parents[1]
    if where == kit or kit in where.parents:
        raise ValueError(f"{Path(folder).name}: keep the practice history out of the kit's folder; use a "
                         f"temporary folder (tempfile.mkdtemp())")
    if not where.is_dir():
        raise ValueError(f"{Path(folder).name}: no such folder; create it first (tempfile.mkdtemp())")
    return where / PRACTICE_FILE


def practice_hunt(history: str | Path, data_dir: str | Path | None = None, **params: Any) -> HuntResult:
    """Run the default hunt (or ``params``) and record it in the practice history."""
    from hunting_lib.hunt import run_hunt

    folder = exercise_data(data_dir).folder
    return run_hunt(folder, HuntParams(history=str(history), **params), indicators=False)


def record_practice_verdict(history: str | Path, group_key: str, verdict: str, analyst: str,
                            note: str = "") -> dict:
    """Record a verdict on a ``GroupKey`` in the practice history, as the ``verdict`` command does
    (a benign one expires 90 days after ``clock.now()``)."""
    from hunting_lib.history.store import open_history
    from hunting_lib.history.verdicts import record_verdict

    with open_history(history) as store:
        return record_verdict(store, str(group_key), verdict, analyst, note)


def practice_verdicts(history: str | Path) -> pd.DataFrame:
    """Every verdict of the practice history with its ``Status`` (current, expired, replaced)."""
    from hunting_lib.history.store import open_history
    from hunting_lib.history.verdicts import list_verdicts

    with open_history(history, create=False) as store:
        return list_verdicts(store)


def write_findings(result: HuntResult, folder: str | Path) -> Path:
    """``findings.json`` of ``result`` in ``folder``, as ``hunt --output`` writes it."""
    from hunting_lib.report.output import write_json

    path = Path(folder) / "findings.json"
    write_json(result, path)
    return path


def handoff_dry_run(findings_path: str | Path, ranks: list[int] | None = None,
                    new_incident: str | None = None) -> tuple[list, pd.DataFrame]:
    """What ``handoff --dry-run`` plans for these findings: the calls and their table. Nothing is
    sent and nothing connects."""
    from hunting_lib.handoff.notebook import preview_handoff

    calls, table = preview_handoff(findings_path, ranks, None, new_incident)
    bookmarks = sum(call.kind == "bookmark" for call in calls)
    print(f"dry run: {len(calls)} call(s), {bookmarks} bookmark(s); nothing sent")
    return calls, table


def watchlist_preview(findings_path: str | Path, history: str | Path) -> pd.DataFrame:
    """The items ``handoff --sync-watchlist NAME --history FILE`` would write: the verdicts in
    force (with each group's exact strings) and the exclusion keys of the suppressed groups."""
    from hunting_lib.handoff.findings import load_findings
    from hunting_lib.handoff.watchlist import COLUMNS, recorded_groups, watchlist_items
    from hunting_lib.history.store import open_history
    from hunting_lib.history.verdicts import current_verdicts

    with open_history(history, create=False) as store:
        verdicts = current_verdicts(store)
        recorded = recorded_groups(store, list(verdicts["GroupKey"]))
    items = watchlist_items(verdicts, load_findings(findings_path), recorded)
    return pd.DataFrame(items, columns=list(COLUMNS))


def export_rule_dry_run(params: HuntParams | None = None, watchlist: str | None = None):
    """``export-rule --dry-run``: the detection files rendered, nothing written. Prints each
    file's name and size and the rule's description (the full texts are in ``.files``)."""
    import yaml

    from hunting_lib.detection.export import RULE_NAME, build_export
    from hunting_lib.triage.exclusions import load_exclusions
    from hunting_lib.triage.known_tasks import load_known_tasks

    params = params or HuntParams()
    exported = build_export(params, load_exclusions(params.exclusions), load_known_tasks(params.known_tasks),
                            watchlist)
    for name, text in exported.files.items():
        print(f"would write {name} ({len(text):,} characters)")
    rule = yaml.safe_load(exported.files[f"{RULE_NAME}.yaml"])
    print(f"rule id {exported.rule_id}: {rule['description']}")
    return exported


def _cleared_by_config(column: pd.Series) -> pd.Series:
    """A rule or known task (not a verdict) in ``SuppressedBy``/``WouldSuppressBy``."""
    return column.notna() & ~column.astype(str).str.startswith("verdict:")


def detection_groups(result: HuntResult) -> pd.DataFrame:
    """The rare groups the exported detection alerts on, on data that covers its lookback.

    The detection renders the exclusion rules and the known-task catalogue, but neither the
    tripwires (computed in Python against the fleet) nor the history: a group a rule or known task
    covers stays quiet even where a tripwire kept it in the hunt, and a verdict reaches the rule
    only through a watchlist (``export-rule --watchlist``).
    """
    rare = result.rare_tasks
    would = rare["WouldSuppressBy"] if "WouldSuppressBy" in rare.columns else pd.Series(None, index=rare.index)
    quiet = _cleared_by_config(rare["SuppressedBy"]) | _cleared_by_config(would)
    return rare.loc[~quiet, ["TaskId", "GroupKey", *GROUP_KEYS, "SuppressedBy"]].reset_index(drop=True)


# -- expected answers -----------------------------------------------------------------------------

def registrations_of(s: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A scenario's registrations in the answer key: one per device where several are listed."""
    registration = s.get("registration") or {}
    yield from (registration.get("devices") or ([registration] if registration else []))


def triples(frame: pd.DataFrame) -> set[GroupTriple]:
    return set(frame[GROUP_KEYS].astype(str).itertuples(index=False, name=None))


def _keyed_groups(d: ExerciseData, scenarios: list[dict[str, Any]], data_dir: str | Path | None) -> set[GroupTriple]:
    """The scenarios' groups that are rare groups of the track's hunt."""
    return {d.group(s) for s in scenarios} & triples(track_groups(data_dir))


def expected_14(data_dir: str | Path | None = None) -> dict[str, str]:
    """Exercise 14: the task behind the top finding (the encoded PowerShell): its name and the
    account that registered it, from the answer key."""
    registration = exercise_data(data_dir).scenario(FIRST_FINDING)["registration"]
    return {"TaskName": registration["task_name"], "RegisteredBy": registration["registered_by"]}


def expected_15(data_dir: str | Path | None = None) -> tuple[set[GroupTriple], set[str]]:
    """Exercise 15: the finding whose task was registered over the network, and the address the
    registration came from."""
    d = exercise_data(data_dir)
    remote = [s for s in d.scenarios if any(r.get("remote") and r.get("ran") for r in registrations_of(s))]
    ips = {str(r["remote_ip"]) for s in remote for r in registrations_of(s) if r.get("remote") and r.get("remote_ip")}
    return _keyed_groups(d, remote, data_dir), ips


def expected_16(data_dir: str | Path | None = None) -> set[GroupTriple]:
    """Exercise 16: the findings whose task was deleted after it ran."""
    d = exercise_data(data_dir)
    deleted = [s for s in d.scenarios if any(r.get("deleted_at") and r.get("ran") for r in registrations_of(s))]
    return _keyed_groups(d, deleted, data_dir)


def _table(d: ExerciseData, table: str, columns: list[str]) -> pd.DataFrame:
    files = find_table_files(d.folder)
    if table not in files:
        return pd.DataFrame(columns=columns)
    return load_table(files[table], table, columns=columns)


def genuine_program(data_dir: str | Path | None = None) -> str:
    """The file name of the genuine program the data's masquerade imitates (exercise 17)."""
    name = str(exercise_data(data_dir).scenario(MASQUERADE)["FileName"])
    return GENUINE_PROGRAMS.get(name.lower(), name)


def prevalence_facts(data_dir: str | Path | None = None) -> dict[str, int]:
    """Exercise 17's numbers and the usual wrong ones: devices (and launches) of the masquerade's
    SHA1 and of the genuine updater's, devices (and connections) of its public addresses."""
    d = exercise_data(data_dir)
    processes = d.processes
    s = d.scenario(MASQUERADE)
    mine = pd.Series(True, index=processes.index)
    for column, value in zip(GROUP_KEYS, d.group(s)):
        mine &= processes[column] == value
    own_sha1 = set(processes.loc[mine, "SHA1"].dropna()) - {""}
    by_sha1 = processes[processes["SHA1"].isin(own_sha1)]
    genuine_rows = processes[processes["FileName"].str.lower() == genuine_program(data_dir).lower()]
    common = genuine_rows["SHA1"].mode()
    genuine = genuine_rows[genuine_rows["SHA1"].isin(set(common))]
    network = _table(d, "DeviceNetworkEvents", ["DeviceName", "RemoteIP", "LocalIP", "ReportId"])
    report_ids = set(s.get("report_ids", {}).get("DeviceNetworkEvents", []))
    contacted = network.loc[network["ReportId"].isin(report_ids), "RemoteIP"]
    public = {ip for ip in contacted.dropna().unique() if ip_kind(ip) == "public"}
    talked = network[network["RemoteIP"].isin(public)]
    return {
        "binary": int(by_sha1["DeviceName"].nunique()), "binary_launches": len(by_sha1),
        "genuine": int(genuine["DeviceName"].nunique()), "genuine_launches": len(genuine),
        "address": int(talked["DeviceName"].nunique()), "address_connections": len(talked),
        "fleet": int(processes["DeviceName"].nunique()),
    }


def expected_17(data_dir: str | Path | None = None) -> dict[str, int]:
    """Exercise 17: devices that ran the masquerade's SHA1, devices that ran the genuine updater's
    common SHA1, and devices that contacted the masquerade's public address."""
    facts = prevalence_facts(data_dir)
    return {key: facts[key] for key in ("binary", "genuine", "address")}


def device_addresses(device: str, data_dir: str | Path | None = None) -> set[str]:
    """A device's own addresses (``LocalIP`` of its network events)."""
    network = _table(exercise_data(data_dir), "DeviceNetworkEvents", ["DeviceName", "LocalIP"])
    return set(network.loc[network["DeviceName"].str.lower() == device.lower(), "LocalIP"].dropna()) - {""}


def verdict_groups(data_dir: str | Path | None = None) -> set[GroupTriple]:
    """The two groups exercise 18 asks the trainee to clear as benign."""
    d = exercise_data(data_dir)
    return _keyed_groups(d, [d.scenario(i) for i in VERDICT_SCENARIOS], data_dir)


def tripwire_groups(data_dir: str | Path | None = None) -> set[GroupTriple]:
    """The rare groups of the track's hunt on which a tripwire fired."""
    rare = track_groups(data_dir)
    return triples(rare[rare["Tripwires"].map(lambda t: len(t) > 0 if isinstance(t, (list, tuple)) else False)])


def expected_18(data_dir: str | Path | None = None) -> set[GroupTriple]:
    """Exercise 18: of the two groups cleared as benign, those the re-run suppresses as
    ``verdict:<id>``: a benign verdict suppresses a group nothing else suppressed, unless a
    tripwire fires on it."""
    rare = track_groups(data_dir)
    unsuppressed = triples(rare[rare["SuppressedBy"].isna()])
    return (verdict_groups(data_dir) & unsuppressed) - tripwire_groups(data_dir)


def expected_19(data_dir: str | Path | None = None) -> int:
    """Exercise 19: how many bookmarks the hand-off's dry run plans by default from the re-run's
    findings.json (every unsuppressed finding)."""
    result = track_hunt(data_dir)
    unsuppressed = triples(result.rare_tasks[result.rare_tasks["SuppressedBy"].isna()])
    return len(unsuppressed - expected_18(data_dir))


def expected_20(data_dir: str | Path | None = None) -> set[GroupTriple]:
    """Exercise 20: the groups the exported detection would still alert on although the re-run
    hunt suppresses them (the verdicts: a detection reads no history)."""
    return expected_18(data_dir) & triples(detection_groups(track_hunt(data_dir)))
