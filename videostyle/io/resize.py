"""Frame sizes and resizing (OpenCV and numpy only, so the flow and media tools need no torch)."""
from __future__ import annotations

import cv2
import numpy as np


def processing_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """(W, H) with the longer side = ``max_side`` (never enlarged), aspect kept, each side ≥ 16."""
    scale = min(1.0, max_side / max(width, height))
    return max(16, round(width * scale)), max(16, round(height * scale))


def display_size(width: int, height: int, pixel_aspect) -> tuple[int, int]:
    """(W, H) at which a picture of ``width`` × ``height`` pixels, each ``pixel_aspect`` times as wide as
    tall, is seen with square pixels: the wide side stretched (never a stored pixel lost), so 1440×1080 at
    4/3 gives 1920×1080 and 720×480 at 10/11 gives 720×528."""
    if pixel_aspect == 1:
        return width, height
    if pixel_aspect > 1:
        return max(1, round(width * pixel_aspect)), height
    return width, max(1, round(height / pixel_aspect))


def resize_rgb(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize H×W×3 to ``size`` = (W, H): area averaging when shrinking, bicubic when enlarging."""
    if (image.shape[1], image.shape[0]) == tuple(size):
        return image
    shrink = size[0] < image.shape[1]
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)


def resize_alpha(alpha: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """An alpha plane (H×W, any dtype) at ``size``, in its own dtype; unchanged (exact) at its own size."""
    if (alpha.shape[1], alpha.shape[0]) == tuple(size):
        return alpha
    shrink = size[0] < alpha.shape[1]
    out = cv2.resize(alpha.astype(np.float32), size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    if alpha.dtype.kind == "u":
        return np.clip(np.rint(out), 0, np.iinfo(alpha.dtype).max).astype(alpha.dtype)
    return np.clip(out, 0.0, 1.0).astype(alpha.dtype)
