"""Temporal targets and warm starts from already stylized neighbours (Ruder et al. Sec. 3.1–3.2).

numpy in, numpy out: images H×W×3 float32 in 0–255, weights H×W float32 in [0, 1].
"""
from __future__ import annotations

import numpy as np



def long_term_weights(weights: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
    """Ruder et al. eq. 8: c_long(t−j) = max(c(t−j) − Σ_{k∈J, k<j} c(t−k), 0), so each pixel follows the
    closest earlier frame in which it was visible. ``weights``: offset j → c(t−j), H×W in [0, 1]."""
    out, covered = {}, None
    for j in sorted(weights):
        c = weights[j]
        out[j] = c if covered is None else np.maximum(c - covered, 0.0)
        covered = c.copy() if covered is None else covered + c
    return out


def init_image(kind: str, content: np.ndarray, warped: np.ndarray | None, weight: np.ndarray | None,
               rng: np.random.Generator) -> np.ndarray:
    """Starting image of the optimization.

    'prevwarped': the warped previous result where it is reliable, the content frame where it is not
    (blended by c, so disocclusions start from the frame rather than from smeared paint);
    'warped': the warped previous result everywhere (the paper's prevWarped; the chunked draft's start);
    'image': the content frame; 'random': the frame's mean colour plus Gaussian noise (σ = 16).
    """
    if kind == "prevwarped" and warped is not None:
        c = weight[..., None]
        return (c * warped + (1.0 - c) * content).astype(np.float32)
    if kind == "warped" and warped is not None:
        return warped.astype(np.float32)
    if kind == "random":
        mean = content.reshape(-1, 3).mean(0)
        return (mean + 16.0 * rng.standard_normal(content.shape)).astype(np.float32)
    return content.astype(np.float32)
