"""Single-pass driver (Ruder et al. Sec. 3.1): frames in order, each warm-started from and pulled toward
the previous stylized frame warped by optical flow. Scheduling only; the maths lives in ``optimize``."""
from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np

from .device import to_numpy
from .frames import from_uint16
from .multiscale import stylize_multiscale
from .optimize import FrameResult
from .store import WorkStore
from .stylizer import Stylizer
from .temporal import init_image, long_term_weights
from .warp import warp


@dataclass(frozen=True)
class Prepared:
    """A source frame with its flows to earlier frames: everything that does not need stylized frames,
    so it can be computed ahead in another thread."""
    index: int
    frame: np.ndarray                                   # H×W×3 uint8 RGB at processing size
    back: dict[int, tuple[np.ndarray, np.ndarray]]      # offset j → (flow t → t−j, its weights c)
    flow_seconds: float
    forward: tuple[np.ndarray, np.ndarray] | None = None  # (flow t−1 → t, its weights; they belong to t−1)

    @property
    def flow_back(self) -> np.ndarray | None:
        return self.back[1][0] if 1 in self.back else None

    @property
    def weight(self) -> np.ndarray | None:
        return self.back[1][1] if 1 in self.back else None


def prepare(frames: Iterable[np.ndarray], flows: Callable, offsets: tuple[int, ...] = (1,)) -> Iterator[Prepared]:
    """Backward flow t → t−j for each offset j (1 always included) with its consistency weights, and the
    forward flow t−1 → t. ``flows`` is an ``EstimatedFlows`` or ``FileFlows``. Holds only the last
    max(offsets) frames."""
    offsets = tuple(sorted({1, *offsets}))
    history: deque[np.ndarray] = deque(maxlen=offsets[-1])   # history[-j] is frame t−j
    for index, frame in enumerate(frames):
        t0 = time.perf_counter()
        back, forward = {}, None
        for j in offsets:
            if j <= len(history):
                fb, cb, ff, cf = flows(index, frame, index - j, history[-j])
                back[j] = (fb, cb)
                if j == 1:
                    forward = (ff, cf)
        yield Prepared(index, frame, back, time.perf_counter() - t0, forward)
        history.append(frame)


@dataclass(frozen=True)
class FrameOutcome:
    prepared: Prepared               # the source frame and its flows (for metrics)
    stylized: np.ndarray             # H×W×3 float32 0–255 on the 16-bit grid: what is written (at the
                                     # output's depth) and what the next frame starts from
    record: dict                     # iterations, evaluations, seconds, terms (as stored in the work folder)
    resumed: bool                    # came finished from the work folder


def frame_rng(seed: int, index: int) -> np.random.Generator:
    """Per-frame generator: a frame's random init does not depend on which frames ran before (resume)."""
    return np.random.default_rng([seed, index])


def optimize_record(result: FrameResult) -> dict:
    return {"iterations": result.iterations, "evaluations": result.evaluations,
            "seconds": round(result.seconds, 4), "terms": result.terms, "nonfinite": result.nonfinite,
            "retried": result.retried}


def single_pass(stylizer: Stylizer, prepared: Iterable[Prepared], store: WorkStore) -> Iterator[FrameOutcome]:
    """Yields one ``FrameOutcome`` per prepared frame, in order; each finished frame is saved in ``store``.

    A frame the store already holds (an interrupted run) is passed through and the next frame starts
    from it. The carried state is the 16-bit image the store holds, so a resumed run computes exactly
    what an uninterrupted one does.
    """
    cfg = stylizer.config
    # stylized[-j] is the result of frame t−j (16-bit precision, as stored).
    stylized: deque[np.ndarray] = deque(maxlen=max(cfg.long_term))
    for p in prepared:
        done = store.load(p.index)
        if done is not None:
            image = from_uint16(done[0])
            yield FrameOutcome(p, image, done[1], True)
            stylized.append(image)
            continue
        warped = {j: warp(stylized[-j], fb) for j, (fb, _) in p.back.items() if j <= len(stylized)}
        content = p.frame.astype(np.float32)
        if cfg.init == "random":
            kind = "random"
        else:
            kind = cfg.init if 1 in warped else cfg.first_init
        start = init_image(kind, content, warped.get(1), p.weight, frame_rng(cfg.seed, p.index))
        temporal = ()
        if warped and cfg.loss.temporal_weight > 0:
            weights = long_term_weights({j: p.back[j][1] for j in cfg.long_term if j in warped})
            temporal = tuple((warped[j], c) for j, c in weights.items())
        # A warm start from the warped previous result needs far fewer iterations than a cold start.
        warm = kind == "prevwarped"
        iterations = cfg.optim.iterations_later if warm else cfg.optim.iterations_first
        result = stylize_multiscale(stylizer, content, start, temporal, iterations, cold=not warm)
        record = optimize_record(result)
        image = store.keep(p.index, to_numpy(result.image), record)
        yield FrameOutcome(p, image, record, False)
        stylized.append(image)
