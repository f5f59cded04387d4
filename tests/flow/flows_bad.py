"""Flows that break one graph rule each; `# !Name` marks the line the error must point at."""

from flows_base import BaseWithDanglingStep, Flow

from reelflow.flow._step import step


class NoStart(Flow):  # !NoStart
    @step
    def end(self):
        pass


class NoEnd(Flow):  # !NoEnd
    @step
    def start(self):
        self.next(self.start)


class MissingNext(Flow):
    @step
    def start(self):  # !MissingNext
        self.x = 1

    @step
    def end(self):
        pass


class NextNotLast(Flow):
    @step
    def start(self):
        self.next(self.end)  # !NextNotLast
        print("after")

    @step
    def end(self):
        pass


class NextTwice(Flow):
    @step
    def start(self):
        if self:
            self.next(self.end)  # !NextTwice
        self.next(self.end)

    @step
    def end(self):
        pass


class EndCallsNext(Flow):
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        self.next(self.start)  # !EndCallsNext


class NoTargets(Flow):
    @step
    def start(self):
        self.next()  # !NoTargets

    @step
    def end(self):
        pass


class TargetNotAttribute(Flow):
    @step
    def start(self):
        self.next("end")  # !TargetNotAttribute

    @step
    def end(self):
        pass


class UnknownTarget(Flow):
    @step
    def start(self):
        self.next(self.trian)  # !UnknownTarget

    @step
    def train(self):
        self.next(self.end)

    @step
    def end(self):
        pass


class TargetNotStep(Flow):
    @step
    def start(self):
        self.next(self.helper)  # !TargetNotStep

    def helper(self):
        pass

    @step
    def end(self):
        pass


class UnknownKeyword(Flow):
    @step
    def start(self):
        self.next(self.end, num_parallel=2)  # !UnknownKeyword

    @step
    def end(self):
        pass


class DuplicateTarget(Flow):
    @step
    def start(self):
        self.next(self.end, self.end)  # !DuplicateTarget

    @step
    def end(self):
        pass


class ForeachTwoTargets(Flow):
    @step
    def start(self):
        self.items = [1, 2]
        self.next(self.a, self.b, foreach="items")  # !ForeachTwoTargets

    @step
    def a(self):
        self.next(self.join)

    @step
    def b(self):
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


ITEMS = "items"


class ForeachNotLiteral(Flow):
    @step
    def start(self):
        self.items = [1, 2]
        self.next(self.work, foreach=ITEMS)  # !ForeachNotLiteral

    @step
    def work(self):
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


class ForeachUnset(Flow):
    @step
    def start(self):
        self.regoins = ["us"]
        self.next(self.work, foreach="regions")  # !ForeachUnset

    @step
    def work(self):
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


class CatchOnForeach(Flow):
    @step(catch=True)
    def start(self):  # !CatchOnForeach
        self.items = [1, 2]
        self.next(self.work, foreach="items")

    @step
    def work(self):
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


class JoinWithoutInputs(Flow):
    @step
    def start(self):
        self.next(self.a, self.b)

    @step
    def a(self):
        self.next(self.join)

    @step
    def b(self):
        self.next(self.join)

    @step
    def join(self):  # !JoinWithoutInputs
        self.next(self.end)

    @step
    def end(self):
        pass


class ForeachNeverJoined(Flow):
    @step
    def start(self):
        self.items = [1, 2]
        self.next(self.work, foreach="items")

    @step
    def work(self):
        self.next(self.collect)

    @step
    def collect(self):
        self.next(self.end)  # !ForeachNeverJoined

    @step
    def end(self):
        pass


class InputsNotJoin(Flow):
    @step
    def start(self):
        self.next(self.middle)

    @step
    def middle(self, inputs):  # !InputsNotJoin
        self.next(self.end)

    @step
    def end(self):
        pass


class BadSignature(Flow):
    @step
    def start(self):
        self.next(self.middle)

    @step
    def middle(self, data):  # !BadSignature
        self.next(self.end)

    @step
    def end(self):
        pass


class VarArgs(Flow):
    @step
    def start(self, *args):  # !VarArgs
        self.next(self.end)

    @step
    def end(self):
        pass


class AsyncStep(Flow):
    @step
    async def start(self):  # !AsyncStep
        self.next(self.end)

    @step
    def end(self):
        pass


class LambdaStep(Flow):
    @step
    def start(self):
        self.next(self.end)

    end = step(lambda self: None)  # !LambdaStep


class StartWithInputs(Flow):
    @step
    def start(self, inputs):  # !StartWithInputs
        self.next(self.end)

    @step
    def end(self):
        pass


class BackToStart(Flow):
    @step
    def start(self):
        self.next(self.a)

    @step
    def a(self):
        self.next(self.start, self.end)  # !BackToStart

    @step
    def end(self):
        pass


class Unreachable(Flow):
    @step
    def start(self):
        self.next(self.end)

    @step
    def orphan(self):  # !Unreachable
        self.next(self.end)

    @step
    def end(self):
        pass


class Cycle(Flow):
    @step
    def start(self):
        self.next(self.a)

    @step
    def a(self):
        self.next(self.b)

    @step
    def b(self):
        self.next(self.a, self.end)  # !Cycle

    @step
    def end(self):
        pass


class SplitClosedTwice(Flow):
    @step
    def start(self):
        self.next(self.a, self.b)

    @step
    def a(self):
        self.next(self.join_a)

    @step
    def b(self):
        self.next(self.join_b)

    @step
    def join_a(self, inputs):
        self.next(self.end)

    @step
    def join_b(self, inputs):  # !SplitClosedTwice
        self.next(self.end)

    @step
    def end(self, inputs):
        pass


class JoinMixesSplits(Flow):
    @step
    def start(self):
        self.next(self.a, self.b)

    @step
    def a(self):
        self.next(self.c, self.d)

    @step
    def b(self):
        self.next(self.join)

    @step
    def c(self):
        self.next(self.join)

    @step
    def d(self):
        self.next(self.join)

    @step
    def join(self, inputs):  # !JoinMixesSplits
        self.next(self.end)

    @step
    def end(self):
        pass


class SplitStraightToJoin(Flow):
    @step
    def start(self):
        self.next(self.a, self.join)  # !SplitStraightToJoin

    @step
    def a(self):
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


class InheritsDangling(BaseWithDanglingStep):
    pass
