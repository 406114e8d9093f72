"""``stylize_video``: render (decode → flow → optimize → work store) composed with assembly (store →
encode), with a report of what it did.

Library code: it returns a report and emits events through ``on_event``; it never prints.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from fractions import Fraction
from typing import Any, Callable, Sequence

import torch

from . import report as run_report
from ..io.bundled import resolve_style
from ..cluster.connect import connect, disconnect
from ..config import ClusterOptions, OutputOptions, StylizeConfig, as_dict
from .drivers import pick
from ..errors import ConfigError, InputError
from ..io.frameranges import parse_frames
from ..io.frames import image_has_alpha, list_sequence, normalize_pattern, read_image
from ..io.media import VIDEO_EXTENSIONS, input_warnings, is_sequence_path, open_source
from ..io.media import _sequence_pattern as sequence_pattern
from .memory import check_fits
from .outputs import Outputs
from .plan import input_files
from ..io.paths import PathPlan, written_file, written_sequence
from .render import Timer, decode, flow_source, frame_metrics, render
from .store import WorkStore, check_work_folder, content_identity, default_work_dir, file_identity, folder_identity
from ..io.resize import processing_size
from ..method.stylizer import Stylizer

Event = Callable[[dict[str, Any]], None]


def stylize_video(input: str, style: str | Sequence[str], output: str, config: StylizeConfig = StylizeConfig(),
                  options: OutputOptions | None = None, *, on_event: Event | None = None,
                  cluster: ClusterOptions | None = None, **option_values) -> dict[str, Any]:
    """Stylize ``input`` (video file, image folder or printf pattern) with ``style`` image(s) into
    ``output`` (video file, folder or pattern). Returns the report (also written to ``options.report``).

    ``options`` (config.OutputOptions; its fields may also be given as keywords, e.g. ``keep_work=True``)
    select frames and describe the outputs and the work folder. The output appears under its name only
    when the whole run succeeded. Finished frames are kept in the work folder (default
    ``OUTPUT.videostyle``) until then, so rerunning an interrupted command continues where it stopped.

    Rendering (render.py) fills the work store; assembly (outputs.py) encodes its frames into the outputs
    as they are finished, so encoding overlaps the optimization. ``videostyle assemble`` (assemble.py)
    encodes a kept work folder again without rendering.

    Every path is checked against every other before work starts (paths.py): nothing the run reads is
    written, the work folder is new, empty or one of ours, and cleanup removes only what the run made.

    ``cluster`` (config.ClusterOptions with ``cluster`` set) renders the chunks of a ``--chunk-frames``
    run on a Ray cluster (distributed.py); the frames, the outputs and resume are the same as here.
    """
    opts = dataclasses.replace(options or OutputOptions(), **option_values)
    if cluster is not None and cluster.cluster is None:
        cluster = None
    if cluster is not None and not config.chunks.chunk_frames:
        # Multi-pass needs no check of its own: config refuses it together with chunks.
        raise ConfigError("--cluster renders one shot as chunks: add --chunk-frames K (e.g. 8-24)")
    emit = on_event or (lambda event: None)
    styles = [resolve_style(s) for s in ([style] if isinstance(style, str) else list(style))]
    if not styles and config.objective == "style":  # a dream has no painting
        raise ConfigError("at least one --style image is needed")
    span = parse_frames(opts.frames)  # syntax checked before anything is read
    # shot.####.exr and shot.@.exr become shot.%04d.exr / shot.%d.exr here, so every module below sees printf.
    input, output = normalize_pattern(input), normalize_pattern(output)
    rate = Fraction(opts.fps).limit_denominator(1_000_000) if opts.fps is not None else None
    work = opts.work_dir or default_work_dir(output)
    _check_paths(input, styles, config, output, opts, work)
    style_images = [read_image(s) for s in styles]
    source = open_source(input, span, fps=rate, audio=not opts.no_audio)
    # What the run goes on with but the user should know (gaps, a file cut short, alpha dropped): one
    # "warning" event each once the run starts, and the report's "warnings".
    warnings = input_warnings(source) + [f"style image {s} has an alpha channel, which is dropped: it is read as RGB"
                                         for s in styles if image_has_alpha(s)]
    start, stop = source.start, source.stop  # positions; FIRST-LAST numbers are mapped by the source
    info = source.info
    size = processing_size(info.width, info.height, config.max_side)
    out_size = size if opts.output_size == "processing" else (info.width, info.height)
    out_info = dataclasses.replace(info, width=out_size[0], height=out_size[1])
    # The sinks first: they validate the output places before anything (work folder, model) is created.
    with Outputs(output, opts.compare, out_info, size, opts.preserve_colors, opts.depth, codec=opts.codec,
                 crf=opts.crf, fps=rate, audio_from=source, overwrite=opts.overwrite) as outputs, \
            _on_cluster(cluster) as placement, contextlib.ExitStack() as ends:
        torch.manual_seed(config.seed)
        stylizer = Stylizer.create(config, style_images)
        check_fits(size[0], size[1], stylizer.device)
        store = WorkStore.open(work, _manifest(input, styles, config, info, size, start, opts.flow_dir), opts.restart)
        emit({"event": "start", "input": input, "output": output, "n_frames": info.n_frames, "work_dir": work,
              "resuming": store.count(), "source_size": [info.width, info.height], "size": list(size),
              "device": str(stylizer.device)})
        for message in warnings:
            emit({"event": "warning", "message": message})
        timer = Timer()
        run_start = time.perf_counter()
        frames = decode(source, start, size, timer, on_frame=outputs.remember)
        flows = flow_source(config, size, work, opts.flow_dir)
        resized = getattr(flows, "resized_from", None)
        if resized:
            emit({"event": "note", "message": f"flows in {opts.flow_dir} are {resized[0]}x{resized[1]}; resized "
                  f"to {size[0]}x{size[1]} (vectors scaled, masks nearest)"})
        if placement is None:
            outcomes = render(stylizer, frames, flows, store, timer)
        else:
            from ..cluster.shot import ClusterRender
            from ..cluster.worker import WorkerSpec
            emit({"event": "note", "message": f"rendering on Ray at {placement.address}: {placement.workers} "
                  f"workers, each {placement.num_cpus} CPU and {placement.num_gpus:g} GPU"})
            on_cluster = ClusterRender(placement, WorkerSpec(config, tuple(styles), input, rate, size, work,
                                                             opts.flow_dir, start, info.n_frames), store, timer, emit)
            # Closed on any error too: its workers are stopped before the cluster is left.
            outcomes = ends.enter_context(contextlib.closing(on_cluster.outcomes(frames, flows)))
        per_frame, prev = [], None
        for outcome in outcomes:
            t = time.perf_counter()
            record = {"index": outcome.prepared.number, **outcome.record, "resumed": outcome.resumed}
            record.update(frame_metrics(stylizer, outcome, prev))
            timer.add("metrics", t)
            outputs.write(outcome.prepared.number - start, outcome.stylized, outcome.prepared.frame)
            prev = outcome
            per_frame.append(record)
            emit({"event": "frame", "n_frames": info.n_frames, **record})
        outputs.finish()
        timer.seconds["encode"] = outputs.encode_seconds
        total_seconds = time.perf_counter() - run_start
        if outputs.main.n_written != info.n_frames:
            raise InputError(f"{input}: decoded {outputs.main.n_written} frames, expected {info.n_frames}")

    result = run_report.build(input, styles, output, config, info, size, per_frame, timer.seconds, total_seconds,
                              outputs.main.audio_mode)
    result["work_dir"] = work if opts.keep_work else None
    result["warnings"] = warnings
    result["flows_resized_from"] = list(resized) if resized else None
    if config.chunks.chunk_frames:
        result["chunks"] = run_report.chunk_section(per_frame, config.chunks)
    if placement is not None:
        result["cluster"] = on_cluster.summary()
    if opts.report:
        run_report.add_evaluation(result, output, input, config, size, (start, stop))
        run_report.write(opts.report, result)
    if not opts.keep_work:
        store.remove()
    emit({"event": "done", **result["totals"]})
    return result


@contextlib.contextmanager
def _on_cluster(cluster: ClusterOptions | None):
    """The Ray cluster's placement for the run (None: this process), left (or shut down) at the end."""
    if cluster is None:
        yield None
        return
    placement = connect(cluster)
    try:
        yield placement
    finally:
        disconnect(placement)


