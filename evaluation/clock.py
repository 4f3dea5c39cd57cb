"""Putting every event of a host on one clock: the host's Sysmon ``UtcTime``.

Sysmon writes ``UtcTime`` inside each event; Windows Security events have only the record time the
event log gave them. In the public recordings these clocks disagree: NXLog wrote the collector's
*local* time, and on some lab hosts Sysmon's clock runs hours ahead of the event log's. Process
trees and activity only line up when everything uses one clock, and Defender's own ``Timestamp``
is the sensor's, so the Security events are moved onto the Sysmon clock:

- the offset is the median of ``UtcTime - record time`` over the 20 Sysmon events (not 3 or 22,
  see below) of the same input and device nearest in record time (the 10 before and the 10 after
  in record-time order), rounded to whole seconds;
- without such events, or in a short recording (fewer than 20 of them) whose events disagree
  (fewer than half within 10 minutes of their median: records edited or merged from elsewhere),
  the record time is used as it is (``TimeCreated`` or ``@timestamp``), and Sysmon 3/22 keep
  their ``UtcTime``.

Sysmon 3 (network) and 22 (DNS) take ``UtcTime`` from an ETW clock that can drift after a VM
snapshot is restored; where it is more than 10 minutes from the moved record time, the moved
record time is used instead (and counted, for the README).
"""

from __future__ import annotations

import numpy as np

from .fields import NAT

NEIGHBOURS = 20
DRIFT_LIMIT_NS = 10 * 60 * 1_000_000_000
SECOND_NS = 1_000_000_000


def _median_offsets(ref_times: np.ndarray, ref_utc: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Per query time, the median ``UtcTime - record time`` of the ``NEIGHBOURS`` reference events
    around it: in record-time order (ties by ``UtcTime``), the 10 before the query's place and the
    10 from it on (fewer at the ends of the recording)."""
    order = np.lexsort((ref_utc, ref_times))
    times = ref_times[order]
    offsets = (ref_utc[order] - ref_times[order]).astype("float64")
    half = NEIGHBOURS // 2
    places = np.searchsorted(times, queries, side="left")
    out = np.empty(len(queries), dtype="float64")
    for i, place in enumerate(places):
        window = offsets[max(0, place - half):place + half]
        median = np.median(window)
        # A short recording (fewer than 20 neighbours) whose events disagree has no usable clock:
        # fewer than half of them within 10 minutes of the median means records were edited or
        # merged from elsewhere (as in some small public sets).
        agree = np.count_nonzero(np.abs(window - median) <= DRIFT_LIMIT_NS)
        trusted = len(window) >= NEIGHBOURS or 2 * agree >= len(window)
        out[i] = median if trusted else np.nan
    return out


def whole_seconds(offsets: np.ndarray) -> np.ndarray:
    """Offsets rounded to whole seconds (halves away from zero)."""
    return (np.sign(offsets) * np.floor(np.abs(offsets) / SECOND_NS + 0.5)).astype("int64") * SECOND_NS


def moved_record_times(
    group: np.ndarray,
    is_reference: np.ndarray,
    record_ns: np.ndarray,
    utc_ns: np.ndarray,
    fallback_ns: np.ndarray,
    wanted: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The record time of each ``wanted`` event moved onto its host's Sysmon clock.

    ``group`` numbers the (input, device) pairs; ``is_reference`` marks the Sysmon events whose
    offset counts. Events of a group without reference events keep ``fallback_ns``. Returns one
    value per event (NaT's minimum where not wanted or not known), and where the value is the
    record time moved by an estimated offset (False where the fallback was used).
    """
    out = np.full(len(group), NAT, dtype="int64")
    estimated = np.zeros(len(group), dtype=bool)
    valid_ref = is_reference & (record_ns != NAT) & (utc_ns != NAT)
    for g in np.unique(group[wanted]):
        members = wanted & (group == g)
        refs = valid_ref & (group == g)
        if not refs.any():
            out[members] = fallback_ns[members]
            continue
        queries = members & (record_ns != NAT)
        offsets = _median_offsets(record_ns[refs], utc_ns[refs], record_ns[queries])
        known = ~np.isnan(offsets)
        rows = np.flatnonzero(queries)
        out[rows[known]] = record_ns[rows[known]] + whole_seconds(offsets[known])
        estimated[rows[known]] = True
        out[rows[~known]] = fallback_ns[rows[~known]]
        unknown = members & (record_ns == NAT)
        out[unknown] = fallback_ns[unknown]
    return out, estimated


def drifted(utc_ns: np.ndarray, moved_ns: np.ndarray, estimated: np.ndarray) -> np.ndarray:
    """Sysmon 3/22 events whose ``UtcTime`` is more than 10 minutes from the moved record time
    (or missing): their Timestamp is the moved record time. Only where the host's clock offset
    could be estimated: otherwise ``UtcTime`` stays (when it exists)."""
    known = (moved_ns != NAT) & (estimated | (utc_ns == NAT))
    far = np.abs(utc_ns.astype("float64") - moved_ns.astype("float64")) > DRIFT_LIMIT_NS
    return known & ((utc_ns == NAT) | far)
