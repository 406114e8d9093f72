"""The objective seam: content + Gram style gives exactly the loss the optimizer computed before the seam
existed; DeepDream's layer energy goes up under the optimizer. Real packaged VGG19 at 32×48."""
import numpy as np
import pytest
import torch

from videostyle.config import DreamConfig, LossConfig, OptimConfig, StylizeConfig
from videostyle.method.device import to_tensor
from videostyle.errors import ConfigError
from videostyle.method.losses import content_loss, style_loss, temporal_loss, tv_loss
from videostyle.method.objectives import DreamObjective, StyleObjective, energy
from videostyle.method.optimize import FrameProblem, TemporalTarget, frame_terms, stylize_frame
from videostyle.method.stylizer import Stylizer

from mediagen import texture


@pytest.fixture(scope="module")
def styled():
    style = np.random.default_rng(0).uniform(0, 255, (40, 40, 3)).astype(np.uint8)
    return Stylizer.create(StylizeConfig(device="cpu"), [style])


@pytest.fixture(scope="module")
def dreamer():
    return Stylizer.create(StylizeConfig(device="cpu", objective="dream"), [])


def content_image():
    return to_tensor(texture(32, 48, (4, 6), 1), torch.device("cpu"))


def test_style_objective_equals_the_frame_loss_it_replaced(styled):
    # The formula of the former optimize.FrameLoss, written out: content, style, TV, temporal, summed in
    # that order. The seam must give the same numbers bit for bit (single-pass results unchanged).
    model, w = styled.model, LossConfig()
    content = content_image()
    image = content + 20 * torch.randn(1, 3, 32, 48, generator=torch.Generator().manual_seed(1))
    c = torch.rand(1, 1, 32, 48, generator=torch.Generator().manual_seed(2))
    temporal = (TemporalTarget(content.flip(-1), c), TemporalTarget(content, 1 - c))
    grams = styled.grams_for(48)
    with torch.no_grad():
        target = model(content)[w.content_layer]
    feats = model(image)
    old = {"content": w.content_weight * content_loss(feats[w.content_layer], target),
           "style": w.style_weight * style_loss(feats, grams),
           "tv": w.tv_weight * tv_loss(image),
           "temporal": w.temporal_weight * sum(temporal_loss(image, t.warped, t.weight) for t in temporal)}
    old["total"] = sum(old.values())
    new = frame_terms(model, FrameProblem(StyleObjective(model, content, grams, w), temporal), w, image)
    assert list(new) == list(old)
    for name in old:
        assert torch.equal(new[name], old[name]), name
    # The stylizer builds that objective for a frame at its size.
    built = frame_terms(model, FrameProblem(styled.objective(content), temporal), w, image)
    assert torch.equal(built["total"], old["total"])


def test_dream_objective_is_minus_the_log_of_the_relative_layer_energy(dreamer):
    model, content = dreamer.model, content_image()
    brighter = content * 1.2
    objective = DreamObjective(model, content, "relu4_2", 3.0)
    assert objective(model(content), content) == {"dream": 0}
    e, e0 = energy(model(brighter)["relu4_2"]), energy(model(content)["relu4_2"])
    terms = objective(model(brighter), brighter)
    assert set(terms) == {"dream"} and torch.allclose(terms["dream"], -3.0 * torch.log(e / e0))
    anchored = DreamObjective(model, content, "relu4_2", 3.0, anchor=2.0)
    assert anchored(model(content), content)["anchor"] == 0
    assert torch.allclose(anchored(model(content + 1), content + 1)["anchor"], torch.tensor(2.0))


def test_dream_gradient_step_increases_the_layer_energy(dreamer):
    content = content_image()
    x = content.clone().requires_grad_(True)
    DreamObjective(dreamer.model, content, "relu4_2", 1.0)(dreamer.model(x), x)["dream"].backward()
    with torch.no_grad():
        before = energy(dreamer.model(content)["relu4_2"])
        after = energy(dreamer.model(content - 2.0 * x.grad / x.grad.abs().max())["relu4_2"])
    assert after > before


def test_optimizer_dreams_up_the_layer_energy(dreamer):
    content = content_image()
    problem = FrameProblem(dreamer.objective(content))
    r = stylize_frame(dreamer.model, problem, content, LossConfig(), OptimConfig(tolerance=0), 10)
    assert set(r.terms) == {"dream", "anchor", "tv", "total"}
    with torch.no_grad():
        before = energy(dreamer.model(content)["relu4_2"])
        after = energy(dreamer.model(r.image.clamp(0, 255))["relu4_2"])
    assert after > 1.5 * before and torch.isfinite(r.image).all()


def test_dream_stylizer_needs_no_style_and_solves_at_its_octaves(dreamer):
    assert dreamer.scales == DreamConfig().scales
    assert dreamer.scales[-1] == 1.0 and len(dreamer.scales) == 4
    assert dreamer.scales[0] == pytest.approx(1.4 ** -3)
    m = dreamer.fidelity(content_image(), content_image())
    assert m["dream_energy"] == m["source_dream_energy"] > 0 and m["content_distance"] == 0


def test_bad_dream_settings_are_config_errors():
    with pytest.raises(ConfigError, match="--layer"):
        DreamConfig(layer="relu6_1")
    with pytest.raises(ConfigError, match="--octaves"):
        DreamConfig(octaves=0)
    with pytest.raises(ConfigError, match="objective"):  # checked where the registry is read
        Stylizer.create(StylizeConfig(device="cpu", objective="paint"), [])
    with pytest.raises(ConfigError, match="--style"):
        Stylizer.create(StylizeConfig(device="cpu"), [])
