"""export-rule: the Sentinel scheduled analytics rule and the Defender XDR custom detection.

Three independent judges: the Azure-Sentinel repository's template rules (the required fields and
their ranges, written down below from its validator's source), Microsoft's Kusto parser (both
queries analyse with zero errors against the full schema, in their dialects), and duckdb-kql, which
runs the Defender query on data and must return exactly the launches of the hunt's rare groups that
nothing suppresses.
"""

from __future__ import annotations

import re
import subprocess
import sys
import uuid

import pandas as pd
import pytest
import yaml

from hunting_lib.detection.export import RULE_NAME, SENTINEL_QUERY_LIMIT, build_export, rule_id
from hunting_lib.detection.queries import DETECTION_COLUMNS, render_detection_kql, watchlist_kql
from hunting_lib.errors import BadInputError
from hunting_lib.hunt import run_hunt
from hunting_lib.params import HuntParams
from hunting_lib.remote.kql import kql_string
from hunting_lib.triage.exclusions import Condition, ExclusionRule, load_exclusions
from hunting_lib.triage.known_tasks import load_known_tasks
from tests import kusto_parser
from tests.conftest import REPO, SAMPLE_DATA, T0, activity, oracle, task_start, typed

# --------------------------------------------------------------------------------------------
# What the Azure-Sentinel repository requires of a scheduled rule template. Source:
# Azure/Azure-Sentinel, .script/tests/detectionTemplateSchemaValidation/Models/
#   AnalyticsTemplateInternalModelBase.cs  (id: Guid, kind, name <= 256, description <= 5000: Required.Always)
#   ScheduledTemplateInternalModel.cs      (requiredDataConnectors, severity, query 1..10000 characters,
#       queryFrequency and queryPeriod 5 minutes..14 days, period >= frequency, triggerOperator,
#       triggerThreshold 0..10000: Required.Always; entityMappings 1..5 with 1..3 field mappings each;
#       customDetails keys ^[a-zA-Z]+\w*$ and values ^[a-zA-Z_]+\w*$, at most 20)
#   QueryBasedTemplateInternalModel.cs     (version: a short string, at most 20 characters)
# tactics and relevantTechniques are read by the same models (AttackTactic, the techniques list).
REQUIRED_FIELDS = ("id", "kind", "name", "description", "requiredDataConnectors", "severity", "query",
                   "queryFrequency", "queryPeriod", "triggerOperator", "triggerThreshold")
SEVERITIES = {"Informational", "Low", "Medium", "High"}
TRIGGER_OPERATORS = {"gt", "lt", "eq", "ne"}
TACTICS = {"Reconnaissance", "ResourceDevelopment", "InitialAccess", "Execution", "Persistence",
           "PrivilegeEscalation", "DefenseEvasion", "CredentialAccess", "Discovery", "LateralMovement",
           "Collection", "Exfiltration", "CommandAndControl", "Impact", "ImpairProcessControl",
           "InhibitResponseFunction"}
#: Entity identifiers Sentinel accepts for the four entity types the rule maps (entities reference).
IDENTIFIERS = {"Host": {"DnsDomain", "NTDomain", "HostName", "FullName", "NetBiosName", "AzureID", "OMSAgentID",
                        "OSFamily", "OSVersion", "IsDomainJoined"},
               "Account": {"Name", "FullName", "NTDomain", "DnsDomain", "UPNSuffix", "Sid", "AadTenantId",
                           "AadUserId", "PUID", "IsDomainJoined", "DisplayName", "ObjectGuid"},
               "File": {"Directory", "Name"},
               "IP": {"Address"}}
#: Custom detections identify the event behind each row by these (Defender XDR docs).
DEFENDER_REQUIRED = ("Timestamp", "DeviceId", "ReportId")
#: Sentinel's watchlist function, which Kusto.Language does not know, declared with a watchlist's shape.
GET_WATCHLIST = ("let _GetWatchlist = (alias:string) { datatable(SearchKey:string, FileName:string, "
                 "ProcessCommandLine:string, FolderPath:string, Verdict:string)[] };\n")
