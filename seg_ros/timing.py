"""Stage timings (preprocess / network / postprocess / render, and any other named stage): measured, kept, summarised.

The segmenter records its three stages; the node adds ``render``, ``render cpu`` and ``grid``, the offline tools
``read``, ``render`` and ``write``. Summaries list ``STAGES`` in pipeline order, then the others by name.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

STAGES = ("preprocess", "network", "postprocess", "render")


class StageTimer:
    """Keeps the last ``window`` durations (ms) of each named stage; safe to share between threads."""

    def __init__(self, window: int = 1000) -> None:
        self._samples: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=window))
        self._lock = threading.Lock()
        self.last: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the ``with`` block as one sample of stage ``name`` (recorded even when the block raises)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, (time.perf_counter() - start) * 1000.0)

    def add(self, name: str, ms: float) -> None:
        """Record one duration of ``ms`` milliseconds for stage ``name``."""
        with self._lock:
            self._samples[name].append(ms)
            self.last[name] = ms

    def stages(self) -> list[str]:
        """Names of the stages seen so far: ``STAGES`` in pipeline order, then the others sorted."""
        with self._lock:
            names = list(self._samples)
        return [s for s in STAGES if s in names] + sorted(s for s in names if s not in STAGES)

    def summary(self) -> dict[str, dict[str, float]]:
        """Per stage: count, mean, median, p99 and max in milliseconds."""
        with self._lock:
            samples = {name: list(values) for name, values in self._samples.items()}
        out = {}
        for name in self.stages():
            values = np.asarray(samples[name], dtype=np.float64)
            out[name] = {"count": float(values.size), "mean": float(values.mean()),
                         "median": float(np.median(values)), "p99": float(np.percentile(values, 99)),
                         "max": float(values.max())}
        return out

    def format_table(self, title: str = "stage timings (ms)") -> str:
        """The summary as a text table (mean, median, p99, count per stage) under ``title``."""
        rows = [f"{title}:", f"  {'stage':<12} {'mean':>8} {'median':>8} {'p99':>8} {'count':>6}"]
        for name, s in self.summary().items():
            rows.append(f"  {name:<12} {s['mean']:8.2f} {s['median']:8.2f} {s['p99']:8.2f} {int(s['count']):6d}")
        return "\n".join(rows)
