"""The pure pieces of the live benchmarks (bench/_harness.py, _procs.py, concurrency.py)."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.events import AudioFrame
from bench._harness import _to_monotonic, first_voiced_after
from bench._procs import cpu_seconds, own_cpu_seconds
from bench._procs import percentile as pct
from bench.concurrency import busiest

SILENT = bytes(320)
VOICED = (np.full(160, 8000, dtype="<i2")).tobytes()


@pytest.mark.parametrize(("values", "q", "want"), [
    ([], 0.5, None),
    ([7.0], 0.95, 7.0),
    ([1.0, 2.0, 3.0, 4.0], 0.5, 2.5),
    ([10.0, 0.0, 20.0], 0.5, 10.0),
    (list(map(float, range(101))), 0.95, 95.0),
])
def test_percentile_table(values: list[float], q: float, want: float | None) -> None:
    assert pct(values, q) == want


@given(st.lists(st.floats(0, 1e5), min_size=1, max_size=50), st.sampled_from([0.5, 0.95]))
def test_percentile_matches_numpy(values: list[float], q: float) -> None:
    result = pct(values, q)
    assert result is not None
    assert result == pytest.approx(float(np.percentile(values, q * 100)), abs=0.051)


def _frames(pattern: str, t0: float = 100.0) -> list[AudioFrame]:
    return [AudioFrame(VOICED if c == "v" else SILENT, 8000, t0 + i * 0.02)
            for i, c in enumerate(pattern)]


@pytest.mark.parametrize(("pattern", "after", "want"), [
    ("..vv..vv", 0.0, 100.04),  # the first voiced frame at all
    ("..vv..vv", 100.06, 100.12),  # the next segment, not the one before t
    ("..vv..vv", 100.04, 100.06),  # strictly after t
    ("..vv....", 100.06, None),  # nothing voiced after t
    ("", 0.0, None),
])
def test_first_voiced_after(pattern: str, after: float, want: float | None) -> None:
    got = first_voiced_after(_frames(pattern), after)
    assert got == (pytest.approx(want) if want is not None else None)


def test_ari_timestamp_moves_onto_the_monotonic_clock() -> None:
    now = time.monotonic()
    wall = time.time() - 0.25
    ms = f".{int(wall % 1 * 1000):03d}+0000"
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(wall)) + ms
    assert _to_monotonic(stamp, now) == pytest.approx(now - 0.25, abs=0.01)
    assert _to_monotonic("not a time", now) == now


def test_cpu_seconds_reads_this_process() -> None:
    end = time.process_time() + 0.2
    while time.process_time() < end:  # burn some CPU so the figures are not both zero
        pass
    mine = cpu_seconds(os.getpid())
    assert mine >= 0.2
    assert mine == pytest.approx(own_cpu_seconds(), abs=0.05)


def test_busiest_window_is_the_one_with_most_cpu() -> None:
    # one sample a second; the harness is busy from 10 s to 20 s only
    samples = [(float(t), {"agent": 0.1 * t, "harness": 0.8 * max(0, min(t, 20) - 10)})
               for t in range(31)]
    assert busiest(samples, window_s=10) == {"agent": 0.1, "harness": 0.8}
    assert busiest(samples[:5], window_s=10) == {}
