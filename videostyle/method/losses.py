"""Loss terms of Gatys et al. and Ruder et al., normalized as in the reference (neural-style /
artistic-videos) so that its weights (content 5, style 1e2, temporal 1e3, TV 1e-3) keep their meaning.

All images are RGB ``[1,3,H,W]`` float in 0–255; targets are fixed at construction, without gradients.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def gram(features: torch.Tensor) -> torch.Tensor:
    """``[1,C,H,W]`` activations → ``[C,C]`` Gram matrix divided by C·H·W (neural-style's normalization)."""
    _, c, h, w = features.shape
    f = features.reshape(c, h * w)
    return (f @ f.t()) / (c * h * w)


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of activations (relu4_2)."""
    return F.mse_loss(features, target)


def style_loss(features: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> torch.Tensor:
    """Sum over style layers of the mean squared difference of Gram matrices."""
    return sum(F.mse_loss(gram(features[name]), g) for name, g in targets.items())


def tv_loss(image: torch.Tensor) -> torch.Tensor:
    """Squared-difference total variation, summed (neural-style's TVLoss), on 0–255 pixels."""
    dx = image[..., :, 1:] - image[..., :, :-1]
    dy = image[..., 1:, :] - image[..., :-1, :]
    return 0.5 * (dx.pow(2).sum() + dy.pow(2).sum())


def temporal_loss(image: torch.Tensor, warped: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Ruder et al. eq. 7: (1/D) Σ c·(x − ω(x_prev))², D = number of image values (3·H·W).

    ``weight`` is ``[1,1,H,W]`` in [0,1] (the consistency weights c); ``warped`` is ``[1,3,H,W]``.
    """
    return (weight * (image - warped).pow(2)).sum() / image.numel()
