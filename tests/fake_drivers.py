"""msticpy drivers for tests: a real KQL engine (duckdb-kql) over a data folder, and faults.

``KqlEngineDriver`` executes whatever KQL the kit renders, so a "remote" hunt in tests runs the
same queries a workspace would, on the sample data. Options make it misbehave like a service:
cut results at a row limit, return partial results, throttle, time out, refuse to authenticate,
or drop a column.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from msticpy.data.drivers.driver_base import DriverBase

from tests.kql_reference import load_into_duckdb, run_kql


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
                 certificates: pd.DataFrame | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self._con = load_into_duckdb(data_dir, full_schema=True)
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
        if "invoke FileProfile" in query and self.file_profiles is not None:
            return self.file_profiles[[sha1 in query for sha1 in self.file_profiles["SHA1"]]].reset_index(drop=True)
        result = run_kql(self._con, query)
        if self.partial_over is not None and len(result) > self.partial_over:
            raise ServiceError("Partial results returned. This may indicate a query timeout.")
        if self.truncate_at is not None and len(result) > self.truncate_at:
            result = result.head(self.truncate_at)  # what a service does at its row limit
        if self.drop_column and self.drop_column in result.columns:
            result = result.drop(columns=self.drop_column)
        return result

    def query_with_results(self, query: str, **kwargs: Any):
        return self.query(query, **kwargs), None


def provider(data_dir, environment: str = "MSSentinel", **options: Any):
    """A connected, secured QueryProvider over ``data_dir`` with the fake driver."""
    from msticpy.data import QueryProvider

    from hunting_lib.remote.provider import QUERY_DIR, secure

    driver = KqlEngineDriver(data_dir, data_environment=environment, **options)
    query_provider = QueryProvider(environment, driver=driver, query_paths=[str(QUERY_DIR)])
    query_provider.connect()
    return secure(query_provider)
