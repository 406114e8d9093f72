"""``stylize_video``: decode → flow → optimize → encode, with a report of what it did.

Library code: it returns a report and emits events through ``on_event``; it never prints.
"""
from __future__ import annotations

import dataclasses
import os
import time
from fractions import Fraction
from typing import Any, Callable, Iterator, Sequence

import torch

from .atomic import write_json
from .config import StylizeConfig, as_dict
from .device import to_tensor
from .drivers import Frame, optimizer_solver, pick, prepare
from .errors import ConfigError, InputError, OutputError
from .flowsource import EstimatedFlows, FileFlows
from .frames import list_sequence, read_image
from .media import VIDEO_EXTENSIONS, is_sequence_path, open_source
from .media import _sequence_pattern as sequence_pattern
from .memory import check_fits
from .metrics import fidelity, warping_error
from .outputs import Outputs
from .paths import PathPlan, written_file, written_sequence
from .prefetch import Prefetch
from .store import WorkStore, check_work_folder, content_identity, default_work_dir, file_identity, folder_identity
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
                  flow_dir: str | None = None, depth: int = 8, overwrite: bool = False,
                  on_event: Event | None = None) -> dict[str, Any]:
    """Stylize ``input`` (video file, image folder or printf pattern) with ``style`` image(s) into
    ``output`` (video file, folder or pattern). Returns the report (also written to ``report`` as JSON).

    The output appears under its name only when the whole run succeeded. Finished frames are kept in
    ``work_dir`` (default ``OUTPUT.videostyle``) until then, so rerunning an interrupted command continues
    where it stopped; the folder is removed after success unless ``keep_work``.

    ``output_size``: 'processing' (the optimized size) or 'original' (upscaled to the source size).
    ``preserve_colors``: written frames keep the source's colours (stylized luminance only).
    ``compare``: also write a side-by-side video (source | stylized) there.
    ``flow_dir``: read flows (and masks, when present) from this folder of .flo files instead of
    estimating them; they must be at the processing size.
    ``depth``: 16 writes 16-bit PNG/TIFF frames (the optimizer's precision, no 8-bit banding), or FFV1
    16-bit / ProRes 10-bit video; EXR frames are always linear half float.
    ``overwrite``: replace an existing output (and side-by-side video); otherwise it is refused.

    Every path is checked against every other before work starts (paths.py): nothing the run reads is
    written, the work folder is new, empty or one of ours, and cleanup removes only what the run made.
    """
    emit = on_event or (lambda event: None)
    styles = [style] if isinstance(style, str) else list(style)
    if not styles:
        raise ConfigError("at least one --style image is needed")
    start, stop = parse_frames(frames)
    rate = Fraction(fps).limit_denominator(1_000_000) if fps is not None else None
    if rate is not None and rate <= 0:
        raise ConfigError("--fps must be positive")
    if report and not os.path.isdir(os.path.dirname(os.path.abspath(report))):
        raise ConfigError(f"report folder does not exist: {os.path.dirname(os.path.abspath(report))}")
    if report and os.path.isdir(report):
        raise ConfigError(f"--report {report} is a folder; name a .json file")
    work = work_dir or default_work_dir(output)
    # Before anything is read in full or created: no file we write may be one we read or another we write.
    plan = _path_plan(input, styles, config, output, compare, report, flow_dir)
    plan.check()
    plan.check_work_dir(work)
    check_work_folder(work)
    style_images = [read_image(s) for s in styles]
    source = open_source(input, start, stop, rate)
    info = source.info
    size = processing_size(info.width, info.height, config.max_side)
    if output_size not in ("processing", "original"):
        raise ConfigError("--output-size must be 'processing' or 'original'")
    out_size = size if output_size == "processing" else (info.width, info.height)
    out_info = dataclasses.replace(info, width=out_size[0], height=out_size[1])
    # The sinks first: they validate the output places before anything (work folder, model) is created.
    with Outputs(output, compare, out_info, size, preserve_colors, depth, codec=codec, crf=crf, fps=rate,
                 audio_from=source, overwrite=overwrite) as outputs:
        torch.manual_seed(config.seed)
        stylizer = Stylizer.create(config, style_images)
        check_fits(size[0], size[1], stylizer.device)
        store = WorkStore.open(work, _manifest(input, styles, config, info, size, start, flow_dir), restart)
        emit({"event": "start", "input": input, "output": output, "n_frames": info.n_frames, "work_dir": work,
              "resuming": store.count(), "source_size": [info.width, info.height], "size": list(size),
              "device": str(stylizer.device)})
        timer = _Timer()
        run_start = time.perf_counter()
        # Decoding, resizing and optical flow run ahead in a thread while the optimizer works.
        # Flows are named by absolute frame numbers, like everything else.
        if flow_dir:
            flows = FileFlows(flow_dir, size)
        else:
            flows = EstimatedFlows(config.flow, config.flow_preset, os.path.join(work, "flows"), 0, size)
        prepared = Prefetch(prepare(_decode(source, start, size, outputs, timer), flows, config.long_term))
        per_frame, prev = [], None
        try:
            driver = pick(config)
            frames_in = list(prepared) if driver.NEEDS_WHOLE_CLIP else prepared
            for outcome in driver.run(optimizer_solver(stylizer), config, frames_in, store):
                t = time.perf_counter()
                record = {"index": outcome.prepared.number, **outcome.record, "resumed": outcome.resumed}
                if not outcome.resumed:
                    timer.seconds["flow"] += outcome.prepared.flow_seconds
                    timer.seconds["optimize"] += outcome.record["seconds"]
                record.update(_frame_metrics(stylizer, outcome, prev))
                timer.add("metrics", t)
                outputs.write(outcome.prepared.number - start, outcome.stylized, outcome.prepared.frame)
                prev = outcome
                per_frame.append(record)
                emit({"event": "frame", "n_frames": info.n_frames, **record})
        finally:
            prepared.close()
        outputs.finish()
        timer.seconds["waited"] = prepared.waited
        timer.seconds["encode"] = outputs.encode_seconds
        total_seconds = time.perf_counter() - run_start
        if outputs.main.n_written != info.n_frames:
            raise InputError(f"{input}: decoded {outputs.main.n_written} frames, expected {info.n_frames}")

    result = _report(input, styles, output, config, info, size, per_frame, timer, total_seconds, outputs.main.audio_mode)
    result["work_dir"] = None if not keep_work else work
    if report:
        # The same measures as `videostyle evaluate`, on the written output (offsets 1, 2, 4, flicker).
        from .evaluate import evaluate_video
        t = time.perf_counter()
        result["evaluation"] = evaluate_video(output, input, flow_method=config.flow, flow_preset=config.flow_preset,
                                              max_side=max(size), device=config.device, weights=config.weights,
                                              source_frames=(start, stop))
        result["evaluation"].pop("per_frame", None)
        result["stages_seconds"]["evaluate"] = round(time.perf_counter() - t, 3)
        _write_json(report, result)
    if not keep_work:
        store.remove()
    emit({"event": "done", **result["totals"]})
    return result


