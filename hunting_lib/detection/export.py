"""``export-rule``: the hunt as a Sentinel scheduled analytics rule and a Defender XDR custom detection.

Two files come out, and a third when the Sentinel query is too long to inline:

- ``<name>.yaml``: a scheduled analytics rule in the Azure-Sentinel repository's template format
  (the fields its validator requires, see ``tests/test_detection.py``), reading the Device* tables
  of the Microsoft Defender XDR connector over the last 14 days (a rule's longest query period),
  once a day;
- ``<name>.kql``: the Defender XDR custom detection query (``Timestamp``, ``DeviceId``, ``ReportId``
  on every row), for a rule that runs every 24 hours, which reads the past 30 days;
- ``<function>.kql``: Sentinel accepts at most 10,000 characters of rule query, and the extended
  scope and the known-task catalogue are longer; the query's body is then a workspace function to
  save first, and the rule calls it.

The rule's id is a GUID derived from the parameters that shape the query, so re-exporting after a
tuning change updates the same rule instead of creating a second one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hunting_lib.detection.queries import render_detection_kql
from hunting_lib.errors import BadInputError
from hunting_lib.params import HuntParams
from hunting_lib.schema import TABLES

#: Sentinel's limit on a scheduled rule's query (the Azure-Sentinel validator: StringLength(10000)).
SENTINEL_QUERY_LIMIT = 10_000
SENTINEL_LOOKBACK = "14d"
DEFENDER_LOOKBACK = "30d"
RULE_NAME = "rare_scheduled_task_launch"
#: Namespace of the rule ids (any fixed UUID; changing it would orphan every exported rule).
_ID_NAMESPACE = uuid.UUID("6f1c2a52-8d0e-4c3b-9a57-1d2e5b0c7f41")


@dataclass(frozen=True)
class ExportedRule:
    """What ``export-rule`` writes: file name -> text, and the facts a summary line needs."""

    files: dict[str, str]
    rule_id: str
    function_name: str | None


def rule_id(params: HuntParams, watchlist: str | None) -> str:
    """A GUID stable for the same detection parameters (configuration files by name, not by path)."""
    shape = {key: value for key, value in params.as_dict().items()
             if key in ("scope", "threshold", "max_devices", "parent_command_lines", "match")}
    shape["exclusions"] = None if params.exclusions is None else Path(params.exclusions).name
    shape["known_tasks"] = None if params.known_tasks is None else Path(params.known_tasks).name
    shape["watchlist"] = watchlist
    return str(uuid.uuid5(_ID_NAMESPACE, repr(sorted(shape.items()))))


def _literal_blocks(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # Queries read best as literal blocks; PyYAML falls back to quoting when a text cannot be one.
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


class _RuleDumper(yaml.SafeDumper):
    pass


_RuleDumper.add_representer(str, _literal_blocks)


def _used_tables(query: str) -> list[str]:
    """The tables the detection reads: each is read once, in its lookback ``let``."""
    return [table for table in TABLES if f"= {table} | where " in query]


def sentinel_rule(params: HuntParams, query: str, identifier: str, watchlist: str | None,
                  tables: list[str], rules: int = 0, known: int = 0) -> dict[str, Any]:
    """The rule as the Azure-Sentinel repository writes one (Detections/*.yaml); ``tables``: the
    Device* tables the detection reads (through the function, when the query calls one)."""
    scope = "the published scope" if params.scope == "published" else "the extended scope"
    description = (
        "A scheduled task whose program the Task Scheduler started fewer than "
        f"{params.threshold} times in the last 14 days"
        + (f" (or on at most {params.max_devices} devices)" if params.max_devices is not None else "")
        + f", in {scope} of the rare scheduled task hunt (MITRE ATT&CK T1053.005). Left out: the groups "
        f"that the {rules} exclusion rules and {known} known Windows and vendor tasks in force at export cover"
        + (f", and so are the groups the watchlist '{watchlist}' marks benign" if watchlist else "")
        + ". Made by hunting_lib export-rule; tripwires are not part of the rule, so review what it leaves "
        "out with the hunt."
    )
    return {
        "id": identifier,
        "name": "Rare scheduled task launch (T1053.005)",
        "description": description,
        "severity": "Medium",
        "requiredDataConnectors": [{"connectorId": "MicrosoftThreatProtection", "dataTypes": tables}],
        "queryFrequency": "1d",
        "queryPeriod": SENTINEL_LOOKBACK,
        "triggerOperator": "gt",
        "triggerThreshold": 0,
        "tactics": ["Execution", "Persistence", "PrivilegeEscalation"],
        "relevantTechniques": ["T1053.005"],
        "query": query,
        "entityMappings": [
            {"entityType": "Host", "fieldMappings": [{"identifier": "FullName", "columnName": "DeviceName"}]},
            {"entityType": "Account", "fieldMappings": [{"identifier": "Name", "columnName": "AccountName"},
                                                        {"identifier": "NTDomain", "columnName": "AccountDomain"}]},
            {"entityType": "File", "fieldMappings": [{"identifier": "Name", "columnName": "FileName"},
                                                     {"identifier": "Directory", "columnName": "FolderPath"}]},
            {"entityType": "IP", "fieldMappings": [{"identifier": "Address", "columnName": "RemoteIP"}]},
        ],
        "customDetails": {"RunCount": "RunCount", "DeviceCount": "DeviceCount", "RareBy": "RareBy",
                          "CommandLine": "ProcessCommandLine"},
        # one alert per launch, each with its own host, account, file and address
        "eventGroupingSettings": {"aggregationKind": "AlertPerResult"},
        "version": "1.0.0",
        "kind": "Scheduled",
    }


def function_name(identifier: str) -> str:
    """The workspace function's alias: one per rule id, so two exports never share one by mistake."""
    return "RareScheduledTaskLaunches_" + identifier.split("-")[0]


def build_export(params: HuntParams, rules: list, catalogue: tuple, watchlist: str | None = None) -> ExportedRule:
    """Both detections as file texts (nothing is written here)."""
    identifier = rule_id(params, watchlist)
    full = render_detection_kql(params, rules, catalogue, target="sentinel", lookback=SENTINEL_LOOKBACK,
                                watchlist=watchlist)
    files: dict[str, str] = {}
    alias = None
    query = full
    if len(full) > SENTINEL_QUERY_LIMIT:
        alias = function_name(identifier)
        files[f"{alias}.kql"] = (
            f"// Save as a Log Analytics workspace function named {alias} (no parameters) before importing\n"
            f"// {RULE_NAME}.yaml: the rule's query calls it (Sentinel's rule queries stop at 10,000 characters).\n"
            + full + "\n")
        query = f"{alias}()"
    rule = sentinel_rule(params, query, identifier, watchlist, _used_tables(full), len(rules), len(catalogue))
    files[f"{RULE_NAME}.yaml"] = yaml.dump(rule, Dumper=_RuleDumper, sort_keys=False, allow_unicode=False,
                                           width=120)
    defender = render_detection_kql(params, rules, catalogue, target="defender", lookback=DEFENDER_LOOKBACK,
                                    watchlist=watchlist)
    files[f"{RULE_NAME}.kql"] = (
        "// Defender XDR custom detection: run every 24 hours (Defender then reads the past 30 days).\n"
        "// Every row carries Timestamp, DeviceId and ReportId, the columns custom detections require.\n"
        + defender + "\n")
    return ExportedRule(files, identifier, alias)


def check_output_dir(path: Path) -> Path:
    """The folder to write into: created when its parent exists; anything else is one line, exit 2."""
    if path.exists() and not path.is_dir():
        raise BadInputError(f"--output {path}: is a file, not a folder")
    if not path.exists() and not path.parent.is_dir():
        raise BadInputError(f"--output {path}: its parent folder {path.parent} does not exist")
    return path


def write_export(exported: ExportedRule, output: Path) -> list[Path]:
    """Write the files; an unwritable folder is one line (exit 2)."""
    output = check_output_dir(output)
    try:
        output.mkdir(exist_ok=True)
        written = []
        for name, text in exported.files.items():
            target = output / name
            target.write_text(text, encoding="utf-8")
            written.append(target)
    except OSError as exc:
        raise BadInputError(f"--output {output}: cannot write there ({exc.strerror or exc})") from None
    return written
