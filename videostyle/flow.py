"""Optical flow and the forward–backward consistency weights of Ruder et al. (Sec. 3.1).

OpenCV only; numpy in, numpy out. Flow convention (everywhere in videostyle): ``flow(a, b)`` is
H×W×2 float32 in pixels, (u, v) = (x, y) displacement, such that pixel p of ``a`` corresponds to
p + flow[p] in ``b``.
"""
from __future__ import annotations

import cv2
import numpy as np

from .warp import sample_bilinear

_DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


class FlowEstimator:
    """``estimator(a, b)`` → flow a→b (H×W×2 float32) for RGB uint8 frames of equal size."""

    def __init__(self, method: str = "dis", preset: str = "medium"):
        if method != "dis":
            raise ValueError(f"unknown flow method {method}")
        self._dis = cv2.DISOpticalFlow_create(_DIS_PRESETS[preset])

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ga = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY)
        gb = cv2.cvtColor(b, cv2.COLOR_RGB2GRAY)
        return self._dis.calc(ga, gb, None).astype(np.float32)


def consistency_weights(flow_back: np.ndarray, flow_fwd: np.ndarray, smooth_sigma: float = 0.8) -> np.ndarray:
    """Reliability c ∈ [0, 1] (H×W float32) of ``flow_back`` (frame t → t−1) given ``flow_fwd`` (t−1 → t).

    As the reference's consistencyChecker: a pixel whose round trip t → t−1 → t misses,
    |ŵ + w̃|² ≥ 0.01(|ŵ|² + |w̃|²) + 0.5 with w̃ = w sampled at p + ŵ(p), or that leaves the frame,
    is disoccluded (−1 before smoothing, so the smoothing spreads zeros outward); a motion boundary,
    |∇û|² + |∇v̂|² > 0.01|ŵ|² + 0.002, gets 0; the rest 1. Then Gaussian smoothing and clipping to [0, 1].
    """
    h, w = flow_back.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    tx, ty = xs + flow_back[..., 0], ys + flow_back[..., 1]
    inside = (tx >= 0) & (tx <= w - 1) & (ty >= 0) & (ty <= h - 1)
    fwd_at = sample_bilinear(flow_fwd, tx, ty)
    round_trip = ((flow_back + fwd_at) ** 2).sum(-1)
    mag = (flow_back ** 2).sum(-1) + (fwd_at ** 2).sum(-1)
    occluded = ~inside | (round_trip >= 0.01 * mag + 0.5)
    du_dy, du_dx = np.gradient(flow_back[..., 0])
    dv_dy, dv_dx = np.gradient(flow_back[..., 1])
    grad = du_dx ** 2 + du_dy ** 2 + dv_dx ** 2 + dv_dy ** 2
    boundary = grad > 0.01 * (flow_back ** 2).sum(-1) + 0.002
    c = np.ones((h, w), np.float32)
    c[boundary] = 0.0
    c[occluded] = -1.0
    if smooth_sigma > 0:
        c = cv2.GaussianBlur(c, (0, 0), smooth_sigma, borderType=cv2.BORDER_REPLICATE)
    return np.clip(c, 0.0, 1.0)