#: The shape ``handoff`` syncs (keyed on GroupKey, with an expiry): the query must still analyse.
GET_GROUPKEY_WATCHLIST = ("let _GetWatchlist = (alias:string) { datatable(SearchKey:string, GroupKey:string, "
                          "Pattern:string, Verdict:string, Analyst:string, Expires:string, At:string, "
                          "Source:string)[] };\n")


def _timespan(text: str) -> pd.Timedelta:
    number, unit = re.fullmatch(r"(\d+)([mhd])", text).groups()
    return pd.Timedelta(int(number), {"m": "min", "h": "h", "d": "D"}[unit])


def shipped() -> tuple[HuntParams, list, tuple]:
    params = HuntParams()
    return params, load_exclusions(params.exclusions), load_known_tasks(params.known_tasks)


def rule_of(exported) -> dict:
    return yaml.safe_load(exported.files[f"{RULE_NAME}.yaml"])


def check_template(rule: dict) -> list[str]:
    """Everything wrong with ``rule`` as an Azure-Sentinel scheduled template ([] when valid)."""
    problems = [f"missing {field}" for field in REQUIRED_FIELDS if field not in rule]
    if problems:
        return problems
    try:
        uuid.UUID(rule["id"])
    except ValueError:
        problems.append(f"id {rule['id']!r} is not a GUID")
    checks = {
        "kind": rule["kind"] == "Scheduled",
        "name": 0 < len(rule["name"]) <= 256,
        "description": 0 < len(rule["description"]) <= 5000,
        "severity": rule["severity"] in SEVERITIES,
        "query": 1 <= len(rule["query"]) <= SENTINEL_QUERY_LIMIT,
        "triggerOperator": rule["triggerOperator"] in TRIGGER_OPERATORS,
        "triggerThreshold": isinstance(rule["triggerThreshold"], int) and 0 <= rule["triggerThreshold"] <= 10000,
        "tactics": set(rule.get("tactics", [])) <= TACTICS and bool(rule.get("tactics")),
        "relevantTechniques": all(re.fullmatch(r"T\d{4}(\.\d{3})?", t) for t in rule.get("relevantTechniques", [])),
        "version": re.fullmatch(r"\d+\.\d+\.\d+", str(rule.get("version", ""))) is not None,
        "connectors": all(c.get("connectorId") and c.get("dataTypes") for c in rule["requiredDataConnectors"]),
    }
    checks["eventGroupingSettings"] = rule.get("eventGroupingSettings", {}).get(
        "aggregationKind", "SingleAlert") in {"SingleAlert", "AlertPerResult"}
    frequency, period = _timespan(rule["queryFrequency"]), _timespan(rule["queryPeriod"])
    checks["times"] = (pd.Timedelta(minutes=5) <= frequency <= period <= pd.Timedelta(days=14))
    mappings = rule.get("entityMappings", [])
    checks["entityMappings"] = 1 <= len(mappings) <= 5 and all(
        1 <= len(m["fieldMappings"]) <= 3
        and all(f["identifier"] in IDENTIFIERS[m["entityType"]] and f["columnName"] in DETECTION_COLUMNS
                for f in m["fieldMappings"]) for m in mappings)
    details = rule.get("customDetails", {})
    checks["customDetails"] = len(details) <= 20 and all(
        re.fullmatch(r"[a-zA-Z]+\w*", k) and len(k) <= 20 and re.fullmatch(r"[a-zA-Z_]+\w*", v)
        and v in DETECTION_COLUMNS for k, v in details.items())
    return problems + [f"bad {name}" for name, ok in checks.items() if not ok]


# --------------------------------------------------------------------------------------------
# The rule YAML


def test_the_rule_has_every_field_the_repository_requires_with_valid_values():
    exported = build_export(*shipped())
    rule = rule_of(exported)
    assert check_template(rule) == []
    assert rule["relevantTechniques"] == ["T1053.005"] and {"Persistence", "Execution"} <= set(rule["tactics"])
    assert rule["requiredDataConnectors"][0]["connectorId"] == "MicrosoftThreatProtection"
    assert {"DeviceProcessEvents", "DeviceNetworkEvents"} <= set(rule["requiredDataConnectors"][0]["dataTypes"])
    assert {m["entityType"] for m in rule["entityMappings"]} == {"Host", "Account", "File", "IP"}


