"""Valid flows for the graph tests; the graph reader needs no base class."""

from flows_base import BaseFlow, Flow

from reelflow.flow._step import step


class LinearFlow(Flow):
    """Three steps in a row."""

    @step
    def start(self):
        """Begin."""
        self.next(self.middle)

    @step(
        retries=2,
        timeout="10m",
    )
    def middle(self):  # !middle-def
        self.x = 1
        self.next(self.end)  # !middle-next

    @step
    def end(self):
        pass

    def helper(self):
        return 1


class TrainFlow(Flow):
    @step
    def start(self):
        self.regions = ["us", "ca"]
        self.next(self.train, foreach="regions")

    @step
    def train(self):
        self.next(self.a, self.b)

    @step
    def a(self):
        self.next(self.join_ab)

    @step
    def b(self):
        self.next(self.join_ab)

    @step
    def join_ab(self, inputs):
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


class NestedForeachFlow(Flow):
    @step
    def start(self):
        self.regions = ["us", "ca"]
        self.next(self.region, foreach="regions")

    @step
    def region(self):
        self.models = ["ease", "als"]
        self.next(self.fit, foreach="models")

    @step
    def fit(self):
        self.next(self.pick_model)

    @step
    def pick_model(self, inputs):
        self.next(self.pick_region)

    @step
    def pick_region(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


class JoinSplitsFlow(Flow):
    @step
    def start(self):
        self.next(self.a, self.b)

    @step
    def a(self):
        self.next(self.mid)

    @step
    def b(self):
        self.next(self.mid)

    @step
    def mid(self, inputs):
        self.next(self.c, self.d)

    @step
    def c(self):
        self.next(self.end)

    @step
    def d(self):
        self.next(self.end)

    @step
    def end(self, inputs):
        pass


class ChildFlow(BaseFlow):
    """Inherits start and end; overrides train and adds a step."""

    @step
    def train(self):
        self.next(self.evaluate)

    @step
    def evaluate(self):
        self.next(self.end)


class _SetsItems(Flow):
    @step
    def end(self):
        pass

    @step
    def work(self):
        self.next(self.gather)

    @step
    def gather(self, inputs):
        self.next(self.end)


class AnnotatedFlow(_SetsItems):
    @step
    def start(self):
        self.items: list[int] = [1]
        self.next(self.work, foreach="items")


class AugmentedFlow(_SetsItems):
    @step
    def start(self):
        self.items += [1]
        self.next(self.work, foreach="items")


class TupleFlow(_SetsItems):
    @step
    def start(self):
        self.other, (self.items, *_) = 1, ([1], 2)
        self.next(self.work, foreach="items")


class WithFlow(_SetsItems):
    @step
    def start(self):
        with open(__file__) as self.items:
            pass
        self.next(self.work, foreach="items")


class ForTargetFlow(_SetsItems):
    @step
    def start(self):
        for self.items in [[1]]:
            pass
        self.next(self.work, foreach="items")


class SetattrFlow(_SetsItems):
    @step
    def start(self):
        setattr(self, "items", [1])  # noqa: B010
        self.next(self.work, foreach="items")


class OddStringFlow(Flow):
    @step
    def start(self):
        self.text = """
a line less indented than the def defeats textwrap.dedent
"""
        self.next(self.end)  # !odd-next

    @step
    def end(self):
        pass
