"""Chunked driver: one shot cut into chunks of K frames that can render at the same time (on a Ray
cluster: distributed.py), with seams that do not show.

Two chunks rendered independently meet with two different textures: every start invents its own brush
strokes. Measured on the cockatoo clip (96 px, chunks of 8): chunks started from keyframes stylized in a
chain (each from the previous keyframe warped by the flow between them, K frames apart) met with a jump
30× the source's warping error; pulling a chunk's last frames toward the next keyframe only spread the
jump over those frames and washed them out (two textures averaged); keyframes from a sequential pass at
half size met with new fine strokes (8–12×). So the texture is fixed once, along the whole shot, and the
chunks only finish it:

1. **The draft**: the single-pass method over the whole shot with a small cap on warm-started frames
   (``draft_iterations``), one task per frame, each going on from the draft of the frame before, started
   from it warped on every pixel. Every frame's texture is then decided, consistently, by the flow from
   the frame before.
2. **Finishing**, one task per frame, chunks in parallel: each frame starts from its draft, is held near
   it on every pixel (``draft_anchor`` × the temporal weight), and (after its chunk's first frame, the
   keyframe) is pulled toward the finished frame before it warped by flow, as in the single-pass method,
   for at most ``finish_iterations``.
   The first frame after a seam and the last before it both stay near drafts that agree, so nothing
   jumps and nothing is averaged.

With one task per frame (``tasks``), a chunk's finishing follows the draft frame by frame instead of
waiting for the chunk's whole draft. The longest chain of dependent work (``critical_path``) is the draft
up to the last chunk's keyframe and that chunk's finishing, or the whole draft and one frame's finishing
if the draft is the slower. Measured on 32 frames (96 px, chunks of 8; against the sequential run's
evaluations): 50 % at 15 draft iterations and 71 % at 30, where whole-chunk tasks gave 57 % and 79 %
(the frames are the same).

The draft decides the style: a finished frame stays near its draft. Until 2026-11-27 the draft started
each frame as the single pass does, from the photo where the flow is unreliable (disocclusions, motion
boundaries), and its style fell behind frame after frame: the draft alone was +12 % against the
sequential run's at its second frame and +30 % at its last, at 15 iterations, and the finished frames
+16 % at 15, +9 % at 27 (critical path 50 % and 65 %). A draft's few iterations leave those pixels half
painted and the next draft inherits them. Started from the warped draft before it on every pixel (the
paper's prevWarped; the temporal loss still ignores those pixels) the finished frames are −9 % at 11
draft iterations and −7 % at 8, content +6 % / +8 %, seams 1.37× / 1.51× the pairs inside chunks, the
whole clip 0.61× / 0.68× the sequential run's warping error at offset 1 (cockatoo frames 100–131, starry
night, 96 px, chunks of 8); half from the photo and half from paint: +17 % at 8. The finished frames,
started from a painted draft, then gain little after 20 iterations: capping them there
(``finish_iterations``) took the critical path from 45 % to 40 % at 11 draft iterations (content +7 %,
style −9 %, seams 1.24×). The defaults, 10 and 20: critical path 39 %, content +7 %, style −9 %, seams
1.33×. On Matisse's painting (frames 40–71, the sequential run there stops earlier) they gave critical
path 42 %, content +5.5 %, style +9 %. A whole draft at half size (each finished frame held to its draft
enlarged) was cheaper still, but the fine strokes the finishing added were new in every chunk: seams
6–7.5× the source's floor.

Tried before that and dropped (with the draft from the photo): what warping and new content take from a
draft frame, 15 iterations did not give back, and it was not the temporal term holding the draft back
(its weights × 0.5, 0.25 or 0.1 left it at +22 %). A cheaper draft with freer finishing did not buy style
back: 5 iterations with the anchor at 0.5 gave +18 % with seams 3.7× the pairs inside chunks, 15 with the
anchor at 1 gave +14 % with seams 1.7× and whole-clip warping error 1.15× the sequential run's;
starting each finished frame from the finished frame before (warped) instead of its draft, +24–31 % and
seams 2.6–5.1× (2.6× with 2 frames of run-in before each chunk); raising the style weight while
finishing (8 draft iterations, × 1.6 / × 2.5) gave style +14 % / +2 % but content +13 % / +23 % and
seams 1.9× / 1.8×; doubling it in the draft (8 iterations) +22 %. A draft chained over every second frame
(each from the one two before it, by the flow between them; the frames between hang off the chain) halves
the chain, but the two kinds of frame alternate: at 15 iterations, critical path 40 %, warping error 2.0×
the sequential run's at offset 1, seams 5.6× the pairs inside chunks, style +19 %. Style is not lost to
the blur of repeated bilinear warps: warping with bicubic sampling in the draft and finishing gave +20 %.

Drafting both ways from a cold key frame in the middle of the shot halves the chain (critical path 38–39 %
at 25 draft iterations, style +2–3 %, content +1 %), but the frames made backward were not steady by the
warping error: 1.6–1.8× the sequential run's over the whole clip, 6.9× at the key frame's seam. The
warping error interpolates the earlier frame of a pair into the later one; a frame made from the frame
after it is that frame interpolated the other way, and a texture does not survive two interpolations
(per pair, the backward half measured about 1× the other way round and 1.4–2.8× forward). Holding such
a frame to its neighbour in the neighbour's grid (the image warped inside the loss) only brought 1.77×
down to 1.61×: undoing an interpolation is ill-posed. So the draft runs forward only.

Everything goes through the work store (keyed by absolute frame number; draft frames as pass 1): a task
carries only frame numbers, a retried task skips finished frames, and this module's local ``run`` makes
exactly the frames a cluster makes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np

from ...config import StylizeConfig
from ...io.frames import from_uint16
from ..store import WorkStore
from ...flow.warp import warp
from .core import (FrameOutcome, Prepared, Solve, iteration_cap, resumed, solve_and_keep, stylize_step,
                   temporal_targets)

NEEDS_WHOLE_CLIP = True  # run() here: the whole draft comes first (a cluster worker reads its own frames)


@dataclass(frozen=True)
class Chunk:
    index: int
    numbers: tuple[int, ...]   # absolute frame numbers, ascending


def plan(first: int, n_frames: int, chunk_frames: int) -> list[Chunk]:
    """Chunks of ``chunk_frames`` frames over ``first … first+n_frames−1``; a last chunk shorter than
    half a chunk joins the one before (a 1-frame chunk would be all seam)."""
    bounds = list(range(first, first + n_frames, chunk_frames))
    if len(bounds) > 1 and first + n_frames - bounds[-1] < max(2, chunk_frames // 2):
        bounds.pop()
    ends = bounds[1:] + [first + n_frames]
    return [Chunk(i, tuple(range(a, b))) for i, (a, b) in enumerate(zip(bounds, ends))]


def chunk_of(chunks: list[Chunk], n: int) -> Chunk:
    return next(c for c in chunks if c.numbers[0] <= n <= c.numbers[-1])


def tasks(chunks: list[Chunk]) -> dict[tuple[str, int], tuple[tuple[str, int], ...]]:
    """The tasks of a shot and what each needs, in the order to prefer among ready ones: ("draft", n)
    needs the draft of frame n − 1; ("finish", n) needs its own draft and, inside its chunk, frame n − 1
    finished. One frame per task, so a chunk's finishing follows the draft frame by frame instead of
    waiting for the chunk's whole draft."""
    first = chunks[0].numbers[0]
    out: dict = {}
    for c in chunks:
        for n in c.numbers:
            out[("draft", n)] = (("draft", n - 1),) if n > first else ()
    for c in chunks:
        for n in c.numbers:
            out[("finish", n)] = (("draft", n),) + ((("finish", n - 1),) if n > c.numbers[0] else ())
    return out


