"""Where one shot ends and the next begins: a hard cut between two consecutive frames.

Why it is needed: the forward–backward consistency check does not see a cut. Between two unrelated
pictures the two flows are smooth and agree by chance over most of the frame (68 % of the pixels passed
between a cockatoo frame and the astronaut at 128 px), so without this the next shot started from the
last shot's paint and was pulled toward it there: its first frames carried the previous shot's strokes,
and the frames after them inherited them (docs/performance.md, "Cuts").

The test: frame t−1 brought into frame t by the flow, both in grey without the flat bars they share at
their borders (letterbox, pillarbox), at a 128-px side at most, blurred
(σ = 1/64 of the side: the grain of a dark, noisy shot is independent from frame to frame and looked like
a cut on every frame without it), with their local light and contrast taken out (each pixel's difference
from its neighbourhood's mean, over the neighbourhood's spread), then the mean absolute difference.
Along a shot the flow lines the two up and they differ by noise, flow errors and motion blur; across a
cut they are two unrelated pictures. Normalizing locally keeps light changes (fades, a lamp, a flash)
from looking like a cut.
"""
from __future__ import annotations

import cv2
import numpy as np

from .files import resize_flow
from .warp import warp

# Measured with each size's default flow (docs/performance.md, "Cuts"): over the consecutive pairs of the
# cockatoo clip and the bundled astronaut the largest residual along a shot was 0.27–0.29 at 64–256 px
# and 0.37 at 48 px; with grain of σ 10–30 levels added to every frame (a dark shot too) 0.17–0.44 at
# 64–256 px; a clipped flash (gain 2.5) 0.33–0.42; five real cuts (to another clip, or to another
# part of the same clip: the hard case) 0.49–0.80.
CUT_RESIDUAL = 0.45

# The local neighbourhood's size, a share of the frame's longer side, and the spread (levels on 0–255)
# added to it so that flat and dark areas (a fade from black) do not blow noise up into a texture.
_LOCAL = 1 / 32
_SPREAD_FLOOR = 4.0
# The blur that takes the grain out first, a share of the side (2 px at 128).
_GRAIN = 1 / 64

# A border row or column whose values span no more than this (levels) in both frames is a bar, not picture.
_BAR_LEVELS = 12

# Larger frames are tested at this longer side: one threshold then serves every size, and the test costs
# about a millisecond at any size (at 720p, tested at full size, the blurs alone took 235 ms a pair).
_TEST_SIDE = 128


def _normalized(gray: np.ndarray) -> np.ndarray:
    side = max(gray.shape)
    g = cv2.GaussianBlur(gray.astype(np.float32), (0, 0), max(side * _GRAIN, 0.5))
    sigma = max(side * _LOCAL, 0.5)
    mean = cv2.GaussianBlur(g, (0, 0), sigma)
    spread = np.sqrt(cv2.GaussianBlur((g - mean) ** 2, (0, 0), sigma))
    return (g - mean) / (spread + _SPREAD_FLOOR)


def _picture(a: np.ndarray, b: np.ndarray) -> tuple[int, int, int, int]:
    """Rows top:bottom and columns left:right of two grey frames without the flat borders both share
    (letterbox or pillarbox bars): the bars' edges are the same in any two frames, and left in they
    hid a cut (a cut to another angle of the same room, 0.49 at 256 px, gave 0.37 with bars of 1/8)."""
    both = np.stack([a, b])
    rows = both.max(axis=(0, 2)).astype(np.int16) - both.min(axis=(0, 2))
    cols = both.max(axis=(0, 1)).astype(np.int16) - both.min(axis=(0, 1))

    def span(flat: np.ndarray) -> tuple[int, int]:
        picture = np.flatnonzero(flat > _BAR_LEVELS)
        if picture.size < 8:  # nothing but bars (a black frame): test it whole
            return 0, flat.size
        return int(picture[0]), int(picture[-1]) + 1

    (top, bottom), (left, right) = span(rows), span(cols)
    return top, bottom, left, right


def cut_residual(frame: np.ndarray, earlier: np.ndarray, flow_back: np.ndarray) -> float:
    """How little frame ``earlier`` (t−1), moved into ``frame`` (t) by ``flow_back`` (t → t−1, H×W×2
    pixels), looks like it once light and contrast are taken out: about 0.1–0.3 along a shot, 0.45 and
    more across a cut. Frames: H×W×3 uint8 RGB of one size."""
    a = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
    b = cv2.cvtColor(np.ascontiguousarray(earlier), cv2.COLOR_RGB2GRAY)
    top, bottom, left, right = _picture(a, b)
    a, b = a[top:bottom, left:right], b[top:bottom, left:right]
    flow_back = flow_back[top:bottom, left:right]
    h, w = a.shape
    if max(h, w) > _TEST_SIDE:
        size = (max(1, round(w * _TEST_SIDE / max(h, w))), max(1, round(h * _TEST_SIDE / max(h, w))))
        a, b = (cv2.resize(g, size, interpolation=cv2.INTER_AREA) for g in (a, b))
        flow_back = resize_flow(flow_back, size)
    return float(np.abs(_normalized(a) - warp(_normalized(b), flow_back)).mean())


def is_cut(frame: np.ndarray, earlier: np.ndarray, flow_back: np.ndarray) -> bool:
    """True where a new shot begins at ``frame`` (see ``cut_residual``)."""
    return cut_residual(frame, earlier, flow_back) >= CUT_RESIDUAL