def test_the_template_check_catches_what_it_is_meant_to_catch():
    """Negative controls, so a clean result above means something."""
    good = rule_of(build_export(*shipped()))
    broken = [
        {k: v for k, v in good.items() if k != "queryFrequency"},
        {**good, "id": "not-a-guid"},
        {**good, "queryPeriod": "30d"},
        {**good, "severity": "Critical"},
        {**good, "eventGroupingSettings": {"aggregationKind": "PerLaunch"}},
        {**good, "query": "x" * (SENTINEL_QUERY_LIMIT + 1)},
        {**good, "entityMappings": [{"entityType": "IP", "fieldMappings": [{"identifier": "Address",
                                                                            "columnName": "NoSuchColumn"}]}]},
    ]
    assert all(check_template(rule) for rule in broken)


def test_a_long_query_becomes_a_workspace_function_the_rule_calls():
    """The extended scope with the catalogue is far over Sentinel's 10,000 characters; the published
    scope without a catalogue fits and is inlined."""
    long = build_export(*shipped())
    assert long.function_name and f"{long.function_name}.kql" in long.files
    assert rule_of(long)["query"] == f"{long.function_name}()"
    assert len(long.files[f"{long.function_name}.kql"]) > SENTINEL_QUERY_LIMIT
    params = HuntParams(scope="published", known_tasks=None)
    short = build_export(params, load_exclusions(params.exclusions), ())
    assert short.function_name is None and set(short.files) == {f"{RULE_NAME}.yaml", f"{RULE_NAME}.kql"}
    query = rule_of(short)["query"]
    assert "RareGroupsFound" in query and "reporting-powershell-script" in query  # the rules are rendered


