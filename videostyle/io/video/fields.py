"""Whether a video flagged interlaced really is, and which field comes first: FFmpeg's ``idet`` test, on
the first frames that move.

A stream's interlace flag is often wrong in the way that matters most here: progressive pictures stored
as interlaced (PsF: 1080PsF25 from broadcast and cinema cameras, progressive material mastered to an
interlaced format). Painted from one field, such a picture loses half its rows for nothing. And a field
order can be stated wrongly (DV and capture cards): painted from the second field in time, each frame
is a field late, and the motion judders.

The test (libavfilter/vf_idet.c, in NumPy): for each frame, line y is replaced by the same line of the
frame before and, in turn, of the frame after, and the comb left against its neighbours (|above + below
− 2·line|) is summed by the parity of y. A field that belongs with the frame before (top first) or after
(bottom first) combs less in that weave; a progressive picture combs least as it is.
"""
from __future__ import annotations

import threading

import numpy as np

from .common import AV_ERRORS
from .probe import file_identity, opened

# vf_idet's defaults: a weave this much worse on one parity than the other says the field order; the
# picture as stored this much better than either weave says progressive.
INTERLACE_THRESHOLD = 1.04
PROGRESSIVE_THRESHOLD = 1.5

# Frames looked at (from the first; a clip often opens on a still slate), and the verdicts that settle it.
MAX_FRAMES = 48
DECISIVE = 8


def _comb(above: np.ndarray, line: np.ndarray, below: np.ndarray) -> np.ndarray:
    """Per row, the sum of |above + below − 2·line|."""
    return np.abs(above + below - 2 * line).sum(axis=1)


def classify(prev: np.ndarray, cur: np.ndarray, nxt: np.ndarray) -> str | None:
    """"tff", "bff" or "progressive" for frame ``cur`` (luma, H×W) between its neighbours; None when the
    picture does not say (no motion)."""
    h = cur.shape[0]
    if h < 6:
        return None
    ys = np.arange(2, h - 2)
    above, below = cur[ys - 1], cur[ys + 1]
    with_prev, with_next, as_is = _comb(above, prev[ys], below), _comb(above, nxt[ys], below), _comb(above, cur[ys], below)
    even = (ys & 1) == 0
    # vf_idet: alpha[y & 1] takes the weave with the frame before, alpha[(y ^ 1) & 1] the one with the next.
    alpha0 = with_prev[even].sum() + with_next[~even].sum()
    alpha1 = with_prev[~even].sum() + with_next[even].sum()
    delta = as_is.sum()
    if alpha0 > INTERLACE_THRESHOLD * alpha1:
        return "tff"
    if alpha1 > INTERLACE_THRESHOLD * alpha0:
        return "bff"
    if alpha1 > PROGRESSIVE_THRESHOLD * delta:
        return "progressive"
    return None


def detect(path: str) -> str | None:
    """What the first frames of ``path``'s video are: "tff", "bff" or "progressive" when at least three
    quarters of the frames that say agree (and at least three say); None when they do not, or the file
    cannot be read for it (the stream's own flag then stands). Remembered per file for this process (a
    range render opens its input again for the frames before the range)."""
    try:
        key = file_identity(path)
    except OSError:
        return None
    with _LOCK:
        if key in _FOUND:
            return _FOUND[key]
    found = _detect(path)
    with _LOCK:
        _FOUND[key] = found
    return found


_FOUND: dict[tuple, str | None] = {}
_LOCK = threading.Lock()


def _detect(path: str) -> str | None:
    counts = {"tff": 0, "bff": 0, "progressive": 0}
    window: list[np.ndarray] = []
    try:
        with opened(path) as (container, stream):
            for k, frame in enumerate(container.decode(stream)):
                window = (window + [frame.to_ndarray(format="gray").astype(np.int32)])[-3:]
                if len(window) == 3:
                    verdict = classify(*window)
                    if verdict:
                        counts[verdict] += 1
                if sum(counts.values()) >= DECISIVE or k + 1 >= MAX_FRAMES:
                    break
    except (ValueError, *AV_ERRORS):  # a frame that will not convert to grey: the flag stands
        return None
    said = sum(counts.values())
    best = max(counts, key=counts.get)
    return best if said >= 3 and counts[best] >= 0.75 * said else None
