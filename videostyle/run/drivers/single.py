"""Single-pass driver (Ruder et al. Sec. 3.1): frames in order, each warm-started from and pulled toward
the earlier stylized frames warped by optical flow. It streams: one frame in, one frame out."""
from __future__ import annotations

from collections import deque
from typing import Iterable, Iterator

from ...config import StylizeConfig
from ..store import WorkStore
from .core import FrameOutcome, Prepared, Solve, resumed, stylize_step

NEEDS_WHOLE_CLIP = False
RESULTS_DEPEND_ON_RANGE = False  # frames depend only on earlier frames, by absolute number


def run(solve: Solve, cfg: StylizeConfig, prepared: Iterable[Prepared], store: WorkStore) -> Iterator[FrameOutcome]:
    """One ``FrameOutcome`` per prepared frame, in order; each finished frame is kept in ``store``. A frame
    the store already holds is passed through, and the next frame starts from it. Lead-in frames (before
    the selected range) are only read from the store, as neighbours of the range's first frames: a range
    that follows a finished one in the same work folder continues it as one uninterrupted render would."""
    history: deque = deque(maxlen=max(cfg.long_term))  # history[-j]: (source, result or None) of frame t−j
    for p in prepared:
        if p.lead_in:
            kept = resumed(store, p)
            history.append((p.frame, kept.stylized if kept is not None else None))
            continue
        outcome = stylize_step(solve, cfg, store, p, lambda j: history[-j][1] if j <= len(history) else None,
                               sources=lambda j: history[-j][0])
        history.append((p.frame, outcome.stylized))
        yield outcome
