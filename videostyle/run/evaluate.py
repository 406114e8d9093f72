"""Evaluate a stylized video against its source: temporal stability and, given the style, fidelity.

Stability is measured as in Ruder et al. (Sec. 6): the flow-compensated difference between a stylized
frame and an earlier one, weighted by the flow's forward–backward consistency. Flow comes from the
*source* frames only, since the stylization itself (strokes, texture) would mislead the flow estimate.
The same measure on the source frames is reported beside it: it is the noise floor that flow errors,
lighting changes and codec noise leave even in a perfectly stable result.

A frozen or washed-out video scores near zero on stability, so read it together with the fidelity
distances (``style=...``). Nothing here prints; ``format_table`` and ``plot`` render a result.
"""
from __future__ import annotations

import contextlib
import math
import os
from collections import deque
from typing import Callable, Sequence

import numpy as np

from ..method import metrics
from ..config import StylizeConfig
from ..method.device import to_tensor
from ..errors import ConfigError, InputError, OutputError
from ..flow.cuts import is_cut
from ..flow.estimate import FlowEstimator, consistency_weights
from ..io.frameranges import FrameRange
from ..io.frames import read_image
from ..io.media import open_source
from ..io.resize import processing_size, resize_rgb
from ..method.stylizer import Stylizer

# ITU-R BT.709 luma weights for R, G, B.
_BT709 = np.array([0.2126, 0.7152, 0.0722], np.float32)


def luminance(image: np.ndarray) -> float:
    """Mean BT.709 luminance of an H×W×3 uint8 RGB image, in [0, 1]."""
    return float(((image.astype(np.float32) / 255.0) @ _BT709).mean())


def _offsets(offsets: Sequence[int]) -> list[int]:
    values = list(offsets)
    if not values or any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1 for d in values):
        raise ConfigError(f"offsets must be positive whole numbers of frames, got {values!r}")
    return sorted({int(d) for d in values})


