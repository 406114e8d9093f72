"""Chunked driver: one shot cut into chunks of K frames that can render at the same time (on a Ray
cluster: distributed.py), with seams that do not show.

A chunk cannot simply start cold: every cold start invents its own brush strokes, and two chunks would
meet with two different textures (a jump no blending hides without blurring). So the texture is handed
on, as in the sequential method, but along a short chain (the "keyframe relay"):

1. **Keyframes** — the first frame of each chunk — are stylized in a chain: keyframe 0 cold, keyframe
   k warm-started from keyframe k−1 warped by the flow between the two (K frames apart) and pulled
   toward it by the temporal loss, where that flow is consistent. Every chunk then starts from a
   texture that descends from the same first frame.
2. **Chunks** render forward from their keyframe like the single-pass driver (warm starts, temporal
   loss, ``--long-term`` inside the chunk). The last ``seam_frames`` frames of a chunk are also pulled
   toward the next chunk's keyframe warped back to them, with a weight that ramps up to the seam while
   the pull toward the previous frame ramps down (``seam_ramp``): what drifted inside the chunk, or was
   invented where the keyframe's long flow saw nothing, is brought to the keyframe's texture over a few
   frames instead of jumping at the seam. No two images are ever averaged: each frame is optimized
   against the style loss, which keeps it sharp.

Chunk k needs keyframes k and k+1, so the longest chain of dependent work is the keyframe chain plus one
chunk, not the whole shot (``critical_path``). Everything goes through the work store (keyed by absolute
frame number): a task carries only frame numbers, a retried task skips finished frames, and this
module's local ``run`` makes exactly the frames that a cluster makes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np

from ..config import StylizeConfig
from ..frames import from_uint16
from ..store import WorkStore
from ..temporal import init_image
from ..warp import warp
from .core import (FrameOutcome, Prepared, Solve, frame_rng, iteration_cap, resumed, solve_and_keep, start_kind,
                   temporal_targets, warped_neighbours)

NEEDS_WHOLE_CLIP = True  # run() here: keyframes are read out of order (a cluster worker reads its own frames)


@dataclass(frozen=True)
class Chunk:
    index: int
    numbers: tuple[int, ...]   # absolute frame numbers, keyframe first
    right: int | None          # the next chunk's keyframe (the seam), None for the last chunk

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


def seam_ramp(distance: int, seam_frames: int) -> float:
    """Weight of the next keyframe's pull on a frame ``distance`` frames before it (1 = the last frame
    of the chunk): rises linearly from 1/(S+1) to S/(S+1) over the S = ``seam_frames`` last frames, 0
    before them. The previous frame's pull gets 1 − this."""
    if distance > seam_frames:
        return 0.0
    return (seam_frames + 1 - distance) / (seam_frames + 1)


# Access to the shot, the same locally and on a worker: the frame (H×W×3 uint8 at processing size) of an
# absolute number, and the flows of a pair of numbers (flowsource's call: t, frame_t, s, frame_s).
Read = Callable[[Sequence[int]], list[np.ndarray]]


def keyframe(solve: Solve, cfg: StylizeConfig, store: WorkStore, chunks: list[Chunk], k: int, read: Read,
             flows) -> FrameOutcome:
    """Stylize keyframe ``k`` (keyframe k−1 must be in the store): cold for the first chunk, else
    warm-started from and pulled toward keyframe k−1 warped by their flow."""
    key = chunks[k].key
    image = read([key])[0] if k == 0 else None
    if k == 0:
        p = Prepared(key, image, {}, {}, 0.0)
        previous = None
    else:
        before = chunks[k - 1].key
        image, prev_frame = read([key, before])
        fb, cb, ff, cf = flows(key, image, before, prev_frame)
        p = Prepared(key, image, {key - before: (fb, cb)}, {}, 0.0)
        previous = store.load(before)
        if previous is None:
            raise RuntimeError(f"keyframe {before} is not in the work folder; keyframe {key} needs it")
    done = resumed(store, p)
    if done is not None:
        return done
    if previous is None:
        warped, weights = {}, {}
    else:
        warped, weights = warped_neighbours(lambda j: from_uint16(previous[0]), p.back)
    # The warped keyframe is offset K, not 1: the temporal term uses it as the only target there is.
    w = next(iter(warped.values()), None)
    c = next(iter(weights.values()), None)
    kind = start_kind(cfg, w is not None)
    start = init_image(kind, image.astype(np.float32), w, c, frame_rng(cfg.seed, key))
    warm = kind == "prevwarped"
    temporal = ((w, c),) if w is not None and cfg.loss.temporal_weight > 0 else ()
    return solve_and_keep(solve, store, p, start, temporal, iteration_cap(cfg, warm), cold=not warm,
                          extra={"chunk": k, "keyframe": True})


def chunk(solve: Solve, cfg: StylizeConfig, store: WorkStore, chunks: list[Chunk], k: int, read: Read,
          flows) -> Iterator[FrameOutcome]:
    """Stylize the frames of chunk ``k`` after its keyframe, in order (keyframes k and k+1 must be in the
    store). Frames already in the store are passed through."""
    c = chunks[k]
    numbers = list(c.numbers) + ([c.right] if c.right is not None else [])
    images = dict(zip(numbers, read(numbers)))
    key = store.load(c.key)
    if key is None:
        raise RuntimeError(f"keyframe {c.key} is not in the work folder; chunk {k} needs it")
    right = None
    if c.right is not None and cfg.chunks.seam_frames > 0:
        loaded = store.load(c.right)
        if loaded is None:
            raise RuntimeError(f"keyframe {c.right} is not in the work folder; chunk {k} needs it")
        right = from_uint16(loaded[0])
    history = [from_uint16(key[0])]          # results of the chunk so far; history[-j] is frame t−j
    offsets = sorted({1, *cfg.long_term})
    for t in c.numbers[1:]:
        back = {}
        for j in offsets:
            if j <= len(history):
                fb, cb, _, _ = flows(t, images[t], t - j, images[t - j])
                back[j] = (fb, cb)
        p = Prepared(t, images[t], back, {}, 0.0)
        outcome = resumed(store, p)
        if outcome is None:
            warped, weights = warped_neighbours(lambda j: history[-j] if j <= len(history) else None, back)
            kind = start_kind(cfg, 1 in warped)
            start = init_image(kind, images[t].astype(np.float32), warped.get(1), weights.get(1),
                               frame_rng(cfg.seed, t))
            warm = kind == "prevwarped"
            temporal = temporal_targets(cfg, warped, weights)
            r = seam_ramp(c.right - t, cfg.chunks.seam_frames) if right is not None else 0.0
            if r > 0 and cfg.loss.temporal_weight > 0:
                fr, cr, _, _ = flows(t, images[t], c.right, images[c.right])
                temporal = tuple((w, (1.0 - r) * cw) for w, cw in temporal) + ((warp(right, fr), r * cr),)
            outcome = solve_and_keep(solve, store, p, start, temporal, iteration_cap(cfg, warm), cold=not warm,
                                     extra={"chunk": k, **({"seam_pull": round(r, 3)} if r else {})})
        history.append(outcome.stylized)
        yield outcome


def critical_path(chunks: list[Chunk], evaluations: dict[int, int]) -> int:
    """The longest chain of dependent work, in VGG evaluations: keyframes 0…k+1 (chunk k needs both of
    its keyframes) and then chunk k's own frames, over all k."""
    keys = [evaluations.get(c.key, 0) for c in chunks]
    chain = np.cumsum(keys)
    longest = 0
    for k, c in enumerate(chunks):
        before = chain[min(k + 1, len(chunks) - 1)]
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
