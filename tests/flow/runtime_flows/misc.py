import os
import sys
import threading
import time

import numpy as np
import pandas as pd

from reelflow import Flow, Parameter, current, step


class MiscFlow(Flow):
    """Artifacts of many types, output at the fd level, params of every kind."""

    count = Parameter("count", default=3)
    ratio = Parameter("ratio", default=0.5)
    verbose = Parameter("verbose", default=False)
    label = Parameter("label", default="x")
    config = Parameter("config", default={"depth": 2})
    unpicklable = Parameter("unpicklable", default=False)
    sleep = Parameter("sleep", default=0.0)

    @step
    def start(self):
        self.frame = pd.DataFrame({"a": np.arange(self.count), "b": np.arange(self.count) / 2})
        self.array = np.arange(10.0)
        self.params_seen = dict(current.parameters)
        self.mutable = [1, 2]
        print("to stdout")
        print("to stderr", file=sys.stderr)
        os.write(1, b"raw fd write\n")
        self.next(self.middle)

    @step
    def middle(self):
        self.mutable.append(3)
        if self.unpicklable:
            self.lock = threading.Lock()
        time.sleep(self.sleep)
        self.frame_sum = int(self.frame["a"].sum())
        self.next(self.end)

    @step
    def end(self):
        self.seen_mutable = list(self.mutable)
