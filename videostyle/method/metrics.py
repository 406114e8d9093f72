"""Quality measures: temporal warping error (stability) and content / style distances (fidelity).

A frozen or washed-out video has almost no warping error, so stability is only meaningful next to
the fidelity measures.
"""
from __future__ import annotations

import numpy as np
import torch

from .features import VGGFeatures
from .losses import gram
from ..flow.warp import warp


# Said in every report that carries the measure, so that a figure is read against the right scale.
WARPING_ERROR_DEFINITION = (
    "Ruder et al. 2016 (Sec. 6) normalization: squared RGB difference in [0,1] between a frame and the "
    "earlier one warped by the source's flow, averaged over the 3 channels (1/D, D = width*height*channels) "
    "and over pixels weighted by the flow's consistency c; in [0, 1]")


def warping_error(current: np.ndarray, previous: np.ndarray, flow_back: np.ndarray, weight: np.ndarray) -> float:
    """Σ c·(S_t − warp(S_{t−1}))² / (3·Σ c) over RGB in [0,1]: the paper's per-channel normalization
    (comparable with its tables; before, the sum over channels made it three times larger). Inputs H×W×3
    in 0–255, flow t → t−1 and c computed from the *source* frames. Result in [0, 1]."""
    diff = current.astype(np.float32) / 255.0 - warp(previous.astype(np.float32), flow_back) / 255.0
    return float((weight * (diff ** 2).mean(-1)).sum() / max(weight.sum(), 1e-8))


@torch.no_grad()
def fidelity(model: VGGFeatures, image: torch.Tensor, content: torch.Tensor,
             style_grams: dict[str, torch.Tensor], content_layer: str) -> dict[str, float]:
    """``content_distance`` = ‖F(S) − F(C)‖² / ‖F(C)‖² at the content layer; ``style_distance`` = mean
    over style layers of ‖G(S) − G_style‖² / ‖G_style‖². Images ``[1,3,H,W]`` in 0–255."""
    fs, fc = model(image.clamp(0, 255)), model(content)
    cd = ((fs[content_layer] - fc[content_layer]) ** 2).sum() / (fc[content_layer] ** 2).sum()
    sd = [((gram(fs[n]) - g) ** 2).sum() / (g ** 2).sum() for n, g in style_grams.items()]
    return {"content_distance": float(cd), "style_distance": float(sum(sd) / len(sd))}
