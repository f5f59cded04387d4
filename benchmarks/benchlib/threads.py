"""What the BLAS and OpenMP thread pools are, for reporting beside BLAS-heavy figures."""

from __future__ import annotations

import os
from typing import Any


def thread_report() -> dict[str, Any]:
    """The thread-related environment variables and every pool threadpoolctl sees."""
    from threadpoolctl import threadpool_info

    env = {
        name: os.environ.get(name, "(unset)")
        for name in (
            "OPENBLAS_CORETYPE",
            "OPENBLAS_L2_SIZE",
            "OPENBLAS_NUM_THREADS",
            "OMP_NUM_THREADS",
            "MKL_NUM_THREADS",
        )
    }
    pools = [
        {
            key: info.get(key)
            for key in (
                "user_api",
                "internal_api",
                "prefix",
                "num_threads",
                "version",
                "architecture",
                "threading_layer",
            )
        }
        for info in threadpool_info()
    ]
    return {"env": env, "threadpools": pools, "cpus": os.cpu_count()}
