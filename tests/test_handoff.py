"""The hand-off to Microsoft Sentinel: bookmarks with time range and entities, incidents,
comments and the watchlist, through a fake msticpy client that records every call.

The findings file is made by the kit's own hunt on a small hand-built fleet; what a bookmark must
carry (times, devices, IPs, rows) is read from the fleet as written here, not from the output.
"""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from hunting_lib.cli import main
from hunting_lib.handoff import send
from hunting_lib.handoff.findings import choose_findings, load_findings, narrowed_kql
from hunting_lib.handoff.plan import BOOKMARK_API_VERSION, handoff_plan
from hunting_lib.hunt import run_hunt
from hunting_lib.params import HuntParams
from hunting_lib.report.output import write_json
from hunting_lib.report.redact import redact_text
from tests.conftest import T0, activity, oracle, task_start, typed
from tests.fake_sentinel import TOKEN, FakeSentinel

EVIL = ("powershell.exe", r"powershell.exe -ep bypass -File C:\Users\Public\report.ps1",
        r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe")
# Attacker-written: a quote and backslash to end a literal, a pipe, a line break and markup.
HOSTILE = ("upd.exe", 'upd.exe "x\\" | take 1 //\n<script>alert(1)</script> \\', r"C:\Users\Public\upd.exe")
# An admin's password in a command line: never sent.
PASSWORD = "Pa55word!"
SECRET = ("cmd.exe", rf"cmd.exe /c net use \\fs01\c$ /user:FAB\adm {PASSWORD} && copy a.exe \\fs01\c$",
          r"C:\Windows\System32\cmd.exe")
VEEAM = ("Veeam.Agent.exe", "Veeam.Agent.exe /job 1", r"C:\Program Files\Veeam\Endpoint\Veeam.Agent.exe")
HOSTILE_DEVICE = "pc-02.corp.example"


def fleet() -> dict[str, pd.DataFrame]:
    processes = [task_start(*EVIL, pid=5, minutes=240), task_start(*EVIL, pid=15, minutes=250),
                 task_start(*HOSTILE, pid=6, minutes=300, device=HOSTILE_DEVICE),
                 task_start(*SECRET, pid=7, minutes=360), task_start(*VEEAM, pid=8, minutes=10)]
    network = [activity(*EVIL, pid=5, created_minutes=240, minutes=241, RemoteIP="185.100.87.3"),
               activity(*EVIL, pid=15, created_minutes=250, minutes=259, RemoteIP="185.100.87.4"),
               activity(*HOSTILE, pid=6, created_minutes=300, minutes=301, device=HOSTILE_DEVICE,
                        RemoteIP="203.0.113.9"),
               activity(*SECRET, pid=7, created_minutes=360, minutes=361, RemoteIP="10.1.1.1")]
    return {"DeviceProcessEvents": typed("DeviceProcessEvents", processes),
            "DeviceNetworkEvents": typed("DeviceNetworkEvents", network)}


@pytest.fixture(scope="module")
def findings_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("handoff") / "findings.json"
    write_json(run_hunt(fleet(), HuntParams()), path)
    return path


def rank_of(path, file_name: str) -> int:
    rows = json.loads(path.read_text(encoding="utf-8"))["rare_tasks"]
    return next(i for i, row in enumerate(rows, start=1) if row["FileName"] == file_name)


def iso(minutes: float) -> str:
    return (T0 + pd.Timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S") + "Z"


def dry_run_bodies(output: str) -> list[dict]:
    """The JSON bodies a dry run printed, in order (each follows its request line)."""
    bodies, decoder = [], json.JSONDecoder()
    for match in re.finditer(r"^PUT \S+\n", output, flags=re.MULTILINE):
        body, _ = decoder.raw_decode(output[match.end():])
        bodies.append(body)
    return bodies


def test_dry_run_prints_a_bookmark_per_unsuppressed_finding_with_time_range_and_entities(findings_file, capsys,
                                                                                         monkeypatch):
    monkeypatch.setattr(send, "connect_sentinel", lambda *a: pytest.fail("a dry run connected"))
    assert main(["handoff", "--findings", str(findings_file), "--dry-run"]) == 0
    output = capsys.readouterr().out
    bookmarks = [b["properties"] for b in dry_run_bodies(output)]
    # Three unsuppressed findings; Veeam is suppressed by the shipped backup rule.
    assert len(bookmarks) == 3 and output.count(f"?api-version={BOOKMARK_API_VERSION}") == 3
    assert "Veeam" not in output
    evil = next(b for b in bookmarks if "powershell.exe" in b["displayName"])
    # First run at minute 240; the last activity (minute 259) is after the last run (250).
    assert evil["eventTime"] == evil["queryStartTime"] == iso(240)
    assert evil["queryEndTime"] == iso(259)
    entities = {(e["entityType"], f["identifier"], f["value"]) for e in evil["entityMappings"]
                for f in e["fieldMappings"]}
    assert {("Host", "HostName", "pc-01"), ("File", "Name", "powershell.exe"), ("IP", "Address", "185.100.87.3"),
            ("IP", "Address", "185.100.87.4"), ("Account", "Name", "system"),
            ("File", "Directory", r"C:\Windows\System32\WindowsPowerShell\v1.0")} <= entities
    hostile = next(b for b in bookmarks if "upd.exe" in b["displayName"])
    hosts = [e for e in hostile["entityMappings"] if e["entityType"] == "Host"]
    assert hosts == [{"entityType": "Host", "fieldMappings": [{"identifier": "HostName", "value": "pc-02"},
                                                               {"identifier": "DnsDomain", "value": "corp.example"}]}]
    rows = json.loads(evil["queryResult"])
    assert rows["rare_task"]["ProcessCommandLine"] == EVIL[1]
    assert sorted(r["InitiatingProcessId"] for r in rows["activity"]) == [5, 15]
    assert "dry run" in output and "nothing sent" in output


def test_chosen_ranks_only(findings_file, capsys):
    rank = rank_of(findings_file, "upd.exe")
    assert main(["handoff", "--findings", str(findings_file), "--finding", str(rank), "--dry-run"]) == 0
    bodies = dry_run_bodies(capsys.readouterr().out)
    assert len(bodies) == 1 and "upd.exe" in bodies[0]["properties"]["displayName"]


def test_a_suppressed_finding_goes_when_chosen_by_rank(findings_file, capsys):
    rank = rank_of(findings_file, "Veeam.Agent.exe")
    assert main(["handoff", "--findings", str(findings_file), "--finding", str(rank), "--dry-run"]) == 0
    bodies = dry_run_bodies(capsys.readouterr().out)
    assert len(bodies) == 1 and "Suppressed by backup-veeam-agent" in bodies[0]["properties"]["notes"]


def test_narrowed_query_returns_exactly_the_findings_rows_in_an_independent_engine(findings_file):
    duckdb_kql = oracle("duckdb_kql", "duckdb-kql needs Python 3.11+")
    kql_reference = oracle("tests.kql_reference", "duckdb-kql needs Python 3.11+")
    findings = load_findings(findings_file)
    expected = {"powershell.exe": [5, 15], "upd.exe": [6], "cmd.exe": [7]}
    for finding in choose_findings(findings, None):
        query = narrowed_kql(findings.audit["kql"], finding.group)
        got = duckdb_kql.kql(kql_reference.connect_frames(fleet()), query).df()
        assert sorted(got["InitiatingProcessId"].astype(int)) == expected[finding.group["FileName"]], query[-400:]
        assert set(got["InitiatingProcessCommandLine"]) == {finding.group["ProcessCommandLine"]}


def test_attacker_text_stays_inside_its_literals(findings_file):
    findings = load_findings(findings_file)
    hostile = choose_findings(findings, [rank_of(findings_file, "upd.exe")])[0]
    query = narrowed_kql(findings.audit["kql"], hostile.group)
    # The hostile command line adds no line and no pipe of its own: the query's statements are the
    # hunt's plus the two narrowing filters.
    assert query.count("\n") == findings.audit["kql"].strip().count("\n") + 3
    assert '\\"x\\\\\\" | take 1 //\\n<script>' in query


def test_no_secret_is_sent_or_printed(findings_file, capsys):
    assert main(["handoff", "--findings", str(findings_file), "--new-incident", "Case", "--dry-run"]) == 0
    output = capsys.readouterr().out
    assert PASSWORD not in output and "<redacted>" in output
    client = FakeSentinel()
    args = ["handoff", "--findings", str(findings_file), "--new-incident", "Case"]
    from hunting_lib.cli import build_parser
    from hunting_lib.handoff.commands import run_handoff

    assert run_handoff(build_parser().parse_args(args), client=client, http=client.http) == 0
    sent = json.dumps([r["json"] for r in client.requests]) + json.dumps(client.calls, default=str)
    assert PASSWORD not in sent and "<redacted>" in sent
    # The secret's command line is matched by its start in the query, up to the secret.
    secret = next(r["json"] for r in client.requests if "cmd.exe" in r["json"]["properties"]["displayName"])
    assert r'InitiatingProcessCommandLine startswith "cmd.exe /c net use \\\\fs01\\c$ /user:FAB\\adm "' in \
        secret["properties"]["query"]
    printed = capsys.readouterr()
    assert TOKEN not in printed.out + printed.err


def _send(findings_file, client, *extra):
    from hunting_lib.cli import build_parser
    from hunting_lib.handoff.commands import run_handoff

    args = build_parser().parse_args(["handoff", "--findings", str(findings_file), *extra])
    return run_handoff(args, client=client, http=client.http)


def test_send_records_bookmarks_incident_relations_and_comments(findings_file, capsys):
    client = FakeSentinel()
    assert _send(findings_file, client, "--new-incident", "Rare task <b>case</b>") == 0
    bookmarks = client.requests
    assert [r["method"] for r in bookmarks] == ["PUT"] * 3
    assert all(r["url"].startswith(client.sent_urls["bookmarks"] + "/") for r in bookmarks)
    assert all(r["params"] == {"api-version": BOOKMARK_API_VERSION} for r in bookmarks)
    assert all(r["headers"]["Authorization"] == f"Bearer {TOKEN}" for r in bookmarks)
    assert all({"eventTime", "queryStartTime", "queryEndTime", "entityMappings"} <= set(r["json"]["properties"])
               for r in bookmarks)
    ids = [r["url"].rsplit("/", 1)[1] for r in bookmarks]
    assert client.names() == ["create_incident"] + ["add_bookmark_to_incident"] * 3 + ["post_comment"] * 3
    incident = client.calls[0][1]
    rows = json.loads(findings_file.read_text(encoding="utf-8"))["rare_tasks"]
    critical = any(row["Critical"] for row in rows if not row["SuppressedBy"])
    assert incident["severity"] == ("High" if critical else "Medium") and incident["title"] == "Rare task <b>case</b>"
    assert incident["first_activity_time"] == pd.Timestamp(iso(240)).to_pydatetime()
    assert incident["last_activity_time"] == pd.Timestamp(iso(361)).to_pydatetime()
    relations = [c[1] for c in client.calls if c[0] == "add_bookmark_to_incident"]
    assert [r["bookmark"] for r in relations] == ids and {r["incident"] for r in relations} == {incident["id"]}
    comments = [c[1]["comment"] for c in client.calls if c[0] == "post_comment"]
    assert all(c.startswith("Rare scheduled task (T1053.005), rank") for c in comments)
    hostile = next(c for c in comments if "upd.exe" in c)
    assert "<script>" not in hostile and "&lt;script&gt;alert(1)&lt;/script&gt;" in hostile
    assert TOKEN not in capsys.readouterr().out


def test_comment_escapes_markup(findings_file):
    findings = load_findings(findings_file)
    hostile = choose_findings(findings, [rank_of(findings_file, "upd.exe")])
    comment = [c for c in handoff_plan(findings, hostile, incident="inc-1") if c.kind == "comment"][0]
    assert "[gk-" in comment.arguments["comment"] and "<br>" in comment.arguments["comment"]


def test_existing_incident_gets_the_bookmarks_and_no_new_incident(findings_file):
    client = FakeSentinel()
    incident = "6b3bd1f6-9b7e-4b8f-8d0c-6ad0b1b7e0a1"
    rank = rank_of(findings_file, "powershell.exe")
    assert _send(findings_file, client, "--finding", str(rank), "--incident", incident) == 0
    assert client.names() == ["add_bookmark_to_incident", "post_comment"]
    assert client.calls[0][1]["incident"] == client.calls[1][1]["incident_id"] == incident
    assert client.calls[0][1]["bookmark"] == client.requests[0]["url"].rsplit("/", 1)[1]


def test_bookmark_ids_are_stable_so_a_second_send_replaces(findings_file):
    first, second = FakeSentinel(), FakeSentinel()
    _send(findings_file, first)
    _send(findings_file, second)
    assert [r["url"] for r in first.requests] == [r["url"] for r in second.requests]
    assert first.names() == []  # no incident asked: bookmarks only


def test_a_refused_bookmark_is_one_line_without_the_token(findings_file, capsys, monkeypatch):
    client = FakeSentinel(status_code=403)
    monkeypatch.setattr(send, "connect_sentinel", lambda *a: client)
    monkeypatch.setattr(send, "_httpx_request", client.http)
    assert main(["handoff", "--findings", str(findings_file)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "HTTP 403" in err and TOKEN not in err


# -- watchlist ---------------------------------------------------------------------------------

def _history_with_verdict(tmp_path, findings_file, verdict="benign", analyst="ana"):
    from hunting_lib.history.store import open_history
    from hunting_lib.history.verdicts import record_verdict

    key = json.loads(findings_file.read_text(encoding="utf-8"))["rare_tasks"][0]["GroupKey"]
    path = tmp_path / "history.sqlite"
    with open_history(path, create=True) as store:
        record_verdict(store, key, verdict, analyst, note=f"net use x /user:a\\b {PASSWORD}")
    return path, key


def test_watchlist_sync_creates_adds_and_is_idempotent(findings_file, tmp_path):
    history, key = _history_with_verdict(tmp_path, findings_file)
    client = FakeSentinel()
    assert _send(findings_file, client, "--finding", "1", "--sync-watchlist", "hunt-verdicts",
                 "--history", str(history)) == 0
    created = [c[1] for c in client.calls if c[0] == "create_watchlist"]
    assert created == [{"watchlist_name": "hunt-verdicts", "description": created[0]["description"],
                        "search_key": "GroupKey"}]
    items = {v["GroupKey"]: v for v in client.watchlists["hunt-verdicts"].values()}
    veeam = json.loads(findings_file.read_text(encoding="utf-8"))["rare_tasks"][rank_of(findings_file, "Veeam.Agent.exe") - 1]
    assert set(items) == {key, veeam["GroupKey"]}
    assert items[key]["Verdict"] == "benign" and items[key]["Analyst"] == "ana" and items[key]["Expires"]
    assert items[veeam["GroupKey"]]["Verdict"] == "excluded"
    assert items[veeam["GroupKey"]]["Source"] == "rule:backup-veeam-agent"
    # The exact strings too, for export-rule's detection, which joins on them (secrets redacted).
    file_name = json.loads(findings_file.read_text(encoding="utf-8"))["rare_tasks"][0]["FileName"]
    triple = next(t for t in (EVIL, HOSTILE, SECRET) if t[0] == file_name)
    command = redact_text(triple[1]) if triple is SECRET else triple[1]
    assert (items[key]["FileName"], items[key]["ProcessCommandLine"], items[key]["FolderPath"]) == \
        (triple[0], command, triple[2])
    assert tuple(items[veeam["GroupKey"]][c] for c in ("FileName", "ProcessCommandLine", "FolderPath")) == VEEAM
    before = dict(client.watchlists["hunt-verdicts"])
    again = FakeSentinel(watchlists=client.watchlists)
    _send(findings_file, again, "--finding", "1", "--sync-watchlist", "hunt-verdicts", "--history", str(history))
    assert "create_watchlist" not in again.names() and "add_watchlist_item" not in again.names()
    assert [r for r in again.requests if "/watchlists/" in r["url"]] == []
    assert again.watchlists["hunt-verdicts"] == before


def test_watchlist_updates_a_changed_verdict_in_place_and_never_deletes(findings_file, tmp_path, capsys):
    history, key = _history_with_verdict(tmp_path, findings_file)
    client = FakeSentinel()
    client.watchlists["hunt-verdicts"] = {"old-item": {"GroupKey": "gk-00000000000000aa", "Verdict": "malicious"}}
    _send(findings_file, client, "--finding", "1", "--sync-watchlist", "hunt-verdicts", "--history", str(history))
    item_id = next(i for i, v in client.watchlists["hunt-verdicts"].items() if v["GroupKey"] == key)
    _history_with_verdict(tmp_path, findings_file, verdict="malicious", analyst="bo")
    later = FakeSentinel(watchlists=client.watchlists)
    capsys.readouterr()
    _send(findings_file, later, "--finding", "1", "--sync-watchlist", "hunt-verdicts", "--history", str(history))
    updates = [r for r in later.requests if "/watchlistItems/" in r["url"]]
    assert len(updates) == 1 and updates[0]["url"].endswith(f"/watchlistItems/{item_id}")
    assert "add_watchlist_item" not in later.names()
    assert later.watchlists["hunt-verdicts"][item_id]["Verdict"] == "malicious"
    assert "old-item" in later.watchlists["hunt-verdicts"]  # only in the watchlist: kept
    out = capsys.readouterr().out
    assert "1 item(s) have no verdict or exclusion here and were left as they are" in out
    assert PASSWORD not in json.dumps(later.watchlists)


def test_watchlist_dry_run_prints_create_and_items(findings_file, tmp_path, capsys):
    history, key = _history_with_verdict(tmp_path, findings_file)
    assert main(["handoff", "--findings", str(findings_file), "--finding", "1", "--dry-run",
                 "--sync-watchlist", "hunt-verdicts", "--history", str(history)]) == 0
    bodies = dry_run_bodies(capsys.readouterr().out)
    assert bodies[1]["properties"]["itemsSearchKey"] == "GroupKey"
    assert bodies[2]["properties"]["itemsKeyValue"]["GroupKey"] == key


# -- bad input ---------------------------------------------------------------------------------

@pytest.mark.parametrize("change, message", [
    (None, "no such file"),
    ({"rare_tasks": []}, "no 'audit'"),
    ("not json", "not a findings JSON file"),
])
def test_bad_findings_file_is_one_line_exit_2(tmp_path, capsys, change, message):
    path = tmp_path / "findings.json"
    if isinstance(change, dict):
        path.write_text(json.dumps(change), encoding="utf-8")
    elif change is not None:
        path.write_text(change, encoding="utf-8")
    assert main(["handoff", "--findings", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


@pytest.mark.parametrize("extra, message", [
    (["--finding", "99"], "--finding 99: "),
    (["--finding", "0"], "--finding 0: "),
    (["--finding", "one"], "is not a rank"),
    (["--incident", "a", "--new-incident", "b"], "not allowed with argument"),
    (["--incident", "../x"], "--incident"),
    (["--sync-watchlist", "bad name/x"], "--sync-watchlist"),
    (["--history", "h.sqlite"], "only used with --sync-watchlist"),
])
def test_bad_arguments_are_one_line_exit_2(findings_file, capsys, extra, message):
    try:
        status = main(["handoff", "--findings", str(findings_file), "--dry-run", *extra])
    except SystemExit as stop:  # argparse's own errors exit from parse_args
        status = stop.code
    assert status == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


# -- the fake stays true to msticpy ------------------------------------------------------------

@pytest.mark.parametrize("method", ["create_incident", "add_bookmark_to_incident", "post_comment", "list_watchlists",
                                    "create_watchlist", "list_watchlist_items", "add_watchlist_item"])
def test_the_fake_has_msticpys_signatures(method):
    import inspect

    sentinel_core = oracle("msticpy.context.azure.sentinel_core", "msticpy[azure] is a dependency")
    real = inspect.signature(getattr(sentinel_core.MicrosoftSentinel, method))
    fake = inspect.signature(getattr(FakeSentinel, method))
    assert list(real.parameters) == list(fake.parameters)


def test_rest_paths_are_msticpys():
    from hunting_lib.handoff.plan import PROVIDER

    sentinel_utils = oracle("msticpy.context.azure.sentinel_utils", "msticpy[azure] is a dependency")
    for kind in ("bookmarks", "incidents", "watchlists"):
        assert sentinel_utils._PATH_MAPPING[kind] == f"{PROVIDER}/{kind}"


# -- the notebook's section ----------------------------------------------------------------------

def test_notebook_preview_lists_each_call_with_time_range_and_entities(findings_file):
    from hunting_lib.handoff.notebook import preview_handoff

    rank = rank_of(findings_file, "powershell.exe")
    calls, table = preview_handoff(findings_file, [rank], new_incident="Case")
    assert list(table["Call"]) == ["bookmark", "incident", "relation", "comment"]
    bookmark = table.iloc[0]
    # shown to the second, as every table of the report; the call itself keeps the full time
    assert (bookmark["From"], bookmark["To"]) == tuple(iso(m)[:19].replace("T", " ") for m in (240, 259))
    assert "Host: pc-01" in bookmark["Entities"] and "IP: 185.100.87.3" in bookmark["Entities"]


def test_notebook_form_sends_only_after_a_preview_of_the_same_choices(findings_file, capsys):
    oracle("ipywidgets", "the notebook's widgets")
    from hunting_lib.handoff.notebook import handoff_form

    client = FakeSentinel()
    form = handoff_form(findings_file, workspace="soc", connect=lambda workspace: client, http=client.http)
    choose, (new_incident, _), (preview, send_button), _ = form.children[0], form.children[1].children, \
        form.children[2].children, form.children[3]
    assert send_button.disabled
    choose.value = (rank_of(findings_file, "upd.exe"),)
    preview.click()
    assert not send_button.disabled and client.calls == [] and client.requests == []
    new_incident.value = "changed after the preview"
    assert send_button.disabled  # a new choice needs a new preview
    preview.click()
    send_button.click()
    assert client.names() == ["create_incident", "add_bookmark_to_incident", "post_comment"]
    assert len(client.requests) == 1 and "upd.exe" in client.requests[0]["json"]["properties"]["displayName"]


def test_result_rows_stay_valid_json_when_a_secret_ends_a_value(tmp_path):
    # The net use rule takes the token after /user:NAME; at a value's end that token, run over
    # the JSON text, would be the closing quote and the next key.
    command = "net use \\\\h\\c$ /user:FAB\\adm "  # ends in a space: the next token is the closing quote
    findings = load_findings(_findings_with_command(tmp_path, command))
    body = handoff_plan(findings, choose_findings(findings, [1]))[0].body["properties"]
    rows = json.loads(body["queryResult"])
    assert rows["rare_task"]["ProcessCommandLine"] == command
    assert rows["rare_task"]["FolderPath"] == r"C:\Windows\System32\net.exe"


def _findings_with_command(tmp_path, command: str):
    path = tmp_path / "one.json"
    row = {"FileName": "net.exe", "ProcessCommandLine": command, "FolderPath": r"C:\Windows\System32\net.exe",
           "GroupKey": "gk-0123456789abcdef", "FirstSeen": iso(0), "LastSeen": iso(1), "Devices": ["pc-01"]}
    path.write_text(json.dumps({"rare_tasks": [row], "activity": [], "audit": {"kql": "DeviceProcessEvents"}}),
                    encoding="utf-8")
    return path


def test_narrowed_queries_parse_with_zero_errors_in_microsofts_kusto_parser(findings_file):
    from tests import kusto_parser

    kusto_parser.require_kusto()
    findings = load_findings(findings_file)
    queries = [narrowed_kql(findings.audit["kql"], f.group) for f in choose_findings(findings, None)]
    broken = queries[0].replace("| where InitiatingProcessFileName", "| where where InitiatingProcessFileName")
    answers = kusto_parser.check_queries(queries + [broken])
    assert answers[:-1] == [[]] * len(queries)
    assert answers[-1]  # the parser does report a broken query


def test_a_verdicts_group_strings_come_from_the_history_when_the_findings_lack_the_key(tmp_path):
    from hunting_lib.handoff.watchlist import recorded_groups, watchlist_items
    from hunting_lib.history.store import open_history
    from hunting_lib.history.verdicts import current_verdicts, record_verdict

    path = tmp_path / "history.sqlite"
    result = run_hunt(fleet(), HuntParams(history=str(path)))
    key = result.rare_tasks.loc[result.rare_tasks["FileName"] == EVIL[0], "GroupKey"].iloc[0]
    with open_history(path) as store:
        record_verdict(store, key, "benign", "ana")
        verdicts = current_verdicts(store)
        recorded = recorded_groups(store, [key])
    items = watchlist_items(verdicts, None, recorded)
    assert [(i["GroupKey"], i["FileName"], i["ProcessCommandLine"], i["FolderPath"], i["Verdict"]) for i in items] == \
        [(key, *EVIL, "benign")]


def test_no_sentinel_settings_is_one_line_exit_1(findings_file, capsys, monkeypatch, tmp_path):
    oracle("msticpy.context.azure.sentinel_core", "msticpy[azure] is a dependency")
    monkeypatch.setenv("MSTICPYCONFIG", str(tmp_path / "absent.yaml"))
    assert main(["handoff", "--findings", str(findings_file), "--finding", "1", "--workspace", "Nope"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot connect to Microsoft Sentinel (workspace Nope)" in err