def _check_paths(input, styles, config, output, opts: OutputOptions, work: str) -> None:
    """Before anything is read in full or created: no file we write may be one we read or another we
    write, and the work folder must be ours to create and clean up."""
    check_path_plan(_path_plan(input, styles, config, output, opts.compare, opts.report, opts.flow_dir),
                    work, opts.report)


def check_path_plan(plan: PathPlan, work: str, report: str | None) -> None:
    """ConfigError (one line) when a run's paths clash (see ``_check_paths``)."""
    if report and not os.path.isdir(os.path.dirname(os.path.abspath(report))):
        raise ConfigError(f"report folder does not exist: {os.path.dirname(os.path.abspath(report))}")
    if report and os.path.isdir(report):
        raise ConfigError(f"--report {report} is a folder; name a .json file")
    plan.check()
    plan.check_work_dir(work)
    check_work_folder(work)


def plan_paths(input: str, styles: Sequence[str], output: str, config: StylizeConfig,
               opts: OutputOptions) -> tuple[PathPlan, str]:
    """What ``stylize_video`` with these arguments would read and write, and its work folder, as it
    names them (patterns as printf, bundled paintings resolved): batch checks every job with it, and
    each job against the others, before the first runs."""
    input, output = normalize_pattern(input), normalize_pattern(output)
    styles = [resolve_style(s) for s in styles]
    work = opts.work_dir or default_work_dir(output)
    return _path_plan(input, styles, config, output, opts.compare, opts.report, opts.flow_dir), work


