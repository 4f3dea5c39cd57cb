"""msticpy drivers for tests: a real KQL engine (duckdb-kql) over a data folder, and faults.

``KqlEngineDriver`` executes whatever KQL the kit renders, so a "remote" hunt in tests runs the
same queries a workspace would, on the sample data. Options make it misbehave like a service:
cut results at a row limit, return partial results, throttle, time out, refuse to authenticate,
or drop a column.

``KqlEngineDriver(frames=..., defender=DefenderLimits(clock))`` is a Defender advanced-hunting
tenant in miniature: it returns at most ``row_limit`` rows (the first ones, the way the API cuts),
answers 429 with Retry-After when more calls arrive in a minute or an hour than the tenant allows
(counted on a fake clock, so no test waits), answers 429 "quota exceeded" once a CPU quota is
spent, and may lack a table. ``synthetic_fleet`` builds a compact fleet of many devices for it.
"""

from __future__ import annotations

import math
import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from msticpy.data.drivers.driver_base import DriverBase

from hunting_lib.schema import TABLES, table_columns
from hunting_lib.training.kql_sandbox import add_frame
from tests.kql_reference import _DUCKDB_TYPES, load_into_duckdb, run_kql


def connect_lean(frames: dict[str, pd.DataFrame]):
    """``kql_reference.connect_frames``'s tables, the schema columns a frame lacks added inside
    DuckDB ("" for strings, null otherwise, as ``union`` fills them) instead of in pandas: a
    50k-device fleet loads in seconds."""
    import duckdb_kql

    con = duckdb_kql.connect()
    for table in TABLES:
        frame = frames.get(table)
        if frame is None:  # a table the workspace has, empty
            columns = ", ".join(f'"{c}" {_DUCKDB_TYPES[t]}' for c, t in table_columns(table).items())
            con.execute(f'CREATE TABLE "{table}" ({columns})')
            continue
        frame = frame.copy(deep=False)
        add_frame(con, table, frame)
        for column, kind in table_columns(table).items():
            if column not in frame.columns:
                sql_type = _DUCKDB_TYPES[kind]
                default = " DEFAULT ''" if sql_type == "VARCHAR" else ""
                con.execute(f'ALTER TABLE "{table}" ADD COLUMN "{column}" {sql_type}{default}')
    return con


class FakeClock:
    """Seconds on a clock that only moves when someone sleeps: ``RemoteSource(clock=c, sleep=c.sleep)``."""

    def __init__(self, start: float = 0.0):
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0, seconds
        self.slept.append(seconds)
        self.now += seconds


@dataclass
class DefenderLimits:
    """The advanced hunting API's per-tenant limits (Microsoft Learn, "Advanced hunting API"):
    45 calls a minute, 1,500 an hour, 100,000 rows a result; ``cpu_quota_calls``: calls after
    which the tenant's CPU quota is spent until the next 15-minute cycle (None: never)."""

    clock: FakeClock
    calls_per_minute: int = 45
    calls_per_hour: int = 1500
    row_limit: int = 100_000
    cpu_quota_calls: int | None = None
    accepted: deque = field(default_factory=deque)
    refused: int = 0

    def admit(self) -> None:
        """Count one call at the clock's time, or refuse it as the service does (429)."""
        now = self.clock()
        while self.accepted and now - self.accepted[0] >= 3600:
            self.accepted.popleft()
        if self.cpu_quota_calls is not None and len(self.accepted) >= self.cpu_quota_calls:
            self.refused += 1
            raise ServiceError("429: Tenant's CPU quota exceeded; queries are blocked until the next cycle",
                               status_code=429, headers={"Retry-After": "900"})
        last_minute = [t for t in self.accepted if now - t < 60]
        for count, limit, oldest, span in ((len(last_minute), self.calls_per_minute, last_minute[:1], 60),
                                           (len(self.accepted), self.calls_per_hour, list(self.accepted)[:1], 3600)):
            if count >= limit:
                self.refused += 1
                wait = max(math.ceil(oldest[0] + span - now), 1)
                raise ServiceError("429 Too Many Requests: rate limit exceeded", status_code=429,
                                   headers={"Retry-After": str(wait)})
        self.accepted.append(now)


