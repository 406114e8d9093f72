"""Single-pass driver (Ruder et al. Sec. 3.1): frames in order, each warm-started from and pulled toward
the previous stylized frame warped by optical flow. Scheduling only; the maths lives in ``optimize``."""
from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np

from .device import to_numpy, to_uint8
from .flow import FlowEstimator, consistency_weights
from .multiscale import stylize_multiscale
from .optimize import FrameResult
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

    @property
    def flow_back(self) -> np.ndarray | None:
        return self.back[1][0] if 1 in self.back else None

    @property
    def weight(self) -> np.ndarray | None:
        return self.back[1][1] if 1 in self.back else None


def prepare(frames: Iterable[np.ndarray], method: str, preset: str,
            offsets: tuple[int, ...] = (1,)) -> Iterator[Prepared]:
    """Backward flow t → t−j for each offset j (1 always included), with forward–backward consistency
    weights. Holds only the last max(offsets) frames."""
    flow = FlowEstimator(method, preset)
    offsets = tuple(sorted({1, *offsets}))
    history: deque[np.ndarray] = deque(maxlen=offsets[-1])   # history[-j] is frame t−j
    for index, frame in enumerate(frames):
        t0 = time.perf_counter()
        back = {}
        for j in offsets:
            if j <= len(history):
                earlier = history[-j]
                fb = flow(frame, earlier)
                back[j] = (fb, consistency_weights(fb, flow(earlier, frame)))
        yield Prepared(index, frame, back, time.perf_counter() - t0)
        history.append(frame)


@dataclass(frozen=True)
class FrameOutcome:
    index: int
    stylized: np.ndarray             # H×W×3 uint8 RGB: what is written, and what frame t+1 starts from
    result: FrameResult | None       # None when the frame came finished from the work folder
    flow_back: np.ndarray | None     # source flow t → t−1 (None for the first frame)
    weight: np.ndarray | None        # consistency weights of flow_back
    flow_seconds: float


def frame_rng(seed: int, index: int) -> np.random.Generator:
    """Per-frame generator: a frame's random init does not depend on which frames ran before (resume)."""
    return np.random.default_rng([seed, index])


def single_pass(stylizer: Stylizer, prepared: Iterable[Prepared],
                finished: Callable[[int], np.ndarray | None] = lambda index: None) -> Iterator[FrameOutcome]:
    """Yields one ``FrameOutcome`` per prepared frame, in order.

    ``finished(index)`` returns a frame already stylized by an interrupted run (or None): it is passed
    through and the next frame starts from it. The carried state is the 8-bit image, so a resumed run
    computes exactly what an uninterrupted one does.
    """
    cfg = stylizer.config
    # stylized[-j] is the result of frame t−j (8-bit, as written and stored).
    stylized: deque[np.ndarray] = deque(maxlen=max(cfg.long_term))
    for p in prepared:
        done = finished(p.index)
        if done is not None:
            yield FrameOutcome(p.index, done, None, None, None, 0.0)
            stylized.append(done.astype(np.float32))
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
        iterations = cfg.optim.iterations_later if kind == "prevwarped" else cfg.optim.iterations_first
        result = stylize_multiscale(stylizer, content, start, temporal, iterations, cfg.optim.scales)
        image = to_uint8(to_numpy(result.image))
        yield FrameOutcome(p.index, image, result, p.flow_back, p.weight, p.flow_seconds)
        stylized.append(image.astype(np.float32))
