"""Drivers: they schedule frames and share one core (core.py). Each declares what it needs: a stream of
prepared frames, or the whole clip in memory (``NEEDS_WHOLE_CLIP``), and whether its results depend on
the range selected (``RESULTS_DEPEND_ON_RANGE``: the work folder then serves that range only)."""
from __future__ import annotations

from ...config import StylizeConfig
from . import chunked
from . import multi
from . import single
from . import student
from .core import Frame, FrameOutcome, Prepared, Solve, frame_rng, optimizer_solver, prepare

__all__ = ["Frame", "FrameOutcome", "Prepared", "Solve", "chunked", "flow_offsets", "frame_rng", "optimizer_solver",
           "prepare", "prepared_for", "pick"]


def pick(config: StylizeConfig):
    """The driver for ``config`` (a module with ``run(solve, config, prepared, store)`` and
    ``NEEDS_WHOLE_CLIP``): the student's for --method student, multi-pass for --passes > 1, chunked for
    --chunk-frames and --draft-finish (one chunk), else single-pass."""
    if config.method == "student":
        return student
    if config.chunks.chunk_frames or config.draft_finish:  # --draft-finish: one chunk (plan_shot)
        return chunked
    return multi if config.multipass.passes > 1 else single


def flow_offsets(config: StylizeConfig) -> tuple[int, ...]:
    """The frame offsets whose flows the driver reads: ``--long-term``'s for the single pass and
    multi-pass; the chunked draft and finish and the student's carry read the flow from the frame before
    only (estimating the others would cost two flow pairs a frame for nothing)."""
    return tuple(config.long_term) if pick(config) in (single, multi) else (1,)


def prepared_for(config: StylizeConfig, frames, flows):
    """``prepare`` as a render with ``config`` needs it: the flows its driver reads, cuts found unless
    --cuts none."""
    return prepare(frames, flows, flow_offsets(config), config.cuts == "detect")
