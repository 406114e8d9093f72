"""Student driver (--method student; Texler et al. 2020): three steps, each reported.

1. **Keyframes** (run/keyframes.py): the first frame, frames where much of the picture is new, at least
   every ``--keyframe-every`` frames, and the artist's (--keyframe).
2. **Keyframes stylized** by the optimizer, chained by flow: each warm-started from and pulled toward the
   keyframe before it, warped by the flow composed along the frames between (the single-pass method over
   the keyframes), so they agree with each other. They are kept in the work folder (pass 1), so a rerun
   does not redo them; an artist's keyframe is taken as painted.
3. **The student** is trained on them (method/student_training.py, checkpointed in the work folder),
   then renders every frame on its own, a few at a time (on a cluster's workers with ``--cluster``:
   cluster/student.py). ``--student PATH`` skips 1–3's training and
   renders with a student saved by an earlier run (--save-student), so the shots of a sequence share one
   look.

Every frame's paint is a function of its own picture only: frame N is the same rendered alone, in a
batch or on another machine.
"""
from __future__ import annotations

import functools
import os
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Iterator, Sequence

import cv2
import numpy as np
import torch

from ...config import StylizeConfig
from ...flow.files import resize_flow, resize_mask
from ...flow.warp import compose
from ...io.resize import processing_size, resize_rgb
from ...method import carry as carry_paint
from ...method import student as network
from ...method.temporal import WARM_STARTS
from ...method.student_training import Pair, Settings, Trainer
from ..flows import EstimatedFlows
from ..keyframes import Keyframe, choose, new_fraction
from ..store import WorkStore, make_dirs, note_written, work_folder_error
from .core import FrameOutcome, Prepared, Solve, resumed, stylize_step

NEEDS_WHOLE_CLIP = True          # training sees the whole shot before the first frame is rendered
RESULTS_DEPEND_ON_RANGE = True   # the keyframes and the student are the selected range's
KEYFRAME_PASS = 1                # the store pass that holds the stylized keyframes
FOLDER = "student"


@dataclass
class Job:
    """What the driver needs beyond the frames: the device, the artist's keyframes (absolute number →
    RGB float32 0–255 at the processing size), the work folder, progress events, and the report's
    ``summary`` (filled as it goes)."""
    device: torch.device
    work_dir: str
    artist: dict[int, np.ndarray] = field(default_factory=dict)
    emit: Callable[[dict], None] = lambda event: None
    summary: dict = field(default_factory=dict)
    # The stylized keyframes (absolute number → RGB float32 0–255), once made: the carry paints from them.
    keys: dict[int, np.ndarray] = field(default_factory=dict)
    # The same at the keyframes' own size (--keyframe-side; the frames' size without it).
    small_keys: dict[int, np.ndarray] = field(default_factory=dict)
    # Where the student paints (Painter): this process by default, a cluster's workers with --cluster.
    painter: Callable | None = None

    @property
    def checkpoint(self) -> str:
        return os.path.join(self.work_dir, FOLDER, "checkpoint.pt")

    @property
    def trained(self) -> str:
        return trained_path(self.work_dir)


def trained_path(work_dir: str) -> str:
    """Where a run keeps its trained student: --save-student copies it out, a rerun loads it."""
    return os.path.join(work_dir, FOLDER, "student.pt")


def settings(cfg: StylizeConfig) -> Settings:
    s = cfg.student
    return Settings(steps=s.steps, patch=s.patch, width=s.width, temporal_weight=s.temporal, seed=cfg.seed)


def run(solve: Solve, cfg: StylizeConfig, prepared: Sequence[Prepared], store: WorkStore, flows: Callable,
        job: Job) -> Iterator[FrameOutcome]:
    frames = list(prepared)

    @functools.lru_cache(maxsize=None)
    def student() -> network.StudentNet:  # only when a frame is left to paint (a rerun may have none)
        if cfg.student.load:
            net, info = network.load(cfg.student.load, job.device)
            job.summary.update(loaded=cfg.student.load, trained_on=info)
            return net
        return trained_student(solve, cfg, frames, store, flows, job)

    chains = Chains(frames, flows)
    carry = functools.partial(carried, cfg, chains, job) if not cfg.student.no_carry else None
    yield from render_frames(student, frames, store, job, carry)


