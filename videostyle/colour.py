"""Colour preservation: keep the source frame's colours, take the stylized luminance.

Done in YCrCb (BT.601, as OpenCV defines it) after optimization, like neural-style's -original_colors:
the optimization and the temporal state are unchanged, only the written frames are recoloured.
"""
from __future__ import annotations

import cv2
import numpy as np


def preserve_colors(stylized: np.ndarray, source: np.ndarray) -> np.ndarray:
    """Y of ``stylized`` with Cr, Cb of ``source``: H×W×3 RGB of the same size, 0–255 (uint8 or float).
    Float in, float32 out (0–255, not clipped), so 16-bit outputs keep their precision; uint8 in, uint8 out."""
    if stylized.dtype == np.uint8 and source.dtype == np.uint8:
        y = cv2.cvtColor(stylized, cv2.COLOR_RGB2YCrCb)[..., :1]
        crcb = cv2.cvtColor(source, cv2.COLOR_RGB2YCrCb)[..., 1:]
        return cv2.cvtColor(np.concatenate([y, crcb], -1), cv2.COLOR_YCrCb2RGB)
    # OpenCV's float conversion expects 0–1.
    y = cv2.cvtColor(np.asarray(stylized, np.float32) / 255.0, cv2.COLOR_RGB2YCrCb)[..., :1]
    crcb = cv2.cvtColor(np.asarray(source, np.float32) / 255.0, cv2.COLOR_RGB2YCrCb)[..., 1:]
    return cv2.cvtColor(np.concatenate([y, crcb], -1), cv2.COLOR_YCrCb2RGB) * 255.0
