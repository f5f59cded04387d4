"""A flow whose artifacts are a PNG (bytes), an HTML page and a dict: what previews show."""

from reelflow import Flow, step

PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


class PicturesFlow(Flow):
    @step
    def start(self):
        self.chart = PNG
        self.report = "<!DOCTYPE html><title>report</title><script>alert(1)</script>"
        self.settings = {"k": 10}
        self.next(self.end)

    @step
    def end(self):
        pass
