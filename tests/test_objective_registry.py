"""A new objective is one registry entry: a toy mean-colour objective, registered here and nowhere else,
renders a clip through the public pipeline (no style image: the entry says it needs none), and its own
fidelity measure reaches the report. Real packaged VGG19, 48×32 frames."""
import json

import numpy as np
import pytest
import torch

from videostyle.config import OptimConfig, OutputOptions, StylizeConfig
from videostyle.errors import ConfigError
from videostyle.method.objectives import OBJECTIVES, ObjectiveEntry, lookup, register, unregister
from videostyle.run.pipeline import stylize_video

from mediagen import make_sequence, texture

TARGET = torch.tensor([230.0, 30.0, 30.0]).view(1, 3, 1, 1)  # red


class MeanColour:
    """weight · mean((mean colour of the image − TARGET)²): reads no VGG feature."""

    def __init__(self, weight: float):
        self.weight = weight

    def __call__(self, features, image):
        return {"colour": self.weight * (image.mean(dim=(2, 3), keepdim=True) - TARGET).pow(2).mean()}


def colour_error(stylizer, image, content):
    return {"colour_error": float((image.mean(dim=(2, 3), keepdim=True) - TARGET).abs().mean())}


@pytest.fixture
def mean_colour():
    entry = register(ObjectiveEntry(
        "mean_colour", build=lambda st, content: MeanColour(1.0), layers=lambda c: {c.loss.content_layer},
        scales=lambda c: c.optim.scales, fidelity=colour_error, needs_style_images=False))
    try:
        yield entry
    finally:
        unregister("mean_colour")


def test_a_registered_objective_renders_through_the_pipeline(mean_colour, tmp_path):
    clip = make_sequence(tmp_path / "clip", 3, lambda i, w, h: texture(h, w, (3, 4), seed=i))
    config = StylizeConfig(objective="mean_colour", optim=OptimConfig(iterations_first=2, iterations_later=1),
                           max_side=32, device="cpu")
    report = stylize_video(clip, [], str(tmp_path / "out") + "/", config,
                           OutputOptions(report=str(tmp_path / "r.json")))
    frames = report["frames"]
    assert len(frames) == 3
    # The entry's own measure is what the report holds: no style distance, no dream energy.
    assert all("colour_error" in f and "style_distance" not in f for f in frames)
    assert json.loads((tmp_path / "r.json").read_text())["frames"][0]["colour_error"] == frames[0]["colour_error"]
    # It optimized for that objective: the first frame's colour moved toward the target.
    source = texture(32, 48, (3, 4), seed=0).astype(np.float64).mean(axis=(0, 1))
    before = float(np.abs(source - TARGET.view(3).numpy()).mean())
    assert frames[0]["colour_error"] < before


def test_unregistered_names_are_config_errors(mean_colour):
    assert lookup("mean_colour") is mean_colour
    with pytest.raises(ValueError, match="already registered"):
        register(mean_colour)
    unregister("mean_colour")
    assert "mean_colour" not in OBJECTIVES
    with pytest.raises(ConfigError, match="objective must be one of style, dream"):
        lookup("mean_colour")
