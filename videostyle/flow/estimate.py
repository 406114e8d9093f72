"""Optical flow and the forward–backward consistency weights of Ruder et al. (Sec. 3.1).

OpenCV only; numpy in, numpy out. Backends (FLOW_METHODS): DIS, Farneback, and DeepFlow and TV-L1 from
cv2.optflow (opencv-contrib). Flow convention (everywhere in videostyle): ``flow(a, b)`` is
H×W×2 float32 in pixels, (u, v) = (x, y) displacement, such that pixel p of ``a`` corresponds to
p + flow[p] in ``b``.
"""
from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

from ..errors import ConfigError
from .warp import sample

FLOW_METHODS = ("dis", "farneback", "deepflow", "tvl1", "deepflow+dis")

_DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


class _Farneback:
    """cv2.calcOpticalFlowFarneback behind the ``calc(a, b, flow)`` interface of the other backends.

    Pyramid 0.5 × 5 levels reaches motions of tens of pixels at video sizes; a 15-px window with
    poly_n 5 / sigma 1.2 is OpenCV's recommended robust setting for natural footage.
    """

    def calc(self, a: np.ndarray, b: np.ndarray, flow: np.ndarray | None) -> np.ndarray:
        return cv2.calcOpticalFlowFarneback(a, b, flow, 0.5, 5, 15, 3, 5, 1.2, 0)


def _dis(preset: str):
    if preset not in _DIS_PRESETS:
        raise ConfigError(f"DIS flow preset must be one of {', '.join(_DIS_PRESETS)}, got {preset!r}")
    return cv2.DISOpticalFlow_create(_DIS_PRESETS[preset])


def _contrib(method: str, factory: str) -> Callable[[str], object]:
    """Constructor of a cv2.optflow backend; the lookup happens at construction so that a plain
    opencv-python install still imports this module and fails only when the backend is asked for."""
    def make(preset: str):
        ctor = getattr(getattr(cv2, "optflow", None), factory, None)
        if ctor is None:
            raise ConfigError(f"flow method {method!r} needs cv2.optflow.{factory}, which this OpenCV lacks; "
                              f"it is provided by opencv-contrib-python-headless")
        return ctor()
    return make


