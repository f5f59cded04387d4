"""Metaflow: one step sets a 400 MB DataFrame, the next loads and sums it.

Every timing is appended as a JSON line to the file named by ``BENCH_EVENTS`` (and printed as
``BENCH key=value``): ``*_at`` keys are ``time.time()`` stamps, ``*_s`` keys are durations measured
in-step with ``time.perf_counter``. ``BENCH_ROWS`` sets the number of rows (default 10,000,000).
"""

import os
import time

import numpy as np
import pandas as pd
from bench_events import mark, rss_bytes
from metaflow import FlowSpec, step


class DataFrameFlow(FlowSpec):
    """start -> make (sets self.df) -> consume (reads and sums self.df) -> end."""

    @step
    def start(self):
        mark("start_end_at")
        self.next(self.make)

    @step
    def make(self):
        mark("make_begin_at")
        mark("make_base_rss", rss_bytes())
        rows = int(os.environ.get("BENCH_ROWS", "10000000"))
        t0 = time.perf_counter()
        # Built column by column, as frames read from Parquet or SQL are: each column is one
        # contiguous array, so the step's own peak is the artifact itself (a frame built from a
        # row-major 2-D array would need a second copy to become columnar, in either system).
        rng = np.random.default_rng(0)
        self.df = pd.DataFrame({c: rng.random(rows) for c in "abcde"}, copy=False)
        mark("make_compute_s", time.perf_counter() - t0)
        mark("artifact_bytes", int(self.df.memory_usage(index=False).sum()))
        mark("make_end_at")
        self.next(self.consume)

    @step
    def consume(self):
        mark("consume_begin_at")
        mark("consume_base_rss", rss_bytes())
        t0 = time.perf_counter()
        df = self.df
        t1 = time.perf_counter()
        self.total = float(df.sum().sum())
        t2 = time.perf_counter()
        float(df.sum().sum())
        t3 = time.perf_counter()
        mark("consume_access_s", t1 - t0)
        mark("consume_load_sum_s", t2 - t0)
        mark("consume_resum_s", t3 - t2)
        mark("consume_end_at")
        self.next(self.end)

    @step
    def end(self):
        mark("end_begin_at")


if __name__ == "__main__":
    DataFrameFlow()
