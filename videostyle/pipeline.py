"""``stylize_video``: decode → flow → optimize → encode, with a report of what it did.

Library code: it returns a report and emits events through ``on_event``; it never prints.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import time
from fractions import Fraction
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch

from .colour import preserve_colors
from .config import StylizeConfig, as_dict
from .device import to_tensor
from .errors import ConfigError, InputError
from .frames import list_sequence, read_image
from .media import check_output_path, open_sink, open_source
from .metrics import fidelity, warping_error
from .prefetch import Prefetch
from .multi_pass import multi_pass
from .single_pass import prepare, single_pass
from .store import WorkStore, content_identity, default_work_dir, file_identity
from .stylizer import Stylizer, processing_size, resize_rgb

Event = Callable[[dict[str, Any]], None]


def parse_frames(frames: str | tuple[int, int | None] | None) -> tuple[int, int | None]:
    if frames is None:
        return 0, None
    if isinstance(frames, tuple):
        return frames
    try:
        a, _, b = frames.partition(":")
        start, stop = int(a or 0), (int(b) if b else None)
    except ValueError:
        raise ConfigError(f"--frames must look like START:END (0-based, END exclusive), got {frames!r}") from None
    if start < 0 or (stop is not None and stop <= start):
        raise ConfigError(f"--frames {frames}: need 0 <= START < END")
    return start, stop


class _Timer:
    """Accumulates seconds per pipeline stage."""

    def __init__(self):
        self.seconds: dict[str, float] = {"decode": 0.0, "flow": 0.0, "optimize": 0.0, "encode": 0.0, "metrics": 0.0}

    def add(self, stage: str, since: float) -> float:
        now = time.perf_counter()
        self.seconds[stage] += now - since
        return now


def stylize_video(input: str, style: str | Sequence[str], output: str, config: StylizeConfig = StylizeConfig(), *,
                  frames: str | tuple[int, int | None] | None = None, fps: float | Fraction | None = None,
                  codec: str | None = None, crf: int | None = None, report: str | None = None,
                  work_dir: str | None = None, restart: bool = False, keep_work: bool = False,
                  output_size: str = "processing", preserve_colors: bool = False, compare: str | None = None,
                  on_event: Event | None = None) -> dict[str, Any]:
    """Stylize ``input`` (video file, image folder or printf pattern) with ``style`` image(s) into
    ``output`` (video file, folder or pattern). Returns the report (also written to ``report`` as JSON).

    The output appears under its name only when the whole run succeeded. Finished frames are kept in
    ``work_dir`` (default ``OUTPUT.videostyle``) until then, so rerunning an interrupted command continues
    where it stopped; the folder is removed after success unless ``keep_work``.

    ``output_size``: 'processing' (the optimized size) or 'original' (upscaled to the source size).
    ``preserve_colors``: written frames keep the source's colours (stylized luminance only).
    ``compare``: also write a side-by-side video (source | stylized) there.
    """
    emit = on_event or (lambda event: None)
    styles = [style] if isinstance(style, str) else list(style)
    if not styles:
        raise ConfigError("at least one --style image is needed")
    start, stop = parse_frames(frames)
    rate = Fraction(fps).limit_denominator(1_000_000) if fps is not None else None
    if rate is not None and rate <= 0:
        raise ConfigError("--fps must be positive")
    check_output_path(input, output)
    if report and not os.path.isdir(os.path.dirname(os.path.abspath(report))):
        raise ConfigError(f"report folder does not exist: {os.path.dirname(os.path.abspath(report))}")
    style_images = [read_image(s) for s in styles]
    source = open_source(input, start, stop, rate)
    info = source.info
    size = processing_size(info.width, info.height, config.max_side)
    if output_size not in ("processing", "original"):
        raise ConfigError("--output-size must be 'processing' or 'original'")
    out_size = size if output_size == "processing" else (info.width, info.height)
    out_info = dataclasses.replace(info, width=out_size[0], height=out_size[1])
    if compare:
        check_output_path(input, compare)
    # The sinks first: they validate the output places before anything (work folder, model) is created.
    with contextlib.ExitStack() as sinks:
        sink = sinks.enter_context(open_sink(output, out_info, codec=codec, crf=crf, fps=rate, audio_from=source))
        side = None
        if compare:
            side_info = dataclasses.replace(out_info, width=2 * out_size[0])
            side = sinks.enter_context(open_sink(compare, side_info, codec=codec, crf=crf, fps=rate,
                                                 audio_from=source))
        torch.manual_seed(config.seed)
        stylizer = Stylizer.create(config, style_images)
        work = work_dir or default_work_dir(output)
        store = WorkStore.open(work, _manifest(input, styles, config, info, size, start), restart)
        emit({"event": "start", "input": input, "output": output, "n_frames": info.n_frames, "work_dir": work,
              "resuming": store.count(), "source_size": [info.width, info.height], "size": list(size),
              "device": str(stylizer.device)})
        timer = _Timer()
        pts: list[int | None] = []
        full: dict[int, np.ndarray] = {}  # source frames at output size, only when colours are kept

        def decoded() -> Iterator[np.ndarray]:
            t = time.perf_counter()
            for frame in source.frames():
                pts.append(frame.pts)
                if (preserve_colors or compare) and out_size != size:
                    full[frame.index] = frame.image
                image = resize_rgb(frame.image, size)
                t = timer.add("decode", t)
                yield image
                t = time.perf_counter()

        run_start = time.perf_counter()
        # Decoding, resizing and optical flow run ahead in a thread while the optimizer works.
        prepared = Prefetch(prepare(decoded(), config.flow, config.flow_preset, config.long_term))
        try:
            if config.multipass.passes > 1:
                outcomes = multi_pass(stylizer, list(prepared), store)
            else:
                outcomes = single_pass(stylizer, prepared, store)
            per_frame = []
            prev = None
            for outcome in outcomes:
                t = time.perf_counter()
                record = {"index": start + outcome.prepared.index, **outcome.record, "resumed": outcome.resumed}
                if not outcome.resumed:
                    timer.seconds["flow"] += outcome.prepared.flow_seconds
                    timer.seconds["optimize"] += outcome.record["seconds"]
                record.update(_frame_metrics(stylizer, outcome, prev))
                t = timer.add("metrics", t)
                i = outcome.prepared.index
                src_full = full.pop(i, None)
                image = _finish(outcome.stylized, outcome.prepared.frame, src_full, out_size, preserve_colors)
                sink.write(image, pts[i])
                if side is not None:
                    src = src_full if src_full is not None else outcome.prepared.frame
                    side.write(np.concatenate([src, image], axis=1), pts[i])
                timer.add("encode", t)
                prev = outcome
                per_frame.append(record)
                emit({"event": "frame", "n_frames": info.n_frames, **record})
        finally:
            prepared.close()
        timer.seconds["waited"] = prepared.waited
        total_seconds = time.perf_counter() - run_start
        if sink.n_written != info.n_frames:
            raise InputError(f"{input}: decoded {sink.n_written} frames, expected {info.n_frames}")

    result = _report(input, styles, output, config, info, size, per_frame, timer, total_seconds, sink.audio_mode)
    result["work_dir"] = None if not keep_work else work
    if report:
        _write_json(report, result)
    if not keep_work:
        store.remove()
    emit({"event": "done", **result["totals"]})
    return result


def _finish(image: np.ndarray, src: np.ndarray, src_full: np.ndarray | None, out_size: tuple[int, int],
            keep_colors: bool) -> np.ndarray:
    """The frame as written: upscaled to the output size (bicubic), then recoloured from the source."""
    image = resize_rgb(image, out_size)
    if keep_colors:
        image = preserve_colors(image, src_full if src_full is not None else src)
    return image


def _manifest(input, styles, config, info, size, start) -> dict:
    """What the finished frames in a work folder depend on (the device is left out: moving a run to
    another machine is allowed)."""
    files = [input] if os.path.isfile(input) else [p for _, p in list_sequence(input)]
    settings = as_dict(config)
    settings.pop("device")
    return {"input": {"path": os.path.abspath(input), "identity": file_identity(files),
                      "first": start, "n_frames": info.n_frames},
            "styles": [content_identity(s) for s in styles], "size": list(size), "config": settings}


def _frame_metrics(stylizer: Stylizer, outcome, prev) -> dict[str, float]:
    """Fidelity of this frame, and the warping error of output and source against frame t−1 (flow and
    weights from the source frames; the source's own error is the noise floor of flow and mask)."""
    p, image = outcome.prepared, outcome.stylized
    m = fidelity(stylizer.model, to_tensor(image, stylizer.device), to_tensor(p.frame, stylizer.device),
                 stylizer.grams_for(max(p.frame.shape[:2])), stylizer.config.loss.content_layer)
    if p.flow_back is not None and prev is not None:
        m["warping_error"] = warping_error(image, prev.stylized, p.flow_back, p.weight)
        m["source_warping_error"] = warping_error(p.frame, prev.prepared.frame, p.flow_back, p.weight)
    return m


def _report(input, styles, output, config, info, size, per_frame, timer, total_seconds, audio_mode) -> dict:
    def mean(key):
        values = [f[key] for f in per_frame if key in f]
        return sum(values) / len(values) if values else None

    later = per_frame[1:] or per_frame
    return {
        "input": input, "styles": styles, "output": output,
        "config": as_dict(config),
        "source": {"kind": info.kind, "width": info.width, "height": info.height, "n_frames": info.n_frames,
                   "rate": str(info.rate), "has_audio": info.has_audio},
        "size": list(size), "audio": audio_mode,
        "frames": per_frame,
        "stages_seconds": {k: round(v, 3) for k, v in timer.seconds.items()},
        "totals": {
            "frames": len(per_frame), "seconds": round(total_seconds, 3),
            "seconds_per_frame": round(total_seconds / max(len(per_frame), 1), 3),
            "iterations": sum(f["iterations"] for f in per_frame),
            "evaluations": sum(f["evaluations"] for f in per_frame),
            "evaluations_per_later_frame": sum(f["evaluations"] for f in later) / len(later),
            "warping_error": mean("warping_error"),
            "source_warping_error": mean("source_warping_error"),
            "content_distance": mean("content_distance"),
            "style_distance": mean("style_distance"),
        },
    }


def _write_json(path: str, data: dict) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1)
    os.replace(tmp, path)
