"""``--frames``: which frames of an input to use, in one of three forms.

- ``START:END`` — positions in the input, 0-based, END exclusive (``0:48`` is the first 48 frames;
  ``10:`` is frame 10 to the end). Clamped to the input's length.
- ``FIRST-LAST`` or ``N`` — frame numbers, inclusive, as compositing tools write ranges. For an image
  sequence these are the numbers in its file names (``1001-1050`` on ``shot.1001.exr`` … selects those 50
  files; a gap inside the range is skipped, as in a whole-sequence run); for a video, the 0-based frame
  numbers videostyle's reports use (``0-47`` = ``0:48``). Both ends must lie within the input's numbers.
- Frame numbers stepped or listed, as fileseq's FrameSet reads them: ``1001-1100x2`` (every 2nd number,
  from 1001), ``1001-1100y2`` (the numbers ``x2`` leaves out), ``1001,1005-1010`` (numbers and ranges,
  comma-separated), or any mix (``1-9x2,20``). Order and repeats do not matter: the frames are used in
  number order, once each. The smallest and largest number must lie within the input's numbers; numbers
  the input lacks between them are skipped, like a gap inside FIRST-LAST. Whole, non-negative numbers
  only; ``:`` always means START:END (fileseq's ``1-10:2`` is refused, not staggered).

parse_frames checks the syntax (ConfigError); FrameRange.positions maps a range onto an input's frame
numbers (InputError when the input does not have it), FrameRange.select gives the span those positions
cover. Library code: no printing.
"""
from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass, field
from typing import NamedTuple, Sequence

from ..errors import ConfigError, InputError

_POSITIONS = re.compile(r"(\d*):(\d*)")
_NUMBERS = re.compile(r"(\d+)(?:-(\d+))?")
FORMS = ("START:END (0-based positions, END exclusive), FIRST-LAST or N (frame numbers, inclusive), "
         "or frame numbers stepped and listed (1001-1100x2, 1001,1005-1010)")
# What a stepped or listed set may contain. fileseq itself is laxer: it drops spaces inside a number
# ("1 2" is 12), ignores padding characters (# and @) and reads non-ASCII digits, all of which on a
# command line are more likely typos than intent.
_SET_TEXT = re.compile(r"[0-9xy.,\- ]+")
_DESCENDING = re.compile(r"(\d+)-(\d+)")
_NEGATIVE = re.compile(r"(?:^|[-xy])-")


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
            named = [n for n in numbers if n is not None]
            # START:END counts positions from 0; a sequence numbered from 1001 is selected by its own
            # numbers with a dash (1001-1050), which is what a range like 1002:1005 usually meant.
            hint = ""
            if named and self.stop is not None and min(named) <= self.start and self.stop - 1 <= max(named):
                hint = f"; for the files' own numbers write {self.start}-{self.stop - 1}"
            raise InputError(f"frame range {self.start}:{end} selects no frames of {path} ({total} frames, "
                             f"counted from 0){hint}")
        return self.start, stop

    def positions(self, numbers: Sequence[int | None], path: str) -> tuple[int, ...]:
        """The 0-based positions, ascending, of the selected frames among ``numbers``."""
        return tuple(range(*self.select(numbers, path)))

    @property
    def stepped(self) -> bool:
        return False

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
        lo, hi = _numbered(self, numbers, path)
        if self.first < lo or self.last > hi:
            raise InputError(f"--frames {self}: {path} holds frames {_span(lo, hi)}")
        start = next(i for i, n in enumerate(numbers) if n >= self.first)
        stop = next((i for i, n in enumerate(numbers) if n > self.last), len(numbers))
        if start >= stop:  # the whole range falls in a gap of the sequence
            raise InputError(f"--frames {self}: {path} has no frame in that range (it holds {_span(lo, hi)})")
        return start, stop

    def positions(self, numbers: Sequence[int | None], path: str) -> tuple[int, ...]:
        """The 0-based positions, ascending, of the frames numbered FIRST..LAST among ``numbers``."""
        return tuple(range(*self.select(numbers, path)))

    @property
    def stepped(self) -> bool:
        return False

    def __str__(self) -> str:
        return str(self.first) if self.first == self.last else f"{self.first}-{self.last}"