def _evaluated_size(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    if max_side is None:
        return width, height
    if max_side < 16:
        raise ConfigError("--max-side must be at least 16 (VGG19 pools 4 times)")
    w, h = processing_size(width, height, max_side)
    # processing_size keeps each side ≥ 16 for VGG; that must not enlarge a frame smaller than that.
    return min(w, width), min(h, height)


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _flicker(lum: list[float], cuts: Sequence[int] = ()) -> float | None:
    """Mean luminance change frame to frame, leaving out the jumps at ``cuts`` (frame indices)."""
    return _mean([abs(lum[t] - lum[t - 1]) for t in range(1, len(lum)) if t not in cuts])


def evaluate_video(
    stylized: str,
    source: str,
    *,
    style: list[str] | None = None,
    offsets: Sequence[int] = (1, 2, 4),
    flow_method: str = "dis",
    flow_preset: str = "medium",
    max_side: int | None = None,
    device: str = "auto",
    weights: str = "packaged",
    on_frame: Callable[[int, int], None] | None = None,
    source_frames: "tuple[int, int | None] | str | FrameRange" = (0, None),
    deinterlace: str = "auto",
) -> dict:
    """Stability (and optionally fidelity) of ``stylized`` against ``source``; a JSON-serializable dict.

    ``stylized``, ``source``: videos or frame sequences (anything ``media.open_source`` opens), with the
    same number of frames (else InputError). Frames are compared at the source's size (stylized frames
    resized to it) or, with ``max_side``, both resized so the longer side is ``max_side`` (never
    enlarged). Flow is computed on the resized *source* frames with ``FlowEstimator(flow_method,
    flow_preset)``.

    For each offset d (frames; offsets ≥ the frame count are skipped) and each frame t ≥ d:
    flow_back = flow(source_t → source_{t−d}), flow_fwd = flow(source_{t−d} → source_t),
    c = consistency_weights(flow_back, flow_fwd), and e_d(t) = ``metrics.warping_error`` of the
    stylized pair (and of the source pair: the noise floor). Units: squared RGB difference in [0,1]
    averaged over the 3 channels and over reliable pixels (the paper's normalization, so figures compare
    with its tables), e ∈ [0, 1]; lower is steadier.

    Flicker: mean over t ≥ 1 of |L_t − L_{t−1}|, L = mean BT.709 luminance of the frame in [0, 1]
    (None for a one-frame clip). With ``style`` (style image paths): per-frame ``content_distance``
    (relative VGG19 relu4_2 distance to the source frame) and ``style_distance`` (mean relative Gram
    distance to the style targets) from ``metrics.fidelity``, on ``device`` with ``weights``.

    Result keys: ``frames`` (n), ``size`` ([w, h] evaluated), ``offsets`` (those used),
    ``warping_error_definition`` (the normalization, in words: ``metrics.WARPING_ERROR_DEFINITION``),
    ``warping_error`` / ``source_warping_error`` ({"d": mean}), ``flicker`` / ``source_flicker``,
    ``per_frame`` (one dict per frame: ``index``, ``warping_error_d`` and ``source_warping_error_d`` for
    each d ≤ index, ``luminance``, ``source_luminance``, and with style ``content_distance``,
    ``style_distance``), and with style the means ``content_distance`` / ``style_distance``.

    ``deinterlace``: a source flagged interlaced is read as ``stylize --deinterlace`` reads it ("auto", "field"
    or "off"; media.open_source), so the source frames are the ones the render painted.

    Only max(offsets)+1 frames are held in memory. ``on_frame(index, n)`` is called after each frame
    (``index`` 0-based). Raises InputError for unreadable or mismatched inputs, ConfigError for bad
    options.
    """
    wanted = _offsets(offsets)
    flow = FlowEstimator(flow_method, flow_preset)
    # source_frames: the range of the source that was stylized, as stylize --frames takes it (positions
    # START:END, or frame numbers FIRST-LAST), or a (start, stop) tuple of positions.
    sty_src, src_src = open_source(stylized), open_source(source, source_frames, deinterlace=deinterlace)
    n = src_src.info.n_frames
    if sty_src.info.n_frames != n:
        raise InputError(f"stylized {stylized} has {sty_src.info.n_frames} frames but source {source} has {n}; "
                         "they must have the same number")
    used = [d for d in wanted if d < n]
    size = _evaluated_size(src_src.info.width, src_src.info.height, max_side)

    fid = None
    if style:
        if min(size) < 16:
            raise InputError(f"fidelity needs frames at least 16 px on each side, {source} is evaluated at "
                             f"{size[0]}x{size[1]}")
        fid = _Fidelity(style, max(size), device, weights)

    # Frames t−max(d) … t, each as (source, stylized) at the evaluated size.
    window: deque[tuple[np.ndarray, np.ndarray]] = deque(maxlen=(max(used) if used else 0) + 1)
    per_frame: list[dict] = []
    errors = {d: [] for d in used}
    src_errors = {d: [] for d in used}
    lum, src_lum = [], []
    # Where a new shot begins (flow/cuts.py): a pair of frames across a cut shows two shots, not a
    # render's steadiness, and is left out of every measure over pairs.
    cuts: list[int] = []

    # Both decoders are closed here, on this thread, whatever happens (never by the garbage collector).
    with contextlib.closing(src_src.frames()) as src_frames, contextlib.closing(sty_src.frames()) as sty_frames:
        for t, (sf, cf) in enumerate(zip(src_frames, sty_frames)):
            src = resize_rgb(sf.image, size)
            sty = resize_rgb(cf.image, size)
            window.append((src, sty))
            row: dict = {"index": t}
            back1 = None
            if t >= 1:
                back1 = flow(src, window[-2][0])
                if is_cut(src, window[-2][0], back1):
                    cuts.append(t)
                    row["cut"] = True
            for d in used:
                if t < d or any(t - d < c <= t for c in cuts):
                    continue
                prev_src, prev_sty = window[-1 - d]
                back = back1 if d == 1 else flow(src, prev_src)
                fwd = flow(prev_src, src)
                c = consistency_weights(back, fwd)
                e = metrics.warping_error(sty, prev_sty, back, c)
                e0 = metrics.warping_error(src, prev_src, back, c)
                errors[d].append(e)
                src_errors[d].append(e0)
                row[f"warping_error_{d}"] = e
                row[f"source_warping_error_{d}"] = e0
            row["luminance"] = luminance(sty)
            row["source_luminance"] = luminance(src)
            lum.append(row["luminance"])
            src_lum.append(row["source_luminance"])
            if fid is not None:
                row.update(fid(sty, src))
            per_frame.append(row)
            if on_frame is not None:
                on_frame(t, n)

    result = {
        "frames": n,
        "size": [int(size[0]), int(size[1])],
        "offsets": used,
        "warping_error_definition": metrics.WARPING_ERROR_DEFINITION,
        "warping_error": {str(d): _mean(errors[d]) for d in used},
        "source_warping_error": {str(d): _mean(src_errors[d]) for d in used},
        "flicker": _flicker(lum, cuts),
        "source_flicker": _flicker(src_lum, cuts),
        "cuts": cuts,
        "per_frame": per_frame,
    }
    if fid is not None:
        result["content_distance"] = _mean([r["content_distance"] for r in per_frame])
        result["style_distance"] = _mean([r["style_distance"] for r in per_frame])
    return result


class _Fidelity:
    """VGG19 and the style Gram targets, built once; ``self(stylized, source)`` → the two distances."""

    def __init__(self, style: list[str], long_side: int, device: str, weights: str):
        config = StylizeConfig(max_side=max(16, long_side), device=device, weights=weights)
        self.stylizer = Stylizer.create(config, [read_image(p) for p in style])
        self.grams = self.stylizer.grams_for(long_side)
        self.layer = config.loss.content_layer

    def __call__(self, stylized: np.ndarray, source: np.ndarray) -> dict[str, float]:
        dev = self.stylizer.device
        return metrics.fidelity(self.stylizer.model, to_tensor(stylized, dev), to_tensor(source, dev),
                                self.grams, self.layer)


# --------------------------------------------------------------------------- rendering


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.3g}" if 0 < abs(value) < 1e-3 else f"{value:.5f}"  # per-channel errors are often < 0.001


