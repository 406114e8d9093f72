"""Which frames of a shot the student learns from (--method student).

The first frame; then a frame where much of the picture is new against the last keyframe: the flow from
the frame to that keyframe fails its forward–backward check there (disocclusions, objects entering, a
cut, a move too far for the flow). Measured against the keyframe itself, not summed frame to frame: the
check's own noise (5–10 % of the pixels of a hand-held shot at 128 px, every frame) would add up to a
"new picture" every few frames. And at least every ``every`` frames. An artist's keyframe
(--keyframe) is always one, and counts as a fresh start.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

# A pixel whose forward–backward flow check gives it less weight than this is not in the keyframe.
NEW_BELOW = 0.5


@dataclass(frozen=True)
class Keyframe:
    number: int          # absolute frame number
    why: str             # "first", "new content 34 %", "every 16 frames", "artist"


def new_fraction(weight: np.ndarray | None) -> float:
    """The share of the picture the flow did not find in the other frame (1 with no flow)."""
    return 1.0 if weight is None else float((weight < NEW_BELOW).mean())


def choose(numbers: Sequence[int], new_since: Callable[[int, int], float], every: int, new_content: float,
           artist: Sequence[int] = (), cuts: Sequence[int] = ()) -> list[Keyframe]:
    """Keyframes among ``numbers`` (ascending); ``new_since(n, k)`` is the share of frame n's picture
    that keyframe k does not show (``new_fraction`` of the consistency of the flow n → k). ``cuts``: the
    frames where a new shot begins (flow/cuts.py): each is a keyframe, as a first frame is (with an
    artist's keyframes, only those are keyframes)."""
    artist, cuts = set(artist), set(cuts)
    keys: list[Keyframe] = []
    last = None
    for n in numbers:
        if n in cuts and not artist:
            last = None  # the flow does not reach across a cut; "new picture" is measured in this shot
        since = new_since(n, last) if last is not None and n not in artist and n - last < every else 0.0
        if n in artist:
            why = "artist"
        elif last is None:
            why = "cut" if n in cuts else "first"
        elif since >= new_content:
            why = f"new content {round(100 * since)} %"
        elif n - last >= every:
            why = f"every {every} frames"
        else:
            continue
        keys.append(Keyframe(n, why))
        last = n
    return keys
