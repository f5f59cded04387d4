"""Plain file I/O floor for the DataFrame benchmark: the same bytes, no framework.

Builds the same 10M x 5 float64 DataFrame as the flows, then, in ``--rounds`` rounds (the first,
reported as is, meets memory and page cache as cold as a flow's task does; ``warm_*`` keys are the
medians of the later rounds), times writing its buffer to a file
(``write_s``: write + fsync; ``write_nofsync_s``: write to another file without fsync), reading it
back with ``np.fromfile`` (``read_s``) and summing it (``sum_s``); for context, mapping the file
with ``np.memmap`` and summing it (``mmap_sum_s``, no copy). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd


def make_frame(rows: int) -> pd.DataFrame:
    """The benchmark's DataFrame: ``rows`` x 5 uniform float64 columns a..e, seed 0."""
    data = np.random.default_rng(0).random((rows, 5))
    return pd.DataFrame(data, columns=list("abcde"), copy=False)


def timed_write(path: Path, data: np.ndarray, fsync: bool) -> float:
    """Seconds to write ``data``'s buffer to ``path`` (and fsync it when asked)."""
    start = time.perf_counter()
    with path.open("wb") as out:
        out.write(np.ascontiguousarray(data).data)
        out.flush()
        if fsync:
            os.fsync(out.fileno())
    return time.perf_counter() - start


def timed_read(path: Path, columns: int) -> tuple[np.ndarray, float]:
    """The array read back from ``path`` and the seconds it took."""
    start = time.perf_counter()
    data = np.fromfile(path, dtype=np.float64).reshape(-1, columns)
    return data, time.perf_counter() - start


def one_round(data: np.ndarray, directory: Path) -> dict[str, float]:
    """Write ``data`` (with and without fsync), read it back, sum it; every step timed."""
    write_s = timed_write(directory / "frame.bin", data, fsync=True)
    write_nofsync_s = timed_write(directory / "frame-nofsync.bin", data, fsync=False)
    back, read_s = timed_read(directory / "frame.bin", data.shape[1])
    start = time.perf_counter()
    total = float(back.sum())
    sum_s = time.perf_counter() - start
    del back
    start = time.perf_counter()
    mapped = np.memmap(directory / "frame.bin", dtype=np.float64, mode="r")
    mapped_total = float(mapped.reshape(-1, data.shape[1]).sum())
    mmap_sum_s = time.perf_counter() - start
    if not total == mapped_total == float(data.sum()):
        raise SystemExit("plain I/O: the data read back differs from the data written")
    return {
        "write_s": write_s,
        "write_nofsync_s": write_nofsync_s,
        "read_s": read_s,
        "sum_s": sum_s,
        "mmap_sum_s": mmap_sum_s,
        "write_read_s": write_s + read_s,
    }


def measure(rows: int, directory: Path, rounds: int) -> dict[str, float]:
    """Figures of the first (cold) round, and ``warm_*`` medians of the later rounds."""
    data = make_frame(rows).to_numpy()
    cold = one_round(data, directory)
    later = [one_round(data, directory) for _ in range(rounds - 1)]
    warm = {f"warm_{key}": statistics.median(r[key] for r in later) for key in cold if later}
    return cold | warm | {"bytes": float(data.nbytes)}


def main() -> None:
    """Parse ``--rows`` and ``--dir``, measure, print the figures as one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=3, help="first is cold, the rest warm")
    args = parser.parse_args()
    print(json.dumps(measure(args.rows, args.dir, args.rounds)))


if __name__ == "__main__":
    main()
