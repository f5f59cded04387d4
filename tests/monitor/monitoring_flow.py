"""Monitoring as a flow step: the results are recorded with the task, and a blocking failure
fails the step (so a scheduled monitoring flow stops and says why)."""

from reelflow import Flow, Parameter, step
from reelflow.monitor import monitor


class MonitoringFlow(Flow):
    since = Parameter("since", default="")

    @step
    def start(self):
        report = monitor("recs", since=self.since or None, window="24h")
        self.n_requests = report.n_requests
        self.check(report.results)
        self.verdict = report.verdict
        self.next(self.end)

    @step
    def end(self):
        pass