def format_table(result: dict) -> str:
    """The result of ``evaluate_video`` as a few aligned text lines: metric, stylized, source."""
    rows = [("metric", "stylized", "source")]
    for d, v in result.get("warping_error", {}).items():
        rows.append((f"warping error (offset {d})", _fmt(v), _fmt(result.get("source_warping_error", {}).get(d))))
    rows.append(("flicker (mean |ΔL|)", _fmt(result.get("flicker")), _fmt(result.get("source_flicker"))))
    if "content_distance" in result:
        rows.append(("content distance", _fmt(result["content_distance"]), "-"))
        rows.append(("style distance", _fmt(result["style_distance"]), "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [f"{result['frames']} frames at {result['size'][0]}x{result['size'][1]} "
             "(warping error per channel as in Ruder et al.: lower is steadier; source = noise floor)"]
    for r in rows:
        lines.append(f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}")
    if result.get("cuts"):
        lines.append(f"cuts at frame{'s' * (len(result['cuts']) > 1)} {', '.join(map(str, result['cuts']))}: "
                     "the pairs across them are left out")
    return "\n".join(lines)


def plot(result: dict, path: str) -> None:
    """Per-frame curves of ``result`` (warping error per offset with the source's dashed, luminance,
    and fidelity distances if present) written to ``path`` as a PNG. Needs matplotlib (ConfigError
    without it); OutputError if the file cannot be written."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ConfigError("--plot needs matplotlib: pip install 'videostyle[plot]'") from None

    frames = result["per_frame"]
    fidelity = "content_distance" in result
    # Figure without pyplot: no global backend or figure registry is touched.
    fig = Figure(figsize=(8, 7 if fidelity else 5.2), layout="constrained")
    axes = fig.subplots(3 if fidelity else 2, 1, sharex=True)

    ax = axes[0]
    for i, d in enumerate(result.get("warping_error", {})):
        rows = [r for r in frames if f"warping_error_{d}" in r]
        x = [r["index"] for r in rows]
        colour = f"C{i}"
        ax.plot(x, [r[f"warping_error_{d}"] for r in rows], color=colour, marker=".", label=f"stylized, offset {d}")
        ax.plot(x, [r[f"source_warping_error_{d}"] for r in rows], color=colour, ls="--", label=f"source, offset {d}")
    ax.set_ylabel("warping error (per channel)")
    ax.set_title(f"{result['frames']} frames at {result['size'][0]}x{result['size'][1]}")
    if ax.lines:
        ax.legend(fontsize="small", ncol=2)

    ax = axes[1]
    x = [r["index"] for r in frames]
    ax.plot(x, [r["luminance"] for r in frames], marker=".", label=f"stylized (flicker {_fmt(result.get('flicker'))})")
    ax.plot(x, [r["source_luminance"] for r in frames], ls="--",
            label=f"source (flicker {_fmt(result.get('source_flicker'))})")
    ax.set_ylabel("mean luminance")
    ax.legend(fontsize="small")

    if fidelity:
        ax = axes[2]
        ax.plot(x, [r["content_distance"] for r in frames], marker=".", label="content distance")
        ax.plot(x, [r["style_distance"] for r in frames], marker=".", label="style distance")
        ax.set_ylabel("relative distance")
        ax.legend(fontsize="small")
    axes[-1].set_xlabel("frame")

    try:
        fig.savefig(path, format=plot_format(path), dpi=100)
    except OSError as e:
        raise OutputError(f"cannot write plot {path}: {e.strerror or e}") from None


PLOT_FORMATS = ("png", "svg", "pdf")


def plot_format(path: str) -> str:
    """The figure format a --plot path names by its extension; ConfigError (one line) for another."""
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    if ext not in PLOT_FORMATS:
        raise ConfigError(f"--plot {path}: name a .png, .svg or .pdf file (the format follows the extension)")
    return ext