def test_the_rule_id_is_stable_for_the_same_parameters_and_differs_otherwise(tmp_path):
    copy = tmp_path / "exclusions.yaml"
    copy.write_text((REPO / "hunting_lib/config/exclusions.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    base = rule_id(HuntParams(), None)
    assert base == rule_id(HuntParams(), None) == rule_id(HuntParams(exclusions=str(copy)), None)
    others = {rule_id(HuntParams(threshold=4), None), rule_id(HuntParams(max_devices=1), None),
              rule_id(HuntParams(scope="published"), None), rule_id(HuntParams(), "verdicts")}
    assert base not in others and len(others) == 4


def test_the_yaml_keeps_a_hostile_rule_value_exactly():
    """Exclusion values are written by analysts from attacker text; the YAML must carry the query
    byte for byte (quotes, backslashes, KQL syntax, a YAML document marker)."""
    hostile = 'x" | take 1 //\\\n---\n- !!python/object: y'
    params = HuntParams(scope="published", known_tasks=None)
    rules = [ExclusionRule(id="hostile", description="d", reason="r", owner="o", expires=pd.Timestamp("2099-12-31").date(),
                           conditions=(Condition("ProcessCommandLine", "contains", (hostile,), False),))]
    exported = build_export(params, rules, ())
    query = rule_of(exported)["query"]
    assert query == render_detection_kql(params, rules, (), target="sentinel", lookback="14d")
    assert kql_string(hostile) in query


# --------------------------------------------------------------------------------------------
# Microsoft's Kusto parser: zero errors against the full schema


@pytest.fixture(scope="module")
def kusto():
    kusto_parser.require_kusto()


def _queries_to_check() -> dict[str, str]:
    params, rules, catalogue = shipped()
    published = HuntParams(scope="published", known_tasks=None, max_devices=2, threshold=4)
    hostile_rule = ExclusionRule(id='h"1', description="d", reason="r", owner="o",
                                 expires=pd.Timestamp("2099-12-31").date(),
                                 conditions=(Condition("FolderPath", "startswith", ('C:\\x" | union *\n', "\\"), True),))
    queries = {}
    for label, (p, r, c) in {"extended, catalogue": (params, rules, catalogue),
                             "published, no catalogue": (published, load_exclusions(published.exclusions), ()),
                             "hostile rule": (published, [hostile_rule], ())}.items():
        for watchlist in (None, "verdicts"):
            exported = build_export(p, r, c, watchlist)
            prefix = GET_WATCHLIST if watchlist else ""
            rule = rule_of(exported)
            if exported.function_name:
                body = exported.files[f"{exported.function_name}.kql"]
                queries[f"sentinel rule + function, {label}, {watchlist}"] = (
                    prefix + f"let {exported.function_name} = () {{\n{body}}};\n{rule['query']}")
            else:
                queries[f"sentinel rule, {label}, {watchlist}"] = prefix + rule["query"]
            queries[f"sentinel inline, {label}, {watchlist}"] = prefix + render_detection_kql(
                p, r, c, target="sentinel", lookback="14d", watchlist=watchlist)
            queries[f"defender, {label}, {watchlist}"] = prefix + exported.files[f"{RULE_NAME}.kql"]
            if watchlist:
                queries[f"defender, {label}, GroupKey watchlist"] = (GET_GROUPKEY_WATCHLIST
                                                                     + exported.files[f"{RULE_NAME}.kql"])
    return queries


def test_both_detections_parse_with_zero_errors_in_their_dialects(kusto):
    queries = _queries_to_check()
    controls = ["DeviceProcessEvents | project NoSuchColumn",  # the parser does report errors
                render_detection_kql(HuntParams(scope="published"), target="defender", watchlist="w")]  # no declaration
    answers = kusto_parser.check_queries(list(queries.values()) + controls)
    failures = {label: errors[:2] for label, errors in zip(queries, answers) if errors}
    assert not failures, failures
    assert all(answers[len(queries):]), "the negative controls should have errors"
    assert any("TimeGenerated > ago(14d)" in q for label, q in queries.items() if label.startswith("sentinel"))
    assert all("Timestamp > ago(30d)" in q for label, q in queries.items() if label.startswith("defender"))


# --------------------------------------------------------------------------------------------
# duckdb-kql runs the Defender query: the hunt's unsuppressed rare groups, launch by launch


def _replay(con, params, rules, catalogue, since, watchlist=None, watchlist_rows=None) -> pd.DataFrame:
    """The Defender query over recorded data: ``ago()`` replaced by fixed times, and Sentinel's
    watchlist function (unknown to duckdb-kql) by a datatable of the same columns."""
    kql_reference = oracle("tests.kql_reference", "duckdb-kql needs Python 3.11+")
    text = render_detection_kql(params, rules, catalogue, target="defender", watchlist=watchlist,
                                since=since, alert_since=since)
    if watchlist:
        rows = ", ".join(kql_string(v) for row in watchlist_rows for v in row)
        table = ("datatable(FileName:string, ProcessCommandLine:string, FolderPath:string, Verdict:string)"
                 f"[{rows}]")
        real = watchlist_kql(watchlist)
        replayed = real.replace(f"_GetWatchlist({kql_string(watchlist)})", table)
        for column in ("FileName", "ProcessCommandLine", "FolderPath"):
            replayed = replayed.replace(f'column_ifexists("{column}", "")', column)
        replayed = replayed.replace('column_ifexists("Expires", "")', '""')  # the datatable has no expiry
        assert text.count(real) == 1
        text = text.replace(real, replayed)
    return kql_reference.run_kql(con, text)


def _expected(result) -> tuple[set, set]:
    """The hunt's unsuppressed rare groups whose rule or catalogue match no tripwire overrode, and
    the findings a tripwire kept (which the detection cannot know: tripwires are not rendered)."""
    rare = result.rare_tasks
    key = ["FileName", "ProcessCommandLine", "FolderPath"]
    clean = rare[rare["SuppressedBy"].isna() & rare["WouldSuppressBy"].isna()]
    kept = rare[rare["SuppressedBy"].isna() & rare["WouldSuppressBy"].notna()]
    return set(map(tuple, clean[key].to_numpy())), set(map(tuple, kept[key].to_numpy()))


def _groups(rows: pd.DataFrame) -> set:
    return set(zip(rows["FileName"], rows["ProcessCommandLine"], rows["FolderPath"]))


@pytest.fixture(scope="module")
def sample_replay():
    kql_reference = oracle("tests.kql_reference", "duckdb-kql needs Python 3.11+")
    params, rules, catalogue = shipped()
    con = kql_reference.load_into_duckdb(SAMPLE_DATA, full_schema=True)
    since = pd.Timestamp("2026-10-01", tz="UTC")  # before the sample's first event
    return con, run_hunt(SAMPLE_DATA, params, indicators=False), _replay(con, params, rules, catalogue, since), since


def test_the_custom_detection_returns_the_required_columns_on_every_row(sample_replay):
    _, _, rows, _ = sample_replay
    assert list(rows.columns) == DETECTION_COLUMNS and len(rows) > 0
    for column in DEFENDER_REQUIRED:
        assert rows[column].notna().all() and (rows[column].astype(str) != "").all(), column


def test_the_custom_detection_rows_are_the_launches_of_the_hunts_unsuppressed_rare_groups(sample_replay):
    _, result, rows, _ = sample_replay
    clean, kept = _expected(result)
    assert _groups(rows) == clean and len(clean) >= 6
    assert not kept & _groups(rows)
    # launch by launch: the same events the hunt counted for those groups
    starts = result.task_starts
    mine = starts[[g in clean for g in zip(starts.FileName, starts.ProcessCommandLine, starts.FolderPath)]]
    assert sorted(zip(rows.DeviceId, rows.ReportId.astype(int))) == sorted(zip(mine.DeviceId, mine.ReportId.astype(int)))
    # and never a group the hunt suppressed (the OneDrive standalone updater is a known task)
    suppressed = result.rare_tasks[result.rare_tasks["SuppressedBy"].notna()]
    assert not _groups(suppressed) & _groups(rows) and len(suppressed) > 0


@pytest.mark.parametrize("options", [{"max_devices": 1}, {"scope": "published", "threshold": 4},
                                     {"exclusions": "none"}])
def test_other_parameters_give_the_hunts_groups_too(sample_replay, options):
    """The device limit (the hourly beacon on one machine), the published scope with another
    threshold, and no exclusions at all: still exactly the hunt's groups nothing covers."""
    con, _, default_rows, since = sample_replay
    params = HuntParams(**options)
    result = run_hunt(SAMPLE_DATA, params, indicators=False)
    rows = _replay(con, params, load_exclusions(params.exclusions), load_known_tasks(params.known_tasks), since)
    clean, _ = _expected(result)
    assert _groups(rows) == clean and _groups(rows) != _groups(default_rows)


def test_the_alert_window_keeps_rarity_over_the_lookback(sample_replay):
    """Rows only from the alert window, but rarity still counted over the whole lookback: a group
    with one launch before the window and one inside is reported with RunCount 2."""
    con, result, rows, since = sample_replay
    params, rules, catalogue = shipped()
    times = rows["Timestamp"].sort_values().reset_index(drop=True)
    middle = len(times) // 2
    cut = (times[middle - 1] + (times[middle] - times[middle - 1]) / 2).floor("s")  # between two launches
    assert times[middle - 1] < cut < times[middle]
    text = render_detection_kql(params, rules, catalogue, target="defender", since=since,
                                alert_since=pd.Timestamp(cut, tz="UTC"))
    later = oracle("tests.kql_reference").run_kql(con, text)
    assert 0 < len(later) < len(rows) and (later["Timestamp"] > cut).all()
    merged = later.merge(rows, on=["DeviceId", "ReportId"], suffixes=("", "_all"))
    assert len(merged) == len(later) and (merged["RunCount"] == merged["RunCount_all"]).all()
    straddling = _groups(later) & _groups(rows[rows["Timestamp"] < cut])  # launches on both sides of the cut
    assert straddling and (merged["RunCount"] >= 2).any()


def test_a_benign_verdict_in_the_watchlist_leaves_only_that_group_out(sample_replay):
    con, result, rows, since = sample_replay
    params, rules, catalogue = shipped()
    groups = sorted(_groups(rows))
    cleared, judged_bad = groups[0], groups[1]
    # the same strings in another case are another group in the hunt, so they clear nothing
    shouted = tuple(v.upper() for v in groups[2])
    watch = [(*cleared, "Benign"), (*judged_bad, "malicious"), (*shouted, "benign")]
    left = _replay(con, params, rules, catalogue, since, "verdicts", watch)
    assert _groups(left) == set(groups) - {cleared}


def test_a_rule_kept_by_a_tripwire_is_the_one_documented_difference():
    """A task that matches the reporting exclusion and calls a rare public address: the hunt keeps
    it (tripwire), the detection leaves it out, and nothing else differs."""
    kql_reference = oracle("tests.kql_reference", "duckdb-kql needs Python 3.11+")
    report = ("powershell.exe", r"powershell.exe -ep bypass -File C:\Users\Public\report.ps1",
              r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe")
    odd = ("odd.exe", "odd.exe --now", r"C:\Tools\odd.exe")
    processes = [task_start(*report, pid=5, minutes=10), task_start(*odd, pid=6, minutes=20, device="pc-02")]
    network = [activity(*report, pid=5, created_minutes=10, minutes=11, RemoteIP="185.100.87.3")]
    frames = {"DeviceProcessEvents": typed("DeviceProcessEvents", processes),
              "DeviceNetworkEvents": typed("DeviceNetworkEvents", network)}
    params, rules, catalogue = shipped()
    result = run_hunt(frames, params, indicators=False)
    clean, kept = _expected(result)
    assert kept == {report} and clean == {odd}
    rows = _replay(kql_reference.connect_frames(frames), params, rules, catalogue, T0 - pd.Timedelta(days=1))
    assert _groups(rows) == {odd}


# --------------------------------------------------------------------------------------------
# The command


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hunting_lib", "export-rule", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=300)


def test_dry_run_prints_every_file_and_writes_nothing(tmp_path):
    target = tmp_path / "rules"
    done = run_cli("--output", str(target), "--watchlist", "verdicts", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert not target.exists()
    expected = build_export(*shipped(), watchlist="verdicts")
    for name, text in expected.files.items():
        assert f"would write {target / name}" in done.stdout
        assert text in done.stdout
    assert expected.rule_id in done.stdout


def test_the_command_writes_the_rule_and_the_custom_detection(tmp_path):
    done = run_cli("--output", str(tmp_path / "rules"), "--scope", "published", "--known-tasks", "none",
                   "--threshold", "4")
    assert done.returncode == 0, done.stderr
    written = sorted(p.name for p in (tmp_path / "rules").iterdir())
    assert written == [f"{RULE_NAME}.kql", f"{RULE_NAME}.yaml"]
    rule = yaml.safe_load((tmp_path / "rules" / f"{RULE_NAME}.yaml").read_text(encoding="utf-8"))
    assert check_template(rule) == [] and "count_ < 4" in rule["query"]
    defender = (tmp_path / "rules" / f"{RULE_NAME}.kql").read_text(encoding="utf-8")
    assert "Timestamp > ago(30d)" in defender and "| project Timestamp, DeviceId," in defender


@pytest.mark.parametrize("make_bad, args, message", [
    (lambda tmp: tmp / "missing" / "rules", (), "does not exist"),
    (lambda tmp: (tmp / "a-file").write_text("x") and tmp / "a-file", (), "is a file"),
    (lambda tmp: tmp / "rules", ("--start", "2026-11-01"), "--start/--end"),
    (lambda tmp: tmp / "rules", ("--watchlist", "bad'name"), "watchlist alias"),
    (lambda tmp: tmp / "rules", ("--history", "h.sqlite"), "--watchlist NAME"),
    (lambda tmp: tmp / "rules", ("--match", "process"), "--match process"),
])
def test_bad_output_and_options_are_one_line_with_exit_2(tmp_path, make_bad, args, message):
    done = run_cli("--output", str(make_bad(tmp_path)), *args)
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in done.stderr


def test_render_refuses_a_fixed_window_and_an_odd_lookback():
    with pytest.raises(BadInputError, match="sliding lookback"):
        render_detection_kql(HuntParams(end="2026-11-08"))
    with pytest.raises(BadInputError, match="KQL timespan"):
        render_detection_kql(HuntParams(), lookback="30d) | take 1")


def test_the_watchlist_handoff_syncs_has_the_columns_the_rule_reads():
    """The two halves of issue 16 agree: every column the detection reads is one the sync writes."""
    from hunting_lib.detection.queries import WATCHLIST_COLUMNS
    from hunting_lib.handoff.watchlist import COLUMNS

    assert set(WATCHLIST_COLUMNS) <= set(COLUMNS)
    assert all(f'column_ifexists("{c}", "")' in watchlist_kql("w") for c in ("FileName", "Expires"))