def _decode(source, start: int, size: tuple[int, int], outputs: Outputs, timer: _Timer) -> Iterator[Frame]:
    """Source frames resized to the processing size, named by their absolute number (``start`` is the
    selection's first); pts are handed to ``outputs`` on the way."""
    t = time.perf_counter()
    for frame in source.frames():
        outputs.remember(frame)
        image = resize_rgb(frame.image, size)
        t = timer.add("decode", t)
        yield Frame(start + frame.index, frame.pts, image)
        t = time.perf_counter()


def _input_files(input: str) -> list[str]:
    return [input] if os.path.isfile(input) else [p for _, p in list_sequence(input)]


def _weights_file(config: StylizeConfig) -> str | None:
    return None if config.weights in ("packaged", "torchvision") else config.weights


def _path_plan(input, styles, config, output, compare, report, flow_dir) -> PathPlan:
    """What this run reads and writes (see paths.py)."""
    plan = PathPlan()
    if is_sequence_path(input) and os.path.isdir(input if os.path.isdir(input) else os.path.dirname(input) or "."):
        plan.read_files("input frame", _input_files(input))
        plan.read("input", input if os.path.isdir(input) else (os.path.dirname(input) or "."))
    else:
        plan.read("input", input)
    for s in styles:
        plan.read("style image", s)
    plan.read("weights file", _weights_file(config))
    plan.read("flow folder", flow_dir)
    if is_sequence_path(output) and os.path.splitext(output)[1].lower() not in VIDEO_EXTENSIONS:
        plan.write(written_sequence("output", sequence_pattern(output)))
    else:
        plan.write(written_file("output", output))
    plan.write(written_file("--compare", compare) if compare else None)
    plan.write(written_file("--report", report) if report else None)
    return plan


def _manifest(input, styles, config, info, size, start, flow_dir) -> dict:
    """What the finished frames in a work folder depend on: the input, style, weights and flow files by
    content, and the settings (the device is left out: moving a run to another machine is allowed).
    Single-pass frames are keyed by absolute number and depend only on earlier frames, so the folder
    serves any ``--frames`` range of the same input; multi-pass results depend on the whole range."""
    settings = as_dict(config)
    settings.pop("device")
    weights = _weights_file(config)
    selection = {"first": start, "n_frames": info.n_frames} if pick(config).NEEDS_WHOLE_CLIP else {}
    return {"input": {"path": os.path.abspath(input), "identity": file_identity(_input_files(input)),
                      **selection},
            "styles": [content_identity(s) for s in styles], "size": list(size), "config": settings,
            "weights": content_identity(weights) if weights and os.path.isfile(weights) else None,
            "flow_dir": folder_identity(flow_dir) if flow_dir else None}


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
    try:
        write_json(path, data)
    except OSError as exc:
        raise OutputError(f"cannot write report {path}: {exc.strerror or exc}") from None
