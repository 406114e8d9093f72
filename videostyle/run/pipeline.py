"""``stylize_video``: plan → execute → assemble → report, each a short function.

The plan (plan.py) works out every fact of the run once; the executor (execute.py: this process, or the
cluster's, handed in by the commands) renders the shot's frames into the work store; assembly
(assemble.py) encodes them into the outputs as they are finished, so encoding overlaps the
optimization; the report (report.py) says what was done.

Library code: it returns a report and emits events through ``on_event``; it never prints.
"""
from __future__ import annotations

import contextlib
import dataclasses
import itertools
import os
import time
from typing import Any, Callable, Sequence

import torch

from . import report as run_report
from ..config import OutputOptions, StylizeConfig
from ..errors import ConfigError, OutputError
from ..io.atomic import write_atomic
from ..io.plates import read_style
from ..method.stylizer import Stylizer
from .assemble import close_outputs, open_outputs
from .execute import Executor, LocalExecutor, Session
from .memory import check_fits
from .outputs import Outputs
from .plan import Shot, plan_shot
from .render import Timer, decode, flow_source, frame_metrics, resolved_flow
from .drivers.student import keyframe_size, trained_path
from .store import WorkStore
from .drivers import pick, single
from ..io.media import Source
from ..io.colour import ColourOptions

Event = Callable[[dict[str, Any]], None]


def stylize_video(input: str, style: str | Sequence[str], output: str, config: StylizeConfig = StylizeConfig(),
                  options: OutputOptions | None = None, *, on_event: Event | None = None,
                  executor: Executor | None = None, **option_values) -> dict[str, Any]:
    """Stylize ``input`` (video file, image folder or printf pattern) with ``style`` image(s) into
    ``output`` (video file, folder or pattern). Returns the report (also written to ``options.report``).

    ``options`` (config.OutputOptions; its fields may also be given as keywords, e.g. ``keep_work=True``)
    select frames and describe the outputs and the work folder. The output appears under its name only
    when the whole run succeeded. Finished frames are kept in the work folder (default
    ``OUTPUT.videostyle``) until then, so rerunning an interrupted command continues where it stopped.
    ``executor`` renders the frames: this process by default; ``videostyle.stylize_video(cluster=…)``
    hands in the Ray cluster's.
    """
    opts = dataclasses.replace(options or OutputOptions(), **option_values)
    executor = executor or LocalExecutor()
    executor.check(config)
    shot = plan_shot(input, style, output, config, opts)
    # --flow auto is settled here, by where the frames are rendered; the work folder keeps "auto" (its
    # flows are filed by the method used), so a run moved to another machine continues.
    config = resolved_flow(config, shot.size, local=isinstance(executor, LocalExecutor))
    emit = named(on_event or (lambda event: None), shot)
    # The sinks first: they validate the output places before anything (work folder, model) is created.
    store = None
    try:
        with open_outputs(shot) as outputs, executor.session(shot, config, emit) as session:
            stylizer, store = start(shot, config, emit)
            per_frame, timer = execute(shot, stylizer, store, session, outputs, emit)
            close_outputs(shot, outputs)
            timer.done(outputs.encode_seconds)
        result = run_report.of_run(shot, config, per_frame, timer, outputs.main.audio_mode, session.summary())
        conclude(shot, store, result, config, emit)
    finally:
        if store is not None:
            store.close()  # the work folder is free for the next run, after success or failure
    return result


class named:
    """The events with a keyframe's number as --keyframe takes it (``name``: 1005 for the fifth frame of a
    shot from 1001) beside its absolute position (``frame``)."""

    def __init__(self, emit: Event, shot: Shot):
        self.emit, self.shot = emit, shot

    def __call__(self, event: dict) -> None:
        if event.get("event") == "keyframe":
            event = {**event, "name": self.shot.label(event["frame"])}
        self.emit(event)


def start(shot: Shot, config: StylizeConfig, emit: Event) -> tuple[Stylizer, WorkStore]:
    """The network and style targets, the memory check, the work store (resuming what it holds), and the
    start and warning events."""
    torch.manual_seed(config.seed)
    stylizer = Stylizer.create(config, [read_style(s, ColourOptions.of(shot.options)) for s in shot.styles])
    if config.method == "student" and config.student.keyframe_side:
        # The optimizer stylizes only the keyframes, at their side; the student paints the frames in
        # batches sized to the memory (drivers/student.render_batch_size).
        check_fits(*keyframe_size(config, shot.size), stylizer.device, flag="--keyframe-side")
    else:
        check_fits(shot.size[0], shot.size[1], stylizer.device)
    store = WorkStore.open(shot.work_dir, shot.manifest, shot.options.restart)
    emit({"event": "start", "input": shot.input, "output": shot.output, "n_frames": shot.info.n_frames,
          "work_dir": shot.work_dir, "resuming": store.count(), "source_size": [shot.info.width, shot.info.height],
          "size": list(shot.size), "device": str(stylizer.device)})
    for message in shot.warnings:
        emit({"event": "warning", "message": message})
    return stylizer, store


