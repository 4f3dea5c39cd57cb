"""What the kit ships must hold on fleets it has never seen.

- No name of the synthetic sample's invented environment (its devices, accounts, domain, file
  shares and folders) appears in a shipped rule, catalogue entry or scope setting: the generator,
  the answer key and the rules were once written together, and must not be again.
- The known-task catalogue is reviewable data: at least 60 entries, each with its task path, binary,
  argument pattern, account class and a reference, and patterns that KQL's RE2 reads as Python does.
- On real Windows telemetry (OTRF), the ordinary tasks are suppressed and stay visible.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest
import yaml

from hunting_lib.hunt import run_hunt
from hunting_lib.params import HuntParams
from hunting_lib.triage.exclusions import parse_exclusions
from hunting_lib.triage.known_tasks import binary_regex, load_known_tasks, parse_known_tasks
from tests.conftest import REAL_DATA, REPO, SAMPLE_DATA, oracle, require_shared

CONFIG = REPO / "hunting_lib" / "config"
_TOKEN = re.compile(r"[\\/\s\"'=,;:<>|&()\[\]{}*+?^$]+")
#: Roots every Windows machine has: a sample path under one of these is only the sample's from
#: the folder below it. Windows' and Microsoft's own folders, and user profiles (whose user names
#: are identifiers of their own), are not the sample's.
_ROOTS = ("c:\\program files", "c:\\program files (x86)", "c:\\programdata")
_NOT_THE_SAMPLES = ("c:\\windows", "c:\\programdata\\microsoft", "c:\\users")


def sample_names(scenarios: list[dict]) -> tuple[set[str], set[str]]:
    """The invented environment of the sample: identifiers (devices, accounts, domain labels,
    share hosts and shares) and folder paths (their prefixes below the common roots)."""
    identifiers, folders = set(), set()
    for scenario in scenarios:
        devices = scenario.get("devices") or [scenario.get("device")]
        for device in filter(None, devices):
            identifiers.update(label for label in device.lower().split(".") if label not in ("com", "local"))
        account = str(scenario.get("account") or "").lower()
        if account and not account.startswith("nt authority"):
            identifiers.update(account.split("\\"))
        for text in (scenario.get("FolderPath"), scenario.get("ProcessCommandLine")):
            for path in re.findall(r"(?:[a-zA-Z]:\\|\\\\)[^\s\"<>|,]+", text or ""):
                parts = [p for p in path.lower().split("\\") if p]
                if path.startswith("\\\\"):
                    identifiers.update(parts[:2])  # a share's host and name
                    continue
                for end in range(2, len(parts)):  # folders only, not the file name
                    prefix = "\\".join(parts[:end])
                    if prefix not in _ROOTS and not prefix.startswith(_NOT_THE_SAMPLES):
                        folders.add(prefix)
    return identifiers, folders


def shipped_values() -> list[str]:
    """Every value a shipped rule, catalogue entry or scope setting matches on (not its prose, and
    not a catalogue entry's task path, which names the task and matches nothing)."""
    values = []
    for rule in parse_exclusions((CONFIG / "exclusions.yaml").read_text(encoding="utf-8")):
        values += [v for condition in rule.conditions for v in condition.values]
    for entry in load_known_tasks():  # what an entry matches on (its task path is only its name)
        values += [entry.arguments_source, *entry.binaries]
    for name in ("scope.yaml", "paths.yaml"):
        document = yaml.safe_load((CONFIG / name).read_text(encoding="utf-8"))
        values += [str(v) for v in _leaves(document)]
    return [v.lower() for v in values]


def _leaves(node):
    if isinstance(node, dict):
        for value in node.values():
            yield from _leaves(value)
    elif isinstance(node, list):
        for value in node:
            yield from _leaves(value)
    elif node is not None:
        yield node


def violations(values: list[str], identifiers: set[str], folders: set[str]) -> list[tuple[str, str]]:
    found = []
    for value in values:
        tokens = set(_TOKEN.split(value.replace("\\\\", "\\")))
        found += [(name, value) for name in identifiers if name in tokens]
        plain = value.replace("\\\\", "\\")
        found += [(folder, value) for folder in folders if folder in plain]
    return found


@pytest.fixture(scope="module")
def scenarios() -> list[dict]:
    return yaml.safe_load((SAMPLE_DATA / "scenarios.yaml").read_text(encoding="utf-8"))["scenarios"]


def test_no_name_from_the_sample_appears_in_a_shipped_rule(scenarios):
    identifiers, folders = sample_names(scenarios)
    # The sample's environment as the check sees it (so the check cannot pass by finding nothing).
    assert {"svc-reports", "fs01", "patches", "fabrikam"} <= identifiers
    assert {"c:\\scripts", "c:\\scripts\\reports", "c:\\programdata\\inventory"} <= folders
    assert violations(shipped_values(), identifiers, folders) == []
    # A rule anchored on the sample's script folder or account is caught.
    planted = shipped_values() + ["^c:\\\\scripts\\\\reports\\\\report\\.ps1$", "svc-reports"]
    assert {name for name, _ in violations(planted, identifiers, folders)} >= {"c:\\scripts", "svc-reports"}


def test_the_catalogue_is_reviewable_data():
    text = (CONFIG / "known_tasks.yaml").read_text(encoding="utf-8")
    entries = parse_known_tasks(text, "known_tasks.yaml")
    assert len(entries) >= 60
    raw = yaml.safe_load(text)["tasks"]
    windows = [e for e in raw if e["task"].startswith("\\Microsoft\\Windows\\")]
    assert len(windows) >= 40 and len(raw) - len(windows) >= 15  # Windows' own and vendors'
    for entry in raw:
        assert entry["reference"].strip() and entry["account"] in ("system", "service", "system_or_service",
                                                                    "user", "any")
        assert "sample_data" not in entry["reference"]
    keys = [(e.task, e.binaries, e.arguments_source) for e in entries]
    assert len(keys) == len(set(keys))


def test_catalogue_and_rule_patterns_read_the_same_in_re2():
    """KQL's ``matches regex`` is RE2: every pattern the kit renders into KQL must compile there."""
    duckdb = oracle("duckdb", "duckdb ships with the test extras")
    patterns = []
    for entry in load_known_tasks():
        patterns.append(entry.arguments_source)
        patterns += [binary_regex(b) for b in entry.binaries]
    for rule in parse_exclusions((CONFIG / "exclusions.yaml").read_text(encoding="utf-8")):
        patterns += [v for c in rule.conditions if c.operator == "regex" for v in c.values]
    con = duckdb.connect()
    for pattern in patterns:
        con.execute("SELECT regexp_matches('x', ?)", [pattern]).fetchall()  # raises on RE2 syntax errors


def test_on_real_windows_telemetry_ordinary_tasks_are_suppressed_and_visible():
    folder = require_shared(REAL_DATA / "otrf_sysmon")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        default = run_hunt(folder, HuntParams())
        published = run_hunt(folder, HuntParams.published())
    assert len(published.rare_tasks) == 10  # every one an ordinary Windows or vendor task
    assert len(default.rare_tasks) >= 10  # all of them still in the results
    assert len(default.findings) <= 1
    kinds = {str(s).split(":", 1)[0] for s in default.suppressed["SuppressedBy"]}
    assert kinds <= {"known"} | {r.id for r in parse_exclusions((CONFIG / "exclusions.yaml").read_text("utf-8"))}


def test_aggregated_reports_are_counted_and_reported_on_a_real_export():
    folder = require_shared(REAL_DATA / "sentinel_export")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = run_hunt(folder, HuntParams(), indicators=False)
    assert result.fleet.aggregated_reports >= 1
    assert result.parameters["aggregated_reports"] == result.fleet.aggregated_reports


def test_every_config_file_is_shipped_with_the_package():
    import tomllib

    data = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = data["tool"]["setuptools"]["package-data"]["hunting_lib"]
    assert "config/*.yaml" in patterns
    assert {p.name for p in CONFIG.glob("*.yaml")} >= {"known_tasks.yaml", "tripwires.yaml", "scope.yaml",
                                                      "paths.yaml", "scoring.yaml", "exclusions.yaml"}
    assert Path(CONFIG / "known_tasks.yaml").stat().st_size > 10_000


def test_every_shipped_catalogue_pattern_compiles():
    """The shipped catalogue compiles its patterns on first use; this compiles them all."""
    text = (CONFIG / "known_tasks.yaml").read_text(encoding="utf-8")
    assert len(parse_known_tasks(text, "known_tasks.yaml", validate=True)) == len(load_known_tasks())
