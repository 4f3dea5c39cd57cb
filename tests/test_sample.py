"""The sample data generator: reproducible, realistic, and its answer key is true.

The answer key (scenarios.yaml) is checked two ways: against the rows themselves (every listed
row exists and belongs to the scenario's process tree, and no unlisted row does), and against the
published KQL run unmodified on duckdb_kql, an engine independent of the kit.
"""

from __future__ import annotations

import base64
import ipaddress
import re
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from hunting_lib.sample.generator import WINDOW_END, WINDOW_START, generate_sample
from hunting_lib.schema import PROCESS_TABLE, TABLES, required_columns
from tests.conftest import REPO, SCHEDULE, oracle
from tests.conftest import SAMPLE_DATA as SAMPLE

SEED_QUERY = yaml.safe_load((REPO / "hunting_lib/queries/rare_sch_task_with_activity.yaml").read_text())["query"]
SMALL = 0.05  # enough for the planted scenarios, fast to generate
GENERATED = [f"{t}.csv.gz" for t in TABLES] + ["scenarios.yaml"]


def _bytes(folder: Path, names: list[str]) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in names}


def _key(folder: Path) -> dict:
    return yaml.safe_load((folder / "scenarios.yaml").read_text(encoding="utf-8"))


def _group(s: dict) -> tuple[str, str, str]:
    return s["FileName"], s["ProcessCommandLine"], s["FolderPath"]


def _processes(frame: pd.DataFrame) -> set[tuple[str, str, str]]:
    """The processes a DeviceProcessEvents frame creates: (device, pid, creation time)."""
    return set(zip(frame.DeviceName, frame.ProcessId, frame.ProcessCreationTime))


def _made_by(frame: pd.DataFrame, processes: set[tuple[str, str, str]]) -> pd.Series:
    """Which rows were made by one of ``processes`` (their Initiating* identity)."""
    actor = pd.MultiIndex.from_arrays(
        [frame.DeviceName, frame.InitiatingProcessId, frame.InitiatingProcessCreationTime])
    return pd.Series(actor.isin(list(processes)), index=frame.index)


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("small")
    generate_sample(folder, scale=SMALL)
    return folder


