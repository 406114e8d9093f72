"""The fast mode's keyframe carry: the stylized keyframes on either side of a frame, warped into it by
the flow, painted where the flow holds; the student's own paint where it does not.

Why: a student trained from scratch on a few keyframes paints the average of the strokes the picture
does not decide (docs/design.md, "The fast mode"): at 256 px it reproduced its own keyframes at about
19 dB and kept a third of their gradient energy. Where the flow finds a pixel of a keyframe in this
frame, that keyframe's paint is the stroke the optimizer (or the artist) put there, carried by one
resample, so the same surface keeps the same stroke from one keyframe to the next. The keyframes
themselves were chained by flow (each pulled toward the one before), so the two sides agree where both
see the picture, and crossing from one to the other does not jump.

A frame depends only on its own picture, its two keyframes and the flows between them: random access
and batched or distributed rendering keep.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..flow.warp import warp
from .temporal import light_change, relight

# The keyframe's paint is resampled once (not a chain of resamples), so a sharper kernel costs no
# ringing that builds up; bilinear's half-pixel blur alone raised the style distance 15 % at 96 px
# (0.211 against 0.184 with Lanczos, 16 frames of the cockatoo clip, docs/performance.md).
RESAMPLING = "lanczos"

# The seam between carried paint and the student's is softened over this share of the frame's longer
# side, so the fallback does not draw the consistency check's outline into the picture.
SEAM_SIGMA = 0.01

# A one-frame consistency check fails in thin lines along edges (a motion boundary, a disocclusion a
# pixel or two wide), at a new place on every step; along a chain the reliability is the product of
# every step's, so each line any step drew stays: on the hand-held cockatoo shot at 256 px the chain
# kept 62 % of the picture after 8 frames and 48 % after 16. Failures thinner than this many pixels are
# dropped from each step's weights before the product (a grey opening of 1 − weight): 72 % and 61 %
# kept; wider ones, an occluder's trail or new picture at the frame's edge, still break the chain.
# Measured (docs/performance.md): style distance −9 % at 256 px for 1–5 % less steadiness; −2 to −7 %
# and 2–12 % steadier at 128 px on four shot–painting pairs. 7 px covered more and drifted further.
THIN_FAILURE = 5
_THIN = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (THIN_FAILURE, THIN_FAILURE))


def chain_step(weight: np.ndarray) -> np.ndarray:
    """A frame-to-frame flow's consistency weights as one step of a chain: failures thinner than
    THIN_FAILURE pixels removed."""
    fail = 1.0 - np.asarray(weight, np.float32)
    return 1.0 - cv2.morphologyEx(fail, cv2.MORPH_OPEN, _THIN)


@dataclass(frozen=True)
class Side:
    """A keyframe seen from the frame being painted: its stylization and source frame, the flow from
    the frame to it (pixel p of the frame is at p + flow in the keyframe), the flow's consistency
    weights, and how near the keyframe is in time (1 at it, 0 at the other keyframe)."""
    stylized: np.ndarray
    source: np.ndarray
    flow: np.ndarray
    weight: np.ndarray
    nearness: float


def carry(frame: np.ndarray, student_paint: np.ndarray, sides: list[Side], follow_light: float) -> np.ndarray:
    """The frame's paint (H×W×3 float32 0–255): the keyframes' paint warped in, each weighted by its
    flow's reliability and its nearness, with ``follow_light`` × the source's change of light since the
    keyframe added (as the optimizer's warm start does); the student's paint where no keyframe's flow
    holds."""
    num = np.zeros(frame.shape, np.float32)
    den = np.zeros(frame.shape[:2], np.float32)
    cover = np.zeros(frame.shape[:2], np.float32)
    for s in sides:
        warped = warp(s.stylized.astype(np.float32), s.flow, RESAMPLING)
        if follow_light > 0:
            change = light_change(frame, warp(s.source.astype(np.float32), s.flow), s.weight)
            warped = relight(warped, change, follow_light)
        w = s.weight.astype(np.float32) * max(s.nearness, 1e-3)
        num += w[..., None] * warped
        den += w
        cover = np.maximum(cover, s.weight.astype(np.float32))
    carried = num / np.maximum(den, 1e-6)[..., None]
    sigma = SEAM_SIGMA * max(frame.shape[:2])
    if sigma > 0.3:
        cover = np.minimum(cover, cv2.GaussianBlur(cover, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE))
    m = np.clip(cover, 0.0, 1.0)[..., None]
    return np.clip(m * carried + (1.0 - m) * student_paint.astype(np.float32), 0.0, 255.0).astype(np.float32)
