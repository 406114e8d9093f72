"""Multi-pass bidirectional driver (Ruder et al. Sec. 3.3).

Passes alternate direction (forward, backward, forward, …). In each pass frame t starts from its
previous-pass result blended with the neighbour just processed in this pass (t−1 going forward, t+1
going backward) warped into frame t: x ← (x_prev + δ·c·ω(x_nb)) / (1 + δ·c), δ = ``blend_weight``
(1: equal blend on reliable pixels, as the reference). From pass ``temporal_from_pass`` on (1-based)
the warped neighbour is also a temporal target. Pass 1 is a plain sequential pass (warm start from the
warped previous frame, no temporal loss before ``temporal_from_pass``).

Scheduling only. Every finished (pass, frame) goes to the work folder, so an interrupted run resumes
inside the pass where it stopped. All prepared frames and flows of the clip are held in memory.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

from .device import to_numpy
from .frames import from_uint16
from .multiscale import stylize_multiscale
from .single_pass import FrameOutcome, Prepared, frame_rng, optimize_record
from .store import WorkStore
from .stylizer import Stylizer
from .temporal import init_image
from .warp import warp


def blend_init(previous: np.ndarray, warped: np.ndarray | None, c: np.ndarray | None, delta: float) -> np.ndarray:
    """(x_prev + δ·c·warped) / (1 + δ·c): H×W×3 float32; the previous result where c = 0."""
    if warped is None:
        return previous
    k = delta * c[..., None]
    return ((previous + k * warped) / (1.0 + k)).astype(np.float32)


def _neighbour(prepared: list[Prepared], t: int, forward: bool) -> tuple[int, np.ndarray, np.ndarray] | None:
    """(neighbour index, flow t → neighbour, its weights) for the current direction, or None at the ends."""
    if forward:
        return (t - 1, *prepared[t].back[1]) if t > 0 else None
    return (t + 1, *prepared[t + 1].forward) if t + 1 < len(prepared) else None


def multi_pass(stylizer: Stylizer, prepared: list[Prepared], store: WorkStore) -> Iterator[FrameOutcome]:
    """Run all passes, saving every (pass, frame) in ``store`` (pass numbers 1..N), then yield the last
    pass's frames in index order."""
    cfg, mp = stylizer.config, stylizer.config.multipass
    n = len(prepared)
    results: list[np.ndarray] = [p.frame.astype(np.float32) for p in prepared]
    outcomes: dict[int, FrameOutcome] = {}
    evaluations = [0] * n  # over all passes, for the report
    for pass_no in range(1, mp.passes + 1):
        forward = pass_no % 2 == 1
        current: list[np.ndarray | None] = [None] * n
        for t in (range(n) if forward else range(n - 1, -1, -1)):
            done = store.load(t, pass_=pass_no)
            if done is not None:
                image, record, resumed = from_uint16(done[0]), done[1], True
            else:
                nb = _neighbour(prepared, t, forward)
                warped = c = None
                if nb is not None and current[nb[0]] is not None:
                    warped, c = warp(current[nb[0]], nb[1]), nb[2]
                if pass_no == 1:  # a plain sequential pass: nothing earlier to blend with
                    kind = "prevwarped" if warped is not None else cfg.first_init
                    start = init_image(kind, results[t], warped, c, frame_rng(cfg.seed, t))
                else:
                    start = blend_init(results[t], warped, c, mp.blend_weight)
                use_temporal = warped is not None and pass_no >= mp.temporal_from_pass and cfg.loss.temporal_weight > 0
                iterations = cfg.optim.iterations_first if pass_no == 1 else mp.pass_iterations
                result = stylize_multiscale(stylizer, prepared[t].frame.astype(np.float32), start,
                                            ((warped, c),) if use_temporal else (), iterations,
                                            cold=warped is None and pass_no == 1)
                record, resumed = {**optimize_record(result), "pass": pass_no}, False
                image = store.keep(t, to_numpy(result.image), record, pass_=pass_no)
            current[t] = image
            evaluations[t] += record["evaluations"]
            if pass_no == mp.passes:
                outcomes[t] = FrameOutcome(prepared[t], image, {**record, "evaluations_all_passes": evaluations[t]},
                                           resumed)
        results = current  # type: ignore[assignment]
    for t in range(n):
        yield outcomes[t]
