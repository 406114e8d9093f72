"""Chunked driver: one shot cut into chunks of K frames that can render at the same time (on a Ray
cluster: distributed.py), with seams that do not show.

Two chunks rendered independently meet with two different textures: every start invents its own brush
strokes. Measured on the cockatoo clip (96 px, chunks of 8): chunks started from keyframes stylized in a
chain (each from the previous keyframe warped by the flow between them, K frames apart) met with a jump
30× the source's warping error; pulling a chunk's last frames toward the next keyframe only spread the
jump over those frames and washed them out (two textures averaged); keyframes from a sequential pass at
half size met with new fine strokes (8–12×). So the texture is fixed once, along the whole shot, and the
chunks only finish it:

1. **The draft** (task "draft" k, in a chain): the single-pass method over chunk k's frames with a
   small cap on warm-started frames (``draft_iterations``), going on from the draft of the frame before
   the chunk. Every frame's texture is then decided, consistently, by the flow from the frame before.
2. **Chunks** (task "chunk" k, in parallel once draft k is done) finish their frames in order: each
   starts from its draft, is held near it on every pixel (``draft_anchor`` × the temporal weight), and
   (after the chunk's first frame, its keyframe) is pulled toward the finished frame before it warped
   by flow, as in the single-pass method. The first frame after a seam and the last before it both
   stay near drafts that agree, so nothing jumps and nothing is averaged.

The draft is sequential, so the longest chain of dependent work is the draft up to the last chunk plus
one chunk's finishing (``critical_path``); no finishing is on the draft's chain.

The draft decides the style: a finished frame stays near its draft, so its style distance follows the
draft's iterations. Measured on 32 frames (96 px, chunks of 8; style distance and critical path against
the sequential run's): 15 iterations +16 % and 57 %, 30 iterations +7 % and 79 %. A cheaper draft with
freer finishing does not buy style back: 5 iterations with the anchor at 0.5 gave +18 % with seams 3.7×
the pairs inside chunks; starting each finished frame from the finished frame before (warped) instead of
its draft, +24–31 % and seams 2.6–5.1× (2.6× with 2 frames of run-in before each chunk); raising the
style weight while finishing (8 draft iterations, × 1.6 / × 2.5) gave style +14 % / +2 % but content
+13 % / +23 % and seams 1.9× / 1.8×. So the draft is kept at full strength per iteration and its length
is the user's trade (``--draft-iterations``).

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


def draft(solve: Solve, cfg: StylizeConfig, store: WorkStore, chunks: list[Chunk], k: int, read: Read,
          flows) -> list[FrameOutcome]:
    """Task "draft" k: the draft of chunk ``k``'s frames, going on from the draft of the frame before the
    chunk (task k−1 must have run). Drafted frames are kept as pass ``DRAFT_PASS``; kept ones are skipped."""
    c = chunks[k]
    numbers = ([c.key - 1] if k else []) + list(c.numbers)
    images = dict(zip(numbers, read(numbers)))
    earlier = None
    if k:
        before = store.load(c.key - 1, DRAFT_PASS)
        if before is None:
            raise RuntimeError(f"the draft of frame {c.key - 1} is not in the work folder; chunk {k} needs it")
        earlier = from_uint16(before[0])
    draft_cfg = replace(cfg, optim=replace(cfg.optim, iterations_later=cfg.chunks.draft_iterations))
    out = []
    for t in c.numbers:  # the single-pass method, with a small cap on warm-started frames
        back = {1: _flow_back(flows, images, t)} if earlier is not None else {}
        drafted = stylize_step(solve, draft_cfg, store, Prepared(t, images[t], back, {}, 0.0),
                               lambda j: earlier, pass_=DRAFT_PASS)
        earlier = drafted.stylized
        out.append(drafted)
    return out


def _finish(solve: Solve, cfg: StylizeConfig, store: WorkStore, p: Prepared, previous: tuple | None,
            extra: dict) -> FrameOutcome:
    """Frame ``p`` finished from its draft: started there, held near it on every pixel (``draft_anchor`` ×
    the temporal weight) and pulled toward ``previous`` = (the finished frame before, warped; its
    weights). The draft's own work is added to the frame's record (the report counts all work, and
    ``draft_evaluations`` tells the chain's share apart)."""
    kept = store.load(p.number, DRAFT_PASS)
    if kept is None:
        raise RuntimeError(f"the draft of frame {p.number} is not in the work folder")
    draft, draft_record = from_uint16(kept[0]), kept[1]
    temporal = ((draft, np.full(draft.shape[:2], cfg.chunks.draft_anchor, np.float32)),)
    if previous is not None and cfg.loss.temporal_weight > 0:
        temporal = (previous,) + temporal
    image, record = solve(p.frame.astype(np.float32), draft, temporal, iteration_cap(cfg, True), False)
    record = {**record, **extra, "evaluations": record["evaluations"] + draft_record["evaluations"],
              "draft_evaluations": draft_record["evaluations"],
              "seconds": record["seconds"] + draft_record["seconds"]}
    return FrameOutcome(p, store.keep(p.number, image, record), record, False)


def chunk(solve: Solve, cfg: StylizeConfig, store: WorkStore, chunks: list[Chunk], k: int, read: Read,
          flows) -> Iterator[FrameOutcome]:
    """Task "chunk" k: finish chunk ``k``'s frames in order (task "draft" k must have run), each from
    its draft; every frame after the keyframe is also pulled toward the finished frame before it.
    Finished frames are passed through."""
    c = chunks[k]
    images = dict(zip(c.numbers, read(c.numbers)))
    earlier = None
    for t in c.numbers:
        back = {1: _flow_back(flows, images, t)} if earlier is not None else {}
        p = Prepared(t, images[t], back, {}, 0.0)
        previous = (warp(earlier, back[1][0]), back[1][1]) if back else None
        outcome = resumed(store, p) or _finish(solve, cfg, store, p, previous, {"chunk": k, "keyframe": t == c.key})
        earlier = outcome.stylized
        yield outcome


def critical_path(chunks: list[Chunk], records: dict[int, dict]) -> int:
    """The longest chain of dependent work, in VGG evaluations: the draft of chunks 0…k (a chain; each
    frame's record holds its draft's evaluations as ``draft_evaluations``) and then the finishing of
    chunk k's frames, over all k."""
    def draft_of(n):
        return records.get(n, {}).get("draft_evaluations", 0)
    chain, longest = 0, 0
    for c in chunks:
        chain += sum(draft_of(n) for n in c.numbers)
        finishing = sum(records.get(n, {}).get("evaluations", 0) - draft_of(n) for n in c.numbers)
        longest = max(longest, chain + finishing)
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
    for k in range(len(chunks)):
        draft(solve, cfg, store, chunks, k, read, flows)
    for k in range(len(chunks)):
        for o in chunk(solve, cfg, store, chunks, k, read, flows):
            yield FrameOutcome(by_number[o.prepared.number], o.stylized, o.record, o.resumed)