def execute(shot: Shot, stylizer: Stylizer, store: WorkStore, session: Session, outputs: Outputs,
            emit: Event) -> tuple[list[dict], Timer]:
    """Render the shot on ``session``, handing each finished frame to the outputs in order; the per-frame
    records (with fidelity and warping error) and the stage timings."""
    timer = Timer()
    frames = decode(shot.source, shot.size, timer, on_frame=outputs.remember)
    before = lead_in(shot, stylizer.config, store, emit)
    if before is not None:
        frames = itertools.chain(decode(before, shot.size, timer), frames)
    flows = flow_source(stylizer.config, shot.size, shot.work_dir, shot.options.flow_dir)
    timer.resized_flows = getattr(flows, "resized_from", None)
    if timer.resized_flows:
        w, h = timer.resized_flows
        emit({"event": "note", "message": f"flows in {shot.options.flow_dir} are {w}x{h}; resized "
              f"to {shot.size[0]}x{shot.size[1]} (vectors scaled, masks nearest)"})
    per_frame, prev = [], None
    # Closed on any error too: the prefetch thread stops, a cluster's workers are stopped.
    with contextlib.closing(session.outcomes(stylizer, frames, flows, store, timer)) as outcomes:
        for outcome in outcomes:
            t = time.perf_counter()
            record = {"index": outcome.prepared.number, **outcome.record, "resumed": outcome.resumed}
            if outcome.prepared.cut:  # flow/cuts.py: started as a first frame, nothing carried across
                record["cut"] = True
                emit({"event": "note", "message": f"frame {outcome.prepared.number}: a cut; the new shot "
                      "starts afresh (--cuts none to go on across it)"})
            record.update(frame_metrics(stylizer, outcome, prev))
            timer.add("metrics", t)
            outputs.write(outcome.prepared.number, outcome.stylized, outcome.prepared.frame)
            prev = outcome
            per_frame.append(record)
            emit({"event": "frame", "n_frames": shot.info.n_frames, **record})
    return per_frame, timer


def lead_in(shot: Shot, config: StylizeConfig, store: WorkStore, emit: Event) -> Source | None:
    """The frames just before the selected range, when the work folder holds any of them finished: the
    single pass's first frames of the range are then warm-started from and pulled toward them, so a
    range that follows another (``0:50``, then ``50:200``) continues it exactly, with no cold start and
    no jump at the seam. None for the other drivers (their frames depend on the range) and when nothing
    before the range is kept."""
    if pick(config) is not single:
        return None
    count = max(config.long_term)
    # Checked before the input is reopened: a range in a fresh work folder costs nothing more.
    kept = sorted(set(store.numbers()) & set(shot.source.positions_before(count)))
    if not kept:
        return None
    before = shot.source.before(count)
    info = before.info  # named as --frames names them: a video's positions, a sequence's own numbers
    named = info.numbers or (tuple(range(info.first_number, info.first_number + info.n_frames))
                             if info.first_number is not None else before.positions)
    names = [str(named[before.positions.index(n)]) for n in kept]
    emit({"event": "note", "message": f"the range continues from finished frame{'s' if len(kept) > 1 else ''} "
          f"{', '.join(names)} in the work folder"})
    return before


def save_student(shot: Shot, store: WorkStore, config: StylizeConfig) -> None:
    """--save-student: the student this run trained (or loaded), copied out of the work folder atomically."""
    trained = trained_path(store.root)
    source = trained if os.path.isfile(trained) else config.student.load
    if source is None:
        raise ConfigError("--save-student: no student was trained in this run (every frame was already finished)")
    with open(source, "rb") as f:
        data = f.read()
    try:
        write_atomic(shot.options.save_student, data)
    except OSError as exc:
        raise OutputError(f"cannot write --save-student {shot.options.save_student}: {exc.strerror or exc}") from None


def conclude(shot: Shot, store: WorkStore, result: dict, config: StylizeConfig, emit: Event) -> None:
    """After success: the evaluation and the report file when asked, the work folder removed unless kept."""
    if shot.options.save_student:
        save_student(shot, store, config)
    if shot.options.report:
        run_report.add_evaluation(result, shot, config)
        run_report.write(shot.options.report, result)
    if not shot.options.keep_work:
        store.remove()
    emit({"event": "done", **result["totals"]})