class _Guarded:
    """DeepFlow, and DIS's flow wherever the two differ by more than ``TOLERANCE`` px and DIS's brings the
    other picture onto this one much more closely (the brightness residual, smoothed over a few pixels).

    OpenCV's DeepFlow is the variational refinement without DeepMatching: on motion its coarsest level
    does not reach (a weakly textured card crossing the frame 8 px a frame at 96 px, 21 at 256) it
    returns nearly zero motion, and its forward and backward flows agree on that, so the consistency
    check passes it and the paint stays behind while the object moves on. DIS's patch search finds such
    motion, but it also spreads it a few pixels into the still picture around, where DeepFlow is right:
    hence a choice per pixel by which flow explains the picture, not DIS wherever the two differ. Where
    the picture moves little DeepFlow is about 2× more exact than DIS (docs/performance.md, "DeepFlow
    guarded by DIS")."""

    # DIS only where the two are far apart and DIS's flow explains the picture at least twice as well:
    # on real footage DIS's flow fits the grain, and a fair contest (1 px, any better residual) gave DIS
    # 7–10 % of a hand-held shot at 256 px and lost DeepFlow's steadiness there; these thresholds switch
    # 0–0.4 % of it, and the whole of a card moving 8 px a frame at 96 px.
    TOLERANCE = 3.0
    BETTER = 0.5
    SMOOTH = 2.0  # σ (px) of the residual's smoothing: one pixel's noise does not decide

    def __init__(self, preset: str):
        self._dis, self._deep = _dis(preset), _contrib("deepflow+dis", "createOptFlow_DeepFlow")(preset)

    def calc(self, a: np.ndarray, b: np.ndarray, flow: np.ndarray | None) -> np.ndarray:
        coarse, fine = self._dis.calc(a, b, None), self._deep.calc(a, b, None)
        apart = np.linalg.norm(fine - coarse, axis=-1) > self.TOLERANCE
        if apart.any():
            ga, gb = a.astype(np.float32), b.astype(np.float32)
            h, w = ga.shape
            ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)

            def residual(f: np.ndarray) -> np.ndarray:
                moved = cv2.remap(gb, xs + f[..., 0], ys + f[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                return cv2.GaussianBlur(np.abs(moved - ga), (0, 0), self.SMOOTH)

            use = apart & (residual(coarse) < self.BETTER * residual(fine))
            fine[use] = coarse[use]
        return fine


# method → constructor(preset) of an object with calc(gray_a, gray_b, None) → flow a→b.
# The preset applies to DIS only (also DIS's part of deepflow+dis); the other backends run at fixed settings.
_BACKENDS: dict[str, Callable[[str], object]] = {
    "dis": _dis,
    "farneback": lambda preset: _Farneback(),
    "deepflow": _contrib("deepflow", "createOptFlow_DeepFlow"),
    "tvl1": _contrib("tvl1", "DualTVL1OpticalFlow_create"),
    "deepflow+dis": _Guarded,
}
assert tuple(_BACKENDS) == FLOW_METHODS


# OpenCV's DeepFlow on frames whose shorter side is below this is less exact than DIS (its pyramid has
# too few levels: a 1-px pan at 48×27 comes out 0.7–1.1 px off, DIS 0.04–0.10; at 64×36 the two are
# about even; at 96×54 DeepFlow is about twice as exact). scripts/flow_accuracy.py.
DEEPFLOW_FROM = 50


def choose_flow(method: str, device_type: str = "cpu", local: bool = True, size: tuple[int, int] | None = None) -> str:
    """The flow a render uses for ``--flow method``: the method itself, or for "auto" DeepFlow guarded by
    DIS where this machine's CPU renders (``device_type`` "cpu", ``local``) frames of ``size`` (W, H) with
    both sides at least DEEPFLOW_FROM; DIS where a GPU or a cluster renders (DeepFlow runs on the CPU
    only: 3 s a pair at 720p, more than a GPU's whole frame, and a cluster's driver would compute every
    frame's flows for many workers), on smaller frames, or where this OpenCV lacks cv2.optflow."""
    if method != "auto":
        return method
    contrib = hasattr(getattr(cv2, "optflow", None), "createOptFlow_DeepFlow")
    large = size is None or min(size) >= DEEPFLOW_FROM
    return "deepflow+dis" if device_type == "cpu" and local and contrib and large else "dis"


class _Auto:
    """``FlowEstimator("auto")`` outside a render (``videostyle flow``, scripts): ``choose_flow`` for this
    machine's CPU, by each pair's size."""

    def __init__(self, preset: str):
        self._preset, self._made = preset, {}

    def calc(self, a: np.ndarray, b: np.ndarray, flow: np.ndarray | None) -> np.ndarray:
        method = choose_flow("auto", size=(a.shape[1], a.shape[0]))
        if method not in self._made:
            self._made[method] = _BACKENDS[method](self._preset)
        return self._made[method].calc(a, b, flow)


def _gray(image: np.ndarray) -> np.ndarray:
    if image.dtype != np.uint8:  # deep frames (float 0–255): the backends take 8-bit pictures
        image = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


class FlowEstimator:
    """``estimator(a, b)`` → flow a→b: H×W×2 float32, pixels, (u, v) = (x, y), so that pixel p of ``a``
    corresponds to p + flow[p] in ``b``. ``a`` and ``b``: RGB (H×W×3) or gray (H×W) uint8 of equal size.

    ``method``: one of FLOW_METHODS, or "auto" (``choose_flow`` for this machine's CPU, by the frames'
    size); ``preset`` (DIS only, ignored otherwise): ultrafast, fast, medium.
    Raises ConfigError for an unknown method or preset, or a backend this OpenCV build lacks.
    """

    def __init__(self, method: str = "dis", preset: str = "medium"):
        if method not in _BACKENDS and method != "auto":
            raise ConfigError(f"flow method must be one of {', '.join(FLOW_METHODS)}, got {method!r}")
        self.method = method
        if method == "auto":  # outside a render: what a render on this machine's CPU would use
            _dis(preset)      # an unknown preset is an error here, not at the first pair
            self._backend = _Auto(preset)
        else:
            self._backend = _BACKENDS[method](preset)

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if a.shape[:2] != b.shape[:2]:
            raise ValueError(f"flow needs frames of one size, got {a.shape[1]}x{a.shape[0]} and {b.shape[1]}x{b.shape[0]}")
        flow = self._backend.calc(_gray(a), _gray(b), None)
        return np.ascontiguousarray(flow, dtype=np.float32)


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
    fwd_at = sample(flow_fwd, tx, ty)
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
