"""Hostile strings in every field an attacker controls: the hunt, the JSON, the CSV and the
rendered KQL keep them intact and inert."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from hunting_lib.hunt import run_hunt
from hunting_lib.params import HuntParams
from hunting_lib.remote.kql import render_activity_rows_kql
from tests.conftest import REPO, activity, task_start

HOSTILE = {
    "html": '<script>alert(1)</script><img src=x onerror=alert(2)> javascript:alert(3)',
    "kql": '" | where 1==1 // """ @" let x = 1; ',
    "markdown": "# heading [link](javascript:alert(1)) **bold** `code` | table |",
    "terminal": "\x1b[2J\x1b]0;owned\x07\x1b[31mred",
    "rtl": "evil\u202egnp.exe",
    "long": "A" * 20_000,
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("hostile")
    starts, events = [], []
    for i, (kind, text) in enumerate(HOSTILE.items(), start=1):
        task = (f"{kind}{text[:40]}.exe", f"{text} -run", f"C:\\Users\\Public\\{kind}\\{text[:60]}.exe")
        row = task_start(*task, pid=i, device=f"pc-{kind}{text[:30]}", account=f"{text[:30]}")
        starts.append(row)
        events.append(activity(*task, pid=i, device=row["DeviceName"], RemoteIP="185.100.87.3",
                               FileName=f"{text[:50]}.dll"))
    pd.DataFrame(starts).to_csv(path / "DeviceProcessEvents.csv", index=False)
    pd.DataFrame(events).to_csv(path / "DeviceNetworkEvents.csv", index=False)
    return path


def test_json_and_csv_keep_every_value_exactly(folder, tmp_path):
    out = tmp_path / "findings.json"
    done = subprocess.run([sys.executable, "-m", "hunting_lib", "hunt", "--data-dir", str(folder), "--output",
                           str(out)], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr
    document = json.loads(out.read_text(encoding="utf-8"))
    commands = {t["ProcessCommandLine"] for t in document["rare_tasks"]}
    assert commands == {f"{text} -run" for text in HOSTILE.values()}
    assert {a["DeviceName"] for a in document["activity"]} == {f"pc-{k}{t[:30]}" for k, t in HOSTILE.items()}
    # The terminal summary printed alongside shows no raw escape or bidi character.
    assert "\x1b" not in done.stdout and "\u202e" not in done.stdout
    csv_out = tmp_path / "activity.csv"
    subprocess.run([sys.executable, "-m", "hunting_lib", "hunt", "--data-dir", str(folder), "--output",
                    str(csv_out)], capture_output=True, text=True, cwd=REPO, timeout=300, check=True)
    table = pd.read_csv(csv_out, keep_default_na=False)
    assert set(table["InitiatingProcessCommandLine"]) == commands


def test_kql_built_from_hostile_data_keeps_its_structure(folder):
    from tests import kusto_parser

    kusto_parser.require_kusto()
    result = run_hunt(folder, HuntParams(exclusions=None))
    query = render_activity_rows_kql(HuntParams(), result.rare_tasks, ["Timestamp", "DeviceName"])
    n = len(result.rare_tasks)
    plain = render_activity_rows_kql(
        HuntParams(), result.rare_tasks.assign(FileName=[f"a{i}" for i in range(n)],
                                               ProcessCommandLine=[f"b{i}" for i in range(n)],
                                               FolderPath=[f"c{i}" for i in range(n)]),
        ["Timestamp", "DeviceName"])
    errors, = kusto_parser.check_queries([query])
    assert errors == []
    hostile_tokens, plain_tokens = kusto_parser.tokens([query, plain])
    # The same sequence of token kinds (string literals count once each, whatever their text):
    # no value ended its literal early or added an operator.
    def kinds(tokens):
        return [t["kind"] for t in tokens]
    literals = [t for t in hostile_tokens if "String" in t["kind"]]
    assert {t.get("value") for t in literals} >= {str(v).lower() for v in result.rare_tasks["ProcessCommandLine"]}
    assert kinds(hostile_tokens).count("StringLiteralToken") >= len(result.rare_tasks)
    assert [k for k in kinds(hostile_tokens) if "String" not in k] == [k for k in kinds(plain_tokens) if "String" not in k]
