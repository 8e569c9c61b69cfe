"""Helpers for side-by-side benchmarks: alternate runs, medians, ratios."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def alternate(runs: int, contenders: dict[str, Callable[[], float | None]]) -> dict[str, list[float]]:
    """Run each contender once per round, in turn, so drift hits all alike.
    A contender returns its own duration, or None to be timed from outside."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(runs):
        for name, fn in contenders.items():
            start = time.perf_counter()
            measured = fn()
            times[name].append(measured if measured is not None else time.perf_counter() - start)
    return times


def summarize(title: str, times: dict[str, list[float]], baseline: str, target: float) -> dict:
    medians = {name: statistics.median(values) for name, values in times.items()}
    summary = {
        "benchmark": title,
        "runs": {name: [round(v, 4) for v in values] for name, values in times.items()},
        "median_s": {name: round(m, 4) for name, m in medians.items()},
        "baseline": baseline,
        "ratios": {name: round(m / medians[baseline], 3) for name, m in medians.items() if name != baseline},
        "target_ratio": target,
    }
    print(f"\n## {title}")
    for name, m in medians.items():
        ratio = "" if name == baseline else f"  ratio {m / medians[baseline]:.2f} (target <= {target})"
        print(f"  {name:<28} median {m * 1000:8.1f} ms  (n={len(times[name])}){ratio}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{title.replace(' ', '_')}.json").write_text(json.dumps(summary, indent=1))
    return summary
