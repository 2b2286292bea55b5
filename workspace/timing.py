"""Stage durations and spans that runs report and benchmarks read."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def timed(
    seconds: dict[str, float], stage: str, spans: dict[str, list[float]] | None = None
) -> Iterator[None]:
    """Add the stage's duration to ``seconds``; with ``spans``, also when it ran (epoch s).

    Stages of concurrent tasks overlap, so their summed durations overstate the wall time
    a stage takes; the spans let a benchmark count overlapping time once.
    """
    started, wall_started = time.perf_counter(), time.time()
    try:
        yield
    finally:
        seconds[stage] = seconds.get(stage, 0.0) + time.perf_counter() - started
        if spans is not None:
            spans[stage] = [wall_started, time.time()]
