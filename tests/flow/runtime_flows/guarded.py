"""Guard results recorded with self.check: a warning, a pass, and a gate read from a file."""

from pathlib import Path

from reelflow import Flow, Parameter, step
from reelflow.guards import GuardResult


class GuardedFlow(Flow):
    gate_file = Parameter("gate_file", default="")

    @step
    def start(self):
        self.rows = 1000
        self.check(
            GuardResult("row_count", True, value=1000, threshold=10, message="1,000 rows >= 10"),
            [GuardResult("null_rate:age", False, "warn", 0.07, 0.05, "7% nulls in age > 5%")],
        )
        self.next(self.gate)

    @step(retries=2, retry_delay=0.01)
    def gate(self):
        self.attempts_seen = getattr(self, "attempts_seen", 0) + 1
        drift = float(Path(self.gate_file).read_text()) if self.gate_file else 0.0
        self.check(
            GuardResult(
                "psi:score",
                drift < 0.2,
                "block",
                drift,
                0.2,
                f"PSI {drift:.2f} vs 0.2",
                details={
                    "plot": {
                        "kind": "histogram",
                        "edges": [0, 1, 2],
                        "reference": [0.5, 0.5],
                        "current": [0.2, 0.8],
                    }
                },
            )
        )
        self.after_gate = True
        self.next(self.end)

    @step
    def end(self):
        pass