DRAFT_PASS = 1  # the draft's frames are kept in the store under this pass number

# Access to the shot, the same locally and on a worker: the frame (H×W×3 uint8 at processing size) of an
# absolute number, and the flows of a pair of numbers (flowsource's call: t, frame_t, s, frame_s).
Read = Callable[[Sequence[int]], list[np.ndarray]]


def _flow_back(flows, images: dict, t: int):
    """Flow t → t−1 and its consistency weights."""
    fb, cb, _, _ = flows(t, images[t], t - 1, images[t - 1])
    return fb, cb


def _kept(store: WorkStore, n: int, pass_: int, needed_by: str) -> np.ndarray:
    kept = store.load(n, pass_)
    if kept is None:
        what = "the draft of frame" if pass_ == DRAFT_PASS else "finished frame"
        raise RuntimeError(f"{what} {n} is not in the work folder; {needed_by} needs it")
    return from_uint16(kept[0])


def draft(solve: Solve, cfg: StylizeConfig, store: WorkStore, chunks: list[Chunk], n: int, read: Read,
          flows) -> FrameOutcome:
    """Task ("draft", n): the single-pass method on frame ``n`` with a small cap on warm-started frames
    (``draft_iterations``, at most the later frames' cap), started from the draft of frame n − 1 warped
    (the shot's first frame: cold). Kept as pass ``DRAFT_PASS``; a kept draft is returned as it is."""
    numbers = [n - 1, n] if n > chunks[0].numbers[0] else [n]
    images = dict(zip(numbers, read(numbers)))
    p = Prepared(n, images[n], {}, {}, 0.0)
    done = resumed(store, p, DRAFT_PASS)
    if done is not None:
        return done
    if len(numbers) == 1:
        return stylize_step(solve, cfg, store, p, lambda j: None, pass_=DRAFT_PASS)
    flow, weight = _flow_back(flows, images, n)
    warped = warp(_kept(store, n - 1, DRAFT_PASS, f"the draft of frame {n}"), flow)
    # Started from the warped draft before it on every pixel, disocclusions and motion boundaries
    # included (the paper's prevWarped; whatever --init says), not from the photo there as the single
    # pass is: a draft's few iterations leave such pixels half painted, the next draft inherits them, and
    # the style deficit grows along the shot (+16 % at 15 iterations; from paint, −7 % at 8: this
    # module's docstring). The temporal loss still ignores them (weight 0): the finishing repaints them.
    temporal = temporal_targets(cfg, {1: warped}, {1: weight})
    # The draft is the cheap pass: never more iterations than a finished frame gets (``--iterations``).
    cap = min(cfg.chunks.draft_iterations, cfg.optim.iterations_later)
    return solve_and_keep(solve, store, p, warped, temporal, cap, cold=False, pass_=DRAFT_PASS)


