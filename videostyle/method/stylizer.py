"""The network and the objective's targets, set up once per run and shared by every frame and driver."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..config import StylizeConfig
from .device import resolve_device, to_tensor
from ..errors import ConfigError
from .features import VGGFeatures, load_vgg
from .objectives import Objective, lookup, style_grams
from ..io.resize import resize_rgb


@dataclass
class Stylizer:
    """VGG19 on its device plus the style images (none for a dream); Gram targets are computed once per
    size and kept. Builds each frame's objective (``objective``) and the sizes it is solved at (``scales``)."""
    config: StylizeConfig
    model: VGGFeatures
    device: torch.device
    styles: list[np.ndarray]
    blend: list[float]

    @classmethod
    def create(cls, config: StylizeConfig, styles: list[np.ndarray]) -> "Stylizer":
        entry = lookup(config.objective)
        blend = list(config.style_blend) if config.style_blend else [1.0] * len(styles)
        if entry.needs_style_images:
            if not styles:
                raise ConfigError("at least one --style image is needed")
            if len(blend) != len(styles):
                raise ConfigError(f"--style-blend has {len(blend)} weights for {len(styles)} style images")
            if any(b < 0 for b in blend) or sum(blend) <= 0:
                raise ConfigError("--style-blend weights must be non-negative and not all zero")
        # the content layer always: the report's content distance
        layers = sorted({config.loss.content_layer, *entry.layers(config)})
        device = resolve_device(config.device)
        model = load_vgg(layers, config.weights, config.weights_format, device)
        bf16 = config.precision == "bf16" or (config.precision == "auto" and device.type == "cuda")
        model.set_precision(torch.bfloat16 if bf16 else None)
        if device.type == "cuda":
            model = model.to(memory_format=torch.channels_last)  # faster cuDNN convolutions
        if config.compile:
            model.compile_network()
        return cls(config, model, device, styles, blend)

    def __post_init__(self):
        self._grams: dict[int, dict[str, torch.Tensor]] = {}

    def grams_for(self, frame_long_side: int) -> dict[str, torch.Tensor]:
        """Blended Gram targets for frames whose longer side is ``frame_long_side`` pixels: each style
        image is resized so its longer side is ``style_scale`` × that (as neural-style's -style_scale)."""
        if frame_long_side not in self._grams:
            side = max(16, round(self.config.style_scale * frame_long_side))
            tensors = []
            for s in self.styles:
                h, w = s.shape[:2]
                k = side / max(h, w)
                tensors.append(to_tensor(resize_rgb(s, (max(16, round(w * k)), max(16, round(h * k)))), self.device))
            self._grams[frame_long_side] = style_grams(self.model, tensors, self.blend, self.config.loss.style_layers)
        return self._grams[frame_long_side]

    @property
    def entry(self):
        """The registered objective this run optimizes for (objectives.OBJECTIVES)."""
        return lookup(self.config.objective)

    @property
    def scales(self) -> tuple[float, ...]:
        """Fractions of the processing size a frame is solved at in turn: a dream's octaves, else --scales."""
        return self.entry.scales(self.config)

    def objective(self, content: torch.Tensor) -> Objective:
        """The objective for one frame ``content`` (``[1,3,H,W]``, 0–255) at its size."""
        return self.entry.build(self, content)

    @torch.no_grad()
    def fidelity(self, image: torch.Tensor, content: torch.Tensor) -> dict[str, float]:
        """The report's per-frame measures of a result against its source frame (``[1,3,H,W]``, 0–255):
        content distance, and the style distance or, for a dream, the layer's mean squared activation
        of result and source (``dream_energy``, ``source_dream_energy``); the entry's ``fidelity``."""
        return self.entry.fidelity(self, image, content)