def carried(cfg: StylizeConfig, chains: Chains, job: Job, p: Prepared, paint: np.ndarray) -> np.ndarray:
    """Frame ``p``'s final paint (method/carry.py): the keyframes before and after it carried in along
    the chain of frame-to-frame flows where it holds, the student's ``paint`` elsewhere; a keyframe is its
    own stylization. Without keyframes (--student PATH), the student's paint."""
    keys = sorted(job.keys)
    if not keys:
        return paint
    if p.number in job.keys:
        return job.keys[p.number].astype(np.float32)
    by_number = chains.by_number
    # Keyframes of this frame's shot only: nothing is carried across a cut (a cut is a keyframe).
    before = [k for k in keys if k < p.number and not chains.cut_between(k, p.number)]
    after = [k for k in keys if k > p.number and not chains.cut_between(p.number, k)]
    a, b = (before[-1] if before else None), (after[0] if after else None)
    if a is not None and b is not None:
        chains.interval(a, b)
    sides = []
    for k in (a, b):
        if k is None:
            continue
        other = b if k == a else a
        nearness = 1.0 if other is None else 1.0 - abs(p.number - k) / abs(other - k)
        flow, weight = chains(p.number, k)
        sides.append(carry_paint.Side(job.keys[k], by_number[k].frame, flow, weight, nearness))
    return carry_paint.carry(p.frame, paint, sides, cfg.follow_light)


