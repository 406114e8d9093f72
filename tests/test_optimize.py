"""The one-frame optimizer on the real packaged network, at 32×48."""
import numpy as np
import pytest
import torch

from videostyle.config import LossConfig, OptimConfig, StylizeConfig
from videostyle.method.device import to_tensor
from videostyle.method.objectives import StyleObjective
from videostyle.method.optimize import FrameProblem, TemporalTarget, precondition_scale, stylize_frame
from videostyle.method.stylizer import Stylizer


@pytest.fixture(scope="module")
def setup():
    rng = np.random.default_rng(0)
    style = (rng.uniform(0, 255, (40, 40, 3))).astype(np.uint8)
    stylizer = Stylizer.create(StylizeConfig(device="cpu"), [style])
    content = np.zeros((32, 48, 3), np.uint8)
    content[:, :24] = (200, 40, 40)
    content[8:24, 30:44] = (30, 200, 90)
    return stylizer, to_tensor(content, stylizer.device)


def problem(stylizer, content, temporal=(), loss=LossConfig()):
    return FrameProblem(StyleObjective(stylizer.model, content, stylizer.grams_for(48), loss), temporal)


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_loss_goes_down(setup, optimizer):
    stylizer, content = setup
    p = problem(stylizer, content)
    start = stylize_frame(stylizer.model, p, content, LossConfig(), OptimConfig(optimizer=optimizer), 0)
    end = stylize_frame(stylizer.model, p, content, LossConfig(), OptimConfig(optimizer=optimizer, tolerance=0), 40)
    assert end.iterations == 40 and end.terms["total"] < 0.7 * start.terms["total"]
    assert end.evaluations <= 42                   # one VGG pass per iteration (+ the start)
    assert torch.isfinite(end.image).all()


def test_a_run_that_overshoots_returns_no_worse_than_its_start(setup):
    """A step far too large (as L-BFGS's second step can be when its curvature rests on one tiny first
    step) makes the last iterate worse than the start: the best point seen is returned instead."""
    stylizer, content = setup
    p = problem(stylizer, content)
    start = stylize_frame(stylizer.model, p, content, LossConfig(), OptimConfig(), 0)
    wild = OptimConfig(optimizer="adam", learning_rate=500.0, tolerance=0, check_every=1)
    end = stylize_frame(stylizer.model, p, content, LossConfig(), wild, 3)
    assert end.terms["total"] <= start.terms["total"]
    assert torch.equal(end.image, content)


def test_early_stopping(setup):
    stylizer, content = setup
    r = stylize_frame(stylizer.model, problem(stylizer, content), content, LossConfig(),
                      OptimConfig(tolerance=0.99, check_every=5), 100)
    assert r.iterations == 10                      # the second check sees less than 99 % progress


def test_temporal_term_pulls_toward_the_warped_frame(setup):
    stylizer, content = setup
    target = torch.full_like(content, 128.0)
    ones = torch.ones(1, 1, 32, 48)
    loss = LossConfig(content_weight=0, style_weight=0, tv_weight=0, temporal_weight=1.0)
    r = stylize_frame(stylizer.model, problem(stylizer, content, (TemporalTarget(target, ones),), loss), content,
                      loss, OptimConfig(), 20)
    assert (r.image - target).abs().max() < 1.0
    zero = TemporalTarget(target, torch.zeros(1, 1, 32, 48))
    r0 = stylize_frame(stylizer.model, problem(stylizer, content, (zero,), loss), content, loss, OptimConfig(), 5)
    assert r0.terms["temporal"] == 0 and torch.equal(r0.image, content)


def test_nonfinite_loss_is_caught_and_the_last_finite_image_kept(setup):
    stylizer, content = setup
    r = stylize_frame(stylizer.model, problem(stylizer, content), content, LossConfig(),
                      OptimConfig(optimizer="adam", learning_rate=1e30, check_every=1), 5)
    assert r.nonfinite and torch.isfinite(r.image).all()


def test_bfloat16_network_gives_nearly_the_same_loss(setup):
    stylizer, content = setup
    p = problem(stylizer, content)
    full = stylize_frame(stylizer.model, p, content, LossConfig(), OptimConfig(), 0).terms["total"]
    stylizer.model.set_precision(torch.bfloat16)
    try:
        half = stylize_frame(stylizer.model, p, content, LossConfig(), OptimConfig(), 0).terms["total"]
    finally:
        stylizer.model.set_precision(None)
    assert abs(half - full) < 0.05 * full


def test_bfloat16_lbfgs_runs_its_iterations_from_a_cold_start(setup):
    """L-BFGS's first step (1/|g|₁ of the gradient) is invisible to a bfloat16 network; taken in
    bfloat16 it made the line search blow the image up to NaN after 10 iterations at 20× the loss. The
    first two iterations run in float32, and the run then goes on like the float32 one."""
    stylizer, content = setup
    p = problem(stylizer, content)
    full = stylize_frame(stylizer.model, p, content, LossConfig(), OptimConfig(tolerance=0), 20)
    stylizer.model.set_precision(torch.bfloat16)
    try:
        half = stylize_frame(stylizer.model, p, content, LossConfig(), OptimConfig(tolerance=0), 20)
        assert stylizer.model.compute_dtype == torch.bfloat16  # back after the float32 steps
    finally:
        stylizer.model.set_precision(None)
    assert not half.nonfinite and half.iterations == 20
    assert half.terms["total"] < 1.05 * full.terms["total"]


def test_precondition_scale_follows_the_temporal_weights(setup):
    stylizer, content = setup
    c = torch.zeros(1, 1, 32, 48)
    c[..., :24] = 1.0
    c[..., 24:36] = 0.5
    p = problem(stylizer, content, (TemporalTarget(content, c),))
    scale = precondition_scale(p, LossConfig(), 30.0)
    assert torch.allclose(scale[..., 0, 0], torch.tensor(31.0).rsqrt())
    assert torch.allclose(scale[..., 0, 30], torch.tensor(16.0).rsqrt())
    assert torch.equal(scale[..., 36:], torch.ones(1, 1, 32, 12))
    # κ follows the temporal weight; no temporal target or κ = 0: no scaling at all.
    half = precondition_scale(p, LossConfig(temporal_weight=5e3), 30.0)
    assert torch.allclose(half[..., 0, 0], torch.tensor(16.0).rsqrt())
    assert precondition_scale(problem(stylizer, content), LossConfig(), 30.0) == 1.0
    assert precondition_scale(p, LossConfig(), 0.0) == 1.0


def test_preconditioning_keeps_a_warm_start_steadier_at_no_higher_loss(setup):
    # A later frame: start from the (stylized) previous result, held by the temporal term where the
    # flow is reliable (left two thirds). Same objective and the same number of iterations, with and
    # without the preconditioner.
    stylizer, content = setup
    prev = stylize_frame(stylizer.model, problem(stylizer, content), content, LossConfig(),
                         OptimConfig(tolerance=0), 60).image
    c = torch.zeros(1, 1, 32, 48)
    c[..., :32] = 1.0
    p = problem(stylizer, content, (TemporalTarget(prev, c),))
    start = c * prev + (1 - c) * content
    runs = {k: stylize_frame(stylizer.model, p, start, LossConfig(), OptimConfig(tolerance=0, precondition=k), 20)
            for k in (0.0, 30.0)}
    plain, shaped = runs[0.0].terms, runs[30.0].terms
    assert shaped["temporal"] < 0.8 * plain["temporal"]
    assert shaped["total"] < 1.01 * plain["total"]
