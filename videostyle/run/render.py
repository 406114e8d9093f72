"""Rendering: fill the work store with stylized frames. It knows nothing of the outputs; assembly
(outputs.py, assemble.py) reads what it makes.

Decoding, resizing and optical flow run ahead in a thread (prefetch.py) while the driver optimizes.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from typing import Iterator

from ..config import StylizeConfig
from ..flow.estimate import choose_flow
from ..method.device import resolve_device, to_tensor
from .drivers import Frame, FrameOutcome, chunked, flow_offsets, optimizer_solver, pick, prepared_for, student
from .flows import EstimatedFlows, FileFlows
from ..io.media import Source
from ..method.metrics import warping_error
from .prefetch import Prefetch
from .store import WorkStore
from ..io.plates import alpha_float
from ..io.resize import resize_alpha, resize_rgb
from ..method.stylizer import Stylizer


class Timer:
    """Seconds per pipeline stage, and the run's own from its start to the outputs' flush (``done``)."""

    def __init__(self):
        self.seconds: dict[str, float] = {"decode": 0.0, "flow": 0.0, "optimize": 0.0, "encode": 0.0, "metrics": 0.0}
        self.started = time.perf_counter()
        self.total: float | None = None
        self.resized_flows: tuple[int, int] | None = None  # a --flow-dir's size when its flows were resized
        self.student: dict | None = None  # --method student: keyframes, training, each step's seconds

    def done(self, encode_seconds: float) -> None:
        """The render and its encoding are over: their time, for the report."""
        self.seconds["encode"] = encode_seconds
        self.total = time.perf_counter() - self.started

    def add(self, stage: str, since: float) -> float:
        now = time.perf_counter()
        self.seconds[stage] += now - since
        return now


def resolved_flow(config: StylizeConfig, size: tuple[int, int] | None, local: bool = True) -> StylizeConfig:
    """``config`` with ``--flow auto`` settled for where it renders (flow.estimate.choose_flow): its
    device, the frames' processing ``size`` (W, H), and ``local`` False when a cluster's workers render."""
    if config.flow != "auto":
        return config
    return dataclasses.replace(config, flow=choose_flow("auto", resolve_device(config.device).type, local, size))


def flow_source(config: StylizeConfig, size: tuple[int, int], work_dir: str, flow_dir: str | None):
    """Flows from ``flow_dir`` (.flo files, resized to ``size`` when needed), or estimated and cached in the
    work folder. Both are called with absolute frame numbers."""
    if flow_dir:
        return FileFlows(flow_dir, size, flow_offsets(config))
    return EstimatedFlows(config.flow, config.flow_preset, os.path.join(work_dir, "flows"), size)


def decode(source: Source, size: tuple[int, int], timer: Timer, on_frame=None) -> Iterator[Frame]:
    """Source frames resized to the processing size, the same records otherwise (absolute number, pts).
    ``on_frame(frame)`` sees each decoded source frame (the writer wants its pts)."""
    t = time.perf_counter()
    # Closed here, on the thread that iterates (the prefetch thread), not later by the garbage collector.
    with contextlib.closing(source.frames()) as frames:
        for frame in frames:
            if on_frame is not None:
                on_frame(frame)
            image = resize_rgb(frame.image, size)
            plate = frame.plate
            if plate is not None and plate.alpha is not None:  # the drivers' coverage, at processing size
                plate = dataclasses.replace(plate, alpha=resize_alpha(alpha_float(plate.alpha), size))
            t = timer.add("decode", t)
            yield dataclasses.replace(frame, image=image, plate=plate)
            t = time.perf_counter()


def render(stylizer: Stylizer, frames: Iterator[Frame], flows, store: WorkStore, timer: Timer,
           chunks: tuple = (), keyframes: dict | None = None, emit=None, painter=None) -> Iterator[FrameOutcome]:
    """Stylize ``frames`` with the driver the config asks for, keeping each in ``store``; yields the
    final results in frame order as they are finished (a streaming driver yields them one by one).
    ``chunks`` is the shot's --chunk-frames plan (plan.Shot.chunks), for the chunked driver;
    ``keyframes`` (absolute number → painted image at the processing size), ``emit`` and ``painter``
    (where the student paints: drivers/student.Painter; this process's by default) are the student
    driver's."""
    config = stylizer.config
    driver = pick(config)
    prepared = Prefetch(prepared_for(config, frames, flows))
    try:
        frames_in = list(prepared) if driver.NEEDS_WHOLE_CLIP else prepared
        # The chunked driver asks for the flows it needs itself (a worker has no prepared frames).
        extra = {"flows": flows, "chunks": chunks} if driver is chunked else {}
        if driver is student:
            timer.student = {}
            extra = {"flows": flows, "job": student.Job(stylizer.device, store.root, keyframes or {},
                                                        emit or (lambda event: None), timer.student,
                                                        painter=painter)}
        for outcome in driver.run(optimizer_solver(stylizer), config, frames_in, store, **extra):
            if not outcome.resumed:
                timer.seconds["flow"] += outcome.prepared.flow_seconds
                timer.seconds["optimize"] += outcome.record["seconds"]
            yield outcome
    finally:
        prepared.close()
        timer.seconds["waited"] = prepared.waited


def frame_metrics(stylizer: Stylizer, outcome: FrameOutcome, prev: FrameOutcome | None) -> dict[str, float]:
    """Fidelity of this frame, and the warping error of output and source against frame t−1 (flow and
    weights from the source frames; the source's own error is the noise floor of flow and mask)."""
    p, image = outcome.prepared, outcome.stylized
    # Content and style distances, or for a dream the layer's energy of result and source.
    m = stylizer.fidelity(to_tensor(image, stylizer.device), to_tensor(p.frame, stylizer.device))
    if p.flow_back is not None and prev is not None:
        m["warping_error"] = warping_error(image, prev.stylized, p.flow_back, p.weight)
        m["source_warping_error"] = warping_error(p.frame, prev.prepared.frame, p.flow_back, p.weight)
    return m