def finish(solve: Solve, cfg: StylizeConfig, store: WorkStore, chunks: list[Chunk], n: int, read: Read,
           flows) -> FrameOutcome:
    """Task ("finish", n): frame ``n`` finished from its draft: started there, held near it on every
    pixel (``draft_anchor`` × the temporal weight) and, unless it is its chunk's first frame (its
    keyframe), pulled toward finished frame n − 1 warped by flow, as in the single-pass method. The
    draft's own work is added to the frame's record (the report counts all work, and
    ``draft_evaluations`` tells the chain's share apart). A finished frame is returned as it is."""
    c = chunk_of(chunks, n)
    numbers = [n - 1, n] if n > c.numbers[0] else [n]
    images = dict(zip(numbers, read(numbers)))
    p = Prepared(n, images[n], {}, {}, 0.0)
    done = resumed(store, p)
    if done is not None:
        return done
    kept = store.load(n, DRAFT_PASS)
    if kept is None:
        raise RuntimeError(f"the draft of frame {n} is not in the work folder; chunk {c.index} needs it")
    drafted, draft_record = from_uint16(kept[0]), kept[1]
    temporal = ((drafted, np.full(drafted.shape[:2], cfg.chunks.draft_anchor, np.float32)),)
    if len(numbers) == 2 and cfg.loss.temporal_weight > 0:
        flow, weight = _flow_back(flows, images, n)
        temporal = ((warp(_kept(store, n - 1, 0, f"frame {n}"), flow), weight),) + temporal
    cap = min(cfg.chunks.finish_iterations, iteration_cap(cfg, True))
    image, record = solve(p.frame.astype(np.float32), drafted, temporal, cap, False)
    record = {**record, "chunk": c.index, "keyframe": len(numbers) == 1,
              "evaluations": record["evaluations"] + draft_record["evaluations"],
              "draft_evaluations": draft_record["evaluations"],
              "seconds": record["seconds"] + draft_record["seconds"]}
    return FrameOutcome(p, store.keep(n, image, record), record, False)


def critical_path(chunks: list[Chunk], records: dict[int, dict]) -> int:
    """The longest chain of dependent work, in VGG evaluations, over ``tasks``: each draft after the one
    it goes on from, each finished frame after its own draft and the finished frame before it (each
    frame's record holds its draft's evaluations as ``draft_evaluations``)."""
    def draft_of(n):
        return records.get(n, {}).get("draft_evaluations", 0)
    done: dict = {}
    for key, needs in tasks(chunks).items():
        kind, n = key
        cost = draft_of(n) if kind == "draft" else records.get(n, {}).get("evaluations", 0) - draft_of(n)
        done[key] = max((done[k] for k in needs), default=0) + cost
    return max(done.values(), default=0)


def run(solve: Solve, cfg: StylizeConfig, prepared: list[Prepared], store: WorkStore, flows=None,
        chunks: tuple[Chunk, ...] | None = None) -> Iterator[FrameOutcome]:
    """The chunked scheme in this process, task after task (the draft, then chunk after chunk): the same
    frames a cluster makes (for a single machine, tests, and as the reference of a distributed run).
    Yields the frames in order with the prepared frames' flows (for metrics). ``chunks``: the shot's plan
    (plan.Shot.chunks, made by ``plan``)."""
    if flows is None or not chunks:
        raise ValueError("the chunked driver needs the flow source and the shot's chunks")
    by_number = {p.number: p for p in prepared}
    read: Read = lambda numbers: [by_number[n].frame for n in numbers]  # noqa: E731
    for c in chunks:
        for n in c.numbers:
            draft(solve, cfg, store, chunks, n, read, flows)
    for c in chunks:
        for n in c.numbers:
            o = finish(solve, cfg, store, chunks, n, read, flows)
            yield FrameOutcome(by_number[n], o.stylized, o.record, o.resumed)
