"""Chunked driver: one shot cut into chunks of K frames that can render at the same time (on a Ray
cluster: distributed.py), with seams that do not show.

Two chunks rendered independently meet with two different textures: every start invents its own brush
strokes. Measured on the cockatoo clip (96 px, chunks of 8): chunks started from keyframes stylized in a
chain (each from the previous keyframe warped by the flow between them, K frames apart) met with a jump
30× the source's warping error; pulling a chunk's last frames toward the next keyframe only spread the
jump over those frames and washed them out (two textures averaged); keyframes from a sequential pass at
half size met with new fine strokes (8–12×). So the texture is fixed once, along the whole shot, and the
chunks only finish it:

1. **The draft** (task "keyframe" k, in a chain): the single-pass method over chunk k's frames with a
   small cap on warm-started frames (``draft_iterations``), going on from the draft of the frame before
   the chunk. Every frame's texture is then decided, consistently, by the flow from the frame before.
   The task then finishes the chunk's first frame (its keyframe).
2. **Chunks** (task "chunk" k, in parallel once draft k is done) finish their frames in order: each
   starts from its draft, is held near it on every pixel (``draft_anchor`` × the temporal weight), and
   is pulled toward the finished frame before it warped by flow, as in the single-pass method. The
   first frame after a seam and the last before it both stay near drafts that agree, so nothing jumps
   and nothing is averaged.

The draft is sequential, so the longest chain of dependent work is the draft up to the last chunk plus
one chunk (``critical_path``); the draft is cheap per frame, the finishing is where the evaluations go.
Everything goes through the work store (keyed by absolute frame number; draft frames as pass 1): a task
carries only frame numbers, a retried task skips finished frames, and this module's local ``run`` makes
exactly the frames a cluster makes.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Iterator, Sequence

import numpy as np

from ..config import StylizeConfig
from ..frames import from_uint16
from ..store import WorkStore
from ..warp import warp
from .core import FrameOutcome, Prepared, Solve, iteration_cap, resumed, stylize_step

NEEDS_WHOLE_CLIP = True  # run() here: keyframes are read out of order (a cluster worker reads its own frames)


@dataclass(frozen=True)
class Chunk:
    index: int
    numbers: tuple[int, ...]   # absolute frame numbers, keyframe first
    right: int | None          # the next chunk's keyframe (seam: the pair right − 1, right), or None

    @property
    def key(self) -> int:
        return self.numbers[0]


def plan(first: int, n_frames: int, chunk_frames: int) -> list[Chunk]:
    """Chunks of ``chunk_frames`` frames over ``first … first+n_frames−1``; a last chunk shorter than
    half a chunk joins the one before (a 1-frame chunk would be all seam)."""
    bounds = list(range(first, first + n_frames, chunk_frames))
    if len(bounds) > 1 and first + n_frames - bounds[-1] < max(2, chunk_frames // 2):
        bounds.pop()
    ends = bounds[1:] + [first + n_frames]
    return [Chunk(i, tuple(range(a, b)), b if i + 1 < len(bounds) else None)
            for i, (a, b) in enumerate(zip(bounds, ends))]


DRAFT_PASS = 1  # the draft's frames are kept in the store under this pass number

# Access to the shot, the same locally and on a worker: the frame (H×W×3 uint8 at processing size) of an
# absolute number, and the flows of a pair of numbers (flowsource's call: t, frame_t, s, frame_s).
Read = Callable[[Sequence[int]], list[np.ndarray]]


def _flow_back(flows, images: dict, t: int):
    """Flow t → t−1 and its consistency weights."""
    fb, cb, _, _ = flows(t, images[t], t - 1, images[t - 1])
    return fb, cb


def keyframe(solve: Solve, cfg: StylizeConfig, store: WorkStore, chunks: list[Chunk], k: int, read: Read,
             flows) -> FrameOutcome:
    """Draft chunk ``k`` (task k−1 must have run: the draft goes on from its last frame), then finish
    the chunk's keyframe from its draft."""
    c = chunks[k]
    numbers = ([c.key - 1] if k else []) + list(c.numbers)
    images = dict(zip(numbers, read(numbers)))
    p = Prepared(c.key, images[c.key], {}, {}, 0.0)
    done = resumed(store, p)
    if done is not None:
        return done
    earlier = None
    if k:
        before = store.load(c.key - 1, DRAFT_PASS)
        if before is None:
            raise RuntimeError(f"the draft of frame {c.key - 1} is not in the work folder; chunk {k} needs it")
        earlier = from_uint16(before[0])
    evaluations, seconds = 0, 0.0
    draft_cfg = replace(cfg, optim=replace(cfg.optim, iterations_later=cfg.chunks.draft_iterations))
    for t in c.numbers:  # the single-pass method, with a small cap on warm-started frames
        back = {1: _flow_back(flows, images, t)} if earlier is not None else {}
        drafted = stylize_step(solve, draft_cfg, store, Prepared(t, images[t], back, {}, 0.0),
                               lambda j: earlier, pass_=DRAFT_PASS)
        if not drafted.resumed:
            evaluations += drafted.record["evaluations"]
            seconds += drafted.record["seconds"]
        earlier = drafted.stylized
    outcome = _finish(solve, cfg, store, p, None, {"chunk": k, "keyframe": True, "draft_evaluations": evaluations},
                      evaluations, seconds)
    return outcome


