from reelflow import Flow, Parameter, step


class BranchFlow(Flow):
    """Static branches, nested foreach, joins by step name and merge_artifacts."""

    scale = Parameter("scale", default=2, help="multiplier")

    @step
    def start(self):
        self.shared = "same everywhere"
        self.grid = [[1, 2], [3, 4, 5]]
        self.next(self.left, self.right)

    @step
    def left(self):
        self.side = "left"
        self.value = 10 * self.scale
        self.next(self.meet)

    @step
    def right(self):
        self.side = "right"
        self.value = 20 * self.scale
        self.next(self.meet)

    @step
    def meet(self, inputs):
        self.sides = sorted(i.side for i in inputs)
        self.left_value = inputs.left.value
        self.merge_artifacts(inputs, exclude=["side", "value"])
        self.grid = [row for row in self.grid]
        self.next(self.outer, foreach="grid")

    @step
    def outer(self):
        self.row = self.input
        self.next(self.inner, foreach="row")

    @step
    def inner(self):
        self.cell = self.input * self.scale
        self.position = self.foreach_stack()
        self.next(self.inner_join)

    @step
    def inner_join(self, inputs):
        self.row_total = sum(i.cell for i in inputs)
        self.merge_artifacts(inputs, exclude=["cell", "position"])
        self.next(self.outer_join)

    @step
    def outer_join(self, inputs):
        self.totals = [i.row_total for i in inputs]
        self.merge_artifacts(inputs, include=["shared", "sides", "left_value"])
        self.next(self.end)

    @step
    def end(self):
        self.summary = (self.shared, self.sides, self.left_value, self.totals)
