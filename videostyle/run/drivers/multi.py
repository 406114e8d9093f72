"""Multi-pass bidirectional driver (Ruder et al. Sec. 3.3).

Pass 1 is the single-pass algorithm (warm starts, temporal loss, ``--long-term``, ``--init``). Later
passes alternate direction (backward, forward, …) over the finished clip: frame t starts from its
previous-pass result blended with the neighbours just processed in this pass (t−j going forward, t+j going
backward) warped into frame t, x ← (x_prev + δ·c·ω(x_nb)) / (1 + δ·c), δ = ``blend_weight``, and from
pass ``temporal_from_pass`` on those warped neighbours are also temporal targets (long-term weights
across the offsets of ``--long-term``). With ``pass_targets`` "both" (the default; a departure from the
paper, which pulls toward the processed side only) the neighbours on the other side, as the previous
pass left them, are targets too.

Scheduling only. Every finished (pass, frame) goes to the work folder, so an interrupted run resumes
inside the pass where it stopped. It needs the whole clip: all prepared frames and flows are held.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

from ...config import StylizeConfig
from ..store import WorkStore
from .core import FrameOutcome, Light, Prepared, Solve, resumed, solve_and_keep, stylize_step, temporal_targets, warped_neighbours

NEEDS_WHOLE_CLIP = True
RESULTS_DEPEND_ON_RANGE = True


def blend_init(previous: np.ndarray, warped: np.ndarray | None, c: np.ndarray | None, delta: float) -> np.ndarray:
    """(x_prev + δ·c·warped) / (1 + δ·c): H×W×3 float32; the previous result where c = 0."""
    if warped is None:
        return previous
    k = delta * c[..., None]
    return ((previous + k * warped) / (1.0 + k)).astype(np.float32)


def _flows_to_neighbours(prepared: list[Prepared], t: int, forward: bool, offsets) -> dict:
    """Offset j → (flow t → neighbour, its weights): the neighbour is t−j going forward, t+j going back."""
    if forward:
        return {j: prepared[t].back[j] for j in offsets if j in prepared[t].back}
    return {j: prepared[t + j].ahead[j] for j in offsets if t + j < len(prepared) and j in prepared[t + j].ahead}


def run(solve: Solve, cfg: StylizeConfig, prepared: list[Prepared], store: WorkStore) -> Iterator[FrameOutcome]:
    """Run all passes, keeping every (pass, frame) in ``store`` (pass numbers 1..N), then yield the last
    pass's frames in order."""
    mp = cfg.multipass
    n = len(prepared)
    offsets = sorted({1, *cfg.long_term})
    evaluations = [0] * n  # over all passes, for the report
    results: list = [None] * n
    for t, p in enumerate(prepared):  # pass 1: the single-pass algorithm
        outcome = stylize_step(solve, cfg, store, p, lambda j: results[t - j].stylized if j <= t else None,
                               pass_=1, extra={"pass": 1}, sources=lambda j: prepared[t - j].frame)
        results[t], evaluations[t] = outcome, outcome.record["evaluations"]
    for pass_no in range(2, mp.passes + 1):
        forward = pass_no % 2 == 1
        current: list = [None] * n
        for t in (range(n) if forward else range(n - 1, -1, -1)):
            outcome = resumed(store, prepared[t], pass_no)
            if outcome is None:
                step = -1 if forward else 1
                flows = _flows_to_neighbours(prepared, t, forward, offsets)
                done = lambda j: current[t + step * j].stylized if current[t + step * j] is not None else None  # noqa: E731
                light = Light.of(cfg, prepared[t].frame, lambda j: prepared[t + step * j].frame)
                warped, weights = warped_neighbours(done, flows, light, cfg.resampling)
                start = blend_init(results[t].stylized, warped.get(1), weights.get(1), mp.blend_weight)
                temporal = temporal_targets(cfg, warped, weights) if pass_no >= mp.temporal_from_pass else ()
                if mp.pass_targets == "both" and pass_no >= mp.temporal_from_pass:
                    # The neighbours not yet redone in this pass hold their previous-pass results. Pulling
                    # toward them too weighs the links on both sides of a frame, instead of trading the
                    # ones behind it for those ahead (frame-to-frame steadiness; measured in README).
                    other = _flows_to_neighbours(prepared, t, not forward, offsets)
                    ahead = lambda j: results[t - step * j].stylized  # noqa: E731
                    light = Light.of(cfg, prepared[t].frame, lambda j: prepared[t - step * j].frame)
                    temporal = temporal + temporal_targets(cfg, *warped_neighbours(ahead, other, light, cfg.resampling))
                outcome = solve_and_keep(solve, store, prepared[t], start, temporal, mp.pass_iterations,
                                         cold=False, pass_=pass_no, extra={"pass": pass_no})
            current[t] = outcome
            evaluations[t] += outcome.record["evaluations"]
        results = current
    for t in range(n):
        o = results[t]
        yield FrameOutcome(o.prepared, o.stylized, {**o.record, "evaluations_all_passes": evaluations[t]}, o.resumed)