def _finish(solve: Solve, cfg: StylizeConfig, store: WorkStore, p: Prepared, previous: tuple | None,
            extra: dict, draft_evaluations: int = 0, draft_seconds: float = 0.0) -> FrameOutcome:
    """Frame ``p`` finished from its draft: started there, held near it on every pixel (``draft_anchor`` ×
    the temporal weight) and pulled toward ``previous`` = (the finished frame before, warped; its
    weights). Draft work done for it is added to its record (the report counts all work)."""
    draft = from_uint16(store.load(p.number, DRAFT_PASS)[0])
    temporal = ((draft, np.full(draft.shape[:2], cfg.chunks.draft_anchor, np.float32)),)
    if previous is not None and cfg.loss.temporal_weight > 0:
        temporal = (previous,) + temporal
    image, record = solve(p.frame.astype(np.float32), draft, temporal, iteration_cap(cfg, True), False)
    record = {**record, **extra, "evaluations": record["evaluations"] + draft_evaluations,
              "seconds": record["seconds"] + draft_seconds}
    return FrameOutcome(p, store.keep(p.number, image, record), record, False)


def chunk(solve: Solve, cfg: StylizeConfig, store: WorkStore, chunks: list[Chunk], k: int, read: Read,
          flows) -> Iterator[FrameOutcome]:
    """Finish the frames of chunk ``k`` after its keyframe, in order, each from its draft and pulled
    toward the finished frame before it (task k's keyframe must be in the store). Finished frames are
    passed through."""
    c = chunks[k]
    images = dict(zip(c.numbers, read(c.numbers)))
    key = store.load(c.key)
    if key is None:
        raise RuntimeError(f"keyframe {c.key} is not in the work folder; chunk {k} needs it")
    earlier = from_uint16(key[0])
    for t in c.numbers[1:]:
        fb, cb = _flow_back(flows, images, t)
        p = Prepared(t, images[t], {1: (fb, cb)}, {}, 0.0)
        outcome = resumed(store, p) or _finish(solve, cfg, store, p, (warp(earlier, fb), cb), {"chunk": k})
        earlier = outcome.stylized
        yield outcome


def critical_path(chunks: list[Chunk], evaluations: dict[int, int]) -> int:
    """The longest chain of dependent work, in VGG evaluations: keyframe tasks 0…k (their records hold
    their chunks' draft work; chunk k needs task k) and then chunk k's own frames, over all k."""
    keys = [evaluations.get(c.key, 0) for c in chunks]
    chain = np.cumsum(keys)
    longest = 0
    for k, c in enumerate(chunks):
        before = chain[k]
        longest = max(longest, int(before) + sum(evaluations.get(n, 0) for n in c.numbers[1:]))
    return longest


def run(solve: Solve, cfg: StylizeConfig, prepared: list[Prepared], store: WorkStore, flows=None
        ) -> Iterator[FrameOutcome]:
    """The chunked scheme in this process, one chunk after another: the same frames a cluster makes
    (for a single machine, tests, and as the reference of a distributed run). Yields the frames in
    order with the prepared frames' flows (for metrics)."""
    if flows is None:
        raise ValueError("the chunked driver needs the flow source")
    by_number = {p.number: p for p in prepared}
    chunks = plan(prepared[0].number, len(prepared), cfg.chunks.chunk_frames)
    read: Read = lambda numbers: [by_number[n].frame for n in numbers]  # noqa: E731
    keys = [keyframe(solve, cfg, store, chunks, k, read, flows) for k in range(len(chunks))]
    for k, c in enumerate(chunks):
        yield FrameOutcome(by_number[c.key], keys[k].stylized, keys[k].record, keys[k].resumed)
        for o in chunk(solve, cfg, store, chunks, k, read, flows):
            yield FrameOutcome(by_number[o.prepared.number], o.stylized, o.record, o.resumed)