class Chains:
    """The flow from frame n to keyframe k composed from the frame-to-frame flows between them, and its
    reliability (the product of theirs along the path, each step's thin failures dropped first:
    carry.chain_step). A flow straight to k would be as good on one frame, but its errors are new on
    every frame, and the carried paint would shimmer; along the chain frame n's path is frame n∓1's plus
    one step, so neighbouring frames err alike.

    That is also how it is computed: chain(n, k) = f(n → n±1) + chain(n±1, k) sampled there, each step
    kept for the frames next to it, so painting the frames between two keyframes in order costs one
    warp per frame and side, not one per frame between (the same arrays: the recursion is the loop)."""

    def __init__(self, frames: list[Prepared], flows: Callable):
        self.by_number = {p.number: p for p in frames}
        # The chain steps from a frame to the next one of the range, which is the next number unless the
        # range is stepped (--frames 1001-1100x2: then to the next selected frame, as the single pass).
        self.order = sorted(self.by_number)
        self.position = {n: i for i, n in enumerate(self.order)}
        self.flows = flows
        self.cuts = sorted(p.number for p in frames if p.cut)
        self._kept: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        # How many chains are kept: the frames of one interval use two per frame between (grown to
        # the interval by ``interval``); one dropped too soon is only computed again.
        self.keep = 8

    def interval(self, a: int, b: int) -> None:
        self.keep = max(self.keep, 2 * abs(b - a) + 4)

    def cut_between(self, a: int, b: int) -> bool:
        """Whether a new shot begins after frame min(a, b) and at or before max(a, b)."""
        lo, hi = min(a, b), max(a, b)
        return any(lo < c <= hi for c in self.cuts)

    def __call__(self, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        if (n, k) in self._kept:
            return self._kept[(n, k)]
        h, w = self.by_number[n].frame.shape[:2]
        if n == k:
            return np.zeros((h, w, 2), np.float32), np.ones((h, w), np.float32)
        order, step = self.order, 1 if k > n else -1
        at, end = self.position[n], self.position[k]
        # Iteratively from the nearest kept chain toward n (deep recursion would be as long as the gap).
        m = at
        while m != end and (order[m], k) not in self._kept:
            m += step
        to_k, weight = self(order[m], k)
        for i in range(m - step, at - step, -step):
            j, toward = order[i], order[i + step]
            if self.by_number[max(j, toward)].cut:  # the chain ends at a cut: nothing is carried across
                to_k, weight = np.zeros((h, w, 2), np.float32), np.zeros((h, w), np.float32)
            else:
                f, c, _, _ = self.flows(j, self.by_number[j].frame, toward, self.by_number[toward].frame)
                to_k, weight = compose(f, carry_paint.chain_step(c), to_k, weight)
            self._keep((j, k), to_k, weight)
        return to_k, weight

    def _keep(self, key, to_k, weight) -> None:
        self._kept[key] = (to_k, weight)
        while len(self._kept) > self.keep:
            self._kept.pop(next(iter(self._kept)))  # the oldest: dicts keep their order


def trained_student(solve: Solve, cfg: StylizeConfig, frames: list[Prepared], store: WorkStore, flows: Callable,
                    job: Job) -> network.StudentNet:
    """Steps 1–3's training: the keyframes chosen and stylized, and the student trained on them (or the
    one an interrupted run finished training, from the work folder)."""
    t0 = time.perf_counter()
    keys = choose_keyframes(cfg, frames, flows, job.artist)
    stylized = stylize_keyframes(solve, cfg, frames, keys, store, flows, job)
    job.keys = stylized
    t1 = time.perf_counter()
    job.summary["seconds"] = {"keyframes": round(t1 - t0, 3)}
    try:
        make_dirs(job.work_dir, FOLDER)
        note_written(job.work_dir, f"{FOLDER}/checkpoint.pt", f"{FOLDER}/student.pt")
    except OSError as exc:
        raise work_folder_error(job.work_dir, exc) from None
    if os.path.isfile(job.trained):
        net, _ = network.load(job.trained, job.device)
        job.summary["training"] = {"kept": True}
    else:
        net = train(cfg, frames, stylized, job)
        try:
            network.save(net, job.trained, {"keyframes": [k.number for k in keys], "steps": cfg.student.steps})
        except Exception as exc:
            raise work_folder_error(job.work_dir, exc) from None
    job.summary["seconds"]["training"] = round(time.perf_counter() - t1, 3)
    return net


def train(cfg: StylizeConfig, frames: list[Prepared], stylized: dict[int, np.ndarray], job: Job) -> network.StudentNet:
    """The student trained on the keyframes and on every pair of consecutive frames (the temporal term),
    from the work folder's checkpoint when an interrupted run left one."""
    by_number = {p.number: p for p in frames}
    size = frame_size(frames)
    if cfg.student.stroke_scale == "pixel" and job.small_keys:
        # Trained at the keyframes' size on their paint as made; run on the larger frames, its strokes
        # keep their width in pixels, so they are finer in the picture.
        size, stylized = keyframe_size(cfg, size), job.small_keys
    job.summary["stroke_scale"] = {"scale": cfg.student.stroke_scale, "trained_at": list(size)}

    def at(image: np.ndarray) -> np.ndarray:
        return resize_rgb(image, size)

    # Each frame with the one before it in the range (its back[1] flow leads there, also in a stepped range).
    numbers = sorted(by_number)
    before = dict(zip(numbers[1:], numbers[:-1]))
    pairs = [Pair(at(by_number[before[p.number]].frame), at(p.frame), resize_flow(p.back[1][0], size),
                  resize_mask(p.back[1][1], size))
             for p in frames if 1 in p.back and p.number in before]
    trainer = Trainer([(at(by_number[n].frame), image) for n, image in stylized.items()], pairs, settings(cfg),
                      job.device, job.checkpoint)
    resumed_from = trainer.step
    job.emit({"event": "training", "step": trainer.step, "steps": trainer.s.steps, "keyframes": len(stylized),
              "size": list(size)})
    net = trainer.run(lambda step, steps, loss, seconds: job.emit(
        {"event": "train", "step": step, "steps": steps, "loss": loss, "seconds": seconds}))
    job.summary["training"] = {"steps": trainer.s.steps, "resumed_from_step": resumed_from or None,
                               "seconds": round(trainer.curve.seconds, 3), "pairs": len(pairs),
                               "curve": [list(p) for p in trainer.curve.points]}
    return net


def choose_keyframes(cfg: StylizeConfig, frames: list[Prepared], flows: Callable, artist: dict) -> list[Keyframe]:
    """The keyframes of ``frames`` (run/keyframes.py), the new picture measured by the flow from each
    frame to the last keyframe; with an artist's keyframes, those alone."""
    by_number = {p.number: p for p in frames}
    if artist:
        # The artist's frames are the look (as with EbSynth, and in Texler et al.): keyframes of the
        # optimizer beside them would pull the painting's own palette and strokes back in.
        return [Keyframe(n, "artist") for n in sorted(artist)]

    # The choice asks for the flow from each frame to the last keyframe, any distance apart. A --flow-dir
    # holds flows 1, 2 and 4 frames apart only: those pairs are estimated here (the choice alone uses
    # them; the keyframes, the carry and the training use the folder's frame-to-frame flows).
    judge = flows if isinstance(flows, EstimatedFlows) else EstimatedFlows(cfg.flow, cfg.flow_preset)

    def new_since(n: int, k: int) -> float:
        _, c, _, _ = judge(n, by_number[n].frame, k, by_number[k].frame)
        return new_fraction(c)

    return choose([p.number for p in frames], new_since, cfg.student.keyframe_every, cfg.student.new_content,
                  sorted(artist), cuts=[p.number for p in frames if p.cut])


def stylize_keyframes(solve: Solve, cfg: StylizeConfig, frames: list[Prepared], keys: list[Keyframe],
                      store: WorkStore, flows: Callable, job: Job) -> dict[int, np.ndarray]:
    """Each keyframe's stylization (absolute number → H×W×3 float32 0–255), in order: the artist's as
    painted, the others by the optimizer from the keyframe before warped by flow."""
    by_number = {p.number: p for p in frames}
    chained = Chains(frames, flows)
    w, h = frame_size(frames)
    size = keyframe_size(cfg, (w, h))
    job.summary["keyframe_size"] = list(size)
    out: dict[int, np.ndarray] = {}      # at the render size
    small: dict[int, np.ndarray] = {}    # at the keyframes' size
    records = []
    prev: Prepared | None = None
    # A keyframe is chosen where much of the picture is new since the last one (--new-content), so its
    # unreliable pixels start from the photo, not from the default start's smeared paint: whatever the
    # keyframe keeps of a smear, the student learns and the carry spreads. The photo in the keyframe
    # before's colours (temporal.matched_colours): started from the raw photo, what the keyframe's few
    # iterations left less painted was carried on and held, and the style fell along the chain.
    keyframe_cfg = replace(cfg, init="matched") if cfg.init in WARM_STARTS else cfg
    # The warm keyframes' own cap (the first, a cold start, keeps --iterations' FIRST): they start from the
    # keyframe before carried in, and fewer iterations keep more of it (config.StudentConfig).
    later = min(cfg.student.keyframe_iterations, cfg.optim.iterations_later)
    keyframe_cfg = replace(keyframe_cfg, optim=replace(keyframe_cfg.optim, iterations_later=later))
    for k in keys:
        p = by_number[k.number]
        t = time.perf_counter()
        if k.number in job.artist:
            out[k.number] = job.artist[k.number]
            small[k.number] = resize_rgb(job.artist[k.number], size).astype(np.float32)
            record = {"evaluations": 0}
        else:
            back = {}
            if prev is not None and chained.cut_between(prev.number, p.number):
                prev = None  # a new shot: its first keyframe is a cold start, as the first frame is
            if prev is not None:
                # Along the chain of frame-to-frame flows, as the carry will move both keyframes' paint:
                # then the two agree where the carry mixes them. A long-range flow straight to the
                # keyframe before put them a pixel or two apart there (frame to frame 2.23× the floor at
                # 256 px against 1.76×, 1.25× at 128 px against 1.05×; docs/performance.md).
                flow, weight = chained(p.number, prev.number)
                back = {1: (resize_flow(flow, size), resize_mask(weight, size))}
            linked = Prepared(p.number, resize_rgb(p.frame, size), back, {}, 0.0, p.pts)
            before = small[prev.number] if prev is not None else None
            source = resize_rgb(prev.frame, size) if prev is not None else None
            outcome = stylize_step(solve, keyframe_cfg, store, linked, lambda j: before, pass_=KEYFRAME_PASS,
                                   sources=lambda j: source)
            small[k.number], record = outcome.stylized, outcome.record
            out[k.number] = enlarged(outcome.stylized, (w, h))
        entry = {"frame": k.number, "why": k.why, "evaluations": record.get("evaluations", 0),
                 "seconds": round(time.perf_counter() - t, 3)}
        records.append(entry)
        job.emit({"event": "keyframe", **entry, "of": len(keys), "size": list(size) if size != (w, h) else None})
        prev = p
    job.summary["keyframes"] = records
    job.small_keys = small
    return out


def keyframe_size(cfg: StylizeConfig, size: tuple[int, int]) -> tuple[int, int]:
    """(W, H) the keyframes are stylized at, for frames of ``size`` (W, H): that size with
    --keyframe-side's longer side (never larger than the frames). The optimizer runs at no other size
    in a student run, so the memory check before the run asks about this one."""
    w, h = size
    side = cfg.student.keyframe_side
    return (w, h) if not side or side >= max(w, h) else processing_size(w, h, side)


def frame_size(frames: Sequence[Prepared]) -> tuple[int, int]:
    h, w = frames[0].frame.shape[:2]
    return w, h


def enlarged(paint: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A keyframe's paint at the render size (W, H): Lanczos, which keeps more of the strokes' edges than
    bicubic (the carry resamples it once more, so it is not a chain of blurs)."""
    if (paint.shape[1], paint.shape[0]) == tuple(size):
        return paint.astype(np.float32)
    return np.clip(cv2.resize(paint.astype(np.float32), tuple(size), interpolation=cv2.INTER_LANCZOS4), 0, 255)


def render_batch_size(width: int, height: int) -> int:
    """Frames rendered at once: about 1 GiB of activations (≈ 250 float32 values a pixel in flight)."""
    return int(max(1, min(8, 2 ** 30 // max(width * height * 250 * 4, 1))))


# A painter paints groups of frames with a student: given the net and the groups (lists of H×W×3 uint8
# frames), it yields each group's paint (H×W×3 float32 0–255), in order. This process's paints each group
# when asked; the cluster's (cluster/student.py) has several on its workers at once. Every frame is
# painted on its own, so where it is painted does not change it (beyond float rounding).
Painter = Callable[[network.StudentNet, list[list[np.ndarray]]], Iterator[list[np.ndarray]]]


def local_painter(device: torch.device) -> Painter:
    def paint(net: network.StudentNet, groups: list[list[np.ndarray]]) -> Iterator[list[np.ndarray]]:
        for group in groups:
            yield network.render(net, group, device, batch=len(group))
    return paint


def render_frames(student: Callable[[], network.StudentNet], frames: list[Prepared], store: WorkStore, job: Job,
                  carry: Callable[[Prepared, np.ndarray], np.ndarray] | None = None) -> Iterator[FrameOutcome]:
    """Every frame painted by the student, in order, ``render_batch_size`` at a time by the job's painter
    (then ``carry``: the keyframes' paint where the flow holds), each kept in the store; a frame the store
    already keeps is passed through."""
    done = set(store.numbers(0))
    h, w = frames[0].frame.shape[:2]
    batch, seconds = render_batch_size(w, h), [0.0]
    painter = job.painter or local_painter(job.device)
    # The frames to paint, in groups of consecutive ones; a kept frame ends a group.
    groups: list[list[Prepared]] = [[]]
    for p in frames:
        if p.number in done or len(groups[-1]) == batch:
            groups.append([])
        if p.number not in done:
            groups[-1].append(p)
    groups = [g for g in groups if g]
    painted: Iterator[list[np.ndarray]] | None = None
    ready: dict[int, np.ndarray] = {}

    def finish(q: Prepared, image: np.ndarray, each: float) -> FrameOutcome:
        t = time.perf_counter()
        if carry is not None:
            image = carry(q, image)
        each += time.perf_counter() - t
        seconds[0] += each
        record = {"iterations": 0, "evaluations": 0, "seconds": round(each, 4), "terms": {}, "method": "student"}
        return FrameOutcome(q, store.keep(q.number, image, record), record, False)

    try:
        for p in frames:
            kept = resumed(store, p) if p.number in done else None
            if kept is not None:
                yield kept
                continue
            if p.number in done:  # listed as kept but unreadable (a full disk's damage): painted again
                net = student()
                t = time.perf_counter()
                (image,) = next(iter(painter(net, [[p.frame]])))
                yield finish(p, image, time.perf_counter() - t)
                continue
            if p.number not in ready:
                if painted is None:  # trained (or loaded) here, outside the render's time
                    net = student()
                    painted = painter(net, [[q.frame for q in g] for g in groups])
                t = time.perf_counter()
                group = groups.pop(0)
                images = next(painted)
                each = (time.perf_counter() - t) / len(group)
                ready.update({q.number: (image, each) for q, image in zip(group, images)})
            image, each = ready.pop(p.number)
            yield finish(p, image, each)
    finally:
        if painted is not None:
            painted.close()  # a cluster painter's workers stop with the render, on errors too
    job.summary.setdefault("seconds", {})["render"] = round(seconds[0], 3)
