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