@pytest.fixture(scope="module")
def small_parquet(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("small_parquet")
    generate_sample(folder, scale=SMALL, fmt="parquet")
    return folder


@pytest.fixture(scope="module")
def key() -> dict:
    return _key(SAMPLE)


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    """The committed sample as text, the way an analyst's CSV reader sees it."""
    return {t: pd.read_csv(SAMPLE / f"{t}.csv.gz", dtype=str, keep_default_na=False) for t in TABLES}


@pytest.fixture(scope="module")
def kql():
    """The reference KQL engine; its tests are skipped where duckdb-kql is not installed."""
    return oracle("tests.kql_reference", "duckdb-kql needs Python 3.11+")


@pytest.fixture(scope="module")
def con(kql):
    return kql.load_into_duckdb(SAMPLE)


# ---- reproducibility ----------------------------------------------------------------------------


def test_same_seed_gives_identical_bytes(small, tmp_path):
    counts = generate_sample(tmp_path, scale=SMALL)
    assert _bytes(tmp_path, GENERATED) == _bytes(small, GENERATED)
    assert counts == _key(small)["rows"]


def test_parquet_is_reproducible_too(small_parquet, tmp_path):
    generate_sample(tmp_path, scale=SMALL, fmt="parquet")
    names = [f"{t}.parquet" for t in TABLES] + ["scenarios.yaml"]
    assert _bytes(tmp_path, names) == _bytes(small_parquet, names)


def test_another_seed_plants_the_same_scenarios_elsewhere(small, tmp_path):
    generate_sample(tmp_path, scale=SMALL, seed=8)
    ours, theirs = _bytes(small, GENERATED), _bytes(tmp_path, GENERATED)
    assert all(ours[name] != theirs[name] for name in GENERATED)
    a, b = _key(small)["scenarios"], _key(tmp_path)["scenarios"]
    def verdicts(scenarios):
        return [(s["id"], s["kind"], s["seed_reports_it"]) for s in scenarios]

    def placement(s):
        return s.get("device", s.get("devices")), s["ProcessCommandLine"]

    assert verdicts(a) == verdicts(b)
    changed = [x["id"] for x, y in zip(a, b) if placement(x) != placement(y)]
    assert len(changed) >= 5, "the seed should move scenarios to other devices or vary their command lines"


def test_committed_sample_is_a_fresh_default_generation(tmp_path, key):
    counts = generate_sample(tmp_path)
    assert _bytes(tmp_path, GENERATED) == _bytes(SAMPLE, GENERATED)
    assert counts == key["rows"] and key["seed"] == 7


def test_committed_sample_is_small():
    assert sum(p.stat().st_size for p in SAMPLE.iterdir()) <= 10 * 2**20


# ---- shape and realism --------------------------------------------------------------------------


def _registration_ids(key: dict) -> set[int]:
    return {i for s in key["scenarios"] if s.get("registration")
            for ids in s["registration"]["report_ids"].values() for i in ids}


def test_fleet_window_and_columns(tables, key):
    devices = set().union(*(set(f.DeviceName) for f in tables.values()))
    assert len(devices) >= 30 and key["devices"] == len(devices)
    stamp = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$")
    times, registrations = [], _registration_ids(key)
    for table, frame in tables.items():
        assert len(frame) > 0, table
        assert set(required_columns(table)) <= set(frame.columns), table
        assert frame.Timestamp.str.match(stamp).all(), table
        created = frame.InitiatingProcessCreationTime
        assert created[created != ""].str.match(stamp).all(), table
        stamps = pd.to_datetime(frame.Timestamp, format="ISO8601")
        # Tasks installed by policy or an installer were registered before the window (after the boot).
        early = stamps < pd.Timestamp(WINDOW_START)
        assert set(frame.ReportId[early].astype(int)) <= registrations, table
        assert (stamps[early] > pd.Timestamp(WINDOW_START) - pd.Timedelta(days=10)).all(), table
        times.append(stamps[~early])
    times = pd.concat(times)
    assert times.min() >= pd.Timestamp(WINDOW_START) and times.max() < pd.Timestamp(WINDOW_END)
    assert times.max() - times.min() >= pd.Timedelta(days=7)
    report_ids = pd.concat([f.ReportId.astype(int) for f in tables.values()])
    assert report_ids.is_unique


def test_realistic_proportions(tables):
    sizes = {t: len(f) for t, f in tables.items()}
    assert sorted(sizes, key=sizes.get)[-2:] in (["DeviceProcessEvents", "DeviceNetworkEvents"],
                                                  ["DeviceNetworkEvents", "DeviceProcessEvents"])
    proc = tables[PROCESS_TABLE]
    children = proc[(proc.InitiatingProcessFileName == "svchost.exe") & (proc.InitiatingProcessCommandLine == SCHEDULE)]
    assert 0.01 <= len(children) / len(proc) <= 0.10
    assert children.DeviceName.nunique() >= 30
    # Everyday tasks are common: the bulk of Task Scheduler children belong to groups seen 3+ times.
    counts = children.groupby(["FileName", "ProcessCommandLine", "FolderPath"]).size()
    assert counts[counts >= 3].sum() / counts.sum() > 0.9
    # Task Scheduler children act in every table, but most activity has nothing to do with them
    # or with the scheduler itself.
    tasks = _processes(children)
    for table, frame in tables.items():
        assert _made_by(frame, tasks).any(), table
        scheduler = (frame.InitiatingProcessCommandLine == SCHEDULE) | _made_by(frame, tasks)
        assert scheduler.mean() < 0.2, table


def test_parquet_types_and_content_match_csv(small, small_parquet):
    schema = pq.read_schema(small_parquet / f"{PROCESS_TABLE}.parquet")
    assert str(schema.field("Timestamp").type) == "timestamp[ns, tz=UTC]"
    assert str(schema.field("ProcessCreationTime").type) == "timestamp[ns, tz=UTC]"
    for col in ("ReportId", "ProcessId", "InitiatingProcessId", "InitiatingProcessParentId"):
        assert str(schema.field(col).type) == "int64", col
    assert str(schema.field("ProcessCommandLine").type) == "string"
    logons = pq.read_table(small_parquet / "DeviceLogonEvents.parquet")
    assert logons.column("RemotePort").null_count > 0  # nullable ints stay null, not 0
    parquet = pd.read_parquet(small_parquet / f"{PROCESS_TABLE}.parquet")
    csv = pd.read_csv(small / f"{PROCESS_TABLE}.csv.gz", dtype=str, keep_default_na=False)
    assert list(parquet.columns) == list(csv.columns)
    assert (parquet.ReportId.astype(str) == csv.ReportId).all()
    assert (parquet.ProcessCommandLine == csv.ProcessCommandLine).all()
    assert (parquet.Timestamp == pd.to_datetime(csv.Timestamp, format="ISO8601")).all()


# ---- the answer key -----------------------------------------------------------------------------


def test_catalogue_has_the_required_scenarios(key):
    by_id = {s["id"]: s for s in key["scenarios"]}
    assert sum(s["kind"] == "malicious" for s in key["scenarios"]) >= 5
    assert {s.get("seed_false_positive") for s in key["scenarios"] if s["kind"] == "false_positive"} >= {1, 2, 3, 4, 5}
    assert {s["kind"] for s in key["scenarios"]} == {"malicious", "false_positive", "edge_case", "malicious_never_ran"}

    encoded = by_id["mal-encoded-powershell"]["ProcessCommandLine"].split("-enc ")[1]
    script = base64.b64decode(encoded).decode("utf-16-le")
    url = re.fullmatch(r"IEX \(New-Object Net\.WebClient\)\.DownloadString\('http://([\d.]+)/a'\)", script)
    assert url and ipaddress.ip_address(url.group(1)).is_global
    assert re.search(r"rundll32\.exe C:\\Users\\(Public|[^\\]+\\AppData)\\",
                     by_id["mal-rundll32-user-dll"]["ProcessCommandLine"])
    assert re.fullmatch(r"regsvr32\.exe /s /n /u /i:http://\S+\.sct scrobj\.dll",
                        by_id["mal-regsvr32-scriptlet"]["ProcessCommandLine"])
    assert "\\AppData\\" in by_id["mal-masquerade-appdata"]["FolderPath"]
    assert re.fullmatch(r"cmd\.exe /C whoami /all > C:\\Windows\\Temp\\[A-Za-z]{8}\.tmp 2>&1",
                        by_id["mal-atexec-whoami"]["ProcessCommandLine"])
    beacon = by_id["mal-hourly-beacon"]
    assert "device" in beacon and beacon["runs"] >= 24 and not beacon["seed_reports_it"]


def test_answer_key_rows_are_exactly_the_scenario_trees(tables, key):
    by_id = {t: f.set_index(f.ReportId.astype(int)) for t, f in tables.items()}
    claimed: set[int] = set()
    for s in key["scenarios"]:
        ids = s["report_ids"]
        proc = by_id[PROCESS_TABLE].loc[ids.get(PROCESS_TABLE, [])]
        starts = proc[(proc.FileName == s["FileName"]) & (proc.ProcessCommandLine == s["ProcessCommandLine"])
                      & (proc.FolderPath == s["FolderPath"]) & (proc.InitiatingProcessCommandLine == s["launched_by"])]
        assert len(starts) == s["runs"], s["id"]
        tree, tasks = _processes(proc), _processes(starts)
        for table, table_ids in ids.items():
            rows = by_id[table].loc[table_ids]
            if table == PROCESS_TABLE:
                rows = rows.drop(starts.index)  # the task starts are made by the scheduler
            assert _made_by(rows, tree).all(), (s["id"], table)
            # Rows made by the task process itself carry its name, command line and path.
            own = rows[_made_by(rows, tasks)]
            assert (own.InitiatingProcessFileName == s["FileName"]).all(), s["id"]
            assert (own.InitiatingProcessCommandLine == s["ProcessCommandLine"]).all(), s["id"]
            assert (own.InitiatingProcessFolderPath == s["FolderPath"]).all(), s["id"]
        listed = {t for t, table_ids in ids.items() if len(table_ids) > (s["runs"] if t == PROCESS_TABLE else 0)}
        assert set(s["activity_tables"]) == listed, s["id"]
        # Completeness: no unlisted row was made by a process of the tree.
        for table, frame in tables.items():
            made = frame[_made_by(frame, tree)]
            assert set(made.ReportId.astype(int)) <= set(ids.get(table, [])), (s["id"], table)
        own_ids = {i for v in ids.values() for i in v}
        related = {i for v in s.get("related_report_ids", {}).values() for i in v}
        assert not own_ids & claimed and not own_ids & related, s["id"]
        claimed |= own_ids
    no_activity = next(s for s in key["scenarios"] if s["id"] == "edge-rare-no-activity")
    assert no_activity["activity_tables"] == []


def test_seed_query_rare_groups_match_the_answer_key(kql, con, key):
    rare = kql.run_kql(con, kql.rare_groups_query(SEED_QUERY))
    assert (rare.count_ < 3).all()
    groups = set(zip(rare.FileName, rare.ProcessCommandLine, rare.FolderPath))
    for s in key["scenarios"]:
        assert (_group(s) in groups) == s["seed_reports_it"], s["id"]
    # Background noise never becomes rare: every rare group is a planted one.
    assert groups == {_group(s) for s in key["scenarios"] if s["seed_reports_it"]}


def test_seed_query_output_matches_the_answer_key(kql, con, key, tables):
    out = kql.run_kql(con, SEED_QUERY)
    found = set(zip(out.DeviceName, out.InitiatingProcessId.astype(int)))
    proc = tables[PROCESS_TABLE].set_index(tables[PROCESS_TABLE].ReportId.astype(int))
    expected, starts_of = set(), {}
    for s in key["scenarios"]:
        rows = proc.loc[s["report_ids"].get(PROCESS_TABLE, [])]
        starts = rows[(rows.ProcessCommandLine == s["ProcessCommandLine"])
                      & (rows.InitiatingProcessCommandLine == s["launched_by"])]
        starts_of[s["id"]] = set(zip(starts.DeviceName, starts.ProcessId.astype(int)))
        if not s["seed_reports_it"]:
            continue
        for device, pid in starts_of[s["id"]]:  # a rare task shows up only if it did something
            acted = any(((f.DeviceName == device) & (f.InitiatingProcessId == str(pid))
                         & f.ReportId.astype(int).isin(s["report_ids"].get(t, []))).any() for t, f in tables.items())
            if acted:
                expected.add((device, pid))
    assert found == expected
    assert starts_of["edge-same-cmdline-manual-run"] <= found  # pulled in by its command line alone
    assert not starts_of["edge-rare-no-activity"] & found
    assert not starts_of["mal-hourly-beacon"] & found


def test_parquet_data_gives_the_same_seed_verdicts(kql, small_parquet):
    rare = kql.run_kql(kql.load_into_duckdb(small_parquet), kql.rare_groups_query(SEED_QUERY))
    groups = set(zip(rare.FileName, rare.ProcessCommandLine, rare.FolderPath))
    assert groups == {_group(s) for s in _key(small_parquet)["scenarios"] if s["seed_reports_it"]}
