"""Single-pass driver (Ruder et al. Sec. 3.1): frames in order, each warm-started from and pulled toward
the previous stylized frame warped by optical flow. Scheduling only; the maths lives in ``optimize``."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np

from .device import to_numpy, to_tensor, to_uint8
from .flow import FlowEstimator, consistency_weights
from .optimize import FrameProblem, FrameResult, TemporalTarget, stylize_frame
from .stylizer import Stylizer
from .temporal import init_image, warped_previous


@dataclass(frozen=True)
class Prepared:
    """A source frame with its flow to the previous one: everything that does not need the stylized
    previous frame, so it can be computed ahead in another thread."""
    index: int
    frame: np.ndarray                # H×W×3 uint8 RGB at processing size
    flow_back: np.ndarray | None     # flow t → t−1 (None for the first frame)
    weight: np.ndarray | None        # its consistency weights c
    flow_seconds: float


def prepare(frames: Iterable[np.ndarray], method: str, preset: str) -> Iterator[Prepared]:
    """Forward and backward flow between consecutive frames, and the weights of the backward one."""
    flow = FlowEstimator(method, preset)
    prev = None
    for index, frame in enumerate(frames):
        t0 = time.perf_counter()
        flow_back = weight = None
        if prev is not None:
            flow_back = flow(frame, prev)
            weight = consistency_weights(flow_back, flow(prev, frame))
        yield Prepared(index, frame, flow_back, weight, time.perf_counter() - t0)
        prev = frame


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
    prev_stylized = None
    for p in prepared:
        done = finished(p.index)
        if done is not None:
            yield FrameOutcome(p.index, done, None, None, None, 0.0)
            prev_stylized = done.astype(np.float32)
            continue
        warped = None if p.flow_back is None or prev_stylized is None else warped_previous(prev_stylized, p.flow_back)
        content = p.frame.astype(np.float32)
        if cfg.init == "random":
            kind = "random"
        else:
            kind = cfg.init if warped is not None else cfg.first_init
        start = init_image(kind, content, warped, p.weight, frame_rng(cfg.seed, p.index))
        temporal = ()
        if warped is not None and cfg.loss.temporal_weight > 0:
            temporal = (TemporalTarget(to_tensor(warped, stylizer.device),
                                       to_tensor(p.weight[..., None], stylizer.device)),)
        problem = FrameProblem(to_tensor(content, stylizer.device),
                               stylizer.grams_for(max(p.frame.shape[:2])), temporal)
        # A warm start from the warped previous result needs far fewer iterations than a cold start.
        iterations = cfg.optim.iterations_later if kind == "prevwarped" else cfg.optim.iterations_first
        result = stylize_frame(stylizer.model, problem, to_tensor(start, stylizer.device),
                               cfg.loss, cfg.optim, iterations)
        stylized = to_uint8(to_numpy(result.image))
        yield FrameOutcome(p.index, stylized, result, p.flow_back, p.weight, p.flow_seconds)
        prev_stylized = stylized.astype(np.float32)