@dataclass(frozen=True)
class NumberSet:
    """Frame numbers stepped or listed (``1001-1100x2``, ``1001,1005-1010``): ``numbers`` sorted, each
    once, none negative, at least one; ``text`` as typed. Equal sets are equal whatever was typed.
    Not a tuple, for the reason Numbers is not."""
    numbers: tuple[int, ...]
    text: str = field(default="", compare=False)

    def positions(self, numbers: Sequence[int | None], path: str) -> tuple[int, ...]:
        """The 0-based positions, ascending, of the frames among ``numbers`` (ascending) whose number is
        wanted. The smallest and largest wanted number must lie within the input's numbers; wanted
        numbers the input lacks between them are skipped; InputError when it has none of them."""
        lo, hi = _numbered(self, numbers, path)
        wanted = self.numbers
        if wanted[0] < lo or wanted[-1] > hi:
            raise InputError(f"--frames {self}: {path} holds frames {_span(lo, hi)}")
        # Bisecting the wanted numbers for each input number: the input is seldom more than a few
        # thousand frames, whereas the wanted set may hold millions, so no set is built from it.
        found = []
        for i, n in enumerate(numbers):
            k = bisect_left(wanted, n)
            if k < len(wanted) and wanted[k] == n:
                found.append(i)
        if not found:
            raise InputError(f"--frames {self}: {path} has none of those frames (it holds {_span(lo, hi)})")
        return tuple(found)

    def select(self, numbers: Sequence[int | None], path: str) -> tuple[int, int]:
        """(start, stop): the span of positions the wanted frames cover, for callers that read a span;
        when ``stepped``, frames inside it that are not wanted are in it too."""
        found = self.positions(numbers, path)
        return found[0], found[-1] + 1

    @property
    def stepped(self) -> bool:
        """True when the wanted numbers are not one run of consecutive numbers (``1,3``; not ``1,2-5``)."""
        return self.numbers[-1] - self.numbers[0] + 1 != len(self.numbers)

    def __str__(self) -> str:
        if self.text:
            return self.text
        runs, start = [], 0  # no text when built in code rather than parsed: show the runs
        for i in range(1, len(self.numbers) + 1):
            if i == len(self.numbers) or self.numbers[i] != self.numbers[i - 1] + 1:
                runs.append(_span(self.numbers[start], self.numbers[i - 1]))
                start = i
        return ",".join(runs)


FrameRange = Positions | Numbers | NumberSet


def _numbered(frames, numbers: Sequence[int | None], path: str) -> tuple[int, int]:
    """(lowest, highest) of ``numbers``; InputError when they cannot be matched against frame numbers."""
    if not numbers or any(n is None for n in numbers):
        raise InputError(f"--frames {frames}: the file names of {path} carry no frame numbers; "
                         "use START:END (0-based positions)")
    if any(b < a for a, b in zip(numbers, numbers[1:])):
        raise InputError(f"--frames {frames}: the frame numbers in the file names of {path} are not in "
                         "order; use START:END (0-based positions)")
    return numbers[0], numbers[-1]


def _span(lo: int, hi: int) -> str:
    return str(lo) if lo == hi else f"{lo}-{hi}"


def parse_frames(frames: str | tuple | FrameRange | None) -> FrameRange:
    """A FrameRange from ``--frames`` text (see the module docstring), a (start, stop) tuple of positions,
    a FrameRange, or None (every frame). ConfigError (exit 2) for text in no form or an empty range."""
    if frames is None:
        return Positions()
    if isinstance(frames, (Numbers, NumberSet)):
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
    return _number_set(text)


def _bad(text: str, why: str = "") -> ConfigError:
    if not why:
        return ConfigError(f"--frames must be {FORMS}; got {text!r}")
    return ConfigError(f"--frames {text!r}: {why}; --frames must be {FORMS}")


def _number_set(text: str) -> NumberSet:
    """A stepped or listed set, read by fileseq once the text is known to be what this CLI accepts."""
    if ":" in text:
        raise _bad(text, "':' is only for START:END positions; step frame numbers with x (1001-1100x2)")
    items = [item.strip() for item in text.split(",")]
    if not _SET_TEXT.fullmatch(text) or any(not item or " " in item for item in items):
        raise _bad(text)
    if "." in text:
        raise _bad(text, "frame numbers are whole numbers (no subframes)")
    if any(_NEGATIVE.search(item) for item in items):
        raise _bad(text, "frame numbers are not negative")
    for item in items:
        m = _DESCENDING.match(item)
        if m and int(m.group(2)) < int(m.group(1)):
            raise _bad(text, f"LAST is before FIRST in {item}")
    try:
        import fileseq
    except ImportError:
        raise ConfigError(f"--frames {text!r}: stepped and listed frame numbers need the fileseq package "
                          "(pip install fileseq)") from None
    try:
        wanted = tuple(sorted(set(fileseq.FrameSet(",".join(items)))))
    except getattr(fileseq, "MaxSizeException", ()):
        raise _bad(text, "more frames than fileseq allows in one set") from None
    except Exception:
        # Whatever else fileseq raises (a parse error, or what another version raises instead) is about
        # the text the user typed: a one-line ConfigError, never a traceback.
        raise _bad(text) from None
    if not wanted:
        raise _bad(text, "that selects no frames")
    return NumberSet(wanted, text)


def _positions(start: int, stop: int | None, shown) -> Positions:
    if start < 0 or (stop is not None and stop <= start):
        raise ConfigError(f"--frames {shown}: need 0 <= START < END")
    return Positions(start, stop)