_HEX = '"0123456789abcdef"'


def _hash_stand_in(match: re.Match) -> str:
    """duckdb-kql has no ``hash()``: the first three hex digits of the MD5, modulo N, stand in.
    Like Kusto's, ``hash(x, 2N)`` modulo N equals ``hash(x, N)`` for N dividing 4096."""
    column, parts = match.group(1), match.group(2)
    digits = " + ".join(f"indexof({_HEX}, substring(hash_md5({column}), {i}, 1)) * {16 ** (2 - i)}" for i in range(3))
    return f"(({digits}) % {parts})"


class ServiceError(Exception):
    """An error as a service driver would raise it, with an HTTP status and headers."""

    def __init__(self, message: str, status_code: int | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status_code = status_code
        self.headers = headers or {}


class KqlEngineDriver(DriverBase):
    """Runs each query in duckdb-kql over a data folder, and can fail like a real service."""

    def __init__(self, data_dir, truncate_at: int | None = None, partial_over: int | None = None,
                 throttle_times: int = 0, timeout_times: int = 0, auth_fails: bool = False,
                 drop_column: str | None = None, file_profiles: pd.DataFrame | None = None,
                 certificates: pd.DataFrame | None = None, frames: dict[str, pd.DataFrame] | None = None,
                 defender: DefenderLimits | None = None, drop_table: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self._con = connect_lean(frames) if frames is not None else load_into_duckdb(data_dir, full_schema=True)
        self.defender = defender
        if drop_table is not None:  # a workspace that does not collect this table
            self._con.execute(f'DROP TABLE "{drop_table}"')
        self.rows_returned = 0
        self.truncate_at = truncate_at
        self.partial_over = partial_over
        self.throttle_times = throttle_times
        self.timeout_times = timeout_times
        self.auth_fails = auth_fails
        self.drop_column = drop_column
        # Defender's FileProfile() is a service function no local engine has: a canned answer
        # stands in for it. DeviceFileCertificateInfo is an ordinary table.
        self.file_profiles = file_profiles
        if certificates is not None:
            self._con.register("_certificates", certificates)
            self._con.execute('CREATE TABLE "DeviceFileCertificateInfo" AS SELECT * FROM _certificates')
        self.queries: list[str] = []
        self._loaded = True

    def connect(self, connection_str: str | None = None, **kwargs: Any) -> None:
        if self.auth_fails:
            raise ServiceError("AADSTS7000215: Invalid client secret provided.", status_code=401)
        self._connected = True

    def query(self, query: str, query_source=None, **kwargs: Any) -> pd.DataFrame:
        self.queries.append(query)
        if self.auth_fails:
            raise ServiceError("Unauthorized: the token expired", status_code=401)
        if self.throttle_times:
            self.throttle_times -= 1
            raise ServiceError("429 Too Many Requests", status_code=429, headers={"Retry-After": "7"})
        if self.timeout_times:
            self.timeout_times -= 1
            raise TimeoutError("The read operation timed out")
        if self.defender is not None:
            self.defender.admit()
        query = re.sub(r"\bhash\((\w+), (\d+)\)", _hash_stand_in, query)
        if "invoke FileProfile" in query and self.file_profiles is not None:
            return self.file_profiles[[sha1 in query for sha1 in self.file_profiles["SHA1"]]].reset_index(drop=True)
        result = run_kql(self._con, query)
        if self.partial_over is not None and len(result) > self.partial_over:
            raise ServiceError("Partial results returned. This may indicate a query timeout.")
        if self.truncate_at is not None and len(result) > self.truncate_at:
            result = result.head(self.truncate_at)  # what a service does at its row limit
        if self.defender is not None and len(result) > self.defender.row_limit:
            result = result.head(self.defender.row_limit)  # "The results include a maximum of 100,000 rows"
        if self.drop_column and self.drop_column in result.columns:
            result = result.drop(columns=self.drop_column)
        self.rows_returned += len(result)
        return result

    def query_with_results(self, query: str, **kwargs: Any):
        return self.query(query, **kwargs), None


def provider(data_dir, environment: str = "MSSentinel", **options: Any):
    """A connected, secured QueryProvider over ``data_dir`` (or ``frames=``) with the fake driver."""
    from msticpy.data import QueryProvider

    from hunting_lib.remote.provider import QUERY_DIR, secure

    driver = KqlEngineDriver(data_dir, data_environment=environment, **options)
    query_provider = QueryProvider(environment, driver=driver, query_paths=[str(QUERY_DIR)])
    query_provider.connect()
    return secure(query_provider)


SCHEDULE = "svchost.exe -k netsvcs -p -s Schedule"
FLEET_START = pd.Timestamp("2026-11-02T00:00:00Z")
#: Tasks every device runs daily (common, never rare).
COMMON_TASKS = [("agentupdate.exe", r"C:\Program Files\Contoso Agent\agentupdate.exe", '"agentupdate.exe" /daily'),
                ("inventory.exe", r"C:\Program Files\Fabrikam\inventory.exe", "inventory.exe --collect"),
                ("cleanup.exe", r"C:\Program Files (x86)\Tailspin\cleanup.exe", "cleanup.exe -q")]
#: Planted rare tasks: (device index, file, folder, command line, launches on that device).
RARE_TASKS = [(7, "evil.exe", r"C:\Users\Public\evil.exe", "evil.exe -beacon", 2),
              (11, "sync.exe", r"C:\ProgramData\tool\sync.exe", "sync.exe /push", 1),
              (20, "collect.exe", r"C:\ProgramData\c\collect.exe", 'collect.exe "a\\" | take 1 //', 1),
              (21, "collect.exe", r"C:\ProgramData\c\collect.exe", 'collect.exe "a\\" | take 1 //', 1)]
#: The rare sync.exe also runs here, started by a user (not as a task): the seed's step 5 still
#: matches its events, so narrowing the activity query by device must not lose them.
SYNC_ELSEWHERE = 13


def synthetic_fleet(devices: int, days: int = 7, per_device_tasks: int = 2, seed: int = 1) -> dict[str, pd.DataFrame]:
    """A compact fleet: every device runs the common tasks and ``per_device_tasks`` tasks of its
    own (a per-user updater: one group per device, never rare) every day, plus the planted rare
    tasks with network and file activity. Built column by column (no row loops)."""
    rng = np.random.default_rng(seed)
    names = np.array([f"pc-{i:06d}.corp.example" for i in range(devices)], dtype=object)
    ids = np.array([f"{i:040x}" for i in range(devices)], dtype=object)
    day = np.arange(days)
    # per device and day: the common tasks, then the device's own ones
    program = np.arange(len(COMMON_TASKS) + per_device_tasks)
    dev, d, prog = (a.ravel() for a in np.meshgrid(np.arange(devices), day, program, indexing="ij"))
    n = len(dev)
    user = np.char.add("u", dev.astype(str)).astype(object)
    own = prog >= len(COMMON_TASKS)
    common = np.array(COMMON_TASKS, dtype=object)
    file_name = np.where(own, "OneDriveStandaloneUpdater.exe", common[np.minimum(prog, len(COMMON_TASKS) - 1), 0])
    own_folder = (r"C:\Users" + "\\" + user + r"\AppData\Local\Microsoft\OneDrive" + "\\"
                  + (prog - len(COMMON_TASKS)).astype(str).astype(object) + r"\OneDriveStandaloneUpdater.exe")
    folder = np.where(own, own_folder, common[np.minimum(prog, len(COMMON_TASKS) - 1), 1])
    command = np.where(own, "OneDriveStandaloneUpdater.exe /reporting", common[np.minimum(prog, len(COMMON_TASKS) - 1), 2])
    seconds = rng.integers(0, 86_400, n)
    stamps = FLEET_START + pd.to_timedelta(d * 86_400 + seconds, unit="s")
    launches = pd.DataFrame({
        "Timestamp": stamps, "DeviceId": ids[dev], "DeviceName": names[dev], "ActionType": "ProcessCreated",
        "AccountName": "system", "FileName": file_name, "FolderPath": folder, "ProcessCommandLine": command,
        "ProcessId": rng.integers(1_000, 60_000, n), "ProcessCreationTime": stamps, "SHA1": "",
        "InitiatingProcessFileName": "svchost.exe", "InitiatingProcessCommandLine": SCHEDULE,
        "InitiatingProcessFolderPath": r"c:\windows\system32\svchost.exe", "InitiatingProcessId": 1_400,
        "InitiatingProcessCreationTime": FLEET_START - pd.Timedelta(days=1),
    })
    rare, network, files = [], [], []
    for index, (device, name, folder_path, line, runs) in enumerate(RARE_TASKS):
        for run in range(runs):
            at = FLEET_START + pd.Timedelta(days=1 + run, hours=3 + index)
            pid = 50_000 + index * 10 + run
            rare.append({"Timestamp": at, "DeviceId": ids[device], "DeviceName": names[device],
                         "ActionType": "ProcessCreated", "AccountName": "system", "FileName": name,
                         "FolderPath": folder_path, "ProcessCommandLine": line, "ProcessId": pid,
                         "ProcessCreationTime": at, "SHA1": "", "InitiatingProcessFileName": "svchost.exe",
                         "InitiatingProcessCommandLine": SCHEDULE,
                         "InitiatingProcessFolderPath": r"c:\windows\system32\svchost.exe",
                         "InitiatingProcessId": 1_400, "InitiatingProcessCreationTime": FLEET_START - pd.Timedelta(days=1)})
            acting = {"DeviceId": ids[device], "DeviceName": names[device], "InitiatingProcessFileName": name,
                      "InitiatingProcessFolderPath": folder_path, "InitiatingProcessCommandLine": line,
                      "InitiatingProcessId": pid, "InitiatingProcessCreationTime": at}
            network.append({"Timestamp": at + pd.Timedelta(seconds=5), "ActionType": "ConnectionSuccess",
                            "RemoteIP": f"198.51.100.{index + 1}", "RemotePort": 443, **acting})
            files.append({"Timestamp": at + pd.Timedelta(seconds=9), "ActionType": "FileCreated",
                          "FileName": f"drop{index}.dat", "FolderPath": r"C:\Users\Public\drop.dat", **acting})
    # sync.exe on another device, not started by the Task Scheduler
    _, name, folder_path, line, _ = RARE_TASKS[1]
    at = FLEET_START + pd.Timedelta(days=4, hours=9)
    network.append({"Timestamp": at, "ActionType": "ConnectionSuccess", "RemoteIP": "203.0.113.9", "RemotePort": 8443,
                    "DeviceId": ids[SYNC_ELSEWHERE], "DeviceName": names[SYNC_ELSEWHERE],
                    "InitiatingProcessFileName": name, "InitiatingProcessFolderPath": folder_path,
                    "InitiatingProcessCommandLine": line, "InitiatingProcessId": 777, "InitiatingProcessCreationTime": at})
    processes = pd.concat([launches, pd.DataFrame(rare)], ignore_index=True)
    frames = {"DeviceProcessEvents": processes, "DeviceNetworkEvents": pd.DataFrame(network),
              "DeviceFileEvents": pd.DataFrame(files)}
    start = 0
    for table, frame in frames.items():
        frame["ReportId"] = np.arange(start, start + len(frame), dtype="int64")
        start += len(frame)
    return frames
