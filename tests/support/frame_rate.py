"""A frame rate that counts instead of timing: tests of what happens past the rate, without a clock."""

from __future__ import annotations

from pushapp.server.limits import FrameRate


class Tokens(FrameRate):
    """A frame rate that allows ``count`` frames, then none."""

    def __init__(self, count: int) -> None:
        super().__init__()
        self.count = count

    def take(self) -> bool:
        self.count -= 1
        return self.count >= 0
