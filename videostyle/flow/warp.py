"""The one place the flow convention is applied: backward warping with bilinear sampling.

``warp(image, flow)`` with ``flow`` = flow t → t−1 (see ``estimate.py``) brings an image of frame t−1 into
frame t: out[p] = image[p + flow[p]]. Pixels whose source lies outside the frame take ``fill``
(by default the nearest edge value; the consistency weights mark them unreliable anyway).
"""
from __future__ import annotations

import cv2
import numpy as np


def sample_bilinear(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """image[y, x] with bilinear interpolation at float coordinates (H×W maps); edges replicated."""
    return cv2.remap(image, x.astype(np.float32), y.astype(np.float32), cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Backward-warp ``image`` (H×W×C float32 or uint8) by ``flow`` (H×W×2, target → source, pixels)."""
    h, w = flow.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return sample_bilinear(image, xs + flow[..., 0], ys + flow[..., 1])
