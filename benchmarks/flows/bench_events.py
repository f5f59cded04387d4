"""What the benchmark flows record: timestamps, durations and memory, read back by the harness.

Shared by the Metaflow and reelflow versions of each flow, so both record events the same way.
"""

import json
import os
import time


def mark(key, value=None):
    """Record one event: a wall-clock stamp (``value`` None) or a measured duration."""
    value = time.time() if value is None else value
    print(f"BENCH {key}={value!r}", flush=True)
    path = os.environ.get("BENCH_EVENTS")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps({"key": key, "value": value}) + "\n")


def rss_bytes():
    """This process's resident set size now, from /proc (0 where there is no /proc)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0
