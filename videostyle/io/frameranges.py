"""``--frames``: which frames of an input to use, in either of two forms.

- ``START:END`` — positions in the input, 0-based, END exclusive (``0:48`` is the first 48 frames;
  ``10:`` is frame 10 to the end). Clamped to the input's length.
- ``FIRST-LAST`` or ``N`` — frame numbers, inclusive, as compositing tools write ranges. For an image
  sequence these are the numbers in its file names (``1001-1050`` on ``shot.1001.exr`` … selects those 50
  files; a gap inside the range is skipped, as in a whole-sequence run); for a video, the 0-based frame
  numbers videostyle's reports use (``0-47`` = ``0:48``). Both ends must lie within the input's numbers.

parse_frames checks the syntax (ConfigError); FrameRange.select maps a range onto an input's frame numbers
(InputError when the input does not have it). Library code: no printing.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple, Sequence

from ..errors import ConfigError, InputError

_POSITIONS = re.compile(r"(\d*):(\d*)")
_NUMBERS = re.compile(r"(\d+)(?:-(\d+))?")
FORMS = "START:END (0-based, END exclusive) or FIRST-LAST (frame numbers, inclusive)"


class Positions(NamedTuple):
    """``START:END``: 0-based positions, ``stop`` exclusive (None: to the end). A 2-tuple, so
    ``start, stop = parse_frames("0:48")`` keeps working where only positions make sense."""
    start: int = 0
    stop: int | None = None

    def select(self, numbers: Sequence[int | None], path: str) -> tuple[int, int]:
        """(start, stop) positions of the selected frames among ``len(numbers)``; stop is clamped."""
        total = len(numbers)
        stop = total if self.stop is None else min(self.stop, total)
        if self.start >= stop:
            end = "" if self.stop is None else self.stop
            raise InputError(f"frame range {self.start}:{end} selects no frames of {path} ({total} frames)")
        return self.start, stop

    def __str__(self) -> str:
        return f"{self.start}:{'' if self.stop is None else self.stop}"


@dataclass(frozen=True)
class Numbers:
    """``FIRST-LAST``: frame numbers, inclusive. Not a tuple on purpose: mistaking the numbers for
    positions (``open_source(path, *range)``) would silently select other frames."""
    first: int
    last: int

    def select(self, numbers: Sequence[int | None], path: str) -> tuple[int, int]:
        """(start, stop) positions of the frames numbered FIRST..LAST; ``numbers`` ascending."""
        if not numbers or any(n is None for n in numbers):
            raise InputError(f"--frames {self}: the file names of {path} carry no frame numbers; "
                             "use START:END (0-based positions)")
        if any(b < a for a, b in zip(numbers, numbers[1:])):
            raise InputError(f"--frames {self}: the frame numbers in the file names of {path} are not in "
                             "order; use START:END (0-based positions)")
        lo, hi = numbers[0], numbers[-1]
        if self.first < lo or self.last > hi:
            raise InputError(f"--frames {self}: {path} holds frames {_span(lo, hi)}")
        start = next(i for i, n in enumerate(numbers) if n >= self.first)
        stop = next((i for i, n in enumerate(numbers) if n > self.last), len(numbers))
        if start >= stop:  # the whole range falls in a gap of the sequence
            raise InputError(f"--frames {self}: {path} has no frame in that range (it holds {_span(lo, hi)})")
        return start, stop

    def __str__(self) -> str:
        return str(self.first) if self.first == self.last else f"{self.first}-{self.last}"


FrameRange = Positions | Numbers


def _span(lo: int, hi: int) -> str:
    return str(lo) if lo == hi else f"{lo}-{hi}"


def parse_frames(frames: str | tuple | Positions | Numbers | None) -> FrameRange:
    """A FrameRange from ``--frames`` text (see the module docstring), a (start, stop) tuple of positions,
    a FrameRange, or None (every frame). ConfigError (exit 2) for text in neither form or an empty range."""
    if frames is None:
        return Positions()
    if isinstance(frames, Numbers):
        return frames
    if isinstance(frames, tuple):
        return _positions(*frames, frames)
    text = str(frames).strip()
    m = _POSITIONS.fullmatch(text)
    if m:
        return _positions(int(m.group(1) or 0), int(m.group(2)) if m.group(2) else None, text)
    m = _NUMBERS.fullmatch(text)
    if m:
        first = int(m.group(1))
        last = int(m.group(2)) if m.group(2) else first
        if last < first:
            raise ConfigError(f"--frames {text}: LAST is before FIRST")
        return Numbers(first, last)
    raise ConfigError(f"--frames must be {FORMS}, e.g. 0:48 or 1001-1050; got {text!r}")


def _positions(start: int, stop: int | None, shown) -> Positions:
    if start < 0 or (stop is not None and stop <= start):
        raise ConfigError(f"--frames {shown}: need 0 <= START < END")
    return Positions(start, stop)
