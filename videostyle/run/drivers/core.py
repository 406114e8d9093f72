"""What every driver shares: a frame's flows (``Prepared``), the start-image rule, the iteration-cap
rule, and the one step that solves a frame and keeps it in the store (``solve_and_keep``).

Drivers only schedule: which frame next, in which direction, with which neighbours. They never touch the
optimizer, the store's files or the flow estimator directly, so they cannot drift apart.

Frames are named by their absolute number in the source (frame 0 of the file or sequence), from decode
to the store, the seeds and the report: a work folder means the same frames whatever ``--frames`` range
asked for them.
"""
from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np

from ...config import StylizeConfig
from ...errors import InputError
from ...method.device import to_numpy
from ...io.frames import from_uint16
from ...io.media import Frame  # the one frame record (number, pts, image)
from ...method.multiscale import stylize_multiscale
from ...method.optimize import FrameResult
from ..store import WorkStore
from ...method.stylizer import Stylizer
from ...method.temporal import WARM_STARTS, init_image, light_change, long_term_weights, relight, source_agreement
from ...flow.cuts import is_cut
from ...flow.warp import warp

Flow = tuple[np.ndarray, np.ndarray]  # (flow H×W×2 in pixels, its consistency weights c H×W in [0, 1])



@dataclass(frozen=True)
class Prepared:
    """A source frame with its flows to nearby frames: everything that does not need stylized frames,
    so it can be computed ahead in another thread."""
    number: int                  # absolute frame number in the source (0-based)
    frame: np.ndarray            # H×W×3 uint8 RGB at processing size
    back: dict[int, Flow]        # offset j → flow t → t−j and its weights (frame t looks back)
    ahead: dict[int, Flow]       # offset j → flow t−j → t and its weights (frame t−j looks ahead to t)
    flow_seconds: float
    pts: int | None = None       # presentation time in the source's time base (videos)
    lead_in: bool = False        # a frame before the selected range (Frame.lead_in): no flows of its own
    cut: bool = False            # a new shot begins here (flow/cuts.py): no flows to the frames before

    @property
    def flow_back(self) -> np.ndarray | None:
        return self.back[1][0] if 1 in self.back else None

    @property
    def weight(self) -> np.ndarray | None:
        return self.back[1][1] if 1 in self.back else None


def prepare(frames: Iterable[Frame], flows: Callable, offsets: tuple[int, ...] = (1,),
            cuts: bool = True) -> Iterator[Prepared]:
    """For each frame: flows to and from the frames
    ``offsets`` back (1 always included), with consistency weights. ``flows`` is an ``EstimatedFlows`` or
    ``FileFlows``, called with absolute frame numbers. Holds only the last max(offsets) frames.

    With ``cuts``, a frame where a new shot begins (flow/cuts.py, tested against the frame before) gets
    no flows at all, and the frames after it none to the frames before it: every driver then starts it
    as a first frame."""
    offsets = tuple(sorted({1, *offsets}))
    history: deque = deque(maxlen=offsets[-1])   # history[-j] is frame t−j
    for f in frames:
        t0 = time.perf_counter()
        back, ahead, cut = {}, {}, False
        for j in offsets:  # 1 first: a cut found there ends the loop
            # A lead-in frame is only a neighbour of the range's first frames: its own flows serve nothing.
            if j <= len(history) and not f.lead_in:
                earlier = history[-j]
                try:
                    fb, cb, ff, cf = flows(f.number, f.image, earlier.number, earlier.image)
                except InputError:
                    if not earlier.lead_in:
                        raise
                    continue  # a --flow-dir made for the range alone: the range starts as it would have
                if j == 1 and cuts and is_cut(f.image, earlier.image, fb):
                    back, ahead, cut = {}, {}, True
                    history.clear()
                    break
                # Fully transparent pixels hold no picture: neither the warm start nor the temporal term
                # may carry paint into or out of them.
                cb, cf = cb * _covered(f), cf * _covered(earlier)
                back[j], ahead[j] = (fb, cb), (ff, cf)
        yield Prepared(f.number, f.image, back, ahead, time.perf_counter() - t0, f.pts, f.lead_in, cut)
        history.append(f)


