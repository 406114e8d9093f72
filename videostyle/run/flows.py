"""Where a frame pair's flows come from: estimated (optionally cached on disk), or read from a folder
of .flo files made by another tool. Both answer the same question:

    flows(t, frame_t, s, frame_s) -> (flow t→s, c(t→s), flow s→t, c(s→t))

with absolute 0-based frame numbers (the source's own), flows H×W×2 float32 in pixels and weights H×W
in [0,1].
"""
from __future__ import annotations

import os

import numpy as np

from ..flow.estimate import FlowEstimator, consistency_weights
from ..errors import OutputError
from ..flow.files import FlowDirectory, distrust, finite_flow, flow_name_between, read_flo, write_flo
from .store import make_dirs, note_written, work_folder_error

Pair = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


class EstimatedFlows:
    """OpenCV flow in both directions plus the consistency check. With ``cache_dir``, flows are kept as
    .flo files named by frame pair (absolute 1-based numbers) under a folder keyed by method, preset and
    size, and read back instead of recomputed (an interrupted run does not redo them). ``cache_dir`` is
    ``flows/`` of a work folder: what is written there goes into the work folder's ledger (store.py), so
    cleaning up deletes it and nothing else."""

    def __init__(self, method: str, preset: str, cache_dir: str | None = None,
                 size: tuple[int, int] | None = None):
        self._estimate = FlowEstimator(method, preset)
        self._dir = None
        if cache_dir is not None and size is not None:
            self._work = os.path.dirname(os.path.abspath(cache_dir))  # the work folder: ledger, errors
            key = os.path.join(os.path.basename(os.path.abspath(cache_dir)), f"{method}-{preset}-{size[0]}x{size[1]}")
            try:
                self._dir = make_dirs(self._work, key)
            except OSError as exc:
                raise work_folder_error(self._work, exc) from None

    def _flow(self, a: np.ndarray, b: np.ndarray, ia: int, ib: int) -> tuple[np.ndarray, np.ndarray | None]:
        """The flow a → b and the mask of its pixels that were not finite (None: all were)."""
        if self._dir is None:
            return finite_flow(self._estimate(a, b))
        path = os.path.join(self._dir, flow_name_between(ia + 1, ib + 1))
        if os.path.isfile(path):
            try:
                return read_flo(path), None
            except Exception:  # a damaged cache entry is recomputed, never trusted
                pass
        flow, bad = finite_flow(self._estimate(a, b))
        if bad is None:  # a flow with repaired pixels is not cached: the repair's mask would be lost
            try:
                note_written(self._work, os.path.relpath(path, self._work))
                write_flo(path, flow)
            except (OSError, OutputError) as exc:
                raise work_folder_error(self._work, exc) from None
        return flow, bad

    def __call__(self, t: int, frame_t: np.ndarray, s: int, frame_s: np.ndarray) -> Pair:
        # A NaN from the estimator would make the warm start NaN (black, carried into every later frame):
        # such pixels get flow 0 and weight 0.
        (ts, bad_ts), (st, bad_st) = self._flow(frame_t, frame_s, t, s), self._flow(frame_s, frame_t, s, t)
        return (ts, distrust(consistency_weights(ts, st), bad_ts),
                st, distrust(consistency_weights(st, ts), bad_st))


class FileFlows:
    """Flows from a folder written by ``videostyle flow`` or artistic-videos' scripts, at any size (resized
    to the processing size ``size``, vectors scaled; files are named by 1-based frame numbers).
    ``resized_from``: the files' (width, height) when they were resized, else None (for the report)."""

    def __init__(self, path: str, size: tuple[int, int], offsets=(1,)):
        self._dir = FlowDirectory(path)
        self._dir.check_size(*size)
        self._dir.check_offsets(offsets)
        self.resized_from = self._dir.resized_from

    def __call__(self, t: int, frame_t: np.ndarray, s: int, frame_s: np.ndarray) -> Pair:
        ts, c_ts = self._dir.pair(t, s)
        st, c_st = self._dir.pair(s, t)
        return ts, c_ts, st, c_st
