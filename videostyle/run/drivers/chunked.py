"""Chunked driver: one shot cut into chunks of K frames that can render at the same time (on a Ray
cluster: cluster/shot.py), with seams that do not show.

Two chunks rendered independently meet with two different textures: every start invents its own brush
strokes. So the texture is fixed once, along the whole shot, and the chunks only finish it:

1. **The draft**: the single-pass method over the whole shot with a small cap on warm-started frames
   (``draft_iterations``), one task per frame, each going on from the draft of the frame before, started
   from it warped (the paper's prevWarped; the temporal loss still ignores unreliable pixels), except
   where the frame shows picture the frame before did not, behind something that moved away
   (``flow.warp.uncovered``, not at the frame's edges): there from the photo. Every frame's texture is
   then decided, consistently, by the flow from the frame before.
2. **Finishing**, one task per frame, chunks in parallel: each frame starts from its draft, is held near
   it on every pixel (``draft_anchor`` × the temporal weight), and (after its chunk's first frame, the
   keyframe) is pulled toward the finished frame before it warped by flow, as in the single-pass method,
   for at most ``finish_iterations``. The first frame after a seam and the last before it both stay
   near drafts that agree, so nothing jumps and nothing is averaged.

With one task per frame (``tasks``), a chunk's finishing follows the draft frame by frame instead of
waiting for the chunk's whole draft; ``critical_path`` is the longest chain of dependent work. The draft
runs forward only. What was measured and what was tried and dropped (half-size drafts, drafts from the
photo, two-way drafts from a middle keyframe, bicubic warps, …): docs/design.md, "Chunked renders:
findings", and docs/performance.md.

A task reads its inputs from a work store (keyed by absolute frame number; draft frames as pass 1) and
keeps its result there: locally the run's store, so a rerun skips kept frames; on a Ray worker an
in-memory store holding the results the task was handed (cluster/worker.py), so this module's local
``run`` makes exactly the frames a cluster makes. The chunk plan is the Shot's (``plan`` is called once,
by run/plan.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from ...config import StylizeConfig
from ...io.frames import from_uint16
from ..store import WorkStore
from ...flow.warp import inside, uncovered, warp
from .core import (FrameOutcome, Light, Prepared, Solve, iteration_cap, resumed, solve_and_keep, stylize_step,
                   temporal_targets)

NEEDS_WHOLE_CLIP = False  # run() streams: draft n, then finish n
RESULTS_DEPEND_ON_RANGE = True  # the chunk plan is made over the selected range


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
    """Flow t → t−1 and its consistency weights; None where a new shot begins at t (a cut)."""
    got = flows(t, images[t], t - 1, images[t - 1])
    return None if got is None else got[:2]


def _relit(cfg: StylizeConfig, images: dict, n: int, warped: np.ndarray, flow, weight) -> np.ndarray:
    """Result n − 1 warped into frame n, relit by the source's change of light (--follow-light)."""
    light = Light.of(cfg, images[n], lambda j: images[n - j])
    if light is None or images.get(n - 1) is None:  # a caller without the earlier source frame
        return warped
    return light.apply(warped, 1, flow, weight)


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
    got = flows(n, images[n], n - 1, images[n - 1]) if len(numbers) == 2 else None
    if got is None:  # the shot's first frame, or the first after a cut (flows then gives None): cold
        return stylize_step(solve, cfg, store, p, lambda j: None, pass_=DRAFT_PASS)
    flow, weight, forward, _ = got
    warped = _relit(cfg, images, n, warp(_kept(store, n - 1, DRAFT_PASS, f"the draft of frame {n}"), flow, cfg.resampling),
                    flow, weight)
    # Started from the warped draft before it (the paper's prevWarped; whatever --init says), motion
    # boundaries and pixels the consistency check merely doubts included, not from the photo wherever
    # the flow is unreliable as the single pass is: a draft's few iterations leave such pixels half
    # painted, the next draft inherits them, and the style deficit grows along the shot (+26 % on the
    # occluder shot, docs/performance.md). Only picture that frame n − 1 did not show at all, behind
    # something that moved away (nothing lands there when n − 1 is moved forward, and the flow back
    # points inside n − 1), starts from the photo: there the warped draft holds paint dragged in from
    # what moved, a trail the finish was held to (content +16–25 % behind a moving card; from the photo
    # there +12–19 %). Picture entering at an edge keeps the warped draft (its edge paint drawn out):
    # restarted from the photo, that strip was half painted in every draft and chunks' keyframes met it
    # differently (seams on a sub-pixel pan 3× below those of drafts started anew, from 8–26×).
    behind = uncovered(forward) & inside(flow)
    start = np.where(behind[..., None], images[n].astype(np.float32), warped)
    # The temporal loss ignores unreliable pixels (weight 0): the finishing repaints them.
    temporal = temporal_targets(cfg, {1: warped}, {1: weight})
    # The draft is the cheap pass: never more iterations than a finished frame gets (``--iterations``).
    cap = min(cfg.chunks.draft_iterations, cfg.optim.iterations_later)
    return solve_and_keep(solve, store, p, start, temporal, cap, cold=False, pass_=DRAFT_PASS)


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
    back = _flow_back(flows, images, n) if len(numbers) == 2 and cfg.loss.temporal_weight > 0 else None
    if back is not None:
        flow, weight = back
        warped = _relit(cfg, images, n, warp(_kept(store, n - 1, 0, f"frame {n}"), flow, cfg.resampling), flow, weight)
        temporal = ((warped, weight),) + temporal
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


def run(solve: Solve, cfg: StylizeConfig, prepared: Iterable[Prepared], store: WorkStore, flows=None,
        chunks: tuple[Chunk, ...] | None = None) -> Iterator[FrameOutcome]:
    """The chunked scheme in this process: the same frames a cluster makes (for a single machine, tests,
    and as the reference of a distributed run). It streams: each frame's draft, then the frame finished
    (its two inputs, its draft and finished frame n − 1, are then ready), so only two frames are held.
    Yields the frames in order with the prepared frames' flows (for metrics). ``chunks``: the shot's plan
    (plan.Shot.chunks, made by ``plan``)."""
    if flows is None or not chunks:
        raise ValueError("the chunked driver needs the flow source and the shot's chunks")
    window: dict[int, Prepared] = {}
    read: Read = lambda numbers: [window[n].frame for n in numbers]  # noqa: E731

    def across_cuts(t, image_t, s, image_s):  # no flow into a frame where a new shot begins
        return None if window[max(t, s)].cut else flows(t, image_t, s, image_s)

    for p in prepared:
        window[p.number] = p
        window.pop(p.number - 2, None)
        draft(solve, cfg, store, chunks, p.number, read, across_cuts)
        o = finish(solve, cfg, store, chunks, p.number, read, across_cuts)
        yield FrameOutcome(p, o.stylized, o.record, o.resumed)
