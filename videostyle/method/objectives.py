"""What a frame is optimized for: an objective maps the image's VGG features (and the image) to named,
weighted loss terms. The optimizer (``optimize.stylize_frame``) adds total variation and the temporal
terms to any objective, so a new kind of result is a new objective, not a new optimizer.

- ``StyleObjective``: Gatys et al.'s content + Gram style (the stylize command).
- ``DreamObjective``: DeepDream's layer energy (Mordvintsev et al. 2015), the dream command.

``OBJECTIVES`` maps the name a config gives (``StylizeConfig.objective``) to an ``ObjectiveEntry``:
the objective's constructor plus what the stylizer and the planner need to know about it (the VGG
layers it reads, whether style images are needed, the sizes a frame is solved at, the report's
fidelity measures). A new objective is one ``register`` call; nothing else compares names.

Images are RGB ``[1,3,H,W]`` float in 0–255; features are the ``VGGFeatures`` dict of ``[1,C,h,w]``
activations. Targets are computed once, at construction, without gradients.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol

import torch

from ..config import LossConfig, StylizeConfig
from ..errors import ConfigError
from .features import VGGFeatures
from .losses import content_loss, gram, style_loss
from .metrics import fidelity as style_fidelity


class Objective(Protocol):
    def __call__(self, features: dict[str, torch.Tensor], image: torch.Tensor) -> dict[str, torch.Tensor]:
        """Weighted terms (scalar tensors) whose sum is minimized; 'total' is added by the optimizer."""


@torch.no_grad()
def style_grams(model: VGGFeatures, styles: list[torch.Tensor], blend: list[float],
                layers: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """Blended Gram targets Σ_k b_k G(style_k) per layer, computed once per style set and size."""
    total = sum(blend)
    grams = {name: 0 for name in layers}
    for image, b in zip(styles, blend):
        feats = model(image)
        for name in layers:
            grams[name] = grams[name] + gram(feats[name]) * (b / total)
    return grams


class StyleObjective:
    """content_weight·MSE(F(x), F(content)) at the content layer + style_weight·Σ MSE(G(x), G_style)."""

    def __init__(self, model: VGGFeatures, content: torch.Tensor, style_grams: dict[str, torch.Tensor],
                 weights: LossConfig):
        self.style_grams, self.w = style_grams, weights
        with torch.no_grad():
            self.content_target = model(content)[weights.content_layer]

    def __call__(self, features: dict[str, torch.Tensor], image: torch.Tensor) -> dict[str, torch.Tensor]:
        w = self.w
        return {"content": w.content_weight * content_loss(features[w.content_layer], self.content_target),
                "style": w.style_weight * style_loss(features, self.style_grams)}


class DreamObjective:
    """DeepDream: gradient ascent on the L2 energy E = mean(a²) of ``layer``'s activations a, as
    −weight · log(E(x) / E(content)) plus anchor · mean((x − content)²).

    Departures from DeepDream (which climbs E itself and is bounded only by stopping early), so that
    every frame converges to a dream *of that frame*, whatever the iteration count or warm start:
    - the log: E grows with the square of the image's contrast without bound; its log grows so slowly
      that TV and the anchor bound the objective below. Relative to the source frame's energy, the same
      weight means the same at every layer and octave size, and the term is 0 at the source;
    - the anchor: a weak pull toward the source frame. Without it a warm start from the previous dream
      would keep dreaming further frame after frame, and the video would stop following its source.
    """

    def __init__(self, model: VGGFeatures, content: torch.Tensor, layer: str, weight: float, anchor: float = 0.0):
        self.layer, self.weight, self.anchor = layer, weight, anchor
        self.content = content.detach()
        with torch.no_grad():
            self.source_energy = energy(model(content)[layer]).clamp_min(1e-12)  # a black frame

    def __call__(self, features: dict[str, torch.Tensor], image: torch.Tensor) -> dict[str, torch.Tensor]:
        terms = {"dream": -self.weight * torch.log(energy(features[self.layer]) / self.source_energy)}
        if self.anchor > 0:
            terms["anchor"] = self.anchor * (image - self.content).pow(2).mean()
        return terms


def energy(activations: torch.Tensor) -> torch.Tensor:
    """Mean squared activation (the L2 energy per value) of a ``[N,C,h,w]`` layer output."""
    return activations.pow(2).mean()


# The functions of an entry take the ``Stylizer`` (method/stylizer.py; typed Any: it imports this module)
# for its model, config and cached Gram targets.
@dataclass(frozen=True)
class ObjectiveEntry:
    """One registered objective. ``build(stylizer, content)``: the objective of one frame (``[1,3,H,W]``,
    0–255) at its size. ``layers(config)``: the VGG layers it reads; the content layer is loaded for
    every objective (the report's content distance). ``scales(config)``: fractions of the processing
    size a frame is solved at in turn, ending with 1. ``fidelity(stylizer, image, content)``: the
    report's per-frame measures of a result against its source frame. ``needs_style_images``: a run
    without a style image is refused (and, when true, --style-blend is checked against them)."""
    name: str
    build: Callable[[Any, torch.Tensor], Objective]
    layers: Callable[[StylizeConfig], set[str]]
    scales: Callable[[StylizeConfig], tuple[float, ...]]
    fidelity: Callable[[Any, torch.Tensor, torch.Tensor], dict[str, float]]
    needs_style_images: bool


OBJECTIVES: dict[str, ObjectiveEntry] = {}


def register(entry: ObjectiveEntry) -> ObjectiveEntry:
    """Add ``entry`` under its name; a name already taken is a ValueError (a second registration
    would silently change what existing configs render)."""
    if entry.name in OBJECTIVES:
        raise ValueError(f"objective {entry.name!r} is already registered")
    OBJECTIVES[entry.name] = entry
    return entry


def unregister(name: str) -> None:
    OBJECTIVES.pop(name, None)


def lookup(name: str) -> ObjectiveEntry:
    """The entry registered as ``name``; ConfigError (one line) for an unknown name."""
    try:
        return OBJECTIVES[name]
    except KeyError:
        raise ConfigError(f"objective must be one of {', '.join(OBJECTIVES)}, got {name!r}") from None


def _style_fidelity(stylizer, image: torch.Tensor, content: torch.Tensor) -> dict[str, float]:
    return style_fidelity(stylizer.model, image, content, stylizer.grams_for(max(content.shape[-2:])),
                          stylizer.config.loss.content_layer)


def _dream_fidelity(stylizer, image: torch.Tensor, content: torch.Tensor) -> dict[str, float]:
    """Content distance, and the dream layer's mean squared activation of result and source."""
    layer, d = stylizer.config.loss.content_layer, stylizer.config.dream.layer
    fs, fc = stylizer.model(image.clamp(0, 255)), stylizer.model(content)
    return {"content_distance": float(((fs[layer] - fc[layer]) ** 2).sum() / (fc[layer] ** 2).sum()),
            "dream_energy": float(energy(fs[d])), "source_dream_energy": float(energy(fc[d]))}


register(ObjectiveEntry(
    "style",
    build=lambda st, content: StyleObjective(st.model, content, st.grams_for(max(content.shape[-2:])),
                                             st.config.loss),
    layers=lambda c: {c.loss.content_layer, *c.loss.style_layers},
    scales=lambda c: c.optim.scales,
    fidelity=_style_fidelity,
    needs_style_images=True))

register(ObjectiveEntry(
    "dream",
    build=lambda st, content: DreamObjective(st.model, content, st.config.dream.layer, st.config.dream.weight,
                                             st.config.dream.anchor),
    layers=lambda c: {c.loss.content_layer, c.dream.layer},
    scales=lambda c: c.dream.scales,  # the octaves
    fidelity=_dream_fidelity,
    needs_style_images=False))
