"""Device choice and tensor ⇄ numpy image conversion."""
from __future__ import annotations

import numpy as np
import torch

from ..errors import ConfigError


def resolve_device(name: str) -> torch.device:
    """'auto' → CUDA, then MPS, then CPU; an explicit device that is absent is an error, not a fallback."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("--device cuda asked for, but PyTorch sees no CUDA device")
    if name == "mps" and not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
        raise ConfigError("--device mps asked for, but MPS is not available")
    return torch.device(name)


def to_tensor(image: np.ndarray, device: torch.device) -> torch.Tensor:
    """H×W×3 (uint8 or float 0–255) → ``[1,3,H,W]`` float32 0–255."""
    return torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).permute(2, 0, 1)[None].contiguous().to(device)


def to_numpy(image: torch.Tensor) -> np.ndarray:
    """``[1,3,H,W]`` → H×W×3 float32 0–255 (not clamped)."""
    return image.detach()[0].permute(1, 2, 0).float().cpu().numpy()