def _covered(frame: Frame):
    """1 where the frame has a picture, 0 where its alpha is 0 (1 everywhere without alpha)."""
    plate = getattr(frame, "plate", None)
    if plate is None or plate.alpha is None:
        return np.float32(1.0)
    return (plate.alpha > 0).astype(np.float32)


@dataclass(frozen=True)
class FrameOutcome:
    prepared: Prepared               # the source frame and its flows (for metrics and encoding)
    stylized: np.ndarray             # H×W×3 float32 0–255 on the 16-bit grid: what is written (at the
                                     # output's depth) and what the next frame starts from
    record: dict                     # iterations, evaluations, seconds, terms (as stored in the work folder)
    resumed: bool                    # came finished from the work folder


def frame_rng(seed: int, number: int) -> np.random.Generator:
    """Per-frame generator keyed by the absolute frame number: a frame's random start does not depend on
    which frames ran before it (resume, ranges, workers)."""
    return np.random.default_rng([seed, number])


def start_kind(cfg: StylizeConfig, warm_available: bool) -> str:
    """The start-image rule: ``--init`` for frames with a warped neighbour, ``--first-init`` for the
    others; ``random`` everywhere when asked."""
    if cfg.init == "random":
        return "random"
    return cfg.init if warm_available else cfg.first_init


def iteration_cap(cfg: StylizeConfig, warm: bool, pass_no: int = 1) -> int:
    """The iteration-cap rule: a warm start (from the warped previous result) needs far fewer iterations
    than a cold one; passes after the first of multi-pass refine a finished clip and get their own cap."""
    if pass_no > 1:
        return cfg.multipass.pass_iterations
    return cfg.optim.iterations_later if warm else cfg.optim.iterations_first


def temporal_targets(cfg: StylizeConfig, warped: dict[int, np.ndarray],
                     weights: dict[int, np.ndarray]) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """(warped neighbour, weight) pairs for the temporal loss: the offsets of ``--long-term`` that have a
    warped neighbour, shared per pixel by ``--long-term-rule`` (the closest one where it was visible, Ruder
    et al. eq. 8, or every one)."""
    if cfg.loss.temporal_weight <= 0:
        return ()
    used = {j: weights[j] for j in cfg.long_term if j in warped}
    return tuple((warped[j], c) for j, c in long_term_weights(used, cfg.long_term_rule).items())


def warped_neighbours(results: Callable[[int], np.ndarray | None], flows: dict[int, Flow],
                      light: "Light | None" = None, resampling: str = "bilinear") -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """For each offset j with a finished neighbour ``results(j)``: that result warped into this frame by
    ``flows[j]`` (relit by the source's own change of light, with ``light``), and the flow's weights."""
    warped, weights = {}, {}
    for j, (flow, c) in flows.items():
        image = results(j)
        if image is not None:
            warped[j], weights[j] = warp(image, flow, resampling), c
            if light is not None:
                warped[j] = light.apply(warped[j], j, flow, c)
    return warped, weights


@dataclass(frozen=True)
class Light:
    """Following the source's light (``--follow-light``): this frame's source image, and its neighbours'
    (``sources(j)``, the source frame whose result is warped in at offset j)."""
    gain: float
    frame: np.ndarray
    sources: Callable[[int], np.ndarray]

    @classmethod
    def of(cls, cfg: StylizeConfig, frame: np.ndarray, sources: Callable[[int], np.ndarray]) -> "Light | None":
        return cls(cfg.follow_light, frame, sources) if cfg.follow_light > 0 else None

    def apply(self, warped: np.ndarray, j: int, flow: np.ndarray, c: np.ndarray) -> np.ndarray:
        change = light_change(self.frame, warp(self.sources(j), flow), c)
        return relight(warped, change, self.gain)


