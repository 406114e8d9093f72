"""One frame's optimization: ``stylize_frame(model, problem, init, ...) -> FrameResult``.

It knows no frame index, pass or path: the caller builds a ``FrameProblem`` (an objective of the image's
features, and temporal targets) and an initial image, and gets back the optimized image. The optimizer
adds total variation and the temporal terms to whatever the objective asks for (objectives.py).
Images are RGB ``[1,3,H,W]`` float tensors in 0–255 on the model's device.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch

from ..config import LossConfig, OptimConfig
from .features import VGGFeatures
from .losses import temporal_loss, tv_loss
from .objectives import Objective


@dataclass(frozen=True)
class TemporalTarget:
    """A previous stylized frame warped into this one, and its per-pixel weight c ∈ [0,1] ``[1,1,H,W]``."""
    warped: torch.Tensor
    weight: torch.Tensor


@dataclass(frozen=True)
class FrameProblem:
    objective: Objective                          # features, image → named weighted terms (objectives.py)
    temporal: tuple[TemporalTarget, ...] = ()


@dataclass(frozen=True)
class FrameResult:
    image: torch.Tensor       # [1,3,H,W] detached, 0–255 (not clamped: the encoder clamps)
    terms: dict[str, float]   # weighted loss terms and 'total' at the returned image
    iterations: int
    evaluations: int          # VGG forward+backward passes
    seconds: float
    nonfinite: bool = False   # the loss became NaN/inf; the image is the last finite iterate
    retried: bool = False     # a NaN/inf run was repeated with a smaller step


def frame_terms(model: VGGFeatures, problem: FrameProblem, weights: LossConfig,
                image: torch.Tensor) -> dict[str, torch.Tensor]:
    """The objective's terms, then TV and the temporal term (in this order: the total is summed in it,
    which keeps stylize results bit-identical to the single FrameLoss this replaced), and 'total'."""
    terms = dict(problem.objective(model(image), image))
    terms["tv"] = weights.tv_weight * tv_loss(image)
    if problem.temporal and weights.temporal_weight > 0:
        terms["temporal"] = weights.temporal_weight * sum(temporal_loss(image, t.warped, t.weight)
                                                          for t in problem.temporal)
    terms["total"] = sum(terms.values())
    return terms


def precondition_scale(problem: FrameProblem, weights: LossConfig, strength: float) -> torch.Tensor | float:
    """Per-pixel variable scale 1/√(1 + κ·Σc) (``[1,1,H,W]``), κ = ``strength`` × temporal weight / 1e4.

    A diagonal preconditioner: the temporal term's curvature 2·λ·c/D sits on the reliable pixels only,
    while the style pulls every pixel alike. With one scalar step, L-BFGS's first few dozen iterations
    move the reliable pixels far from the warped previous frame and only slowly bring them back.
    Optimizing y = x/scale gives L-BFGS the initial inverse Hessian scale², a step shaped like that
    curvature. The objective and its minimum are unchanged; an early-stopped run ends steadier and at
    no higher loss (measured: README, Performance).
    """
    kappa = strength * weights.temporal_weight / 1e4
    if not problem.temporal or kappa <= 0:
        return 1.0
    c = sum(t.weight for t in problem.temporal).clamp(0, 1)
    return torch.rsqrt(1.0 + kappa * c)


def _first_steps_in_float32(model: VGGFeatures, opt: torch.optim.LBFGS, closure, cache: dict) -> int:
    """L-BFGS's first two iterations with the network in float32; returns the iterations taken.

    Its first step is 1/|g|₁ of the gradient, a ten-thousandth of a grey level here, and a bfloat16
    network does not see it: its input near 200 moves in steps of 1. The loss looks flat, the line search
    extrapolates until the image blows up to NaN, and the frame ends barely optimized (an H100 at 512 px:
    3 frames in 32 with 3× the loss of their neighbours; the retry with a smaller step only makes the first
    step smaller). In float32 the first step measures the curvature; the second, scaled by it, moves the
    image by grey levels, and so does every later one, which bfloat16 sees. Two iterations, so that
    their curvature pair is measured in one precision. The cache holds losses of one precision at a time.
    Under ``--compile`` the network is compiled once more per size, for float32."""
    dtype = model.compute_dtype
    cache.clear()
    model.set_precision(None)
    try:
        opt.param_groups[0]["max_iter"] = 2
        opt.step(closure)
    finally:
        model.set_precision(dtype)
        cache.clear()
    return max(opt.state[opt._params[0]]["n_iter"], 1)


def stylize_frame(model: VGGFeatures, problem: FrameProblem, init: torch.Tensor, weights: LossConfig,
                  optim: OptimConfig, iterations: int) -> FrameResult:
    """Minimize ``frame_terms`` from ``init`` for at most ``iterations`` iterations, stopping early when
    the loss fell by less than ``optim.tolerance`` (relative) over ``optim.check_every`` iterations.
    ``weights`` gives the TV and temporal weights (and the preconditioning's); the objective carries its own."""
    start = time.perf_counter()

    def objective(image: torch.Tensor) -> dict[str, torch.Tensor]:
        return frame_terms(model, problem, weights, image)

    scale = precondition_scale(problem, weights, optim.precondition)
    # The optimizer works on y = x / scale; the image is x = scale · y.
    y = (init.detach() / scale).clone(memory_format=torch.contiguous_format).requires_grad_(True)
    evals = 0
    cache: dict = {}

    def closure() -> torch.Tensor:
        nonlocal evals
        # L-BFGS re-evaluates the point it stopped at whenever step() is called again; that point's
        # loss and gradient are still valid (y unchanged), so skip the VGG pass.
        if cache.get("version") == y._version:
            return cache["loss"]
        if y.grad is not None:
            y.grad = None
        terms = objective(scale * y)
        terms["total"].backward()
        evals += 1
        cache.update(version=y._version, loss=terms["total"].detach(), terms=terms)
        return cache["loss"]

    if optim.optimizer == "lbfgs":
        opt = torch.optim.LBFGS([y], lr=optim.step, max_iter=optim.check_every,
                                history_size=100, tolerance_grad=0.0, tolerance_change=0.0,
                                line_search_fn="strong_wolfe" if optim.line_search else None)
    else:
        opt = torch.optim.Adam([y], lr=optim.step)

    # The start's loss (L-BFGS's first evaluation is the same point and reuses it). Without a line search
    # an L-BFGS step can overshoot, most of all in the first iterations, when its curvature estimate
    # rests on one tiny step; a run stopped there must not return a worse image than it was given, so
    # the best point seen at a check is what is returned.
    best_loss = float(closure()) if iterations > 0 else math.inf
    done, last_good, prev_loss, nonfinite = 0, (scale * y).detach(), None, not math.isfinite(best_loss)
    best, best_terms = last_good, dict(cache.get("terms", {}))
    if optim.optimizer == "lbfgs" and model.compute_dtype is not None and iterations >= 2 and not nonfinite:
        done = _first_steps_in_float32(model, opt, closure, cache)
    while done < iterations and not nonfinite:
        chunk = min(optim.check_every, iterations - done)
        if optim.optimizer == "lbfgs":
            opt.param_groups[0]["max_iter"] = chunk
            before = opt.state[opt._params[0]].get("n_iter", 0)
            opt.step(closure)
            taken = opt.state[opt._params[0]]["n_iter"] - before
        else:
            for _ in range(chunk):
                closure()  # sets y.grad (kept from the cache when y is unchanged)
                opt.step()
            taken = chunk
        done += max(taken, 1)
        loss = float(closure())
        if not math.isfinite(loss):
            nonfinite = True
            break
        last_good = (scale * y).detach()
        if loss <= best_loss:
            best_loss, best, best_terms = loss, last_good, dict(cache["terms"])
        if taken < chunk:  # L-BFGS found nothing more to do
            break
        if prev_loss is not None and (prev_loss - loss) < optim.tolerance * abs(prev_loss):
            break
        prev_loss = loss

    if not best_terms:
        with torch.no_grad():
            best_terms = objective(best)
    terms = {k: float(v.detach()) for k, v in best_terms.items()}
    return FrameResult(image=best, terms=terms, iterations=done,
                       evaluations=evals, seconds=time.perf_counter() - start, nonfinite=nonfinite)

