"""The device network pivot (``pivot.device_network``): the same events from a local hunt's tables
and from a remote hunt's ``device_network`` query, which duckdb-kql runs over the same sample data
(tests/fake_drivers.py)."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from tests.conftest import SAMPLE_DATA, oracle

oracle("duckdb_kql", "duckdb-kql needs Python 3.11+")

from hunting_lib.hunt import run_hunt  # noqa: E402
from hunting_lib.params import HuntParams  # noqa: E402
from hunting_lib.pivots.pivot import NETWORK_COLUMNS, device_network, network_indicators  # noqa: E402
from hunting_lib.remote.kql import kql_string  # noqa: E402
from hunting_lib.remote.provider import RemoteSource  # noqa: E402
from tests.fake_drivers import provider  # noqa: E402

WINDOW = dict(start="2026-11-02T00:00:00Z", end="2026-11-10T00:00:00Z")


def quietly(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return function(*args, **kwargs)


@pytest.fixture(scope="module")
def hunts():
    params = HuntParams(**WINDOW)
    fake = quietly(provider, SAMPLE_DATA)
    return quietly(run_hunt, fake, params), quietly(run_hunt, SAMPLE_DATA, params), fake


@pytest.fixture(scope="module")
def device(hunts):
    """A device of a finding whose processes talked to the network."""
    remote, local, _ = hunts
    contacts = network_indicators(local)
    task_ids = {t for ids in contacts.loc[contacts["Source"].str.contains("activity"), "TaskIds"] for t in ids}
    finding = local.rare_tasks[local.rare_tasks["TaskId"].isin(task_ids)].iloc[0]
    return finding["Devices"][0]


def test_the_remote_pivot_returns_the_local_events(hunts, device):
    remote, local, fake = hunts
    sent = len(fake._query_provider.queries)
    got, expected = device_network(remote, device), device_network(local, device)
    assert len(expected) > 1 and (expected["DeviceName"] == device).all()
    # more than the task's own processes: the device's whole network activity in the window
    assert expected["InitiatingProcessFileName"].nunique() > 1
    assert list(got.columns) == NETWORK_COLUMNS and "RemoteIP" in NETWORK_COLUMNS
    assert_frame_equal(got, expected)
    assert expected["Timestamp"].is_monotonic_decreasing
    query = fake._query_provider.queries[sent]
    assert f"| where DeviceName == {kql_string(device)}" in query and "| project " in query


def test_a_narrower_window_and_a_device_without_events(hunts, device):
    remote, local, _ = hunts
    start, end = pd.Timestamp("2026-11-04T00:00:00Z"), pd.Timestamp("2026-11-06T12:00:00Z")
    got = device_network(remote, device, start=start, end=end)
    expected = device_network(local, device, start="2026-11-04T00:00:00Z", end="2026-11-06T12:00:00Z")
    assert_frame_equal(got, expected)
    assert got["Timestamp"].between(start, end).all() and len(got) < len(device_network(local, device))
    nobody = device_network(remote, 'pc-01" or 1==1 //')
    assert nobody.empty and list(nobody.columns) == NETWORK_COLUMNS
    assert_frame_equal(nobody, device_network(local, 'pc-01" or 1==1 //'), check_index_type=False)


def test_a_cut_pivot_result_is_split_and_merged(hunts, device):
    from dataclasses import replace

    remote, local, _ = hunts
    expected = device_network(local, device)
    faulty = quietly(provider, SAMPLE_DATA, truncate_at=5)
    # The hunt's result, pivoting through a service that cuts every result at 5 rows.
    cut = replace(remote, remote=RemoteSource(faulty, row_limit=5))
    assert len(expected) > 5
    assert_frame_equal(device_network(cut, device), expected)
    pivots = [q for q in faulty._query_provider.queries if "| where DeviceName ==" in q]
    assert len(pivots) > 2  # the pivot's own query was split


def test_a_result_without_data_cannot_pivot(hunts, device):
    from dataclasses import replace

    _, local, _ = hunts
    with pytest.raises(ValueError, match="no data to pivot on"):  # no tables, no file slices, no provider
        device_network(replace(local, data=None, slices=None, sources={}), device)


def test_indicator_prevalence_remote_equals_local(hunts):
    """The fleet prevalence of every indicator of the hunt comes from one remote query of distinct
    contacts, and equals the prevalence counted from the local tables."""
    remote, local, fake = hunts
    expected = network_indicators(local)
    assert (expected["FleetDevices"].fillna(0) > 0).any()  # the sample's indicators were contacted
    sent = len(fake._query_provider.queries)
    got = network_indicators(remote)
    contacts = [q for q in fake._query_provider.queries[sent:] if "| distinct DeviceName, InitiatingProcessFileName" in q]
    assert len(contacts) == 1
    key = ["Indicator", "Type"]
    merged = expected.merge(got, on=key, suffixes=("_local", "_remote"))
    assert len(merged) == len(expected) == len(got)
    assert merged["FleetDevices_local"].fillna(-1).tolist() == merged["FleetDevices_remote"].fillna(-1).tolist()
