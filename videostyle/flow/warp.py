"""The one place the flow convention is applied: backward warping with bilinear sampling.

``warp(image, flow)`` with ``flow`` = flow t → t−1 (see ``estimate.py``) brings an image of frame t−1 into
frame t: out[p] = image[p + flow[p]]. Pixels whose source lies outside the frame take ``fill``
(by default the nearest edge value; the consistency weights mark them unreliable anyway).
"""
from __future__ import annotations

import cv2
import numpy as np


# How a stylized frame is resampled when it is carried into the next one. Bilinear sampling averages
# neighbours: at a half-pixel shift it is a [½, ½] blur, and a shot chains one warp per frame, so the
# strokes soften along it. Bicubic and Lanczos keep more of the detail (and may overshoot: clipped).
RESAMPLING = {"bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC, "lanczos": cv2.INTER_LANCZOS4}


def sample(image: np.ndarray, x: np.ndarray, y: np.ndarray, resampling: str = "bilinear") -> np.ndarray:
    """image[y, x] interpolated (a RESAMPLING name) at float coordinates (H×W maps); edges replicated."""
    return cv2.remap(image, x.astype(np.float32), y.astype(np.float32), RESAMPLING[resampling],
                     borderMode=cv2.BORDER_REPLICATE)


def warp(image: np.ndarray, flow: np.ndarray, resampling: str = "bilinear") -> np.ndarray:
    """Backward-warp ``image`` (H×W×C float32 or uint8) by ``flow`` (H×W×2, target → source, pixels),
    sampled by ``resampling`` (a RESAMPLING name; values outside the input's range clipped to it)."""
    h, w = flow.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    out = sample(image, xs + flow[..., 0], ys + flow[..., 1], resampling)
    if resampling != "bilinear" and out.dtype.kind == "f":
        out = np.clip(out, 0.0, 255.0)
    return out


def uncovered(forward: np.ndarray, below: float = 0.5) -> np.ndarray:
    """Where frame t shows picture that frame t−1 did not: H×W bool, True where less than ``below`` of a
    pixel's worth of frame t−1 lands when every pixel of t−1 is moved by ``forward`` (flow t−1 → t,
    H×W×2, pixels) and splatted bilinearly. A pixel that something moved off (the scene behind a passing
    card, picture entering at an edge) receives nothing; one under a smooth motion receives about 1.

    The consistency weights cannot tell this apart from a motion boundary or a textureless wall where
    the two flows merely disagree: there the warped paint is still the right paint, here it is paint
    dragged in from whatever moved away."""
    h, w = forward.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    x, y = xs + forward[..., 0], ys + forward[..., 1]
    x0, y0 = np.floor(x), np.floor(y)
    fx, fy = x - x0, y - y0
    cover = np.zeros(h * w, np.float64)
    for dx, dy, share in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        tx, ty = (x0 + dx).astype(np.int64), (y0 + dy).astype(np.int64)
        within = (tx >= 0) & (tx < w) & (ty >= 0) & (ty < h)
        np.add.at(cover, ty[within] * w + tx[within], share[within])
    return cover.reshape(h, w) < below


def inside(backward: np.ndarray, margin: float = 0.5) -> np.ndarray:
    """H×W bool: True where ``backward`` (flow t → t−1, H×W×2, pixels) points inside frame t−1 (less
    than ``margin`` beyond its outermost pixel centres). Picture that enters at an edge points outside."""
    h, w = backward.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    x, y = xs + backward[..., 0], ys + backward[..., 1]
    return (x >= -margin) & (x <= w - 1 + margin) & (y >= -margin) & (y <= h - 1 + margin)


def compose(flow: np.ndarray, weight: np.ndarray, then_flow: np.ndarray,
            then_weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two flows one after the other, as one: ``flow`` takes frame a to frame b (pixel p of a is at
    p + flow[p] in b), ``then_flow`` frame b to frame c; the result takes a to c, and its reliability is
    the product of the two's along the path (0 where the path leaves b). Paint moved by the result is
    resampled once, and lands where moving it step by step would put it."""
    h, w = flow.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    x, y = xs + flow[..., 0], ys + flow[..., 1]
    moved = flow + cv2.remap(then_flow, x, y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    carried = cv2.remap(then_weight.astype(np.float32), x, y, cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return moved.astype(np.float32), (weight * carried).astype(np.float32)
