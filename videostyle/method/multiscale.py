"""Coarse-to-fine optimization of one frame: solve at a fraction of the size, carry the change up, continue.
The same mechanism gives a dream its octaves (``Stylizer.scales``).

Only the *change* found at a coarse scale is upsampled and added to the full-size image,
x ← x + up(x_s − down(x)), so a warm start keeps its fine detail (upsampling the coarse result itself
would blur away what the warped previous frame already got right).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from .device import to_numpy, to_tensor
from .optimize import FrameProblem, FrameResult, TemporalTarget, stylize_frame
from ..io.resize import resize_rgb
from .stylizer import Stylizer


def _resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Float H×W(×C) resize that works for weights (2-D) as well as images."""
    if image.ndim == 2:
        return resize_rgb(image[..., None].repeat(3, -1), size)[..., 0]
    return resize_rgb(image, size)


def stylize_multiscale(stylizer: Stylizer, content: np.ndarray, start: np.ndarray,
                       temporal: tuple[tuple[np.ndarray, np.ndarray], ...], iterations: int,
                       cold: bool = False) -> FrameResult:
    """Optimize ``start`` (H×W×3 float32, 0–255) for ``content`` at each of ``stylizer.scales`` in turn
    (the last is 1.0; a dream's octaves). ``temporal``: (warped previous result H×W×3, weight c H×W)
    pairs. Iteration caps apply per scale; evaluations and seconds are summed over scales; terms are those
    at full size. A ``cold`` start (not from a warped stylized frame) stops early only on the stricter
    ``first_tolerance``."""
    h, w = content.shape[:2]
    cfg, dev = stylizer.config, stylizer.device
    optim = dataclasses.replace(cfg.optim, tolerance=cfg.optim.first_tolerance) if cold else cfg.optim
    current = start.astype(np.float32)
    evals, seconds, iters, nonfinite, retried = 0, 0.0, 0, False, False
    for scale in stylizer.scales:
        size = (max(16, round(w * scale)), max(16, round(h * scale)))
        init = _resize(current, size)
        problem = FrameProblem(
            stylizer.objective(to_tensor(_resize(content.astype(np.float32), size), dev)),
            tuple(TemporalTarget(to_tensor(_resize(warped, size), dev), to_tensor(_resize(c, size)[..., None], dev))
                  for warped, c in temporal))
        result = stylize_frame(stylizer.model, problem, to_tensor(init, dev), cfg.loss, optim, iterations)
        if result.nonfinite:  # a NaN/inf loss: retry this scale once with a step ten times smaller
            retry = stylize_frame(stylizer.model, problem, to_tensor(init, dev), cfg.loss,
                                  dataclasses.replace(optim, learning_rate=optim.step / 10), iterations)
            result = dataclasses.replace(retry, evaluations=retry.evaluations + result.evaluations, retried=True)
        evals, seconds, iters = evals + result.evaluations, seconds + result.seconds, iters + result.iterations
        nonfinite, retried = nonfinite or result.nonfinite, retried or result.retried
        solved = to_numpy(result.image)
        current = solved if size == (w, h) else current + _resize(solved - init, (w, h))
    return dataclasses.replace(result, iterations=iters, evaluations=evals, seconds=seconds, nonfinite=nonfinite,
                               retried=retried)