def optimize_record(result: FrameResult) -> dict:
    return {"iterations": result.iterations, "evaluations": result.evaluations,
            "seconds": round(result.seconds, 4), "terms": result.terms, "nonfinite": result.nonfinite,
            "retried": result.retried}


# The solver seam: (content H×W×3 float32 0–255, start image, temporal (warped, weight) pairs, iteration
# cap, cold start?) -> (result H×W×3 float32 0–255, record for the report). Drivers see nothing else of
# the optimizer, so a trained network or another objective plugs in here.
Solve = Callable[[np.ndarray, np.ndarray, tuple, int, bool], tuple[np.ndarray, dict]]


def optimizer_solver(stylizer: Stylizer) -> Solve:
    """The paper's solver: L-BFGS (or Adam) on the stylizer's objective, coarse-to-fine when asked."""
    def solve(content, start, temporal, iterations, cold):
        result = stylize_multiscale(stylizer, content, start, temporal, iterations, cold=cold)
        return to_numpy(result.image), optimize_record(result)
    return solve


def solve_and_keep(solve: Solve, store: WorkStore, p: Prepared, start: np.ndarray, temporal: tuple,
                   iterations: int, cold: bool, pass_: int = 0, extra: dict | None = None) -> FrameOutcome:
    """Solve frame ``p`` from ``start`` and keep the result in ``store`` (key: its number and pass). The
    returned image is the stored 16-bit state, so a resumed run continues from exactly the same."""
    image, record = solve(p.frame.astype(np.float32), start, temporal, iterations, cold)
    record = {**record, **(extra or {})}
    return FrameOutcome(p, store.keep(p.number, image, record, pass_), record, False)


def resumed(store: WorkStore, p: Prepared, pass_: int = 0) -> FrameOutcome | None:
    """The finished frame from the store, or None."""
    done = store.load(p.number, pass_)
    if done is None:
        return None
    return FrameOutcome(p, from_uint16(done[0]), done[1], True)


def checked_far_weights(p: Prepared, weights: dict[int, np.ndarray],
                        sources: Callable[[int], np.ndarray]) -> dict[int, np.ndarray]:
    """The "every" rule holds every pixel to frames t−2 and t−4 too, so a long flow that the consistency
    check let through wrongly would pull it toward another object's paint: those weights are multiplied
    by the source's own check of the flow (``source_agreement``)."""
    return {j: c if j == 1 else c * source_agreement(p.frame, warp(sources(j), p.back[j][0]))
            for j, c in weights.items()}


def stylize_step(solve: Solve, cfg: StylizeConfig, store: WorkStore, p: Prepared,
                 earlier: Callable[[int], np.ndarray | None], pass_: int = 0, extra: dict | None = None,
                 sources: Callable[[int], np.ndarray] | None = None) -> FrameOutcome:
    """One frame of a sequential pass (single-pass, and multi-pass's first pass): warm-started from and
    pulled toward the earlier results ``earlier(j)`` (frame t−j) warped by flow, relit by the source's
    change of light from ``sources(j)`` (source frame t−j) when --follow-light is on."""
    done = resumed(store, p, pass_)
    if done is not None:
        return done
    light = Light.of(cfg, p.frame, sources) if sources is not None else None
    warped, weights = warped_neighbours(earlier, p.back, light, cfg.resampling)
    if cfg.long_term_rule == "every" and sources is not None:
        weights = checked_far_weights(p, weights, sources)
    kind = start_kind(cfg, 1 in warped)
    start = init_image(kind, p.frame.astype(np.float32), warped.get(1), weights.get(1),
                       frame_rng(cfg.seed, p.number))
    warm = kind in WARM_STARTS
    return solve_and_keep(solve, store, p, start, temporal_targets(cfg, warped, weights),
                          iteration_cap(cfg, warm), cold=not warm, pass_=pass_, extra=extra)