def _weights_file(config: StylizeConfig) -> str | None:
    return None if config.weights in ("packaged", "torchvision") else config.weights


def _path_plan(input, styles, config, output, compare, report, flow_dir) -> PathPlan:
    """What this run reads and writes (see paths.py)."""
    plan = PathPlan()
    if is_sequence_path(input) and os.path.isdir(input if os.path.isdir(input) else os.path.dirname(input) or "."):
        plan.read_files("input frame", input_files(input))
        plan.read("input", input if os.path.isdir(input) else (os.path.dirname(input) or "."))
    else:
        plan.read("input", input)
    for s in styles:
        plan.read("style image", s)
    plan.read("weights file", _weights_file(config))
    plan.read("flow folder", flow_dir)
    plan.write(_written_output("output", output))
    plan.write(_written_output("--compare", compare) if compare else None)
    plan.write(written_file("--report", report) if report else None)
    return plan


def _written_output(what: str, path: str):
    """What open_sink writes for ``path``: frames of a pattern (a folder, a pattern, a path ending in a
    separator), or one video file. ``--compare shot/`` writes frames too, so it is checked as frames."""
    if is_sequence_path(path) and os.path.splitext(path)[1].lower() not in VIDEO_EXTENSIONS:
        return written_sequence(what, sequence_pattern(path))
    return written_file(what, path)


def _manifest(input, styles, config, info, size, start, flow_dir) -> dict:
    """What the finished frames in a work folder depend on: the input, style, weights and flow files by
    content, and the settings (the device is left out: moving a run to another machine is allowed).
    Single-pass frames are keyed by absolute number and depend only on earlier frames, so the folder
    serves any ``--frames`` range of the same input; multi-pass results depend on the whole range."""
    settings = as_dict(config)
    settings.pop("device")
    weights = _weights_file(config)
    selection = {"first": start, "n_frames": info.n_frames} if pick(config).NEEDS_WHOLE_CLIP else {}
    return {"input": {"path": os.path.abspath(input), "identity": file_identity(input_files(input)),
                      **selection},
            "styles": [content_identity(s) for s in styles], "size": list(size), "config": settings,
            "weights": content_identity(weights) if weights and os.path.isfile(weights) else None,
            "flow_dir": folder_identity(flow_dir) if flow_dir else None}


