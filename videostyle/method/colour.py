"""Colour preservation: keep the source frame's colours, take the stylized luminance.

Done in YCrCb (BT.601, as OpenCV defines it) after optimization, like neural-style's -original_colors:
the optimization and the temporal state are unchanged, only the written frames are recoloured.
"""
from __future__ import annotations

import cv2
import numpy as np


def preserve_colors(stylized: np.ndarray, source: np.ndarray) -> np.ndarray:
    """Y of ``stylized`` with Cr, Cb of ``source``: H×W×3 RGB of the same size, 0–255 (any dtype).
    Returns float32 0–255, not clipped, so 16-bit outputs keep their precision."""
    # OpenCV's float conversion expects 0–1.
    y = cv2.cvtColor(np.asarray(stylized, np.float32) / 255.0, cv2.COLOR_RGB2YCrCb)[..., :1]
    crcb = cv2.cvtColor(np.asarray(source, np.float32) / 255.0, cv2.COLOR_RGB2YCrCb)[..., 1:]
    return cv2.cvtColor(np.concatenate([y, crcb], -1), cv2.COLOR_YCrCb2RGB) * 255.0
