"""The benchmark harness: median of alternating runs, output check, the recorded table ``make bench`` prints."""

from __future__ import annotations

import pytest

from benchmarks import harness
from benchmarks.summary import load, table


def test_a_comparison_is_recorded_and_tabled_with_its_verdict(tmp_path, monkeypatch):
    record = tmp_path / "bench.jsonl"
    monkeypatch.setenv(harness.RECORD_ENV, str(record))
    calls = []
    fast = harness.compare("fast side", lambda: calls.append("rk") or 1, lambda: calls.append("raw") or 1,
                           repeats=5, quiet=True, same=lambda a, b: a == b)
    harness.compare("too few runs", lambda: 1, lambda: 1, repeats=2, quiet=True)
    harness.compare("lossy lever", lambda: 1, lambda: 1, repeats=5, quiet=True, agreement="nDCG@10 +0.0010")
    assert calls[2:6] == ["rk", "raw", "raw", "rk"]  # the output check, then alternating order
    timings = load(record)
    assert [t.name for t in timings] == ["fast side", "too few runs", "lossy lever"] and timings[0].checked
    assert timings[0].ratio == pytest.approx(fast.ratio)
    assert not timings[1].checked and timings[2].checked and timings[2].agreement == "nDCG@10 +0.0010"
    text = table(timings)
    assert "| fast side |" in text and "| not judged |" in text and "| equal |" in text
    assert "| not compared |" in text and "| nDCG@10 +0.0010 |" in text
    extra = (harness.Timing("slow", 2.0, 1.0, 5, 1 / 1.5), harness.Timing("ref", 1, 1, 1, None))
    lines = [t.line() for t in (*timings, *extra)]
    assert "not judged: fewer than 5 runs" in lines[1] and "outputs nDCG@10 +0.0010" in lines[2]
    assert "ratio 2.000 (SLOWER than target 0.667;" in lines[3] and "(reference, no target;" in lines[4]


def test_different_outputs_fail_before_anything_is_timed(tmp_path, monkeypatch):
    monkeypatch.setenv(harness.RECORD_ENV, str(tmp_path / "bench.jsonl"))
    with pytest.raises(AssertionError, match="returned different outputs"):
        harness.compare("differs", lambda: 1, lambda: 2, repeats=5, quiet=True, same=lambda a, b: a == b)
    assert not (tmp_path / "bench.jsonl").exists()
